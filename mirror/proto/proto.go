package proto

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
)

// Magic opens every message: "WM".
const Magic uint16 = 0x574d

// Version is the protocol version this package speaks.
const Version uint8 = 1

// SupportedVersions are the versions this implementation accepts.
var SupportedVersions = []uint8{Version}

// HeaderLen is the size of the fixed message header.
const HeaderLen = 16

// MaxPayload bounds a message's payload; a longer one is a protocol error.
const MaxPayload = 1 << 20

// MaxString bounds a string field.
const MaxString = 1024

// DefaultPort is the TCP port the mirror service listens on by default.
const DefaultPort = 7412

// Type is a message's type.
type Type uint8

const (
	TypeQuery    Type = 1
	TypeResponse Type = 2
	TypeReport   Type = 3
	TypeError    Type = 4
	TypeData     Type = 5
)

func (t Type) String() string {
	switch t {
	case TypeQuery:
		return "query"
	case TypeResponse:
		return "response"
	case TypeReport:
		return "report"
	case TypeError:
		return "error"
	case TypeData:
		return "data"
	}
	return "type(" + strconv.Itoa(int(t)) + ")"
}

// Op is the operation of a query, response or report (first two payload bytes).
type Op uint16

const (
	OpHello    Op = 1 // query/response: version and credentials
	OpList     Op = 2 // query/response: ports available
	OpRequest  Op = 3 // query/response: take a port on a channel
	OpRelease  Op = 4 // query/response: give the channel's port back
	OpCounters Op = 5 // query/response: the channel's counters
	OpPing     Op = 6 // query/response: tunnel round trip, either side asks
	OpLink     Op = 7 // report: the channel's port changed (link, speed, MTU, ...)
	OpGone     Op = 8 // report: the channel's port is no longer mirrored
)

// Header is the fixed header of every message.
type Header struct {
	Version uint8
	Type    Type
	Flags   uint16
	Channel uint16
	Seq     uint32
	Length  uint32 // payload length
}

// Errors of the framing layer; each ends the session that produced it.
var (
	ErrMagic     = errors.New("mirror: bad magic (not a mirror protocol peer)")
	ErrTooLarge  = errors.New("mirror: message too large")
	ErrMalformed = errors.New("mirror: malformed message")
)

// AppendHeader appends h in wire form.
func AppendHeader(b []byte, h Header) []byte {
	b = binary.BigEndian.AppendUint16(b, Magic)
	b = append(b, h.Version, byte(h.Type))
	b = binary.BigEndian.AppendUint16(b, h.Flags)
	b = binary.BigEndian.AppendUint16(b, h.Channel)
	b = binary.BigEndian.AppendUint32(b, h.Seq)
	return binary.BigEndian.AppendUint32(b, h.Length)
}

// ParseHeader decodes a header from the first HeaderLen bytes of b.
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, fmt.Errorf("%w: short header", ErrMalformed)
	}
	if binary.BigEndian.Uint16(b) != Magic {
		return Header{}, ErrMagic
	}
	h := Header{
		Version: b[2], Type: Type(b[3]),
		Flags:   binary.BigEndian.Uint16(b[4:]),
		Channel: binary.BigEndian.Uint16(b[6:]),
		Seq:     binary.BigEndian.Uint32(b[8:]),
		Length:  binary.BigEndian.Uint32(b[12:]),
	}
	if h.Length > MaxPayload {
		return h, fmt.Errorf("%w: payload of %d bytes (limit %d)", ErrTooLarge, h.Length, MaxPayload)
	}
	if h.Type < TypeQuery || h.Type > TypeData {
		return h, fmt.Errorf("%w: unknown message type %d", ErrMalformed, h.Type)
	}
	return h, nil
}

// Message is one decoded message; Payload aliases the reader's buffer.
type Message struct {
	Header
	Payload []byte
}

