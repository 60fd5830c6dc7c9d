package stats

import (
	"encoding/binary"
	"net/netip"
)

// Protocols the probe recognizes (RMON2 protocolDir), in protocolDir
// local-index order (index = position + 1).
const (
	ProtoEther2 = iota
	ProtoIP
	ProtoIPv6
	ProtoARP
	ProtoIPTCP
	ProtoIPUDP
	ProtoIPICMP
	ProtoIPv6TCP
	ProtoIPv6UDP
	ProtoIPv6ICMP
	NumProtos
)

// HeaderBytes is how much of a frame classification reads: Ethernet and
// an IPv6 header up to the end of its addresses (an IPv4 header's
// addresses end earlier).
const HeaderBytes = 14 + 40

// Counter is a packet and octet count.
type Counter struct{ Pkts, Octets uint64 }

// netLayer is one network-layer protocol: where its header keeps the next
// protocol and the addresses, and which of the probe's protocols it
// carries.
type netLayer struct {
	etherType       uint16
	proto           int // ProtoIP or ProtoIPv6
	nextHeader      int // offset of the next-protocol field
	addrAt, addrLen int // source address (the destination follows)
	icmp            byte
	tcpP, udpP      int
	icmpP           int
}

var netLayers = [...]netLayer{
	{etherType: 0x0800, proto: ProtoIP, nextHeader: 9, addrAt: 12, addrLen: 4, icmp: 1,
		tcpP: ProtoIPTCP, udpP: ProtoIPUDP, icmpP: ProtoIPICMP},
	{etherType: 0x86dd, proto: ProtoIPv6, nextHeader: 6, addrAt: 8, addrLen: 16, icmp: 58,
		tcpP: ProtoIPv6TCP, udpP: ProtoIPv6UDP, icmpP: ProtoIPv6ICMP},
}

// classify returns the protocols a good frame belongs to, outermost first
// (a TCP/IPv4 frame is ether2, ip and ip.tcp), and its network layer (nil
// when it has none the probe knows).
func classify(d []byte, out *[3]int) ([]int, *netLayer) {
	if len(d) < 14 {
		return nil, nil
	}
	et := binary.BigEndian.Uint16(d[12:])
	if et < 0x600 {
		return nil, nil // 802.3 length field: not Ethernet II
	}
	l := append(out[:0], ProtoEther2)
	if et == 0x0806 {
		return append(l, ProtoARP), nil
	}
	for i := range netLayers {
		n := &netLayers[i]
		if et != n.etherType {
			continue
		}
		l = append(l, n.proto)
		if len(d) > 14+n.nextHeader {
			switch d[14+n.nextHeader] {
			case 6:
				l = append(l, n.tcpP)
			case 17:
				l = append(l, n.udpP)
			case n.icmp:
				l = append(l, n.icmpP)
			}
		}
		return l, n
	}
	return l, nil
}

// protocols is classify without the network layer.
func protocols(d []byte, out *[3]int) []int {
	l, _ := classify(d, out)
	return l
}

// addrs returns the frame's network source and destination addresses.
func (n *netLayer) addrs(d []byte) (src, dst netip.Addr, ok bool) {
	at := 14 + n.addrAt
	if len(d) < at+2*n.addrLen {
		return src, dst, false
	}
	if n.addrLen == 4 {
		return netip.AddrFrom4([4]byte(d[at:])), netip.AddrFrom4([4]byte(d[at+4:])), true
	}
	return netip.AddrFrom16([16]byte(d[at:])), netip.AddrFrom16([16]byte(d[at+16:])), true
}
