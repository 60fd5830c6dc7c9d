package stats

import (
	"encoding/binary"
	"net/netip"
)

// The network-layer tables (RMON2 nlHost, nlMatrix, alHost, alMatrix and
// addressMap): per IPv4/IPv6 address and address pair, from good frames
// only. Times are Unix nanoseconds (0: never).

// AlCounts are one protocol's counts of a network address (alHost).
type AlCounts struct {
	InPkts, OutPkts, InOctets, OutOctets uint64
	Created, Changed                     int64
}

// NetHost is one network address's counters.
type NetHost struct {
	Addr                                 netip.Addr
	Created, Changed                     int64
	InPkts, OutPkts, InOctets, OutOctets uint64
	OutNonUnicast                        uint64 // sent to MAC broadcast or multicast
	// MAC is the last source MAC the address was seen with (addressMap),
	// MACChanged when that was first seen or last changed (0: the address
	// was never a source).
	MAC        [6]byte
	MACChanged int64
	// Al counts by protocol: the network protocol itself and what it carries.
	Al  [NumProtos]AlCounts
	lru links[NetHost]
}

// AlPair is one protocol's counts of an address pair (alMatrix).
type AlPair struct {
	Pkts, Octets     uint64
	Created, Changed int64
}

// NetPair is one (source, destination) network address pair.
type NetPair struct {
	Src, Dst         netip.Addr
	Created, Changed int64
	Pkts, Octets     uint64
	Al               [NumProtos]AlPair
	lru              links[NetPair]
}

// NetPairKey names a NetPair.
type NetPairKey struct{ Src, Dst netip.Addr }

// NetSnapshot is a copy of a port's network-layer tables.
type NetSnapshot struct {
	Hosts []NetHost // most recently used first
	Pairs []NetPair // most recently used first
	// The tables' churn: of nl entries (addresses, pairs) and of al
	// entries (a host's or pair's protocols, deleted with it).
	HostTable, PairTable     TableCounts
	AlHostTable, AlPairTable TableCounts
	// MACDeletes are addressMap entries deleted with their host.
	MACDeletes uint64
}

// The maps have integer keys (hashing netip.Addr cost four times as
// much per frame): IPv4 addresses and pairs as one uint32 / uint64,
// IPv6 as words.
type netTables struct {
	hosts4               map[uint32]*NetHost
	hosts6               map[[2]uint64]*NetHost
	pairs4               map[uint64]*NetPair
	pairs6               map[[4]uint64]*NetPair
	hostLRU              lru[NetHost]
	pairLRU              lru[NetPair]
	alHostTab, alPairTab TableCounts // the hosts' and pairs' protocols' entries
	macDeletes           uint64
	lastSrc, lastDst     *NetHost
	lastPair             *NetPair
}

// countNet adds a good frame of n octets to the network-layer tables
// (p.mu held); protos, nl and l3 are from classify.
func (p *Port) countNet(d []byte, protos []int, nl *netLayer, l3 int, n uint64, nonUnicast bool, srcMAC [6]byte, now int64) {
	src, dst, ok := nl.addrs(d, l3)
	if !ok {
		return
	}
	t := &p.net
	if t.hosts4 == nil {
		t.hosts4, t.hosts6 = map[uint32]*NetHost{}, map[[2]uint64]*NetHost{}
		t.pairs4, t.pairs6 = map[uint64]*NetPair{}, map[[4]uint64]*NetPair{}
	}
	al := protos[1:] // the network protocol and what it carries
	if sh := p.cachedNetHost(&t.lastSrc, src, now); sh != nil {
		t.alHostTab.Inserts += sh.count(al, n, true, now)
		if nonUnicast {
			sh.OutNonUnicast++
		}
		if sh.MACChanged == 0 || sh.MAC != srcMAC {
			sh.MAC, sh.MACChanged = srcMAC, now
		}
	}
	if dh := p.cachedNetHost(&t.lastDst, dst, now); dh != nil {
		t.alHostTab.Inserts += dh.count(al, n, false, now)
	}
	pr := t.lastPair
	if pr == nil || pr.Src != src || pr.Dst != dst {
		if pr = p.netPair(src, dst, now); pr == nil {
			return
		}
	} else {
		t.pairLRU.touch(pr)
	}
	t.lastPair = pr
	pr.Pkts++
	pr.Octets += n
	pr.Changed = now
	for _, x := range al {
		a := &pr.Al[x]
		if a.Created == 0 {
			a.Created = now
			t.alPairTab.Inserts++
		}
		a.Pkts++
		a.Octets += n
		a.Changed = now
	}
}

// count adds a frame of n octets sent (out) or received by the host,
// for itself and its protocols al; it returns how many of al were new.
func (h *NetHost) count(al []int, n uint64, out bool, now int64) (added uint64) {
	pkts, octs := &h.InPkts, &h.InOctets
	if out {
		pkts, octs = &h.OutPkts, &h.OutOctets
	}
	*pkts++
	*octs += n
	h.Changed = now
	for _, pr := range al {
		a := &h.Al[pr]
		if a.Created == 0 {
			a.Created = now
			added++
		}
		pkts, octs := &a.InPkts, &a.InOctets
		if out {
			pkts, octs = &a.OutPkts, &a.OutOctets
		}
		*pkts++
		*octs += n
		a.Changed = now
	}
	return added
}

