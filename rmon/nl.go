package rmon

import (
	"bytes"
	"net/netip"
	"slices"

	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/rmon/mib"
	"github.com/wirebox/wirebox/rmon/stats"
)

// RMON2 network- and application-layer host and matrix groups and the
// address map (RFC 4502 sections 7-11), from the ports' network-layer
// tables (stats.NetSnapshot): IPv4 and IPv6 addresses, and by protocol
// the network protocol itself and TCP, UDP and ICMP over it. Like the
// RMON1 host and matrix groups, the control rows of a port share its
// tables, learned since the service started.
var (
	addressMapOID      = rmonOID.Append(13)
	addressMapCtlEntry = rmonOID.Append(13, 4, 1)
	addressMapEntry    = rmonOID.Append(13, 5, 1)
	hlHostCtlEntry     = rmonOID.Append(14, 1, 1)
	nlHostEntry        = rmonOID.Append(14, 2, 1)
	hlMatrixCtlEntry   = rmonOID.Append(15, 1, 1)
	nlMatrixSDEntry    = rmonOID.Append(15, 2, 1)
	nlMatrixDSEntry    = rmonOID.Append(15, 3, 1)
	alHostEntry        = rmonOID.Append(16, 1, 1)
	alMatrixSDEntry    = rmonOID.Append(17, 1, 1)
	alMatrixDSEntry    = rmonOID.Append(17, 2, 1)
)

// zbc32 is a ZeroBasedCounter32 (RFC 4502): a Gauge32 that wraps.
func zbc32(v uint64) mib.Value { return mib.Value{Type: gosnmp.Gauge32, Uint: v & 0xffffffff} }

// nlProto is the protocolDir local index of an address's network layer.
func nlProto(a netip.Addr) uint32 {
	if a.Is4() {
		return stats.ProtoIP + 1
	}
	return stats.ProtoIPv6 + 1
}

// netIndex is an address as an index component: its length, then its octets.
func netIndex(a netip.Addr) []uint32 {
	b := a.AsSlice()
	o := make([]uint32, 0, len(b)+1)
	o = append(o, uint32(len(b)))
	for _, x := range b {
		o = append(o, uint32(x))
	}
	return o
}

// capped returns the first n of s (all when n < 0): a control row's
// MaxDesiredEntries.
func capped[T any](s []T, n int64) []T {
	if n >= 0 && int64(len(s)) > n {
		return s[:n]
	}
	return s
}

// sourceHooks are a control row's hooks for its data source in column 2:
// ready and valid when it names a port, which becomes the row's runtime.
func (p *probe) sourceHooks(spec *ctlSpec) *ctlSpec {
	spec.ready = func(r *ctlRow) bool { return p.portOf(r.vals[2]) != nil }
	spec.validate = func(r *ctlRow) gosnmp.SNMPError {
		if p.portOf(r.vals[2]) == nil {
			return mib.InconsistentValue
		}
		return mib.NoError
	}
	if spec.activate == nil {
		spec.activate = func(r *ctlRow) { r.rt = p.portOf(r.vals[2]) }
	}
	return spec
}

// hlCtlSpec is hlHostControlTable or hlMatrixControlTable. A row's
// entries are the most recently used of its port's tables, at most its
// Nl/AlMaxDesiredEntries: its inserts are the tables' and its deletes
// the tables' and the entries its limit hides (so inserts - deletes is
// always what its tables hold; neither counter goes back).
func (p *probe) hlCtlSpec(name string, hosts bool) *ctlSpec {
	maxCol := ctlCol{def: defInt(-1), check: checkInt(-1, 1<<31-1), frozen: true}
	return p.sourceHooks(&ctlSpec{
		name: name, cols: seq(2, 12), statusCol: 12, rowStatus: true,
		writable: map[uint32]ctlCol{2: {check: p.checkDataSource, frozen: true}, 6: maxCol, 10: maxCol, 11: ownerCol},
		computed: func(r *ctlRow, col uint32) (mib.Value, bool) {
			s := p.netSnapshot(r.rt.(*port))
			nlTab, alTab, nlAll, alAll, per := s.HostTable, s.AlHostTable, len(s.Hosts), uint64(0), uint64(1)
			for i := range s.Hosts {
				alAll += s.Hosts[i].AlEntries()
			}
			if !hosts {
				// A conversation is an entry of both the SD and the DS table.
				nlTab, alTab, nlAll, alAll, per = s.PairTable, s.AlPairTable, len(s.Pairs), 0, 2
				for i := range s.Pairs {
					alAll += s.Pairs[i].AlEntries()
				}
			}
			switch col {
			case 3, 7: // a frame whose address did not fit is not counted for any protocol either
				return mib.Counter32(nlTab.Dropped), true
			case 4:
				return mib.Counter32(per * nlTab.Inserts), true
			case 5:
				return mib.Counter32(per * (nlTab.Deletes + hidden(uint64(nlAll), r.num(6)))), true
			case 8:
				return mib.Counter32(per * alTab.Inserts), true
			case 9:
				return mib.Counter32(per * (alTab.Deletes + hidden(alAll, r.num(10)))), true
			}
			return mib.Value{}, false
		},
	})
}

