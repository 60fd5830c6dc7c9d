package mib

import (
	"fmt"
	"slices"
	"sort"

	"github.com/gosnmp/gosnmp"
)

// SNMPv2 error-status values (RFC 3416) not named by gosnmp as we need them.
const (
	NoError             = gosnmp.NoError
	TooBig              = gosnmp.TooBig
	NoSuchName          = gosnmp.NoSuchName
	BadValue            = gosnmp.BadValue
	GenErr              = gosnmp.GenErr
	NoAccess            = gosnmp.NoAccess
	WrongType           = gosnmp.WrongType
	WrongLength         = gosnmp.WrongLength
	WrongValue          = gosnmp.WrongValue
	NoCreation          = gosnmp.NoCreation
	InconsistentValue   = gosnmp.InconsistentValue
	ResourceUnavailable = gosnmp.ResourceUnavailable
	NotWritable         = gosnmp.NotWritable
	InconsistentName    = gosnmp.InconsistentName
	AuthorizationError  = gosnmp.AuthorizationError
)

// Handler serves the instances of one registered subtree. Suffixes are
// relative to the registration prefix.
type Handler interface {
	// Get returns the instance named by suffix; false means no such instance.
	Get(suffix OID) (Value, bool)
	// Next returns the first instance strictly after suffix (nil: the
	// first instance of the subtree).
	Next(suffix OID) (OID, Value, bool)
	// Set stages a write into tx; it changes nothing until tx commits.
	Set(tx *Txn, suffix OID, v Value) gosnmp.SNMPError
}

type reg struct {
	prefix OID
	h      Handler
}

// Tree is a set of non-overlapping registrations sorted by prefix. It is
// not safe for concurrent Register; lookups may run concurrently with each
// other (handlers do their own locking).
type Tree struct {
	regs []reg
}

// Register adds a handler for the subtree at prefix.
func (t *Tree) Register(prefix OID, h Handler) {
	for _, r := range t.regs {
		if prefix.HasPrefix(r.prefix) || r.prefix.HasPrefix(prefix) {
			panic(fmt.Sprintf("mib: %s overlaps %s", prefix, r.prefix))
		}
	}
	t.regs = append(t.regs, reg{slices.Clone(prefix), h})
	slices.SortFunc(t.regs, func(a, b reg) int { return a.prefix.Compare(b.prefix) })
}

// find returns the index of the first registration whose prefix sorts
// after o, and the registration containing o (-1 if none).
func (t *Tree) find(o OID) (after, within int) {
	after = sort.Search(len(t.regs), func(i int) bool { return t.regs[i].prefix.Compare(o) > 0 })
	within = -1
	if after > 0 && o.HasPrefix(t.regs[after-1].prefix) {
		within = after - 1
	}
	return after, within
}

// Get returns the value of o, or NoSuchObject / NoSuchInstance (a handler
// may return NoSuchObject itself for an object it does not have).
func (t *Tree) Get(o OID) Value {
	_, i := t.find(o)
	if i < 0 {
		return NoSuchObject
	}
	r := t.regs[i]
	if v, ok := r.h.Get(o[len(r.prefix):]); ok {
		return v
	}
	return NoSuchInstance
}

// Next returns the first instance after o, false at the end of the MIB view.
func (t *Tree) Next(o OID) (OID, Value, bool) {
	after, within := t.find(o)
	if within >= 0 {
		r := t.regs[within]
		if s, v, ok := r.h.Next(o[len(r.prefix):]); ok {
			return r.prefix.Append(s...), v, true
		}
	}
	for _, r := range t.regs[after:] {
		if s, v, ok := r.h.Next(nil); ok {
			return r.prefix.Append(s...), v, true
		}
	}
	return nil, Value{}, false
}

// Set stages a write of o into tx.
func (t *Tree) Set(tx *Txn, o OID, v Value) gosnmp.SNMPError {
	_, i := t.find(o)
	if i < 0 {
		return NotWritable
	}
	r := t.regs[i]
	return r.h.Set(tx, o[len(r.prefix):], v)
}

// Txn is one SET request: handlers stage their changes in its scratch
// space, register checks that run once every varbind is staged (a row's
// consistency depends on all of them), and commits that run only when
// every check passed.
type Txn struct {
	// Cur is the 1-based index of the varbind being staged.
	Cur int
	// CanRead reports whether the requester may read o (nil: anything),
	// for objects that name other objects (RFC 4502 usrHistoryObjectVariable).
	CanRead func(o OID) bool
	scratch map[any]any
	checks  []check
	commits []func()
}

type check struct {
	idx int
	fn  func() gosnmp.SNMPError
}

// Scratch returns the staged state under key, made by mk on first use.
func (tx *Txn) Scratch(key any, mk func() any) any {
	if tx.scratch == nil {
		tx.scratch = map[any]any{}
	}
	v, ok := tx.scratch[key]
	if !ok {
		v = mk()
		tx.scratch[key] = v
	}
	return v
}

// Check adds a consistency check charged to the current varbind.
func (tx *Txn) Check(fn func() gosnmp.SNMPError) { tx.checks = append(tx.checks, check{tx.Cur, fn}) }

// OnCommit adds a change to apply if the transaction commits.
func (tx *Txn) OnCommit(fn func()) { tx.commits = append(tx.commits, fn) }

// Finish runs the checks; when all pass it commits and returns NoError,
// else it returns the first failure and the varbind index it names.
func (tx *Txn) Finish() (gosnmp.SNMPError, int) {
	for _, c := range tx.checks {
		if st := c.fn(); st != NoError {
			return st, c.idx
		}
	}
	for _, fn := range tx.commits {
		fn()
	}
	return NoError, 0
}
