package hatraffic

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirebox/wirebox/internal/nsrun"
)

// Servers runs a TCP echo server (and with udp a UDP one, which prefixes
// each answer with the backend's address) on every backend address, in
// the namespace at nsPath ("" is here). stop closes them and every
// accepted connection and waits for their goroutines.
func Servers(nsPath string, backends []netip.AddrPort, udp bool) (stop func(), err error) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var closers []io.Closer
	stop = func() {
		mu.Lock()
		for _, c := range closers {
			c.Close()
		}
		closers = nil
		mu.Unlock()
		wg.Wait()
	}
	keep := func(c io.Closer) {
		mu.Lock()
		closers = append(closers, c)
		mu.Unlock()
	}
	for _, b := range backends {
		var ln net.Listener
		var pc net.PacketConn
		err := nsrun.Run(nsPath, func() (err error) {
			if ln, err = net.Listen("tcp", b.String()); err != nil {
				return err
			}
			if udp {
				pc, err = net.ListenPacket("udp", b.String())
			}
			return err
		})
		if err != nil {
			if ln != nil {
				ln.Close()
			}
			stop()
			return nil, fmt.Errorf("echo server %s: %w", b, err)
		}
		keep(ln)
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				keep(c)
				// Hide TCPConn's ReadFrom: Go would splice through pipes
				// it keeps pooled, which the tests' leak check reports.
				wg.Go(func() { io.Copy(struct{ io.Writer }{c}, struct{ io.Reader }{c}); c.Close() })
			}
		})
		if pc == nil {
			continue
		}
		keep(pc)
		wg.Go(func() {
			buf := make([]byte, 2048)
			prefix := []byte(b.String() + " ")
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo(append(prefix[:len(prefix):len(prefix)], buf[:n]...), from)
			}
		})
	}
	return stop, nil
}

