package drmon

import (
	"bytes"

	"github.com/wirebox/wirebox/rmon/stats"
)

// Config is what the proxy pushes to the agents of a view (version 2): the
// RMON channels managers made on the view's interface, with their
// filters, and the view's instrumented addresses.
type Config struct {
	// Gen numbers the proxy's configurations within its boot, from 1;
	// agents report the one they apply (Report.ConfigGen).
	Gen uint64
	// Instrumented are the MAC addresses of the view's agents: an agent
	// matches and captures a frame its host received only when its sender
	// is not among them (the sender's agent has it), so each frame is
	// counted once, as the merge does.
	Instrumented [][6]byte
	Channels     []Channel
	// Histories are the view's history rows (appended field): agents
	// count their frames into the rows' buckets by time.
	Histories []History
}

// History is one RMON history row (historyControlTable) as agents keep
// it: bucket n (from 1) holds the frames stamped, in the proxy's clock,
// in [Start + (n-1)·Interval, Start + n·Interval).
type History struct {
	Index    uint16
	Interval uint64 // 100 ns units
	Start    uint64 // the proxy's uptime, 100 ns units
}

// Bucket is a closed history bucket's counts from one agent.
type Bucket struct {
	History uint16
	Sample  uint32
	C       stats.PairCounts
}

// Channel is one RMON channel (RFC 2819 channelTable) as agents apply it.
type Channel struct {
	Index uint16
	// Accept: a frame is the channel's when it passes a filter
	// (AcceptMatched) or when it passes none (AcceptFailed).
	Accept uint8
	// Capture: send the channel's frames back (Capture messages), at most
	// Slice bytes of each (0: whole frames).
	Capture bool
	Slice   uint32
	Filters []stats.Filter
}

// Channel accept types (channelAcceptType).
const (
	AcceptMatched = 1
	AcceptFailed  = 2
)

// ChannelCount is a channel's match count.
type ChannelCount struct {
	Channel uint16
	Count   uint64
}

// Capture carries frames an agent's channels captured (version 2).
type Capture struct {
	// ProxyBoot and Gen are the configuration the frames were captured
	// under: a proxy drops frames of another boot's or generation's
	// configuration (a replay, or channels since changed).
	ProxyBoot, Gen uint64
	Packets        []Packet
}

// Packet is one captured frame: Time is the agent's clock (100 ns since
// its start) when the frame was stamped, WireLen its length on the wire
// without FCS, Data its first bytes (the channel's slice).
type Packet struct {
	Channel uint16
	Time    uint64
	WireLen uint32
	Data    []byte
}

// packetOverhead bounds a Packet's encoding besides its data.
const packetOverhead = 2 + 8 + 4 + 3

func (e *w) bytes(b []byte) {
	e.uv(uint64(len(b)))
	e.b = append(e.b, b...)
}

func (d *r) bytes() []byte {
	n := d.uv()
	if d.err == nil && n > uint64(len(d.b)) {
		d.err = ErrFormat
		return nil
	}
	// A copy: bodies live in receive buffers that are reused.
	return bytes.Clone(d.take(int(n)))
}

// EncodeConfig and EncodeCapture build the version-2 bodies.
func EncodeConfig(m Config) []byte {
	var e w
	e.u64(m.Gen)
	e.uv(uint64(len(m.Instrumented)))
	for _, a := range m.Instrumented {
		e.b = append(e.b, a[:]...)
	}
	e.uv(uint64(len(m.Channels)))
	for _, c := range m.Channels {
		e.u16(c.Index)
		e.u8(c.Accept)
		capture := uint8(2)
		if c.Capture {
			capture = 1
		}
		e.u8(capture)
		e.u32(c.Slice)
		e.uv(uint64(len(c.Filters)))
		for _, f := range c.Filters {
			e.u32(uint32(f.Offset))
			e.bytes(f.Data)
			e.bytes(f.Mask)
			e.bytes(f.NotMask)
			e.u32(uint32(f.Status))
			e.u32(uint32(f.StatusMask))
			e.u32(uint32(f.StatusNotMask))
		}
	}
	e.uv(uint64(len(m.Histories)))
	for _, h := range m.Histories {
		e.u16(h.Index)
		e.u64(h.Interval)
		e.u64(h.Start)
	}
	return e.b
}

func EncodeCapture(m Capture) []byte {
	var e w
	e.u64(m.ProxyBoot)
	e.u64(m.Gen)
	e.uv(uint64(len(m.Packets)))
	for _, p := range m.Packets {
		e.u16(p.Channel)
		e.u64(p.Time)
		e.u32(p.WireLen)
		e.bytes(p.Data)
	}
	return e.b
}

// maxFilterBytes bounds a filter's data, mask and notMask (filterPktData
// is at most 512 octets in the probe).
const maxFilterBytes = 65535

// DecodeConfig and DecodeCapture parse the version-2 bodies.
func DecodeConfig(b []byte) (Config, error) {
	d := r{b: b}
	m := Config{Gen: d.u64()}
	n := d.count(6)
	for range n {
		if v := d.take(6); v != nil {
			m.Instrumented = append(m.Instrumented, [6]byte(v))
		}
	}
	n = d.count(9)
	for range n {
		c := Channel{Index: d.u16(), Accept: d.u8()}
		c.Capture = d.u8() == 1
		c.Slice = d.u32()
		nf := d.count(19)
		for range nf {
			f := stats.Filter{Offset: int(d.u32()), Data: d.bytes(), Mask: d.bytes(), NotMask: d.bytes()}
			f.Status, f.StatusMask, f.StatusNotMask = int64(int32(d.u32())), int64(int32(d.u32())), int64(int32(d.u32()))
			if d.err == nil && (f.Offset < 0 || f.Offset > MaxMessage || len(f.Data) > maxFilterBytes) {
				d.err = ErrFormat
			}
			if d.err != nil {
				return m, d.err
			}
			c.Filters = append(c.Filters, f)
		}
		if d.err == nil && c.Accept != AcceptMatched && c.Accept != AcceptFailed {
			d.err = ErrFormat
		}
		if d.err != nil {
			return m, d.err
		}
		m.Channels = append(m.Channels, c)
	}
	if d.err == nil && len(d.b) > 0 {
		n = d.count(18)
		for range n {
			h := History{Index: d.u16(), Interval: d.u64(), Start: d.u64()}
			if d.err == nil && h.Interval == 0 {
				d.err = ErrFormat
			}
			if d.err != nil {
				return m, d.err
			}
			m.Histories = append(m.Histories, h)
		}
	}
	return m, d.done()
}

func DecodeCapture(b []byte) (Capture, error) {
	d := r{b: b}
	m := Capture{ProxyBoot: d.u64(), Gen: d.u64()}
	n := d.count(packetOverhead - 2)
	for range n {
		p := Packet{Channel: d.u16(), Time: d.u64(), WireLen: d.u32(), Data: d.bytes()}
		if d.err != nil {
			return m, d.err
		}
		m.Packets = append(m.Packets, p)
	}
	return m, d.done()
}
