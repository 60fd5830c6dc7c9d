package stats

import "encoding/binary"

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
// the IPv4 or IPv6 header up to the protocol field.
const HeaderBytes = 14 + 20

// Counter is a packet and octet count.
type Counter struct{ Pkts, Octets uint64 }

// protocols returns the protocols a good frame belongs to, outermost
// first (a TCP/IPv4 frame is ether2, ip and ip.tcp).
func protocols(d []byte, out *[3]int) []int {
	if len(d) < 14 {
		return nil
	}
	et := binary.BigEndian.Uint16(d[12:])
	if et < 0x600 {
		return nil // 802.3 length field: not Ethernet II
	}
	l := out[:0]
	l = append(l, ProtoEther2)
	switch et {
	case 0x0800:
		l = append(l, ProtoIP)
		if len(d) >= 14+10 {
			switch d[14+9] {
			case 6:
				l = append(l, ProtoIPTCP)
			case 17:
				l = append(l, ProtoIPUDP)
			case 1:
				l = append(l, ProtoIPICMP)
			}
		}
	case 0x86dd:
		l = append(l, ProtoIPv6)
		if len(d) >= 14+7 {
			switch d[14+6] {
			case 6:
				l = append(l, ProtoIPv6TCP)
			case 17:
				l = append(l, ProtoIPv6UDP)
			case 58:
				l = append(l, ProtoIPv6ICMP)
			}
		}
	case 0x0806:
		l = append(l, ProtoARP)
	}
	return l
}
