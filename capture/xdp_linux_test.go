package capture

import (
	"encoding/binary"
	"slices"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/testutil"
	"github.com/wirebox/wirebox/tap"
	"golang.org/x/sys/unix"
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
			if err := s.Write(f); err != nil {
				t.Fatalf("send: %v", err)
			}
		}
		sent += k
		testutil.WaitFor(t, "port to receive the burst", func() bool {
			return port.Stats().RxPackets >= uint64(sent)
		})
	}
}

func TestBypassCountAndForward(t *testing.T) {
	// sender(b) peer0 <-> wb0 [bypass, forward to wb1] (a) wb1 <-> peer1 (c) [passive]
	// The subscribers hold every frame until the end: n frames on the
	// bypass side, n copies on the passive far end, plus four fill rings.
	tp := newTopo(t, 32768)
	c := netns.New(t)
	_, lp1 := netns.Veth(t, tp.a, "wb1", c, "peer1", netns.VethOptions{})
	in := tp.wb0(t, PortConfig{Mode: Bypass, Forward: "wb1"})
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
	port, peer := tp.ports(t, Bypass)
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

// TestBypassPoolExhausted: a reader that holds every frame empties the
// pool; what arrives then is dropped and counted, so received plus dropped
// is exactly what was sent, and closing the reader returns every frame.
func TestBypassPoolExhausted(t *testing.T) {
	tp := newTopo(t, 4096)
	port := tp.wb0(t, PortConfig{Mode: Bypass, RingFrames: 1024})
	hold, _ := port.Subscribe(SubscribeOptions{Name: "hold", Queue: 8192})
	const n = 6000
	snd := newSender(t, tp.b, "peer0")
	for sent := 0; sent < n; sent += 200 {
		snd.send(t, tp.la.MAC, 200, 64)
		testutil.WaitFor(t, "every frame received or dropped", func() bool {
			st := port.Stats()
			return st.RxPackets+st.RxDroppedKernel == uint64(sent+200)
		})
	}
	st := port.Stats()
	if st.RxDroppedKernel == 0 || st.RxPackets > 4096 {
		t.Fatalf("stats %+v: want drops once the 4096-frame pool is held", st)
	}
	if s := hold.Stats(); s.Delivered != st.RxPackets || s.Dropped != 0 {
		t.Fatalf("holder %+v", s)
	}
	hold.Close()
}

// TestBypassTwoQueues: one AF_XDP socket per queue, both on the pool.
func TestBypassTwoQueues(t *testing.T) {
	p := netns.Pair(t, netns.PairOptions{Near: "mq0", Far: "mqpeer0", VethOptions: netns.VethOptions{Queues: 2}})
	a, b, la := p.Near, p.Far, p.NearLink
	pool, err := tap.NewPool(tap.Config{Frames: 8192})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	c := NewCore(pool, nil)
	port, err := c.OpenPort(PortConfig{Name: "mq0", NetNS: a.Path, Mode: Bypass, Queues: 2, RingFrames: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if e := port.eng.(*xdpEngine); len(e.socks) != 2 {
		t.Fatalf("%d sockets", len(e.socks))
	}
	s, _ := port.Subscribe(SubscribeOptions{Name: "all", Queue: 4096})
	sendPaced(t, newSender(t, b, "mqpeer0"), port, la.MAC, 3000, 64, 500)
	drain(t, s, 3000, nil)
	if st := port.Stats(); st.RxPackets != 3000 || st.RxDroppedKernel != 0 {
		t.Fatalf("stats %+v", st)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := pool.CheckFull(); err != nil {
		t.Fatal(err)
	}
}

// TestBypassCrossForwardWithClosingSubscribers: two bypass ports forward
// into each other (a bump in the wire) with traffic both ways while
// subscriptions on both come and go concurrently. Nothing may deadlock,
// and every frame returns to the pool.
func TestBypassCrossForwardWithClosingSubscribers(t *testing.T) {
	// senderA(b) peer0 <-> wb0 [bypass, forward wb1] (a) wb1 [bypass, forward wb0] <-> peer1 (c) senderC
	tp := newTopo(t, 16384)
	c := netns.New(t)
	_, lp1 := netns.Veth(t, tp.a, "wb1", c, "peer1", netns.VethOptions{})
	for _, cfg := range []PortConfig{
		{Name: "wb0", NetNS: tp.a.Path, Mode: Bypass, Forward: "wb1", RingFrames: 1024},
		{Name: "wb1", NetNS: tp.a.Path, Mode: Bypass, Forward: "wb0", RingFrames: 1024},
	} {
		if _, err := tp.core.OpenPort(cfg); err != nil {
			t.Fatal(err)
		}
	}
	in0, in1 := tp.core.Port("wb0"), tp.core.Port("wb1")
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, p := range []*Port{in0, in1} {
		for _, dir := range []Direction{RX, TX} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]Frame, 16)
				for {
					select {
					case <-stop:
						return
					default:
					}
					s, err := p.Subscribe(SubscribeOptions{Name: "churn", Direction: dir, Queue: 64})
					if err != nil {
						t.Error(err)
						return
					}
					ReleaseAll(buf[:s.TryReceive(buf)])
					s.Close()
				}
			}()
		}
	}
	sa, sc := newSender(t, tp.b, "peer0"), newSender(t, c, "peer1")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			sa.send(t, tp.la.MAC, 100, 64)
			sc.send(t, lp1.MAC, 100, 64)
		}
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("senders stuck")
	}
	testutil.WaitFor(t, "traffic through both ports", func() bool {
		return in0.Stats().RxPackets+in0.Stats().RxDroppedKernel == 2000 && in1.Stats().RxPackets+in1.Stats().RxDroppedKernel == 2000
	})
	close(stop)
	wg.Wait()
	// Every frame received on one port was sent on the other. A transmit
	// error is not forwarding: counted as such, a forwarder failing every
	// frame passed.
	testutil.WaitFor(t, "forwarding accounted", func() bool {
		a, b := in0.Stats(), in1.Stats()
		return b.TxPackets+b.TxErrors == a.RxPackets && a.TxPackets+a.TxErrors == b.RxPackets
	})
	if a, b := in0.Stats(), in1.Stats(); a.TxErrors != 0 || b.TxErrors != 0 || b.TxPackets != a.RxPackets || a.TxPackets != b.RxPackets {
		t.Fatalf("forwarded wb0->wb1 %d of %d (%d errors), wb1->wb0 %d of %d (%d errors)", b.TxPackets, a.RxPackets, b.TxErrors, a.TxPackets, b.RxPackets, a.TxErrors)
	}
}

