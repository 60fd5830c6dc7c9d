package filter

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/wirebox/wirebox/internal/pkttest"
)

var (
	macA  = net.HardwareAddr{2, 0, 0, 0, 0, 1}
	macB  = net.HardwareAddr{2, 0, 0, 0, 0, 2}
	bcast = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
)

func ip4(s string) net.IP { return net.ParseIP(s).To4() }

// sampleFrames is a varied set of Ethernet frames: every protocol,
// direction, VLAN and fragment case the filter language distinguishes.
func sampleFrames(tb testing.TB) [][]byte {
	S := func(ls ...gopacket.SerializableLayer) []byte { return pkttest.Serialize(tb, ls...) }
	eth := func(t layers.EthernetType) *layers.Ethernet {
		return &layers.Ethernet{SrcMAC: macA, DstMAC: macB, EthernetType: t}
	}
	v4 := func(src, dst string, p layers.IPProtocol) *layers.IPv4 {
		return &layers.IPv4{Version: 4, TTL: 64, Protocol: p, SrcIP: ip4(src), DstIP: ip4(dst), Id: 7}
	}
	v6 := func(src, dst string, p layers.IPProtocol) *layers.IPv6 {
		return &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: p, SrcIP: net.ParseIP(src), DstIP: net.ParseIP(dst)}
	}
	tcp := func(ip gopacket.NetworkLayer, s, d uint16, f func(*layers.TCP)) *layers.TCP {
		t := &layers.TCP{SrcPort: layers.TCPPort(s), DstPort: layers.TCPPort(d), Window: 100, Seq: 5}
		if f != nil {
			f(t)
		}
		t.SetNetworkLayerForChecksum(ip)
		return t
	}
	udp := func(ip gopacket.NetworkLayer, s, d uint16) *layers.UDP {
		u := &layers.UDP{SrcPort: layers.UDPPort(s), DstPort: layers.UDPPort(d)}
		u.SetNetworkLayerForChecksum(ip)
		return u
	}
	pl := func(b any) gopacket.Payload {
		if s, ok := b.(string); ok {
			return gopacket.Payload(s)
		}
		return gopacket.Payload(b.([]byte))
	}
	var fs [][]byte
	add := func(b []byte) { fs = append(fs, b) }

	i0 := v4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	add(S(eth(layers.EthernetTypeIPv4), i0, tcp(i0, 1234, 80, func(t *layers.TCP) { t.SYN = true })))
	i1 := v4("10.0.0.2", "10.0.0.1", layers.IPProtocolTCP)
	add(S(eth(layers.EthernetTypeIPv4), i1, tcp(i1, 80, 1234, func(t *layers.TCP) { t.SYN, t.ACK = true, true })))
	i2 := v4("192.168.1.5", "10.1.2.3", layers.IPProtocolUDP)
	add(S(eth(layers.EthernetTypeIPv4), i2, udp(i2, 53, 5353), pl("dns answer")))
	i3 := v4("10.0.0.1", "10.0.0.9", layers.IPProtocolUDP)
	i3.Options = []layers.IPv4Option{{OptionType: 1}, {OptionType: 1}, {OptionType: 1}, {OptionType: 0}} // IHL 6
	add(S(eth(layers.EthernetTypeIPv4), i3, udp(i3, 5000, 5001), pl("with ip options")))
	i4 := v4("10.0.0.1", "192.0.2.8", layers.IPProtocolICMPv4)
	add(S(eth(layers.EthernetTypeIPv4), i4, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(8, 0), Id: 1, Seq: 1}, pl("ping")))
	i5 := v4("192.0.2.8", "10.0.0.1", layers.IPProtocolICMPv4)
	add(S(eth(layers.EthernetTypeIPv4), i5, &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(0, 0), Id: 1, Seq: 1}, pl("pong")))
	// A non-first fragment whose payload looks like ports 80 -> 80.
	i6 := v4("10.0.0.5", "10.0.0.6", layers.IPProtocolUDP)
	i6.FragOffset = 100
	add(S(eth(layers.EthernetTypeIPv4), i6, pl([]byte{0, 80, 0, 80, 0, 8, 0, 0, 1, 2, 3, 4})))
	// A first fragment (MF) of UDP to port 80.
	i7 := v4("10.0.0.5", "10.0.0.6", layers.IPProtocolUDP)
	i7.Flags = layers.IPv4MoreFragments
	add(S(eth(layers.EthernetTypeIPv4), i7, pl([]byte{0x13, 0x88, 0, 80, 0, 40, 0, 0, 1, 2, 3, 4})))
	i8 := v6("2001:db8::1", "2001:db8::2", layers.IPProtocolTCP)
	add(S(eth(layers.EthernetTypeIPv6), i8, tcp(i8, 443, 5555, func(t *layers.TCP) { t.ACK = true }), pl("tls")))
	i9 := v6("fe80::1", "ff02::1", layers.IPProtocolUDP)
	e9 := eth(layers.EthernetTypeIPv6)
	e9.DstMAC = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
	add(S(e9, i9, udp(i9, 546, 547), pl("dhcp6")))
	i10 := v6("2001:db8::1", "2001:db8::2", layers.IPProtocolICMPv6)
	ic6 := &layers.ICMPv6{TypeCode: layers.CreateICMPv6TypeCode(128, 0)}
	ic6.SetNetworkLayerForChecksum(i10)
	add(S(eth(layers.EthernetTypeIPv6), i10, ic6, pl([]byte{0, 1, 0, 1, 'p', 'i', 'n', 'g'})))
	// IPv6 with a fragment header in front of TCP to port 80.
	i11 := v6("2001:db8::3", "2001:db8::4", layers.IPProtocolIPv6Fragment)
	frag := []byte{6, 0, 0, 1, 0, 0, 0, 9}                                                       // next header TCP, offset 0, M=1
	tcpHdr := []byte{0x13, 0x89, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0x10, 0, 0, 0, 0, 0} // 5001 -> 80 SYN
	add(S(eth(layers.EthernetTypeIPv6), i11, pl(append(frag, tcpHdr...))))
	arp := &layers.ARP{AddrType: layers.LinkTypeEthernet, Protocol: layers.EthernetTypeIPv4, HwAddressSize: 6, ProtAddressSize: 4,
		Operation: 1, SourceHwAddress: macA, SourceProtAddress: ip4("10.0.0.1"), DstHwAddress: make([]byte, 6), DstProtAddress: ip4("10.0.0.2")}
	e12 := eth(layers.EthernetTypeARP)
	e12.DstMAC = bcast
	add(S(e12, arp))
	rarpEth := eth(layers.EthernetType(0x8035))
	rarp := *arp
	rarp.Operation = 3
	rarp.SourceProtAddress, rarp.DstProtAddress = ip4("0.0.0.0"), ip4("10.0.0.7")
	b13 := S(rarpEth, pl(mustARP(tb, &rarp)))
	add(b13)
	i14 := v4("10.0.0.1", "10.0.0.2", layers.IPProtocolTCP)
	add(S(eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 10, Type: layers.EthernetTypeIPv4}, i14, tcp(i14, 4321, 80, func(t *layers.TCP) { t.SYN = true })))
	i15 := v6("2001:db8::1", "2001:db8::9", layers.IPProtocolUDP)
	add(S(eth(layers.EthernetTypeDot1Q), &layers.Dot1Q{VLANIdentifier: 20, Type: layers.EthernetTypeIPv6}, i15, udp(i15, 53, 53), pl("v6 dns")))
	i16 := v4("10.2.0.1", "10.2.0.2", layers.IPProtocolUDP)
	add(S(eth(layers.EthernetTypeQinQ), &layers.Dot1Q{VLANIdentifier: 100, Type: layers.EthernetTypeDot1Q},
		&layers.Dot1Q{VLANIdentifier: 200, Type: layers.EthernetTypeIPv4}, i16, udp(i16, 7, 7), pl("qinq")))
	i17 := v4("10.0.0.1", "224.0.0.1", layers.IPProtocolIGMP)
	e17 := eth(layers.EthernetTypeIPv4)
	e17.DstMAC = net.HardwareAddr{1, 0, 0x5e, 0, 0, 1}
	add(S(e17, i17, pl([]byte{0x11, 0x64, 0xee, 0x9b, 0, 0, 0, 0})))
	i18 := v4("10.9.9.9", "10.0.0.1", layers.IPProtocolUDP)
	add(S(eth(layers.EthernetTypeIPv4), i18, udp(i18, 9999, 9999), pl(make([]byte, 1400))))
	add(S(&layers.Ethernet{SrcMAC: macA, DstMAC: net.HardwareAddr{1, 0x80, 0xc2, 0, 0, 0}, EthernetType: layers.EthernetTypeLLC, Length: 38},
		&layers.LLC{DSAP: 0x42, SSAP: 0x42, Control: 3}, pl(make([]byte, 35))))
	i20 := v4("172.16.5.4", "10.0.0.1", layers.IPProtocolTCP)
	add(S(eth(layers.EthernetTypeIPv4), i20, tcp(i20, 22, 40000, func(t *layers.TCP) { t.PSH, t.ACK = true, true }), pl("ssh data")))
	i21 := v4("10.0.0.3", "10.0.0.4", layers.IPProtocolSCTP)
	add(S(eth(layers.EthernetTypeIPv4), i21, pl([]byte{0x0b, 0x59, 0x0b, 0x59, 0, 0, 0, 1, 0, 0, 0, 0})))
	i22 := v4("10.0.0.2", "10.0.0.1", layers.IPProtocolTCP)
	add(S(eth(layers.EthernetTypeIPv4), i22, tcp(i22, 80, 1234, func(t *layers.TCP) { t.RST, t.ACK = true, true })))
	// A runt: an IPv4 EtherType with only 6 bytes behind it.
	add(append(S(eth(layers.EthernetTypeIPv4))[:14], 0x45, 0, 0, 20, 0, 0))
	i24 := v4("10.3.3.3", "10.0.0.1", layers.IPProtocolUDP)
	i24.TTL = 1
	add(S(eth(layers.EthernetTypeIPv4), i24, udp(i24, 33434, 33435), pl("traceroute")))
	i25 := v4("0.0.0.0", "255.255.255.255", layers.IPProtocolUDP)
	e25 := eth(layers.EthernetTypeIPv4)
	e25.DstMAC = bcast
	add(S(e25, i25, udp(i25, 68, 67), pl(make([]byte, 240))))
	return fs
}

