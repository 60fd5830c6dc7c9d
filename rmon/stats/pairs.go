package stats

import (
	"sync"
	"time"
)

// Size buckets of PairCounts.Sizes, as etherStats counts them (octets
// including FCS): 64, 65–127, 128–255, 256–511, 512–1023, 1024–1518.
const NumSizes = 6

// PairCounts aggregates the frames of one (source, destination) pair with
// everything the etherStats, host, matrix and protocolDist tables need,
// so that a merge of pairs from several observers (dRMON agents) can keep
// each pair once and still derive the whole-segment counters.
type PairCounts struct {
	Pkts, Octets uint64
	Sizes        [NumSizes]uint64
	// Undersize and Oversize frames are bad: no bucket, no protocol, and
	// their octets are in BadOctets as well as Octets.
	Undersize, Oversize, BadOctets uint64
	Proto                          [NumProtos]Counter
}

// Add adds d to c.
func (c *PairCounts) Add(d *PairCounts) {
	c.Pkts += d.Pkts
	c.Octets += d.Octets
	for i := range c.Sizes {
		c.Sizes[i] += d.Sizes[i]
	}
	c.Undersize += d.Undersize
	c.Oversize += d.Oversize
	c.BadOctets += d.BadOctets
	for i := range c.Proto {
		c.Proto[i].Pkts += d.Proto[i].Pkts
		c.Proto[i].Octets += d.Proto[i].Octets
	}
}

// Sub returns c - old, field by field (c counted on from old).
func (c PairCounts) Sub(old *PairCounts) PairCounts {
	d := c
	d.Pkts -= old.Pkts
	d.Octets -= old.Octets
	for i := range d.Sizes {
		d.Sizes[i] -= old.Sizes[i]
	}
	d.Undersize -= old.Undersize
	d.Oversize -= old.Oversize
	d.BadOctets -= old.BadOctets
	for i := range d.Proto {
		d.Proto[i].Pkts -= old.Proto[i].Pkts
		d.Proto[i].Octets -= old.Proto[i].Octets
	}
	return d
}

// Bad is the number of undersize and oversize frames.
func (c *PairCounts) Bad() uint64 { return c.Undersize + c.Oversize }

// CountFrame adds one frame to c by the same rules as Port.Count: octets
// include the FCS, and bad frames are in no bucket and no protocol.
func (c *PairCounts) CountFrame(data []byte, wireLen int) {
	n := uint64(wireLen + FCS)
	c.Pkts++
	c.Octets += n
	switch {
	case n < 64:
		c.Undersize++
		c.BadOctets += n
		return
	case n == 64:
		c.Sizes[0]++
	case n <= 127:
		c.Sizes[1]++
	case n <= 255:
		c.Sizes[2]++
	case n <= 511:
		c.Sizes[3]++
	case n <= 1023:
		c.Sizes[4]++
	case n <= 1518:
		c.Sizes[5]++
	default:
		c.Oversize++
		c.BadOctets += n
		return
	}
	var buf [3]int
	for _, pr := range protocols(data, &buf) {
		c.Proto[pr].Pkts++
		c.Proto[pr].Octets += n
	}
}

// AddCounts adds a pair's counts to the etherStats counters they make
// (all but broadcast and multicast, which depend on the destination).
func (e *Ether) AddCounts(c *PairCounts) {
	e.Pkts += c.Pkts
	e.Octets += c.Octets
	e.Undersize += c.Undersize
	e.Oversize += c.Oversize
	e.Pkts64 += c.Sizes[0]
	e.Pkts65to127 += c.Sizes[1]
	e.Pkts128to255 += c.Sizes[2]
	e.Pkts256to511 += c.Sizes[3]
	e.Pkts512to1023 += c.Sizes[4]
	e.Pkts1024to1518 += c.Sizes[5]
}

// PairKey is a (source, destination) MAC pair.
type PairKey struct{ Src, Dst [6]byte }

// Pairs counts frames per (source, destination) pair: what a dRMON agent
// keeps. Safe for concurrent use.
type Pairs struct {
	mu    sync.Mutex
	m     map[PairKey]*PairCounts
	max   int
	Extra uint64 // frames of pairs that did not fit (guarded by mu)
	// The last pair counted: traffic comes in runs of one conversation.
	lastK PairKey
	lastC *PairCounts
}

// NewPairs makes a pair table of at most max pairs.
func NewPairs(max int) *Pairs { return &Pairs{m: map[PairKey]*PairCounts{}, max: max} }

// Count adds frames; data must hold at least the Ethernet header.
func (t *Pairs) Count(frames []Frame) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, f := range frames {
		if len(f.Data) < 12 {
			continue
		}
		var k PairKey
		copy(k.Dst[:], f.Data[0:6])
		copy(k.Src[:], f.Data[6:12])
		c := t.lastC
		if c == nil || k != t.lastK {
			c = t.m[k]
		}
		if c == nil {
			if len(t.m) >= t.max {
				t.Extra++
				continue
			}
			c = &PairCounts{}
			t.m[k] = c
		}
		t.lastK, t.lastC = k, c
		c.CountFrame(f.Data, f.WireLen)
	}
}

// Snapshot copies the table.
func (t *Pairs) Snapshot() map[PairKey]PairCounts {
	t.mu.Lock()
	defer t.mu.Unlock()
	return Values(t.m)
}

// Values copies a map of pointers into a map of the values they point to.
func Values[K comparable, V any](m map[K]*V) map[K]V {
	out := make(map[K]V, len(m))
	for k, v := range m {
		out[k] = *v
	}
	return out
}

// AddPair merges an aggregate of one pair's frames into the port's
// counters, as if Count had seen them (receive direction; the dRMON
// proxy's merged interfaces).
func (p *Port) AddPair(src, dst [6]byte, c *PairCounts) {
	if c.Pkts == 0 {
		return
	}
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	e := &p.ether
	e.AddCounts(c)
	p.rx.Octets += c.Octets - c.Pkts*FCS
	bcast := dst == [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	mcast := !bcast && dst[0]&1 != 0
	good := c.Pkts - c.Bad()
	switch {
	case bcast:
		p.rx.Broadcast += c.Pkts
		e.Broadcast += good
	case mcast:
		p.rx.Multicast += c.Pkts
		e.Multicast += good
	default:
		p.rx.Ucast += c.Pkts
	}
	for i := range p.proto {
		p.proto[i].Pkts += c.Proto[i].Pkts
		p.proto[i].Octets += c.Proto[i].Octets
	}
	if sh := p.host(src, good > 0, now); sh != nil {
		sh.OutPkts += c.Pkts
		sh.OutOctets += c.Octets
		sh.OutErrors += c.Bad()
		if bcast {
			sh.OutBroadcast += good
		} else if mcast {
			sh.OutMulticast += good
		}
	}
	if good > 0 {
		if dh := p.host(dst, true, now); dh != nil {
			dh.InPkts += good
			dh.InOctets += c.Octets - c.BadOctets
		}
	}
	if pr := p.pair(src, dst, good > 0, now); pr != nil {
		pr.Pkts += c.Pkts
		pr.Octets += c.Octets
		pr.Errors += c.Bad()
	}
}
