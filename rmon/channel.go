package rmon

import (
	"bytes"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/rmon/mib"
	"github.com/wirebox/wirebox/rmon/stats"
)

// RMON filter and capture groups (RFC 2819 sections 5.7, 5.8): filters
// select frames into channels; a channel counts its matches, may fire an
// event, and feeds capture buffers whose packets managers download in
// slices over SNMP.
var (
	filterEntry     = rmonOID.Append(7, 1, 1)
	channelEntry    = rmonOID.Append(7, 2, 1)
	bufferCtlEntry  = rmonOID.Append(8, 1, 1)
	captureBufEntry = rmonOID.Append(8, 2, 1)
)

// Capture limits: the default and largest buffer a manager gets.
const (
	defaultCaptureOctets = 1 << 20
	maxCaptureOctets     = 16 << 20
)

// seen is a frame as the channels see it: the captured bytes (valid only
// during the call), the length on the wire and the core's timestamp.
type seen struct {
	data    []byte
	wireLen int
	ts      int64
}

type chanRT struct{ matches uint64 }

type capPkt struct {
	id     int32
	data   []byte
	length int
	timeMs int64
	status int64
}

type bufRT struct {
	pkts     []capPkt
	octets   int
	next     int32
	full     bool
	granted  int
	turnOn   uint64
	turnOnAt time.Time
	captured uint64
}

func (p *probe) filterSpec() *ctlSpec {
	oct := checkString(512)
	return &ctlSpec{
		name: "filterTable", cols: seq(1, 11), indexCol: 1, statusCol: 11,
		writable: map[uint32]ctlCol{
			2:  {check: checkInt(1, 65535), frozen: true},
			3:  {def: defInt(0), check: checkInt(0, 1<<31-1), frozen: true},
			4:  {def: defString(""), check: oct, frozen: true},
			5:  {def: defString(""), check: oct, frozen: true},
			6:  {def: defString(""), check: oct, frozen: true},
			7:  {def: defInt(0), check: checkInt(0, 1<<31-1), frozen: true},
			8:  {def: defInt(0), check: checkInt(0, 1<<31-1), frozen: true},
			9:  {def: defInt(0), check: checkInt(0, 1<<31-1), frozen: true},
			10: ownerCol,
		},
		validate: func(r *ctlRow) gosnmp.SNMPError {
			p.mu.Lock()
			defer p.mu.Unlock()
			if _, ok := r.vals[2]; !ok || p.channels.rows[int32(r.num(2))] == nil {
				return mib.InconsistentValue // the channel must exist first
			}
			return mib.NoError
		},
	}
}

func (p *probe) channelSpec() *ctlSpec {
	return &ctlSpec{
		name: "channelTable", cols: seq(1, 12), indexCol: 1, statusCol: 12,
		writable: map[uint32]ctlCol{
			2:  {check: checkInt(1, 65535), frozen: true},
			3:  {def: defInt(1), check: checkInt(1, 2), frozen: true},
			4:  {def: defInt(2), check: checkInt(1, 2)},
			5:  {def: defInt(0), check: checkInt(0, 65535)},
			6:  {def: defInt(0), check: checkInt(0, 65535)},
			7:  {def: defInt(0), check: checkInt(0, 65535)},
			8:  {def: defInt(1), check: checkInt(1, 3)},
			10: {def: defString(""), check: checkString(127)},
			11: ownerCol,
		},
		validate: func(r *ctlRow) gosnmp.SNMPError {
			if v, ok := r.vals[2]; !ok || p.portByIndex(v.Int) == nil {
				return mib.InconsistentValue
			}
			return mib.NoError
		},
		activate: func(r *ctlRow) { r.rt = &chanRT{}; p.activeChannels.Add(1) },
		destroy:  func(r *ctlRow) { p.activeChannels.Add(-1) },
		computed: func(r *ctlRow, col uint32) (mib.Value, bool) {
			if col == 9 {
				return mib.Counter32(r.rt.(*chanRT).matches), true
			}
			return mib.Value{}, false
		},
	}
}

