package tap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf8"
)

// The tap socket protocol (docs/TAP-ABI.md): one request per SOCK_SEQPACKET
// message, one response per request, little endian. Every message starts
// with a 16-byte header: magic, version, type, sequence number, status.

// ProtoMagic starts every message: "WBTP".
const ProtoMagic = 0x50544257

// Message types.
const (
	MsgHello    = 1 // request: alloc, ring size, name; response: sizes + 4 fds
	MsgTap      = 2 // request: kind, order, port; response: handle, port index
	MsgCloseTap = 3 // request: handle
)

// Tap kinds.
const (
	TapInput  = 1 // frames the port received (ingress owner)
	TapOutput = 2 // frames about to leave the port (egress owner)
	TapBypass = 3 // the port's traffic is the application's (exclusive ingress owner; reverts are sent)
)

// TapKindNames names the kinds (index = kind).
var TapKindNames = [4]string{"", "input", "output", "bypass"}

// Response statuses.
const (
	StatusOK         = 0
	StatusBadRequest = 1 // malformed message
	StatusVersion    = 2 // unsupported protocol version
	StatusNoPort     = 3 // no such port
	StatusBusy       = 4 // the hook is held (exclusive owner), or the application already taps it
	StatusState      = 5 // hello first, once; unknown tap handle
	StatusInternal   = 6 // the daemon failed
	StatusLimit      = 7 // too many taps
)

// Limits of the protocol.
const (
	HeaderLen   = 16
	MaxMessage  = 512
	MaxNameLen  = 64
	MaxPortLen  = 64
	MaxErrorLen = 256
)

// Request is a decoded request.
type Request struct {
	Type uint16
	Seq  uint32
	// Hello: frames the daemon keeps on the alloc ring, the ring size the
	// application wants (0: the daemon's choice), its name for logs.
	Alloc, RingSize uint32
	Name            string
	// Tap: kind, order among the port's owners of the hook, port name.
	Kind  uint8
	Order int32
	Port  string
	// CloseTap: the handle MsgTap returned.
	Handle uint32
}

// ErrProto is wrapped by every decoding error.
var ErrProto = errors.New("tap: bad protocol message")

func protoErr(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrProto, fmt.Sprintf(format, a...))
}

func putHeader(b []byte, typ uint16, seq, status uint32) []byte {
	b = binary.LittleEndian.AppendUint32(b, ProtoMagic)
	b = binary.LittleEndian.AppendUint16(b, ABIVersion)
	b = binary.LittleEndian.AppendUint16(b, typ)
	b = binary.LittleEndian.AppendUint32(b, seq)
	return binary.LittleEndian.AppendUint32(b, status)
}

func appendString(b []byte, s string) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(len(s)))
	return append(b, s...)
}

// Encode encodes the request.
func (r Request) Encode() []byte {
	b := putHeader(make([]byte, 0, 64), r.Type, r.Seq, 0)
	switch r.Type {
	case MsgHello:
		b = binary.LittleEndian.AppendUint32(b, r.Alloc)
		b = binary.LittleEndian.AppendUint32(b, r.RingSize)
		b = appendString(b, r.Name)
	case MsgTap:
		b = append(b, r.Kind, 0, 0, 0)
		b = binary.LittleEndian.AppendUint32(b, uint32(r.Order))
		b = appendString(b, r.Port)
	case MsgCloseTap:
		b = binary.LittleEndian.AppendUint32(b, r.Handle)
	}
	return b
}

// decodeHeader checks the header and returns type, seq, status.
func decodeHeader(b []byte) (uint16, uint32, uint32, error) {
	if len(b) < HeaderLen {
		return 0, 0, 0, protoErr("%d bytes, shorter than the header", len(b))
	}
	if len(b) > MaxMessage {
		return 0, 0, 0, protoErr("%d bytes, longer than %d", len(b), MaxMessage)
	}
	le := binary.LittleEndian
	if m := le.Uint32(b); m != ProtoMagic {
		return 0, 0, 0, protoErr("magic %#x", m)
	}
	if v := le.Uint16(b[4:]); v != ABIVersion {
		return 0, 0, 0, fmt.Errorf("%w: version %d, this daemon speaks %d", ErrVersion, v, ABIVersion)
	}
	return le.Uint16(b[6:]), le.Uint32(b[8:]), le.Uint32(b[12:]), nil
}

// ErrVersion is returned for a message of another protocol version.
var ErrVersion = errors.New("tap: protocol version not supported")

