package rmon

import (
	"cmp"
	"slices"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/rmon/mib"
	"github.com/wirebox/wirebox/rmon/stats"
)

// nlMatrixTopN and alMatrixTopN (RFC 4502 sections 9, 11): reports of
// the busiest conversations of an hlMatrixControl row over a collection,
// by address pair (nl) or by address pair and protocol (al); when a
// collection ends, its report replaces the last and the next collection
// starts with the same duration.
var (
	nlTopNCtlEntry = rmonOID.Append(15, 4, 1)
	nlTopNEntry    = rmonOID.Append(15, 5, 1)
	alTopNCtlEntry = rmonOID.Append(17, 3, 1)
	alTopNEntry    = rmonOID.Append(17, 4, 1)
)

// topNKey is a conversation: an address pair and, for al reports, a
// protocol (for nl, the network protocol).
type topNKey struct {
	pair  stats.NetPairKey
	proto int
}

type mTopNVal struct {
	key                        topNKey
	pkts, rpkts, octs, roctets uint64
}

type mTopNRT struct {
	pt       *port
	base     map[topNKey]topNCount
	end      time.Time
	start    uint64
	duration int64
	reports  uint64
	report   []mTopNVal
}

// mTopN is what differs between the two report groups.
type mTopN struct {
	name     string
	al       bool
	maxBase  int64 // highest RateBase served (the high-capacity ones go to HC-RMON's tables, not served)
	ctl      *ctlTable
	ctlEntry mib.OID
	entry    mib.OID
}

// topNCount is a conversation's counters and when its entry was made:
// one deleted to make room and made again since counts from 0.
type topNCount struct {
	stats.Counter
	created int64
}

// counts are the conversations' counters of a port now.
func (m *mTopN) counts(pt *port) map[topNKey]topNCount {
	s := pt.st.NetSnapshot()
	out := make(map[topNKey]topNCount, len(s.Pairs))
	for _, pr := range s.Pairs {
		k := stats.NetPairKey{Src: pr.Src, Dst: pr.Dst}
		if !m.al {
			out[topNKey{k, int(nlProto(pr.Src)) - 1}] = topNCount{stats.Counter{Pkts: pr.Pkts, Octets: pr.Octets}, pr.Created}
			continue
		}
		for x, a := range pr.Al {
			if a.Created != 0 {
				out[topNKey{k, x}] = topNCount{stats.Counter{Pkts: a.Pkts, Octets: a.Octets}, a.Created}
			}
		}
	}
	return out
}

// byOctets and terminals read a row's RateBase: al's 1 and 2 count only
// protocols with no counted child (not ip or ipv6 themselves), 3 and 4
// all; 2 and 4 sort by octets.
func (m *mTopN) byOctets(rb int64) bool  { return rb == 2 || rb == 4 }
func (m *mTopN) terminals(rb int64) bool { return m.al && rb <= 2 }

