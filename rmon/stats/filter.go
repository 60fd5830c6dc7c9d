package stats

// Filter is one RMON filter (RFC 2819 filterTable): data, mask and notMask
// compared at an offset into the frame, and the packet status compared the
// same way.
type Filter struct {
	Offset                            int
	Data, Mask, NotMask               []byte
	Status, StatusMask, StatusNotMask int64
}

// Pass applies the filter to a frame and its status (RFC 2819
// filterPktData, Mask, NotMask; a mask shorter than the data is extended
// with ones, a notMask with zeros).
func (f *Filter) Pass(data []byte, status int64) bool {
	off, fd := f.Offset, f.Data
	if off < 0 || off+len(fd) > len(data) {
		return false
	}
	anyNot, notHit := false, false
	for i, b := range fd {
		m, n := byte(0xff), byte(0)
		if i < len(f.Mask) {
			m = f.Mask[i]
		}
		if i < len(f.NotMask) {
			n = f.NotMask[i]
		}
		diff := (data[off+i] ^ b) & m
		if diff&^n != 0 {
			return false
		}
		if n&m != 0 {
			anyNot = true
			if diff&n != 0 {
				notHit = true
			}
		}
	}
	if anyNot && !notHit {
		return false
	}
	sm, sn := f.StatusMask, f.StatusNotMask
	sd := (status ^ f.Status) & sm
	return sd&^sn == 0 && (sn&sm == 0 || sd&sn != 0)
}

// PacketStatus is the Ethernet packet status bits of RFC 2819 for a frame
// of wireLen bytes without FCS: 1 longer than 1518 octets, 2 shorter than
// 64 (CRC errors never reach the core).
func PacketStatus(wireLen int) int64 {
	n := wireLen + FCS
	switch {
	case n > 1518:
		return 1
	case n < 64:
		return 2
	}
	return 0
}
