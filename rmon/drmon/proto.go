package drmon

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"

	"github.com/wirebox/wirebox/rmon/stats"
)

// Version is the protocol version this package speaks. Messages of the
// version-1 types keep version 1 in their header (their bodies grew only
// by appended fields, which version-1 receivers ignore), so version-1
// peers still interoperate; the version-2 types go only to peers that
// advertised version 2 (Hello.Version, Report.Version).
const Version = 2

// Message types.
const (
	TypeDiscover = 1 // proxy -> agents (multicast)
	TypeHello    = 2 // agent -> proxy
	TypePoll     = 3 // proxy -> agent (unicast): time sync and poll
	TypeReport   = 4 // agent -> proxy: statistics deltas
	TypeConfig   = 5 // proxy -> agent (version 2): channels and filters to apply
	TypeCapture  = 6 // agent -> proxy (version 2): captured frames
)

// versionOf is the header version a message type is sent with.
func versionOf(typ uint8) uint8 {
	if typ >= TypeConfig {
		return 2
	}
	return 1
}

// HeaderLen and MACLen are the fixed parts of every message.
const (
	HeaderLen = 40
	MACLen    = sha256.Size
	// MaxMessage bounds a message (one UDP datagram).
	MaxMessage = 65000
)

var magic = [4]byte{'D', 'R', 'M', 'N'}

// Header is the fixed start of every message.
type Header struct {
	Version uint8 // on decoding: the header's version (encoding: by type)
	Type    uint8
	Sender  uint64 // the sender's ID (agents: derived from their MACs)
	Boot    uint64 // the sender's boot: unix nanoseconds at its start
	Seq     uint64 // per sender and boot, from 1, strictly increasing
	Time    uint64 // the sender's uptime in 100 ns units
}

// Discover is the proxy's multicast solicitation.
type Discover struct {
	MaxDelayMs uint32 // answer after a random delay in [0, MaxDelayMs)
}

// Hello identifies an agent.
type Hello struct {
	Name string
	MACs [][6]byte
	// Version is the highest protocol version the agent speaks (appended
	// in version 2; absent, version 1).
	Version uint8
}

// Poll is the proxy's time synchronisation and poll.
type Poll struct {
	AckBoot, AckSeq uint64 // the agent's last report the proxy applied
	RTT             uint64 // the last round trip measured, 100 ns units (0: none yet)
	MaxDelayMs      uint32
}

// Report carries an agent's statistics since its report BaseSeq (0: since
// its boot).
type Report struct {
	PollBoot, PollSeq, PollTime uint64 // the poll answered (PollTime echoed)
	Hold                        uint64 // 100 ns between receiving the poll and sending this
	Latency                     uint64 // the agent's estimate of the one-way path latency, 100 ns
	BaseSeq                     uint64
	Name                        string
	MACs                        [][6]byte
	Pairs                       []PairDelta
	Responses                   []Response
	// Appended in version 2: the highest version the agent speaks, the
	// configuration generation it applies (0: none) and its channels'
	// match counts (deltas like the pairs) under that generation.
	Version   uint8
	ConfigGen uint64
	Matches   []ChannelCount
	// Buckets are closed history buckets not yet applied (appended after
	// Matches).
	Buckets []Bucket

	seq uint64 // the header seq it is sent with (agent side)
}

// PairDelta is one host pair's counts since the base report.
type PairDelta struct {
	Src, Dst [6]byte
	C        stats.PairCounts
}

// Response is one TCP conversation's response-time counters (cumulative
// deltas for counts and sums; Min and Max since the agent's boot), in
// 100 ns units.
type Response struct {
	Server     netip.AddrPort
	Client     netip.Addr
	Observer   uint8 // ObserverClient or ObserverServer
	SetupCount uint64
	SetupSum   uint64
	SetupMin   uint64
	SetupMax   uint64
	RespCount  uint64
	RespSum    uint64
	RespMin    uint64
	RespMax    uint64
}

// Observers of a response time.
const (
	ObserverClient = 1
	ObserverServer = 2
)

// Decoding errors, counted by reason.
var (
	ErrShort   = errors.New("drmon: message too short")
	ErrMagic   = errors.New("drmon: not a dRMON message")
	ErrVersion = errors.New("drmon: unsupported version")
	ErrAuth    = errors.New("drmon: authentication failed")
	ErrFormat  = errors.New("drmon: malformed body")
)

// Encode builds a signed message: header, body, HMAC-SHA256(key) of both.
func Encode(key []byte, h Header, body []byte) []byte {
	b := make([]byte, 0, HeaderLen+len(body)+MACLen)
	b = append(b, magic[:]...)
	b = append(b, versionOf(h.Type), h.Type, 0, 0)
	b = binary.BigEndian.AppendUint64(b, h.Sender)
	b = binary.BigEndian.AppendUint64(b, h.Boot)
	b = binary.BigEndian.AppendUint64(b, h.Seq)
	b = binary.BigEndian.AppendUint64(b, h.Time)
	b = append(b, body...)
	m := hmac.New(sha256.New, key)
	m.Write(b)
	return m.Sum(b)
}