func (p *probe) bufferSpec() *ctlSpec {
	return &ctlSpec{
		name: "bufferControlTable", cols: seq(1, 13), indexCol: 1, statusCol: 13,
		writable: map[uint32]ctlCol{
			2:  {check: checkInt(1, 65535), frozen: true},
			4:  {def: defInt(1), check: checkInt(1, 2)},
			5:  {def: defInt(100), check: checkInt(0, 1<<31-1), frozen: true},
			6:  {def: defInt(100), check: checkInt(0, 1<<31-1)},
			7:  {def: defInt(0), check: checkInt(0, 1<<31-1)},
			8:  {def: defInt(-1), check: checkInt(-1, 1<<31-1), frozen: true},
			12: ownerCol,
		},
		validate: func(r *ctlRow) gosnmp.SNMPError {
			p.mu.Lock()
			defer p.mu.Unlock()
			if _, ok := r.vals[2]; !ok || p.channels.rows[int32(r.num(2))] == nil {
				return mib.InconsistentValue
			}
			return mib.NoError
		},
		activate: func(r *ctlRow) {
			g := defaultCaptureOctets
			if req := r.num(8); req >= 0 {
				g = int(min(req, maxCaptureOctets))
			}
			r.rt = &bufRT{granted: g, turnOn: p.uptime(), turnOnAt: p.now()}
		},
		computed: func(r *ctlRow, col uint32) (mib.Value, bool) {
			b := r.rt.(*bufRT)
			switch col {
			case 3:
				if b.full {
					return mib.Integer(2), true
				}
				return mib.Integer(1), true
			case 9:
				return mib.Integer(int64(b.granted)), true
			case 10:
				return mib.Integer(int64(len(b.pkts))), true
			case 11:
				return mib.TimeTicks(b.turnOn), true
			}
			return mib.Value{}, false
		},
	}
}

// registerChannels serves the filter and capture groups.
func (p *probe) registerChannels(tree *mib.Tree) {
	p.filters = newCtlTable(p, p.filterSpec())
	p.channels = newCtlTable(p, p.channelSpec())
	p.buffers = newCtlTable(p, p.bufferSpec())
	tree.Register(filterEntry, p.filters.handler())
	tree.Register(channelEntry, p.channels.handler())
	tree.Register(bufferCtlEntry, p.buffers.handler())
	tree.Register(captureBufEntry, p.subHandler(p.buffers, seq(1, 7), func(r *ctlRow) []uint32 {
		var ids []uint32
		for _, pk := range r.rt.(*bufRT).pkts {
			ids = append(ids, uint32(pk.id))
		}
		return ids
	}, func(r *ctlRow, sub, col uint32) (mib.Value, bool) {
		var pk *capPkt
		for i, x := range r.rt.(*bufRT).pkts {
			if x.id == int32(sub) {
				pk = &r.rt.(*bufRT).pkts[i]
				break
			}
		}
		if pk == nil {
			return mib.Value{}, false
		}
		switch col {
		case 1:
			return mib.Integer(int64(r.index)), true
		case 2, 3:
			return mib.Integer(int64(pk.id)), true
		case 4:
			// A slice of the captured bytes: downloadOffset and
			// downloadSliceSize choose which.
			off, n := int(r.num(7)), int(r.num(6))
			if off > len(pk.data) {
				off = len(pk.data)
			}
			end := min(len(pk.data), off+n)
			return mib.OctetString(bytes.Clone(pk.data[off:end])), true
		case 5:
			return mib.Integer(int64(pk.length)), true
		case 6:
			return mib.Integer(pk.timeMs), true
		}
		return mib.Integer(pk.status), true
	}))
}

// pktStatus is the Ethernet packet status bits of RFC 2819 (stats.PacketStatus).
func pktStatus(wireLen int) int64 { return stats.PacketStatus(wireLen) }

