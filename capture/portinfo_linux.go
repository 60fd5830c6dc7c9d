package capture

import (
	"fmt"
	"runtime"
	"time"
	"unsafe"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// linkMonitor follows the links of one network namespace through a
// netlink subscription and keeps the core's ports there in step: facts
// refreshed, engines stopped while their interface is gone and started
// again when it returns.
type linkMonitor struct {
	c    *Core
	path string // namespace path, "" for the daemon's own
	h    *netlink.Handle
	done chan struct{}
	wg   chan struct{}
}

// startMonitor starts the monitor of the namespace at path unless one
// runs. The caller holds c.mu.
func (c *Core) startMonitor(path string) error {
	if _, ok := c.monitors[path]; ok {
		return nil
	}
	var nsh netns.NsHandle
	var err error
	if path == "" {
		nsh = netns.None()
	} else if nsh, err = netns.GetFromPath(path); err != nil {
		return fmt.Errorf("open netns %s: %w", path, err)
	}
	h, err := netlink.NewHandleAt(nsh, unix.NETLINK_ROUTE) // route only: kernels without XFRM refuse the rest
	if err != nil {
		if path != "" {
			nsh.Close()
		}
		return fmt.Errorf("netlink handle in %q: %w", path, err)
	}
	ch := make(chan netlink.LinkUpdate, 64)
	m := &linkMonitor{c: c, path: path, h: h, done: make(chan struct{}), wg: make(chan struct{})}
	opts := netlink.LinkSubscribeOptions{ErrorCallback: func(err error) {
		select {
		case <-m.done:
		default:
			c.log.Warn("link monitor", "netns", path, "err", err)
		}
	}}
	if path != "" {
		opts.Namespace = &nsh
	}
	err = netlink.LinkSubscribeWithOptions(ch, m.done, opts)
	if path != "" {
		nsh.Close() // the subscription and the handle keep their own sockets
	}
	if err != nil {
		h.Close()
		return fmt.Errorf("link subscription in %q: %w", path, err)
	}
	c.monitors[path] = m
	go m.run(ch)
	return nil
}

func (m *linkMonitor) stop() {
	close(m.done)
	<-m.wg
	m.h.Close()
}

// run handles link updates and, once a second, retries ports whose
// engine is not running although it should: an update may have been
// missed, or an engine stopped by itself.
func (m *linkMonitor) run(ch chan netlink.LinkUpdate) {
	defer close(m.wg)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case u, ok := <-ch:
			if !ok {
				return
			}
			p := m.c.portIn(m.path, u.Link.Attrs().Name)
			if p == nil {
				continue
			}
			if u.Header.Type == unix.RTM_DELLINK {
				p.linkGone()
			} else {
				p.linkSeen(u.Link)
			}
		case <-tick.C:
			for _, p := range m.c.Ports() {
				if p.cfg.NetNS == m.path {
					p.check(m.h)
				}
			}
		case <-m.done:
			for range ch { // until the subscription closes it
			}
			return
		}
	}
}

// portIn is the open port on interface name in namespace path.
func (c *Core) portIn(path, name string) *Port {
	for _, p := range c.Ports() {
		if p.cfg.NetNS == path && p.cfg.Name == name {
			return p
		}
	}
	return nil
}

// monitorHandle is the netlink handle of the port's namespace.
func (p *Port) monitorHandle() *netlink.Handle {
	p.c.mu.Lock()
	defer p.c.mu.Unlock()
	if m := p.c.monitors[p.cfg.NetNS]; m != nil {
		return m.h
	}
	return nil
}

// refreshInfo reads the port's facts now.
func (p *Port) refreshInfo() {
	if h := p.monitorHandle(); h != nil {
		p.refreshWith(h)
	}
}

func (p *Port) refreshWith(h *netlink.Handle) {
	l, err := h.LinkByName(p.cfg.Name)
	if err != nil {
		p.setInfo(PortInfo{OperState: "absent", Duplex: "unknown", Attached: p.attached()})
		return
	}
	p.setInfo(p.factsOf(l))
}

// factsOf builds the facts of link l (ethtool for speed and duplex).
func (p *Port) factsOf(l netlink.Link) PortInfo {
	a := l.Attrs()
	pi := PortInfo{
		IfIndex:   a.Index,
		MAC:       append([]byte(nil), a.HardwareAddr...),
		MTU:       a.MTU,
		OperState: a.OperState.String(),
		LinkUp:    a.RawFlags&unix.IFF_UP != 0 && a.RawFlags&unix.IFF_RUNNING != 0,
		Duplex:    "unknown",
		Attached:  p.attached(),
	}
	p.ctlMu.Lock()
	if p.ctlfd >= 0 {
		pi.SpeedMbps, pi.Duplex = ethtoolLink(p.ctlfd, p.cfg.Name)
	}
	p.ctlMu.Unlock()
	return pi
}

