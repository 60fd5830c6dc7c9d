package rmon

import (
	"github.com/wirebox/wirebox/rmon/mib"
	"github.com/wirebox/wirebox/rmon/stats"
)

// etherRT is an etherStats row's runtime: its port and the counters at
// creation (a row counts from when it became valid).
type etherRT struct {
	pt   *port
	base stats.Ether
}

func (p *probe) etherStatsSpec() *ctlSpec {
	return p.sourceHooks(&ctlSpec{
		name:      "etherStatsTable",
		cols:      seq(1, 21),
		indexCol:  1,
		statusCol: 21,
		writable: map[uint32]ctlCol{
			2:  {check: p.checkDataSource, frozen: true},
			20: ownerCol,
		},
		activate: func(r *ctlRow) {
			pt := p.portOf(r.vals[2])
			rt := &etherRT{pt: pt}
			if r.str(20) != monitorOwner {
				rt.base = pt.ether()
			}
			r.rt = rt
		},
		computed: func(r *ctlRow, col uint32) (mib.Value, bool) {
			e := r.rt.(*etherRT).current()
			if col >= 3 && col <= 19 {
				return mib.Counter32(etherField(&e, col)), true
			}
			return mib.Value{}, false
		},
	})
}

func (rt *etherRT) current() stats.Ether {
	e := rt.pt.ether()
	return subEther(e, rt.base)
}

func subEther(a, b stats.Ether) stats.Ether {
	return stats.Ether{
		DropEvents: a.DropEvents - b.DropEvents, Octets: a.Octets - b.Octets, Pkts: a.Pkts - b.Pkts,
		Broadcast: a.Broadcast - b.Broadcast, Multicast: a.Multicast - b.Multicast, CRCAlign: a.CRCAlign - b.CRCAlign,
		Undersize: a.Undersize - b.Undersize, Oversize: a.Oversize - b.Oversize, Fragments: a.Fragments - b.Fragments,
		Jabbers: a.Jabbers - b.Jabbers, Collisions: a.Collisions - b.Collisions,
		Pkts64: a.Pkts64 - b.Pkts64, Pkts65to127: a.Pkts65to127 - b.Pkts65to127, Pkts128to255: a.Pkts128to255 - b.Pkts128to255,
		Pkts256to511: a.Pkts256to511 - b.Pkts256to511, Pkts512to1023: a.Pkts512to1023 - b.Pkts512to1023,
		Pkts1024to1518: a.Pkts1024to1518 - b.Pkts1024to1518,
	}
}

// etherField maps etherStatsTable columns 3..19 to counters.
func etherField(e *stats.Ether, col uint32) uint64 {
	switch col {
	case 3:
		return e.DropEvents
	case 4:
		return e.Octets
	case 5:
		return e.Pkts
	case 6:
		return e.Broadcast
	case 7:
		return e.Multicast
	case 8:
		return e.CRCAlign
	case 9:
		return e.Undersize
	case 10:
		return e.Oversize
	case 11:
		return e.Fragments
	case 12:
		return e.Jabbers
	case 13:
		return e.Collisions
	case 14:
		return e.Pkts64
	case 15:
		return e.Pkts65to127
	case 16:
		return e.Pkts128to255
	case 17:
		return e.Pkts256to511
	case 18:
		return e.Pkts512to1023
	case 19:
		return e.Pkts1024to1518
	}
	return 0
}

func seq(lo, hi uint32) []uint32 {
	var s []uint32
	for i := lo; i <= hi; i++ {
		s = append(s, i)
	}
	return s
}

// etherHCHandler serves etherStatsHighCapacityTable (RFC 3273), which
// augments etherStatsTable: pairs of overflow counts and 64-bit counters.
func (p *probe) etherHCHandler() *mib.Table {
	// Column pairs (overflow, high-capacity) -> etherStats column.
	src := map[uint32]uint32{1: 5, 2: 5, 3: 4, 4: 4, 5: 14, 6: 14, 7: 15, 8: 15, 9: 16, 10: 16, 11: 17, 12: 17, 13: 18, 14: 18, 15: 19, 16: 19}
	return &mib.Table{
		Cols: seq(1, 16),
		Index: func() []mib.OID {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.ether.derivedIndex(func() []mib.OID { return validIndex(p.ether) })
		},
		Cell: func(index mib.OID, col uint32) (mib.Value, bool) {
			p.mu.Lock()
			defer p.mu.Unlock()
			r := p.ether.rows[int32(index[0])]
			if r == nil || r.status != statusValid || len(index) != 1 {
				return mib.Value{}, false
			}
			e := r.rt.(*etherRT).current()
			v := etherField(&e, src[col])
			if col%2 == 1 {
				return mib.Counter32(v >> 32), true
			}
			return mib.Counter64(v), true
		},
	}
}

// validIndex lists the valid rows of a control table (p.mu held).
func validIndex(t *ctlTable) []mib.OID {
	var out []mib.OID
	for _, r := range t.valid() {
		out = append(out, mib.OID{uint32(r.index)})
	}
	return out
}
