package rmon

import (
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/rmon/mib"
)

// usrHistory (RFC 4502 section 12): managers choose MIB objects (a
// bucket-group) sampled together every interval, absolute or delta, into
// buckets like etherHistory's. The object rows live in their control
// row's values (objKey), so they are staged, committed and deleted with it.
var (
	usrHistCtlEntry = rmonOID.Append(18, 1, 1)
	usrHistObjEntry = rmonOID.Append(18, 2, 1)
	usrHistEntry    = rmonOID.Append(18, 3, 1)
	zeroDotZero     = mib.OID{0, 0}
)

// usrHistoryValStatus values.
const (
	valueNotAvailable = 1
	valuePositive     = 2
	valueNegative     = 3
)

// objKey is where object obj's column col (2 variable, 3 sample type)
// is kept among its control row's values.
func objKey(obj, col uint32) uint32 { return 0x10000 + obj*4 + col }

type usrVal struct {
	abs    uint64
	status int64
}

type usrBucket struct {
	sample     int32
	start, end uint64
	vals       []usrVal
}

type usrRT struct {
	vars    []mib.OID
	delta   []bool
	next    time.Time
	primed  bool
	last    []int64
	have    []bool
	start   uint64
	sample  int32
	buckets []usrBucket
}

// usrObjects are the row's variables and whether each samples deltas.
func usrObjects(r *ctlRow) ([]mib.OID, []bool, bool) {
	n, ok := r.vals[2]
	if !ok {
		return nil, nil, false
	}
	vars, delta := make([]mib.OID, n.Int), make([]bool, n.Int)
	for i := range vars {
		v, ok := r.vals[objKey(uint32(i+1), 2)]
		if !ok || v.OID.Compare(zeroDotZero) == 0 {
			return nil, nil, false
		}
		vars[i] = v.OID
		delta[i] = r.vals[objKey(uint32(i+1), 3)].Int == sampleDelta
	}
	return vars, delta, true
}

func (p *probe) usrHistorySpec() *ctlSpec {
	return &ctlSpec{
		name: "usrHistoryControlTable", cols: seq(2, 7), statusCol: 7, rowStatus: true,
		writable: map[uint32]ctlCol{
			2: {check: checkInt(1, 65535), frozen: true},
			3: {def: defInt(50), check: checkInt(1, 65535)},
			5: {def: defInt(1800), check: checkInt(1, 1<<31-1), frozen: true},
			6: ownerCol,
		},
		ready: func(r *ctlRow) bool { _, _, ok := usrObjects(r); return ok },
		validate: func(r *ctlRow) gosnmp.SNMPError {
			if _, _, ok := usrObjects(r); !ok {
				return mib.InconsistentValue
			}
			return mib.NoError
		},
		activate: func(r *ctlRow) {
			vars, delta, _ := usrObjects(r)
			r.rt = &usrRT{vars: vars, delta: delta, next: p.now(), last: make([]int64, len(vars)), have: make([]bool, len(vars))}
		},
		computed: func(r *ctlRow, col uint32) (mib.Value, bool) {
			if col == 4 {
				return mib.Integer(min(r.num(3), maxBuckets)), true
			}
			return mib.Value{}, false
		},
	}
}

// sampleUsr takes one sample of a due row from its variables' values:
// the first only primes the deltas, each next one closes a bucket (p.mu
// held).
func (p *probe) sampleUsr(r *ctlRow, vals []mib.Value, now time.Time) {
	if r.status != statusValid {
		return
	}
	rt := r.rt.(*usrRT)
	interval := time.Duration(r.num(5)) * time.Second
	if rt.next = rt.next.Add(interval); rt.next.Before(now) {
		rt.next = now.Add(interval)
	}
	b := usrBucket{sample: rt.sample + 1, start: rt.start, end: p.uptime(), vals: make([]usrVal, len(vals))}
	for i, v := range vals {
		b.vals[i].status = valueNotAvailable
		switch v.Type {
		case gosnmp.Integer, gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Uinteger32:
		default:
			rt.have[i] = false // a delta needs two samples in a row
			continue
		}
		n, x := v.Number(), v.Number()
		if rt.delta[i] {
			if !rt.have[i] {
				rt.last[i], rt.have[i] = n, true
				continue
			}
			if x = n - rt.last[i]; v.Type == gosnmp.Counter32 && x < 0 {
				x += 1 << 32 // one wrap
			}
		}
		rt.last[i], rt.have[i] = n, true
		b.vals[i] = usrVal{abs: uint64(x), status: valuePositive}
		if x < 0 {
			b.vals[i] = usrVal{abs: uint64(-x), status: valueNegative}
		}
	}
	rt.start = b.end
	if !rt.primed {
		rt.primed = true
		return
	}
	rt.sample++
	rt.buckets = append(rt.buckets, b)
	if granted := int(min(r.num(3), maxBuckets)); len(rt.buckets) > granted {
		rt.buckets = rt.buckets[len(rt.buckets)-granted:]
	}
	p.gen++
}