func mustARP(tb testing.TB, a *layers.ARP) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := a.SerializeTo(buf, gopacket.SerializeOptions{}); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

var verdictExprs = []string{
	"", "tcp", "udp", "icmp", "icmp6", "ip", "ip6", "arp", "rarp", "sctp", "igmp",
	"port 80", "tcp port 80", "udp port 53", "src port 80", "dst port 80", "port 80 or 443", "tcp port 80 or 443",
	"port 80 and not 1234", "portrange 50-100", "tcp portrange 1-1024", "udp dst portrange 5000-6000", "port http",
	"port domain", "ip6 and tcp port 80", "port ntp", "port http or domain", "sctp port 2905", "udp src port 53 or dst port 67",
	"host 10.0.0.1", "src host 10.0.0.1", "dst host 10.0.0.2", "host 10.0.0.1 and host 10.0.0.2", "host 10.0.0.1 or 10.0.0.9",
	"ip host 10.0.0.1", "arp host 10.0.0.2", "rarp host 10.0.0.7", "src or dst host 10.0.0.2", "src and dst net 10.0.0.0/8",
	"src 10.0.0.1", "dst 10.0.0.6",
	"net 10.0.0.0/8", "net 10", "net 10.1.2", "net 192.168.0.0 mask 255.255.0.0", "src net 172.16.0.0/12", "not net 10.0.0.0/8",
	"dst net 224.0.0.0/4", "net 0.0.0.0/0",
	"host 2001:db8::1", "ip6 host 2001:db8::2", "net 2001:db8::/32", "ip6 net fe80::/10", "dst host ff02::1", "src net 2001:db8::/120",
	"ether host 02:00:00:00:00:01", "ether src 02:00:00:00:00:01", "ether dst ff:ff:ff:ff:ff:ff", "ether dst 02:00:00:00:00:02",
	"ether broadcast", "broadcast", "multicast", "ether multicast", "ip multicast", "ip6 multicast",
	"ether proto 0x806", "ether proto \\arp", "ether proto \\ip6", "ip proto 17", "ip proto \\udp", "ip6 proto 58", "proto 6",
	"ip6 proto 6", "proto \\tcp",
	"vlan", "vlan 10", "vlan 20", "vlan and ip", "vlan 10 and tcp port 80", "vlan 100 and vlan 200", "vlan and vlan and udp",
	"not vlan", "vlan and host 2001:db8::9", "vlan 20 and ip6 and udp port 53",
	"less 64", "greater 1000", "len > 100", "len <= 60", "len - 14 >= 100",
	"tcp[tcpflags] & tcp-syn != 0", "tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn", "tcp[13] = 18", "tcp[tcpflags] & tcp-rst != 0",
	"icmp[icmptype] = icmp-echo", "icmp[0] == 0", "ip[8] = 1", "ip[0] & 0xf > 5", "ip[2:2] > 1000", "udp[0:2] = 53",
	"ip[6:2] & 0x1fff != 0", "ether[0] & 1 = 1", "ip6[6] = 17", "icmp6[icmp6type] = icmp6-echo", "ip[2:2] - 20 > ip[0] & 0xf",
	"tcp[12] >> 4 > 5", "ip[ip[0] & 0xf] > 0", "udp[2:2] + 1 = 5002", "tcp[0:2] % 2 = 0", "ether[12:2] = 0x800",
	"udp[4:2] * 2 > 100", "ip[1] | 1 = 1", "tcp[2:2] / 10 = 8", "arp[7] = 1", "ip[9] << 1 = 34", "ip and -ip[8] < 0xffffff00",
	"ip[8] ^ 0x40 = 0", "tcp[tcp[0]&0 + 13] & 2 != 0", "len = ip[2:2] + 14",
	"(tcp or udp) and not port 53", "tcp and (port 80 or port 22)", "not (ip or ip6)", "! arp", "tcp && port 80",
	"udp || icmp", "not tcp and not udp", "ip and not tcp or udp", "tcp or udp and host 10.0.0.1",
	"host 10.0.0.1 and (tcp or icmp)", "((tcp))", "not not tcp", "ip6 and udp", "(ip[8] = 1) or (ip6 and udp)",
	"(tcp[13] & 2) != 0", "tcp port 80 and (tcp[tcpflags] & tcp-syn != 0)",
}

