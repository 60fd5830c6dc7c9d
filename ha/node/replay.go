package node

import (
	"time"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/ha/fwd"
)

// In standby first, the standby passes every frame to the active, and the
// frames it passed after the active died are lost with it: a TCP sender
// whose window went that way waits for its retransmission timer (200 ms
// or more), which was most of the stall of a crash. So the standby keeps
// a copy of the TCP frames it passed, for a short while, and when it takes
// over because the peer is lost it sends those of the last moments again
// itself. Frames the active did forward arrive twice, which TCP ignores
// (UDP frames are not kept: a datagram must not arrive twice).

const (
	replaySlots    = 1024 // frames kept (about 45 ms of a 1 Gbit/s stream)
	replayMaxFrame = 1600 // larger frames are not kept
)

type passedFrame struct {
	at   int64 // ns, when passed
	side fwd.Side
	n    int
	b    [replayMaxFrame]byte
}

type replayRing struct {
	slots []passedFrame
	next  int
}

// keepLocked records a TCP frame the standby passed to the active. Under mu.
func (n *Node) keepLocked(side fwd.Side, p *fwd.Packet, data []byte, now int64) {
	if n.cfg.Peer == nil || n.cfg.Peer.Mode != StandbyFirst || p.Proto != fwd.ProtoTCP || len(data) > replayMaxFrame {
		return
	}
	r := &n.replay
	if r.slots == nil {
		r.slots = make([]passedFrame, replaySlots)
	}
	s := &r.slots[r.next]
	r.next = (r.next + 1) % len(r.slots)
	s.at, s.side, s.n = now, side, copy(s.b[:], data)
}

// takeReplayLocked returns copies of the frames passed since from (oldest
// first) and forgets all kept frames. Under mu.
func (n *Node) takeReplayLocked(from int64) []passedFrame {
	r := &n.replay
	var out []passedFrame
	for i := range r.slots {
		s := &r.slots[(r.next+i)%len(r.slots)]
		if s.n > 0 && s.at >= from {
			out = append(out, *s)
		}
		s.n = 0
	}
	return out
}

// replayPassed sends the frames again that we passed to a peer that is
// now gone, translated as their connections say.
func (n *Node) replayPassed(frames []passedFrame) {
	if len(frames) == 0 {
		return
	}
	var out [2][]capture.Frame
	sent := 0
	for i := range frames {
		pf := &frames[i]
		var fs [1]capture.Frame
		if n.k.Alloc(fs[:]) == 0 {
			break
		}
		f := fs[0]
		buf := f.Buffer()
		if pf.n > len(buf) {
			f.Release()
			continue
		}
		f.SetLen(copy(buf, pf.b[:pf.n]))
		var p fwd.Packet
		if fwd.Parse(f.Data(), &p) != nil {
			f.Release()
			continue
		}
		k := fwd.Key{Proto: p.Proto, Client: p.Src, Port: p.SPort}
		if pf.side == fwd.Server {
			k.Client, k.Port = p.Dst, p.DPort
		}
		c, ok := n.table.Lookup(k)
		if !ok {
			f.Release()
			continue
		}
		n.forward(pf.side, &p, &c, f, &out)
		sent++
		if len(out[0])+len(out[1]) >= 64 {
			n.flush(&out)
		}
	}
	n.flush(&out)
	n.replayed.Add(uint64(sent))
	n.log.Info("frames passed to the lost peer sent again", "frames", sent)
}

// replayFrom is how far back a takeover after losing the peer replays:
// from one interval before its last heartbeat.
func (n *Node) replayFrom(lastSeen time.Time) int64 {
	return lastSeen.Add(-n.cfg.Peer.Interval).UnixNano()
}
