package capture

import (
	"encoding/binary"
	"testing"

	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/tap"
)

// sendPaced sends n frames in bursts, waiting after each burst until the
// port has seen them: a moderate rate, so exact counts test correctness
// rather than whether the -race build keeps up with the sender.
func sendPaced(t *testing.T, s *sender, port *Port, dst []byte, n, size, burst int) {
	t.Helper()
	for sent := 0; sent < n; {
		k := min(burst, n-sent)
		f := testFrame(dst, size, 0)
		for i := 0; i < k; i++ {
			binary.BigEndian.PutUint32(f[14:], uint32(sent+i))
			if err := writeRetry(s.fd, f); err != nil {
				t.Fatalf("send: %v", err)
			}
		}
		sent += k
		waitFor(t, "port to receive the burst", func() bool {
			return port.Stats().RxPackets >= uint64(sent)
		})
		if testing.Verbose() && sent == k {
			t.Logf("after first burst: %+v", port.Stats())
		}
	}
}

func TestBypassCountAndForward(t *testing.T) {
	// sender(b) peer0 <-> wb0 [bypass, forward to wb1] (a) wb1 <-> peer1 (c) [passive]
	// The subscribers hold every frame until the end: n frames on the
	// bypass side, n copies on the passive far end, plus four fill rings.
	tp := newTopo(t, 32768)
	c := netns.New(t)
	_, lp1 := netns.Veth(t, tp.a, "wb1", c, "peer1", netns.VethOptions{})
	in, err := tp.core.OpenPort(PortConfig{Name: "wb0", NetNS: tp.a.Path, Mode: Bypass, Forward: "wb1"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := tp.core.OpenPort(PortConfig{Name: "wb1", NetNS: tp.a.Path, Mode: Bypass})
	if err != nil {
		t.Fatal(err)
	}
	far, err := tp.core.OpenPort(PortConfig{Name: "peer1", NetNS: c.Path, Mode: Passive})
	if err != nil {
		t.Fatal(err)
	}
	mon, _ := in.Subscribe(SubscribeOptions{Name: "monitor", Queue: 32768})
	outTX, _ := out.Subscribe(SubscribeOptions{Name: "out-tx", Direction: TX, Queue: 32768})
	farRX, _ := far.Subscribe(SubscribeOptions{Name: "far-rx", Queue: 32768})
	const n = 10000
	sendPaced(t, newSender(t, tp.b, "peer0"), in, tp.la.MAC, n, 64, 512)
	var seq uint32
	drain(t, mon, n, func(f Frame) {
		if got := binary.BigEndian.Uint32(f.Data()[14:]); got != seq || f.TimestampSource() != TSEngine || f.WireLen() != 64 {
			t.Errorf("frame %d: seq %d source %v len %d", seq, got, f.TimestampSource(), f.WireLen())
		}
		seq++
	})
	drain(t, outTX, n, func(f Frame) {
		if f.Direction() != TX || f.TimestampSource() != TSTransmit {
			t.Errorf("forwarded frame dir %v source %v", f.Direction(), f.TimestampSource())
		}
	})
	seq = 0
	drain(t, farRX, n, func(f Frame) {
		if got := binary.BigEndian.Uint32(f.Data()[14:]); got != seq {
			t.Errorf("far end frame %d has seq %d", seq, got)
		}
		seq++
	})
	si, so, sf := in.Stats(), out.Stats(), far.Stats()
	if si.RxPackets != n || si.RxBytes != n*64 || si.RxDroppedKernel != 0 || si.RxDroppedPool != 0 || si.Unclaimed != 0 || !si.LinkUp {
		t.Errorf("in stats %+v", si)
	}
	if so.TxPackets != n || so.TxErrors != 0 || so.RxPackets != 0 {
		t.Errorf("out stats %+v", so)
	}
	if sf.RxPackets != n {
		t.Errorf("far stats %+v", sf)
	}
	_ = lp1
}

// TestBypassOwnerTransmit: an owner subscriber takes every frame and sends
// it back out of the port it came in on; unclaimed frames are counted.
func TestBypassOwnerTransmit(t *testing.T) {
	tp := newTopo(t, 8192)
	port, err := tp.core.OpenPort(PortConfig{Name: "wb0", NetNS: tp.a.Path, Mode: Bypass})
	if err != nil {
		t.Fatal(err)
	}
	peer, err := tp.core.OpenPort(PortConfig{Name: "peer0", NetNS: tp.b.Path})
	if err != nil {
		t.Fatal(err)
	}
	back, _ := peer.Subscribe(SubscribeOptions{Name: "back", Queue: 4096})
	own, _ := port.Subscribe(SubscribeOptions{Name: "reflector", Kind: Owner, Queue: 4096,
		Match: func(d []byte) bool { return binary.BigEndian.Uint32(d[14:])%2 == 0 }})
	done := make(chan struct{})
	go func() {
		defer close(done)
		ctx := t.Context()
		buf := make([]Frame, 32)
		for got := 0; got < 500; {
			k, err := own.Receive(ctx, buf)
			if err != nil {
				t.Error(err)
				return
			}
			for _, f := range buf[:k] {
				if tp.pool.Owner(f.ID()) == tap.OwnerCore {
					t.Error("owner frame not owned by subscriber")
				}
				copy(f.Data()[0:6], tp.lb.MAC)
				if err := port.Transmit(f); err != nil {
					t.Error(err)
				}
			}
			got += k
		}
	}()
	sendPaced(t, newSender(t, tp.b, "peer0"), port, tp.la.MAC, 1000, 60, 200)
	<-done
	// The peer sees its own 1000 frames as TX and the 500 reflected as RX.
	drain(t, back, 500, func(f Frame) {
		if f.Direction() != RX || binary.BigEndian.Uint32(f.Data()[14:])%2 != 0 {
			t.Errorf("reflected frame dir %v", f.Direction())
		}
	})
	st := port.Stats()
	if st.RxPackets != 1000 || st.TxPackets != 500 || st.Unclaimed != 500 {
		t.Fatalf("stats %+v", st)
	}
}
