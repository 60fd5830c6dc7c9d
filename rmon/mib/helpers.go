package mib

import (
	"slices"
	"sort"

	"github.com/gosnmp/gosnmp"
)

// Scalar is one scalar object (instance .0).
type Scalar struct {
	Get func() Value
	// Set stages a write; nil means read-only.
	Set func(tx *Txn, v Value) gosnmp.SNMPError
}

// Scalars is a group of scalars under one prefix, keyed by sub-identifier.
type Scalars map[uint32]Scalar

func (s Scalars) keys() []uint32 {
	ks := make([]uint32, 0, len(s))
	for k := range s {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// Get implements Handler.
func (s Scalars) Get(suffix OID) (Value, bool) {
	if len(suffix) == 0 {
		return NoSuchObject, true
	}
	if _, ok := s[suffix[0]]; !ok {
		return NoSuchObject, true
	}
	if len(suffix) != 2 || suffix[1] != 0 {
		return Value{}, false
	}
	o, ok := s[suffix[0]]
	if !ok {
		return NoSuchObject, true
	}
	return o.Get(), true
}

// Next implements Handler.
func (s Scalars) Next(suffix OID) (OID, Value, bool) {
	for _, k := range s.keys() {
		inst := OID{k, 0}
		if suffix == nil || inst.Compare(suffix) > 0 {
			return inst, s[k].Get(), true
		}
	}
	return nil, Value{}, false
}

// Set implements Handler.
func (s Scalars) Set(tx *Txn, suffix OID, v Value) gosnmp.SNMPError {
	if len(suffix) == 0 {
		return NotWritable
	}
	o, ok := s[suffix[0]]
	if !ok {
		return NotWritable
	}
	if o.Set == nil {
		return NotWritable
	}
	if len(suffix) != 2 || suffix[1] != 0 {
		return NoCreation
	}
	return o.Set(tx, v)
}

// Table serves a conceptual table registered at its entry OID: instances
// are column.index.
type Table struct {
	// Cols are the accessible column numbers, ascending.
	Cols []uint32
	// Index returns the row indexes in ascending order (a snapshot the
	// table does not modify).
	Index func() []OID
	// Cell returns one cell; false if the row has no value in that column.
	Cell func(index OID, col uint32) (Value, bool)
	// SetCell stages a write (nil: the table is read-only).
	SetCell func(tx *Txn, index OID, col uint32, v Value) gosnmp.SNMPError
}

func (t *Table) hasCol(c uint32) bool {
	_, ok := slices.BinarySearch(t.Cols, c)
	return ok
}

// Get implements Handler.
func (t *Table) Get(suffix OID) (Value, bool) {
	if len(suffix) == 0 || !t.hasCol(suffix[0]) {
		return NoSuchObject, true
	}
	if len(suffix) < 2 {
		return Value{}, false
	}
	idx := t.Index()
	if _, ok := slices.BinarySearchFunc(idx, suffix[1:], OID.Compare); !ok {
		return Value{}, false
	}
	return t.Cell(suffix[1:], suffix[0])
}

// Next implements Handler.
func (t *Table) Next(suffix OID) (OID, Value, bool) {
	idx := t.Index()
	if len(idx) == 0 {
		return nil, Value{}, false
	}
	for _, c := range t.Cols {
		i := 0
		if len(suffix) > 0 {
			if c < suffix[0] {
				continue
			}
			if c == suffix[0] {
				after := suffix[1:]
				i = sort.Search(len(idx), func(j int) bool { return idx[j].Compare(after) > 0 })
			}
		}
		for ; i < len(idx); i++ {
			if v, ok := t.Cell(idx[i], c); ok {
				return OID{c}.Append(idx[i]...), v, true
			}
		}
	}
	return nil, Value{}, false
}

// Set implements Handler.
func (t *Table) Set(tx *Txn, suffix OID, v Value) gosnmp.SNMPError {
	if t.SetCell == nil || len(suffix) < 2 || !t.hasCol(suffix[0]) {
		if len(suffix) >= 2 && t.hasCol(suffix[0]) {
			if _, ok := t.Get(suffix); ok {
				return NotWritable
			}
		}
		return NoCreation
	}
	return t.SetCell(tx, slices.Clone(suffix[1:]), suffix[0], v)
}

// Func adapts three functions to a Handler.
type Func struct {
	GetFn  func(suffix OID) (Value, bool)
	NextFn func(suffix OID) (OID, Value, bool)
}

// Get implements Handler.
func (f Func) Get(suffix OID) (Value, bool) { return f.GetFn(suffix) }

// Next implements Handler.
func (f Func) Next(suffix OID) (OID, Value, bool) { return f.NextFn(suffix) }

// Set implements Handler.
func (f Func) Set(*Txn, OID, Value) gosnmp.SNMPError { return NotWritable }

// Single is one read-only scalar registered at its object OID (instance .0).
type Single func() Value

// Get implements Handler.
func (s Single) Get(suffix OID) (Value, bool) {
	if len(suffix) != 1 || suffix[0] != 0 {
		return Value{}, false
	}
	return s(), true
}

// Next implements Handler.
func (s Single) Next(suffix OID) (OID, Value, bool) {
	if len(suffix) == 0 {
		return OID{0}, s(), true
	}
	return nil, Value{}, false
}

// Set implements Handler.
func (s Single) Set(_ *Txn, suffix OID, _ Value) gosnmp.SNMPError {
	if len(suffix) == 1 && suffix[0] == 0 {
		return NotWritable
	}
	return NoCreation
}
