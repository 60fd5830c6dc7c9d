package mib

import (
	"testing"

	"github.com/gosnmp/gosnmp"
)

func TestOID(t *testing.T) {
	o := MustOID(".1.3.6.1")
	if o.String() != "1.3.6.1" || o.Compare(MustOID("1.3.6")) != 1 || o.Compare(MustOID("1.3.6.2")) != -1 || o.Compare(o) != 0 {
		t.Errorf("compare / string of %v", o)
	}
	if !o.HasPrefix(MustOID("1.3")) || o.HasPrefix(MustOID("1.4")) {
		t.Error("HasPrefix")
	}
	for _, bad := range []string{"", "1..2", "1.x", "1.4294967296"} {
		if _, err := ParseOID(bad); err == nil {
			t.Errorf("ParseOID(%q) accepted", bad)
		}
	}
}

func TestTreeNext(t *testing.T) {
	tr := &Tree{}
	tr.Register(MustOID("1.3.6.1.2.1.1"), Scalars{1: {Get: func() Value { return String("a") }}, 3: {Get: func() Value { return TimeTicks(5) }}})
	idx := []OID{{1}, {2, 5}, {3}}
	tr.Register(MustOID("1.3.6.1.2.1.2.2.1"), &Table{
		Cols:  []uint32{1, 4},
		Index: func() []OID { return idx },
		Cell: func(i OID, c uint32) (Value, bool) {
			if c == 4 && i[0] == 2 {
				return Value{}, false // a hole: skipped by Next
			}
			return Integer(int64(c*100 + i[0])), true
		},
	})
	tr.Register(MustOID("1.3.6.1.2.1.2.1"), Single(func() Value { return Integer(3) }))
	var got []string
	o := MustOID("1")
	for {
		n, v, ok := tr.Next(o)
		if !ok {
			break
		}
		got = append(got, n.String()+"="+v.String())
		o = n
	}
	want := []string{
		`1.3.6.1.2.1.1.1.0=STRING: "a"`, "1.3.6.1.2.1.1.3.0=TimeTicks: 5 ",
		"1.3.6.1.2.1.2.1.0=INTEGER: 3",
		"1.3.6.1.2.1.2.2.1.1.1=INTEGER: 101", "1.3.6.1.2.1.2.2.1.1.2.5=INTEGER: 102", "1.3.6.1.2.1.2.2.1.1.3=INTEGER: 103",
		"1.3.6.1.2.1.2.2.1.4.1=INTEGER: 401", "1.3.6.1.2.1.2.2.1.4.3=INTEGER: 403",
	}
	if len(got) != len(want) {
		t.Fatalf("walk:\n%v\nwant\n%v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("step %d: %s, want %s", i, got[i], want[i])
		}
	}
	// Next from inside a row index and from between columns.
	if n, _, _ := tr.Next(MustOID("1.3.6.1.2.1.2.2.1.1.2")); n.String() != "1.3.6.1.2.1.2.2.1.1.2.5" {
		t.Errorf("next of a partial index: %v", n)
	}
	if n, _, _ := tr.Next(MustOID("1.3.6.1.2.1.2.2.1.2")); n.String() != "1.3.6.1.2.1.2.2.1.4.1" {
		t.Errorf("next of a missing column: %v", n)
	}
	for o, want := range map[string]gosnmp.Asn1BER{
		"1.3.6.1.2.1.1.2.0": gosnmp.NoSuchObject, "1.3.6.1.2.1.1.1.1": gosnmp.NoSuchInstance,
		"1.3.6.1.2.1.2.2.1.4.2": gosnmp.NoSuchInstance, "1.3.6.1.2.1.2.2.1.2.1": gosnmp.NoSuchObject, "1.4": gosnmp.NoSuchObject,
	} {
		if v := tr.Get(MustOID(o)); v.Type != want {
			t.Errorf("Get %s: %v, want %v", o, v.Type, want)
		}
	}
}

func TestTxnAllOrNothing(t *testing.T) {
	var applied []int
	tx := &Txn{}
	for i := 1; i <= 3; i++ {
		tx.Cur = i
		tx.OnCommit(func() { applied = append(applied, i) })
		tx.Check(func() gosnmp.SNMPError {
			if i == 2 {
				return InconsistentValue
			}
			return NoError
		})
	}
	if st, idx := tx.Finish(); st != InconsistentValue || idx != 2 || len(applied) != 0 {
		t.Errorf("Finish: %v at %d, applied %v", st, idx, applied)
	}
}
