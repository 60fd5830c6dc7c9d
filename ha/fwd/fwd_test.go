package fwd

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/wirebox/wirebox/internal/pkttest"
)

// checkSums recomputes the IPv4 header and transport checksums of a frame
// from scratch and fails when the incrementally updated ones differ.
func checkSums(t *testing.T, b []byte) {
	t.Helper()
	var p Packet
	if err := Parse(b, &p); err != nil {
		t.Fatal(err)
	}
	ip := b[p.L3:p.L4]
	if Checksum(ip, 0) != 0 {
		t.Fatalf("IPv4 header checksum wrong: % x", ip)
	}
	l4 := p.B[p.L4:]
	if p.Proto == ProtoUDP && binary.BigEndian.Uint16(l4[6:]) == 0 {
		return
	}
	var ps uint32
	for i := 0; i < 8; i += 2 {
		ps += uint32(b[p.L3+12+i])<<8 | uint32(b[p.L3+13+i])
	}
	ps += uint32(p.Proto) + uint32(len(l4))
	if got := Checksum(l4, ps); got != 0 {
		t.Fatalf("transport checksum wrong (residue %#x)", got)
	}
}

func testService(bal Balance) Service {
	return Service{
		VIP: netip.MustParseAddr("10.0.1.100"), Port: 80, TCP: true, UDP: true, Balance: bal,
		Backends: []netip.AddrPort{netip.MustParseAddrPort("10.0.2.11:8080"), netip.MustParseAddrPort("10.0.2.12:8081")},
	}
}

func TestTranslateBothWays(t *testing.T) {
	tb, err := NewTable(testService(RoundRobin))
	if err != nil {
		t.Fatal(err)
	}
	for _, proto := range []uint8{ProtoTCP, ProtoUDP} {
		var in []byte
		if proto == ProtoTCP {
			in = pkttest.TCP(t, "10.0.1.5", "10.0.1.100", 40000, 80, true, false, nil)
		} else {
			in = pkttest.UDP(t, "10.0.1.5", "10.0.1.100", 40000, 80, []byte("hello, odd length"))
		}
		var p Packet
		if err := Parse(in, &p); err != nil {
			t.Fatal(err)
		}
		v, c := tb.Track(&p, Client, 1, netip.AddrPort{})
		if v != Forward {
			t.Fatalf("proto %d: verdict %d", proto, v)
		}
		if !tb.Translate(&p, Client, &c) {
			t.Fatal("ttl")
		}
		checkSums(t, in)
		if p.DstAddr() != c.Backend.Addr() || p.DPort != c.Backend.Port() || in[p.L3+8] != 63 {
			t.Fatalf("to backend: dst %v:%d ttl %d, want %v", p.DstAddr(), p.DPort, in[p.L3+8], c.Backend)
		}
		// The reply from the backend goes back from the VIP.
		var out []byte
		b := c.Backend
		if proto == ProtoTCP {
			out = pkttest.TCP(t, b.Addr().String(), "10.0.1.5", b.Port(), 40000, true, true, nil)
		} else {
			out = pkttest.UDP(t, b.Addr().String(), "10.0.1.5", b.Port(), 40000, []byte("world"))
		}
		if err := Parse(out, &p); err != nil {
			t.Fatal(err)
		}
		v, c = tb.Track(&p, Server, 2, netip.AddrPort{})
		if v != Forward {
			t.Fatalf("reply verdict %d", v)
		}
		tb.Translate(&p, Server, &c)
		checkSums(t, out)
		if p.SrcAddr().String() != "10.0.1.100" || p.SPort != 80 {
			t.Fatalf("reply src %v:%d", p.SrcAddr(), p.SPort)
		}
		if proto == ProtoTCP && c.State != StateSynRecv {
			t.Fatalf("state %v after SYN+ACK", c.State)
		}
	}
	if tb.Len() != 2 {
		t.Fatalf("%d connections", tb.Len())
	}
}