// Op is the operation of a query, response or report payload.
func (m Message) Op() (Op, []byte, error) {
	if len(m.Payload) < 2 {
		return 0, nil, fmt.Errorf("%w: %s without an operation", ErrMalformed, m.Type)
	}
	return Op(binary.BigEndian.Uint16(m.Payload)), m.Payload[2:], nil
}

// Reader reads messages from a stream into one reused buffer.
type Reader struct {
	r   io.Reader
	buf []byte
}

// NewReader returns a Reader on r (wrap r in a bufio.Reader for small reads).
func NewReader(r io.Reader) *Reader { return &Reader{r: r, buf: make([]byte, HeaderLen, 64<<10)} }

// Next reads one message. The payload is valid until the next call.
func (r *Reader) Next() (Message, error) {
	if _, err := io.ReadFull(r.r, r.buf[:HeaderLen]); err != nil {
		return Message{}, err
	}
	h, err := ParseHeader(r.buf[:HeaderLen])
	if err != nil {
		return Message{Header: h}, err
	}
	if cap(r.buf) < int(h.Length) {
		r.buf = make([]byte, h.Length)
	}
	p := r.buf[:h.Length]
	if _, err := io.ReadFull(r.r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Message{Header: h}, err
	}
	return Message{Header: h, Payload: p}, nil
}

// Decode parses one whole message from b (header and exactly its payload).
func Decode(b []byte) (Message, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return Message{Header: h}, err
	}
	if len(b)-HeaderLen != int(h.Length) {
		return Message{Header: h}, fmt.Errorf("%w: payload is %d bytes, header says %d", ErrMalformed, len(b)-HeaderLen, h.Length)
	}
	return Message{Header: h, Payload: b[HeaderLen:]}, nil
}

// Build returns a message with header fields h (Length set from payload).
func Build(b []byte, h Header, payload []byte) []byte {
	h.Length = uint32(len(payload))
	return append(AppendHeader(b, h), payload...)
}

// enc appends fields to a payload.
type enc []byte

func (e enc) u8(v uint8) enc   { return append(e, v) }
func (e enc) u16(v uint16) enc { return binary.BigEndian.AppendUint16(e, v) }
func (e enc) u32(v uint32) enc { return binary.BigEndian.AppendUint32(e, v) }
func (e enc) u64(v uint64) enc { return binary.BigEndian.AppendUint64(e, v) }
func (e enc) str(s string) enc {
	if len(s) > MaxString {
		s = s[:MaxString]
	}
	return append(e.u16(uint16(len(s))), s...)
}
func (e enc) bytes8(b []byte) enc { return append(e.u8(uint8(len(b))), b...) }

// dec reads fields from a payload; the first failure sticks.
type dec struct {
	b   []byte
	err error
}

func (d *dec) need(n int) bool {
	if d.err != nil {
		return false
	}
	if len(d.b) < n {
		d.err = fmt.Errorf("%w: truncated payload", ErrMalformed)
		return false
	}
	return true
}

func (d *dec) u8() uint8   { return d.fixed(1)[0] }
func (d *dec) u16() uint16 { return binary.BigEndian.Uint16(d.fixed(2)) }
func (d *dec) u32() uint32 { return binary.BigEndian.Uint32(d.fixed(4)) }
func (d *dec) u64() uint64 { return binary.BigEndian.Uint64(d.fixed(8)) }

// zeros is what fixed reads once the decoding has failed.
var zeros [8]byte

// fixed takes an n-byte field (n at most 8), or zeros after a failure.
func (d *dec) fixed(n int) []byte {
	if !d.need(n) {
		return zeros[:n]
	}
	return d.take(n)
}

// raw takes n bytes, or nil after a failure.
func (d *dec) raw(n int) []byte {
	if !d.need(n) {
		return nil
	}
	return d.take(n)
}

// take takes n bytes that need has found there.
func (d *dec) take(n int) []byte {
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *dec) str() string {
	n := int(d.u16())
	if d.err == nil && n > MaxString {
		d.err = fmt.Errorf("%w: string of %d bytes", ErrMalformed, n)
		return ""
	}
	return string(d.raw(n))
}

