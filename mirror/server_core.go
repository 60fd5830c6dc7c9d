package mirror

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/mirror/proto"
	"github.com/wirebox/wirebox/tap"
	"github.com/wirebox/wirebox/tap/tapcore"
)

// Every call the mirror makes into the capture core is in this file: an
// exclusive channel is an in-process tap application with a bypass tap
// (tap/tapcore: the same rings as outside applications, over the same
// pool, no socket), a monitor is a read-only consumer of the core; frames
// come by reference from the core's pool, the client's frames leave in
// batches (one Port.Send per revert batch), and the ports' facts and link
// events are the core's (Port.Info, Core.WatchPorts).

// linkState is what clients are told about a port's interface.
type linkState struct {
	Exists bool
	Up     bool
	MTU    int
	MAC    net.HardwareAddr
	Speed  uint32 // Mb/s, 0 unknown
	Duplex uint8  // proto.Duplex*
}

func (a linkState) same(b linkState) bool {
	return a.Exists == b.Exists && a.Up == b.Up && a.MTU == b.MTU && a.Speed == b.Speed &&
		a.Duplex == b.Duplex && slices.Equal(a.MAC, b.MAC)
}

// stateOf turns the core's facts about a port into what clients are told.
func stateOf(i capture.PortInfo) linkState {
	if i.OperState == "absent" {
		return linkState{}
	}
	st := linkState{Exists: true, Up: i.LinkUp, MTU: i.MTU, MAC: i.MAC, Duplex: proto.ParseDuplex(i.Duplex)}
	if i.SpeedMbps > 0 {
		st.Speed = uint32(i.SpeedMbps)
	}
	return st
}

// corePort is a port of the core the mirror may use.
type corePort struct {
	c *capture.Core
	p *capture.Port
}

// lookupPort finds an open port of the core.
func lookupPort(c *capture.Core, name string) (corePort, bool) {
	if c == nil {
		return corePort{}, false
	}
	p := c.Port(name)
	return corePort{c, p}, p != nil
}

// corePortNames lists the core's open ports.
func corePortNames(c *capture.Core) []string {
	if c == nil {
		return nil
	}
	var out []string
	for _, p := range c.Ports() {
		out = append(out, p.Name())
	}
	return out
}

// portState reads a port's current facts from the core.
func portState(c *capture.Core, name string) linkState {
	if cp, ok := lookupPort(c, name); ok {
		return stateOf(cp.p.Info())
	}
	return linkState{}
}

// watchPorts calls fn with every port's facts as the core reports changes,
// until ctx ends.
func watchPorts(ctx context.Context, c *capture.Core, fn func(name string, st linkState)) {
	for ev := range c.WatchPorts(ctx) {
		if ev.Removed {
			fn(ev.Port, linkState{})
			continue
		}
		fn(ev.Port, stateOf(ev.Info))
	}
}

// coreSub is one channel's hold on a port. An exclusive channel is an
// in-process tap application (tap/tapcore) with a bypass tap on the port:
// the port's received frames come on its detour ring, frames from the
// client go out on its revert ring, built in frames from its alloc ring,
// the same rings and checks an outside tap application has. A monitor is
// a read-only subscriber of the core (NetTap's taps are owners; an
// observer that must never hold up the port stays read-only).
type coreSub struct {
	cp corePort

	// exclusive
	tl   *tapcore.Local
	h    uint32         // the bypass tap
	ds   []tap.RingDesc // the pump's batch (detour, then dealloc)
	txds []tap.RingDesc // the reader's batch (alloc, then revert)

	// monitor
	cons   *capture.Consumer
	sub    *capture.Subscription
	frames []capture.Frame

	// txMu orders transmit and close: frames taken from the alloc ring
	// must not be written once close gave them back to the pool.
	txMu      sync.Mutex
	closed    atomic.Bool
	finalDrop uint64 // dropped() when it closed
}

// errBusy marks a port whose ingress another exclusive owner holds.
var errBusy = errors.New("port busy")

// Sizes of an exclusive channel's attachment: the queue in the core and
// the frames it may hold (detour ring and batches) as the read-only
// subscription had, plus free frames kept for the client's transmissions.
const (
	excQueue = 8192
	excAlloc = 1024
	excQuota = excQueue + excAlloc
)

