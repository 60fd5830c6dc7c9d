package capture

import (
	"fmt"
	"net"
	"runtime"
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
