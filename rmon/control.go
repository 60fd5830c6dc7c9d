package rmon

import (
	"maps"
	"slices"

	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/rmon/mib"
)

// EntryStatus values (RFC 2819 textual convention).
const (
	statusValid         = 1
	statusCreateRequest = 2
	statusUnderCreation = 3
	statusInvalid       = 4
)

// ctlCol is a writable column of an RMON control table.
type ctlCol struct {
	// def is the value a new row starts with (nil: none until set).
	def func() mib.Value
	// check validates a value's type and range.
	check func(v mib.Value) gosnmp.SNMPError
	// frozen columns may not change while the row is valid.
	frozen bool
}

// ctlSpec describes one RMON1 control table: an integer index, writable
// columns kept as values, an owner and an EntryStatus, and read-only
// columns computed from the row's runtime state.
type ctlSpec struct {
	name                string
	cols                []uint32 // accessible columns, ascending
	indexCol, statusCol uint32
	writable            map[uint32]ctlCol
	// computed answers the read-only columns (called with p.mu held).
	computed func(r *ctlRow, col uint32) (mib.Value, bool)
	// validate runs when a row is about to become valid (p.mu not held).
	validate func(r *ctlRow) gosnmp.SNMPError
	// activate starts a row's runtime when it becomes valid; destroy ends
	// it (both with p.mu held).
	activate, destroy func(r *ctlRow)
	// changed runs after a committed SET of a row that stays (p.mu held);
	// old is nil for a new row.
	changed func(r, old *ctlRow)
	// ready reports whether a RowStatus row could become active (for
	// notReady versus notInService; p.mu held).
	ready func(r *ctlRow) bool
	// rowStatus makes the status column an RMON2 RowStatus (RFC 2579)
	// instead of an RMON1 EntryStatus; index columns are then
	// not-accessible (indexCol 0).
	rowStatus bool
}

// RowStatus values (RFC 2579).
const (
	rsActive        = 1
	rsNotInService  = 2
	rsNotReady      = 3
	rsCreateAndGo   = 4
	rsCreateAndWait = 5
	rsDestroy       = 6
)

// ctlRow is one row of a control table.
type ctlRow struct {
	index  int32
	status int64
	vals   map[uint32]mib.Value
	rt     any
}

func (r *ctlRow) str(col uint32) string { return string(r.vals[col].Bytes) }
func (r *ctlRow) num(col uint32) int64  { return r.vals[col].Int }

// ctlTable is a control table's rows; guarded by the probe's mutex.
type ctlTable struct {
	p    *probe
	spec *ctlSpec
	rows map[int32]*ctlRow
	idx  []mib.OID // sorted, rebuilt on change
	ver  uint64    // changes with every row change, for derived indexes
	// derived caches the index of a table derived from this one.
	derived struct {
		ver uint64
		idx []mib.OID
	}
}

// derivedIndex returns the index of a table whose rows follow this one's
// (as etherStatsHighCapacityTable follows etherStatsTable), rebuilt only
// when a row changed: a walk asks for it once per varbind (p.mu held).
func (t *ctlTable) derivedIndex(build func() []mib.OID) []mib.OID {
	if t.derived.idx == nil || t.derived.ver != t.ver {
		t.derived.idx, t.derived.ver = build(), t.ver
		if t.derived.idx == nil {
			t.derived.idx = []mib.OID{}
		}
	}
	return t.derived.idx
}

func newCtlTable(p *probe, spec *ctlSpec) *ctlTable {
	return &ctlTable{p: p, spec: spec, rows: map[int32]*ctlRow{}}
}

func (t *ctlTable) reindex() {
	t.ver++
	t.p.gen++
	t.idx = t.idx[:0:0]
	for _, k := range slices.Sorted(maps.Keys(t.rows)) {
		t.idx = append(t.idx, mib.OID{uint32(k)})
	}
}

// add inserts a row the agent creates itself (valid at once).
func (t *ctlTable) add(r *ctlRow) {
	for col, c := range t.spec.writable {
		if _, ok := r.vals[col]; !ok && c.def != nil {
			r.vals[col] = c.def()
		}
	}
	r.status = statusValid
	t.rows[r.index] = r
	if t.spec.activate != nil {
		t.spec.activate(r)
	}
	t.reindex()
}

// valid returns the valid rows in index order.
func (t *ctlTable) valid() []*ctlRow {
	var out []*ctlRow
	for _, o := range t.idx {
		if r := t.rows[int32(o[0])]; r.status == statusValid {
			out = append(out, r)
		}
	}
	return out
}

