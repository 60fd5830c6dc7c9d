package rmon

import (
	"fmt"
	"strconv"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/internal/mapx"
	"github.com/wirebox/wirebox/rmon/mib"
)

// Alarm sample types and startup alarms (RFC 2819).
const (
	sampleAbsolute = 1
	sampleDelta    = 2
	startupRising  = 1
	startupFalling = 2
	eventRising    = 1
	eventFalling   = 2
)

type alarmState struct {
	next     time.Time
	last     int64
	haveLast bool
	value    int64
	first    bool // the first evaluated sample may raise the startup alarm
	lastEv   int  // eventRising or eventFalling: hysteresis
}

func (p *probe) alarmSpec() *ctlSpec {
	i32 := checkInt(-1<<31, 1<<31-1)
	return &ctlSpec{
		name: "alarmTable", cols: seq(1, 12), indexCol: 1, statusCol: 12,
		writable: map[uint32]ctlCol{
			2:  {def: defInt(60), check: checkInt(1, 1<<31-1), frozen: true},
			3:  {check: checkOID, frozen: true},
			4:  {def: defInt(sampleDelta), check: checkInt(1, 2), frozen: true},
			6:  {def: defInt(3), check: checkInt(1, 3), frozen: true},
			7:  {def: defInt(0), check: i32, frozen: true},
			8:  {def: defInt(0), check: i32, frozen: true},
			9:  {def: defInt(0), check: checkInt(0, 65535), frozen: true},
			10: {def: defInt(0), check: checkInt(0, 65535), frozen: true},
			11: ownerCol,
		},
		validate: func(r *ctlRow) gosnmp.SNMPError {
			v, ok := r.vals[3]
			if !ok {
				return mib.InconsistentValue
			}
			// The variable must resolve to an integer (RFC 2819 alarmVariable).
			switch val := p.tree.Get(v.OID); val.Type {
			case gosnmp.Integer, gosnmp.Counter32, gosnmp.Gauge32, gosnmp.TimeTicks:
				return mib.NoError
			}
			return mib.InconsistentValue
		},
		activate: func(r *ctlRow) { r.rt = &alarmState{next: p.now(), first: true} },
		computed: func(r *ctlRow, col uint32) (mib.Value, bool) {
			if col == 5 {
				return mib.Integer(r.rt.(*alarmState).value), true
			}
			return mib.Value{}, false
		},
	}
}

// sampleAlarm evaluates one sample of a due alarm (p.mu held).
func (p *probe) sampleAlarm(r *ctlRow, v mib.Value, now time.Time) {
	if r.status != statusValid {
		return
	}
	a := r.rt.(*alarmState)
	a.next = now.Add(time.Duration(r.num(2)) * time.Second)
	if !v.IsInteger() {
		return // the variable went away; keep the last value
	}
	n := v.Number()
	if r.num(4) == sampleDelta {
		if !a.haveLast {
			a.last, a.haveLast = n, true
			return
		}
		d := n - a.last
		if v.Type == gosnmp.Counter32 && d < 0 {
			d += 1 << 32 // one wrap
		}
		a.last = n
		n = d
	}
	a.value = int64(int32(n))
	rising, falling := r.num(7), r.num(8)
	startup := r.num(6)
	first := a.first
	a.first = false
	switch {
	case a.value >= rising && a.lastEv != eventRising && (!first || startup != startupFalling):
		a.lastEv = eventRising
		p.fireEvent(int32(r.num(9)), r, true)
	case a.value <= falling && a.lastEv != eventFalling && (!first || startup != startupRising):
		a.lastEv = eventFalling
		p.fireEvent(int32(r.num(10)), r, false)
	}
}

// Event types.
const (
	evNone       = 1
	evLog        = 2
	evTrap       = 3
	evLogAndTrap = 4
	maxLogs      = 100 // log entries kept per event
)

type logItem struct {
	index int32
	time  uint64
	desc  string
}

type eventLog struct {
	next  int32
	items []logItem
}

type eventRT struct{ lastSent uint64 }

func (p *probe) eventSpec() *ctlSpec {
	return &ctlSpec{
		name: "eventTable", cols: seq(1, 7), indexCol: 1, statusCol: 7,
		writable: map[uint32]ctlCol{
			2: {def: defString(""), check: checkString(127)},
			3: {def: defInt(evNone), check: checkInt(1, 4)},
			4: {def: defString(""), check: checkString(127)},
			6: ownerCol,
		},
		activate: func(r *ctlRow) { r.rt = &eventRT{} },
		destroy:  func(r *ctlRow) { delete(p.logs, r.index) },
		computed: func(r *ctlRow, col uint32) (mib.Value, bool) {
			if col == 5 {
				return mib.TimeTicks(r.rt.(*eventRT).lastSent), true
			}
			return mib.Value{}, false
		},
	}
}

// fireEvent runs event idx for alarm a (p.mu held).
func (p *probe) fireEvent(idx int32, a *ctlRow, rising bool) {
	ev := p.events.rows[idx]
	if idx == 0 || ev == nil || ev.status != statusValid {
		return
	}
	kind, thCol, trap := "falling", uint32(8), fallingAlarmOID
	if rising {
		kind, thCol, trap = "rising", 7, risingAlarmOID
	}
	value := a.rt.(*alarmState).value
	now := p.uptime()
	t := ev.num(3)
	if t == evLog || t == evLogAndTrap {
		p.addLog(idx, ev, fmt.Sprintf("%s alarm %d: %s = %d, threshold %d", kind, a.index, a.vals[3].OID, value, a.num(thCol)))
	}
	if t == evTrap || t == evLogAndTrap {
		col := func(c uint32) mib.OID { return alarmEntry.Append(c, uint32(a.index)) }
		p.notify(trap, []notifyVB{
			{col(1), mib.Integer(int64(a.index))}, {col(3), a.vals[3]}, {col(4), a.vals[4]},
			{col(5), mib.Integer(value)}, {col(thCol), a.vals[thCol]},
		})
	}
	ev.rt.(*eventRT).lastSent = now
	p.channelActions(idx)
}

// addLog adds a logTable entry for event idx (p.mu held).
func (p *probe) addLog(idx int32, ev *ctlRow, what string) {
	l := mapx.Entry(p.logs, idx)
	l.next++
	l.items = append(l.items, logItem{index: l.next, time: p.uptime(), desc: ev.str(2) + ": " + what})
	if len(l.items) > maxLogs {
		l.items = l.items[len(l.items)-maxLogs:]
	}
	p.gen++
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// logHandler serves logTable (logEventIndex.logIndex).
func (p *probe) logHandler() *mib.Table {
	return p.subHandler(p.events, seq(1, 4), func(r *ctlRow) []uint32 {
		var out []uint32
		if l := p.logs[r.index]; l != nil {
			for _, it := range l.items {
				out = append(out, uint32(it.index))
			}
		}
		return out
	}, func(r *ctlRow, sub, col uint32) (mib.Value, bool) {
		l := p.logs[r.index]
		if l == nil {
			return mib.Value{}, false
		}
		for _, it := range l.items {
			if it.index != int32(sub) {
				continue
			}
			switch col {
			case 1:
				return mib.Integer(int64(r.index)), true
			case 2:
				return mib.Integer(int64(it.index)), true
			case 3:
				return mib.TimeTicks(it.time), true
			}
			return mib.String(it.desc), true
		}
		return mib.Value{}, false
	})
}