func TestRoundRobinAndHash(t *testing.T) {
	for _, bal := range []Balance{RoundRobin, Hash} {
		tb, _ := NewTable(testService(bal))
		seen := map[netip.AddrPort]int{}
		for i := range 64 {
			var p Packet
			if err := Parse(pkttest.TCP(t, "10.0.1.5", "10.0.1.100", uint16(1000+i), 80, true, false, nil), &p); err != nil {
				t.Fatal(err)
			}
			_, c := tb.Track(&p, Client, 1, netip.AddrPort{})
			seen[c.Backend]++
			// Same connection again: same backend.
			Parse(pkttest.TCP(t, "10.0.1.5", "10.0.1.100", uint16(1000+i), 80, true, false, nil), &p)
			if _, c2 := tb.Track(&p, Client, 2, netip.AddrPort{}); c2.Backend != c.Backend {
				t.Fatalf("%s: retransmitted SYN moved from %v to %v", bal, c.Backend, c2.Backend)
			}
		}
		if len(seen) != 2 || bal == RoundRobin && seen[testService(bal).Backends[0]] != 32 {
			t.Fatalf("%s: spread %v", bal, seen)
		}
	}
}

func TestTCPStatesAndTimeouts(t *testing.T) {
	svc := testService(RoundRobin)
	svc.Timeouts = DefaultTimeouts
	svc.Timeouts.TCPSyn = 10
	tb, _ := NewTable(svc)
	var p Packet
	// A non-SYN from a client without a connection is dropped.
	Parse(pkttest.TCP(t, "10.0.1.5", "10.0.1.100", 5000, 80, false, true, []byte("x")), &p)
	if v, _ := tb.Track(&p, Client, 1, netip.AddrPort{}); v != Drop {
		t.Fatalf("mid-stream without state: %d", v)
	}
	// Unless the active says which backend (mirrored pick-up).
	hint := svc.Backends[1]
	if v, c := tb.Track(&p, Client, 1, hint); v != Forward || c.Backend != hint || c.State != StateEstablished {
		t.Fatalf("pick-up: %d %+v", v, c)
	}
	// Traffic not for the service is not ours.
	Parse(pkttest.TCP(t, "10.0.1.5", "10.0.1.100", 5000, 81, true, false, nil), &p)
	if v, _ := tb.Track(&p, Client, 1, netip.AddrPort{}); v != NotOurs {
		t.Fatal("port 81 taken")
	}
	// Handshake.
	Parse(pkttest.TCP(t, "10.0.1.6", "10.0.1.100", 6000, 80, true, false, nil), &p)
	_, c := tb.Track(&p, Client, 100, netip.AddrPort{})
	b := c.Backend
	Parse(pkttest.TCP(t, b.Addr().String(), "10.0.1.6", b.Port(), 6000, true, true, nil), &p)
	tb.Track(&p, Server, 101, netip.AddrPort{})
	Parse(pkttest.TCP(t, "10.0.1.6", "10.0.1.100", 6000, 80, false, true, nil), &p)
	if _, c = tb.Track(&p, Client, 102, netip.AddrPort{}); c.State != StateEstablished {
		t.Fatalf("state %v", c.State)
	}
	// A reply from the wrong backend is dropped.
	other := svc.Backends[0]
	if other == b {
		other = svc.Backends[1]
	}
	Parse(pkttest.TCP(t, other.Addr().String(), "10.0.1.6", other.Port(), 6000, false, true, nil), &p)
	if v, _ := tb.Track(&p, Server, 103, netip.AddrPort{}); v != Drop {
		t.Fatal("reply from another backend passed")
	}
	// An unanswered SYN expires after the syn timeout; the established one does not.
	Parse(pkttest.TCP(t, "10.0.1.7", "10.0.1.100", 7000, 80, true, false, nil), &p)
	tb.Track(&p, Client, 200, netip.AddrPort{})
	if n := tb.Expire(211); n != 1 {
		t.Fatalf("expired %d, want 1 (the half-open)", n)
	}
	snap := tb.Snapshot(211)
	if len(snap) != 2 || snap[0].Packets < snap[1].Packets {
		t.Fatalf("snapshot not busiest first: %+v", snap)
	}
}

func TestARP(t *testing.T) {
	b := make([]byte, 64)
	mac := [6]byte{2, 1, 2, 3, 4, 5}
	n := Gratuitous(b, mac, [4]byte{10, 0, 1, 100})
	var a ARP
	if !ParseARP(b[:n], &a) || a.Op != ARPRequest || a.SPA != a.TPA || a.SHA != mac {
		t.Fatalf("gratuitous: %+v", a)
	}
	n = Reply(b, mac, &ARP{Op: ARPRequest, SHA: [6]byte{9}, SPA: [4]byte{10, 0, 1, 5}, TPA: [4]byte{10, 0, 1, 100}})
	if !ParseARP(b[:n], &a) || a.Op != ARPReply || a.SPA != [4]byte{10, 0, 1, 100} || a.TPA != [4]byte{10, 0, 1, 5} {
		t.Fatalf("reply: %+v", a)
	}
}