// writeSample writes frames as a pcap, one a second from 1700000000, so
// tcpdump's -tt timestamps give each frame's index.
func writeSample(t *testing.T, frames [][]byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sample.pcap")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	base := time.Unix(1700000000, 0)
	for i, fr := range frames {
		w.WritePacket(gopacket.CaptureInfo{Timestamp: base.Add(time.Duration(i) * time.Second), CaptureLength: len(fr), Length: len(fr)}, fr)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// tcpdumpVerdicts returns the indexes of the frames in the sample at path
// that tcpdump accepts with expr.
func tcpdumpVerdicts(t *testing.T, path, expr string) map[int]bool {
	t.Helper()
	args := []string{"-r", path, "-nn", "-tt"}
	if expr != "" {
		args = append(args, expr)
	}
	out := pkttest.Run(t, "tcpdump", args...)
	want := map[int]bool{}
	for _, l := range pkttest.Lines(out) {
		sec, _, _ := strings.Cut(strings.Fields(l)[0], ".")
		n, err := strconv.Atoi(sec)
		if err != nil {
			t.Fatalf("tcpdump line %q", l)
		}
		want[n-1700000000] = true
	}
	return want
}

// TestVerdictsMatchTcpdump runs every expression through tcpdump on the
// same pcap and compares which packets each side accepts.
func TestVerdictsMatchTcpdump(t *testing.T) {
	pkttest.Need(t, "tcpdump")
	frames := sampleFrames(t)
	path := writeSample(t, frames)

	mixed := 0
	for _, expr := range verdictExprs {
		t.Run(expr, func(t *testing.T) {
			want := tcpdumpVerdicts(t, path, expr)
			if len(want) > 0 && len(want) < len(frames) {
				mixed++
			}
			prog, err := Compile(expr, 0)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			var diffs []string
			for i, fr := range frames {
				if got := prog.Match(fr); got != want[i] {
					diffs = append(diffs, fmt.Sprintf("frame %d: ours %v, tcpdump %v", i, got, want[i]))
				}
			}
			if len(diffs) > 0 {
				d, _, _ := pkttest.RunErr("tcpdump", "-d", "-y", "EN10MB", expr)
				t.Fatalf("%s\nours:\n%s\ntcpdump -d:\n%s", strings.Join(diffs, "\n"), prog, d)
			}
		})
	}
	// The table must exercise both verdicts broadly.
	if len(frames) < 25 || mixed < len(verdictExprs)*9/10 {
		t.Fatalf("%d frames; only %d of %d expressions split them", len(frames), mixed, len(verdictExprs))
	}
	t.Logf("%d expressions on %d frames agree with tcpdump; %d split the frames", len(verdictExprs), len(frames), mixed)
}
