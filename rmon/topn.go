package rmon

import (
	"bytes"
	"cmp"
	"slices"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/rmon/mib"
	"github.com/wirebox/wirebox/rmon/stats"
)

var (
	topNCtlEntry = rmonOID.Append(5, 1, 1)
	topNEntry    = rmonOID.Append(5, 2, 1)
)

// maxTopN bounds hostTopNGrantedSize.
const maxTopN = 1000

type topNEntryVal struct {
	mac  [6]byte
	rate int64
}

// topNRT is a hostTopN report: collecting until end, then the report.
type topNRT struct {
	pt       *port
	hostIdx  int32
	base     map[[6]byte]topNBase
	end      time.Time
	start    uint64
	granted  int
	duration int64 // hostTopNDuration: the collection's length
	report   []topNEntryVal
}

// topNBase is a host's counter when a collection started; a host deleted
// to make room and learned again since has a new creation time and
// counts from 0.
type topNBase struct {
	created time.Time
	v       uint64
}

// rateOf is the hostTable counter a rate base (1..7) selects.
func rateOf(h *stats.Host, base int64) uint64 {
	switch base {
	case 1:
		return h.InPkts
	case 2:
		return h.OutPkts
	case 3:
		return h.InOctets
	case 4:
		return h.OutOctets
	case 5:
		return h.OutErrors
	case 6:
		return h.OutBroadcast
	}
	return h.OutMulticast
}

func (p *probe) topNSpec() *ctlSpec {
	return &ctlSpec{
		name: "hostTopNControlTable", cols: seq(1, 10), indexCol: 1, statusCol: 10,
		writable: map[uint32]ctlCol{
			2: {check: checkInt(1, 65535), frozen: true},
			3: {def: defInt(1), check: checkInt(1, 7), frozen: true},
			4: {def: defInt(0), check: checkInt(0, 1<<31-1)},
			6: {def: defInt(10), check: checkInt(1, 1<<31-1)},
			9: ownerCol,
		},
		validate: func(r *ctlRow) gosnmp.SNMPError {
			p.mu.Lock()
			defer p.mu.Unlock()
			if _, ok := r.vals[2]; !ok {
				return mib.InconsistentValue
			}
			if h := p.hostCtl.rows[int32(r.num(2))]; h == nil || h.status != statusValid {
				return mib.InconsistentValue
			}
			return mib.NoError
		},
		activate: func(r *ctlRow) { r.rt = &topNRT{hostIdx: int32(r.num(2))} },
		// Setting hostTopNTimeRemaining starts a new report (RFC 2819).
		changed: func(r, old *ctlRow) {
			if r.status != statusValid || r.num(4) == 0 {
				return
			}
			if old != nil && old.status == statusValid && old.num(4) == r.num(4) && r.rt.(*topNRT).base != nil {
				return
			}
			p.startTopN(r)
		},
		computed: func(r *ctlRow, col uint32) (mib.Value, bool) {
			rt := r.rt.(*topNRT)
			switch col {
			case 5:
				return mib.Integer(rt.duration), true
			case 7:
				return mib.Integer(int64(rt.granted)), true
			case 8:
				return mib.TimeTicks(rt.start), true
			}
			return mib.Value{}, false
		},
	}
}

// startTopN begins a collection (p.mu held).
func (p *probe) startTopN(r *ctlRow) {
	rt := r.rt.(*topNRT)
	h := p.hostCtl.rows[rt.hostIdx]
	if h == nil || h.status != statusValid {
		return
	}
	rt.pt = h.rt.(*port)
	rt.base = map[[6]byte]topNBase{}
	sn := rt.pt.st.Snapshot()
	for i := range sn.Hosts {
		rt.base[sn.Hosts[i].MAC] = topNBase{sn.Hosts[i].Created, rateOf(&sn.Hosts[i], r.num(3))}
	}
	rt.end = p.now().Add(time.Duration(r.num(4)) * time.Second)
	rt.start = p.uptime()
	rt.granted = int(min(r.num(6), maxTopN))
	rt.report = nil
	p.gen++
	rt.duration = r.num(4)
}

// sampleTopN counts a collection down and builds its report (p.mu held).
func (p *probe) sampleTopN(r *ctlRow, now time.Time) {
	rt := r.rt.(*topNRT)
	if rt.base == nil || r.num(4) == 0 {
		return
	}
	if !countdown(r, 4, rt.end, now) {
		return
	}
	r.vals[4] = mib.Integer(0)
	sn := rt.pt.st.Snapshot()
	var rep []topNEntryVal
	for i := range sn.Hosts {
		h := &sn.Hosts[i]
		var base uint64
		if b, ok := rt.base[h.MAC]; ok && b.created.Equal(h.Created) {
			base = b.v
		}
		if d := int64(rateOf(h, r.num(3)) - base); d > 0 {
			rep = append(rep, topNEntryVal{h.MAC, d})
		}
	}
	slices.SortFunc(rep, func(a, b topNEntryVal) int {
		if c := cmp.Compare(b.rate, a.rate); c != 0 {
			return c
		}
		return bytes.Compare(a.mac[:], b.mac[:])
	})
	rt.report = rep[:min(len(rep), rt.granted)]
	p.gen++
}

// countdown sets a collection's time-remaining column col to the seconds
// left until end; true when it is over (p.mu held).
func countdown(r *ctlRow, col uint32, end, now time.Time) bool {
	if rem := int64(end.Sub(now).Round(time.Second) / time.Second); rem > 0 {
		r.vals[col] = mib.Integer(rem)
		return false
	}
	return true
}

// topNHandler serves hostTopNTable (hostTopNReport.hostTopNIndex).
func (p *probe) topNHandler() *mib.Table {
	return p.subHandler(p.topN, seq(1, 4), func(r *ctlRow) []uint32 {
		return seqN(len(r.rt.(*topNRT).report))
	}, func(r *ctlRow, sub, col uint32) (mib.Value, bool) {
		rep := r.rt.(*topNRT).report
		i := int(sub) - 1
		if i < 0 || i >= len(rep) {
			return mib.Value{}, false
		}
		switch col {
		case 1:
			return mib.Integer(int64(r.index)), true
		case 2:
			return mib.Integer(int64(sub)), true
		case 3:
			return mib.OctetString(bytes.Clone(rep[i].mac[:])), true
		}
		return mib.Integer(int64(int32(rep[i].rate))), true
	})
}

// seqN is 1..n.
func seqN(n int) []uint32 {
	if n == 0 {
		return nil
	}
	return seq(1, uint32(n))
}