// AlEntries is how many of the host's protocols have an alHost entry.
func (h *NetHost) AlEntries() uint64 {
	return withEntry(func(i int) int64 { return h.Al[i].Created })
}

// AlEntries is how many of the pair's protocols have an alMatrix conversation.
func (pr *NetPair) AlEntries() uint64 {
	return withEntry(func(i int) int64 { return pr.Al[i].Created })
}

// withEntry is how many protocols have an entry: a creation time.
func withEntry(at func(proto int) int64) uint64 {
	n := uint64(0)
	for i := range NumProtos {
		if at(i) != 0 {
			n++
		}
	}
	return n
}

// words is an IPv6 address as two integers.
func words(a netip.Addr) [2]uint64 {
	b := a.As16()
	return [2]uint64{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func v4(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

// cachedNetHost is netHost with *last, the entry used last in its
// role, tried first (p.mu held).
func (p *Port) cachedNetHost(last **NetHost, addr netip.Addr, now int64) *NetHost {
	if h := *last; h != nil && h.Addr == addr {
		p.net.hostLRU.touch(h)
		return h
	}
	h := p.netHost(addr, now)
	if h != nil {
		*last = h
	}
	return h
}

// netHost returns the entry of addr, learning it, as the most recently
// used (p.mu held).
func (p *Port) netHost(addr netip.Addr, now int64) *NetHost {
	t := &p.net
	var h *NetHost
	if addr.Is4() {
		h = t.hosts4[v4(addr)]
	} else {
		h = t.hosts6[words(addr)]
	}
	if h != nil {
		t.hostLRU.touch(h)
		return h
	}
	if !t.hostLRU.room(len(t.hosts4)+len(t.hosts6), now, t.dropHost, &t.alHostTab) {
		return nil
	}
	h = &NetHost{Addr: addr, Created: now}
	if addr.Is4() {
		t.hosts4[v4(addr)] = h
	} else {
		t.hosts6[words(addr)] = h
	}
	t.hostLRU.add(h)
	return h
}

// dropHost takes a deleted host out of the maps and caches, its address
// mapping with it; its protocols' entries go too.
func (t *netTables) dropHost(h *NetHost) uint64 {
	if h.Addr.Is4() {
		delete(t.hosts4, v4(h.Addr))
	} else {
		delete(t.hosts6, words(h.Addr))
	}
	if t.lastSrc == h {
		t.lastSrc = nil
	}
	if t.lastDst == h {
		t.lastDst = nil
	}
	if h.MACChanged != 0 {
		t.macDeletes++
	}
	return h.AlEntries()
}

// dropPair takes a deleted pair out of the maps and cache; its
// protocols' entries go too.
func (t *netTables) dropPair(pr *NetPair) uint64 {
	if k4, k6 := pairKeys(pr.Src, pr.Dst); pr.Src.Is4() {
		delete(t.pairs4, k4)
	} else {
		delete(t.pairs6, k6)
	}
	if t.lastPair == pr {
		t.lastPair = nil
	}
	return pr.AlEntries()
}

// pairKeys are a pair's map keys (one of them, by family).
func pairKeys(src, dst netip.Addr) (uint64, [4]uint64) {
	if src.Is4() {
		return uint64(v4(src))<<32 | uint64(v4(dst)), [4]uint64{}
	}
	s, d := words(src), words(dst)
	return 0, [4]uint64{s[0], s[1], d[0], d[1]}
}

// netPair returns the entry of a pair (one family), learning it, as the
// most recently used (p.mu held).
func (p *Port) netPair(src, dst netip.Addr, now int64) *NetPair {
	t := &p.net
	var pr *NetPair
	k4, k6 := pairKeys(src, dst)
	if src.Is4() {
		pr = t.pairs4[k4]
	} else {
		pr = t.pairs6[k6]
	}
	if pr != nil {
		t.pairLRU.touch(pr)
		return pr
	}
	if !t.pairLRU.room(len(t.pairs4)+len(t.pairs6), now, t.dropPair, &t.alPairTab) {
		return nil
	}
	pr = &NetPair{Src: src, Dst: dst, Created: now}
	if src.Is4() {
		t.pairs4[k4] = pr
	} else {
		t.pairs6[k6] = pr
	}
	t.pairLRU.add(pr)
	return pr
}

// MACDeletes is how many addressMap entries went with their host.
func (p *Port) MACDeletes() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.net.macDeletes
}

// NetSnapshot copies the network-layer tables.
func (p *Port) NetSnapshot() NetSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := &p.net
	s := NetSnapshot{HostTable: t.hostLRU.counts, PairTable: t.pairLRU.counts, AlHostTable: t.alHostTab, AlPairTable: t.alPairTab,
		MACDeletes: t.macDeletes}
	s.Hosts = t.hostLRU.list(func(h *NetHost) NetHost { c := *h; c.lru = links[NetHost]{}; return c })
	s.Pairs = t.pairLRU.list(func(pr *NetPair) NetPair { c := *pr; c.lru = links[NetPair]{}; return c })
	return s
}
