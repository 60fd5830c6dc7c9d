package capture

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

func openEngine(p *Port) (engine, error) {
	switch p.cfg.Mode {
	case Passive:
		return openPacketEngine(p)
	case Bypass:
		return openXDPEngine(p)
	}
	return nil, fmt.Errorf("unknown mode %q", p.cfg.Mode)
}

// ifaceIndex resolves an interface in the calling thread's namespace.
func ifaceIndex(name string) (int, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, err
	}
	return ifi.Index, nil
}

// runEach runs loop for every queue (ring or socket) on its own goroutine
// and returns when all have ended.
func runEach[Q any](ctx context.Context, qs []Q, loop func(context.Context, Q)) {
	var wg sync.WaitGroup
	for _, q := range qs {
		wg.Go(func() { loop(ctx, q) })
	}
	wg.Wait()
}

// ifaceIndexIn resolves an interface in the namespace at path.
func ifaceIndexIn(path, name string) (int, error) {
	var idx int
	err := inNetNS(path, func() error {
		var err error
		idx, err = ifaceIndex(name)
		return err
	})
	return idx, err
}

// linkUpFd asks the kernel for the interface flags through any socket in
// the interface's namespace.
func linkUpFd(fd int, name string) bool {
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		return false
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return false
	}
	f := ifr.Uint16()
	return f&unix.IFF_UP != 0 && f&unix.IFF_RUNNING != 0
}

// socketTrouble handles an error or hang-up poll reported on an engine
// socket (the interface went down or away): it reads and so clears the
// socket error, which would otherwise make every poll return at once, and
// pauses briefly, so a socket whose interface is gone costs no CPU until
// the link monitor stops or restarts the engine.
func socketTrouble(p *Port, fd int, revents int16) {
	if revents&(unix.POLLERR|unix.POLLHUP|unix.POLLNVAL) == 0 {
		return
	}
	soerr, _ := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR)
	if n := p.sockErrors.Add(1); n == 1 || n%100 == 0 {
		p.c.log.Warn("port socket reports an error", "port", p.cfg.Name, "errno", unix.Errno(soerr).Error(), "times", n)
	}
	time.Sleep(100 * time.Millisecond)
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// engineNice is the nice value of the engines' receive threads: above
// the capture writers (nice 0, capture/session), so under CPU pressure
// receiving and forwarding win and a starved writer drops from its own
// queue, counted. The writers used to be niced to 5 instead, which lost
// their share to any nice-0 work: in bench/capture on the shared machine
// (1514 B, interleaved single runs) the median loss was 23.6 % with the
// writer at nice 5 and 4.3-4.5 % with it at nice 0, engines at -5 or 0
// alike; see docs/BENCHMARKS.md.
const engineNice = -5

// enginePriority gives the calling goroutine its own thread at engineNice
// (kept if not permitted: the engine then runs at the writers' level).
// The goroutine keeps the thread until it exits; the thread then dies.
// Engines wake once per ring block or batch, so the locked thread's
// wake-up hand-off is paid per batch, not per frame.
func enginePriority() {
	runtime.LockOSThread()
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), engineNice)
}

// fdWaiter blocks an engine until its socket is readable through the Go
// runtime's netpoller rather than in a poll system call. An engine thread
// blocked in poll holds its P in a system call, which keeps the runtime's
// sysmon thread waking every 20 µs to 10 ms to consider retaking it: on
// the 2-vCPU bench machine sysmon then cost more CPU than the engine
// itself (294 ms of 775 ms for 2,000,000 frames, 8,216 wake-ups; see
// docs/BENCHMARKS.md). Parked on the netpoller, the engine's goroutine
// holds no P, so an idle port lets every P go idle and sysmon sleep.
type fdWaiter struct {
	f  *os.File // a dup of the engine's socket, registered with the netpoller
	rc syscall.RawConn
	fd int // the engine's socket, for its error state
}

func newFdWaiter(fd int) (*fdWaiter, error) {
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("dup socket: %w", err)
	}
	// The dup shares the open file description, so this makes the
	// engine's socket non-blocking too: engines never read from it, and
	// a kick (sendto) on an AF_XDP socket is non-blocking anyway.
	if err := unix.SetNonblock(dup, true); err != nil {
		unix.Close(dup)
		return nil, fmt.Errorf("non-blocking socket: %w", err)
	}
	f := os.NewFile(uintptr(dup), "engine socket")
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("socket conn: %w", err)
	}
	return &fdWaiter{f: f, rc: rc, fd: fd}, nil
}

// wait returns once ready reports true, waiting for the socket to become
// readable in between; false when ctx ended first. A wake-up with nothing
// ready but the socket in error (the interface went down or away) goes
// through socketTrouble, which pauses.
func (w *fdWaiter) wait(ctx context.Context, p *Port, ready func() bool) bool {
	stop := context.AfterFunc(ctx, func() { w.f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	first := true
	err := w.rc.Read(func(uintptr) bool {
		if ready() || ctx.Err() != nil {
			return true
		}
		if !first {
			pfd := []unix.PollFd{{Fd: int32(w.fd), Events: unix.POLLIN}}
			if n, _ := unix.Poll(pfd, 0); n > 0 {
				socketTrouble(p, w.fd, pfd[0].Revents)
			}
		}
		first = false
		return false
	})
	if err != nil && ctx.Err() == nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		p.c.log.Error("wait for socket", "port", p.cfg.Name, "err", err)
		socketTrouble(p, w.fd, unix.POLLERR)
	}
	return ctx.Err() == nil
}

func (w *fdWaiter) close() { w.f.Close() }
