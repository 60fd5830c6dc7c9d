package rmon

import (
	"bytes"
	"slices"

	"github.com/wirebox/wirebox/rmon/mib"
	"github.com/wirebox/wirebox/rmon/stats"
)

// The host and matrix control rows of a port share the port's tables,
// learned since the service started (see docs/RMON.md).

func (p *probe) hostCtlSpec() *ctlSpec   { return p.tableCtlSpec("hostControlTable", true) }
func (p *probe) matrixCtlSpec() *ctlSpec { return p.tableCtlSpec("matrixControlTable", false) }

func (p *probe) tableCtlSpec(name string, hosts bool) *ctlSpec {
	return p.sourceHooks(&ctlSpec{
		name: name, cols: seq(1, 6), indexCol: 1, statusCol: 6,
		writable: map[uint32]ctlCol{
			2: {check: p.checkDataSource, frozen: true},
			5: ownerCol,
		},
		computed: func(r *ctlRow, col uint32) (mib.Value, bool) {
			s := p.snapshot(r.rt.(*port))
			switch col {
			case 3:
				if hosts {
					return mib.Integer(int64(len(s.Hosts))), true
				}
				return mib.Integer(int64(len(s.Pairs))), true
			case 4: // the last deletion to make room
				if hosts {
					return mib.TimeTicks(p.ticks(s.HostTable.LastDelete)), true
				}
				return mib.TimeTicks(p.ticks(s.PairTable.LastDelete)), true
			}
			return mib.Value{}, false
		},
	})
}

// built is a table materialized from snapshots: sorted indexes and rows;
// a time-filtered table also has each row's last change (sysUpTime).
type built struct {
	idx     []mib.OID
	rows    [][]mib.Value // rows[i][col-1]; time-filtered: by position in its columns
	changed []uint64
}

func (b *built) find(index mib.OID) []mib.Value {
	i, ok := slices.BinarySearchFunc(b.idx, index, mib.OID.Compare)
	if !ok {
		return nil
	}
	return b.rows[i]
}

func macIndex(m [6]byte) []uint32 {
	o := []uint32{6}
	for _, b := range m {
		o = append(o, uint32(b))
	}
	return o
}

// buildTable materializes a table over the valid rows of ctl (cached with
// the snapshots), with mk giving each control row's entries: index
// suffix, last change (time-filtered tables) and values.
func (p *probe) buildTable(key string, ctl *ctlTable, mk func(r *ctlRow, add func(o mib.OID, changed uint64, v []mib.Value))) *built {
	p.snapshot(nil) // refresh the cache generation
	if b, ok := p.cache.built[key]; ok {
		return b
	}
	b := &built{}
	type ent struct {
		o       mib.OID
		changed uint64
		v       []mib.Value
	}
	var es []ent
	for _, r := range ctl.valid() {
		mk(r, func(o mib.OID, changed uint64, v []mib.Value) { es = append(es, ent{o, changed, v}) })
	}
	slices.SortFunc(es, func(a, b ent) int { return a.o.Compare(b.o) })
	for _, e := range es {
		b.idx = append(b.idx, e.o)
		b.rows = append(b.rows, e.v)
		b.changed = append(b.changed, e.changed)
	}
	if p.cache.built == nil {
		p.cache.built = map[string]*built{}
	}
	p.cache.built[key] = b
	return b
}

func builtHandler(p *probe, ncols uint32, get func() *built) *mib.Table {
	return &mib.Table{
		Cols: seq(1, ncols),
		Index: func() []mib.OID {
			p.mu.Lock()
			defer p.mu.Unlock()
			return get().idx
		},
		Cell: func(index mib.OID, col uint32) (mib.Value, bool) {
			p.mu.Lock()
			defer p.mu.Unlock()
			row := get().find(index)
			if row == nil || int(col) > len(row) {
				return mib.Value{}, false
			}
			return row[col-1], true
		},
	}
}

func hostValues(h *stats.Host, ctlIndex int32) []mib.Value {
	return []mib.Value{
		mib.OctetString(bytes.Clone(h.MAC[:])), mib.Integer(int64(h.Order)), mib.Integer(int64(ctlIndex)),
		mib.Counter32(h.InPkts), mib.Counter32(h.OutPkts), mib.Counter32(h.InOctets), mib.Counter32(h.OutOctets),
		mib.Counter32(h.OutErrors), mib.Counter32(h.OutBroadcast), mib.Counter32(h.OutMulticast),
	}
}

// hostHandler serves hostTable (index hostIndex.hostAddress) or, with
// byTime, hostTimeTable (index hostTimeIndex.hostTimeCreationOrder).
func (p *probe) hostHandler(byTime bool) *mib.Table {
	key := "host"
	if byTime {
		key = "hostTime"
	}
	return builtHandler(p, 10, func() *built {
		return p.buildTable(key, p.hostCtl, func(r *ctlRow, add func(mib.OID, uint64, []mib.Value)) {
			ci, s := r.index, p.snapshot(r.rt.(*port))
			for i := range s.Hosts {
				h := &s.Hosts[i]
				if byTime {
					add(mib.OID{uint32(ci), uint32(h.Order)}, 0, hostValues(h, ci))
				} else {
					add(append(mib.OID{uint32(ci)}, macIndex(h.MAC)...), 0, hostValues(h, ci))
				}
			}
		})
	})
}

// matrixHandler serves matrixSDTable or, with ds, matrixDSTable.
func (p *probe) matrixHandler(ds bool) *mib.Table {
	key := "matrixSD"
	if ds {
		key = "matrixDS"
	}
	return builtHandler(p, 6, func() *built {
		return p.buildTable(key, p.matCtl, func(r *ctlRow, add func(mib.OID, uint64, []mib.Value)) {
			ci, s := r.index, p.snapshot(r.rt.(*port))
			for i := range s.Pairs {
				pr := &s.Pairs[i]
				v := []mib.Value{
					mib.OctetString(bytes.Clone(pr.Src[:])), mib.OctetString(bytes.Clone(pr.Dst[:])), mib.Integer(int64(ci)),
					mib.Counter32(pr.Pkts), mib.Counter32(pr.Octets), mib.Counter32(pr.Errors),
				}
				a, b := pr.Src, pr.Dst
				if ds {
					a, b = b, a
				}
				add(append(append(mib.OID{uint32(ci)}, macIndex(a)...), macIndex(b)...), 0, v)
			}
		})
	})
}

func sortOIDs(o []mib.OID) { slices.SortFunc(o, mib.OID.Compare) }
