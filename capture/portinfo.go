package capture

import (
	"context"
	"net"
	"sync"
	"time"
)

// PortInfo are a port's facts: what the interface is and its link. They
// come from netlink (index, address, MTU, operational state) and ethtool
// (speed, duplex), and are refreshed on every link change the core sees.
type PortInfo struct {
	Name string
	Mode Mode
	// IfIndex is the interface index in the port's namespace (0 while the
	// interface is absent).
	IfIndex int
	MAC     net.HardwareAddr
	MTU     int
	// SpeedMbps is the link speed; 0 when the driver does not say.
	SpeedMbps int
	// Duplex is "full", "half" or "unknown".
	Duplex string
	// LinkUp is true when the interface is administratively up and has
	// carrier (IFF_UP and IFF_RUNNING).
	LinkUp bool
	// OperState is netlink's operational state ("up", "down",
	// "lowerlayerdown", …), "absent" while the interface does not exist.
	OperState string
	// Attached reports whether the port's engine is running. An engine
	// stops while its interface is absent and starts again when it
	// returns (a new index), and stops while the core service restarts.
	Attached bool
	// LastChange is when the core last saw the link change (or the port
	// open).
	LastChange time.Time
}

// PortEvent reports a change of a port's facts.
type PortEvent struct {
	Port string
	Info PortInfo
	// Removed is set when the port was closed (not when its interface
	// went away: that is Info.OperState "absent").
	Removed bool
}

// Info returns the port's current facts.
func (p *Port) Info() PortInfo {
	if i := p.info.Load(); i != nil {
		return *i
	}
	return PortInfo{Name: p.cfg.Name, Mode: p.cfg.Mode, OperState: "unknown", Duplex: "unknown"}
}

// setInfo stores new facts and tells the watchers when they differ from
// the old ones in anything but LastChange.
func (p *Port) setInfo(ni PortInfo) {
	ni.Name, ni.Mode = p.cfg.Name, p.cfg.Mode
	old := p.info.Load()
	if old != nil && sameFacts(*old, ni) {
		return
	}
	ni.LastChange = time.Now()
	p.info.Store(&ni)
	p.c.watchers.send(PortEvent{Port: p.cfg.Name, Info: ni})
}

func sameFacts(a, b PortInfo) bool {
	return a.IfIndex == b.IfIndex && a.MAC.String() == b.MAC.String() && a.MTU == b.MTU &&
		a.SpeedMbps == b.SpeedMbps && a.Duplex == b.Duplex && a.LinkUp == b.LinkUp &&
		a.OperState == b.OperState && a.Attached == b.Attached
}

// watchers fans port events out to WatchPorts callers.
type watchers struct {
	mu   sync.Mutex
	chs  map[chan PortEvent]struct{}
	lost uint64
}

func (w *watchers) send(ev PortEvent) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.chs {
		select {
		case ch <- ev:
		default:
			// A watcher that does not keep up misses events; Info always
			// has the current facts.
			w.lost++
		}
	}
}

// WatchPorts returns a channel of port events: first one per open port
// with its current facts, then one per change, until ctx ends (the
// channel is then closed). A watcher that falls more than 256 events
// behind misses events; Port.Info always answers with the current facts.
func (c *Core) WatchPorts(ctx context.Context) <-chan PortEvent {
	ch := make(chan PortEvent, 256)
	c.watchers.mu.Lock()
	if c.watchers.chs == nil {
		c.watchers.chs = make(map[chan PortEvent]struct{})
	}
	for _, p := range c.Ports() {
		ch <- PortEvent{Port: p.cfg.Name, Info: p.Info()}
		if len(ch) == cap(ch) {
			break
		}
	}
	c.watchers.chs[ch] = struct{}{}
	c.watchers.mu.Unlock()
	go func() {
		<-ctx.Done()
		c.watchers.mu.Lock()
		delete(c.watchers.chs, ch)
		close(ch)
		c.watchers.mu.Unlock()
	}()
	return ch
}
