package drmon

import (
	"encoding/binary"
	"net/netip"
	"sync"

	"github.com/wirebox/wirebox/rmon/stats"
)

// RespKey names one response-time row: a server (address and port), a
// client address and which end measured it.
type RespKey struct {
	Server   netip.AddrPort
	Client   netip.Addr
	Observer uint8
}

// RespStats are cumulative response-time counters in 100 ns units.
type RespStats struct {
	SetupCount, SetupSum, SetupMin, SetupMax uint64
	RespCount, RespSum, RespMin, RespMax     uint64
}

func (s *RespStats) addSetup(d uint64) {
	addTime(&s.SetupCount, &s.SetupSum, &s.SetupMin, &s.SetupMax, d)
}
func (s *RespStats) addResp(d uint64) { addTime(&s.RespCount, &s.RespSum, &s.RespMin, &s.RespMax, d) }

// addTime counts one time d into a count, sum, min (0: none yet) and max.
func addTime(count, sum, lo, hi *uint64, d uint64) {
	*count++
	*sum += d
	if *lo == 0 || d < *lo {
		*lo = d
	}
	*hi = max(*hi, d)
}

// merge adds a delta whose Min and Max are absolute.
func (s *RespStats) merge(d *Response) {
	s.SetupCount += d.SetupCount
	s.SetupSum += d.SetupSum
	s.RespCount += d.RespCount
	s.RespSum += d.RespSum
	if d.SetupMin != 0 && (s.SetupMin == 0 || d.SetupMin < s.SetupMin) {
		s.SetupMin = d.SetupMin
	}
	if d.RespMin != 0 && (s.RespMin == 0 || d.RespMin < s.RespMin) {
		s.RespMin = d.RespMin
	}
	s.SetupMax = max(s.SetupMax, d.SetupMax)
	s.RespMax = max(s.RespMax, d.RespMax)
}

type flowKey struct{ src, dst netip.AddrPort }

// conn is one TCP connection seen from its SYN.
type conn struct {
	client, server netip.AddrPort
	observer       uint8
	syn            int64 // ns; 0 once the set-up time is taken
	req            int64 // ns of the pending request's first segment; 0: none
}

// Tracker measures TCP connection set-up time (SYN to SYN/ACK) and
// application response time (a client's first data segment to the
// server's first data segment after it) from frames the host sends and
// receives. Connections whose SYN it did not see are not measured.
type Tracker struct {
	mu    sync.Mutex
	conns map[flowKey]*conn
	stats map[RespKey]*RespStats
	max   int
}

// NewTracker bounds the connections followed at once.
func NewTracker(maxConns int) *Tracker {
	return &Tracker{conns: map[flowKey]*conn{}, stats: map[RespKey]*RespStats{}, max: maxConns}
}

// TCP flags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

// parseTCP returns a TCP segment's endpoints, flags and payload length.
func parseTCP(d []byte) (src, dst netip.AddrPort, flags uint8, payload int, ok bool) {
	if len(d) < 14 {
		return
	}
	et := binary.BigEndian.Uint16(d[12:])
	d = d[14:]
	var sa, da netip.Addr
	var l4 []byte
	switch et {
	case 0x0800:
		if len(d) < 20 || d[0]>>4 != 4 || d[9] != 6 {
			return
		}
		ihl := int(d[0]&0xf) * 4
		tot := int(binary.BigEndian.Uint16(d[2:]))
		if ihl < 20 || tot < ihl || len(d) < ihl+20 || binary.BigEndian.Uint16(d[6:])&0x1fff != 0 {
			return
		}
		sa, da = netip.AddrFrom4([4]byte(d[12:16])), netip.AddrFrom4([4]byte(d[16:20]))
		l4 = d[ihl:]
		payload = tot - ihl
	case 0x86dd:
		if len(d) < 60 || d[6] != 6 {
			return
		}
		sa, da = netip.AddrFrom16([16]byte(d[8:24])), netip.AddrFrom16([16]byte(d[24:40]))
		l4 = d[40:]
		payload = int(binary.BigEndian.Uint16(d[4:]))
	default:
		return
	}
	doff := int(l4[12]>>4) * 4
	if doff < 20 || payload < doff {
		return
	}
	src = netip.AddrPortFrom(sa, binary.BigEndian.Uint16(l4[0:]))
	dst = netip.AddrPortFrom(da, binary.BigEndian.Uint16(l4[2:]))
	return src, dst, l4[13], payload - doff, true
}

// See adds one frame (full data, stamp in ns, whether the host sent it).
func (t *Tracker) See(data []byte, ts int64, tx bool) {
	src, dst, flags, payload, ok := parseTCP(data)
	if !ok || payload == 0 && flags&(tcpSYN|tcpFIN|tcpRST) == 0 {
		return // a pure ACK changes nothing: no lock, no lookup
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if flags&tcpSYN != 0 && flags&tcpACK == 0 {
		k := flowKey{src, dst}
		if t.conns[k] == nil && len(t.conns) >= t.max {
			return
		}
		obs := uint8(ObserverServer)
		if tx {
			obs = ObserverClient
		}
		t.conns[k] = &conn{client: src, server: dst, observer: obs, syn: ts}
		return
	}
	c, fromClient := t.conns[flowKey{src, dst}], true
	if c == nil {
		c, fromClient = t.conns[flowKey{dst, src}], false
		if c == nil {
			return
		}
	}
	key := RespKey{Server: c.server, Client: c.client.Addr(), Observer: c.observer}
	switch {
	case !fromClient && flags&(tcpSYN|tcpACK) == tcpSYN|tcpACK:
		if c.syn != 0 && ts >= c.syn {
			t.row(key).addSetup(uint64(ts-c.syn) / 100)
		}
		c.syn = 0
	case fromClient && payload > 0:
		if c.req == 0 {
			c.req = ts
		}
	case !fromClient && payload > 0:
		if c.req != 0 && ts >= c.req {
			t.row(key).addResp(uint64(ts-c.req) / 100)
		}
		c.req = 0
	}
	if flags&(tcpFIN|tcpRST) != 0 {
		delete(t.conns, flowKey{c.client, c.server})
	}
}

func (t *Tracker) row(k RespKey) *RespStats {
	s := t.stats[k]
	if s == nil {
		s = &RespStats{}
		t.stats[k] = s
	}
	return s
}

// Snapshot copies the cumulative rows.
func (t *Tracker) Snapshot() map[RespKey]RespStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return stats.Values(t.stats)
}
