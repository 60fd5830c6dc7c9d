package tapsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/services"
	"github.com/wirebox/wirebox/tap"
	"github.com/wirebox/wirebox/tap/tapcore"
)

// Run serves the tap socket until ctx ends, then closes every
// application (their frames come back to the pool).
func (s *Service) Run(ctx context.Context, rt *services.Runtime) error {
	core := s.src.Core()
	if core == nil {
		return errors.New("capture core not running")
	}
	ln, err := s.listen(rt.Log)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	rt.OnExit(func() {
		ln.Close()
		s.mu.Lock()
		apps := slices.Collect(maps.Values(s.apps))
		s.mu.Unlock()
		for _, a := range apps {
			a.close()
		}
		wg.Wait()
	})
	rt.Ready()
	go func() { <-ctx.Done(); ln.Close() }()
	for {
		c, err := ln.AcceptUnix()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("tap: accept: %w", err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.serve(ctx, core, c, rt.Log)
		}()
	}
}

// Serve runs the protocol on one connection until it ends (tests use it
// in process with a socketpair; Run uses it per accepted connection).
func (s *Service) Serve(ctx context.Context, core *capture.Core, c *net.UnixConn, log *slog.Logger) {
	s.serve(ctx, core, c, log)
}

func (s *Service) listen(log *slog.Logger) (*net.UnixListener, error) {
	path := s.cfg.Socket
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("tap: socket directory: %w", err)
	}
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSocket != 0 {
		os.Remove(path) // left by a daemon that died
	}
	old := unix.Umask(0o177)
	ln, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	unix.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("tap: listen on %s: %w", path, err)
	}
	gid := 0
	if s.cfg.Group != "" {
		if g, err := user.LookupGroup(s.cfg.Group); err == nil {
			gid, _ = strconv.Atoi(g.Gid)
		} else {
			log.Warn("tap socket group not found; root only", "group", s.cfg.Group)
		}
	}
	if err := os.Chown(path, 0, gid); err != nil {
		ln.Close()
		return nil, fmt.Errorf("tap: chown %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o660); err != nil {
		ln.Close()
		return nil, fmt.Errorf("tap: chmod %s: %w", path, err)
	}
	log.Info("tap socket listening", "socket", path, "group", s.cfg.Group)
	return ln, nil
}

func peerCred(c *net.UnixConn) (*unix.Ucred, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := rc.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, cerr
}

