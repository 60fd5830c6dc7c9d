package mirror

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/mirror/proto"
)

// Every call the mirror makes into the capture core is in this file: each
// channel is a consumer of the core (capture.Consumer), its frames come by
// reference from the core's pool, the client's frames leave in batches
// (Port.Send), and the ports' facts and link events are the core's
// (Port.Info, Core.WatchPorts).

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

// coreSub is one channel's hold on a port: its own consumer of the core
// and the consumer's subscription, an exclusive ingress owner (the port's
// received frames are the mirror's; nobody else may own the hook while it
// holds it) or a read-only subscriber (monitor).
type coreSub struct {
	cp     corePort
	cons   *capture.Consumer
	sub    *capture.Subscription
	frames []capture.Frame
	tx     []capture.Frame
}

// errBusy marks a port whose ingress another exclusive owner holds.
var errBusy = errors.New("port busy")

// subscribe makes the channel's consumer and takes the port's received
// frames; monitors also see what the port transmits. skip drops frames
// (the tunnel's own, see loop.go). A port another owner holds exclusively
// (a mirror client or any other consumer) gives errBusy.
func (cp corePort) subscribe(name string, exclusive bool, skip func([]byte) bool) (*coreSub, error) {
	o := capture.SubscribeOptions{Name: name, Kind: capture.ReadOnly, Direction: capture.Both, Queue: 8192}
	if exclusive {
		o.Kind, o.Direction, o.Hook, o.Exclusive = capture.Owner, capture.RX, capture.Ingress, true
	}
	if skip != nil {
		o.Match = func(b []byte) bool { return !skip(b) }
	}
	k := cp.c.NewConsumer(name)
	s, err := k.Subscribe(cp.p, o)
	if err != nil {
		_ = k.Close()
		if errors.Is(err, capture.ErrBusy) {
			return nil, fmt.Errorf("%w: %w", errBusy, err)
		}
		return nil, fmt.Errorf("subscribe to %s: %w", cp.p.Name(), err)
	}
	return &coreSub{cp: cp, cons: k, sub: s, frames: make([]capture.Frame, 512)}, nil
}

// receive waits for frames and hands each to add (stamp, source, direction,
// wire length, bytes valid only during the call); it returns once the
// queued batch is consumed, every frame given back to the pool.
func (s *coreSub) receive(ctx context.Context, add func(ts int64, src, dir uint8, wire int, data []byte)) (int, error) {
	n, err := s.sub.Receive(ctx, s.frames)
	if err != nil {
		if errors.Is(err, capture.ErrClosed) {
			return 0, errClosed
		}
		return 0, err
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

// dropped counts frames the core could not queue to the channel.
func (s *coreSub) dropped() uint64 { return s.sub.Stats().Dropped }

// close ends the subscription and gives back every frame the channel's
// consumer still holds.
func (s *coreSub) close() { _ = s.cons.Close() }

// transmit sends one data message's frames out of the port (onto its
// wire): each is copied into a frame the channel's consumer allocates, and
// the batch goes to the port in one Send (one sendmmsg or one kick). It
// returns how many the port took; the rest were dropped (no free frame,
// too long, or a transmit error, which is returned). Only the pump's
// reader calls it, so the frame slice is the channel's own.
func (s *coreSub) transmit(frames [][]byte) (int, error) {
	if cap(s.tx) < len(frames) {
		s.tx = make([]capture.Frame, len(frames))
	}
	tx := s.tx[:len(frames)]
	n := s.cons.Alloc(tx)
	var firstErr error
	if n < len(frames) {
		firstErr = fmt.Errorf("allocate frames: %d of %d", n, len(frames))
	}
	out := tx[:0]
	for i, f := range tx[:n] {
		buf, b := f.Buffer(), frames[i]
		if len(b) > len(buf) {
			f.Release()
			if firstErr == nil {
				firstErr = fmt.Errorf("frame of %d bytes exceeds the pool frame (%d)", len(b), len(buf))
			}
			continue
		}
		f.SetLen(copy(buf, b))
		out = append(out, f)
	}
	sent := 0
	if len(out) > 0 {
		var err error
		sent, err = s.cp.p.Send(out)
		if err != nil && firstErr == nil {
			firstErr = err
		}
	}
	clear(tx)
	return sent, firstErr
}
