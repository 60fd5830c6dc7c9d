package mirror

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/internal/tick"
	"github.com/wirebox/wirebox/mirror/proto"
)

// Attach makes the appliance port a local TAP and keeps it so until ctx
// ends; then it releases the port and removes the TAP. The first
// connection's failure is returned; later breaks are retried with jittered
// backoff while the TAP stays (carrier off). Permanent refusals (wrong
// credentials or certificate, port not allowed) end Attach with the error.
func Attach(ctx context.Context, opts AttachOptions, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Port == "" {
		return errors.New("mirror: no port given")
	}
	if opts.As == "" {
		opts.As = DefaultInterface(opts.Port)
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = 200 * time.Millisecond
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(10*time.Second, opts.MinBackoff)
	}
	tc, err := opts.tlsConfig()
	if err != nil {
		return err
	}
	a := &attachment{opts: opts, log: log.With("port", opts.Port)}
	if opts.Pcap != nil {
		if a.pcap, err = newPcap(opts.Pcap, opts.Port); err != nil {
			return err
		}
	}
	c, info, err := a.connect(ctx, tc)
	if err != nil {
		return err
	}
	// The TAP is made here, on the caller's thread: it belongs to the
	// caller's namespace; everything later works on its fd and handle.
	tap, err := newTAP(opts.As, !opts.NoOffload)
	if err != nil {
		c.conn.Close()
		return err
	}
	a.tap = tap
	a.state.Interface = tap.name
	defer tap.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer tap.f.Close() // ends the TAP reader
	tapGone := make(chan error, 1)
	wg.Go(func() {
		if err := a.tapReader(); err != nil && ctx.Err() == nil {
			tapGone <- err
			cancel()
		}
	})
	a.log.Info("mirror: attached", "interface", tap.name, "mac", info.MAC.String(), "mtu", info.MTU, "link_up", info.LinkUp)
	backoff := opts.MinBackoff
	for {
		if c != nil {
			err = a.run(ctx, c, info)
			if ctx.Err() != nil {
				break
			}
			a.log.Warn("mirror: tunnel down", "err", err)
			if permanent(err) {
				return err
			}
			backoff = opts.MinBackoff
		}
		d := backoff/2 + rand.N(backoff/2+1) // jitter: half to the full backoff
		select {
		case <-ctx.Done():
		case <-time.After(d):
		}
		if ctx.Err() != nil {
			break
		}
		backoff = min(2*backoff, opts.MaxBackoff)
		c, info, err = a.connect(ctx, tc)
		if err != nil {
			if permanent(err) {
				return err
			}
			a.log.Info("mirror: reconnect failed", "err", err, "retry_in", backoff)
			c = nil
		}
	}
	select {
	case err := <-tapGone:
		if !errors.Is(err, unix.EBADFD) {
			return fmt.Errorf("mirror: interface %s: %w", tap.name, err)
		}
		// The TAP was deleted (Detach, ip link del): that is a detach.
		a.log.Info("mirror: interface removed; detached", "interface", tap.name)
		return nil
	default:
	}
	a.log.Info("mirror: detached", "interface", tap.name, "dropped_while_down", a.dropped.Load())
	return nil
}

// attachment is one running Attach.
type attachment struct {
	opts AttachOptions
	pcap *pcapOut
	log  *slog.Logger
	tap  *tapDev

	cur     atomic.Pointer[clientConn] // the tunnel while up and granted
	dropped atomic.Uint64
	rttNs   atomic.Int64

	mu    sync.Mutex
	state State
}

func (a *attachment) setState(f func(*State)) {
	a.mu.Lock()
	f(&a.state)
	a.state.DroppedWhileDown = a.dropped.Load()
	st := a.state
	a.mu.Unlock()
	if a.opts.OnState != nil {
		a.opts.OnState(st)
	}
}

// connect dials, authenticates and requests the port.
func (a *attachment) connect(ctx context.Context, tc *tls.Config) (*clientConn, PortInfo, error) {
	c, err := dial(ctx, a.opts.DialOptions, tc)
	if err != nil {
		return nil, PortInfo{}, err
	}
	mode := proto.ModeExclusive
	if a.opts.Monitor {
		mode = proto.ModeMonitor
	}
	_ = c.conn.SetDeadline(time.Now().Add(15 * time.Second))
	m, err := c.roundTrip(clientChannel, proto.AppendRequest(nil, proto.Request{Port: a.opts.Port, Mode: mode}))
	if err != nil {
		c.conn.Close()
		return nil, PortInfo{}, err
	}
	info, err := proto.ParsePort(m.Payload[2:])
	if err != nil {
		c.conn.Close()
		return nil, PortInfo{}, fmt.Errorf("mirror: grant: %w", err)
	}
	_ = c.conn.SetDeadline(time.Time{})
	return c, info, nil
}

