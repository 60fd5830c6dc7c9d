package stats

import "net/netip"

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

type netTables struct {
	hosts            map[netip.Addr]*NetHost
	order            []*NetHost
	pairs            map[NetPairKey]*NetPair
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
	if t.hosts == nil {
		t.hosts, t.pairs = map[netip.Addr]*NetHost{}, map[NetPairKey]*NetPair{}
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
		k := NetPairKey{src, dst}
		if pr = t.pairs[k]; pr == nil {
			if len(t.pairs) >= p.maxPair {
				t.pairsDropped++
				return
			}
			pr = &NetPair{Src: src, Dst: dst, Created: now}
			t.pairs[k] = pr
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

// netHost returns the entry of addr, learning it (p.mu held).
func (p *Port) netHost(addr netip.Addr, now int64) *NetHost {
	t := &p.net
	if h := t.hosts[addr]; h != nil {
		return h
	}
	if len(t.hosts) >= p.maxHost {
		t.hostsDropped++
		return nil
	}
	h := &NetHost{Addr: addr, Order: len(t.order) + 1, Created: now}
	t.hosts[addr] = h
	t.order = append(t.order, h)
	return h
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
	s.Pairs = make([]NetPair, 0, len(t.pairs))
	for _, pr := range t.pairs {
		s.Pairs = append(s.Pairs, *pr)
	}
	return s
}
