package mirror

import (
	"context"
	"errors"
	"fmt"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/mirror/proto"
)

// Every call the mirror makes into the capture core is in this file, so
// the move to the core's consumer and batched-send API (capture.Consumer,
// Port.Send, Port.Info, Core.WatchPorts) happens here only.

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

// coreSub is one channel's subscription: an owner (exclusive: the frames
// are the mirror's, they do not go on to the port's default action) or a
// read-only subscriber (monitor).
type coreSub struct {
	sub    *capture.Subscription
	frames []capture.Frame
}

// subscribe takes the port's received frames; monitors also see what the
// port transmits. skip drops frames (the tunnel's own, see loop.go).
func (cp corePort) subscribe(name string, exclusive bool, skip func([]byte) bool) (*coreSub, error) {
	o := capture.SubscribeOptions{Name: name, Kind: capture.ReadOnly, Direction: capture.Both, Queue: 8192}
	if exclusive {
		o.Kind, o.Direction = capture.Owner, capture.RX
	}
	if skip != nil {
		o.Match = func(b []byte) bool { return !skip(b) }
	}
	s, err := cp.p.Subscribe(o)
	if err != nil {
		return nil, fmt.Errorf("subscribe to %s: %w", cp.p.Name(), err)
	}
	return &coreSub{sub: s, frames: make([]capture.Frame, 512)}, nil
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

func (s *coreSub) close() { _ = s.sub.Close() }

// transmit sends frames out of the port (onto its wire), each copied into a
// pool frame. It returns how many the port took; the rest were dropped
// (no free frame, too long, or a transmit error, which is returned).
func (cp corePort) transmit(frames [][]byte) (int, error) {
	sent := 0
	var firstErr error
	for _, b := range frames {
		f, err := cp.c.Alloc()
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("allocate a frame: %w", err)
			}
			continue
		}
		buf := f.Buffer()
		if len(b) > len(buf) {
			f.Release()
			if firstErr == nil {
				firstErr = fmt.Errorf("frame of %d bytes exceeds the pool frame (%d)", len(b), len(buf))
			}
			continue
		}
		f.SetLen(copy(buf, b))
		if err := cp.p.Transmit(f); err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		sent++
	}
	return sent, firstErr
}
