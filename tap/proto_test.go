package tap

import (
	"errors"
	"reflect"
	"testing"
)

// realRequests are requests as the Go client sends them (the C example's
// hello, recorded from a run, is in testdata/fuzz/FuzzDecodeRequest).
var realRequests = []Request{
	{Type: MsgHello, Seq: 1, Alloc: 256, RingSize: 4096, Name: "bridge"},
	{Type: MsgHello, Seq: 1, Name: "tapcount"},
	{Type: MsgTap, Seq: 2, Kind: TapInput, Order: 10, Port: "wb0"},
	{Type: MsgTap, Seq: 3, Kind: TapOutput, Order: -1, Port: "eth1"},
	{Type: MsgTap, Seq: 4, Kind: TapBypass, Port: "veth-long-name0"},
	{Type: MsgCloseTap, Seq: 5, Handle: 2},
}

func TestProtoRoundTrip(t *testing.T) {
	for _, r := range realRequests {
		got, err := DecodeRequest(r.Encode())
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Errorf("%+v: got %+v, %v", r, got, err)
		}
	}
	for _, r := range []Response{
		{Type: MsgHello, Seq: 1, AppID: 3, Quota: 4096, RingSize: 4096, FrameSize: 2048, FrameCount: 16384, RegionSize: 1 << 26, HeaderOffset: 1<<26 - 4096, RingsSize: 1 << 18},
		{Type: MsgTap, Seq: 2, Handle: 1, PortIndex: 4},
		{Type: MsgCloseTap, Seq: 3},
		{Type: MsgTap, Seq: 4, Status: StatusBusy, Message: "port wb0 is held"},
	} {
		got, err := DecodeResponse(r.Encode())
		if err != nil || !reflect.DeepEqual(got, r) {
			t.Errorf("%+v: got %+v, %v", r, got, err)
		}
	}
	bad := realRequests[2].Encode()
	bad[16] = 9 // kind
	if _, err := DecodeRequest(bad); !errors.Is(err, ErrProto) {
		t.Errorf("kind 9: %v", err)
	}
	v2 := realRequests[0].Encode()
	v2[4] = 2
	if _, err := DecodeRequest(v2); !errors.Is(err, ErrVersion) {
		t.Errorf("version 2: %v", err)
	}
	long := realRequests[0].Encode()
	if _, err := DecodeRequest(append(long, 'x')); !errors.Is(err, ErrProto) {
		t.Errorf("trailing byte: %v", err)
	}
}

// FuzzDecodeRequest: whatever an application sends, the decoder returns a
// request or an error, never panics, and what it accepts encodes back to
// the same bytes.
func FuzzDecodeRequest(f *testing.F) {
	for _, r := range realRequests {
		f.Add(r.Encode())
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRequest(b)
		if err != nil {
			return
		}
		if e := r.Encode(); string(e) != string(b) {
			t.Fatalf("accepted %x but encodes as %x", b, e)
		}
		if len(r.Name) > MaxNameLen || len(r.Port) > MaxPortLen {
			t.Fatalf("oversized strings accepted: %+v", r)
		}
	})
}