// Decode checks a message's framing and HMAC and returns its header and
// body. Nothing of an unauthenticated message is trusted: the HMAC is
// checked before the header is read.
func Decode(key []byte, b []byte) (Header, []byte, error) {
	var h Header
	if len(b) < HeaderLen+MACLen {
		return h, nil, ErrShort
	}
	if [4]byte(b[:4]) != magic {
		return h, nil, ErrMagic
	}
	if b[4] < 1 || b[4] > Version {
		return h, nil, fmt.Errorf("%w %d", ErrVersion, b[4])
	}
	n := len(b) - MACLen
	m := hmac.New(sha256.New, key)
	m.Write(b[:n])
	if !hmac.Equal(m.Sum(nil), b[n:]) {
		return h, nil, ErrAuth
	}
	h.Version, h.Type = b[4], b[5]
	h.Sender = binary.BigEndian.Uint64(b[8:])
	h.Boot = binary.BigEndian.Uint64(b[16:])
	h.Seq = binary.BigEndian.Uint64(b[24:])
	h.Time = binary.BigEndian.Uint64(b[32:])
	return h, b[HeaderLen:n], nil
}

// w builds bodies.
type w struct{ b []byte }

func (e *w) u8(v uint8)   { e.b = append(e.b, v) }
func (e *w) u16(v uint16) { e.b = binary.BigEndian.AppendUint16(e.b, v) }
func (e *w) u32(v uint32) { e.b = binary.BigEndian.AppendUint32(e.b, v) }
func (e *w) u64(v uint64) { e.b = binary.BigEndian.AppendUint64(e.b, v) }
func (e *w) uv(v uint64)  { e.b = binary.AppendUvarint(e.b, v) }
func (e *w) str(s string) {
	s = s[:min(len(s), 255)]
	e.u8(uint8(len(s)))
	e.b = append(e.b, s...)
}
func (e *w) macs(l [][6]byte) {
	l = l[:min(len(l), 255)]
	e.u8(uint8(len(l)))
	for _, m := range l {
		e.b = append(e.b, m[:]...)
	}
}

// fields writes a counted list of uvarints (read by readFields).
func (e *w) fields(f []*uint64) {
	e.uv(uint64(len(f)))
	for _, v := range f {
		e.uv(*v)
	}
}

func (e *w) addr(a netip.Addr) {
	s := a.AsSlice()
	e.u8(uint8(len(s)))
	e.b = append(e.b, s...)
}

// r reads bodies; the first error sticks.
type r struct {
	b   []byte
	err error
}

func (d *r) take(n int) []byte {
	if d.err != nil || n > len(d.b) {
		d.err = ErrFormat
		return nil
	}
	v := d.b[:n]
	d.b = d.b[n:]
	return v
}
func (d *r) u8() uint8 {
	if v := d.take(1); v != nil {
		return v[0]
	}
	return 0
}
func (d *r) u16() uint16 {
	if v := d.take(2); v != nil {
		return binary.BigEndian.Uint16(v)
	}
	return 0
}
func (d *r) u32() uint32 {
	if v := d.take(4); v != nil {
		return binary.BigEndian.Uint32(v)
	}
	return 0
}
func (d *r) u64() uint64 {
	if v := d.take(8); v != nil {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}
func (d *r) uv() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.err = ErrFormat
		return 0
	}
	d.b = d.b[n:]
	return v
}
func (d *r) str() string { return string(d.take(int(d.u8()))) }
func (d *r) macs() [][6]byte {
	n := int(d.u8())
	var out [][6]byte
	for range n {
		if v := d.take(6); v != nil {
			out = append(out, [6]byte(v))
		}
	}
	return out
}
func (d *r) addr() netip.Addr {
	n := int(d.u8())
	if n != 4 && n != 16 {
		d.err = ErrFormat
		return netip.Addr{}
	}
	a, _ := netip.AddrFromSlice(d.take(n))
	return a
}

// count reads a list length, refusing ones the rest of the body cannot hold
// (each element is at least minLen bytes).
func (d *r) count(minLen int) int {
	n := d.uv()
	if d.err == nil && n > uint64(len(d.b)/minLen) {
		d.err = ErrFormat
	}
	if d.err != nil {
		return 0 // callers loop over the count
	}
	return int(n)
}

func (d *r) done() error {
	// Trailing bytes are allowed: a later minor revision may append fields.
	return d.err
}

// EncodeDiscover, EncodeHello, EncodePoll and EncodeReport build bodies.
func EncodeDiscover(m Discover) []byte {
	var e w
	e.u32(m.MaxDelayMs)
	return e.b
}

func EncodeHello(m Hello) []byte {
	var e w
	e.str(m.Name)
	e.macs(m.MACs)
	e.u8(Version)
	return e.b
}

func EncodePoll(m Poll) []byte {
	var e w
	e.u64(m.AckBoot)
	e.u64(m.AckSeq)
	e.u64(m.RTT)
	e.u32(m.MaxDelayMs)
	return e.b
}