// serve runs one application's connection: hello, then tap requests,
// until the socket closes, the process exits (pidfd) or it breaks a rule.
func (s *Service) serve(ctx context.Context, core *capture.Core, c *net.UnixConn, log *slog.Logger) {
	defer c.Close()
	cred, err := peerCred(c)
	if err != nil {
		log.Warn("tap connection without peer credentials", "err", err)
		return
	}
	pid := int(cred.Pid)
	var a *app
	defer func() {
		if a != nil {
			a.close() // counted before it leaves the list
			s.mu.Lock()
			delete(s.apps, a.id)
			s.mu.Unlock()
		}
	}()
	// Reads end when the connection closes: on the application's side, or
	// ours when its process exits or it is disconnected.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	defer stop()
	buf := make([]byte, tap.MaxMessage+1)
	for {
		n, _, flags, _, err := c.ReadMsgUnix(buf, nil)
		if err != nil || n == 0 {
			if a != nil {
				a.att.SetReason("socket closed")
			}
			return
		}
		req, err := tap.DecodeRequest(buf[:n])
		if err == nil && flags&unix.MSG_TRUNC != 0 {
			err = fmt.Errorf("%w: message truncated", tap.ErrProto)
		}
		if err != nil {
			st := uint32(tap.StatusBadRequest)
			if errors.Is(err, tap.ErrVersion) {
				st = tap.StatusVersion
			}
			reply(c, tap.Response{Type: req.Type, Seq: req.Seq, Status: st, Message: err.Error()}, nil)
			log.Warn("tap application sent a bad request; disconnected", "pid", pid, "err", err)
			if a != nil {
				a.att.SetReason("bad request")
				s.violations.Add(1)
			}
			return
		}
		switch req.Type {
		case tap.MsgHello:
			if a != nil {
				reply(c, tap.Response{Type: req.Type, Seq: req.Seq, Status: tap.StatusState, Message: "hello twice"}, nil)
				continue
			}
			s.mu.Lock()
			s.nextID++
			id := s.nextID
			s.mu.Unlock()
			na, err := newApp(s, core, id, pid, int(cred.Uid), req.Name, int(req.Alloc), int(req.RingSize), log)
			if err != nil {
				reply(c, tap.Response{Type: req.Type, Seq: req.Seq, Status: tap.StatusInternal, Message: err.Error()}, nil)
				return
			}
			a = na
			s.mu.Lock()
			s.apps[id] = a
			s.mu.Unlock()
			go func() { <-a.att.Done(); c.Close() }() // disconnected: end the read
			if err := a.watchPid(); err != nil {
				log.Warn("tap: no pidfd for the application; relying on its socket", "pid", pid, "err", err)
			}
			p := core.Pool()
			l := a.att.Layout()
			if err := reply(c, tap.Response{Type: req.Type, Seq: req.Seq, AppID: id, Quota: uint32(a.att.Quota()),
				RingSize: l.Size, FrameSize: uint32(p.FrameSize()), FrameCount: uint32(p.Len()),
				RegionSize: uint64(p.RegionSize()), HeaderOffset: uint64(p.HeaderOffset()), RingsSize: l.Total}, a.fds()); err != nil {
				return
			}
			a.log.Info("tap application connected", "uid", cred.Uid, "alloc", a.att.AllocFrames(), "quota", a.att.Quota())
		case tap.MsgTap:
			if a == nil {
				reply(c, tap.Response{Type: req.Type, Seq: req.Seq, Status: tap.StatusState, Message: "hello first"}, nil)
				continue
			}
			h, port, st, err := a.att.Tap(req.Kind, req.Order, req.Port, tapcore.TapOptions{})
			if err != nil {
				reply(c, tap.Response{Type: req.Type, Seq: req.Seq, Status: st, Message: err.Error()}, nil)
				continue
			}
			info := port.Info()
			reply(c, tap.Response{Type: req.Type, Seq: req.Seq, Handle: h, PortIndex: uint32(info.IfIndex)}, nil)
			a.log.Info("tap added", "handle", h, "port", req.Port, "kind", tap.TapKindNames[req.Kind], "order", req.Order)
		case tap.MsgCloseTap:
			if a == nil || !a.att.CloseTap(req.Handle) {
				reply(c, tap.Response{Type: req.Type, Seq: req.Seq, Status: tap.StatusState, Message: "no such tap"}, nil)
				continue
			}
			reply(c, tap.Response{Type: req.Type, Seq: req.Seq}, nil)
		}
	}
}

func reply(c *net.UnixConn, r tap.Response, fds []int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	_, _, err := c.WriteMsgUnix(r.Encode(), oob, nil)
	return err
}

// watchPid disconnects the application when its process exits, even if
// a child inherited the socket.
func (a *app) watchPid() error {
	pfd, err := unix.PidfdOpen(a.pid, 0)
	if err != nil {
		return err
	}
	a.pidDone = make(chan struct{})
	go func() {
		defer close(a.pidDone)
		defer unix.Close(pfd)
		fds := []unix.PollFd{{Fd: int32(pfd), Events: unix.POLLIN}}
		for {
			select {
			case <-a.att.Done():
				return
			default:
			}
			n, err := unix.Poll(fds, 200)
			if err == nil && n > 0 {
				a.att.Disconnect("process exited")
				return
			}
		}
	}()
	return nil
}
