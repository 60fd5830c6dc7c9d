package capture

import (
	"fmt"
	"net"

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

func htons(v uint16) uint16 { return v<<8 | v>>8 }