func (p *probe) mTopNSpec(m *mTopN) *ctlSpec {
	return &ctlSpec{
		name: m.name, cols: seq(2, 11), statusCol: 11, rowStatus: true,
		writable: map[uint32]ctlCol{
			2:  {check: checkInt(1, 65535), frozen: true},
			3:  {def: defInt(1), check: checkInt(1, m.maxBase), frozen: true},
			4:  {def: defInt(1800), check: checkInt(0, 1<<31-1)},
			7:  {def: defInt(150), check: checkInt(0, 1<<31-1)},
			10: ownerCol,
		},
		ready: func(r *ctlRow) bool { _, ok := r.vals[2]; return ok },
		validate: func(r *ctlRow) gosnmp.SNMPError {
			p.mu.Lock()
			defer p.mu.Unlock()
			if h := p.hlMatrixCtl.rows[int32(r.num(2))]; h == nil || h.status != statusValid {
				return mib.InconsistentValue
			}
			return mib.NoError
		},
		activate: func(r *ctlRow) {
			rt := &mTopNRT{}
			r.rt = rt
			// The matrix row may have gone in the same SET.
			if h := p.hlMatrixCtl.rows[int32(r.num(2))]; h != nil && h.status == statusValid {
				rt.pt = h.rt.(*port)
				p.startMTopN(m, r)
			}
		},
		// Setting TimeRemaining starts a new collection.
		changed: func(r, old *ctlRow) {
			if r.status == statusValid && old != nil && old.status == statusValid && old.num(4) != r.num(4) {
				r.rt.(*mTopNRT).report = nil
				p.startMTopN(m, r)
			}
		},
		computed: func(r *ctlRow, col uint32) (mib.Value, bool) {
			rt := r.rt.(*mTopNRT)
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

// startMTopN begins a collection (p.mu held).
func (p *probe) startMTopN(m *mTopN, r *ctlRow) {
	rt := r.rt.(*mTopNRT)
	rt.duration = r.num(4)
	if rt.duration == 0 || rt.pt == nil {
		rt.base = nil
		return
	}
	rt.base = m.counts(rt.pt)
	rt.start = p.uptime()
	rt.end = p.now().Add(time.Duration(rt.duration) * time.Second)
	p.gen++
}

// sampleMTopN counts a collection down; at its end it makes the report
// and starts the next (p.mu held).
func (p *probe) sampleMTopN(m *mTopN, r *ctlRow, now time.Time) {
	rt := r.rt.(*mTopNRT)
	if rt.base == nil || !countdown(r, 4, rt.end, now) {
		return
	}
	cur := m.counts(rt.pt)
	delta := func(k topNKey) stats.Counter {
		c, b := cur[k], rt.base[k]
		if b.created != c.created {
			b = topNCount{} // the entry is new since the collection began
		}
		return stats.Counter{Pkts: c.Pkts - b.Pkts, Octets: c.Octets - b.Octets}
	}
	rb := r.num(3)
	byOctets := m.byOctets(rb)
	var rep []mTopNVal
	for k := range cur {
		if m.terminals(rb) && (k.proto == stats.ProtoIP || k.proto == stats.ProtoIPv6) {
			continue
		}
		d, rev := delta(k), delta(topNKey{stats.NetPairKey{Src: k.pair.Dst, Dst: k.pair.Src}, k.proto})
		if (byOctets && d.Octets > 0) || (!byOctets && d.Pkts > 0) {
			rep = append(rep, mTopNVal{k, d.Pkts, rev.Pkts, d.Octets, rev.Octets})
		}
	}
	slices.SortFunc(rep, func(a, b mTopNVal) int {
		x, y := a.pkts, b.pkts
		if byOctets {
			x, y = a.octs, b.octs
		}
		if c := cmp.Compare(y, x); c != 0 {
			return c
		}
		if c := a.key.pair.Src.Compare(b.key.pair.Src); c != 0 {
			return c
		}
		if c := a.key.pair.Dst.Compare(b.key.pair.Dst); c != 0 {
			return c
		}
		return cmp.Compare(a.key.proto, b.key.proto)
	})
	rt.report = rep[:min(int64(len(rep)), r.num(7), maxTopN)]
	rt.reports++
	r.vals[4] = mib.Integer(rt.duration)
	rt.base, rt.start = cur, p.uptime()
	rt.end = now.Add(time.Duration(rt.duration) * time.Second)
	p.gen++
}

// registerMTopN serves nlMatrixTopN's or alMatrixTopN's two tables.
func (p *probe) registerMTopN(tree *mib.Tree, m *mTopN) {
	m.ctl = newCtlTable(p, p.mTopNSpec(m))
	tree.Register(m.ctlEntry, m.ctl.handler())
	last := uint32(8)
	if m.al {
		last = 9 // with alMatrixTopNAppProtocolDirLocalIndex (5)
	}
	tree.Register(m.entry, p.subHandler(m.ctl, seq(2, last), func(r *ctlRow) []uint32 {
		return seqN(len(r.rt.(*mTopNRT).report))
	}, func(r *ctlRow, sub, col uint32) (mib.Value, bool) {
		rep := r.rt.(*mTopNRT).report
		if sub < 1 || int(sub) > len(rep) {
			return mib.Value{}, false
		}
		e := rep[sub-1]
		if m.al && col >= 5 {
			if col == 5 {
				return mib.Integer(int64(e.key.proto + 1)), true
			}
			col-- // the rates follow one column later
		}
		switch col {
		case 2:
			return mib.Integer(int64(nlProto(e.key.pair.Src))), true
		case 3:
			return mib.OctetString(e.key.pair.Src.AsSlice()), true
		case 4:
			return mib.OctetString(e.key.pair.Dst.AsSlice()), true
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

func (p *probe) registerMatrixTopN(tree *mib.Tree) {
	p.nlTopN = &mTopN{name: "nlMatrixTopNControlTable", maxBase: 2, ctlEntry: nlTopNCtlEntry, entry: nlTopNEntry}
	p.alTopN = &mTopN{name: "alMatrixTopNControlTable", al: true, maxBase: 4, ctlEntry: alTopNCtlEntry, entry: alTopNEntry}
	p.registerMTopN(tree, p.nlTopN)
	p.registerMTopN(tree, p.alTopN)
}