// linkSeen handles a new or changed link.
func (p *Port) linkSeen(l netlink.Link) {
	if p.closed.Load() {
		return
	}
	if idx := p.ifindex.Load(); p.attached() && idx != 0 && int(idx) != l.Attrs().Index {
		// The interface was deleted and made again before we saw the
		// deletion: the engine is bound to the old one.
		p.detach("interface replaced")
	}
	if !p.attached() && !p.suspended.Load() {
		if err := p.attach(); err != nil {
			p.noteAttachError(err)
		}
	}
	p.setInfo(p.factsOf(l))
}

// linkGone handles the deletion of the port's interface.
func (p *Port) linkGone() {
	if p.closed.Load() {
		return
	}
	if p.attached() {
		p.c.log.Warn("port interface gone; engine stopped until it returns", "port", p.cfg.Name)
		p.detach("interface gone")
	}
	p.setInfo(PortInfo{OperState: "absent", Duplex: "unknown"})
}

// check starts the engine of a port that should run but does not.
func (p *Port) check(h *netlink.Handle) {
	if p.closed.Load() || p.suspended.Load() {
		return
	}
	if p.attached() && !p.engineStopped() {
		return
	}
	if p.attached() {
		p.detach("engine stopped")
	}
	l, err := h.LinkByName(p.cfg.Name)
	if err != nil {
		return // still absent
	}
	p.linkSeen(l)
}

// noteAttachError logs a failed restart once per distinct error.
func (p *Port) noteAttachError(err error) {
	msg := err.Error()
	if last := p.lastAttachErr.Load(); last != nil && *last == msg {
		return
	}
	p.lastAttachErr.Store(&msg)
	p.c.log.Error("port engine did not start", "port", p.cfg.Name, "err", err)
}

// openCtl opens the port's control socket in its namespace: interface
// ioctls (flags, ethtool) need a socket where the interface lives.
func (p *Port) openCtl() error {
	return inNetNS(p.cfg.NetNS, func() error {
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("control socket: %w", err)
		}
		p.ctlfd = fd
		return nil
	})
}

func (p *Port) closeCtl() {
	p.ctlMu.Lock()
	defer p.ctlMu.Unlock()
	if p.ctlfd >= 0 {
		unix.Close(p.ctlfd)
		p.ctlfd = -1
	}
}

// linkCounters reads the interface's own packet counters (both
// directions), for counting what arrived while no engine ran.
func (p *Port) linkCounters() (uint64, int, bool) {
	h := p.monitorHandle()
	if h == nil {
		return 0, 0, false
	}
	l, err := h.LinkByName(p.cfg.Name)
	if err != nil || l.Attrs().Statistics == nil {
		return 0, 0, false
	}
	st := l.Attrs().Statistics
	return st.RxPackets + st.TxPackets, l.Attrs().Index, true
}

// ethtool_cmd (ETHTOOL_GSET): the legacy query every driver answers.
type ethtoolCmd struct {
	cmd                        uint32
	supported, advertising     uint32
	speed                      uint16
	duplex, port, phyAddr      uint8
	transceiver, autoneg, mdio uint8
	maxTx, maxRx               uint32
	speedHi                    uint16
	mdix, mdixCtrl             uint8
	lpAdvertising              uint32
	_                          [2]uint32
}

type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data unsafe.Pointer
	_    [16]byte
}

// ethtoolLink asks the driver for speed (Mb/s, 0 unknown) and duplex.
func ethtoolLink(fd int, name string) (int, string) {
	cmd := ethtoolCmd{cmd: unix.ETHTOOL_GSET}
	var ifr ifreqData
	copy(ifr.name[:], name)
	ifr.data = unsafe.Pointer(&cmd)
	_, _, errno := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(&ifr)))
	runtime.KeepAlive(&cmd)
	if errno != 0 {
		return 0, "unknown"
	}
	speed := uint32(cmd.speedHi)<<16 | uint32(cmd.speed)
	if speed == 0xffff || speed == 0xffffffff {
		speed = 0
	}
	duplex := "unknown"
	switch cmd.duplex {
	case 0:
		duplex = "half"
	case 1:
		duplex = "full"
	}
	return int(speed), duplex
}
