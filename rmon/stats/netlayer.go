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
	Order                                int // creation order, from 1
	Created, Changed                     int64
	InPkts, OutPkts, InOctets, OutOctets uint64
	OutNonUnicast                        uint64 // sent to MAC broadcast or multicast
	// MAC is the last source MAC the address was seen with (addressMap),
	// MACChanged when that was first seen or last changed (0: the address
	// was never a source).
	MAC        [6]byte
	MACChanged int64
	// Al counts by protocol: the network protocol itself and what it carries.
	Al [NumProtos]AlCounts
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
}

// NetPairKey names a NetPair.
type NetPairKey struct{ Src, Dst netip.Addr }

// NetSnapshot is a copy of a port's network-layer tables.
type NetSnapshot struct {
	Hosts        []NetHost // in creation order
	Pairs        []NetPair // unordered
	HostsDropped uint64    // frames whose new address did not fit
	PairsDropped uint64
}

// The maps have integer keys (hashing netip.Addr cost four times as
// much per frame): IPv4 addresses and pairs as one uint32 / uint64,
// IPv6 as words.
type netTables struct {
	hosts4           map[uint32]*NetHost
	hosts6           map[[2]uint64]*NetHost
	order            []*NetHost
	pairs4           map[uint64]*NetPair
	pairs6           map[[4]uint64]*NetPair
	hostsDropped     uint64
	pairsDropped     uint64
	lastSrc, lastDst *NetHost
	lastPair         *NetPair
}

// countNet adds a good frame of n octets to the network-layer tables
// (p.mu held); protos are its protocols from classify.
func (p *Port) countNet(d []byte, protos []int, nl *netLayer, n uint64, nonUnicast bool, srcMAC [6]byte, now int64) {
	src, dst, ok := nl.addrs(d)
	if !ok {
		return
	}
	t := &p.net
	if t.hosts4 == nil {
		t.hosts4, t.hosts6 = map[uint32]*NetHost{}, map[[2]uint64]*NetHost{}
		t.pairs4, t.pairs6 = map[uint64]*NetPair{}, map[[4]uint64]*NetPair{}
	}
	al := protos[1:] // the network protocol and what it carries
	sh := t.lastSrc
	if sh == nil || sh.Addr != src {
		sh = p.netHost(src, now)
	}
	if sh != nil {
		t.lastSrc = sh
		sh.count(al, n, true, now)
		if nonUnicast {
			sh.OutNonUnicast++
		}
		if sh.MACChanged == 0 || sh.MAC != srcMAC {
			sh.MAC, sh.MACChanged = srcMAC, now
		}
	}
	dh := t.lastDst
	if dh == nil || dh.Addr != dst {
		dh = p.netHost(dst, now)
	}
	if dh != nil {
		t.lastDst = dh
		dh.count(al, n, false, now)
	}
	pr := t.lastPair
	if pr == nil || pr.Src != src || pr.Dst != dst {
		if pr = p.netPair(src, dst, now); pr == nil {
			return
		}
	}
	t.lastPair = pr
	pr.Pkts++
	pr.Octets += n
	pr.Changed = now
	for _, x := range al {
		a := &pr.Al[x]
		if a.Created == 0 {
			a.Created = now
		}
		a.Pkts++
		a.Octets += n
		a.Changed = now
	}
}

// count adds a frame of n octets sent (out) or received by the host,
// for itself and its protocols al.
func (h *NetHost) count(al []int, n uint64, out bool, now int64) {
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
		}
		pkts, octs := &a.InPkts, &a.InOctets
		if out {
			pkts, octs = &a.OutPkts, &a.OutOctets
		}
		*pkts++
		*octs += n
		a.Changed = now
	}
}

// words is an IPv6 address as two integers.
func words(a netip.Addr) [2]uint64 {
	b := a.As16()
	return [2]uint64{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func v4(a netip.Addr) uint32 { b := a.As4(); return binary.BigEndian.Uint32(b[:]) }

// netHost returns the entry of addr, learning it (p.mu held).
func (p *Port) netHost(addr netip.Addr, now int64) *NetHost {
	t := &p.net
	var h *NetHost
	if addr.Is4() {
		h = t.hosts4[v4(addr)]
	} else {
		h = t.hosts6[words(addr)]
	}
	if h != nil {
		return h
	}
	if len(t.order) >= p.maxHost {
		t.hostsDropped++
		return nil
	}
	h = &NetHost{Addr: addr, Order: len(t.order) + 1, Created: now}
	if addr.Is4() {
		t.hosts4[v4(addr)] = h
	} else {
		t.hosts6[words(addr)] = h
	}
	t.order = append(t.order, h)
	return h
}

// netPair returns the entry of a pair (one family), learning it (p.mu held).
func (p *Port) netPair(src, dst netip.Addr, now int64) *NetPair {
	t := &p.net
	var pr *NetPair
	var k4 uint64
	var k6 [4]uint64
	if src.Is4() {
		k4 = uint64(v4(src))<<32 | uint64(v4(dst))
		pr = t.pairs4[k4]
	} else {
		s, d := words(src), words(dst)
		k6 = [4]uint64{s[0], s[1], d[0], d[1]}
		pr = t.pairs6[k6]
	}
	if pr != nil {
		return pr
	}
	if len(t.pairs4)+len(t.pairs6) >= p.maxPair {
		t.pairsDropped++
		return nil
	}
	pr = &NetPair{Src: src, Dst: dst, Created: now}
	if src.Is4() {
		t.pairs4[k4] = pr
	} else {
		t.pairs6[k6] = pr
	}
	return pr
}

// NetSnapshot copies the network-layer tables.
func (p *Port) NetSnapshot() NetSnapshot {
	p.mu.Lock()
	defer p.mu.Unlock()
	t := &p.net
	s := NetSnapshot{HostsDropped: t.hostsDropped, PairsDropped: t.pairsDropped}
	s.Hosts = make([]NetHost, len(t.order))
	for i, h := range t.order {
		s.Hosts[i] = *h
	}
	s.Pairs = make([]NetPair, 0, len(t.pairs4)+len(t.pairs6))
	for _, pr := range t.pairs4 {
		s.Pairs = append(s.Pairs, *pr)
	}
	for _, pr := range t.pairs6 {
		s.Pairs = append(s.Pairs, *pr)
	}
	return s
}