func (t *ctlTable) handler() *mib.Table {
	return &mib.Table{
		Cols: t.spec.cols,
		Index: func() []mib.OID {
			t.p.mu.Lock()
			defer t.p.mu.Unlock()
			return t.idx
		},
		Cell: func(index mib.OID, col uint32) (mib.Value, bool) {
			t.p.mu.Lock()
			defer t.p.mu.Unlock()
			r := t.rows[int32(index[0])]
			if r == nil || len(index) != 1 {
				return mib.Value{}, false
			}
			switch col {
			case t.spec.indexCol:
				return mib.Integer(int64(r.index)), true
			case t.spec.statusCol:
				if t.spec.rowStatus {
					return mib.Integer(t.rowStatusOf(r)), true
				}
				return mib.Integer(r.status), true
			}
			if _, ok := t.spec.writable[col]; ok {
				v, ok := r.vals[col]
				return v, ok
			}
			if r.status != statusValid || t.spec.computed == nil {
				return mib.Value{}, false
			}
			return t.spec.computed(r, col)
		},
		SetCell: t.set,
	}
}

// staged is a row being changed by one SET transaction.
type staged struct {
	orig             *ctlRow // nil: the row did not exist
	row              *ctlRow
	created, deleted bool
	becomesValid     bool
}

type stageKey struct {
	t     *ctlTable
	index int32
}

func (t *ctlTable) set(tx *mib.Txn, index mib.OID, col uint32, v mib.Value) gosnmp.SNMPError {
	if len(index) != 1 || index[0] < 1 || index[0] > 65535 {
		return mib.NoCreation
	}
	spec := t.spec
	wc, writable := spec.writable[col]
	if col != spec.statusCol && !writable {
		return mib.NotWritable
	}
	st := t.stage(tx, int32(index[0]))
	if col == spec.statusCol && spec.rowStatus {
		if v.Type != gosnmp.Integer {
			return mib.WrongType
		}
		return t.setRowStatus(tx, st, v.Int)
	}
	if col == spec.statusCol {
		if v.Type != gosnmp.Integer {
			return mib.WrongType
		}
		switch v.Int {
		case statusCreateRequest:
			if st.orig != nil || st.created {
				return mib.InconsistentValue
			}
			st.created = true
			st.row.status = statusUnderCreation
			for c, w := range spec.writable {
				if _, ok := st.row.vals[c]; !ok && w.def != nil {
					st.row.vals[c] = w.def()
				}
			}
		case statusValid:
			if st.orig == nil && !st.created {
				return mib.NoCreation
			}
			if st.row.status != statusValid {
				st.becomesValid = true
			}
			st.row.status = statusValid
			if spec.validate != nil {
				tx.Check(func() gosnmp.SNMPError {
					if st.deleted {
						return mib.NoError
					}
					return spec.validate(st.row)
				})
			}
		case statusInvalid:
			if st.orig == nil && !st.created {
				return mib.NoCreation
			}
			st.deleted = true
		case statusUnderCreation:
			if st.orig == nil && !st.created {
				return mib.NoCreation
			}
			if st.orig != nil && st.orig.status == statusValid {
				return mib.WrongValue
			}
		default:
			return mib.WrongValue
		}
		return mib.NoError
	}
	if wc.check != nil {
		if e := wc.check(v); e != mib.NoError {
			return e
		}
	}
	if wc.frozen && st.orig != nil && st.orig.status == statusValid {
		return mib.InconsistentValue
	}
	if st.orig == nil {
		tx.Check(func() gosnmp.SNMPError {
			if !st.created {
				return mib.NoCreation
			}
			return mib.NoError
		})
	}
	st.row.vals[col] = v
	return mib.NoError
}

// stage returns the staged state of row index in tx: the committed row's
// copy, or an empty row to create (p.mu not held).
func (t *ctlTable) stage(tx *mib.Txn, index int32) *staged {
	first := false
	st := tx.Scratch(stageKey{t, index}, func() any {
		first = true
		t.p.mu.Lock()
		defer t.p.mu.Unlock()
		s := &staged{orig: t.rows[index]}
		if s.orig != nil {
			s.row = &ctlRow{index: s.orig.index, status: s.orig.status, vals: maps.Clone(s.orig.vals), rt: s.orig.rt}
		} else {
			s.row = &ctlRow{index: index, vals: map[uint32]mib.Value{}}
		}
		return s
	}).(*staged)
	if first {
		tx.OnCommit(func() { t.commit(st) })
	}
	return st
}