// readString reads a length-prefixed string of at most max printable
// bytes that must end the message.
func readString(b []byte, max int, what string) (string, error) {
	if len(b) < 2 {
		return "", protoErr("%s length missing", what)
	}
	n := int(binary.LittleEndian.Uint16(b))
	if n > max || len(b) != 2+n {
		return "", protoErr("%s of %d bytes in %d (max %d)", what, n, len(b)-2, max)
	}
	s := string(b[2:])
	if !utf8.ValidString(s) {
		return "", protoErr("%s is not UTF-8", what)
	}
	for _, c := range s {
		if c < 0x20 || c == 0x7f {
			return "", protoErr("%s has control characters", what)
		}
	}
	return s, nil
}

// DecodeRequest decodes one request message from an application: the
// daemon's only parser of what applications send on the socket.
func DecodeRequest(b []byte) (Request, error) {
	typ, seq, status, err := decodeHeader(b)
	if err != nil {
		return Request{}, err
	}
	r := Request{Type: typ, Seq: seq}
	if status != 0 {
		return r, protoErr("a request with status %d", status)
	}
	body := b[HeaderLen:]
	le := binary.LittleEndian
	switch typ {
	case MsgHello:
		if len(body) < 8 {
			return r, protoErr("hello of %d bytes", len(body))
		}
		r.Alloc, r.RingSize = le.Uint32(body), le.Uint32(body[4:])
		if r.Name, err = readString(body[8:], MaxNameLen, "name"); err != nil {
			return r, err
		}
	case MsgTap:
		if len(body) < 8 {
			return r, protoErr("tap request of %d bytes", len(body))
		}
		r.Kind = body[0]
		if r.Kind < TapInput || r.Kind > TapBypass {
			return r, protoErr("tap kind %d", r.Kind)
		}
		if body[1]|body[2]|body[3] != 0 {
			return r, protoErr("reserved bytes set")
		}
		r.Order = int32(le.Uint32(body[4:]))
		if r.Port, err = readString(body[8:], MaxPortLen, "port"); err != nil {
			return r, err
		}
		if r.Port == "" {
			return r, protoErr("empty port name")
		}
	case MsgCloseTap:
		if len(body) != 4 {
			return r, protoErr("close of %d bytes", len(body))
		}
		r.Handle = le.Uint32(body)
	default:
		return r, protoErr("message type %d", typ)
	}
	return r, nil
}

// Response is a decoded response.
type Response struct {
	Type    uint16
	Seq     uint32
	Status  uint32
	Message string // when Status is not StatusOK
	// Hello (with 4 fds: pool memfd, ring memfd, application eventfd,
	// daemon eventfd).
	AppID, Quota, RingSize, FrameSize, FrameCount uint32
	RegionSize, HeaderOffset, RingsSize           uint64
	// Tap.
	Handle, PortIndex uint32
}

// Encode encodes the response.
func (r Response) Encode() []byte {
	b := putHeader(make([]byte, 0, 64), r.Type, r.Seq, r.Status)
	le := binary.LittleEndian
	if r.Status != StatusOK {
		m := r.Message
		if len(m) > MaxErrorLen {
			m = m[:MaxErrorLen]
		}
		return append(b, m...)
	}
	switch r.Type {
	case MsgHello:
		for _, v := range []uint32{r.AppID, r.Quota, r.RingSize, r.FrameSize, r.FrameCount, 0} {
			b = le.AppendUint32(b, v)
		}
		for _, v := range []uint64{r.RegionSize, r.HeaderOffset, r.RingsSize} {
			b = le.AppendUint64(b, v)
		}
	case MsgTap:
		b = le.AppendUint32(b, r.Handle)
		b = le.AppendUint32(b, r.PortIndex)
	}
	return b
}

// DecodeResponse decodes a response (the client side).
func DecodeResponse(b []byte) (Response, error) {
	typ, seq, status, err := decodeHeader(b)
	if err != nil {
		return Response{}, err
	}
	r := Response{Type: typ, Seq: seq, Status: status}
	body := b[HeaderLen:]
	le := binary.LittleEndian
	if status != StatusOK {
		r.Message = string(body)
		return r, nil
	}
	switch typ {
	case MsgHello:
		if len(body) != 48 {
			return r, protoErr("hello response of %d bytes", len(body))
		}
		r.AppID, r.Quota, r.RingSize = le.Uint32(body), le.Uint32(body[4:]), le.Uint32(body[8:])
		r.FrameSize, r.FrameCount = le.Uint32(body[12:]), le.Uint32(body[16:])
		r.RegionSize, r.HeaderOffset, r.RingsSize = le.Uint64(body[24:]), le.Uint64(body[32:]), le.Uint64(body[40:])
	case MsgTap:
		if len(body) != 8 {
			return r, protoErr("tap response of %d bytes", len(body))
		}
		r.Handle, r.PortIndex = le.Uint32(body), le.Uint32(body[4:])
	case MsgCloseTap:
	default:
		return r, protoErr("response type %d", typ)
	}
	return r, nil
}
