package match

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/wirebox/wirebox/internal/pkttest"
)

func TestFlowCapturedFromFirstMatchBothDirections(t *testing.T) {
	m, err := New(`GET /secret`, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c2s := func(p string) []byte {
		return pkttest.TCP(t, "10.0.0.1", "10.0.0.2", 40000, 80, false, true, []byte(p))
	}
	s2c := func(p string) []byte {
		return pkttest.TCP(t, "10.0.0.2", "10.0.0.1", 80, 40000, false, true, []byte(p))
	}
	other := pkttest.TCP(t, "10.0.0.1", "10.0.0.2", 40001, 80, false, true, []byte("GET /public"))
	steps := []struct {
		frame []byte
		want  bool
	}{
		{pkttest.TCP(t, "10.0.0.1", "10.0.0.2", 40000, 80, true, false, nil), false}, // SYN before the match
		{s2c(""), false},
		{c2s("GET /public HTTP/1.1"), false},
		{c2s("GET /secret HTTP/1.1"), true}, // the trigger
		{s2c("HTTP/1.1 200 OK"), true},      // reply direction
		{c2s("more"), true},
		{other, false}, // another flow (other port)
		{pkttest.UDP(t, "10.0.0.1", "10.0.0.2", 40000, 80, []byte("x")), false}, // same ports, UDP
	}
	for i, s := range steps {
		if got := m.Check(s.frame, int64(i)); got != s.want {
			t.Fatalf("step %d: %v, want %v", i, got, s.want)
		}
	}
	if m.Flows() != 1 {
		t.Fatalf("%d flows", m.Flows())
	}
}

func TestIPv6VLANAndIdle(t *testing.T) {
	m, _ := New(`(?i)password`, Options{IdleTimeout: time.Second})
	mk := func(src, dst string, sp, dp uint16, payload string) []byte {
		ip := &layers.IPv6{Version: 6, HopLimit: 9, NextHeader: layers.IPProtocolUDP, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
		udp := &layers.UDP{SrcPort: layers.UDPPort(sp), DstPort: layers.UDPPort(dp)}
		udp.SetNetworkLayerForChecksum(ip)
		return pkttest.Serialize(t,
			&layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeDot1Q},
			&layers.Dot1Q{VLANIdentifier: 7, Type: layers.EthernetTypeIPv6}, ip, udp, pkttestPayload(payload))
	}
	sec := int64(time.Second)
	if !m.Check(mk("2001:db8::1", "2001:db8::2", 5000, 53, "my PASSWORD is"), 0) {
		t.Fatal("no trigger")
	}
	if !m.Check(mk("2001:db8::2", "2001:db8::1", 53, 5000, "ok"), sec/2) {
		t.Fatal("reply not captured")
	}
	// Idle for longer than the timeout: the flow is forgotten.
	if m.Check(mk("2001:db8::2", "2001:db8::1", 53, 5000, "late"), 2*sec) {
		t.Fatal("idle flow still captured")
	}
}

func TestTableFull(t *testing.T) {
	m, _ := New(`x`, Options{MaxFlows: 2})
	for p := uint16(1); p <= 3; p++ {
		if !m.Check(pkttest.UDP(t, "10.0.0.1", "10.0.0.2", p, 9, []byte("x")), 0) {
			t.Fatalf("port %d: matching packet not captured", p)
		}
	}
	if m.Flows() != 2 || m.FlowsRefused != 1 {
		t.Fatalf("flows %d refused %d", m.Flows(), m.FlowsRefused)
	}
}

func TestBadExpressionNamesPosition(t *testing.T) {
	for _, c := range []struct {
		expr string
		pos  int
	}{
		{"GET (/secret", 4},
		{"abc[", 3},
		{"a**", 1},
		{"ok\\q", 2},
		{"", 0},
	} {
		_, err := New(c.expr, Options{})
		var me *Error
		if !errors.As(err, &me) || me.Pos != c.pos {
			t.Errorf("%q: %v, want position %d", c.expr, err, c.pos)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(pkttest.TCP(f, "10.0.0.1", "10.0.0.2", 1, 2, false, true, []byte("payload")))
	f.Add(pkttest.UDP(f, "10.0.0.1", "10.0.0.2", 1, 2, []byte("payload")))
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x86, 0xdd, 0x60})
	f.Fuzz(func(t *testing.T, b []byte) {
		key, payload, ok := Parse(b)
		if !ok {
			return
		}
		if len(payload) > len(b) {
			t.Fatal("payload longer than the frame")
		}
		// The key does not depend on direction.
		if k2 := makeKey(key.Proto, key.AddrB, key.AddrA, key.PortB, key.PortA); k2 != key {
			t.Fatalf("key not canonical: %+v vs %+v", key, k2)
		}
	})
}

func pkttestPayload(s string) gopacket.Payload { return gopacket.Payload(s) }