// run moves frames between the tunnel and the TAP until the tunnel breaks
// or ctx ends (then the port is released).
func (a *attachment) run(ctx context.Context, c *clientConn, info PortInfo) error {
	if err := a.tap.configure(info.MAC, int(info.MTU)); err != nil {
		c.conn.Close()
		return err
	}
	_ = a.tap.setCarrier(info.LinkUp)
	a.setState(func(s *State) { s.Connected, s.LinkUp, s.Port, s.Reason = true, info.LinkUp, info, "" })
	if !a.opts.Monitor {
		a.cur.Store(c)
	}
	defer func() {
		a.cur.Store(nil)
		_ = a.tap.setCarrier(false)
		c.conn.Close()
	}()
	stop := context.AfterFunc(ctx, func() {
		// Release the port politely; the server frees it anyway when the
		// connection closes.
		_ = c.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.send(proto.TypeQuery, clientChannel, proto.AppendOp(nil, proto.OpRelease))
		c.conn.Close()
	})
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	pctx, pcancel := context.WithCancel(ctx)
	defer pcancel()
	wg.Go(func() { a.pinger(pctx, c) })
	var frames, out [][]byte
	var gro coalescer
	var arena []byte
	for {
		// The server pings every 2 s: silence means the tunnel is gone.
		_ = c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		m, err := c.r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("server closed the connection")
			}
			a.setState(func(s *State) { s.Connected, s.Reason = false, err.Error() })
			return err
		}
		switch m.Type {
		case proto.TypeData:
			frames = frames[:0]
			err := proto.ForEachFrame(m.Payload, func(f proto.Frame) error {
				frames = append(frames, f.Data)
				if a.pcap != nil {
					return a.pcap.write(f)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if a.pcap != nil {
				if err := a.pcap.w.Flush(); err != nil {
					return fmt.Errorf("mirror: pcap: %w", err)
				}
			}
			if out, err = a.tap.writeCoalesced(frames, &gro, &arena, out); err != nil {
				return fmt.Errorf("mirror: write to %s: %w", a.tap.name, err)
			}
		case proto.TypeReport:
			op, body, err := m.Op()
			if err != nil {
				return err
			}
			switch op {
			case proto.OpLink:
				p, err := proto.ParsePort(body)
				if err != nil {
					return err
				}
				a.log.Info("mirror: remote link changed", "link_up", p.LinkUp, "mtu", p.MTU, "speed_mbps", p.SpeedMbps)
				if p.MTU != info.MTU || !slices.Equal(p.MAC, info.MAC) {
					if err := a.tap.configure(p.MAC, int(p.MTU)); err != nil {
						a.log.Warn("mirror: follow remote change", "err", err)
					}
				}
				info = p
				_ = a.tap.setCarrier(p.LinkUp)
				a.setState(func(s *State) { s.LinkUp, s.Port = p.LinkUp, p })
			case proto.OpGone:
				reason, _ := proto.ParseGone(body)
				a.setState(func(s *State) { s.Connected, s.Reason = false, reason })
				return fmt.Errorf("mirror: server ended the mirror: %s", reason)
			}
		case proto.TypeQuery:
			op, _, err := m.Op()
			if err != nil {
				return err
			}
			if op == proto.OpPing {
				if err := c.tryReply(m.Seq, m.Channel, m.Payload); err != nil {
					return err
				}
			}
		case proto.TypeResponse:
			if op, body, err := m.Op(); err == nil && op == proto.OpPing {
				if t, err := proto.ParsePing(body); err == nil {
					a.rttNs.Store(time.Now().UnixNano() - int64(t))
				}
			}
		case proto.TypeError:
			e, err := proto.ParseError(m.Payload)
			if err != nil {
				return err
			}
			if e.Code == proto.CodeState { // frames after a release: not fatal
				a.log.Debug("mirror: server", "err", e)
				continue
			}
			a.setState(func(s *State) { s.Connected, s.Reason = false, e.Error() })
			return e
		}
	}
}

func (a *attachment) pinger(ctx context.Context, c *clientConn) {
	tick.Every(ctx, 2*time.Second, func() error {
		_, err := c.send(proto.TypeQuery, 0, proto.AppendPing(nil, uint64(time.Now().UnixNano())))
		return err // the reader sees the broken connection too
	})
}

// tapReader sends what the local stack writes to the TAP through the
// tunnel, many frames per data message; while the tunnel is down they are
// dropped and counted. It returns when the TAP is closed.
func (a *attachment) tapReader() error {
	const maxFrame = vnetHdrLen + maxSegmentedBytes
	buf := make([]byte, 1<<20)
	lens := make([]int, 0, 256)
	msg := make([]byte, 0, proto.MaxPayload+proto.HeaderLen)
	scratch := make([]byte, 0, maxSegmentedBytes)
	var dw proto.DataWriter
	for {
		var err error
		lens, err = a.tap.readBatch(buf, maxFrame, lens)
		if err != nil {
			if errors.Is(err, os.ErrClosed) {
				return nil
			}
			return err
		}
		c := a.cur.Load()
		if c == nil {
			a.dropped.Add(uint64(len(lens)))
			continue
		}
		dw.Reset(msg, clientChannel, 0)
		var werr error
		add := func(f []byte) {
			if werr != nil {
				return
			}
			if !dw.Fits(len(f)) {
				if werr = c.writeData(dw.Finish()); werr != nil {
					return
				}
				dw.Reset(msg, clientChannel, 0)
			}
			dw.Add(0, proto.TSNone, proto.DirTX, len(f), f)
		}
		off := 0
		for _, n := range lens {
			pkt := buf[off : off+n]
			off += n
			if !a.tap.vnet {
				add(pkt)
				continue
			}
			if err := splitOffload(pkt, scratch, add); err != nil {
				a.dropped.Add(1)
				a.log.Debug("mirror: frame from the TAP dropped", "err", err)
			}
		}
		if werr == nil && dw.Count() > 0 {
			werr = c.writeData(dw.Finish())
		}
		if werr != nil {
			// The reader of this connection sees it break too.
			a.dropped.Add(uint64(dw.Count()))
			c.conn.Close()
		}
	}
}
