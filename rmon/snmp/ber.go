package snmp

import (
	"errors"
	"fmt"

	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/rmon/mib"
)

// The request path has its own BER reader and writer rather than gosnmp's
// SnmpDecodePacket/MarshalMsg: gosnmp keeps the request-id as uint32 (a
// negative id would be echoed as a different number), non-repeaters as
// uint8 (300 becomes 44), masks a negative max-repetitions into a huge
// positive one, keeps error-index as uint8 and OIDs as strings, and does
// not verify HMACs. gosnmp supplies the type tags, error codes and the USM
// key localization (usm.go).

var errBER = errors.New("snmp: malformed BER")

// reader reads TLVs from b[off:end]; offsets are absolute in the message so
// the authentication parameters can be located for HMAC verification.
type reader struct {
	b        []byte
	off, end int
}

func newReader(b []byte) *reader { return &reader{b: b, end: len(b)} }

func (r *reader) more() bool { return r.off < r.end }

// tlv reads one element: its tag and the absolute bounds of its content.
func (r *reader) tlv() (tag byte, start, end int, err error) {
	if r.end-r.off < 2 {
		return 0, 0, 0, errBER
	}
	tag = r.b[r.off]
	if tag&0x1f == 0x1f {
		return 0, 0, 0, errBER // multi-byte tags are not used by SNMP
	}
	l := int(r.b[r.off+1])
	p := r.off + 2
	if l&0x80 != 0 {
		n := l & 0x7f
		if n == 0 || n > 3 || r.end-p < n {
			return 0, 0, 0, errBER // indefinite or absurd lengths
		}
		l = 0
		for i := 0; i < n; i++ {
			l = l<<8 | int(r.b[p+i])
		}
		p += n
	}
	if l > r.end-p {
		return 0, 0, 0, errBER
	}
	r.off = p + l
	return tag, p, p + l, nil
}

// expect reads an element that must have tag.
func (r *reader) expect(tag byte) (start, end int, err error) {
	t, s, e, err := r.tlv()
	if err != nil {
		return 0, 0, err
	}
	if t != tag {
		return 0, 0, fmt.Errorf("%w: tag %#x, want %#x", errBER, t, tag)
	}
	return s, e, nil
}

// sub returns a reader over the content of a constructed element.
func (r *reader) sub(tag byte) (*reader, error) {
	s, e, err := r.expect(tag)
	if err != nil {
		return nil, err
	}
	return &reader{b: r.b, off: s, end: e}, nil
}

func (r *reader) integer() (int64, error) {
	s, e, err := r.expect(byte(gosnmp.Integer))
	if err != nil {
		return 0, err
	}
	return parseInt(r.b[s:e])
}

func (r *reader) octets() ([]byte, error) {
	s, e, err := r.expect(byte(gosnmp.OctetString))
	if err != nil {
		return nil, err
	}
	return r.b[s:e], nil
}

func parseInt(c []byte) (int64, error) {
	if len(c) == 0 || len(c) > 8 {
		return 0, errBER
	}
	v := int64(int8(c[0]))
	for _, x := range c[1:] {
		v = v<<8 | int64(x)
	}
	return v, nil
}

func parseUint(c []byte, max int) (uint64, error) {
	if len(c) == 0 || len(c) > max+1 || (len(c) == max+1 && c[0] != 0) {
		return 0, errBER
	}
	var v uint64
	for _, x := range c {
		v = v<<8 | uint64(x)
	}
	if c[0]&0x80 != 0 {
		return 0, errBER // negative where an unsigned value is required
	}
	return v, nil
}

func parseOID(c []byte) (mib.OID, error) {
	if len(c) == 0 || len(c) > 256 {
		return nil, errBER
	}
	o := make(mib.OID, 0, len(c)+1)
	var v uint64
	first := true
	for i, x := range c {
		if v == 0 && x == 0x80 {
			return nil, errBER // non-minimal sub-identifier
		}
		v = v<<7 | uint64(x&0x7f)
		if v > 0xffffffff {
			return nil, errBER
		}
		if x&0x80 != 0 {
			if i == len(c)-1 {
				return nil, errBER
			}
			continue
		}
		if first {
			first = false
			switch {
			case v < 40:
				o = append(o, 0, uint32(v))
			case v < 80:
				o = append(o, 1, uint32(v-40))
			default:
				o = append(o, 2, uint32(v-80))
			}
		} else {
			o = append(o, uint32(v))
		}
		v = 0
	}
	return o, nil
}

// value decodes a varbind value element.
func (r *reader) value() (mib.Value, error) {
	t, s, e, err := r.tlv()
	if err != nil {
		return mib.Value{}, err
	}
	c := r.b[s:e]
	v := mib.Value{Type: gosnmp.Asn1BER(t)}
	switch v.Type {
	case gosnmp.Integer:
		n, err := parseInt(c)
		if err != nil || n < -1<<31 || n > 1<<31-1 {
			return v, errBER
		}
		v.Int = n
	case gosnmp.OctetString, gosnmp.Opaque:
		v.Bytes = c
	case gosnmp.IPAddress:
		if len(c) != 4 {
			return v, errBER
		}
		v.Bytes = c
	case gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Uinteger32:
		if v.Uint, err = parseUint(c, 4); err != nil {
			return v, err
		}
	case gosnmp.Counter64:
		if v.Uint, err = parseUint(c, 8); err != nil {
			return v, err
		}
	case gosnmp.ObjectIdentifier:
		if v.OID, err = parseOID(c); err != nil {
			return v, err
		}
	case gosnmp.Null, gosnmp.NoSuchObject, gosnmp.NoSuchInstance, gosnmp.EndOfMibView:
		if len(c) != 0 {
			return v, errBER
		}
	default:
		return v, fmt.Errorf("%w: value tag %#x", errBER, t)
	}
	return v, nil
}

