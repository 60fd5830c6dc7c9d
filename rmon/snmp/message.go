package snmp

import (
	"fmt"

	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/rmon/mib"
)

// Versions on the wire.
const (
	V1  = 0
	V2c = 1
	V3  = 3
)

// msgFlags bits (RFC 3412).
const (
	flagAuth       = 1
	flagPriv       = 2
	flagReportable = 4
)

// VarBind is one variable binding.
type VarBind struct {
	OID   mib.OID
	Value mib.Value
}

// PDU is a request or response PDU. For GetBulk, NonRepeaters and
// MaxRepetitions share the error fields' positions.
type PDU struct {
	Type      gosnmp.PDUType
	RequestID int32
	// ErrorStatus / NonRepeaters and ErrorIndex / MaxRepetitions as
	// decoded (any integer).
	ErrorStatus, ErrorIndex int64
	VarBinds                []VarBind
}

// Message is a decoded SNMP message.
type Message struct {
	Version   int
	Community []byte

	// SNMPv3 header and USM security parameters.
	MsgID      int32
	MaxSize    int64
	Flags      byte
	SecModel   int64
	EngineID   []byte
	Boots      int64
	Time       int64
	User       []byte
	AuthParams []byte
	authOff    int // offset of AuthParams' content in the raw message
	PrivParams []byte
	// Encrypted is the msgData of a privacy-protected message; PDU is
	// decoded from it only after decryption (decodeScoped).
	Encrypted       []byte
	ContextEngineID []byte
	ContextName     []byte

	PDU PDU
}

// decodeMessage decodes the message envelope and, unless encrypted, the PDU.
func decodeMessage(b []byte) (*Message, error) {
	r := newReader(b)
	top, err := r.sub(byte(gosnmp.Sequence))
	if err != nil {
		return nil, err
	}
	if r.more() {
		return nil, fmt.Errorf("%w: trailing bytes", errBER)
	}
	m := &Message{}
	v, err := top.integer()
	if err != nil {
		return nil, err
	}
	m.Version = int(v)
	switch v {
	case V1, V2c:
		if m.Community, err = top.octets(); err != nil {
			return nil, err
		}
		if err := m.PDU.decode(top); err != nil {
			return nil, err
		}
	case V3:
		if err := m.decodeV3(top); err != nil {
			return nil, err
		}
	default:
		return m, errBadVersion
	}
	if top.more() {
		return nil, fmt.Errorf("%w: trailing bytes in message", errBER)
	}
	return m, nil
}

var errBadVersion = fmt.Errorf("snmp: unknown version")

func (m *Message) decodeV3(top *reader) error {
	hdr, err := top.sub(byte(gosnmp.Sequence))
	if err != nil {
		return err
	}
	id, err := hdr.integer()
	if err != nil || id < 0 || id > 1<<31-1 {
		return errBER
	}
	m.MsgID = int32(id)
	if m.MaxSize, err = hdr.integer(); err != nil {
		return err
	}
	fl, err := hdr.octets()
	if err != nil || len(fl) != 1 {
		return errBER
	}
	m.Flags = fl[0]
	if m.SecModel, err = hdr.integer(); err != nil {
		return err
	}
	sp, err := top.octets()
	if err != nil {
		return err
	}
	// The security parameters are a BER sequence inside the octet string.
	spStart := top.off - len(sp)
	sr := &reader{b: top.b, off: spStart, end: top.off}
	usm, err := sr.sub(byte(gosnmp.Sequence))
	if err != nil {
		return err
	}
	if m.EngineID, err = usm.octets(); err != nil {
		return err
	}
	if m.Boots, err = usm.integer(); err != nil {
		return err
	}
	if m.Time, err = usm.integer(); err != nil {
		return err
	}
	if m.User, err = usm.octets(); err != nil {
		return err
	}
	if m.AuthParams, err = usm.octets(); err != nil {
		return err
	}
	m.authOff = usm.off - len(m.AuthParams)
	if m.PrivParams, err = usm.octets(); err != nil {
		return err
	}
	if m.Flags&flagPriv != 0 {
		if m.Encrypted, err = top.octets(); err != nil {
			return err
		}
		return nil
	}
	return m.decodeScoped(top)
}

