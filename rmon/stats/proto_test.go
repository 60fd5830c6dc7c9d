package stats

import (
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
)

// realFrames are the frames of testdata/ipv6-ext.pcap, made by Linux's
// own stack (6.18) and captured with tcpdump on a veth: neighbour and
// router solicitations and MLD reports with their hop-by-hop header, a
// 3000-byte UDP datagram in three fragments, UDP with a hop-by-hop and
// with a destination-options header (IPV6_HOPOPTS/IPV6_DSTOPTS), UDP
// and a TCP SYN through an SRv6 route (a routing header, type 4), and
// IPv4 UDP.
func realFrames(tb testing.TB) [][]byte {
	tb.Helper()
	f, err := os.Open("testdata/ipv6-ext.pcap")
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	var out [][]byte
	for {
		d, _, err := r.ReadPacketData()
		if err != nil {
			break
		}
		out = append(out, d)
	}
	return out
}

// Tags as a trunk port adds them: 802.1Q VLAN 10; 802.1ad S-VLAN 20
// around 802.1Q C-VLAN 30. (This kernel has no 8021q module, so the
// tags are put into the real frames here, as a switch would.)
var (
	tagQ    = []byte{0x81, 0x00, 0x00, 0x0a}
	tagQinQ = []byte{0x88, 0xa8, 0x00, 0x14, 0x81, 0x00, 0x00, 0x1e}
)

// tagged is frame d with tags inserted after its MAC addresses.
func tagged(d, tags []byte) []byte {
	return slices.Concat(d[:12], tags, d[12:])
}

// TestClassifyRealFrames: the protocols and addresses of real frames,
// untagged, 802.1Q-tagged and Q-in-Q-tagged alike.
func TestClassifyRealFrames(t *testing.T) {
	icmp6 := []int{ProtoEther2, ProtoIPv6, ProtoIPv6ICMP}
	udp6 := []int{ProtoEther2, ProtoIPv6, ProtoIPv6UDP}
	want := [][]int{
		icmp6, icmp6, icmp6, icmp6, icmp6, icmp6, // solicitations, MLD reports (hop-by-hop)
		udp6, udp6, udp6, // the fragments: the first has the UDP header, all say UDP in theirs
		udp6, udp6, // hop-by-hop, destination options
		udp6, {ProtoEther2, ProtoIPv6, ProtoIPv6TCP}, // routing header
		{ProtoEther2, ProtoIP, ProtoIPUDP},
		icmp6, icmp6, icmp6,
	}
	frames := realFrames(t)
	if len(frames) != len(want) {
		t.Fatalf("%d frames in the capture, want %d", len(frames), len(want))
	}
	for i, d := range frames {
		for _, v := range []struct {
			name  string
			shift int
			d     []byte
		}{{"untagged", 0, d}, {"802.1Q", 4, tagged(d, tagQ)}, {"802.1ad", 8, tagged(d, tagQinQ)}} {
			var buf [3]int
			protos, nl, l3 := classify(v.d, &buf)
			if !slices.Equal(protos, want[i]) {
				t.Errorf("frame %d %s: protocols %v, want %v", i+1, v.name, protos, want[i])
				continue
			}
			if nl == nil || l3 != 14+v.shift {
				t.Errorf("frame %d %s: network layer %v at %d", i+1, v.name, nl, l3)
				continue
			}
			src, dst, ok := nl.addrs(v.d, l3)
			at := 14 + nl.addrAt // in the untagged frame
			wantSrc, _ := netip.AddrFromSlice(d[at : at+nl.addrLen])
			wantDst, _ := netip.AddrFromSlice(d[at+nl.addrLen : at+2*nl.addrLen])
			if !ok || src != wantSrc || dst != wantDst {
				t.Errorf("frame %d %s: addresses %v %v, want %v %v", i+1, v.name, src, dst, wantSrc, wantDst)
			}
		}
	}
}

// TestClassifyTruncated: a chain of extension headers that does not end
// within the bytes read counts as IPv6 only; tags beyond maxTags and
// 802.3 frames inside tags as nothing.
func TestClassifyTruncated(t *testing.T) {
	frames := realFrames(t)
	var buf [3]int
	hbh := frames[9] // UDP after a hop-by-hop header
	if p, _, _ := classify(hbh[:14+40+1], &buf); !slices.Equal(p, []int{ProtoEther2, ProtoIPv6}) {
		t.Errorf("chain cut short: %v", p)
	}
	many := hbh
	for range maxTags + 1 {
		many = tagged(many, tagQ)
	}
	if p, nl, _ := classify(many, &buf); p != nil || nl != nil {
		t.Errorf("%d tags: %v", maxTags+1, p)
	}
	llc := tagged(slices.Concat(hbh[:12], []byte{0x00, 0x40}, make([]byte, 64)), tagQ)
	if p, _, _ := classify(llc, &buf); p != nil {
		t.Errorf("tagged 802.3 frame: %v", p)
	}
}
