package stats

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// ipFrame builds an Ethernet frame of size bytes carrying IPv4 or IPv6
// from src to dst with next-protocol proto.
func ipFrame(srcMAC, dstMAC byte, src, dst string, proto byte, size int) Frame {
	f := frame(dstMAC, srcMAC, size)
	s, d := netip.MustParseAddr(src), netip.MustParseAddr(dst)
	if s.Is4() {
		binary.BigEndian.PutUint16(f.Data[12:], 0x0800)
		f.Data[14], f.Data[14+9] = 0x45, proto
		copy(f.Data[14+12:], s.AsSlice())
		copy(f.Data[14+16:], d.AsSlice())
	} else {
		binary.BigEndian.PutUint16(f.Data[12:], 0x86dd)
		f.Data[14], f.Data[14+6] = 0x60, proto
		copy(f.Data[14+8:], s.AsSlice())
		copy(f.Data[14+24:], d.AsSlice())
	}
	return f
}

func TestNetLayer(t *testing.T) {
	p := NewPort(10, 10)
	p.Count([]Frame{
		ipFrame(1, 2, "10.0.0.1", "10.0.0.2", 6, 100),
		ipFrame(1, 2, "10.0.0.1", "10.0.0.2", 6, 100),
		ipFrame(2, 1, "10.0.0.2", "10.0.0.1", 17, 200),
		ipFrame(1, 0xff, "10.0.0.1", "10.0.0.255", 17, 60),
		ipFrame(3, 4, "2001:db8::3", "2001:db8::4", 58, 80),
		ipFrame(1, 2, "10.0.0.1", "10.0.0.2", 6, 30),   // undersize: not counted
		ipFrame(5, 2, "10.0.0.5", "10.0.0.2", 6, 2000), // oversize: not counted
	})
	s := p.NetSnapshot()
	if len(s.Hosts) != 5 || len(s.Pairs) != 4 {
		t.Fatalf("%d hosts, %d pairs: %+v", len(s.Hosts), len(s.Pairs), s)
	}
	host := func(a string) NetHost {
		for _, h := range s.Hosts {
			if h.Addr == netip.MustParseAddr(a) {
				return h
			}
		}
		t.Fatalf("no host %s", a)
		return NetHost{}
	}
	h := host("10.0.0.1")
	if h.Addr != netip.MustParseAddr("10.0.0.1") || h.OutPkts != 3 || h.OutOctets != 2*104+64 || h.InPkts != 1 || h.InOctets != 204 ||
		h.OutNonUnicast != 1 || h.MAC != [6]byte{1, 1, 1, 1, 1, 1} || h.MACChanged == 0 {
		t.Errorf("host 10.0.0.1: %+v", h)
	}
	if a := h.Al[ProtoIPTCP]; a.OutPkts != 2 || a.OutOctets != 208 || a.InPkts != 0 || a.Created == 0 {
		t.Errorf("10.0.0.1 tcp: %+v", a)
	}
	if a := h.Al[ProtoIP]; a.OutPkts != 3 || a.InPkts != 1 {
		t.Errorf("10.0.0.1 ip: %+v", a)
	}
	if h := host("10.0.0.2"); h.InPkts != 2 || h.OutPkts != 1 || h.Al[ProtoIPUDP].OutPkts != 1 {
		t.Errorf("host 10.0.0.2: %+v", h)
	}
	if h := host("2001:db8::4"); h.InPkts != 1 || h.Al[ProtoIPv6ICMP].InPkts != 1 || h.MACChanged != 0 {
		t.Errorf("host 2001:db8::4: %+v", h)
	}
	for _, pr := range s.Pairs {
		if pr.Src == netip.MustParseAddr("10.0.0.1") && pr.Dst == netip.MustParseAddr("10.0.0.2") &&
			(pr.Pkts != 2 || pr.Octets != 208 || pr.Al[ProtoIPTCP].Pkts != 2 || pr.Al[ProtoIPUDP].Pkts != 0) {
			t.Errorf("pair 1->2: %+v", pr)
		}
	}
}

// FuzzClassify: any bytes classify without panicking, and the addresses
// come only from frames long enough to hold them.
func FuzzClassify(f *testing.F) {
	for _, fr := range []Frame{
		ipFrame(1, 2, "10.0.0.1", "10.0.0.2", 6, 60), ipFrame(3, 4, "2001:db8::3", "2001:db8::4", 58, 80),
		ipFrame(1, 2, "192.0.2.1", "198.51.100.7", 17, 60), frame(2, 4, 60),
	} {
		f.Add(fr.Data[:min(len(fr.Data), HeaderBytes)])
	}
	// Real frames with IPv6 extension headers, untagged and tagged.
	for _, d := range realFrames(f) {
		for _, v := range [][]byte{d, tagged(d, tagQ), tagged(d, tagQinQ)} {
			f.Add(v[:min(len(v), HeaderBytes)])
		}
	}
	f.Fuzz(func(t *testing.T, d []byte) {
		var buf [3]int
		protos, nl, l3 := classify(d, &buf)
		if len(protos) > 3 {
			t.Fatalf("%d protocols", len(protos))
		}
		if nl != nil {
			if l3 < 14 || l3 > 14+4*maxTags {
				t.Fatalf("network layer at %d", l3)
			}
			if _, _, ok := nl.addrs(d, l3); ok && len(d) < l3+nl.addrAt+2*nl.addrLen {
				t.Fatal("addresses from a short frame")
			}
		}
		p := NewPort(4, 4)
		p.Count([]Frame{{Data: d, WireLen: max(len(d), 60)}})
		p.NetSnapshot()
	})
}