// decodeScoped decodes a ScopedPDU from r.
func (m *Message) decodeScoped(r *reader) error {
	s, err := r.sub(byte(gosnmp.Sequence))
	if err != nil {
		return err
	}
	if m.ContextEngineID, err = s.octets(); err != nil {
		return err
	}
	if m.ContextName, err = s.octets(); err != nil {
		return err
	}
	return m.PDU.decode(s)
}

func (p *PDU) decode(r *reader) error {
	t, s, e, err := r.tlv()
	if err != nil {
		return err
	}
	p.Type = gosnmp.PDUType(t)
	switch p.Type {
	case gosnmp.GetRequest, gosnmp.GetNextRequest, gosnmp.GetBulkRequest, gosnmp.SetRequest,
		gosnmp.GetResponse, gosnmp.Report, gosnmp.SNMPv2Trap, gosnmp.InformRequest:
	default:
		return fmt.Errorf("%w: PDU type %#x", errBER, t)
	}
	pr := &reader{b: r.b, off: s, end: e}
	id, err := pr.integer()
	if err != nil {
		return err
	}
	if id < -1<<31 || id > 1<<31-1 {
		return fmt.Errorf("%w: request-id %d out of range", errBER, id)
	}
	p.RequestID = int32(id)
	if p.ErrorStatus, err = pr.integer(); err != nil {
		return err
	}
	if p.ErrorIndex, err = pr.integer(); err != nil {
		return err
	}
	vbl, err := pr.sub(byte(gosnmp.Sequence))
	if err != nil {
		return err
	}
	for vbl.more() {
		vb, err := vbl.sub(byte(gosnmp.Sequence))
		if err != nil {
			return err
		}
		os, oe, err := vb.expect(byte(gosnmp.ObjectIdentifier))
		if err != nil {
			return err
		}
		o, err := parseOID(vb.b[os:oe])
		if err != nil {
			return err
		}
		v, err := vb.value()
		if err != nil {
			return err
		}
		if vb.more() {
			return fmt.Errorf("%w: trailing bytes in varbind", errBER)
		}
		p.VarBinds = append(p.VarBinds, VarBind{o, v})
	}
	if pr.more() {
		return fmt.Errorf("%w: trailing bytes in PDU", errBER)
	}
	return nil
}

// encodePDU writes a PDU (backwards: the caller has nothing after it yet).
func (w *writer) pdu(p *PDU) {
	end := w.Len()
	vbEnd := w.Len()
	for i := len(p.VarBinds) - 1; i >= 0; i-- {
		w.varbind(p.VarBinds[i])
	}
	w.header(byte(gosnmp.Sequence), w.Len()-vbEnd)
	w.integer(byte(gosnmp.Integer), p.ErrorIndex)
	w.integer(byte(gosnmp.Integer), p.ErrorStatus)
	w.integer(byte(gosnmp.Integer), int64(p.RequestID))
	w.header(byte(p.Type), w.Len()-end)
}

// pduOverhead is the size of a PDU's fixed fields around n bytes of varbinds.
func pduLen(p *PDU, vbBytes int) int {
	c := headerLen(vbBytes) + vbBytes + 2 + intLen(p.ErrorIndex) + 2 + intLen(p.ErrorStatus) + 2 + intLen(int64(p.RequestID))
	return headerLen(c) + c
}

// encodeCommunity encodes a v1/v2c message.
func encodeCommunity(version int, community []byte, p *PDU) []byte {
	w := newWriter(512)
	w.pdu(p)
	w.octets(byte(gosnmp.OctetString), community)
	w.integer(byte(gosnmp.Integer), int64(version))
	w.header(byte(gosnmp.Sequence), w.Len())
	return w.Bytes()
}
