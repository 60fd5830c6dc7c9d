package fwd

import "encoding/binary"

// ARP operations.
const (
	ARPRequest = 1
	ARPReply   = 2
)

// ARP is a parsed Ethernet/IPv4 ARP message.
type ARP struct {
	Op       uint16
	SHA, THA [6]byte
	SPA, TPA [4]byte
}

// ParseARP reads an Ethernet ARP frame for IPv4.
func ParseARP(b []byte, a *ARP) bool {
	if len(b) < 14+28 || binary.BigEndian.Uint16(b[12:]) != EtherARP {
		return false
	}
	h := b[14:]
	if binary.BigEndian.Uint16(h[0:]) != 1 || binary.BigEndian.Uint16(h[2:]) != EtherIPv4 || h[4] != 6 || h[5] != 4 {
		return false
	}
	a.Op = binary.BigEndian.Uint16(h[6:])
	copy(a.SHA[:], h[8:14])
	copy(a.SPA[:], h[14:18])
	copy(a.THA[:], h[18:24])
	copy(a.TPA[:], h[24:28])
	return true
}

// Broadcast is the Ethernet broadcast address.
var Broadcast = [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}

// BuildARP writes an ARP frame into b (at least 60 bytes: the minimum
// Ethernet frame, padded) and returns its length.
func BuildARP(b []byte, dst [6]byte, a ARP) int {
	for i := range b[:60] {
		b[i] = 0
	}
	copy(b[0:6], dst[:])
	copy(b[6:12], a.SHA[:])
	binary.BigEndian.PutUint16(b[12:], EtherARP)
	h := b[14:]
	binary.BigEndian.PutUint16(h[0:], 1)
	binary.BigEndian.PutUint16(h[2:], EtherIPv4)
	h[4], h[5] = 6, 4
	binary.BigEndian.PutUint16(h[6:], a.Op)
	copy(h[8:14], a.SHA[:])
	copy(h[14:18], a.SPA[:])
	copy(h[18:24], a.THA[:])
	copy(h[24:28], a.TPA[:])
	return 60
}

// Gratuitous is a gratuitous ARP announcing ip at mac (a request whose
// sender and target address are both ip, broadcast): neighbours update
// their entry for ip, switches learn where mac is.
func Gratuitous(b []byte, mac [6]byte, ip [4]byte) int {
	return BuildARP(b, Broadcast, ARP{Op: ARPRequest, SHA: mac, SPA: ip, TPA: ip})
}

// Probe is an ARP request for ip with sender address 0.0.0.0 (an RFC 5227
// probe): the owner of ip answers, and no neighbour records us as owning
// any address, so a standby can resolve backends without claiming the
// addresses the active owns.
func Probe(b []byte, mac [6]byte, ip [4]byte) int {
	return BuildARP(b, Broadcast, ARP{Op: ARPRequest, SHA: mac, TPA: ip})
}

// Reply answers req: ip is at mac.
func Reply(b []byte, mac [6]byte, req *ARP) int {
	return BuildARP(b, req.SHA, ARP{Op: ARPReply, SHA: mac, SPA: req.TPA, THA: req.SHA, TPA: req.SPA})
}