// pairFields lists a PairCounts' counters in wire order.
func pairFields(c *stats.PairCounts) []*uint64 {
	f := []*uint64{&c.Pkts, &c.Octets}
	for i := range c.Sizes {
		f = append(f, &c.Sizes[i])
	}
	f = append(f, &c.Undersize, &c.Oversize, &c.BadOctets)
	for i := range c.Proto {
		f = append(f, &c.Proto[i].Pkts, &c.Proto[i].Octets)
	}
	return f
}

func respFields(x *Response) []*uint64 {
	return []*uint64{&x.SetupCount, &x.SetupSum, &x.SetupMin, &x.SetupMax, &x.RespCount, &x.RespSum, &x.RespMin, &x.RespMax}
}

func EncodeReport(m Report) []byte {
	var e w
	for _, v := range []uint64{m.PollBoot, m.PollSeq, m.PollTime, m.Hold, m.Latency, m.BaseSeq} {
		e.u64(v)
	}
	e.str(m.Name)
	e.macs(m.MACs)
	e.uv(uint64(len(m.Pairs)))
	for _, p := range m.Pairs {
		e.b = append(e.b, p.Src[:]...)
		e.b = append(e.b, p.Dst[:]...)
		e.fields(pairFields(&p.C))
	}
	e.uv(uint64(len(m.Responses)))
	for _, x := range m.Responses {
		e.addr(x.Server.Addr())
		e.u16(x.Server.Port())
		e.addr(x.Client)
		e.u8(x.Observer)
		e.fields(respFields(&x))
	}
	e.u8(Version)
	e.u64(m.ConfigGen)
	e.uv(uint64(len(m.Matches)))
	for _, c := range m.Matches {
		e.u16(c.Channel)
		e.uv(c.Count)
	}
	e.uv(uint64(len(m.Buckets)))
	for _, b := range m.Buckets {
		e.u16(b.History)
		e.u32(b.Sample)
		e.fields(pairFields(&b.C))
	}
	return e.b
}

// DecodeDiscover, DecodeHello, DecodePoll and DecodeReport parse bodies.
func DecodeDiscover(b []byte) (Discover, error) {
	d := r{b: b}
	m := Discover{MaxDelayMs: d.u32()}
	return m, d.done()
}

func DecodeHello(b []byte) (Hello, error) {
	d := r{b: b}
	m := Hello{Name: d.str(), MACs: d.macs(), Version: 1}
	if d.err == nil && len(d.b) > 0 {
		m.Version = d.u8()
	}
	return m, d.done()
}

func DecodePoll(b []byte) (Poll, error) {
	d := r{b: b}
	m := Poll{AckBoot: d.u64(), AckSeq: d.u64(), RTT: d.u64(), MaxDelayMs: d.u32()}
	return m, d.done()
}

// readFields reads a counted list of uvarints into f: fields beyond f
// (a newer minor revision) are skipped, missing ones stay 0.
func (d *r) readFields(f []*uint64) {
	n := d.count(1)
	for i := range n {
		v := d.uv()
		if i < len(f) {
			*f[i] = v
		}
	}
}

func DecodeReport(b []byte) (Report, error) {
	d := r{b: b}
	var m Report
	for _, p := range []*uint64{&m.PollBoot, &m.PollSeq, &m.PollTime, &m.Hold, &m.Latency, &m.BaseSeq} {
		*p = d.u64()
	}
	m.Name = d.str()
	m.MACs = d.macs()
	n := d.count(13)
	for range n {
		var p PairDelta
		if v := d.take(12); v != nil {
			p.Src, p.Dst = [6]byte(v[:6]), [6]byte(v[6:])
		}
		d.readFields(pairFields(&p.C))
		if d.err != nil {
			return m, d.err
		}
		m.Pairs = append(m.Pairs, p)
	}
	n = d.count(14)
	for range n {
		var x Response
		sa := d.addr()
		sp := d.u16()
		x.Server = netip.AddrPortFrom(sa, sp)
		x.Client = d.addr()
		x.Observer = d.u8()
		d.readFields(respFields(&x))
		if d.err != nil {
			return m, d.err
		}
		m.Responses = append(m.Responses, x)
	}
	m.Version = 1
	if d.err != nil || len(d.b) == 0 {
		return m, d.done() // a version-1 agent
	}
	m.Version = d.u8()
	m.ConfigGen = d.u64()
	n = d.count(3)
	for range n {
		c := ChannelCount{Channel: d.u16(), Count: d.uv()}
		if d.err != nil {
			return m, d.err
		}
		m.Matches = append(m.Matches, c)
	}
	if len(d.b) > 0 {
		n = d.count(7)
		for range n {
			b := Bucket{History: d.u16(), Sample: d.u32()}
			d.readFields(pairFields(&b.C))
			if d.err != nil {
				return m, d.err
			}
			m.Buckets = append(m.Buckets, b)
		}
	}
	return m, d.done()
}
