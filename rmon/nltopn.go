package rmon

import (
	"cmp"
	"slices"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/rmon/mib"
	"github.com/wirebox/wirebox/rmon/stats"
)

// nlMatrixTopN (RFC 4502 section 9): reports of the busiest network-layer
// conversations of an hlMatrixControl row over a collection; when one
// ends, the report replaces the last and the next collection starts with
// the same duration.
var (
	nlTopNCtlEntry = rmonOID.Append(15, 4, 1)
	nlTopNEntry    = rmonOID.Append(15, 5, 1)
)

type nlTopNVal struct {
	pair                       stats.NetPairKey
	pkts, rpkts, octs, roctets uint64
}

type nlTopNRT struct {
	pt       *port
	base     map[stats.NetPairKey]stats.Counter
	end      time.Time
	start    uint64
	duration int64
	reports  uint64
	report   []nlTopNVal
}

func pairCounts(pt *port) map[stats.NetPairKey]stats.Counter {
	s := pt.st.NetSnapshot()
	m := make(map[stats.NetPairKey]stats.Counter, len(s.Pairs))
	for _, pr := range s.Pairs {
		m[stats.NetPairKey{Src: pr.Src, Dst: pr.Dst}] = stats.Counter{Pkts: pr.Pkts, Octets: pr.Octets}
	}
	return m
}

func (p *probe) nlTopNSpec() *ctlSpec {
	return &ctlSpec{
		name: "nlMatrixTopNControlTable", cols: seq(2, 11), statusCol: 11, rowStatus: true,
		writable: map[uint32]ctlCol{
			2: {check: checkInt(1, 65535), frozen: true},
			// 3 and 4 (high-capacity reports) go to HC-RMON's
			// nlMatrixTopNHighCapacityTable, which is not served.
			3:  {def: defInt(1), check: checkInt(1, 2), frozen: true},
			4:  {def: defInt(1800), check: checkInt(0, 1<<31-1)},
			7:  {def: defInt(150), check: checkInt(0, 1<<31-1)},
			10: ownerCol,
		},
		ready: func(r *ctlRow) bool { _, ok := r.vals[2]; return ok },
		validate: func(r *ctlRow) gosnmp.SNMPError {
			p.mu.Lock()
			defer p.mu.Unlock()
			if m := p.hlMatrixCtl.rows[int32(r.num(2))]; m == nil || m.status != statusValid {
				return mib.InconsistentValue
			}
			return mib.NoError
		},
		activate: func(r *ctlRow) {
			rt := &nlTopNRT{}
			r.rt = rt
			// The matrix row may have gone in the same SET.
			if m := p.hlMatrixCtl.rows[int32(r.num(2))]; m != nil && m.status == statusValid {
				rt.pt = m.rt.(*port)
				p.startNlTopN(r)
			}
		},
		// Setting nlMatrixTopNControlTimeRemaining starts a new collection.
		changed: func(r, old *ctlRow) {
			if r.status == statusValid && old != nil && old.status == statusValid && old.num(4) != r.num(4) {
				r.rt.(*nlTopNRT).report = nil
				p.startNlTopN(r)
			}
		},
		computed: func(r *ctlRow, col uint32) (mib.Value, bool) {
			rt := r.rt.(*nlTopNRT)
			switch col {
			case 5:
				return mib.Counter32(rt.reports), true
			case 6:
				return mib.Integer(rt.duration), true
			case 8:
				return mib.Integer(min(r.num(7), maxTopN)), true
			case 9:
				return mib.TimeTicks(rt.start), true
			}
			return mib.Value{}, false
		},
	}
}

// startNlTopN begins a collection (p.mu held).
func (p *probe) startNlTopN(r *ctlRow) {
	rt := r.rt.(*nlTopNRT)
	rt.duration = r.num(4)
	if rt.duration == 0 || rt.pt == nil {
		rt.base = nil
		return
	}
	rt.base = pairCounts(rt.pt)
	rt.start = p.uptime()
	rt.end = p.now().Add(time.Duration(rt.duration) * time.Second)
	p.gen++
}

// sampleNlTopN counts a collection down; at its end it makes the report
// and starts the next (p.mu held).
func (p *probe) sampleNlTopN(r *ctlRow, now time.Time) {
	rt := r.rt.(*nlTopNRT)
	if rt.base == nil {
		return
	}
	if !countdown(r, 4, rt.end, now) {
		return
	}
	cur := pairCounts(rt.pt)
	delta := func(k stats.NetPairKey) stats.Counter {
		c, b := cur[k], rt.base[k]
		return stats.Counter{Pkts: c.Pkts - b.Pkts, Octets: c.Octets - b.Octets}
	}
	byOctets := r.num(3) == 2
	var rep []nlTopNVal
	for k := range cur {
		d, rev := delta(k), delta(stats.NetPairKey{Src: k.Dst, Dst: k.Src})
		if (byOctets && d.Octets > 0) || (!byOctets && d.Pkts > 0) {
			rep = append(rep, nlTopNVal{k, d.Pkts, rev.Pkts, d.Octets, rev.Octets})
		}
	}
	slices.SortFunc(rep, func(a, b nlTopNVal) int {
		x, y := a.pkts, b.pkts
		if byOctets {
			x, y = a.octs, b.octs
		}
		if c := cmp.Compare(y, x); c != 0 {
			return c
		}
		if c := a.pair.Src.Compare(b.pair.Src); c != 0 {
			return c
		}
		return a.pair.Dst.Compare(b.pair.Dst)
	})
	rt.report = rep[:min(int64(len(rep)), r.num(7), maxTopN)]
	rt.reports++
	r.vals[4] = mib.Integer(rt.duration)
	rt.base, rt.start = cur, p.uptime()
	rt.end = now.Add(time.Duration(rt.duration) * time.Second)
	p.gen++
}

// registerNlTopN serves nlMatrixTopNControlTable and nlMatrixTopNTable.
func (p *probe) registerNlTopN(tree *mib.Tree) {
	p.nlTopN = newCtlTable(p, p.nlTopNSpec())
	tree.Register(nlTopNCtlEntry, p.nlTopN.handler())
	tree.Register(nlTopNEntry, p.subHandler(p.nlTopN, seq(2, 8), func(r *ctlRow) []uint32 {
		return seqN(len(r.rt.(*nlTopNRT).report))
	}, func(r *ctlRow, sub, col uint32) (mib.Value, bool) {
		rep := r.rt.(*nlTopNRT).report
		if sub < 1 || int(sub) > len(rep) {
			return mib.Value{}, false
		}
		e := rep[sub-1]
		switch col {
		case 2:
			return mib.Integer(int64(nlProto(e.pair.Src))), true
		case 3:
			return mib.OctetString(e.pair.Src.AsSlice()), true
		case 4:
			return mib.OctetString(e.pair.Dst.AsSlice()), true
		case 5:
			return mib.Gauge32(e.pkts), true
		case 6:
			return mib.Gauge32(e.rpkts), true
		case 7:
			return mib.Gauge32(e.octs), true
		}
		return mib.Gauge32(e.roctets), true
	}))
}
