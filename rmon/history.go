package rmon

import (
	"time"

	"github.com/wirebox/wirebox/rmon/mib"
	"github.com/wirebox/wirebox/rmon/stats"
)

// maxBuckets bounds bucketsGranted.
const maxBuckets = 1000

type bucket struct {
	sample      int32
	start       uint64 // sysUpTime at the interval's start
	e           stats.Ether
	utilization int64
}

type histRT struct {
	pt      *port
	last    stats.Ether
	start   uint64
	next    time.Time
	sample  int32
	buckets []bucket
	// view is set on a dRMON view's rows: their buckets come from the
	// agents (drmon.go).
	view *viewHist
}

func (p *probe) historySpec() *ctlSpec {
	return p.sourceHooks(&ctlSpec{
		name: "historyControlTable", cols: seq(1, 7), indexCol: 1, statusCol: 7,
		writable: map[uint32]ctlCol{
			2: {check: p.checkDataSource, frozen: true},
			3: {def: defInt(50), check: checkInt(1, 65535)},
			5: {def: defInt(1800), check: checkInt(1, 3600), frozen: true},
			6: ownerCol,
		},
		activate: func(r *ctlRow) {
			pt := p.portOf(r.vals[2])
			e := pt.ether()
			r.rt = &histRT{pt: pt, last: e, start: p.uptime(), next: p.now().Add(time.Duration(r.num(5)) * time.Second)}
		},
		computed: func(r *ctlRow, col uint32) (mib.Value, bool) {
			if col == 4 {
				return mib.Integer(min(r.num(3), maxBuckets)), true
			}
			return mib.Value{}, false
		},
	})
}

// sampleHistory closes the row's interval when it is due (p.mu held).
func (p *probe) sampleHistory(r *ctlRow, now time.Time) {
	h := r.rt.(*histRT)
	if h.view != nil || h.pt.core().view != nil {
		p.sampleViewHistory(r, h, now) // a dRMON view's row (drmon.go)
		return
	}
	if now.Before(h.next) {
		return
	}
	interval := r.num(5)
	e := h.pt.ether()
	d := subEther(e, h.last)
	h.sample++
	b := bucket{sample: h.sample, start: h.start, e: d}
	if mbps := h.pt.facts.SpeedMbps; mbps > 0 {
		// RFC 2819: bits including preamble (64) and gap (96), in
		// hundredths of a percent of the interval's capacity.
		bits := d.Pkts*(64+96) + d.Octets*8
		b.utilization = int64(bits * 10000 / (uint64(interval) * uint64(mbps) * 1_000_000))
	}
	h.buckets = append(h.buckets, b)
	p.gen++
	if granted := int(min(r.num(3), maxBuckets)); len(h.buckets) > granted {
		h.buckets = h.buckets[len(h.buckets)-granted:]
	}
	h.last, h.start = e, p.uptime()
	h.next = h.next.Add(time.Duration(interval) * time.Second)
	if h.next.Before(now) {
		h.next = now.Add(time.Duration(interval) * time.Second)
	}
}

// etherHistoryHandler serves etherHistoryTable (historyIndex.sampleIndex).
func (p *probe) etherHistoryHandler() *mib.Table {
	return p.subHandler(p.history, seq(1, 15), func(r *ctlRow) []uint32 {
		var out []uint32
		for _, b := range r.rt.(*histRT).buckets {
			out = append(out, uint32(b.sample))
		}
		return out
	}, func(r *ctlRow, sub, col uint32) (mib.Value, bool) {
		var b *bucket
		for i := range r.rt.(*histRT).buckets {
			if x := &r.rt.(*histRT).buckets[i]; x.sample == int32(sub) {
				b = x
			}
		}
		if b == nil {
			return mib.Value{}, false
		}
		switch col {
		case 1:
			return mib.Integer(int64(r.index)), true
		case 2:
			return mib.Integer(int64(b.sample)), true
		case 3:
			return mib.TimeTicks(b.start), true
		case 15:
			return mib.Integer(b.utilization), true
		}
		// Columns 4..14 are etherStats columns 3..13.
		return mib.Counter32(etherField(&b.e, col-1)), true
	})
}