func (d *dec) bytes8() []byte { return slices.Clone(d.raw(int(d.u8()))) }

// end reports the sticky error, or trailing bytes as an error.
func (d *dec) end() error {
	if d.err == nil && len(d.b) != 0 {
		d.err = fmt.Errorf("%w: %d trailing bytes", ErrMalformed, len(d.b))
	}
	return d.err
}

// Hello is the client's first message (a query, op OpHello): the versions
// it speaks and its credentials.
type Hello struct {
	Versions []uint8
	Token    string // empty when authenticating with a client certificate
	Client   string // free text naming the client (host, program)
}

// AppendHello appends the payload of a hello query.
func AppendHello(b []byte, h Hello) []byte {
	e := enc(b).u16(uint16(OpHello)).u8(uint8(len(h.Versions)))
	e = append(e, h.Versions...)
	return e.str(h.Token).str(h.Client)
}

// ParseHello decodes a hello query's body (after the op).
func ParseHello(b []byte) (Hello, error) {
	d := dec{b: b}
	var h Hello
	h.Versions = slices.Clone(d.raw(int(d.u8())))
	h.Token = d.str()
	h.Client = d.str()
	return h, d.end()
}

// Welcome is the server's answer to a hello (a response, op OpHello).
type Welcome struct {
	Version  uint8  // the version both speak; every later message uses it
	Server   string // the appliance's name
	Identity string // who the server authenticated the client as
}

// AppendWelcome appends the payload of a hello response.
func AppendWelcome(b []byte, w Welcome) []byte {
	return enc(b).u16(uint16(OpHello)).u8(w.Version).str(w.Server).str(w.Identity)
}

// ParseWelcome decodes a hello response's body.
func ParseWelcome(b []byte) (Welcome, error) {
	d := dec{b: b}
	w := Welcome{Version: d.u8(), Server: d.str(), Identity: d.str()}
	return w, d.end()
}

// Port flags.
const (
	PortLinkUp     = 1 << 0
	PortRegistered = 1 << 1
	PortHeld       = 1 << 2 // a client holds the port for transmit
)

// Duplex values.
const (
	DuplexUnknown = 0
	DuplexHalf    = 1
	DuplexFull    = 2
)

// PortInfo describes a port (list response, request response, link report).
type PortInfo struct {
	Name       string
	LinkUp     bool
	Registered bool
	Held       bool
	SpeedMbps  uint32 // 0 = unknown
	Duplex     uint8
	MTU        uint32
	MAC        net.HardwareAddr
	Holder     string // the holding client's address, if held
	Monitors   uint16 // read-only clients attached
}

// DuplexString names a duplex value.
func DuplexString(d uint8) string {
	switch d {
	case DuplexHalf:
		return "half"
	case DuplexFull:
		return "full"
	}
	return "unknown"
}

// ParseDuplex is the inverse of DuplexString.
func ParseDuplex(s string) uint8 {
	switch strings.ToLower(s) {
	case "half":
		return DuplexHalf
	case "full":
		return DuplexFull
	}
	return DuplexUnknown
}

func appendPort(e enc, p PortInfo) enc {
	var fl uint8
	if p.LinkUp {
		fl |= PortLinkUp
	}
	if p.Registered {
		fl |= PortRegistered
	}
	if p.Held {
		fl |= PortHeld
	}
	mac := []byte(p.MAC)
	if len(mac) > 32 {
		mac = mac[:32]
	}
	return e.str(p.Name).u8(fl).u32(p.SpeedMbps).u8(p.Duplex).u32(p.MTU).bytes8(mac).str(p.Holder).u16(p.Monitors)
}

func parsePort(d *dec) PortInfo {
	var p PortInfo
	p.Name = d.str()
	fl := d.u8()
	p.LinkUp, p.Registered, p.Held = fl&PortLinkUp != 0, fl&PortRegistered != 0, fl&PortHeld != 0
	p.SpeedMbps = d.u32()
	p.Duplex = d.u8()
	p.MTU = d.u32()
	if mac := d.bytes8(); len(mac) > 0 {
		p.MAC = mac
	}
	p.Holder = d.str()
	p.Monitors = d.u16()
	return p
}

