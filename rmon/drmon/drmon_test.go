package drmon

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirebox/wirebox/rmon/stats"
)

var testKey = []byte("0123456789abcdef-test-key")

func mac(b byte) [6]byte { return [6]byte{0x02, 0, 0, 0, 0, b} }

// frame builds an Ethernet frame of size bytes (without FCS).
func frame(dst, src [6]byte, size int) []byte {
	d := make([]byte, size)
	copy(d, dst[:])
	copy(d[6:], src[:])
	d[12], d[13] = 0x88, 0xb5
	return d
}

func count(a *Agent, tx bool, frames ...[]byte) {
	var fs []stats.Frame
	var ts []int64
	for _, f := range frames {
		fs = append(fs, stats.Frame{Data: f, WireLen: len(f), TX: tx})
		ts = append(ts, time.Now().UnixNano())
	}
	a.Count(fs, ts)
}

// lossyConn drops the datagrams drop says to.
type lossyConn struct {
	net.PacketConn
	drop func(b []byte) bool
}

func (c lossyConn) WriteTo(b []byte, to net.Addr) (int, error) {
	if c.drop(b) {
		return len(b), nil
	}
	return c.PacketConn.WriteTo(b, to)
}

func listen(t *testing.T) net.PacketConn {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func eventually(t *testing.T, what string, ok func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !ok(); {
		if time.Now().After(deadline) {
			t.Fatalf("never: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func pairOf(st *stats.Port, src, dst [6]byte) stats.Pair {
	for _, p := range st.Snapshot().Pairs {
		if p.Src == src && p.Dst == dst {
			return p
		}
	}
	return stats.Pair{}
}

// serveProxy runs a proxy with cfg (the test key, polls every 30 ms) on
// a loopback socket until ctx ends.
func serveProxy(t *testing.T, ctx context.Context, wg *sync.WaitGroup, cfg ProxyConfig) (*Proxy, net.PacketConn) {
	t.Helper()
	pc := listen(t)
	cfg.Key, cfg.PollInterval, cfg.MaxDelay = testKey, 30*time.Millisecond, 5*time.Millisecond
	proxy, err := NewProxy(cfg)
	if err != nil {
		t.Fatal(err)
	}
	wg.Add(1)
	go func() { defer wg.Done(); proxy.Serve(ctx, pc) }()
	return proxy, pc
}

// newTestAgent is the agent of host m, announcing itself to the proxy at pc.
func newTestAgent(t *testing.T, pc net.PacketConn, m [6]byte, name string) *Agent {
	t.Helper()
	a, err := NewAgent(AgentConfig{Key: testKey, Name: name, MACs: [][6]byte{m}, Proxy: pc.LocalAddr().(*net.UDPAddr), HelloInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestMergeLoopback(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	proxy, pc := serveProxy(t, ctx, &wg, ProxyConfig{})
	h1, h2, h4 := mac(1), mac(2), mac(4)
	var dropReports atomic.Int32
	dropReports.Store(2)
	start := func(m [6]byte, name string, lossy bool) (*Agent, context.CancelFunc) {
		a := newTestAgent(t, pc, m, name)
		var c net.PacketConn = listen(t)
		if lossy {
			c = lossyConn{c, func(b []byte) bool { return b[5] == TypeReport && dropReports.Add(-1) >= 0 }}
		}
		actx, acancel := context.WithCancel(ctx)
		wg.Add(1)
		go func() { defer wg.Done(); a.Serve(actx, c) }()
		return a, acancel
	}
	a1, stop1 := start(h1, "h1", true)
	a2, stop2 := start(h2, "h2", false)
	defer stop2()
	// h1 -> h2 five frames, h2 -> h1 three: both agents see all 8.
	for range 5 {
		count(a1, true, frame(h2, h1, 100))
		count(a2, false, frame(h2, h1, 100))
	}
	for range 3 {
		count(a2, true, frame(h1, h2, 60))
		count(a1, false, frame(h1, h2, 60))
	}
	// h1 <-> h4 (no agent): counted from h1's side in both directions.
	count(a1, true, frame(h4, h1, 200), frame(h4, h1, 200))
	count(a1, false, frame(h1, h4, 1500))
	// Broadcast and flooded unicast are not the agent's to report.
	count(a1, false, frame([6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, h2, 60), frame(mac(9), h4, 60))
	st := proxy.Views()[0].St
	eventually(t, "merged counts", func() bool { e, _, _ := st.EtherSnapshot(); return e.Pkts == 11 })
	if p := pairOf(st, h1, h2); p.Pkts != 5 || p.Octets != 5*104 {
		t.Errorf("h1->h2 %+v", p)
	}
	if p := pairOf(st, h2, h1); p.Pkts != 3 {
		t.Errorf("h2->h1 %+v", p)
	}
	if p := pairOf(st, h4, h1); p.Pkts != 1 || p.Octets != 1504 {
		t.Errorf("h4->h1 %+v", p)
	}
	if e, _, _ := st.EtherSnapshot(); e.Broadcast != 0 || e.Pkts64 != 3 || e.Pkts1024to1518 != 1 {
		t.Errorf("ether %+v", e)
	}
	if dropReports.Load() >= 0 {
		t.Errorf("the lossy agent's reports were not dropped (%d left)", dropReports.Load())
	}
	// Restart h1's agent: a new boot, counting from zero, its counts added
	// to what the proxy has (none lost, none twice).
	stop1()
	a1b, stop1b := start(h1, "h1", false)
	defer stop1b()
	if a1b.ID() != a1.ID() {
		t.Fatal("a restarted agent has a new ID")
	}
	count(a1b, true, frame(h2, h1, 100))
	count(a2, false, frame(h2, h1, 100))
	eventually(t, "the restarted agent's frame", func() bool { return pairOf(st, h1, h2).Pkts == 6 })
	time.Sleep(100 * time.Millisecond) // more polls: nothing more may arrive
	if e, _, _ := st.EtherSnapshot(); e.Pkts != 12 {
		t.Errorf("after restart: %d packets, want 12", e.Pkts)
	}
	if len(proxy.Agents()) != 2 {
		t.Errorf("agents %+v", proxy.Agents())
	}
}

func TestForgedAndReplayed(t *testing.T) {
	proxy, err := NewProxy(ProxyConfig{Key: testKey})
	if err != nil {
		t.Fatal(err)
	}
	pc := listen(t)
	defer pc.Close()
	proxy.conn = pc
	from := &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9}
	hello := Encode(testKey, Header{Type: TypeHello, Sender: 7, Boot: 1, Seq: 1}, EncodeHello(Hello{Name: "x", MACs: [][6]byte{mac(1)}}))
	proxy.Handle(hello, from)
	proxy.Handle(hello, from) // replayed
	if proxy.Replayed.Load() != 1 {
		t.Errorf("replayed %d", proxy.Replayed.Load())
	}
	forged := Encode([]byte("another key, 16 bytes+"), Header{Type: TypeHello, Sender: 7, Boot: 1, Seq: 2}, EncodeHello(Hello{Name: "x"}))
	proxy.Handle(forged, from)
	tampered := Encode(testKey, Header{Type: TypeHello, Sender: 7, Boot: 1, Seq: 3}, EncodeHello(Hello{Name: "x"}))
	tampered[HeaderLen+1] ^= 1
	proxy.Handle(tampered, from)
	if proxy.BadAuth.Load() != 2 {
		t.Errorf("bad auth %d", proxy.BadAuth.Load())
	}
	// A report answering no poll of ours (e.g. recorded before the proxy
	// restarted) is a replay.
	rep := Encode(testKey, Header{Type: TypeReport, Sender: 7, Boot: 1, Seq: 4}, EncodeReport(Report{PollBoot: 1, PollSeq: 1,
		Pairs: []PairDelta{{Src: mac(1), Dst: mac(2), C: stats.PairCounts{Pkts: 1, Octets: 64}}}}))
	proxy.Handle(rep, from)
	if proxy.Replayed.Load() != 2 || proxy.Applied.Load() != 0 {
		t.Errorf("replayed %d applied %d", proxy.Replayed.Load(), proxy.Applied.Load())
	}
}

// TestReconcileLateSender: a proxy learns of the sender's agent only after
// the receiver's agent reported their traffic (a standby taking over, a
// proxy restarted): the sender's first report, since its boot, carries
// the same frames, and they are counted once. An agent that starts after
// such counts is new traffic: added.
func TestReconcileLateSender(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	proxy, pc := serveProxy(t, ctx, &wg, ProxyConfig{})
	h1, h2, h3 := mac(1), mac(2), mac(3)
	agent := func(m [6]byte, name string) *Agent { return newTestAgent(t, pc, m, name) }
	serve := func(a *Agent) {
		c := listen(t)
		wg.Add(1)
		go func() { defer wg.Done(); a.Serve(ctx, c) }()
	}
	a1, a2 := agent(h1, "h1"), agent(h2, "h2")
	for range 5 {
		count(a1, true, frame(h2, h1, 100))
		count(a2, false, frame(h2, h1, 100))
	}
	serve(a2) // the receiver first: h1 is not known as an agent yet
	st := proxy.Views()[0].St
	eventually(t, "the receiver's report", func() bool { return pairOf(st, h1, h2).Pkts == 5 })
	serve(a1)
	eventually(t, "the sender known", func() bool { return len(proxy.Agents()) == 2 && proxy.Agents()[0].Seq > 0 })
	time.Sleep(100 * time.Millisecond)
	if p := pairOf(st, h1, h2); p.Pkts != 5 {
		t.Errorf("h1->h2 %d packets, want 5 (once)", p.Pkts)
	}
	// h3 was not instrumented while h2 counted its frames; its agent,
	// started afterwards, reports only its own later frames.
	for range 3 {
		count(a2, false, frame(h2, h3, 100))
	}
	eventually(t, "h3's frames from the receiver", func() bool { return pairOf(st, h3, h2).Pkts == 3 })
	time.Sleep(10 * time.Millisecond)
	a3 := agent(h3, "h3")
	count(a3, true, frame(h2, h3, 100), frame(h2, h3, 100))
	count(a2, false, frame(h2, h3, 100), frame(h2, h3, 100))
	serve(a3)
	eventually(t, "h3's agent's frames added", func() bool { return pairOf(st, h3, h2).Pkts == 5 })
	time.Sleep(100 * time.Millisecond)
	if p := pairOf(st, h3, h2); p.Pkts != 5 {
		t.Errorf("h3->h2 %d packets, want 5", p.Pkts)
	}
}