// writer builds a message backwards (from its end), so every length is
// known when its header is written and no bytes move.
type writer struct {
	buf []byte
	pos int
}

func newWriter(size int) *writer { return &writer{buf: make([]byte, size), pos: size} }

// Len is the number of bytes written so far.
func (w *writer) Len() int { return len(w.buf) - w.pos }

// Bytes are the bytes written so far.
func (w *writer) Bytes() []byte { return w.buf[w.pos:] }

func (w *writer) grow(n int) {
	if w.pos >= n {
		return
	}
	nb := make([]byte, 2*len(w.buf)+n)
	np := len(nb) - w.Len()
	copy(nb[np:], w.Bytes())
	w.buf, w.pos = nb, np
}

func (w *writer) prepend(b ...byte) {
	w.grow(len(b))
	w.pos -= len(b)
	copy(w.buf[w.pos:], b)
}

// header writes a tag and the length of the n bytes after it.
func (w *writer) header(tag byte, n int) {
	w.grow(6)
	switch {
	case n < 0x80:
		w.pos -= 2
		w.buf[w.pos], w.buf[w.pos+1] = tag, byte(n)
	case n < 0x100:
		w.pos -= 3
		w.buf[w.pos], w.buf[w.pos+1], w.buf[w.pos+2] = tag, 0x81, byte(n)
	case n < 0x10000:
		w.pos -= 4
		w.buf[w.pos], w.buf[w.pos+1], w.buf[w.pos+2], w.buf[w.pos+3] = tag, 0x82, byte(n>>8), byte(n)
	default:
		w.pos -= 5
		w.buf[w.pos], w.buf[w.pos+1], w.buf[w.pos+2], w.buf[w.pos+3], w.buf[w.pos+4] = tag, 0x83, byte(n>>16), byte(n>>8), byte(n)
	}
}

func headerLen(n int) int {
	switch {
	case n < 0x80:
		return 2
	case n < 0x100:
		return 3
	case n < 0x10000:
		return 4
	}
	return 5
}

func (w *writer) octets(tag byte, b []byte) {
	w.prepend(b...)
	w.header(tag, len(b))
}

func intLen(v int64) int {
	n := 1
	for v > 127 || v < -128 {
		v >>= 8
		n++
	}
	return n
}

// integer writes v in two's complement; its n <= 8 low bytes are the same
// whether v is shifted as int64 or as uint64.
func (w *writer) integer(tag byte, v int64) { w.bigEndian(tag, intLen(v), uint64(v)) }

func uintLen(v uint64) int {
	n := 1
	for v > 127 {
		v >>= 8
		n++
	}
	return n
}

func (w *writer) unsigned(tag byte, v uint64) { w.bigEndian(tag, uintLen(v), v) }

// bigEndian writes the n low bytes of v, most significant first.
func (w *writer) bigEndian(tag byte, n int, v uint64) {
	w.grow(n + 2)
	for i := 1; i <= n; i++ {
		w.buf[w.pos-i] = byte(v)
		v >>= 8
	}
	w.pos -= n
	w.header(tag, n)
}

func subidLen(v uint32) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func oidContentLen(o mib.OID) int {
	if len(o) < 2 {
		return 1
	}
	n := subidLen(o[0]*40 + o[1])
	for _, v := range o[2:] {
		n += subidLen(v)
	}
	return n
}

func (w *writer) oid(o mib.OID) {
	n := oidContentLen(o)
	w.grow(n + 6)
	put := func(v uint32) {
		w.pos--
		w.buf[w.pos] = byte(v & 0x7f)
		for v >>= 7; v > 0; v >>= 7 {
			w.pos--
			w.buf[w.pos] = byte(v&0x7f) | 0x80
		}
	}
	switch {
	case len(o) < 2:
		w.pos--
		w.buf[w.pos] = 0
		if len(o) == 1 {
			w.buf[w.pos] = byte(o[0] * 40)
		}
	default:
		for i := len(o) - 1; i >= 2; i-- {
			put(o[i])
		}
		put(o[0]*40 + o[1])
	}
	w.header(byte(gosnmp.ObjectIdentifier), n)
}

func valueContentLen(v mib.Value) int {
	switch v.Type {
	case gosnmp.Integer:
		return intLen(v.Int)
	case gosnmp.OctetString, gosnmp.Opaque, gosnmp.IPAddress:
		return len(v.Bytes)
	case gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Counter64, gosnmp.Uinteger32:
		return uintLen(v.Uint)
	case gosnmp.ObjectIdentifier:
		return oidContentLen(v.OID)
	}
	return 0
}

func (w *writer) value(v mib.Value) {
	switch v.Type {
	case gosnmp.Integer:
		w.integer(byte(v.Type), v.Int)
	case gosnmp.OctetString, gosnmp.Opaque, gosnmp.IPAddress:
		w.octets(byte(v.Type), v.Bytes)
	case gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks, gosnmp.Counter64, gosnmp.Uinteger32:
		w.unsigned(byte(v.Type), v.Uint)
	case gosnmp.ObjectIdentifier:
		w.oid(v.OID)
	default: // Null and the exceptions
		w.header(byte(v.Type), 0)
	}
}

// varbindLen is the encoded size of one varbind.
func varbindLen(o mib.OID, v mib.Value) int {
	on := oidContentLen(o)
	vn := valueContentLen(v)
	c := headerLen(on) + on + headerLen(vn) + vn
	return headerLen(c) + c
}

func (w *writer) varbind(vb VarBind) {
	end := w.Len()
	w.value(vb.Value)
	w.oid(vb.OID)
	w.header(byte(gosnmp.Sequence), w.Len()-end)
}
