package mib

import (
	"fmt"

	"github.com/gosnmp/gosnmp"
)

// Value is a varbind value: its BER type (gosnmp's tags) and the field
// that type uses.
type Value struct {
	Type  gosnmp.Asn1BER
	Int   int64  // Integer
	Uint  uint64 // Counter32, Gauge32, TimeTicks, Counter64
	Bytes []byte // OctetString, IPAddress, Opaque
	OID   OID    // ObjectIdentifier
}

// Value constructors.
func Integer(v int64) Value      { return Value{Type: gosnmp.Integer, Int: v} }
func Counter32(v uint64) Value   { return Value{Type: gosnmp.Counter32, Uint: v & 0xffffffff} }
func Gauge32(v uint64) Value     { return Value{Type: gosnmp.Gauge32, Uint: min(v, 0xffffffff)} }
func TimeTicks(v uint64) Value   { return Value{Type: gosnmp.TimeTicks, Uint: v & 0xffffffff} }
func Counter64(v uint64) Value   { return Value{Type: gosnmp.Counter64, Uint: v} }
func OctetString(b []byte) Value { return Value{Type: gosnmp.OctetString, Bytes: b} }
func String(s string) Value      { return Value{Type: gosnmp.OctetString, Bytes: []byte(s)} }
func ObjectID(o OID) Value       { return Value{Type: gosnmp.ObjectIdentifier, OID: o} }
func IPAddress(ip [4]byte) Value { return Value{Type: gosnmp.IPAddress, Bytes: ip[:]} }

// Null is the NULL value of requests.
var Null = Value{Type: gosnmp.Null}

// Exception values (SNMPv2 varbind exceptions).
var (
	NoSuchObject   = Value{Type: gosnmp.NoSuchObject}
	NoSuchInstance = Value{Type: gosnmp.NoSuchInstance}
	EndOfMibView   = Value{Type: gosnmp.EndOfMibView}
)

// IsInteger reports whether v has a numeric value an alarm can sample.
func (v Value) IsInteger() bool {
	switch v.Type {
	case gosnmp.Integer, gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Counter64, gosnmp.Uinteger32:
		return true
	}
	return false
}

// Number is the numeric value of an integer-typed value.
func (v Value) Number() int64 {
	if v.Type == gosnmp.Integer {
		return v.Int
	}
	return int64(v.Uint)
}

func (v Value) String() string {
	switch v.Type {
	case gosnmp.Integer:
		return fmt.Sprintf("INTEGER: %d", v.Int)
	case gosnmp.OctetString:
		return fmt.Sprintf("STRING: %q", v.Bytes)
	case gosnmp.ObjectIdentifier:
		return "OID: " + v.OID.String()
	case gosnmp.Null:
		return "NULL"
	}
	return fmt.Sprintf("%v: %d %x", v.Type, v.Uint, v.Bytes)
}