func (t *ctlTable) commit(st *staged) {
	t.p.mu.Lock()
	defer t.p.mu.Unlock()
	t.ver++
	t.p.gen++
	t.p.rowsChanged++
	if st.deleted {
		if r := t.rows[st.row.index]; r != nil {
			if r.status == statusValid && t.spec.destroy != nil {
				t.spec.destroy(r)
			}
			delete(t.rows, st.row.index)
			t.reindex()
		}
		return
	}
	if o := st.orig; o != nil && o.status == statusValid && st.row.status != statusValid && t.spec.destroy != nil {
		t.spec.destroy(o) // RowStatus notInService: the row stops
	}
	t.rows[st.row.index] = st.row
	if st.becomesValid && t.spec.activate != nil {
		t.spec.activate(st.row)
	}
	if t.spec.changed != nil {
		t.spec.changed(st.row, st.orig)
	}
	if st.orig == nil {
		t.reindex()
	}
}

// Column checks.

func checkInt(lo, hi int64) func(mib.Value) gosnmp.SNMPError {
	return func(v mib.Value) gosnmp.SNMPError {
		if v.Type != gosnmp.Integer {
			return mib.WrongType
		}
		if v.Int < lo || v.Int > hi {
			return mib.WrongValue
		}
		return mib.NoError
	}
}

func checkString(max int) func(mib.Value) gosnmp.SNMPError {
	return func(v mib.Value) gosnmp.SNMPError {
		if v.Type != gosnmp.OctetString {
			return mib.WrongType
		}
		if len(v.Bytes) > max {
			return mib.WrongLength
		}
		return mib.NoError
	}
}

func checkOID(v mib.Value) gosnmp.SNMPError {
	if v.Type != gosnmp.ObjectIdentifier {
		return mib.WrongType
	}
	return mib.NoError
}

func defInt(n int64) func() mib.Value     { return func() mib.Value { return mib.Integer(n) } }
func defString(s string) func() mib.Value { return func() mib.Value { return mib.String(s) } }

// ownerCol is the OwnerString column every control table has.
var ownerCol = ctlCol{def: defString(""), check: checkString(127)}

// rowStatusOf maps a row's state to RowStatus (p.mu held).
func (t *ctlTable) rowStatusOf(r *ctlRow) int64 {
	if r.status == statusValid {
		return rsActive
	}
	if t.spec.ready != nil && !t.spec.ready(r) {
		return rsNotReady
	}
	return rsNotInService
}

// setRowStatus stages a RowStatus write (RFC 2579 state machine); internally
// active is statusValid and notInService/notReady are statusUnderCreation.
func (t *ctlTable) setRowStatus(tx *mib.Txn, st *staged, v int64) gosnmp.SNMPError {
	exists := st.orig != nil || st.created
	switch v {
	case rsCreateAndGo, rsCreateAndWait:
		if exists {
			return mib.InconsistentValue
		}
		st.created = true
		st.row.status = statusUnderCreation
		for c, w := range t.spec.writable {
			if _, ok := st.row.vals[c]; !ok && w.def != nil {
				st.row.vals[c] = w.def()
			}
		}
		if v == rsCreateAndWait {
			return mib.NoError
		}
		fallthrough
	case rsActive:
		if !exists && v == rsActive {
			return mib.InconsistentValue
		}
		if st.row.status != statusValid {
			st.becomesValid = true
		}
		st.row.status = statusValid
		if t.spec.validate != nil {
			tx.Check(func() gosnmp.SNMPError {
				if st.deleted {
					return mib.NoError
				}
				if t.spec.validate(st.row) != mib.NoError {
					return mib.InconsistentValue
				}
				return mib.NoError
			})
		}
	case rsNotInService:
		if !exists {
			return mib.InconsistentValue
		}
		st.row.status = statusUnderCreation
		st.becomesValid = false
	case rsDestroy:
		st.deleted = true
	default: // notReady cannot be set
		return mib.WrongValue
	}
	return mib.NoError
}

// subHandler serves a table indexed by a valid control row's index and
// one more integer (a report entry, a bucket, a captured packet, a log
// entry): items lists a row's second indexes in order, cell answers one
// column (both with p.mu held).
func (p *probe) subHandler(ctl *ctlTable, cols []uint32, items func(r *ctlRow) []uint32, cell func(r *ctlRow, sub, col uint32) (mib.Value, bool)) *mib.Table {
	key := ctl.spec.name + "/sub"
	return &mib.Table{
		Cols: cols,
		Index: func() []mib.OID {
			p.mu.Lock()
			defer p.mu.Unlock()
			return p.cachedIndex(key, func() []mib.OID {
				var out []mib.OID
				for _, r := range ctl.valid() {
					for _, s := range items(r) {
						out = append(out, mib.OID{uint32(r.index), s})
					}
				}
				return out
			})
		},
		Cell: func(index mib.OID, col uint32) (mib.Value, bool) {
			p.mu.Lock()
			defer p.mu.Unlock()
			if len(index) != 2 {
				return mib.Value{}, false
			}
			r := ctl.rows[int32(index[0])]
			if r == nil || r.status != statusValid {
				return mib.Value{}, false
			}
			return cell(r, index[1], col)
		},
	}
}