// subscribe takes the port for a channel: an exclusive channel opens a
// bypass tap (refused with errBusy while another exclusive owner, a
// mirror client or any other consumer, holds the port's ingress); a
// monitor subscribes read-only to both directions. skip drops frames (the
// tunnel's own, see loop.go).
func (cp corePort) subscribe(name string, exclusive bool, skip func([]byte) bool) (*coreSub, error) {
	var match func([]byte) bool
	if skip != nil {
		match = func(b []byte) bool { return !skip(b) }
	}
	if exclusive {
		tl, err := tapcore.Attach(cp.c, tapcore.Options{Name: name, Quota: excQuota, Alloc: excAlloc, Queue: excQueue, MaxTaps: 1})
		if err != nil {
			return nil, fmt.Errorf("attach to %s: %w", cp.p.Name(), err)
		}
		h, err := tl.Tap(cp.p.Name(), tap.TapBypass, 0, tapcore.TapOptions{Match: match})
		if err != nil {
			tl.Close()
			if errors.Is(err, capture.ErrBusy) {
				return nil, fmt.Errorf("%w: %w", errBusy, err)
			}
			return nil, fmt.Errorf("subscribe to %s: %w", cp.p.Name(), err)
		}
		return &coreSub{cp: cp, tl: tl, h: h, ds: make([]tap.RingDesc, 512)}, nil
	}
	k := cp.c.NewConsumer(name)
	s, err := k.Subscribe(cp.p, capture.SubscribeOptions{Name: name, Kind: capture.ReadOnly, Direction: capture.Both, Queue: 8192, Match: match})
	if err != nil {
		_ = k.Close()
		return nil, fmt.Errorf("subscribe to %s: %w", cp.p.Name(), err)
	}
	return &coreSub{cp: cp, cons: k, sub: s, frames: make([]capture.Frame, 512)}, nil
}

// receive waits for frames and hands each to add (stamp, source, direction,
// wire length, bytes valid only during the call); it returns once the
// batch is consumed, every frame given back to the pool.
func (s *coreSub) receive(ctx context.Context, add func(ts int64, src, dir uint8, wire int, data []byte)) (int, error) {
	if s.tl != nil {
		n, err := s.tl.Receive(ctx, s.ds)
		if err != nil {
			return 0, closedAs(err, tapcore.ErrClosed)
		}
		for _, d := range s.ds[:n] {
			ts, src, wire := s.tl.Meta(d.ID)
			add(ts, uint8(src), proto.DirRX, wire, s.tl.Data(d))
		}
		_, err = s.tl.Dealloc(s.ds[:n]) // within the quota the ring has room for all
		return n, err
	}
	n, err := s.sub.Receive(ctx, s.frames)
	if err != nil {
		return 0, closedAs(err, capture.ErrClosed)
	}
	for _, f := range s.frames[:n] {
		dir := uint8(proto.DirRX)
		if f.Direction() == capture.TX {
			dir = proto.DirTX
		}
		add(f.Timestamp(), uint8(f.TimestampSource()), dir, f.WireLen(), f.Data())
	}
	capture.ReleaseAll(s.frames[:n])
	clear(s.frames[:n])
	return n, nil
}

// closedAs turns the source's closed error into the mirror's errClosed.
func closedAs(err, closed error) error {
	if errors.Is(err, closed) {
		return errClosed
	}
	return err
}

// dropped counts frames the core could not queue to the channel (and, for
// an exclusive one, frames its tap missed at its quota).
func (s *coreSub) dropped() uint64 {
	if s.closed.Load() {
		return s.finalDrop
	}
	if s.tl != nil {
		return s.tl.Dropped(s.h)
	}
	return s.sub.Stats().Dropped
}

// close ends the tap or subscription and gives back every frame the
// channel still holds. Call it once, after the pump ended.
func (s *coreSub) close() {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	s.finalDrop = s.dropped()
	s.closed.Store(true)
	if s.tl != nil {
		s.tl.Close()
		return
	}
	_ = s.cons.Close()
}

// allocWait bounds how long a transmission waits for free frames (the
// daemon restocks the alloc ring as the port sends): it holds up the
// client's connection rather than dropping.
const allocWait = 100 * time.Millisecond

// transmit sends one data message's frames out of the port (onto its
// wire): each is copied into a free frame from the channel's alloc ring
// and the batch goes on its revert ring with the bypass tap's handle; the
// daemon side sends it in one Port.Send (one sendmmsg or one kick). It
// returns how many were handed over; the rest were dropped (too long, no
// free frame in time, the channel closed), with the first reason. Only
// the session's reader calls it (the alloc and revert rings' one user).
func (s *coreSub) transmit(frames [][]byte) (int, error) {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	if s.closed.Load() {
		return 0, errClosed
	}
	var firstErr error
	fs := s.cp.c.Pool().FrameSize()
	want := 0
	for _, b := range frames {
		if len(b) <= fs {
			want++
		} else if firstErr == nil {
			firstErr = fmt.Errorf("frame of %d bytes exceeds the pool frame (%d)", len(b), fs)
		}
	}
	if cap(s.txds) < want {
		s.txds = make([]tap.RingDesc, want)
	}
	ds := s.txds[:want]
	got := s.tl.TryAlloc(ds)
	if got < want {
		ctx, cancel := context.WithTimeout(context.Background(), allocWait)
		for got < want {
			n, err := s.tl.Alloc(ctx, ds[got:])
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("allocate frames: %d of %d: %w", got, want, err)
				}
				break
			}
			got += n
		}
		cancel()
	}
	i := 0
	for _, b := range frames {
		if i == got {
			break
		}
		if len(b) > fs {
			continue
		}
		d := &ds[i]
		d.Off, d.Len, d.Tap = 0, uint32(copy(s.tl.Buffer(d.ID), b)), s.h
		i++
	}
	sent, err := s.tl.Revert(ds[:got])
	if err != nil {
		// Closed: the attachment took back every frame it handed out.
		if firstErr == nil {
			firstErr = err
		}
		return 0, firstErr
	}
	return sent, firstErr
}