// rowFilter is a filter row as stats.Filter (also what dRMON agents get).
func rowFilter(r *ctlRow) stats.Filter {
	return stats.Filter{Offset: int(r.num(3)), Data: r.vals[4].Bytes, Mask: r.vals[5].Bytes, NotMask: r.vals[6].Bytes,
		Status: r.num(7), StatusMask: r.num(8), StatusNotMask: r.num(9)}
}

// filterPass applies one filter (RFC 2819 filterPktData, Mask, NotMask;
// stats.Filter.Pass).
func filterPass(r *ctlRow, data []byte, status int64) bool {
	f := rowFilter(r)
	return f.Pass(data, status)
}

// chanTap is a port's hook for the feed: frames go through the channels
// only while some channel exists.
type chanTap struct {
	p  *probe
	pt *port
}

func (t chanTap) active() bool { return t.p.activeChannels.Load() > 0 }

func (t chanTap) see(frames []seen) {
	p, pt := t.p, t.pt
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ch := range p.channels.valid() {
		if int(ch.num(2)) != pt.ifIndex {
			continue
		}
		var filters []*ctlRow
		for _, f := range p.filters.valid() {
			if f.num(2) == int64(ch.index) {
				filters = append(filters, f)
			}
		}
		for _, f := range frames {
			st := pktStatus(f.wireLen)
			match := false
			for _, fl := range filters {
				if filterPass(fl, f.data, st) {
					match = true
					break
				}
			}
			if match != (ch.num(3) == 1) {
				continue
			}
			ch.rt.(*chanRT).matches++
			if ev := ch.num(7); ev != 0 && ch.num(8) != 2 {
				if ch.num(8) == 1 {
					ch.vals[8] = mib.Integer(2) // eventFired until the manager re-arms it
				}
				p.fireChannelEvent(int32(ev), ch)
			}
			if ch.num(4) == 1 {
				p.capture(ch, f, st)
			}
		}
	}
}

// capture stores a frame in the channel's buffers (p.mu held).
func (p *probe) capture(ch *ctlRow, f seen, status int64) {
	for _, r := range p.buffers.valid() {
		if r.num(2) != int64(ch.index) {
			continue
		}
		b := r.rt.(*bufRT)
		n := min(len(f.data), int(r.num(5)))
		if r.num(5) == 0 {
			n = len(f.data)
		}
		for b.octets+n > b.granted && len(b.pkts) > 0 {
			if r.num(4) == 1 { // lockWhenFull
				b.full = true
				break
			}
			b.octets -= len(b.pkts[0].data)
			b.pkts = b.pkts[1:]
		}
		if b.full || n > b.granted {
			continue
		}
		b.next++
		b.pkts = append(b.pkts, capPkt{id: b.next, data: bytes.Clone(f.data[:n]), length: f.wireLen + stats.FCS,
			timeMs: max(0, (f.ts-b.turnOnAt.UnixNano())/1e6), status: status})
		b.octets += n
		b.captured++
		p.gen++
	}
}

// fireChannelEvent runs a channel's event: logged per its type (RFC 2819
// defines no notification for it) and its channel on/off actions.
func (p *probe) fireChannelEvent(idx int32, ch *ctlRow) {
	ev := p.events.rows[idx]
	if ev == nil || ev.status != statusValid {
		return
	}
	if t := ev.num(3); t == evLog || t == evLogAndTrap {
		p.addLog(idx, ev, "channel "+itoa(int64(ch.index))+" matched")
	}
	ev.rt.(*eventRT).lastSent = p.uptime()
	p.channelActions(idx)
}

// channelActions turns channels on or off whose turn-on/off event is idx
// (p.mu held).
func (p *probe) channelActions(idx int32) {
	for _, ch := range p.channels.valid() {
		if ch.num(5) == int64(idx) {
			ch.vals[4] = mib.Integer(1)
		}
		if ch.num(6) == int64(idx) {
			ch.vals[4] = mib.Integer(2)
		}
	}
}
