package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirebox/wirebox/ha/peer"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/pkttest"
)

// pairTopo: clients ↔ switch ↔ two appliances ↔ switch ↔ servers, with a
// direct peer link and a second (witness) link between the appliances.
//
//	cl:c0 ── sw1:br0 ──┬── A:a0  A:a1 ──┬── sw2:br0 ── sv:s0
//	                   └── B:b0  B:b1 ──┘
//	A:pa ── B:pb (peer 10.0.9.0/24)   A:wa ── B:wb (witness 10.0.8.0/24)
type pairTopo struct {
	cl, sw1, sw2, sv, nsA, nsB *netns.NS
}

func newPairTopo(t *testing.T) *pairTopo {
	p := &pairTopo{cl: netns.New(t), sw1: netns.New(t), sw2: netns.New(t), sv: netns.New(t), nsA: netns.New(t), nsB: netns.New(t)}
	for _, sw := range []*netns.NS{p.sw1, p.sw2} {
		run(t, sw, "ip", "link", "add", "br0", "type", "bridge")
		run(t, sw, "ip", "link", "set", "br0", "up")
	}
	link := func(a *netns.NS, an, addr string, sw *netns.NS, sn string) {
		netns.Veth(t, a, an, sw, sn, netns.VethOptions{AddrA: addr})
		run(t, sw, "ip", "link", "set", sn, "master", "br0")
		// No GRO on the switch: merged segments would be cut again on the
		// way out with partial checksums (veth offload), which a wire never
		// carries and the forwarder does not complete.
		run(t, sw, "ethtool", "-K", sn, "gro", "off", "tx", "off", "tso", "off", "gso", "off")
	}
	link(p.cl, "c0", clientIP+"/24", p.sw1, "s1c")
	link(p.nsA, "a0", "", p.sw1, "s1a")
	link(p.nsB, "b0", "", p.sw1, "s1b")
	link(p.nsA, "a1", "", p.sw2, "s2a")
	link(p.nsB, "b1", "", p.sw2, "s2b")
	link(p.sv, "s0", server1+"/24", p.sw2, "s2s")
	run(t, p.sv, "ip", "addr", "add", server2+"/24", "dev", "s0")
	run(t, p.sv, "ip", "route", "add", "10.0.1.0/24", "via", gateway)
	hostEnd(t, p.cl, "c0")
	hostEnd(t, p.sv, "s0")
	netns.Veth(t, p.nsA, "pa", p.nsB, "pb", netns.VethOptions{AddrA: "10.0.9.1/24", AddrB: "10.0.9.2/24"})
	netns.Veth(t, p.nsA, "wa", p.nsB, "wb", netns.VethOptions{AddrA: "10.0.8.1/24", AddrB: "10.0.8.2/24"})
	return p
}

func (p *pairTopo) config(t *testing.T, a bool, mode Mode, prio uint8) (Config, *netns.NS) {
	me, them, cp, sp, ns := "10.0.9.1", "10.0.9.2", "a0", "a1", p.nsA
	wme, wthem := "10.0.8.1", "10.0.8.2"
	if !a {
		me, them, cp, sp, ns = them, me, "b0", "b1", p.nsB
		wme, wthem = wthem, wme
	}
	return Config{ClientPort: cp, ServerPort: sp, Service: service(), Gateway: mustAddr(gateway),
		Peer: &PeerConfig{Listen: netip.MustParseAddrPort(me + ":7400"), Address: netip.MustParseAddrPort(them + ":7400"),
			Key: testKey, NetNS: ns.Path, Interval: 10 * time.Millisecond, DeadAfter: 3, Priority: prio, Mode: mode,
			WitnessListen: netip.MustParseAddrPort(wme + ":7401"), Witness: netip.MustParseAddrPort(wthem + ":7401")}}, ns
}

// member is one running appliance of the pair.
type member struct {
	app  *appliance
	node *Node
	stop func()
}

func (p *pairTopo) start(t *testing.T, a bool, mode Mode, prio uint8) *member {
	cfg, ns := p.config(t, a, mode, prio)
	name := "B"
	if a {
		name = "A"
	}
	app := newAppliance(t, ns, cfg.ClientPort, cfg.ServerPort)
	n, stop := startNode(t, app, cfg, name)
	return &member{app: app, node: n, stop: func() { stop(); app.close() }}
}

// waitFor polls cond until it holds (or fails the test after 20 s).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stream is a long TCP stream through the VIP: a writer sends a counting
// pattern, the echo comes back and the reader checks every byte and
// records the longest gap between reads.
type stream struct {
	c        net.Conn
	stop     chan struct{}
	wg       sync.WaitGroup
	read     atomic.Int64
	maxStall atomic.Int64
	err      atomic.Pointer[error]
}

