package peer

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"net/netip"
)

// Message types.
const (
	TypeHeartbeat uint8 = 1 + iota
	TypeMirror
	TypeSync
	TypeSyncDone
	TypeTakeover
	TypeWitnessProbe
	TypeWitnessReply
	typeMax
)

// Sizes.
const (
	HeaderLen = 26
	MACLen    = sha256.Size
	Overhead  = HeaderLen + MACLen
	// MaxMessage bounds a datagram: a mirrored jumbo frame plus headers.
	MaxMessage = 65000
)

var magic = [4]byte{'W', 'B', 'H', 'A'}

// Version is the protocol version.
const Version = 1

// Errors of Open.
var (
	ErrMalformed = errors.New("peer: malformed message")
	ErrForged    = errors.New("peer: bad message authentication code")
)

// Header is a message's header.
type Header struct {
	Type  uint8
	Epoch uint64
	Seq   uint64
}

// Seal appends a message to dst and returns it.
func Seal(dst []byte, key []byte, h Header, payload []byte) []byte {
	return NewSealer(key).Seal(dst, h, payload)
}

// Open checks a message and returns its header and payload (a slice of
// b). The MAC is checked before anything else is believed.
func Open(key, b []byte) (Header, []byte, error) { return NewSealer(key).Open(b) }

// A Sealer seals and opens messages with one key and keeps its HMAC
// state: hmac.New per message hashed the key twice and allocated, which
// was a large part of a mirrored frame's cost. One goroutine at a time.
type Sealer struct {
	mac hash.Hash
	sum [MACLen]byte
}

// NewSealer makes a Sealer for key.
func NewSealer(key []byte) *Sealer { return &Sealer{mac: hmac.New(sha256.New, key)} }

// Seal appends a message to dst and returns it.
func (s *Sealer) Seal(dst []byte, h Header, payload []byte) []byte {
	start := len(dst)
	dst = append(dst, magic[:]...)
	dst = append(dst, Version, h.Type, 0, 0)
	dst = binary.BigEndian.AppendUint64(dst, h.Epoch)
	dst = binary.BigEndian.AppendUint64(dst, h.Seq)
	dst = binary.BigEndian.AppendUint16(dst, uint16(len(payload)))
	dst = append(dst, payload...)
	s.mac.Reset()
	s.mac.Write(dst[start:])
	return s.mac.Sum(dst)
}

// Open checks a message and returns its header and payload (a slice of
// b). The MAC is checked before anything else is believed.
func (s *Sealer) Open(b []byte) (Header, []byte, error) {
	if len(b) < Overhead {
		return Header{}, nil, fmt.Errorf("%w: %d bytes", ErrMalformed, len(b))
	}
	if [4]byte(b[0:4]) != magic || b[4] != Version {
		return Header{}, nil, fmt.Errorf("%w: bad magic or version", ErrMalformed)
	}
	n := int(binary.BigEndian.Uint16(b[24:]))
	if HeaderLen+n+MACLen != len(b) {
		return Header{}, nil, fmt.Errorf("%w: length %d in a %d byte message", ErrMalformed, n, len(b))
	}
	body := b[:HeaderLen+n]
	s.mac.Reset()
	s.mac.Write(body)
	if !hmac.Equal(s.mac.Sum(s.sum[:0]), b[HeaderLen+n:]) {
		return Header{}, nil, ErrForged
	}
	h := Header{Type: b[5], Epoch: binary.BigEndian.Uint64(b[8:]), Seq: binary.BigEndian.Uint64(b[16:])}
	if h.Type == 0 || h.Type >= typeMax || b[6] != 0 || b[7] != 0 {
		return Header{}, nil, fmt.Errorf("%w: type %d", ErrMalformed, h.Type)
	}
	return h, b[HeaderLen : HeaderLen+n], nil
}

// Role is a node's role in the pair.
type Role uint8

