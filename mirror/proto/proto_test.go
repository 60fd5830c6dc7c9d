package proto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net"
	"reflect"
	"testing"
)

// arpRequest is a real frame: an ARP request from the test lab.
var arpRequest, _ = hex.DecodeString("ffffffffffff6e0a6649e30e08060001080006040001" +
	"6e0a6649e30ec0a84d02000000000000c0a84d09")

// realMessages are messages as the client and server put them on the wire.
func realMessages() [][]byte {
	q := Header{Version: Version, Type: TypeQuery, Seq: 1}
	r := Header{Version: Version, Type: TypeResponse, Seq: 1}
	mac := net.HardwareAddr{0xb2, 0xf8, 0x20, 0xf6, 0x09, 0xa0}
	port := PortInfo{Name: "mp0", LinkUp: true, Registered: true, Held: true, SpeedMbps: 10000, Duplex: DuplexFull,
		MTU: 1500, MAC: mac, Holder: "10.77.0.1:42430", Monitors: 1}
	var dw DataWriter
	dw.Reset(nil, 1, 9)
	dw.Add(1764650000123456789, TSXDP, DirRX, len(arpRequest), arpRequest)
	dw.Add(1764650000123459999, TSTransmit, DirTX, 1514, arpRequest[:20])
	return [][]byte{
		Build(nil, q, AppendHello(nil, Hello{Versions: []uint8{1}, Token: "9e5a80a126722eff9dc9d61a308ccb906df94dd7a56838bcac652fea1796c935", Client: "laptop"})),
		Build(nil, r, AppendWelcome(nil, Welcome{Version: 1, Server: "wirebox", Identity: "token"})),
		Build(nil, q, AppendOp(nil, OpList)),
		Build(nil, r, AppendPorts(nil, []PortInfo{port, {Name: "mq0", Duplex: DuplexUnknown, MTU: 1500}})),
		Build(nil, Header{Version: 1, Type: TypeQuery, Channel: 1, Seq: 2}, AppendRequest(nil, Request{Port: "mp0", Mode: ModeMonitor})),
		Build(nil, Header{Version: 1, Type: TypeResponse, Channel: 1, Seq: 2}, AppendPort(nil, OpRequest, port)),
		Build(nil, Header{Version: 1, Type: TypeReport, Channel: 1, Seq: 5}, AppendPort(nil, OpLink, port)),
		Build(nil, Header{Version: 1, Type: TypeReport, Channel: 1, Seq: 6}, AppendGone(nil, "port mp0 was unregistered")),
		Build(nil, Header{Version: 1, Type: TypeResponse, Channel: 1, Seq: 3}, AppendCounters(nil, Counters{1, 2, 3, 4, 5, 6, 7})),
		Build(nil, q, AppendPing(nil, 1764650000123456789)),
		Build(nil, Header{Version: 1, Type: TypeError, Seq: 1}, AppendError(nil, &Error{Code: CodeVersion, Message: "client speaks [9]", Versions: []uint8{1}})),
		Build(nil, Header{Version: 1, Type: TypeError, Channel: 1, Seq: 2}, AppendError(nil, &Error{Code: CodeBusy, Message: "port mp0 is held by 10.77.0.1:42430"})),
		dw.Finish(),
	}
}

// parse decodes a whole message the way the peers do; it must never panic.
func parse(b []byte) (any, error) {
	m, err := Decode(b)
	if err != nil {
		return nil, err
	}
	switch m.Type {
	case TypeData:
		var fs []Frame
		err := ForEachFrame(m.Payload, func(f Frame) error { fs = append(fs, f); return nil })
		return fs, err
	case TypeError:
		return ParseError(m.Payload)
	}
	op, body, err := m.Op()
	if err != nil {
		return nil, err
	}
	switch {
	case op == OpHello && m.Type == TypeQuery:
		return ParseHello(body)
	case op == OpHello:
		return ParseWelcome(body)
	case op == OpList && m.Type == TypeResponse:
		return ParsePorts(body)
	case op == OpRequest && m.Type == TypeQuery:
		return ParseRequest(body)
	case op == OpRequest || op == OpLink:
		return ParsePort(body)
	case op == OpGone:
		return ParseGone(body)
	case op == OpCounters && m.Type == TypeResponse:
		return ParseCounters(body)
	case op == OpPing:
		return ParsePing(body)
	}
	return op, nil
}

func TestRoundTrip(t *testing.T) {
	for i, b := range realMessages() {
		v, err := parse(b)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if i == 3 {
			ports := v.([]PortInfo)
			if len(ports) != 2 || ports[0].Holder != "10.77.0.1:42430" || ports[0].MAC.String() != "b2:f8:20:f6:09:a0" ||
				!ports[0].LinkUp || !ports[0].Held || ports[1].MAC != nil || ports[1].Held {
				t.Errorf("ports %+v", ports)
			}
		}
		if i == len(realMessages())-1 {
			fs := v.([]Frame)
			if len(fs) != 2 || !bytes.Equal(fs[0].Data, arpRequest) || fs[0].Timestamp != 1764650000123456789 ||
				fs[0].Source != TSXDP || fs[1].Dir != DirTX || fs[1].WireLen != 1514 || len(fs[1].Data) != 20 {
				t.Errorf("frames %+v", fs)
			}
		}
		// Any cut short is an error, never a panic or a success.
		for n := 0; n < len(b); n++ {
			if _, err := parse(b[:n]); err == nil {
				t.Errorf("message %d cut to %d bytes decoded", i, n)
			}
		}
	}
	e, _ := parse(realMessages()[10])
	if got := e.(*Error).Error(); got != "mirror server: unsupported version: client speaks [9] (supported versions: 1)" {
		t.Errorf("error text %q", got)
	}
}

func TestLimits(t *testing.T) {
	h := AppendHeader(nil, Header{Version: 1, Type: TypeData, Length: MaxPayload + 1})
	if _, err := ParseHeader(h); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
	h = AppendHeader(nil, Header{Version: 1, Type: 77})
	if _, err := ParseHeader(h); !errors.Is(err, ErrMalformed) {
		t.Errorf("bad type: %v", err)
	}
	if _, err := ParseHeader([]byte("GET / HTTP/1.1\r\n")); !errors.Is(err, ErrMagic) {
		t.Errorf("garbage: %v", err)
	}
	var dw DataWriter
	dw.Reset(nil, 1, 1)
	n := 0
	for dw.Fits(1500) {
		dw.Add(0, 0, DirTX, 1500, make([]byte, 1500))
		n++
	}
	if msg := dw.Finish(); len(msg)-HeaderLen > MaxPayload {
		t.Errorf("data message of %d bytes", len(msg))
	}
	got := 0
	msg := dw.Finish()
	if err := ForEachFrame(msg[HeaderLen:], func(Frame) error { got++; return nil }); err != nil || got != n {
		t.Errorf("%d of %d frames: %v", got, n, err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, b := range realMessages() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parse(b)
		if err != nil {
			return
		}
		// What decodes re-encodes to the same message for the fixed-form
		// payloads (strings and lists are canonical in this format).
		m, _ := Decode(b)
		var again []byte
		switch x := v.(type) {
		case Hello:
			again = Build(nil, m.Header, AppendHello(nil, x))
		case Request:
			again = Build(nil, m.Header, AppendRequest(nil, x))
		case Counters:
			again = Build(nil, m.Header, AppendCounters(nil, x))
		case *Error:
			again = Build(nil, m.Header, AppendError(nil, x))
		default:
			return
		}
		if !reflect.DeepEqual(again, b) {
			t.Errorf("re-encoded\n%x\nfrom\n%x", again, b)
		}
	})
}