// registerUsrHistory serves the three usrHistory tables.
func (p *probe) registerUsrHistory(tree *mib.Tree) {
	p.usrHist = newCtlTable(p, p.usrHistorySpec())
	tree.Register(usrHistCtlEntry, p.usrHist.handler())
	tree.Register(usrHistObjEntry, &mib.Table{
		Cols: []uint32{2, 3},
		Index: func() []mib.OID {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.cachedIndex("usrHistoryObject", func() []mib.OID {
				var out []mib.OID
				for _, o := range p.usrHist.idx {
					r := p.usrHist.rows[int32(o[0])]
					for i := int64(1); i <= r.vals[2].Int; i++ {
						out = append(out, mib.OID{o[0], uint32(i)})
					}
				}
				return out
			})
		},
		Cell: func(index mib.OID, col uint32) (mib.Value, bool) {
			p.mu.Lock()
			defer p.mu.Unlock()
			r := p.usrHist.rows[int32(index[0])]
			if r == nil || len(index) != 2 || int64(index[1]) > r.vals[2].Int {
				return mib.Value{}, false
			}
			if v, ok := r.vals[objKey(index[1], col)]; ok {
				return v, true
			}
			if col == 2 {
				return mib.ObjectID(zeroDotZero), true
			}
			return mib.Integer(sampleAbsolute), true
		},
		SetCell: func(tx *mib.Txn, index mib.OID, col uint32, v mib.Value) gosnmp.SNMPError {
			if len(index) != 2 || index[0] < 1 || index[0] > 65535 || index[1] < 1 || index[1] > 65535 {
				return mib.NoCreation
			}
			switch col {
			case 2:
				if v.Type != gosnmp.ObjectIdentifier {
					return mib.WrongType
				}
				// Only what the requester may read can be sampled for it.
				if tx.CanRead != nil && !tx.CanRead(v.OID) {
					return mib.BadValue
				}
			case 3:
				if e := checkInt(1, 2)(v); e != mib.NoError {
					return e
				}
			}
			st := p.usrHist.stage(tx, int32(index[0]))
			obj := index[1]
			tx.Check(func() gosnmp.SNMPError {
				if (st.orig == nil && !st.created) || st.deleted || int64(obj) > st.row.vals[2].Int {
					return mib.NoCreation
				}
				if st.orig != nil && st.orig.status == statusValid && st.row.status == statusValid {
					return mib.InconsistentValue // not while the row is active
				}
				return mib.NoError
			})
			st.row.vals[objKey(obj, col)] = v
			return mib.NoError
		},
	})
	tree.Register(usrHistEntry, &mib.Table{
		Cols: seq(2, 5),
		Index: func() []mib.OID {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.cachedIndex("usrHistory", func() []mib.OID {
				var out []mib.OID
				for _, r := range p.usrHist.valid() {
					for _, b := range r.rt.(*usrRT).buckets {
						for i := range b.vals {
							out = append(out, mib.OID{uint32(r.index), uint32(b.sample), uint32(i + 1)})
						}
					}
				}
				return out
			})
		},
		Cell: func(index mib.OID, col uint32) (mib.Value, bool) {
			p.mu.Lock()
			defer p.mu.Unlock()
			if len(index) != 3 {
				return mib.Value{}, false
			}
			r := p.usrHist.rows[int32(index[0])]
			if r == nil || r.status != statusValid {
				return mib.Value{}, false
			}
			for _, b := range r.rt.(*usrRT).buckets {
				if b.sample != int32(index[1]) || index[2] < 1 || int(index[2]) > len(b.vals) {
					continue
				}
				switch v := b.vals[index[2]-1]; col {
				case 2:
					return mib.TimeTicks(b.start), true
				case 3:
					return mib.TimeTicks(b.end), true
				case 4:
					return mib.Gauge32(v.abs), true
				default:
					return mib.Integer(v.status), true
				}
			}
			return mib.Value{}, false
		},
	})
}