const (
	RoleInit Role = iota
	RoleStandby
	RoleActive
)

func (r Role) String() string {
	switch r {
	case RoleStandby:
		return "standby"
	case RoleActive:
		return "active"
	}
	return "init"
}

// Heartbeat flags.
const (
	FlagInSync  = 1 << 0 // the sender (a standby) holds the active's complete state
	FlagPreempt = 1 << 1
)

// Heartbeat is sent every interval by both nodes.
type Heartbeat struct {
	Priority uint8
	Role     Role
	Flags    uint8
	Conns    uint32
	SyncGen  uint32 // the sync generation the sender (standby) completed, or asks for
	SentNS   int64  // sender's clock at sending
	EchoNS   int64  // SentNS of the peer's last heartbeat
	HoldNS   int64  // how long ago the sender received that one (for RTT)
}

const heartbeatLen = 4 + 4 + 4 + 8 + 8 + 8

// Append encodes the heartbeat.
func (hb *Heartbeat) Append(b []byte) []byte {
	b = append(b, hb.Priority, uint8(hb.Role), hb.Flags, 0)
	b = binary.BigEndian.AppendUint32(b, hb.Conns)
	b = binary.BigEndian.AppendUint32(b, hb.SyncGen)
	b = binary.BigEndian.AppendUint64(b, uint64(hb.SentNS))
	b = binary.BigEndian.AppendUint64(b, uint64(hb.EchoNS))
	return binary.BigEndian.AppendUint64(b, uint64(hb.HoldNS))
}

// Decode reads a heartbeat payload.
func (hb *Heartbeat) Decode(b []byte) error {
	if len(b) != heartbeatLen || b[1] > uint8(RoleActive) {
		return fmt.Errorf("%w: heartbeat", ErrMalformed)
	}
	*hb = Heartbeat{Priority: b[0], Role: Role(b[1]), Flags: b[2],
		Conns: binary.BigEndian.Uint32(b[4:]), SyncGen: binary.BigEndian.Uint32(b[8:]),
		SentNS: int64(binary.BigEndian.Uint64(b[12:])), EchoNS: int64(binary.BigEndian.Uint64(b[20:])),
		HoldNS: int64(binary.BigEndian.Uint64(b[28:]))}
	return nil
}

// Mirror flags.
const (
	// MirrorForward: the receiver transmits the frame after processing
	// it (standby response on the standby, standby first on the active);
	// without it the receiver only tracks.
	MirrorForward = 1 << 0
)

// Mirror carries one frame of a mirrored connection and what the sender
// decided about it.
type Mirror struct {
	Side    uint8 // fwd.Side the frame arrived on
	Flags   uint8
	Backend netip.AddrPort // the backend of the frame's connection, if known
	Frame   []byte
}

const mirrorHdr = 1 + 1 + 4 + 2

// Append encodes the mirror message.
func (m *Mirror) Append(b []byte) []byte {
	b = append(b, m.Side, m.Flags)
	var ip [4]byte
	if m.Backend.Addr().Is4() {
		ip = m.Backend.Addr().As4()
	}
	b = append(b, ip[:]...)
	b = binary.BigEndian.AppendUint16(b, m.Backend.Port())
	return append(b, m.Frame...)
}

// Decode reads a mirror payload; Frame is a slice of b.
func (m *Mirror) Decode(b []byte) error {
	if len(b) < mirrorHdr+14 || b[0] > 1 {
		return fmt.Errorf("%w: mirror", ErrMalformed)
	}
	m.Side, m.Flags = b[0], b[1]
	m.Backend = netip.AddrPort{}
	if port := binary.BigEndian.Uint16(b[6:]); port != 0 {
		m.Backend = netip.AddrPortFrom(netip.AddrFrom4([4]byte(b[2:6])), port)
	}
	m.Frame = b[mirrorHdr:]
	return nil
}

