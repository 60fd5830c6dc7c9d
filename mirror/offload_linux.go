package mirror

import (
	"encoding/binary"
	"errors"
)

// TAP offloads: with a virtio-net header on every frame (IFF_VNET_HDR) and
// TSO/checksum offload announced (TUNSETOFFLOAD), the local stack hands the
// TAP one TCP segment of up to 64 KiB instead of ~45 frames, with its
// checksum left to "the device". The client is that device: it cuts the
// segment to the MSS the stack chose and fills in the checksums before the
// frames go into the tunnel, where the appliance port sends them as they
// are. Frames towards the TAP get a header saying their checksums were
// verified (the appliance port received them from a wire).

// virtio_net_hdr (10 bytes, little-endian on the machines we run on).
const (
	vnetHdrLen        = 10
	vnetNeedsCsum     = 1
	vnetDataValid     = 2
	vnetGSONone       = 0
	vnetGSOTCPv4      = 1
	vnetGSOTCPv6      = 4
	vnetGSOECN        = 0x80
	tunFCsum          = 0x01
	tunFTSO4          = 0x02
	tunFTSO6          = 0x04
	tunFTSOECN        = 0x08
	maxSegmentedBytes = 65535 + 14 + 4
)

var errOffload = errors.New("mirror: frame from the TAP with an offload it cannot complete")

// vnetRX is the header put before frames written to the TAP.
var vnetRX = [vnetHdrLen]byte{vnetDataValid}

// splitOffload turns one frame read from the TAP (header included) into
// wire frames, calling emit for each (the slice is valid during the call).
func splitOffload(pkt []byte, scratch []byte, emit func([]byte)) error {
	if len(pkt) < vnetHdrLen {
		return errOffload
	}
	h := pkt[:vnetHdrLen]
	pkt = pkt[vnetHdrLen:]
	flags, gso := h[0], h[1]&^vnetGSOECN
	gsoSize := int(binary.LittleEndian.Uint16(h[4:]))
	csumStart := int(binary.LittleEndian.Uint16(h[6:]))
	csumOff := int(binary.LittleEndian.Uint16(h[8:]))
	if gso == vnetGSONone {
		if flags&vnetNeedsCsum != 0 {
			at := csumStart + csumOff
			if csumStart >= len(pkt) || at+2 > len(pkt) {
				return errOffload
			}
			// The field holds the pseudo-header sum; complete it over the
			// rest of the packet.
			s := ^fold(sum(pkt[csumStart:], 0))
			binary.BigEndian.PutUint16(pkt[at:], s)
		}
		emit(pkt)
		return nil
	}
	if gso != vnetGSOTCPv4 && gso != vnetGSOTCPv6 || gsoSize == 0 {
		return errOffload
	}
	ipOff := 14
	et := binary.BigEndian.Uint16(pkt[12:])
	if et == 0x8100 && len(pkt) > 18 {
		et, ipOff = binary.BigEndian.Uint16(pkt[16:]), 18
	}
	tcpOff := csumStart
	if tcpOff+20 > len(pkt) || tcpOff <= ipOff {
		return errOffload
	}
	hdrLen := tcpOff + int(pkt[tcpOff+12]>>4)*4
	if hdrLen > len(pkt) {
		return errOffload
	}
	v4 := gso == vnetGSOTCPv4
	if v4 != (et == 0x0800) || !v4 && et != 0x86dd {
		return errOffload
	}
	payload := pkt[hdrLen:]
	seq := binary.BigEndian.Uint32(pkt[tcpOff+4:])
	var id uint16
	if v4 {
		id = binary.BigEndian.Uint16(pkt[ipOff+4:])
	}
	tcpFlags := pkt[tcpOff+13]
	for i, off := 0, 0; off < len(payload); i, off = i+1, off+gsoSize {
		n := min(gsoSize, len(payload)-off)
		seg := append(append(scratch[:0], pkt[:hdrLen]...), payload[off:off+n]...)
		ip, tcp := seg[ipOff:], seg[tcpOff:]
		l4len := hdrLen - tcpOff + n
		var ps uint64
		if v4 {
			ihl := int(ip[0]&0xf) * 4
			binary.BigEndian.PutUint16(ip[2:], uint16(hdrLen-ipOff+n))
			binary.BigEndian.PutUint16(ip[4:], id+uint16(i))
			ip[10], ip[11] = 0, 0
			binary.BigEndian.PutUint16(ip[10:], ^fold(sum(ip[:ihl], 0)))
			ps = sum(ip[12:20], uint64(6)+uint64(l4len))
		} else {
			binary.BigEndian.PutUint16(ip[4:], uint16(hdrLen-ipOff-40+n))
			ps = sum(ip[8:40], uint64(6)+uint64(l4len))
		}
		binary.BigEndian.PutUint32(tcp[4:], seq+uint32(off))
		f := tcpFlags
		if off+n < len(payload) {
			f &^= 0x01 | 0x08 // FIN and PSH only on the last segment
		}
		if i > 0 {
			f &^= 0x80 // CWR only on the first
		}
		tcp[13] = f
		tcp[16], tcp[17] = 0, 0
		binary.BigEndian.PutUint16(tcp[16:], ^fold(sum(tcp, ps)))
		emit(seg)
	}
	return nil
}

