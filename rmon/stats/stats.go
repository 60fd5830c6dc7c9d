package stats

import (
	"sync"
	"time"
)

// FCS is added to captured lengths: RMON counts octets "excluding framing
// bits but including FCS octets", and Linux hands frames over without it.
const FCS = 4

// Ether are the etherStats counters (RFC 2819), whole-segment (both directions).
type Ether struct {
	DropEvents, Octets, Pkts, Broadcast, Multicast                                 uint64
	CRCAlign, Undersize, Oversize, Fragments, Jabbers, Collisions                  uint64
	Pkts64, Pkts65to127, Pkts128to255, Pkts256to511, Pkts512to1023, Pkts1024to1518 uint64
}

// Dir are per-direction interface counters for IF-MIB.
type Dir struct {
	Octets, Ucast, Multicast, Broadcast uint64
}

// Host is one MAC address's hostTable counters.
type Host struct {
	MAC                                   [6]byte
	Order                                 int // creation order, from 1
	Created                               time.Time
	InPkts, OutPkts, InOctets, OutOctets  uint64
	OutErrors, OutBroadcast, OutMulticast uint64
}

// Pair is one matrix (source, destination) entry.
type Pair struct {
	Src, Dst             [6]byte
	Pkts, Octets, Errors uint64
}

// Port holds one port's counters. Count is called by the port's feed;
// readers take snapshots.
type Port struct {
	mu      sync.Mutex
	ether   Ether
	rx, tx  Dir
	hosts   map[uint64]*Host
	order   []*Host
	matrix  map[pairKey]*Pair
	maxHost int
	maxPair int
	// HostsDropped and PairsDropped count frames whose new address or
	// pair did not fit the table.
	hostsDropped, pairsDropped uint64
	// The last entries used: traffic comes in runs of the same
	// conversation, and a hit skips the map lookups.
	lastSrc, lastDst *Host
	lastPair         *Pair
	proto            [NumProtos]Counter
	net              netTables
}

// NewPort makes a port's counters with table limits.
func NewPort(maxHosts, maxPairs int) *Port {
	return &Port{hosts: map[uint64]*Host{}, matrix: map[pairKey]*Pair{}, maxHost: maxHosts, maxPair: maxPairs}
}

// Map keys are integers: hashing them is several times cheaper than
// hashing byte arrays, and the maps are looked up per frame.
type pairKey struct{ src, dst uint64 }

func macKey(m [6]byte) uint64 {
	return uint64(m[0])<<40 | uint64(m[1])<<32 | uint64(m[2])<<24 | uint64(m[3])<<16 | uint64(m[4])<<8 | uint64(m[5])
}

// Frame is what Count needs of one frame.
type Frame struct {
	Data    []byte // at least the Ethernet header when available
	WireLen int    // length on the wire without FCS
	TX      bool
}

// Count adds a batch of frames.
func (p *Port) Count(frames []Frame) {
	now := time.Now()
	ns := now.UnixNano()
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, f := range frames {
		p.count(f, now, ns)
	}
}

// AddDrops adds frames lost before counting (etherStatsDropEvents).
func (p *Port) AddDrops(n uint64) {
	p.mu.Lock()
	p.ether.DropEvents += n
	p.mu.Unlock()
}