// hidden is how many of total entries a MaxDesiredEntries limit (-1:
// none) leaves out.
func hidden(total uint64, limit int64) uint64 {
	if limit < 0 || total <= uint64(limit) {
		return 0
	}
	return total - uint64(limit)
}

// alLimit counts al entries against a row's AlMaxDesiredEntries (n < 0:
// none): each call takes one and says whether it still fits.
func alLimit(n int64) func() bool {
	return func() bool {
		if n < 0 {
			return true
		}
		if n == 0 {
			return false
		}
		n--
		return true
	}
}

// registerNL serves addressMap, nlHost, nlMatrix, alHost and alMatrix.
func (p *probe) registerNL(tree *mib.Tree) {
	p.hlHostCtl = newCtlTable(p, p.hlCtlSpec("hlHostControlTable", true))
	p.hlMatrixCtl = newCtlTable(p, p.hlCtlSpec("hlMatrixControlTable", false))
	p.addrMapCtl = newCtlTable(p, p.sourceHooks(&ctlSpec{
		name: "addressMapControlTable", cols: seq(2, 5), statusCol: 5, rowStatus: true,
		activate: func(r *ctlRow) {
			pt := p.portOf(r.vals[2])
			r.rt = pt
			if _, ok := p.addrMapBase[pt]; !ok && pt != nil {
				if p.addrMapBase == nil {
					p.addrMapBase = map[*port]uint64{}
				}
				p.addrMapBase[pt] = pt.st.MACDeletes()
			}
		},
		writable: map[uint32]ctlCol{2: {check: p.checkDataSource, frozen: true}, 4: ownerCol},
		computed: func(r *ctlRow, col uint32) (mib.Value, bool) {
			if col == 3 {
				return mib.Counter32(p.netSnapshot(r.rt.(*port)).HostTable.Dropped), true
			}
			return mib.Value{}, false
		},
	}))
	tree.Register(hlHostCtlEntry, p.hlHostCtl.handler())
	tree.Register(hlMatrixCtlEntry, p.hlMatrixCtl.handler())
	tree.Register(addressMapCtlEntry, p.addrMapCtl.handler())

	tree.Register(nlHostEntry, tfHandler(p, seq(3, 8), 1, func() *built {
		return p.buildTable("nlHost", p.hlHostCtl, func(r *ctlRow, add func(mib.OID, uint64, []mib.Value)) {
			for _, h := range capped(p.netSnapshot(r.rt.(*port)).Hosts, r.num(6)) {
				add(append(mib.OID{uint32(r.index), nlProto(h.Addr)}, netIndex(h.Addr)...), p.ticks(h.Changed), []mib.Value{
					zbc32(h.InPkts), zbc32(h.OutPkts), zbc32(h.InOctets), zbc32(h.OutOctets), zbc32(h.OutNonUnicast),
					mib.TimeTicks(p.ticks(h.Created)),
				})
			}
		})
	}))
	tree.Register(alHostEntry, tfHandler(p, seq(2, 6), 1, func() *built {
		return p.buildTable("alHost", p.hlHostCtl, func(r *ctlRow, add func(mib.OID, uint64, []mib.Value)) {
			fits := alLimit(r.num(10))
			for _, h := range p.netSnapshot(r.rt.(*port)).Hosts {
				base := append(mib.OID{uint32(r.index), nlProto(h.Addr)}, netIndex(h.Addr)...)
				for pr, a := range h.Al {
					if a.Created != 0 && fits() {
						add(append(slices.Clone(base), uint32(pr+1)), p.ticks(a.Changed), []mib.Value{
							zbc32(a.InPkts), zbc32(a.OutPkts), zbc32(a.InOctets), zbc32(a.OutOctets), mib.TimeTicks(p.ticks(a.Created)),
						})
					}
				}
			}
		})
	}))
	// The matrix tables: ds orders the index destination first.
	pairIndex := func(ci uint32, pr *stats.NetPair, ds bool) mib.OID {
		a, b := pr.Src, pr.Dst
		if ds {
			a, b = b, a
		}
		return append(append(mib.OID{ci, nlProto(a)}, netIndex(a)...), netIndex(b)...)
	}
	for _, t := range []struct {
		key    string
		nl, al mib.OID
		ds     bool
	}{{"nlMatrixSD", nlMatrixSDEntry, alMatrixSDEntry, false}, {"nlMatrixDS", nlMatrixDSEntry, alMatrixDSEntry, true}} {
		tree.Register(t.nl, tfHandler(p, seq(4, 6), 1, func() *built {
			return p.buildTable(t.key, p.hlMatrixCtl, func(r *ctlRow, add func(mib.OID, uint64, []mib.Value)) {
				for _, pr := range capped(p.netSnapshot(r.rt.(*port)).Pairs, r.num(6)) {
					add(pairIndex(uint32(r.index), &pr, t.ds), p.ticks(pr.Changed),
						[]mib.Value{zbc32(pr.Pkts), zbc32(pr.Octets), mib.TimeTicks(p.ticks(pr.Created))})
				}
			})
		}))
		tree.Register(t.al, tfHandler(p, seq(2, 4), 1, func() *built {
			return p.buildTable("al"+t.key[2:], p.hlMatrixCtl, func(r *ctlRow, add func(mib.OID, uint64, []mib.Value)) {
				fits := alLimit(r.num(10))
				for _, pr := range p.netSnapshot(r.rt.(*port)).Pairs {
					base := pairIndex(uint32(r.index), &pr, t.ds)
					for x, a := range pr.Al {
						if a.Created != 0 && fits() {
							add(append(slices.Clone(base), uint32(x+1)), p.ticks(a.Changed),
								[]mib.Value{zbc32(a.Pkts), zbc32(a.Octets), mib.TimeTicks(p.ticks(a.Created))})
						}
					}
				}
			})
		}))
	}

	// addressMap: one central table of the ports with an active control
	// row (addressMapSource is the port's ifIndex instance).
	addrMap := func() *built {
		return p.buildTable("addressMap", p.addrMapCtl, func(r *ctlRow, add func(mib.OID, uint64, []mib.Value)) {
			pt := r.rt.(*port)
			for _, o := range p.addrMapCtl.valid() {
				if o.rt.(*port) == pt && o.index < r.index {
					return // the port's entries are there already
				}
			}
			src := ifIndexOID.Append(uint32(pt.ifIndex))
			for _, h := range p.netSnapshot(pt).Hosts {
				if h.MACChanged == 0 {
					continue // never a source
				}
				o := append(append(mib.OID{nlProto(h.Addr)}, netIndex(h.Addr)...), uint32(len(src)))
				add(append(o, src...), p.ticks(h.MACChanged),
					[]mib.Value{mib.OctetString(bytes.Clone(h.MAC[:])), mib.TimeTicks(p.ticks(h.MACChanged))})
			}
		})
	}
	tree.Register(addressMapEntry, tfHandler(p, []uint32{4, 5}, 0, addrMap))
	tree.Register(addressMapOID.Append(1), mib.Single(func() mib.Value {
		p.mu.Lock()
		defer p.mu.Unlock()
		return mib.Counter32(uint64(len(addrMap().idx)) + p.addrMapDeleted())
	}))
	tree.Register(addressMapOID.Append(2), mib.Single(func() mib.Value {
		p.mu.Lock()
		defer p.mu.Unlock()
		return mib.Counter32(p.addrMapDeleted())
	}))
	// addressMapMaxDesiredEntries is read-only here: max_hosts limits each port.
	tree.Register(addressMapOID.Append(3), mib.Single(func() mib.Value { return mib.Integer(-1) }))
	// A control row that stops takes its port's entries with it.
	p.addrMapCtl.spec.destroy = func(r *ctlRow) {
		pt := r.rt.(*port)
		for _, o := range p.addrMapCtl.valid() {
			if o != r && o.rt.(*port) == pt {
				return
			}
		}
		for _, h := range p.netSnapshot(pt).Hosts {
			if h.MACChanged != 0 {
				p.addrMapDeletes++
			}
		}
		p.addrMapDeletes += p.netSnapshot(pt).MACDeletes - p.addrMapBase[pt]
		delete(p.addrMapBase, pt)
	}
}

// addrMapDeleted is addressMapDeletes: the entries of stopped rows and
// those the ports' tables deleted to make room while a row ran (p.mu held).
func (p *probe) addrMapDeleted() uint64 {
	n := p.addrMapDeletes
	for pt, base := range p.addrMapBase {
		n += p.netSnapshot(pt).MACDeletes - base
	}
	return n
}
