package stats

import (
	"cmp"
	"slices"
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
	Order                                 int // creation order among the entries present, from 1
	Created                               time.Time
	InPkts, OutPkts, InOctets, OutOctets  uint64
	OutErrors, OutBroadcast, OutMulticast uint64
	seq                                   uint64 // creation: Order is the rank of seq
	lru                                   links[Host]
}

// Pair is one matrix (source, destination) entry.
type Pair struct {
	Src, Dst             [6]byte
	Pkts, Octets, Errors uint64
	lru                  links[Pair]
}

// Port holds one port's counters. Count is called by the port's feed;
// readers take snapshots. Its tables are bounded: a full table deletes
// its least recently used entry to make room for a new one.
type Port struct {
	mu      sync.Mutex
	ether   Ether
	rx, tx  Dir
	hosts   map[uint64]*Host
	matrix  map[pairKey]*Pair
	hostLRU lru[Host]
	pairLRU lru[Pair]
	hostSeq uint64
	// The last entries used: traffic comes in runs of the same
	// conversation, and a hit skips the map lookups.
	lastSrc, lastDst *Host
	lastPair         *Pair
	proto            [NumProtos]Counter
	net              netTables
}

// NewPort makes a port's counters with table limits.
func NewPort(maxHosts, maxPairs int) *Port {
	p := &Port{hosts: map[uint64]*Host{}, matrix: map[pairKey]*Pair{}}
	p.hostLRU = newLRU(maxHosts, func(h *Host) *links[Host] { return &h.lru })
	p.pairLRU = newLRU(maxPairs, func(pr *Pair) *links[Pair] { return &pr.lru })
	p.net.hostLRU = newLRU(maxHosts, func(h *NetHost) *links[NetHost] { return &h.lru })
	p.net.pairLRU = newLRU(maxPairs, func(pr *NetPair) *links[NetPair] { return &pr.lru })
	return p
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
		protos, nl, l3 := classify(f.Data, &buf)
		for _, pr := range protos {
			p.proto[pr].Pkts++
			p.proto[pr].Octets += n
		}
		if nl != nil {
			p.countNet(f.Data, protos, nl, l3, n, bcast || mcast, src, ns)
		}
	}
	// etherStats counts good broadcast and multicast packets only.
	if good && bcast {
		e.Broadcast++
	} else if good && mcast {
		e.Multicast++
	}
	if sh := p.cachedHost(&p.lastSrc, src, good, now); sh != nil {
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
		if dh := p.cachedHost(&p.lastDst, dst, true, now); dh != nil {
			dh.InPkts++
			dh.InOctets += n
		}
	}
	pr := p.lastPair
	if pr == nil || pr.Src != src || pr.Dst != dst {
		pr = p.pair(src, dst, good, now)
	} else {
		p.pairLRU.touch(pr)
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

// pair returns the entry of a pair, learning it from good frames, as the
// most recently used.
func (p *Port) pair(src, dst [6]byte, good bool, now time.Time) *Pair {
	k := pairKey{macKey(src), macKey(dst)}
	pr := p.matrix[k]
	if pr != nil {
		p.pairLRU.touch(pr)
		return pr
	}
	if !good {
		return nil
	}
	if !p.pairLRU.room(len(p.matrix), now.UnixNano(), p.dropPair, nil) {
		return nil
	}
	pr = &Pair{Src: src, Dst: dst}
	p.matrix[k] = pr
	p.pairLRU.add(pr)
	return pr
}

// cachedHost is host with *last, the entry used last in its role,
// tried first: traffic comes in runs of one conversation.
func (p *Port) cachedHost(last **Host, mac [6]byte, learn bool, now time.Time) *Host {
	if h := *last; h != nil && h.MAC == mac {
		p.hostLRU.touch(h)
		return h
	}
	h := p.host(mac, learn, now)
	if h != nil {
		*last = h
	}
	return h
}

// host returns the entry of mac, learning it from good frames, as the
// most recently used.
func (p *Port) host(mac [6]byte, learn bool, now time.Time) *Host {
	k := macKey(mac)
	h := p.hosts[k]
	if h != nil {
		p.hostLRU.touch(h)
		return h
	}
	if !learn {
		return nil
	}
	if !p.hostLRU.room(len(p.hosts), now.UnixNano(), p.dropHost, nil) {
		return nil
	}
	p.hostSeq++
	h = &Host{MAC: mac, Created: now, seq: p.hostSeq}
	p.hosts[k] = h
	p.hostLRU.add(h)
	return h
}

// dropHost and dropPair take a deleted entry out of the map and caches.
func (p *Port) dropHost(h *Host) uint64 {
	delete(p.hosts, macKey(h.MAC))
	if p.lastSrc == h {
		p.lastSrc = nil
	}
	if p.lastDst == h {
		p.lastDst = nil
	}
	return 0
}

func (p *Port) dropPair(pr *Pair) uint64 {
	delete(p.matrix, pairKey{macKey(pr.Src), macKey(pr.Dst)})
	if p.lastPair == pr {
		p.lastPair = nil
	}
	return 0
}

// Snapshot is a consistent copy of a port's counters.
type Snapshot struct {
	Ether     Ether
	RX, TX    Dir
	Hosts     []Host // in creation order
	Pairs     []Pair // most recently used first
	HostTable TableCounts
	PairTable TableCounts
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
	s := Snapshot{Ether: p.ether, RX: p.rx, TX: p.tx, HostTable: p.hostLRU.counts, PairTable: p.pairLRU.counts}
	s.Hosts = p.hostLRU.list(func(h *Host) Host { c := *h; c.lru = links[Host]{}; return c })
	// hostCreationOrder runs from 1 over the entries present (RFC 2819):
	// entries deleted leave no gaps.
	slices.SortFunc(s.Hosts, func(a, b Host) int { return cmp.Compare(a.seq, b.seq) })
	for i := range s.Hosts {
		s.Hosts[i].Order, s.Hosts[i].seq = i+1, 0
	}
	s.Pairs = p.pairLRU.list(func(pr *Pair) Pair { c := *pr; c.lru = links[Pair]{}; return c })
	return s
}

// HostCount is the number of hosts learned.
func (p *Port) HostCount() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.hosts)
}
