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