// TestBypassInject: a bypass port's traffic never reaches the host stack,
// so Inject hands the frame to the port's own fan-out (subscribers, then
// the default action), stamped by the engine, and makes no injector.
func TestBypassInject(t *testing.T) {
	tp := newTopo(t, 8192)
	port := tp.wb0(t, PortConfig{Mode: Bypass})
	rx, _ := port.Subscribe(SubscribeOptions{Name: "rx"})
	f, err := tp.core.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	f.SetLen(copy(f.Buffer(), testFrame(tp.la.MAC, 60, 9)))
	if err := port.Inject(f); err != nil {
		t.Fatal(err)
	}
	drain(t, rx, 1, func(f Frame) {
		if f.Direction() != RX || f.TimestampSource() != TSEngine || f.Port() != port || binary.BigEndian.Uint32(f.Data()[14:]) != 9 {
			t.Errorf("injected frame dir %v src %v", f.Direction(), f.TimestampSource())
		}
	})
	port.injMu.RLock()
	defer port.injMu.RUnlock()
	if port.inj != nil {
		t.Fatal("bypass port made an injector")
	}
}

// TestBypassBusyPoll: a bypass port whose AF_XDP socket busy-polls
// (SO_BUSY_POLL, SO_PREFER_BUSY_POLL, SO_BUSY_POLL_BUDGET) receives every
// frame, in order, and the kernel took the options.
func TestBypassBusyPoll(t *testing.T) {
	tp := newTopo(t, 8192)
	port := tp.wb0(t, PortConfig{Mode: Bypass, BusyPoll: 50, BusyPollBudget: 64})
	e := port.eng.(*xdpEngine)
	if want := []string{"SO_BUSY_POLL", "SO_PREFER_BUSY_POLL", "SO_BUSY_POLL_BUDGET"}; !e.busyPoll || !slices.Equal(e.busyOpts, want) {
		t.Fatalf("busy-poll options taken: %v, want %v", e.busyOpts, want)
	}
	// The budget can be set but not read back.
	for _, o := range []struct {
		opt, want int
	}{{unix.SO_BUSY_POLL, 50}, {unix.SO_PREFER_BUSY_POLL, 1}} {
		if v, err := unix.GetsockoptInt(e.socks[0].fd, unix.SOL_SOCKET, o.opt); err != nil || v != o.want {
			t.Fatalf("socket option %#x: %d, %v; want %d", o.opt, v, err, o.want)
		}
	}
	sub, err := port.Subscribe(SubscribeOptions{Name: "bp", Queue: 8192})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	sendPaced(t, newSender(t, tp.b, "peer0"), port, tp.la.MAC, n, 64, 256)
	var seq uint32
	drain(t, sub, n, func(f Frame) {
		if got := binary.BigEndian.Uint32(f.Data()[14:]); got != seq {
			t.Errorf("frame %d has seq %d", seq, got)
		}
		seq++
	})
	if st := port.Stats(); st.RxPackets != n || st.RxDroppedKernel != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestBypassZeroCopyMode: the engine asks for zero-copy first and falls
// back to copy mode; what it believes it got must be what the kernel says
// (XDP_OPTIONS), since copy mode kicks every 32 frames and zero-copy only
// on request. veth has native XDP but no AF_XDP zero-copy (no
// ndo_xsk_wakeup), so here the fallback is what runs; the zero-copy path
// needs a NIC whose driver supports it (ice, i40e, mlx5, ...).
func TestBypassZeroCopyMode(t *testing.T) {
	tp := newTopo(t, 4096)
	port := tp.wb0(t, PortConfig{Mode: Bypass})
	e := port.eng.(*xdpEngine)
	var opts struct{ flags uint32 }
	if err := getsockopt(e.socks[0].fd, unix.XDP_OPTIONS, unsafe.Pointer(&opts), unsafe.Sizeof(opts)); err != nil {
		t.Fatalf("XDP_OPTIONS: %v", err)
	}
	kernelZC := opts.flags&unix.XDP_OPTIONS_ZEROCOPY != 0
	t.Logf("veth AF_XDP socket: zero-copy %v (engine: %v)", kernelZC, e.zc)
	if kernelZC != e.zc {
		t.Fatalf("engine believes zero-copy %v, kernel says %v", e.zc, kernelZC)
	}
}
