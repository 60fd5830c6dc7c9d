package hatest

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"

	"github.com/wirebox/wirebox/ha/fwd"
	"github.com/wirebox/wirebox/ha/hatraffic"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/pkttest"
)

// The topology's addresses (hatraffic's, shared with bench/ha).
const (
	VIP      = hatraffic.VIP
	Gateway  = hatraffic.Gateway
	ClientIP = hatraffic.ClientIP
	Server1  = hatraffic.Server1
	Server2  = hatraffic.Server2
)

var Key = []byte("a pre-shared key for the ha test!")

func Service() fwd.Service { return hatraffic.Service(true) }

// HostEnd prepares a veth end of a host namespace for frames forwarded by
// an AF_XDP port: checksums complete (no offload: the forwarder updates
// them incrementally, a partial checksum would stay wrong) and GRO on (so
// veth receives the XDP-transmitted frames in NAPI).
func HostEnd(t testing.TB, ns *netns.NS, dev string) {
	ns.Run(t, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "on")
}

// Servers runs the TCP and UDP echo servers on both backends in ns until
// the test ends.
func Servers(t testing.TB, ns *netns.NS) {
	t.Helper()
	stop, err := hatraffic.Servers(ns.Path, Service().Backends, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
}

func Dial(t testing.TB, ns *netns.NS, network, addr string) net.Conn {
	t.Helper()
	c, err := hatraffic.Dial(ns.Path, network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echo sends n random bytes through c and checks that every byte comes back.
func Echo(t testing.TB, c net.Conn, n int) {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	errc := make(chan error, 1)
	go func() { _, err := c.Write(data); errc <- err }()
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("echoed bytes differ")
	}
	c.SetDeadline(time.Time{})
}

func UDPEcho(t testing.TB, c net.Conn, msg string) string {
	t.Helper()
	buf := make([]byte, 2048)
	for try := 0; try < 20; try++ { // the first datagrams may meet an unresolved neighbour
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := c.Read(buf)
		if err == nil {
			return string(buf[:n])
		}
	}
	t.Fatalf("no UDP answer to %q", msg)
	return ""
}

// PairTopo: clients ↔ switch ↔ two appliances ↔ switch ↔ Servers, with a
// direct peer link and a second (witness) link between the appliances.
//
//	cl:c0 ── sw1:br0 ──┬── A:a0  A:a1 ──┬── sw2:br0 ── sv:s0
//	                   └── B:b0  B:b1 ──┘
//	A:pa ── B:pb (peer 10.0.9.0/24)   A:wa ── B:wb (witness 10.0.8.0/24)
type PairTopo struct {
	Cl, SW1, SW2, Sv, NSA, NSB *netns.NS
}

func NewPairTopo(t testing.TB) *PairTopo {
	p := &PairTopo{Cl: netns.New(t), SW1: netns.New(t), SW2: netns.New(t), Sv: netns.New(t), NSA: netns.New(t), NSB: netns.New(t)}
	for _, sw := range []*netns.NS{p.SW1, p.SW2} {
		sw.Run(t, "ip", "link", "add", "br0", "type", "bridge")
		sw.Run(t, "ip", "link", "set", "br0", "up")
	}
	link := func(a *netns.NS, an, addr string, sw *netns.NS, sn string) {
		netns.Veth(t, a, an, sw, sn, netns.VethOptions{AddrA: addr})
		sw.Run(t, "ip", "link", "set", sn, "master", "br0")
		// No GRO on the switch: merged segments would be cut again on the
		// way out with partial checksums (veth offload), which a wire never
		// carries and the forwarder does not complete.
		sw.Run(t, "ethtool", "-K", sn, "gro", "off", "tx", "off", "tso", "off", "gso", "off")
	}
	link(p.Cl, "c0", ClientIP+"/24", p.SW1, "s1c")
	link(p.NSA, "a0", "", p.SW1, "s1a")
	link(p.NSB, "b0", "", p.SW1, "s1b")
	link(p.NSA, "a1", "", p.SW2, "s2a")
	link(p.NSB, "b1", "", p.SW2, "s2b")
	link(p.Sv, "s0", Server1+"/24", p.SW2, "s2s")
	p.Sv.Run(t, "ip", "addr", "add", Server2+"/24", "dev", "s0")
	p.Sv.Run(t, "ip", "route", "add", "10.0.1.0/24", "via", Gateway)
	HostEnd(t, p.Cl, "c0")
	HostEnd(t, p.Sv, "s0")
	netns.Veth(t, p.NSA, "pa", p.NSB, "pb", netns.VethOptions{AddrA: "10.0.9.1/24", AddrB: "10.0.9.2/24"})
	netns.Veth(t, p.NSA, "wa", p.NSB, "wb", netns.VethOptions{AddrA: "10.0.8.1/24", AddrB: "10.0.8.2/24"})
	return p
}

// Stream is a long byte-checked TCP stream through the VIP
// (hatraffic.Stream) with test-failing checks.
type Stream struct{ *hatraffic.Stream }

func StartStream(t testing.TB, c net.Conn) *Stream {
	return &Stream{hatraffic.StartStream(c, hatraffic.StreamOptions{})}
}

// Check fails the test if the stream broke.
func (s *Stream) Check(t testing.TB) {
	t.Helper()
	if err := s.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
}

// Progress waits until the stream moved another n bytes (20 s at most).
func (s *Stream) Progress(t testing.TB, n int64) {
	t.Helper()
	if err := s.Stream.Progress(n, 20*time.Second); err != nil {
		t.Fatal(err)
	}
}

// IdleConns opens n connections through the VIP and echoes one message on each.
func IdleConns(t testing.TB, ns *netns.NS, n int) []net.Conn {
	cs := make([]net.Conn, n)
	for i := range cs {
		cs[i] = Dial(t, ns, "tcp", VIP+":80")
	}
	PingAll(t, cs, "hello")
	return cs
}

// PingAll echoes a line on every connection: each must still work.
func PingAll(t testing.TB, cs []net.Conn, what string) {
	t.Helper()
	if dead, err := hatraffic.PingAll(cs, what, 20*time.Second); err != nil {
		t.Fatalf("%d of %d connections dead (%s): %v", len(dead), len(cs), what, err)
	}
}

// RSTWatch counts TCP resets the client namespace sees.
func RSTWatch(t testing.TB, ns *netns.NS) func() int {
	t.Helper()
	pkttest.Need(t, "tcpdump")
	args := hatraffic.RSTArgs("c0")
	w, err := hatraffic.StartRSTWatch(ns.Command(args[0], args[1:]...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return func() int {
		time.Sleep(100 * time.Millisecond) // let tcpdump print what it saw
		n := w.Count()
		if n > 0 {
			t.Logf("resets seen:\n%s", w.Lines())
		}
		return n
	}
}