// Entry is one connection in a state sync: the pre-determined information
// the standby cannot learn from later packets (the translation, the
// sequence delta, the neighbours' addresses), plus state and counters.
type Entry struct {
	Proto      uint8
	State      uint8
	ClientIP   [4]byte
	ClientPort uint16
	Backend    netip.AddrPort
	ClientMAC  [6]byte
	BackendMAC [6]byte
	Packets    uint64
	Bytes      uint64
	IdleMS     uint32
	SeqDelta   int32
}

// EntryLen is the encoded size of an Entry.
const EntryLen = 1 + 1 + 4 + 2 + 4 + 2 + 6 + 6 + 8 + 8 + 4 + 4

// Sync is a batch of entries of sync generation Gen.
type Sync struct {
	Gen     uint32
	Entries []Entry
}

// MaxEntries is the number of entries that fit an unfragmented datagram.
const MaxEntries = (1400 - Overhead - 6) / EntryLen

// Append encodes the batch.
func (s *Sync) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, s.Gen)
	b = binary.BigEndian.AppendUint16(b, uint16(len(s.Entries)))
	for _, e := range s.Entries {
		b = append(b, e.Proto, e.State)
		b = append(b, e.ClientIP[:]...)
		b = binary.BigEndian.AppendUint16(b, e.ClientPort)
		ip := e.Backend.Addr().As4()
		b = append(b, ip[:]...)
		b = binary.BigEndian.AppendUint16(b, e.Backend.Port())
		b = append(b, e.ClientMAC[:]...)
		b = append(b, e.BackendMAC[:]...)
		b = binary.BigEndian.AppendUint64(b, e.Packets)
		b = binary.BigEndian.AppendUint64(b, e.Bytes)
		b = binary.BigEndian.AppendUint32(b, e.IdleMS)
		b = binary.BigEndian.AppendUint32(b, uint32(e.SeqDelta))
	}
	return b
}

// Decode reads a sync payload.
func (s *Sync) Decode(b []byte) error {
	if len(b) < 6 {
		return fmt.Errorf("%w: sync", ErrMalformed)
	}
	s.Gen = binary.BigEndian.Uint32(b)
	n := int(binary.BigEndian.Uint16(b[4:]))
	b = b[6:]
	if len(b) != n*EntryLen {
		return fmt.Errorf("%w: sync of %d entries in %d bytes", ErrMalformed, n, len(b))
	}
	s.Entries = s.Entries[:0]
	for i := 0; i < n; i++ {
		e := b[i*EntryLen:]
		s.Entries = append(s.Entries, Entry{
			Proto: e[0], State: e[1], ClientIP: [4]byte(e[2:6]), ClientPort: binary.BigEndian.Uint16(e[6:]),
			Backend:   netip.AddrPortFrom(netip.AddrFrom4([4]byte(e[8:12])), binary.BigEndian.Uint16(e[12:])),
			ClientMAC: [6]byte(e[14:20]), BackendMAC: [6]byte(e[20:26]),
			Packets: binary.BigEndian.Uint64(e[26:]), Bytes: binary.BigEndian.Uint64(e[34:]),
			IdleMS: binary.BigEndian.Uint32(e[42:]), SeqDelta: int32(binary.BigEndian.Uint32(e[46:])),
		})
	}
	return nil
}

// Counted is the payload of SyncDone (generation and entries sent),
// Takeover (generation) and witness probes and replies (a nonce in the
// second field).
type Counted struct {
	Gen   uint32
	Count uint64
}

// Append encodes it.
func (c *Counted) Append(b []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, c.Gen)
	return binary.BigEndian.AppendUint64(b, c.Count)
}

// Decode reads it.
func (c *Counted) Decode(b []byte) error {
	if len(b) != 12 {
		return fmt.Errorf("%w: %d byte counter", ErrMalformed, len(b))
	}
	c.Gen, c.Count = binary.BigEndian.Uint32(b), binary.BigEndian.Uint64(b[4:])
	return nil
}
