package drmon

import (
	"bytes"
	"encoding/binary"
	"time"
)

// Frames of different agents are ordered by their stamps translated to
// the proxy's clock, which is only as good as the offset estimate (about
// half the round trip's asymmetry). Where that is not enough, the
// protocol decides, as the dRMON design suggests: an answer never goes
// before what it answers (an ICMP echo reply before its request, a TCP
// segment before the segment it acknowledges).

// reorderSpan bounds how far apart in time an answer and what it answers
// may be misordered: more than any clock-offset error between agents.
const reorderSpan = 10 * time.Millisecond

// flow is what answer matching reads of a frame.
type flow struct {
	ok       bool
	v6       bool
	src, dst []byte // IP addresses
	proto    uint8
	// ICMP: type, id and seq; TCP: ports, seq, ack, flags and the
	// sequence space the segment takes.
	icmpType        uint8
	icmpID, icmpSeq uint16
	sport, dport    uint16
	seq, ack        uint32
	flags           uint8
	span            uint32
}

func parseFlow(b []byte) flow {
	var f flow
	if len(b) < 14 {
		return f
	}
	et, l3 := binary.BigEndian.Uint16(b[12:]), 14
	if et == 0x8100 && len(b) >= 18 {
		et, l3 = binary.BigEndian.Uint16(b[16:]), 18
	}
	var l4, total int
	switch et {
	case 0x0800:
		if len(b) < l3+20 || b[l3]>>4 != 4 {
			return f
		}
		ihl := int(b[l3]&0x0f) * 4
		f.src, f.dst, f.proto = b[l3+12:l3+16], b[l3+16:l3+20], b[l3+9]
		l4, total = l3+ihl, l3+int(binary.BigEndian.Uint16(b[l3+2:]))
	case 0x86dd:
		if len(b) < l3+40 {
			return f
		}
		f.v6 = true
		f.src, f.dst, f.proto = b[l3+8:l3+24], b[l3+24:l3+40], b[l3+6]
		l4, total = l3+40, l3+40+int(binary.BigEndian.Uint16(b[l3+4:]))
	default:
		return f
	}
	switch {
	case f.proto == 1 && !f.v6 || f.proto == 58 && f.v6:
		if len(b) < l4+8 {
			return f
		}
		f.icmpType, f.icmpID, f.icmpSeq = b[l4], binary.BigEndian.Uint16(b[l4+4:]), binary.BigEndian.Uint16(b[l4+6:])
	case f.proto == 6:
		if len(b) < l4+20 {
			return f
		}
		f.sport, f.dport = binary.BigEndian.Uint16(b[l4:]), binary.BigEndian.Uint16(b[l4+2:])
		f.seq, f.ack, f.flags = binary.BigEndian.Uint32(b[l4+4:]), binary.BigEndian.Uint32(b[l4+8:]), b[l4+13]
		f.span = uint32(max(total-l4-int(b[l4+12]>>4)*4, 0))
		if f.flags&0x03 != 0 { // SYN or FIN take one
			f.span++
		}
	default:
		return f
	}
	f.ok = true
	return f
}

// answers reports whether a answers q.
func answers(a, q flow) bool {
	if !a.ok || !q.ok || a.proto != q.proto || !bytes.Equal(a.src, q.dst) || !bytes.Equal(a.dst, q.src) {
		return false
	}
	switch a.proto {
	case 1, 58:
		req, rep := uint8(8), uint8(0)
		if a.v6 {
			req, rep = 128, 129
		}
		return a.icmpType == rep && q.icmpType == req && a.icmpID == q.icmpID && a.icmpSeq == q.icmpSeq
	case 6:
		return a.sport == q.dport && a.dport == q.sport && a.flags&0x10 != 0 && q.span > 0 && a.ack == q.seq+q.span
	}
	return false
}

// causalOrder moves, in pkts sorted by time, every frame that answers a
// later frame of another agent to just after it (taking its time), and
// returns how many it moved.
func causalOrder(pkts []Captured) int {
	moved := 0
	flows := make([]flow, len(pkts))
	for i := range pkts {
		flows[i] = parseFlow(pkts[i].Data)
	}
	// A frame moves once at most: retransmissions can make two frames
	// "answer" each other.
	done := make([]bool, len(pkts))
	for i := 0; i < len(pkts); i++ {
		if !flows[i].ok || done[i] {
			continue
		}
		last := -1
		for j := i + 1; j < len(pkts) && pkts[j].Time-pkts[i].Time <= int64(reorderSpan); j++ {
			if pkts[j].Agent != pkts[i].Agent && answers(flows[i], flows[j]) {
				last = j
			}
		}
		if last < 0 {
			continue
		}
		p, f := pkts[i], flows[i]
		p.Time = pkts[last].Time
		copy(pkts[i:last], pkts[i+1:last+1])
		copy(flows[i:last], flows[i+1:last+1])
		copy(done[i:last], done[i+1:last+1])
		pkts[last], flows[last], done[last] = p, f, true
		moved++
		i-- // the frame now at i is yet to be looked at
	}
	return moved
}
