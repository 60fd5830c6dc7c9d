package mirror

import (
	"encoding/binary"
	"net"
	"net/netip"
)

// tunnelFilter recognises the frames of one TCP connection (either
// direction). When the tunnel itself runs over the mirrored port, its own
// segments must not be mirrored back into it: each would produce a larger
// one, a feedback loop (etherpuppet guards the same way with a filter).
type tunnelFilter struct {
	a, b netip.AddrPort
}

func newTunnelFilter(local, remote net.Addr) *tunnelFilter {
	l, ok1 := local.(*net.TCPAddr)
	r, ok2 := remote.(*net.TCPAddr)
	if !ok1 || !ok2 {
		return nil
	}
	return &tunnelFilter{l.AddrPort(), r.AddrPort()}
}

// match reports whether an Ethernet frame is a segment of the connection.
func (t *tunnelFilter) match(b []byte) bool {
	if len(b) < 14 {
		return false
	}
	et := binary.BigEndian.Uint16(b[12:])
	off := 14
	for (et == 0x8100 || et == 0x88a8) && len(b) >= off+4 {
		et = binary.BigEndian.Uint16(b[off+2:])
		off += 4
	}
	var src, dst netip.Addr
	var l4 []byte
	switch et {
	case 0x0800:
		ip := b[off:]
		if len(ip) < 20 || ip[9] != 6 {
			return false
		}
		ihl := int(ip[0]&0xf) * 4
		if ihl < 20 || len(ip) < ihl+4 || binary.BigEndian.Uint16(ip[6:])&0x1fff != 0 {
			return false // not the first fragment: no ports to compare
		}
		src = netip.AddrFrom4([4]byte(ip[12:16]))
		dst = netip.AddrFrom4([4]byte(ip[16:20]))
		l4 = ip[ihl:]
	case 0x86dd:
		ip := b[off:]
		if len(ip) < 44 || ip[6] != 6 { // extension headers are not followed
			return false
		}
		src = netip.AddrFrom16([16]byte(ip[8:24]))
		dst = netip.AddrFrom16([16]byte(ip[24:40]))
		l4 = ip[40:]
	default:
		return false
	}
	s := netip.AddrPortFrom(src, binary.BigEndian.Uint16(l4))
	d := netip.AddrPortFrom(dst, binary.BigEndian.Uint16(l4[2:]))
	return (t.same(s, t.a) && t.same(d, t.b)) || (t.same(s, t.b) && t.same(d, t.a))
}

func (t *tunnelFilter) same(x, y netip.AddrPort) bool {
	return x.Port() == y.Port() && x.Addr().Unmap() == y.Addr().Unmap()
}
