package rmon

import (
	"context"
	"net"
	"time"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/rmon/drmon"
	"github.com/wirebox/wirebox/rmon/stats"
)

// Every call into the capture core is in this file.

// portFacts are the link facts IF-MIB needs.
type portFacts struct {
	MAC        net.HardwareAddr
	MTU        int
	SpeedMbps  int
	LinkUp     bool
	OperState  string
	LastChange time.Time
}

// portCounters are the core's own counters of a port.
type portCounters struct {
	RxPackets, RxBytes, TxPackets, TxBytes uint64
	RxDropped, TxErrors                    uint64
	LinkUp                                 bool
}

// corePort is the core's port as the probe uses it.
type corePort struct {
	p *capture.Port
	// A dRMON view has no core port: its name and its merged counters.
	view *drmon.View
}

func (c corePort) Name() string {
	if c.view != nil {
		return c.view.Name
	}
	return c.p.Name()
}

func (c corePort) counters() portCounters {
	if c.view != nil {
		e, rx, _ := c.view.St.EtherSnapshot()
		return portCounters{RxPackets: e.Pkts, RxBytes: rx.Octets, LinkUp: true}
	}
	st := c.p.Stats()
	return portCounters{RxPackets: st.RxPackets, RxBytes: st.RxBytes, TxPackets: st.TxPackets, TxBytes: st.TxBytes,
		RxDropped: st.RxDroppedKernel + st.RxDroppedPool, TxErrors: st.TxErrors, LinkUp: st.LinkUp}
}

// netns is the path of the port's namespace ("" for the daemon's).
func (c corePort) netns() string { return c.p.NetNS() }

// facts are the core's facts of the port (refreshed by the core on every
// link change).
func (c corePort) facts() portFacts {
	if c.view != nil {
		return portFacts{MTU: 1500, LinkUp: true, OperState: "up"}
	}
	i := c.p.Info()
	return portFacts{MAC: i.MAC, MTU: i.MTU, SpeedMbps: i.SpeedMbps, LinkUp: i.LinkUp, OperState: i.OperState, LastChange: i.LastChange}
}

// queueSize bounds what the probe may hold: its queues together take at
// most a quarter of the shared pool (16 to 8192 frames per port), so a
// stalled probe cannot starve the ports of buffers. Smaller queues lose
// frames to the reader's scheduling latency: at 0.8 Mpps on a busy
// 2-core machine, 4096 frames lost a third of a burst, 8192 under 1%
// (bench/snmp -load).
func queueSize(core *capture.Core, ports int) int {
	if ports == 0 {
		return 16
	}
	return min(max(core.Pool().Len()/(4*ports), 16), 8192)
}

// corePorts lists the core's open ports.
func corePorts(core *capture.Core) []corePort {
	var out []corePort
	for _, p := range core.Ports() {
		out = append(out, corePort{p: p})
	}
	return out
}

// subscribe is the probe's read-only subscription to a port (both
// directions).
func subscribe(p corePort, queue int) (*capture.Subscription, error) {
	return p.p.Subscribe(capture.SubscribeOptions{Name: "rmon", Kind: capture.ReadOnly, Direction: capture.Both, Queue: queue})
}

// feed counts every frame of sub into st until ctx ends. A slow probe loses frames in its own queue
// only (the core never waits for it); those are counted as drop events.
// tap, when set, sees every frame's full bytes before it is released (the
// filter and capture groups).
func feed(ctx context.Context, sub *capture.Subscription, st *stats.Port, tap chanTap, shared []*drmon.View) error {
	defer sub.Close()
	frames := make([]capture.Frame, 256)
	batch := make([]stats.Frame, 256)
	seens := make([]seen, 256)
	var dropped uint64
	for {
		n, err := sub.Receive(ctx, frames)
		for i, f := range frames[:n] {
			d := f.Data()
			if len(d) > stats.HeaderBytes {
				d = d[:stats.HeaderBytes] // the counters read the headers only
			}
			batch[i] = stats.Frame{Data: d, WireLen: f.WireLen(), TX: f.Direction() == capture.TX}
		}
		if n > 0 {
			st.Count(batch[:n])
			for _, v := range shared {
				v.CountShared(batch[:n])
			}
			if tap.active() {
				for i, f := range frames[:n] {
					seens[i] = seen{data: f.Data(), wireLen: f.WireLen(), ts: f.Timestamp()}
				}
				tap.see(seens[:n])
			}
			capture.ReleaseAll(frames[:n])
		}
		if d := sub.Stats().Dropped; d != dropped {
			st.AddDrops(d - dropped)
			dropped = d
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
	}
}
