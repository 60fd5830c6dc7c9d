package proto

import (
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Code is an error message's reason.
type Code uint16

const (
	CodeVersion       Code = 1  // version not spoken; Versions lists the server's
	CodeAuth          Code = 2  // missing or wrong credentials
	CodeNotRegistered Code = 3  // the port is not registered for mirroring
	CodeBusy          Code = 4  // another client holds the port
	CodeNotAllowed    Code = 5  // these credentials may not use the port
	CodeNoPort        Code = 6  // no such port on the appliance
	CodeMalformed     Code = 7  // the message could not be decoded
	CodeTooLarge      Code = 8  // the message exceeded MaxPayload
	CodeState         Code = 9  // not valid now (e.g. data on a channel not granted)
	CodeInternal      Code = 10 // the server failed
	CodeShutdown      Code = 11 // the server is stopping
)

func (c Code) String() string {
	switch c {
	case CodeVersion:
		return "unsupported version"
	case CodeAuth:
		return "authentication failed"
	case CodeNotRegistered:
		return "port not registered"
	case CodeBusy:
		return "port busy"
	case CodeNotAllowed:
		return "port not allowed"
	case CodeNoPort:
		return "no such port"
	case CodeMalformed:
		return "malformed message"
	case CodeTooLarge:
		return "message too large"
	case CodeState:
		return "invalid in this state"
	case CodeInternal:
		return "internal error"
	case CodeShutdown:
		return "server shutting down"
	}
	return "error " + strconv.Itoa(int(c))
}

// Error is the payload of an error message; it is also a Go error.
type Error struct {
	Code     Code
	Message  string
	Versions []uint8 // with CodeVersion: the versions the sender speaks
}

func (e *Error) Error() string {
	s := "mirror server: " + e.Code.String()
	if e.Message != "" {
		s += ": " + e.Message
	}
	if len(e.Versions) > 0 {
		vs := make([]string, len(e.Versions))
		for i, v := range e.Versions {
			vs[i] = strconv.Itoa(int(v))
		}
		s += " (supported versions: " + strings.Join(vs, ", ") + ")"
	}
	return s
}

// AppendError appends an error payload.
func AppendError(b []byte, e *Error) []byte {
	x := enc(b).u16(uint16(e.Code)).str(e.Message).u8(uint8(len(e.Versions)))
	return append(x, e.Versions...)
}

// ParseError decodes an error payload.
func ParseError(b []byte) (*Error, error) {
	d := dec{b: b}
	e := &Error{Code: Code(d.u16()), Message: d.str()}
	if v := d.raw(int(d.u8())); len(v) > 0 {
		e.Versions = slices.Clone(v)
	}
	return e, d.end()
}

// Frame is one frame of a data message.
type Frame struct {
	Timestamp int64 // ns since the Unix epoch on the appliance clock (0 from clients)
	Source    uint8 // timestamp source (see TS* constants)
	Dir       uint8 // DirRX or DirTX, relative to the appliance port
	WireLen   uint32
	Data      []byte
}

// Frame directions.
const (
	DirRX = 1 // received on the appliance port
	DirTX = 2 // transmitted by the appliance port
)

// Timestamp sources, the capture core's values.
const (
	TSNone     = 0
	TSHardware = 1
	TSKernel   = 2
	TSXDP      = 3
	TSEngine   = 4
	TSTransmit = 5
)

// FrameHeaderLen is the per-frame header inside a data message.
const FrameHeaderLen = 20

// MaxFrame bounds one frame's captured length.
const MaxFrame = 65535

// DataWriter builds one data message in a buffer; frames are appended until
// Full, then Finish fills in the header.
type DataWriter struct {
	buf   []byte
	count int
}

// Reset starts a data message for channel with sequence seq.
func (w *DataWriter) Reset(buf []byte, channel uint16, seq uint32) {
	w.buf = AppendHeader(buf[:0], Header{Version: Version, Type: TypeData, Channel: channel, Seq: seq})
	w.buf = append(w.buf, 0, 0) // frame count
	w.count = 0
}

// Fits reports whether a frame of n bytes still fits into the message.
func (w *DataWriter) Fits(n int) bool {
	return len(w.buf)-HeaderLen+FrameHeaderLen+n <= MaxPayload && w.count < 0xffff
}

// Len is the message length so far.
func (w *DataWriter) Len() int { return len(w.buf) }

// Count is the number of frames so far.
func (w *DataWriter) Count() int { return w.count }

// Add appends one frame (call Fits first).
func (w *DataWriter) Add(ts int64, src, dir uint8, wireLen int, data []byte) {
	b := binary.BigEndian.AppendUint64(w.buf, uint64(ts))
	b = append(b, src, dir, 0, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(wireLen))
	b = binary.BigEndian.AppendUint32(b, uint32(len(data)))
	w.buf = append(b, data...)
	w.count++
}

// Finish sets the payload length and frame count and returns the message.
func (w *DataWriter) Finish() []byte {
	binary.BigEndian.PutUint32(w.buf[12:], uint32(len(w.buf)-HeaderLen))
	binary.BigEndian.PutUint16(w.buf[HeaderLen:], uint16(w.count))
	return w.buf
}

// ForEachFrame decodes a data payload, calling fn per frame; f.Data aliases
// the payload. Decoding stops at the first error (fn's or the format's).
func ForEachFrame(payload []byte, fn func(f Frame) error) error {
	d := dec{b: payload}
	n := int(d.u16())
	for i := 0; i < n; i++ {
		var f Frame
		f.Timestamp = int64(d.u64())
		f.Source = d.u8()
		f.Dir = d.u8()
		d.u16()
		f.WireLen = d.u32()
		cl := d.u32()
		if d.err == nil && cl > MaxFrame {
			return fmt.Errorf("%w: frame of %d bytes", ErrMalformed, cl)
		}
		f.Data = d.raw(int(cl))
		if d.err != nil {
			return d.err
		}
		if f.Dir != DirRX && f.Dir != DirTX {
			return fmt.Errorf("%w: frame direction %d", ErrMalformed, f.Dir)
		}
		if err := fn(f); err != nil {
			return err
		}
	}
	return d.end()
}