// Dial connects from the namespace at nsPath.
func Dial(nsPath, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := nsrun.Run(nsPath, func() (err error) {
		c, err = net.DialTimeout(network, addr, 10*time.Second)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s %s: %w", network, addr, err)
	}
	return c, nil
}

// Idle opens n TCP connections to addr from the namespace at nsPath.
func Idle(nsPath, addr string, n int) ([]net.Conn, error) {
	cs := make([]net.Conn, 0, n)
	for range n {
		c, err := Dial(nsPath, "tcp", addr)
		if err != nil {
			for _, c := range cs {
				c.Close()
			}
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

// PingAll echoes a line on every connection at once and returns the
// indices of those that failed (no answer within timeout, or a wrong one)
// and the first failure.
func PingAll(cs []net.Conn, what string, timeout time.Duration) (dead []int, first error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, c := range cs {
		wg.Go(func() {
			msg := fmt.Sprintf("%s %d\n", what, i)
			buf := make([]byte, len(msg))
			c.SetDeadline(time.Now().Add(timeout))
			defer c.SetDeadline(time.Time{})
			_, err := c.Write([]byte(msg))
			if err == nil {
				if _, err = io.ReadFull(c, buf); err == nil && string(buf) != msg {
					err = fmt.Errorf("echo %q, want %q", buf, msg)
				}
			}
			if err != nil {
				mu.Lock()
				dead = append(dead, i)
				if first == nil {
					first = fmt.Errorf("connection %d: %w", i, err)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return dead, first
}

// WaitFor polls cond every 5 ms until it holds or d has passed.
func WaitFor(d time.Duration, cond func() bool) error {
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %v", d)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return nil
}

// StreamOptions pace a Stream: Chunk bytes every Every.
type StreamOptions struct {
	Chunk int           // 8 KiB by default
	Every time.Duration // 2 ms by default
}

// Stream is a long TCP stream to an echo server: a writer sends a counting
// pattern, the reader checks every byte that comes back and records the
// longest gap between reads.
type Stream struct {
	c        net.Conn
	stop     chan struct{}
	wg       sync.WaitGroup
	Read     atomic.Int64
	MaxStall atomic.Int64 // ns; the caller resets it between phases
	err      atomic.Pointer[error]
}

// StartStream starts the stream on c; End stops it and closes c.
func StartStream(c net.Conn, o StreamOptions) *Stream {
	if o.Chunk == 0 {
		o.Chunk = 8192
	}
	if o.Every == 0 {
		o.Every = 2 * time.Millisecond
	}
	s := &Stream{c: c, stop: make(chan struct{})}
	s.wg.Go(func() {
		buf := make([]byte, o.Chunk)
		t := time.NewTicker(o.Every)
		defer t.Stop()
		var off int64
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
			for i := range buf {
				buf[i] = byte((off + int64(i)) % 251)
			}
			if _, err := c.Write(buf); err != nil {
				s.fail(fmt.Errorf("write at %d: %w", off, err))
				return
			}
			off += int64(len(buf))
		}
	})
	s.wg.Go(func() {
		buf := make([]byte, 65536)
		last := time.Now()
		for {
			n, err := c.Read(buf)
			now := time.Now()
			if gap := now.Sub(last); n > 0 && int64(gap) > s.MaxStall.Load() {
				s.MaxStall.Store(int64(gap))
			}
			read := s.Read.Load()
			for i := range buf[:n] {
				if want := byte((read + int64(i)) % 251); buf[i] != want {
					s.fail(fmt.Errorf("byte %d: got %d, want %d", read+int64(i), buf[i], want))
					return
				}
			}
			if n > 0 {
				last = now
				s.Read.Add(int64(n))
			}
			if err != nil {
				select {
				case <-s.stop:
				default:
					s.fail(fmt.Errorf("read at %d: %w", s.Read.Load(), err))
				}
				return
			}
		}
	})
	return s
}

func (s *Stream) fail(err error) { s.err.CompareAndSwap(nil, &err) }

// Err is the stream's first failure (a wrong byte, a reset), or nil.
func (s *Stream) Err() error {
	if e := s.err.Load(); e != nil {
		return *e
	}
	return nil
}

// Progress waits until another n bytes came back, the stream fails, or
// timeout passes.
func (s *Stream) Progress(n int64, timeout time.Duration) error {
	from := s.Read.Load()
	err := WaitFor(timeout, func() bool { return s.Err() != nil || s.Read.Load() >= from+n })
	if e := s.Err(); e != nil {
		return fmt.Errorf("stream: %w", e)
	}
	if err != nil {
		return fmt.Errorf("stream: %d more bytes: %w (at %d)", n, err, s.Read.Load())
	}
	return nil
}

// End stops the stream and closes its connection.
func (s *Stream) End() {
	select {
	case <-s.stop:
		return
	default:
	}
	close(s.stop)
	s.c.SetDeadline(time.Now())
	s.wg.Wait()
	s.c.Close()
}

// RSTWatch counts the lines a tcpdump prints, started with a filter for
// TCP resets (see RSTCommand).
type RSTWatch struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	wg    sync.WaitGroup
}

// RSTArgs are tcpdump's arguments to print every TCP reset on dev.
func RSTArgs(dev string) []string {
	return []string{"tcpdump", "-i", dev, "-n", "-l", "tcp[tcpflags] & tcp-rst != 0"}
}

// StartRSTWatch starts cmd (a tcpdump with -l, e.g. RSTArgs run in a
// namespace) and returns once it listens.
func StartRSTWatch(cmd *exec.Cmd) (*RSTWatch, error) {
	r := &RSTWatch{cmd: cmd}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%v: %w", cmd.Args, err)
	}
	ready := make(chan string, 1)
	r.wg.Go(func() {
		sc := bufio.NewScanner(stderr)
		var seen strings.Builder
		for sc.Scan() {
			seen.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), "listening on") {
				ready <- ""
				io.Copy(io.Discard, stderr)
				return
			}
		}
		ready <- seen.String()
	})
	r.wg.Go(func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			r.mu.Lock()
			r.lines = append(r.lines, sc.Text())
			r.mu.Unlock()
		}
	})
	select {
	case msg := <-ready:
		if msg != "" {
			r.Stop()
			return nil, fmt.Errorf("tcpdump did not start: %s", msg)
		}
	case <-time.After(20 * time.Second):
		r.Stop()
		return nil, errors.New("tcpdump did not start within 20 s")
	}
	return r, nil
}

// Count is the number of resets printed so far.
func (r *RSTWatch) Count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.lines)
}

// Lines are the resets printed so far.
func (r *RSTWatch) Lines() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

// Stop ends tcpdump (only the process StartRSTWatch started).
func (r *RSTWatch) Stop() {
	if r.cmd.Process != nil {
		_ = r.cmd.Process.Kill()
	}
	_ = r.cmd.Wait()
	r.wg.Wait()
}