func startStream(t *testing.T, c net.Conn) *stream {
	s := &stream{c: c, stop: make(chan struct{})}
	s.wg.Go(func() {
		buf := make([]byte, 8192)
		var off int64
		for {
			select {
			case <-s.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			for i := range buf {
				buf[i] = byte((off + int64(i)) % 251)
			}
			if _, err := c.Write(buf); err != nil {
				s.fail(fmt.Errorf("write at %d: %w", off, err))
				return
			}
			off += int64(len(buf))
		}
	})
	s.wg.Go(func() {
		buf := make([]byte, 65536)
		last := time.Now()
		for {
			n, err := c.Read(buf)
			now := time.Now()
			if gap := now.Sub(last); n > 0 && int64(gap) > s.maxStall.Load() {
				s.maxStall.Store(int64(gap))
			}
			for i := range buf[:n] {
				if want := byte((s.read.Load() + int64(i)) % 251); buf[i] != want {
					s.fail(fmt.Errorf("byte %d: got %d, want %d", s.read.Load()+int64(i), buf[i], want))
					return
				}
			}
			if n > 0 {
				last = now
				s.read.Add(int64(n))
			}
			if err != nil {
				select {
				case <-s.stop:
				default:
					s.fail(fmt.Errorf("read at %d: %w", s.read.Load(), err))
				}
				return
			}
		}
	})
	return s
}

func (s *stream) fail(err error) { s.err.CompareAndSwap(nil, &err) }

// check fails the test if the stream broke.
func (s *stream) check(t *testing.T) {
	t.Helper()
	if e := s.err.Load(); e != nil {
		t.Fatalf("stream: %v", *e)
	}
}

// progress waits until the stream moved another n bytes.
func (s *stream) progress(t *testing.T, n int64) {
	t.Helper()
	from := s.read.Load()
	waitFor(t, fmt.Sprintf("%d more stream bytes", n), func() bool {
		s.check(t)
		return s.read.Load() >= from+n
	})
}

func (s *stream) end() {
	close(s.stop)
	s.c.SetDeadline(time.Now())
	s.wg.Wait()
}

// idleConns opens n connections through the VIP and echoes one message on each.
func idleConns(t *testing.T, ns *netns.NS, n int) []net.Conn {
	cs := make([]net.Conn, n)
	for i := range cs {
		cs[i] = dial(t, ns, "tcp", vip+":80")
	}
	pingAll(t, cs, "hello")
	return cs
}

// pingAll echoes a line on every connection: each must still work.
func pingAll(t *testing.T, cs []net.Conn, what string) {
	t.Helper()
	buf := make([]byte, 128)
	for i, c := range cs {
		msg := fmt.Sprintf("%s %d\n", what, i)
		c.SetDeadline(time.Now().Add(20 * time.Second))
		if _, err := c.Write([]byte(msg)); err != nil {
			t.Fatalf("idle connection %d: write: %v", i, err)
		}
		if _, err := io.ReadFull(c, buf[:len(msg)]); err != nil || string(buf[:len(msg)]) != msg {
			t.Fatalf("idle connection %d: read %q: %v", i, buf[:len(msg)], err)
		}
		c.SetDeadline(time.Time{})
	}
}

// rstWatch counts TCP resets the client namespace sees.
func rstWatch(t *testing.T, ns *netns.NS) func() int {
	tcpdumpAvailable(t)
	tool := pkttest.Start(t, ns.Command("tcpdump", "-i", "c0", "-n", "-l", "tcp[tcpflags] & tcp-rst != 0"), "listening on")
	return func() int {
		time.Sleep(100 * time.Millisecond) // let tcpdump print what it saw
		out := strings.TrimSpace(tool.Stdout())
		if out == "" {
			return 0
		}
		t.Logf("resets seen:\n%s", out)
		return len(strings.Split(out, "\n"))
	}
}

func roleOf(m *member) string { return m.node.Status().Role }

// TestPairFailover: the pair in each configuration. With a long stream
// and idle connections through the VIP, the active is stopped (its node
// and its core: nothing of it answers any more): the standby takes over,
// every connection survives and the client sees no reset. The old active
// comes back as a late standby with the connections already there, is
// brought into sync, and a planned switch-over moves the service back,
// again without a lost connection.
func TestPairFailover(t *testing.T) {
	for _, mode := range []Mode{StandbyResponse, StandbyFirst} {
		t.Run(string(mode), func(t *testing.T) { pairFailover(t, mode) })
	}
}

func pairFailover(t *testing.T, mode Mode) {
	p := newPairTopo(t)
	servers(t, p.sv)
	a := p.start(t, true, mode, 200)
	waitFor(t, "A active", func() bool { return roleOf(a) == "active" })
	b := p.start(t, false, mode, 100)
	waitFor(t, "B standby in sync", func() bool { st := b.node.Status(); return st.Role == "standby" && st.InSync })
	rsts := rstWatch(t, p.cl)

	s := startStream(t, dial(t, p.cl, "tcp", vip+":80"))
	defer s.end()
	idle := idleConns(t, p.cl, 100)
	s.progress(t, 1<<20)
	waitFor(t, "B tracking every connection", func() bool { return b.node.Status().Conns >= 101 })
	stA := a.node.Status()
	t.Logf("before the crash: A %+v", stA)

	// Crash of the active.
	s.maxStall.Store(0)
	crash := time.Now()
	a.stop()
	waitFor(t, "B active", func() bool { return roleOf(b) == "active" })
	t.Logf("B active %v after the crash", time.Since(crash))
	s.progress(t, 1<<20)
	pingAll(t, idle, "after crash")
	t.Logf("crash failover (%s): largest stream stall %v, last failover %+v", mode, time.Duration(s.maxStall.Load()), *b.node.Status().LastFailover)

	// The old active returns: a late standby, synchronised busiest first.
	a = p.start(t, true, mode, 200)
	waitFor(t, "A standby in sync", func() bool { st := a.node.Status(); return st.Role == "standby" && st.InSync })
	stB := b.node.Status()
	if stB.SyncEntriesSent < 101 {
		t.Fatalf("B sent %d sync entries, want the whole table", stB.SyncEntriesSent)
	}
	s.progress(t, 1<<20)

	// Planned switch-over back to A.
	s.maxStall.Store(0)
	if err := b.node.Failover(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "A active", func() bool { return roleOf(a) == "active" && roleOf(b) == "standby" })
	s.progress(t, 1<<20)
	pingAll(t, idle, "after switch-over")
	s.check(t)
	t.Logf("planned switch-over (%s): largest stream stall %v", mode, time.Duration(s.maxStall.Load()))
	if n := rsts(); n != 0 {
		t.Fatalf("the client saw %d resets", n)
	}
}

// TestPeerLinkCut: with both nodes alive, cutting the peer link makes no
// second active while the witness still sees the peer (the split is
// counted and logged); when the witness path is cut too, the standby
// takes over (the witness said so). A forged message on the peer port is
// dropped and counted.
func TestPeerLinkCut(t *testing.T) {
	p := newPairTopo(t)
	a := p.start(t, true, StandbyResponse, 200)
	waitFor(t, "A active", func() bool { return roleOf(a) == "active" })
	b := p.start(t, false, StandbyResponse, 100)
	waitFor(t, "B standby in sync", func() bool { st := b.node.Status(); return st.Role == "standby" && st.InSync })

	// A forged heartbeat claiming B is active, sent from B's namespace.
	var conn net.Conn
	if err := p.nsB.Do(func() (err error) {
		conn, err = net.Dial("udp", "10.0.9.1:7400")
		return err
	}); err != nil {
		t.Fatal(err)
	}
	hb := peer.Heartbeat{Priority: 255, Role: peer.RoleActive}
	conn.Write(peer.Seal(nil, []byte("the wrong key, the wrong key...."), peer.Header{Type: peer.TypeHeartbeat, Epoch: 1 << 62, Seq: 1}, hb.Append(nil)))
	conn.Close()
	waitFor(t, "the forged message counted", func() bool { return a.node.Status().Link.Forged == 1 })
	if roleOf(a) != "active" {
		t.Fatal("a forged heartbeat moved A")
	}

	run(t, p.nsA, "ip", "link", "set", "pa", "down")
	waitFor(t, "B to notice the split", func() bool { return b.node.Status().SplitsSeen > 0 })
	time.Sleep(300 * time.Millisecond) // 30 heartbeat intervals
	if roleOf(b) != "standby" || roleOf(a) != "active" {
		t.Fatalf("peer link cut: A %s, B %s", roleOf(a), roleOf(b))
	}
	run(t, p.nsA, "ip", "link", "set", "wa", "down")
	waitFor(t, "B active once the witness lost A", func() bool { return roleOf(b) == "active" })
	// The link heals: the two actives meet and the lower priority steps down.
	run(t, p.nsA, "ip", "link", "set", "pa", "up")
	run(t, p.nsA, "ip", "link", "set", "wa", "up")
	waitFor(t, "one active again", func() bool { return roleOf(b) == "standby" && roleOf(a) == "active" })
	waitFor(t, "B in sync again", func() bool { return b.node.Status().InSync })
	_ = context.Background
	_ = errors.New
}
