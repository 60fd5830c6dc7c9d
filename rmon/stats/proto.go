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

// HeaderBytes is how much of a frame classification reads: Ethernet
// with up to two VLAN tags, an IPv6 header and extension headers before
// the transport header (a longer chain counts as IPv6 only).
const HeaderBytes = 512

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

// maxTags is how many VLAN tags classify skips (802.1ad Q-in-Q is two).
const maxTags = 4

// classify returns the protocols a good frame belongs to, outermost first
// (a TCP/IPv4 frame is ether2, ip and ip.tcp), its network layer (nil
// when it has none the probe knows) and where that layer's header starts.
// VLAN tags (802.1Q, 802.1ad) are looked through: a tagged frame counts
// as the protocols it carries, as on an untagged link.
func classify(d []byte, out *[3]int) ([]int, *netLayer, int) {
	if len(d) < 14 {
		return nil, nil, 0
	}
	at := 12
	et := binary.BigEndian.Uint16(d[at:])
	for tags := 0; isTag(et) && tags < maxTags && len(d) >= at+8; tags++ {
		at += 4
		et = binary.BigEndian.Uint16(d[at:])
	}
	at += 2
	if et < 0x600 || isTag(et) {
		return nil, nil, 0 // an 802.3 length field (not Ethernet II), or tags beyond counting
	}
	l := append(out[:0], ProtoEther2)
	if et == 0x0806 {
		return append(l, ProtoARP), nil, 0
	}
	for i := range netLayers {
		n := &netLayers[i]
		if et != n.etherType {
			continue
		}
		l = append(l, n.proto)
		var next int
		if n.proto == ProtoIPv6 {
			next = ipv6Upper(d, at)
		} else if len(d) > at+n.nextHeader {
			next = int(d[at+n.nextHeader])
		} else {
			next = -1
		}
		switch next {
		case 6:
			l = append(l, n.tcpP)
		case 17:
			l = append(l, n.udpP)
		case int(n.icmp):
			l = append(l, n.icmpP)
		}
		return l, n, at
	}
	return l, nil, 0
}

// isTag says whether an EtherType is a VLAN tag's: 802.1Q, 802.1ad and
// the pre-standard Q-in-Q 0x9100.
func isTag(et uint16) bool { return et == 0x8100 || et == 0x88a8 || et == 0x9100 }

// maxExtHeaders bounds the IPv6 extension headers followed.
const maxExtHeaders = 8

// ipv6Upper is the upper-layer protocol of the IPv6 packet at d[at:]
// after its extension headers (hop-by-hop, routing, fragment, destination
// options), or -1 when the chain does not end within d. A fragment
// that is not the first still names its protocol, as an IPv4 fragment's
// header does; an extension header after it is not in that fragment.
func ipv6Upper(d []byte, at int) int {
	if len(d) <= at+6 {
		return -1
	}
	next, p := int(d[at+6]), at+40
	for range maxExtHeaders {
		switch next {
		case 0, 43, 60: // hop-by-hop, routing, destination options: (length+1) x 8 octets
			if len(d) < p+2 {
				return -1
			}
			next, p = int(d[p]), p+(int(d[p+1])+1)*8
		case 44: // fragment: 8 octets; the offset says whether more headers follow here
			if len(d) < p+4 {
				return -1
			}
			next = int(d[p])
			if binary.BigEndian.Uint16(d[p+2:])&^7 != 0 {
				if next == 0 || next == 43 || next == 44 || next == 60 {
					return -1
				}
				return next
			}
			p += 8
		default:
			return next
		}
	}
	return -1
}

// protocols is classify without the network layer.
func protocols(d []byte, out *[3]int) []int {
	l, _, _ := classify(d, out)
	return l
}

// addrs returns the network source and destination addresses of the
// frame whose network header starts at d[l3:].
func (n *netLayer) addrs(d []byte, l3 int) (src, dst netip.Addr, ok bool) {
	at := l3 + n.addrAt
	if len(d) < at+2*n.addrLen {
		return src, dst, false
	}
	if n.addrLen == 4 {
		return netip.AddrFrom4([4]byte(d[at:])), netip.AddrFrom4([4]byte(d[at+4:])), true
	}
	return netip.AddrFrom16([16]byte(d[at:])), netip.AddrFrom16([16]byte(d[at+16:])), true
}
