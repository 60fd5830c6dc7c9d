package fwd

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Protocol numbers.
const (
	ProtoTCP = 6
	ProtoUDP = 17
)

// Ethernet types.
const (
	EtherIPv4 = 0x0800
	EtherARP  = 0x0806
)

// TCP flags.
const (
	flagFIN = 0x01
	flagSYN = 0x02
	flagRST = 0x04
	flagACK = 0x10
)

// Packet is a parsed Ethernet/IPv4/TCP-or-UDP frame: offsets into the
// frame's bytes, so the frame can be rewritten in place.
type Packet struct {
	B        []byte
	L3, L4   int // offsets of the IPv4 and transport headers
	Proto    uint8
	Src, Dst [4]byte
	SPort    uint16
	DPort    uint16
	Flags    uint8 // TCP flags
	Payload  int   // transport payload length
	Seq, Ack uint32
}

var (
	errShort    = errors.New("short frame")
	errNotIPv4  = errors.New("not IPv4")
	errFragment = errors.New("IPv4 fragment")
	errProto    = errors.New("not TCP or UDP")
)

// Parse reads an Ethernet/IPv4/TCP or UDP frame. VLAN tags are not
// parsed (the ports are untagged).
func Parse(b []byte, p *Packet) error {
	if len(b) < 14+20 {
		return errShort
	}
	if binary.BigEndian.Uint16(b[12:]) != EtherIPv4 {
		return errNotIPv4
	}
	l3 := 14
	ip := b[l3:]
	if ip[0]>>4 != 4 {
		return errNotIPv4
	}
	ihl := int(ip[0]&0xf) * 4
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	if ihl < 20 || tot < ihl || len(ip) < tot {
		return errShort
	}
	if binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 { // MF or offset
		return errFragment
	}
	*p = Packet{B: b[:l3+tot], L3: l3, L4: l3 + ihl, Proto: ip[9]}
	copy(p.Src[:], ip[12:16])
	copy(p.Dst[:], ip[16:20])
	l4 := b[p.L4 : l3+tot]
	switch p.Proto {
	case ProtoTCP:
		if len(l4) < 20 {
			return errShort
		}
		off := int(l4[12]>>4) * 4
		if off < 20 || off > len(l4) {
			return errShort
		}
		p.Flags = l4[13]
		p.Seq = binary.BigEndian.Uint32(l4[4:])
		p.Ack = binary.BigEndian.Uint32(l4[8:])
		p.Payload = len(l4) - off
	case ProtoUDP:
		if len(l4) < 8 {
			return errShort
		}
		p.Payload = len(l4) - 8
	default:
		return errProto
	}
	p.SPort = binary.BigEndian.Uint16(l4[0:])
	p.DPort = binary.BigEndian.Uint16(l4[2:])
	return nil
}

// SrcAddr and DstAddr are the addresses as netip values.
func (p *Packet) SrcAddr() netip.Addr { return netip.AddrFrom4(p.Src) }
func (p *Packet) DstAddr() netip.Addr { return netip.AddrFrom4(p.Dst) }

// csumAdjust updates an internet checksum for a 16-bit word changing from
// old to new (RFC 1624, eqn. 3).
func csumAdjust(sum, old, new uint16) uint16 {
	s := uint32(^sum) + uint32(^old) + uint32(new)
	s = (s & 0xffff) + (s >> 16)
	s = (s & 0xffff) + (s >> 16)
	return ^uint16(s)
}

// setWord writes a 16-bit word at b[i:] and adjusts the checksums at the
// given offsets (an offset < 0 is skipped).
func setWord(b []byte, i int, v uint16, sums ...int) {
	old := binary.BigEndian.Uint16(b[i:])
	if old == v {
		return
	}
	binary.BigEndian.PutUint16(b[i:], v)
	for _, s := range sums {
		if s < 0 {
			continue
		}
		c := binary.BigEndian.Uint16(b[s:])
		binary.BigEndian.PutUint16(b[s:], csumAdjust(c, old, v))
	}
}

// l4Sum is the offset of the transport checksum, or -1 when there is none
// to update (UDP with checksum 0).
func (p *Packet) l4Sum() int {
	switch p.Proto {
	case ProtoTCP:
		return p.L4 + 16
	case ProtoUDP:
		if binary.BigEndian.Uint16(p.B[p.L4+6:]) == 0 {
			return -1
		}
		return p.L4 + 6
	}
	return -1
}

// setAddr rewrites the source (src) or destination address, fixing the IP
// header checksum and the transport checksum (its pseudo header).
func (p *Packet) setAddr(src bool, a [4]byte) {
	off := p.L3 + 16
	if src {
		off = p.L3 + 12
	}
	ipSum, l4Sum := p.L3+10, p.l4Sum()
	setWord(p.B, off, uint16(a[0])<<8|uint16(a[1]), ipSum, l4Sum)
	setWord(p.B, off+2, uint16(a[2])<<8|uint16(a[3]), ipSum, l4Sum)
	if src {
		p.Src = a
	} else {
		p.Dst = a
	}
	p.fixZeroUDP(l4Sum)
}

// setPort rewrites the source or destination port.
func (p *Packet) setPort(src bool, v uint16) {
	off := p.L4 + 2
	if src {
		off = p.L4
	}
	l4Sum := p.l4Sum()
	setWord(p.B, off, v, l4Sum)
	if src {
		p.SPort = v
	} else {
		p.DPort = v
	}
	p.fixZeroUDP(l4Sum)
}

// fixZeroUDP: a computed UDP checksum of 0 is sent as 0xffff (RFC 768),
// since 0 means "no checksum".
func (p *Packet) fixZeroUDP(sum int) {
	if p.Proto == ProtoUDP && sum >= 0 && binary.BigEndian.Uint16(p.B[sum:]) == 0 {
		binary.BigEndian.PutUint16(p.B[sum:], 0xffff)
	}
}

// decTTL decrements the TTL (a router's duty); false when it expired.
func (p *Packet) decTTL() bool {
	ttl := p.B[p.L3+8]
	if ttl <= 1 {
		return false
	}
	w := binary.BigEndian.Uint16(p.B[p.L3+8:])
	setWord(p.B, p.L3+8, w-0x100, p.L3+10)
	return true
}

// SetMACs writes the Ethernet destination and source.
func SetMACs(b []byte, dst, src [6]byte) {
	copy(b[0:6], dst[:])
	copy(b[6:12], src[:])
}

// Checksum computes the internet checksum of b (for tests and for
// building frames).
func Checksum(b []byte, initial uint32) uint16 {
	s := initial
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = (s & 0xffff) + (s >> 16)
	}
	return ^uint16(s)
}
