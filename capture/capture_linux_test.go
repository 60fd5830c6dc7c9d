package capture

import (
	"context"
	"encoding/binary"
	"net"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/testutil"
	"github.com/wirebox/wirebox/tap"
	"golang.org/x/net/bpf"
)

// testEtherType is the IEEE local experimental EtherType: frames with it
// reach no protocol handler, so the namespaces answer nothing.
const testEtherType = 0x88b5

type topo struct {
	a, b   *netns.NS
	la, lb netns.Link
	pool   *tap.Pool
	core   *Core
}

// newTopo makes two namespaces joined by a veth pair and a core whose pool
// must be full again when the test ends.
func newTopo(t *testing.T, frames int) *topo {
	t.Helper()
	p := netns.Pair(t)
	a, b, la, lb := p.Near, p.Far, p.NearLink, p.FarLink
	netns.Backpressure(t, la, lb)
	pool, err := tap.NewPool(tap.Config{Frames: frames})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCore(pool, nil)
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
		if err := pool.CheckFull(); err != nil {
			t.Error(err)
		}
		pool.Close()
	})
	return &topo{a: a, b: b, la: la, lb: lb, pool: pool, core: c}
}

// wb0 opens the near end wb0 as a port with cfg's other settings.
func (tp *topo) wb0(t *testing.T, cfg PortConfig) *Port {
	t.Helper()
	cfg.Name, cfg.NetNS = "wb0", tp.a.Path
	port, err := tp.core.OpenPort(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// ports opens wb0 in mode and the far end peer0 as a passive port, for
// tests that watch what wb0 sends.
func (tp *topo) ports(t *testing.T, mode Mode) (port, peer *Port) {
	t.Helper()
	port = tp.wb0(t, PortConfig{Mode: mode})
	peer, err := tp.core.OpenPort(PortConfig{Name: "peer0", NetNS: tp.b.Path})
	if err != nil {
		t.Fatal(err)
	}
	return port, peer
}

// sender is a raw AF_PACKET socket in a namespace (netns.Raw).
type sender struct{ *netns.Raw }

func newSender(t *testing.T, ns *netns.NS, ifname string) *sender {
	t.Helper()
	return &sender{netns.OpenRaw(t, ns.Link(t, ifname))}
}

// frame builds a test frame of size bytes carrying seq.
func testFrame(dst net.HardwareAddr, size int, seq uint32) []byte {
	f := make([]byte, size)
	copy(f, dst)
	copy(f[6:], []byte{0x02, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(f[12:], testEtherType)
	binary.BigEndian.PutUint32(f[14:], seq)
	return f
}

// send writes n frames. Tests call it from their own goroutines too, so
// it reports a failure with t.Errorf (t.Fatalf may only run on the test's
// goroutine) and stops sending.
func (s *sender) send(t *testing.T, dst net.HardwareAddr, n, size int) {
	t.Helper()
	f := testFrame(dst, size, 0)
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint32(f[14:], uint32(i))
		if err := s.Write(f); err != nil {
			t.Errorf("send %d: %v", i, err)
			return
		}
	}
}

// drain receives and releases frames until want arrived, checking order.
func drain(t *testing.T, s *Subscription, want int, check func(Frame)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	buf := make([]Frame, 64)
	for got := 0; got < want; {
		n, err := s.Receive(ctx, buf)
		if err != nil {
			t.Fatalf("%s: received %d of %d: %v", s.Name(), got, want, err)
		}
		for _, f := range buf[:n] {
			if check != nil {
				check(f)
			}
			f.Release()
		}
		got += n
	}
}

func TestPassiveExactCount(t *testing.T) {
	// Queue and pool hold every frame: under -race the reader may fall far
	// behind the sender, and this test is about exact counts, not speed.
	tp := newTopo(t, 32768)
	port := tp.wb0(t, PortConfig{Mode: Passive})
	fast, err := port.Subscribe(SubscribeOptions{Name: "fast", Queue: 32768})
	if err != nil {
		t.Fatal(err)
	}
	// A subscriber that never reads: it must lose frames, counted exactly,
	// without slowing the other one.
	stuck, err := port.Subscribe(SubscribeOptions{Name: "stuck", Queue: 16})
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	done := make(chan struct{})
	var seq uint32
	before := tp.core.Clock().Now()
	go func() {
		defer close(done)
		drain(t, fast, n, func(f Frame) {
			d := f.Data()
			if len(d) != 64 || f.WireLen() != 64 || f.Direction() != RX || f.Port() != port {
				t.Errorf("frame len %d wire %d dir %v", len(d), f.WireLen(), f.Direction())
			}
			if got := binary.BigEndian.Uint32(d[14:]); got != seq {
				t.Errorf("frame %d carries seq %d", seq, got)
			}
			seq++
			if f.TimestampSource() != TSKernel || f.Timestamp() < before || f.Timestamp() > tp.core.Clock().Now() {
				t.Errorf("timestamp %d from %v", f.Timestamp(), f.TimestampSource())
			}
		})
	}()
	// Bursts below the kernel's default backlog (1000), so the test holds
	// on kernels without veth backpressure too (before 6.16).
	sendPaced(t, newSender(t, tp.b, "peer0"), port, tp.la.MAC, n, 64, 500)
	<-done
	// The last frame may still be on its way to the second subscriber.
	testutil.WaitFor(t, "fan-out of the last frame", func() bool { s := stuck.Stats(); return s.Delivered+s.Dropped == n })
	st := port.Stats()
	if st.RxPackets != n || st.RxBytes != n*64 || st.RxDroppedKernel != 0 || st.RxDroppedPool != 0 {
		t.Fatalf("stats %+v", st)
	}
	if st.TimestampSource != TSKernel || !st.LinkUp {
		t.Fatalf("timestamp source %v link %v", st.TimestampSource, st.LinkUp)
	}
	fs, ss := fast.Stats(), stuck.Stats()
	if fs.Delivered != n || fs.Dropped != 0 {
		t.Fatalf("fast subscriber %+v", fs)
	}
	if ss.Delivered != 16 || ss.Dropped != n-16 {
		t.Fatalf("stuck subscriber %+v, want 16 delivered and %d dropped", ss, n-16)
	}
	// The stuck subscriber's 16 references are released by Close.
	if err := stuck.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := stuck.Receive(context.Background(), make([]Frame, 1)); err != ErrClosed {
		t.Fatalf("receive after close: %v", err)
	}
}

func TestFilterAndOwner(t *testing.T) {
	tp := newTopo(t, 1024)
	port := tp.wb0(t, PortConfig{})
	// Classic BPF: accept frames whose sequence number is even.
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 14, Size: 4},
		bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: 1},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 0, SkipTrue: 1},
		bpf.RetConstant{Val: 0},
		bpf.RetConstant{Val: 0xffff},
	})
	if err != nil {
		t.Fatal(err)
	}
	even, _ := port.Subscribe(SubscribeOptions{Name: "even", Filter: prog})
	// Owner 1 takes frames with seq%3==0; owner 2 takes the rest, and
	// reverts them all; reverted frames end in the default action.
	own1, _ := port.Subscribe(SubscribeOptions{Name: "own1", Kind: Owner, Match: func(d []byte) bool { return binary.BigEndian.Uint32(d[14:])%3 == 0 }})
	own2, _ := port.Subscribe(SubscribeOptions{Name: "own2", Kind: Owner})
	const n = 300
	newSender(t, tp.b, "peer0").send(t, tp.la.MAC, n, 100)
	drain(t, even, n/2, func(f Frame) {
		if binary.BigEndian.Uint32(f.Data()[14:])%2 != 0 {
			t.Errorf("odd frame passed the filter")
		}
	})
	drain(t, own1, n/3, func(f Frame) {
		if tp.pool.Owner(f.ID()) == tap.OwnerCore {
			t.Errorf("owned frame still owned by the core")
		}
		f.Ref().Release() // Ref gives an independent reference
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	buf := make([]Frame, 16)
	for got := 0; got < n-n/3; {
		k, err := own2.Receive(ctx, buf)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range buf[:k] {
			if binary.BigEndian.Uint32(f.Data()[14:])%3 == 0 {
				t.Errorf("own2 got a frame own1 should have taken")
			}
			f.Revert()
		}
		got += k
	}
	if s := own1.Stats(); s.Delivered != n/3 || s.Dropped != 0 {
		t.Fatalf("own1 %+v", s)
	}
	if s := even.Stats(); s.Delivered != n/2 {
		t.Fatalf("even %+v", s)
	}
}

func TestTransmitAndInject(t *testing.T) {
	tp := newTopo(t, 1024)
	port := tp.wb0(t, PortConfig{})
	txs, _ := port.Subscribe(SubscribeOptions{Name: "tx", Direction: TX})
	rxs, _ := port.Subscribe(SubscribeOptions{Name: "rx"})
	// The peer end is captured by a second port in the other namespace.
	peer, err := tp.core.OpenPort(PortConfig{Name: "peer0", NetNS: tp.b.Path})
	if err != nil {
		t.Fatal(err)
	}
	peerRX, _ := peer.Subscribe(SubscribeOptions{Name: "peer-rx"})
	const n = 100
	before := tp.core.Clock().Now()
	for i := 0; i < n; i++ {
		f, err := tp.core.Alloc()
		if err != nil {
			t.Fatal(err)
		}
		f.SetLen(copy(f.Buffer(), testFrame(tp.lb.MAC, 80, uint32(i))))
		if err := port.Transmit(f); err != nil {
			t.Fatal(err)
		}
	}
	drain(t, txs, n, func(f Frame) {
		if f.Direction() != TX || f.WireLen() != 80 || f.Timestamp() < before {
			t.Errorf("tx frame dir %v len %d ts %d", f.Direction(), f.WireLen(), f.Timestamp())
		}
	})
	drain(t, peerRX, n, nil)
	testutil.WaitFor(t, "tx counters", func() bool { return port.Stats().TxPackets == n })
	if st := port.Stats(); st.TxBytes != n*80 || st.RxPackets != 0 {
		t.Fatalf("stats %+v", st)
	}
	// Inject-as-received: the frame enters the port's kernel receive path
	// and shows on the rx side of our port only, stamped by the kernel.
	f, _ := tp.core.Alloc()
	f.SetLen(copy(f.Buffer(), testFrame(tp.la.MAC, 60, 7)))
	if err := port.Inject(f); err != nil {
		t.Fatal(err)
	}
	drain(t, rxs, 1, func(f Frame) {
		if f.Direction() != RX || f.TimestampSource() != TSKernel || binary.BigEndian.Uint32(f.Data()[14:]) != 7 {
			t.Errorf("injected frame dir %v src %v", f.Direction(), f.TimestampSource())
		}
	})
	time.Sleep(100 * time.Millisecond)
	var extra [4]Frame
	if k := peerRX.TryReceive(extra[:]) + txs.TryReceive(extra[:]); k != 0 {
		t.Fatalf("injected frame left the port (%d frames)", k)
	}
}

// TestCloseReleasesEverything: frames queued to subscribers and frames the
// engine holds all return to the pool on close (newTopo's cleanup checks).
func TestCloseReleasesEverything(t *testing.T) {
	tp := newTopo(t, 512)
	port := tp.wb0(t, PortConfig{Queues: 2})
	s1, _ := port.Subscribe(SubscribeOptions{Name: "a", Queue: 64})
	port.Subscribe(SubscribeOptions{Name: "b", Queue: 64})
	port.Subscribe(SubscribeOptions{Name: "owner", Kind: Owner, Queue: 64})
	newSender(t, tp.b, "peer0").send(t, tp.la.MAC, 200, 64)
	testutil.WaitFor(t, "frames", func() bool { return port.Stats().RxPackets == 200 })
	held := make([]Frame, 3)
	if k := s1.TryReceive(held); k != 3 {
		t.Fatalf("got %d", k)
	}
	if tp.pool.CheckFull() == nil {
		t.Fatal("pool full while subscribers hold frames")
	}
	if err := port.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range held {
		f.Release()
	}
	if err := tp.pool.CheckFull(); err != nil {
		t.Fatal(err)
	}
	if _, err := port.Subscribe(SubscribeOptions{}); err != ErrClosed {
		t.Fatalf("subscribe on closed port: %v", err)
	}
}