// sum adds b as big-endian 16-bit words (ones' complement, unfolded) to s.
func sum(b []byte, s uint64) uint64 {
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		s += v>>32 + v&0xffffffff
		b = b[8:]
	}
	if len(b) >= 4 {
		s += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		s += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint64(b[0]) << 8
	}
	return s
}

func fold(s uint64) uint16 {
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// coalescer merges consecutive segments of one IPv4 TCP flow, as a batch
// of a data message brings them, into one TAP write with a GSO header:
// the local stack takes a 64 KiB segment in one write instead of ~45
// (user-space GRO, as the kernel would have done on a NIC). Anything else
// is written as it came.
type coalescer struct {
	buf    []byte // vnet header + the merged frame
	n      int    // segments merged
	mss    int    // payload of the first segment
	last   int    // payload of the latest segment
	next   uint32 // expected sequence number
	closed bool   // the latest segment ended the run (PSH or short)
	tcpOff int
}

// tcp4 returns the TCP header offset and payload length of a plain IPv4
// TCP segment that GRO may merge (no IP options, no fragment), or ok false.
func tcp4(f []byte) (tcpOff, hdrLen, payload int, ok bool) {
	if len(f) < 14+20+20 || f[12] != 0x08 || f[13] != 0x00 {
		return 0, 0, 0, false
	}
	ip := f[14:]
	if ip[0] != 0x45 || ip[9] != 6 || binary.BigEndian.Uint16(ip[6:])&0x3fff != 0 {
		return 0, 0, 0, false
	}
	tot := int(binary.BigEndian.Uint16(ip[2:]))
	if tot+14 != len(f) {
		return 0, 0, 0, false
	}
	tcpOff = 34
	hdrLen = tcpOff + int(f[tcpOff+12]>>4)*4
	if hdrLen > len(f) || hdrLen < tcpOff+20 {
		return 0, 0, 0, false
	}
	return tcpOff, hdrLen, len(f) - hdrLen, true
}

// add tries to append f to the run; false means flush first and start anew.
func (c *coalescer) add(f []byte) bool {
	tcpOff, hdrLen, pl, ok := tcp4(f)
	flags := byte(0)
	if ok {
		flags = f[tcpOff+13]
	}
	if !ok || pl == 0 || (flags != 0x10 && flags != 0x18) {
		return false
	}
	if c.n == 0 {
		c.buf = append(append(c.buf[:0], vnetRX[:]...), f...)
		c.n, c.mss, c.last, c.tcpOff = 1, pl, pl, tcpOff
		c.next = binary.BigEndian.Uint32(f[tcpOff+4:]) + uint32(pl)
		c.closed = flags&0x08 != 0
		return true
	}
	first := c.buf[vnetHdrLen:]
	fh := hdrLen
	if c.closed || c.last != c.mss || pl > c.mss || len(c.buf)+pl > 65000 ||
		fh != c.tcpOff+int(first[c.tcpOff+12]>>4)*4 ||
		binary.BigEndian.Uint32(f[tcpOff+4:]) != c.next ||
		!bytesEqual(f[:14], first[:14]) || // Ethernet header
		f[15] != first[15] || f[22] != first[22] || // TOS, TTL
		!bytesEqual(f[26:34], first[26:34]) || // addresses
		!bytesEqual(f[tcpOff:tcpOff+4], first[tcpOff:tcpOff+4]) || // ports
		!bytesEqual(f[tcpOff+8:tcpOff+12], first[tcpOff+8:tcpOff+12]) || // ack
		!bytesEqual(f[tcpOff+14:tcpOff+16], first[tcpOff+14:tcpOff+16]) || // window
		!bytesEqual(f[tcpOff+20:hdrLen], first[tcpOff+20:fh]) { // options
		return false
	}
	c.buf = append(c.buf, f[hdrLen:]...)
	c.n++
	c.last = pl
	c.next += uint32(pl)
	if flags&0x08 != 0 {
		first := c.buf[vnetHdrLen:]
		first[c.tcpOff+13] |= 0x08
		c.closed = true
	}
	return true
}

// frame finishes the run: one frame, header and payload fixed up.
func (c *coalescer) frame() []byte {
	if c.n <= 1 {
		return c.buf
	}
	f := c.buf[vnetHdrLen:]
	ip := f[14:]
	binary.BigEndian.PutUint16(ip[2:], uint16(len(f)-14))
	ip[10], ip[11] = 0, 0
	binary.BigEndian.PutUint16(ip[10:], ^fold(sum(ip[:20], 0)))
	l4 := len(f) - c.tcpOff
	// The checksum is left to "the device" (NEEDS_CSUM): the field holds
	// the pseudo-header sum, as a stack that offloads it would leave it.
	binary.BigEndian.PutUint16(f[c.tcpOff+16:], fold(sum(ip[12:20], uint64(6)+uint64(l4))))
	h := c.buf[:vnetHdrLen]
	h[0], h[1] = vnetNeedsCsum, vnetGSOTCPv4
	hdrLen := c.tcpOff + int(f[c.tcpOff+12]>>4)*4
	binary.LittleEndian.PutUint16(h[2:], uint16(hdrLen))
	binary.LittleEndian.PutUint16(h[4:], uint16(c.mss))
	binary.LittleEndian.PutUint16(h[6:], uint16(c.tcpOff))
	binary.LittleEndian.PutUint16(h[8:], 16)
	return c.buf
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }
