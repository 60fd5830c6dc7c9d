// Package match is the payload trigger of capture sessions: a regular
// expression over packet payloads picks flows. The flow (5-tuple, both
// directions) of a packet whose payload matches is captured from that
// packet on; packets of the flow before the match are not.
package match

import (
	"encoding/binary"
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"time"
)

// Error is a bad expression; Pos is the byte offset of the offending part.
type Error struct {
	Expr string
	Pos  int
	Err  error
}

func (e *Error) Error() string {
	return fmt.Sprintf("match: column %d: %v", e.Pos+1, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// FlowKey identifies a flow regardless of direction: the lower endpoint
// (address, port) first.
type FlowKey struct {
	Proto        uint8
	AddrA, AddrB [16]byte
	PortA, PortB uint16
}

// Options configure a Matcher.
type Options struct {
	// IdleTimeout forgets a flow not seen for this long. Default 5 minutes.
	IdleTimeout time.Duration
	// MaxFlows bounds the flow table. Default 65536; when full (after
	// dropping idle flows) new matches are counted in FlowsRefused.
	MaxFlows int
}

// Matcher tracks triggered flows. It is not safe for concurrent use; a
// capture session owns one.
type Matcher struct {
	re    *regexp.Regexp
	opt   Options
	flows map[FlowKey]int64 // last seen, ns
	// FlowsRefused counts matching flows not tracked because the table was full.
	FlowsRefused uint64
	lastSweep    int64
}

// New compiles the expression (Go RE2 syntax, matched against the raw
// payload bytes).
func New(expr string, opt Options) (*Matcher, error) {
	if expr == "" {
		return nil, &Error{Expr: expr, Err: errors.New("empty expression")}
	}
	re, err := regexp.Compile(expr)
	if err != nil {
		pos := 0
		var se *syntax.Error
		if errors.As(err, &se) {
			if se.Code == syntax.ErrMissingParen {
				pos = unclosedParen(expr)
			} else if i := strings.LastIndex(expr, se.Expr); i >= 0 && se.Expr != "" {
				pos = i
			}
		}
		return nil, &Error{Expr: expr, Pos: pos, Err: err}
	}
	if opt.IdleTimeout <= 0 {
		opt.IdleTimeout = 5 * time.Minute
	}
	if opt.MaxFlows <= 0 {
		opt.MaxFlows = 65536
	}
	return &Matcher{re: re, opt: opt, flows: make(map[FlowKey]int64)}, nil
}

// unclosedParen returns the offset of the first "(" never closed (RE2
// reports the whole expression for this error).
func unclosedParen(expr string) int {
	var open []int
	inClass := false
	for i := 0; i < len(expr); i++ {
		switch c := expr[i]; {
		case c == '\\':
			i++
		case inClass:
			inClass = c != ']'
		case c == '[':
			inClass = true
		case c == '(':
			open = append(open, i)
		case c == ')' && len(open) > 0:
			open = open[:len(open)-1]
		}
	}
	if len(open) > 0 {
		return open[0]
	}
	return 0
}

// Flows is the number of flows being captured.
func (m *Matcher) Flows() int { return len(m.flows) }

// Check reports whether the frame belongs to a triggered flow, triggering
// its flow when the payload matches. now is the frame's timestamp (ns).
// Frames that are not IPv4/IPv6 never match.
func (m *Matcher) Check(frame []byte, now int64) bool {
	key, payload, ok := Parse(frame)
	if !ok {
		return false
	}
	if seen, ok := m.flows[key]; ok {
		if now-seen <= int64(m.opt.IdleTimeout) {
			m.flows[key] = now
			return true
		}
		delete(m.flows, key)
	}
	if len(payload) == 0 || !m.re.Match(payload) {
		return false
	}
	if len(m.flows) >= m.opt.MaxFlows {
		m.sweep(now)
		if len(m.flows) >= m.opt.MaxFlows {
			m.FlowsRefused++
			return true // this packet matched; its flow just is not followed
		}
	}
	m.flows[key] = now
	return true
}

func (m *Matcher) sweep(now int64) {
	if now-m.lastSweep < int64(time.Second) && m.lastSweep != 0 {
		return
	}
	m.lastSweep = now
	for k, seen := range m.flows {
		if now-seen > int64(m.opt.IdleTimeout) {
			delete(m.flows, k)
		}
	}
}

// Parse extracts the direction-independent flow key and the transport
// payload of an Ethernet frame (VLAN tags skipped). For protocols other
// than TCP, UDP and SCTP the ports are zero and the payload is what
// follows the IP header.
func Parse(frame []byte) (key FlowKey, payload []byte, ok bool) {
	if len(frame) < 14 {
		return key, nil, false
	}
	et := binary.BigEndian.Uint16(frame[12:])
	off := 14
	for (et == 0x8100 || et == 0x88a8 || et == 0x9100) && len(frame) >= off+4 {
		et = binary.BigEndian.Uint16(frame[off+2:])
		off += 4
	}
	var src, dst [16]byte
	var proto uint8
	var l4 []byte
	switch et {
	case 0x0800:
		ip := frame[off:]
		if len(ip) < 20 || ip[0]>>4 != 4 {
			return key, nil, false
		}
		hl := int(ip[0]&0xf) * 4
		total := int(binary.BigEndian.Uint16(ip[2:]))
		if hl < 20 || total < hl || len(ip) < hl {
			return key, nil, false
		}
		if total < len(ip) {
			ip = ip[:total] // drop Ethernet padding
		}
		proto = ip[9]
		copy(src[12:], ip[12:16])
		copy(dst[12:], ip[16:20])
		src[10], src[11], dst[10], dst[11] = 0xff, 0xff, 0xff, 0xff
		if binary.BigEndian.Uint16(ip[6:])&0x1fff != 0 {
			// A non-first fragment has no transport header: key by addresses only.
			return makeKey(proto, src, dst, 0, 0), nil, true
		}
		l4 = ip[hl:]
	case 0x86dd:
		ip := frame[off:]
		if len(ip) < 40 || ip[0]>>4 != 6 {
			return key, nil, false
		}
		plen := int(binary.BigEndian.Uint16(ip[4:]))
		if 40+plen < len(ip) {
			ip = ip[:40+plen]
		}
		proto = ip[6]
		copy(src[:], ip[8:24])
		copy(dst[:], ip[24:40])
		l4 = ip[40:]
		// Skip the common extension headers to reach the transport.
		for i := 0; i < 8; i++ {
			switch proto {
			case 0, 43, 60: // hop-by-hop, routing, destination options
				if len(l4) < 8 {
					return key, nil, false
				}
				n := 8 + int(l4[1])*8
				if len(l4) < n {
					return key, nil, false
				}
				proto, l4 = l4[0], l4[n:]
				continue
			case 44: // fragment
				if len(l4) < 8 {
					return key, nil, false
				}
				if binary.BigEndian.Uint16(l4[2:])&0xfff8 != 0 {
					return makeKey(l4[0], src, dst, 0, 0), nil, true
				}
				proto, l4 = l4[0], l4[8:]
				continue
			}
			break
		}
	default:
		return key, nil, false
	}
	var sp, dp uint16
	switch proto {
	case 6:
		if len(l4) < 20 {
			return key, nil, false
		}
		sp, dp = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
		doff := int(l4[12]>>4) * 4
		if doff < 20 || doff > len(l4) {
			return key, nil, false
		}
		payload = l4[doff:]
	case 17, 132:
		hdr := 8
		if proto == 132 {
			hdr = 12
		}
		if len(l4) < hdr {
			return key, nil, false
		}
		sp, dp = binary.BigEndian.Uint16(l4), binary.BigEndian.Uint16(l4[2:])
		payload = l4[hdr:]
	default:
		payload = l4
	}
	return makeKey(proto, src, dst, sp, dp), payload, true
}

func makeKey(proto uint8, a, b [16]byte, pa, pb uint16) FlowKey {
	if c := compare(a, b); c > 0 || (c == 0 && pa > pb) {
		a, b, pa, pb = b, a, pb, pa
	}
	return FlowKey{Proto: proto, AddrA: a, AddrB: b, PortA: pa, PortB: pb}
}

func compare(a, b [16]byte) int {
	for i := range a {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}