func (p *Port) count(f Frame, now time.Time, ns int64) {
	n := uint64(f.WireLen + FCS)
	e := &p.ether
	e.Pkts++
	e.Octets += n
	good := true
	switch {
	case n < 64:
		// Captured frames passed the NIC's FCS check: short ones are
		// undersize, not fragments.
		e.Undersize++
		good = false
	case n == 64:
		e.Pkts64++
	case n <= 127:
		e.Pkts65to127++
	case n <= 255:
		e.Pkts128to255++
	case n <= 511:
		e.Pkts256to511++
	case n <= 1023:
		e.Pkts512to1023++
	case n <= 1518:
		e.Pkts1024to1518++
	default:
		e.Oversize++
		good = false
	}
	d := &p.rx
	if f.TX {
		d = &p.tx
	}
	d.Octets += uint64(f.WireLen)
	if len(f.Data) < 12 {
		d.Ucast++
		return
	}
	var dst, src [6]byte
	copy(dst[:], f.Data[0:6])
	copy(src[:], f.Data[6:12])
	bcast := dst == [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	mcast := !bcast && dst[0]&1 != 0
	switch {
	case bcast:
		d.Broadcast++
	case mcast:
		d.Multicast++
	default:
		d.Ucast++
	}
	if good {
		var buf [3]int
		protos, nl := classify(f.Data, &buf)
		for _, pr := range protos {
			p.proto[pr].Pkts++
			p.proto[pr].Octets += n
		}
		if nl != nil {
			p.countNet(f.Data, protos, nl, n, bcast || mcast, src, ns)
		}
	}
	// etherStats counts good broadcast and multicast packets only.
	if good && bcast {
		e.Broadcast++
	} else if good && mcast {
		e.Multicast++
	}
	sh := p.lastSrc
	if sh == nil || sh.MAC != src {
		sh = p.host(src, good, now)
	}
	if sh != nil {
		p.lastSrc = sh
		sh.OutPkts++
		sh.OutOctets += n
		if !good {
			sh.OutErrors++
		} else if bcast {
			sh.OutBroadcast++
		} else if mcast {
			sh.OutMulticast++
		}
	}
	if good {
		dh := p.lastDst
		if dh == nil || dh.MAC != dst {
			dh = p.host(dst, true, now)
		}
		if dh != nil {
			p.lastDst = dh
			dh.InPkts++
			dh.InOctets += n
		}
	}
	pr := p.lastPair
	if pr == nil || pr.Src != src || pr.Dst != dst {
		pr = p.pair(src, dst, good)
	}
	if pr != nil {
		p.lastPair = pr
		pr.Pkts++
		pr.Octets += n
		if !good {
			pr.Errors++
		}
	}
}

func (p *Port) pair(src, dst [6]byte, good bool) *Pair {
	k := pairKey{macKey(src), macKey(dst)}
	pr := p.matrix[k]
	if pr == nil && good {
		if len(p.matrix) >= p.maxPair {
			p.pairsDropped++
		} else {
			pr = &Pair{Src: src, Dst: dst}
			p.matrix[k] = pr
		}
	}
	return pr
}

// host returns the entry of mac, learning it from good frames.
func (p *Port) host(mac [6]byte, learn bool, now time.Time) *Host {
	k := macKey(mac)
	h := p.hosts[k]
	if h != nil || !learn {
		return h
	}
	if len(p.hosts) >= p.maxHost {
		p.hostsDropped++
		return nil
	}
	h = &Host{MAC: mac, Order: len(p.order) + 1, Created: now}
	p.hosts[k] = h
	p.order = append(p.order, h)
	return h
}

// Snapshot is a consistent copy of a port's counters.
type Snapshot struct {
	Ether        Ether
	RX, TX       Dir
	Hosts        []Host // in creation order
	Pairs        []Pair // unordered
	HostsDropped uint64
	PairsDropped uint64
}

// Ether returns the etherStats counters only (cheap).
func (p *Port) EtherSnapshot() (Ether, Dir, Dir) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ether, p.rx, p.tx
}

// Protocols returns the per-protocol counters (good frames only).
func (p *Port) Protocols() [NumProtos]Counter {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.proto
}

// Snapshot copies every counter and table.
func (p *Port) Snapshot() Snapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Snapshot{Ether: p.ether, RX: p.rx, TX: p.tx, HostsDropped: p.hostsDropped, PairsDropped: p.pairsDropped}
	s.Hosts = make([]Host, len(p.order))
	for i, h := range p.order {
		s.Hosts[i] = *h
	}
	s.Pairs = make([]Pair, 0, len(p.matrix))
	for _, pr := range p.matrix {
		s.Pairs = append(s.Pairs, *pr)
	}
	return s
}

// HostCount is the number of hosts learned.
func (p *Port) HostCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.order)
}
