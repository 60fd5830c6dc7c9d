package mirror

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"unsafe"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// tapDev is the client's local interface.
type tapDev struct {
	name string
	h    *netlink.Handle // bound to the namespace the TAP was made in
	link netlink.Link
	f    *os.File
	rc   syscall.RawConn
	vnet bool // frames carry a virtio-net header (offloads on, see offload_linux.go)
}

// newTAP creates a TAP in the calling thread's namespace. It is not
// persistent: if the process dies, the kernel removes it with the last fd.
func newTAP(name string, offload bool) (*tapDev, error) {
	h, err := netlink.NewHandle()
	if err != nil {
		return nil, fmt.Errorf("mirror: netlink: %w", err)
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = name
	flags := netlink.TUNTAP_NO_PI | netlink.TUNTAP_ONE_QUEUE
	if offload {
		flags |= netlink.TUNTAP_VNET_HDR
	}
	tt := &netlink.Tuntap{LinkAttrs: attrs, Mode: netlink.TUNTAP_MODE_TAP, Flags: flags, NonPersist: true, Queues: 1}
	if err := h.LinkAdd(tt); err != nil {
		h.Close()
		return nil, fmt.Errorf("mirror: create TAP %s: %w", name, err)
	}
	t := &tapDev{name: tt.Name, h: h, link: tt, f: tt.Fds[0]}
	for _, f := range tt.Fds[1:] {
		f.Close()
	}
	if t.rc, err = t.f.SyscallConn(); err != nil {
		t.close()
		return nil, err
	}
	if t.link, err = h.LinkByName(t.name); err != nil {
		t.close()
		return nil, fmt.Errorf("mirror: TAP %s: %w", t.name, err)
	}
	if offload {
		var errno syscall.Errno
		err := t.rc.Control(func(fd uintptr) {
			_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, unix.TUNSETOFFLOAD, tunFCsum|tunFTSO4|tunFTSO6|tunFTSOECN)
		})
		if err == nil && errno != 0 {
			err = errno
		}
		if err != nil {
			t.close()
			return nil, fmt.Errorf("mirror: TAP %s: offloads: %w", t.name, err)
		}
		t.vnet = true
	}
	return t, nil
}

// configure gives the TAP the remote port's MAC and MTU and sets it up.
func (t *tapDev) configure(mac net.HardwareAddr, mtu int) error {
	if len(mac) == 6 {
		if err := t.h.LinkSetHardwareAddr(t.link, mac); err != nil {
			return fmt.Errorf("mirror: TAP %s: set MAC %s: %w", t.name, mac, err)
		}
	}
	if mtu >= 68 {
		if err := t.h.LinkSetMTU(t.link, mtu); err != nil {
			return fmt.Errorf("mirror: TAP %s: set MTU %d: %w", t.name, mtu, err)
		}
	}
	if err := t.h.LinkSetUp(t.link); err != nil {
		return fmt.Errorf("mirror: TAP %s: set up: %w", t.name, err)
	}
	return nil
}

// setCarrier switches the TAP's carrier (TUNSETCARRIER, Linux 5.0+).
func (t *tapDev) setCarrier(on bool) error {
	var v int32
	if on {
		v = 1
	}
	var errno syscall.Errno
	err := t.rc.Control(func(fd uintptr) {
		_, _, errno = unix.Syscall(unix.SYS_IOCTL, fd, unix.TUNSETCARRIER, uintptr(unsafe.Pointer(&v)))
	})
	if err != nil {
		return err
	}
	if errno != 0 {
		return fmt.Errorf("mirror: TAP %s: set carrier: %w", t.name, errno)
	}
	return nil
}

// readBatch reads frames the local stack sent into buf (each at most
// maxFrame bytes), waiting for the first; lens gets each frame's length.
func (t *tapDev) readBatch(buf []byte, maxFrame int, lens []int) ([]int, error) {
	lens = lens[:0]
	var rerr error
	off := 0
	err := t.rc.Read(func(fd uintptr) bool {
		for len(lens) < cap(lens) && len(buf)-off >= maxFrame {
			n, err := unix.Read(int(fd), buf[off:off+maxFrame])
			if err == unix.EAGAIN {
				return len(lens) > 0
			}
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				rerr = err
				return true
			}
			lens = append(lens, n)
			off += n
		}
		return true
	})
	if err == nil {
		err = rerr
	}
	return lens, err
}

// writeCoalesced hands frames to the local stack, merging runs of one TCP
// flow into one write when offloads are on. arena and out are reused
// between calls.
func (t *tapDev) writeCoalesced(frames [][]byte, c *coalescer, arena *[]byte, out [][]byte) ([][]byte, error) {
	if !t.vnet {
		return out, t.writeFrames(frames, false)
	}
	a := (*arena)[:0]
	var ends []int
	emit := func(parts ...[]byte) {
		for _, p := range parts {
			a = append(a, p...)
		}
		ends = append(ends, len(a))
	}
	for _, f := range frames {
		if c.add(f) {
			continue
		}
		if c.n > 0 {
			emit(c.frame())
			c.n = 0
			if c.add(f) {
				continue
			}
		}
		emit(vnetRX[:], f)
	}
	if c.n > 0 {
		emit(c.frame())
		c.n = 0
	}
	*arena = a
	out = out[:0]
	start := 0
	for _, e := range ends {
		out = append(out, a[start:e])
		start = e
	}
	return out, t.writeFrames(out, true)
}

// writeFrames hands frames to the local stack, one write each; withHdr
// says the frames already carry their virtio-net header.
func (t *tapDev) writeFrames(frames [][]byte, withHdr bool) error {
	i := 0
	var werr error
	err := t.rc.Write(func(fd uintptr) bool {
		for i < len(frames) {
			var err error
			if t.vnet && !withHdr {
				_, err = unix.Writev(int(fd), [][]byte{vnetRX[:], frames[i]})
			} else {
				_, err = unix.Write(int(fd), frames[i])
			}
			switch {
			case err == unix.EAGAIN:
				return false
			case err == unix.EINTR:
				continue
			case err != nil && !errors.Is(err, unix.EINVAL):
				werr = err
				return true
			}
			i++ // EINVAL: a frame the TAP refuses (too long); dropped
		}
		return true
	})
	if err == nil {
		err = werr
	}
	return err
}

// close removes the TAP.
func (t *tapDev) close() {
	if t.f != nil {
		t.f.Close()
	}
	if t.link != nil {
		_ = t.h.LinkDel(t.link) // already gone with its fd when not persistent
	}
	t.h.Close()
}

// Detach removes a mirror TAP by name (the attach running it ends).
func Detach(name string) error {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return fmt.Errorf("mirror: %s: %w", name, err)
	}
	if l.Type() != "tuntap" {
		return fmt.Errorf("mirror: %s is not a TAP (%s)", name, l.Type())
	}
	return netlink.LinkDel(l)
}
