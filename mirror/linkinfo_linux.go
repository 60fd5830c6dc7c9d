package mirror

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"sync"
	"unsafe"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/mirror/proto"
)

// linkState is what clients are told about a port's interface. It stands
// in for capture.PortInfo until the core's Port.Info and WatchPorts land.
type linkState struct {
	Exists bool
	Up     bool
	MTU    int
	MAC    net.HardwareAddr
	Speed  uint32 // Mb/s, 0 unknown
	Duplex uint8  // proto.Duplex*
}

// linkWatcher reads link state in one namespace and reports changes.
type linkWatcher struct {
	nsPath string
	ns     netns.NsHandle // -1 for the daemon's own namespace
	h      *netlink.Handle
	ethFd  int // datagram socket in the namespace, for ethtool ioctls
	mu     sync.Mutex
}

func newLinkWatcher(nsPath string) (*linkWatcher, error) {
	w := &linkWatcher{nsPath: nsPath, ns: netns.None(), ethFd: -1}
	var err error
	if nsPath != "" {
		if w.ns, err = netns.GetFromPath(nsPath); err != nil {
			return nil, fmt.Errorf("mirror: namespace %s: %w", nsPath, err)
		}
		w.h, err = netlink.NewHandleAt(w.ns)
	} else {
		w.h, err = netlink.NewHandle()
	}
	if err != nil {
		w.close()
		return nil, fmt.Errorf("mirror: netlink: %w", err)
	}
	err = inNetNS(nsPath, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		w.ethFd = fd
		return err
	})
	if err != nil {
		w.close()
		return nil, fmt.Errorf("mirror: ethtool socket: %w", err)
	}
	return w, nil
}

func (w *linkWatcher) close() {
	if w.h != nil {
		w.h.Close()
	}
	if w.ethFd >= 0 {
		unix.Close(w.ethFd)
	}
	if w.ns.IsOpen() {
		w.ns.Close()
	}
}

// get reads the interface's current state.
func (w *linkWatcher) get(name string) linkState {
	l, err := w.h.LinkByName(name)
	if err != nil {
		return linkState{}
	}
	return w.state(l)
}

func (w *linkWatcher) state(l netlink.Link) linkState {
	a := l.Attrs()
	st := linkState{
		Exists: true,
		Up:     a.Flags&net.FlagUp != 0 && (a.OperState == netlink.OperUp || a.OperState == netlink.OperUnknown),
		MTU:    a.MTU,
		MAC:    a.HardwareAddr,
	}
	st.Speed, st.Duplex = w.ethtool(a.Name)
	return st
}

// ethtool reads speed and duplex with the legacy ETHTOOL_GSET, which every
// driver that reports them answers.
func (w *linkWatcher) ethtool(name string) (uint32, uint8) {
	var cmd [44]byte
	cmd[0] = 1 // ETHTOOL_GSET (little-endian u32 on the machines we run on)
	var ifr struct {
		name [unix.IFNAMSIZ]byte
		data uintptr
		_    [16]byte
	}
	copy(ifr.name[:], name)
	ifr.data = uintptr(unsafe.Pointer(&cmd))
	w.mu.Lock()
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(w.ethFd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	w.mu.Unlock()
	runtime.KeepAlive(&cmd)
	if errno != 0 {
		return 0, proto.DuplexUnknown
	}
	speed := uint32(cmd[12]) | uint32(cmd[13])<<8 | uint32(cmd[26])<<16 | uint32(cmd[27])<<24
	if speed == 0xffffffff || speed == 0xffff {
		speed = 0
	}
	duplex := uint8(proto.DuplexUnknown)
	switch cmd[14] {
	case 0:
		duplex = proto.DuplexHalf
	case 1:
		duplex = proto.DuplexFull
	}
	return speed, duplex
}

// watch calls fn with the interface name and its new state on every link
// message until ctx ends.
func (w *linkWatcher) watch(ctx context.Context, fn func(name string, st linkState), onErr func(error)) error {
	ch := make(chan netlink.LinkUpdate, 64)
	done := make(chan struct{})
	opts := netlink.LinkSubscribeOptions{ErrorCallback: onErr}
	if w.nsPath != "" {
		opts.Namespace = &w.ns
	}
	if err := netlink.LinkSubscribeWithOptions(ch, done, opts); err != nil {
		return fmt.Errorf("mirror: link subscribe: %w", err)
	}
	defer func() {
		close(done)
		for range ch { // the subscription closes ch once it sees done
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case u, ok := <-ch:
			if !ok {
				return fmt.Errorf("mirror: link subscription ended")
			}
			if u.Header.Type == unix.RTM_DELLINK {
				fn(u.Attrs().Name, linkState{})
				continue
			}
			fn(u.Attrs().Name, w.state(u.Link))
		}
	}
}