// AppendPorts appends a list response.
func AppendPorts(b []byte, ports []PortInfo) []byte {
	e := enc(b).u16(uint16(OpList)).u16(uint16(len(ports)))
	for _, p := range ports {
		e = appendPort(e, p)
	}
	return e
}

// ParsePorts decodes a list response's body.
func ParsePorts(b []byte) ([]PortInfo, error) {
	d := dec{b: b}
	n := int(d.u16())
	var out []PortInfo
	for i := 0; i < n && d.err == nil; i++ {
		out = append(out, parsePort(&d))
	}
	return out, d.end()
}

// AppendPort appends a payload with op and one port record (request
// response, link report).
func AppendPort(b []byte, op Op, p PortInfo) []byte {
	return appendPort(enc(b).u16(uint16(op)), p)
}

// ParsePort decodes the body of a request response or a link report.
func ParsePort(b []byte) (PortInfo, error) {
	d := dec{b: b}
	p := parsePort(&d)
	return p, d.end()
}

// Request modes.
const (
	ModeExclusive uint8 = 0 // receive and transmit; one client per port
	ModeMonitor   uint8 = 1 // receive only; any number of clients
)

// Request asks for a port on the message's channel.
type Request struct {
	Port string
	Mode uint8
}

// AppendRequest appends a request query.
func AppendRequest(b []byte, r Request) []byte {
	return enc(b).u16(uint16(OpRequest)).str(r.Port).u8(r.Mode)
}

// ParseRequest decodes a request query's body.
func ParseRequest(b []byte) (Request, error) {
	d := dec{b: b}
	r := Request{Port: d.str(), Mode: d.u8()}
	if d.err == nil && r.Mode > ModeMonitor {
		d.err = fmt.Errorf("%w: request mode %d", ErrMalformed, r.Mode)
	}
	return r, d.end()
}

// AppendOp appends a payload holding only op (list and release queries,
// release response, counters query).
func AppendOp(b []byte, op Op) []byte { return enc(b).u16(uint16(op)) }

// AppendPing appends a ping query or response carrying the asker's clock.
func AppendPing(b []byte, t uint64) []byte { return enc(b).u16(uint16(OpPing)).u64(t) }

// ParsePing decodes a ping body.
func ParsePing(b []byte) (uint64, error) {
	d := dec{b: b}
	t := d.u64()
	return t, d.end()
}

// Counters of one channel, as the server counts them.
type Counters struct {
	FramesToClient, BytesToClient     uint64
	FramesFromClient, BytesFromClient uint64
	DroppedToClient                   uint64 // frames lost before the tunnel (queue full)
	DroppedFromClient                 uint64 // frames from the client that could not be sent
	RTTMicros                         uint64 // last measured tunnel round trip
}

// AppendCounters appends a counters response.
func AppendCounters(b []byte, c Counters) []byte {
	return enc(b).u16(uint16(OpCounters)).u64(c.FramesToClient).u64(c.BytesToClient).
		u64(c.FramesFromClient).u64(c.BytesFromClient).u64(c.DroppedToClient).u64(c.DroppedFromClient).u64(c.RTTMicros)
}

// ParseCounters decodes a counters response's body.
func ParseCounters(b []byte) (Counters, error) {
	d := dec{b: b}
	c := Counters{d.u64(), d.u64(), d.u64(), d.u64(), d.u64(), d.u64(), d.u64()}
	return c, d.end()
}

// AppendGone appends a gone report with its reason.
func AppendGone(b []byte, reason string) []byte { return enc(b).u16(uint16(OpGone)).str(reason) }

// ParseGone decodes a gone report's body.
func ParseGone(b []byte) (string, error) {
	d := dec{b: b}
	s := d.str()
	return s, d.end()
}
