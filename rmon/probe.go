package rmon

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/rmon/mib"
	"github.com/wirebox/wirebox/rmon/stats"
)

// OIDs of the RMON groups (RFC 2819, RFC 3273).
var (
	rmonOID           = mib.MustOID("1.3.6.1.2.1.16")
	etherStatsEntry   = rmonOID.Append(1, 1, 1)
	etherStatsHCEntry = rmonOID.Append(1, 7, 1)
	historyCtlEntry   = rmonOID.Append(2, 1, 1)
	etherHistoryEntry = rmonOID.Append(2, 2, 1)
	alarmEntry        = rmonOID.Append(3, 1, 1)
	hostCtlEntry      = rmonOID.Append(4, 1, 1)
	hostEntry         = rmonOID.Append(4, 2, 1)
	hostTimeEntry     = rmonOID.Append(4, 3, 1)
	matrixCtlEntry    = rmonOID.Append(6, 1, 1)
	matrixSDEntry     = rmonOID.Append(6, 2, 1)
	matrixDSEntry     = rmonOID.Append(6, 3, 1)
	eventEntry        = rmonOID.Append(9, 1, 1)
	logEntry          = rmonOID.Append(9, 2, 1)
	ifIndexOID        = mib.MustOID("1.3.6.1.2.1.2.2.1.1")
	risingAlarmOID    = rmonOID.Append(0, 1)
	fallingAlarmOID   = rmonOID.Append(0, 2)
)

// monitorOwner owns the rows the probe creates itself.
const monitorOwner = "monitor"

// port is one port of the probe; ifIndex is its position + 1.
type port struct {
	ifIndex int
	core    corePort
	st      *stats.Port
	facts   portFacts
}

// probe is the RMON state: control tables and their runtime, guarded by mu.
type probe struct {
	mu        sync.Mutex
	ports     []*port
	tree      *mib.Tree
	uptime    func() uint64 // sysUpTime in hundredths of a second
	start     time.Time     // when sysUpTime was 0
	notify    func(trapOID mib.OID, vbs []notifyVB)
	now       func() time.Time
	cache     snapCache
	ether     *ctlTable
	history   *ctlTable
	alarms    *ctlTable
	events    *ctlTable
	hostCtl   *ctlTable
	matCtl    *ctlTable
	topN      *ctlTable
	protoDist *ctlTable
	// RMON2 network layer (nl.go)
	hlHostCtl, hlMatrixCtl, addrMapCtl *ctlTable
	addrMapDeletes                     uint64
	nlTopN                             *ctlTable
	usrHist                            *ctlTable
	logs                               map[int32]*eventLog
	// gen changes with every change of rows, buckets, logs or reports;
	// derived indexes are rebuilt when it moved (see cachedIndex).
	gen      uint64
	idxCache map[string]genIndex
	// filter and capture groups (channel.go)
	filters, channels, buffers *ctlTable
	activeChannels             atomic.Int32
}

type genIndex struct {
	gen uint64
	idx []mib.OID
}

// cachedIndex returns a derived table's index, rebuilt only when the
// probe's state changed: a walk asks for it once per varbind (p.mu held).
func (p *probe) cachedIndex(key string, build func() []mib.OID) []mib.OID {
	if c, ok := p.idxCache[key]; ok && c.gen == p.gen {
		return c.idx
	}
	if p.idxCache == nil {
		p.idxCache = map[string]genIndex{}
	}
	idx := build()
	p.idxCache[key] = genIndex{p.gen, idx}
	return idx
}

type notifyVB struct {
	oid mib.OID
	v   mib.Value
}

// portOf resolves a dataSource (ifIndex.N) to a port.
func (p *probe) portOf(ds mib.Value) *port {
	if ds.Type != gosnmp.ObjectIdentifier || len(ds.OID) != len(ifIndexOID)+1 || !ds.OID.HasPrefix(ifIndexOID) {
		return nil
	}
	i := int(ds.OID[len(ifIndexOID)])
	if i < 1 || i > len(p.ports) {
		return nil
	}
	return p.ports[i-1]
}

func dataSource(pt *port) mib.Value { return mib.ObjectID(ifIndexOID.Append(uint32(pt.ifIndex))) }

func (p *probe) checkDataSource(v mib.Value) gosnmp.SNMPError {
	if v.Type != gosnmp.ObjectIdentifier {
		return mib.WrongType
	}
	if p.portOf(v) == nil {
		return mib.WrongValue
	}
	return mib.NoError
}

func newProbe(ports []*port, tree *mib.Tree, uptime func() uint64) *probe {
	p := &probe{ports: ports, tree: tree, uptime: uptime, now: time.Now, logs: map[int32]*eventLog{}}
	p.start = time.Now().Add(-time.Duration(uptime()) * 10 * time.Millisecond)
	p.notify = func(mib.OID, []notifyVB) {}
	p.ether = newCtlTable(p, p.etherStatsSpec())
	p.history = newCtlTable(p, p.historySpec())
	p.alarms = newCtlTable(p, p.alarmSpec())
	p.events = newCtlTable(p, p.eventSpec())
	p.hostCtl = newCtlTable(p, p.hostCtlSpec())
	p.matCtl = newCtlTable(p, p.matrixCtlSpec())
	p.topN = newCtlTable(p, p.topNSpec())
	tree.Register(etherStatsEntry, p.ether.handler())
	tree.Register(etherStatsHCEntry, p.etherHCHandler())
	tree.Register(historyCtlEntry, p.history.handler())
	tree.Register(etherHistoryEntry, p.etherHistoryHandler())
	tree.Register(alarmEntry, p.alarms.handler())
	tree.Register(hostCtlEntry, p.hostCtl.handler())
	tree.Register(hostEntry, p.hostHandler(false))
	tree.Register(hostTimeEntry, p.hostHandler(true))
	tree.Register(topNCtlEntry, p.topN.handler())
	tree.Register(topNEntry, p.topNHandler())
	tree.Register(matrixCtlEntry, p.matCtl.handler())
	tree.Register(matrixSDEntry, p.matrixHandler(false))
	tree.Register(matrixDSEntry, p.matrixHandler(true))
	tree.Register(eventEntry, p.events.handler())
	tree.Register(logEntry, p.logHandler())
	p.registerRMON2(tree)
	p.registerNL(tree)
	p.registerNlTopN(tree)
	p.registerUsrHistory(tree)
	p.registerChannels(tree)
	// The probe's own rows: one statistics, host and matrix row per port.
	p.mu.Lock()
	for _, pt := range ports {
		for _, t := range []*ctlTable{p.ether, p.hostCtl, p.matCtl, p.protoDist, p.hlHostCtl, p.hlMatrixCtl, p.addrMapCtl} {
			t.add(&ctlRow{index: int32(pt.ifIndex), vals: map[uint32]mib.Value{
				2:                    dataSource(pt),
				t.spec.statusCol - 1: mib.String(monitorOwner),
			}})
		}
	}
	p.mu.Unlock()
	return p
}

// run samples history and alarms once a second until ctx ends.
func (p *probe) run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.sample()
		}
	}
}

func (p *probe) sample() {
	now := p.now()
	p.mu.Lock()
	for _, r := range p.history.valid() {
		p.sampleHistory(r, now)
	}
	for _, r := range p.topN.valid() {
		p.sampleTopN(r, now)
	}
	for _, r := range p.nlTopN.valid() {
		p.sampleNlTopN(r, now)
	}
	// Alarm and usrHistory variables are read through the tree, whose
	// handlers lock: list them, read, then apply.
	var vars []mib.OID
	var apply []func(vals []mib.Value) int
	for _, r := range p.alarms.valid() {
		if a := r.rt.(*alarmState); !now.Before(a.next) {
			vars = append(vars, r.vals[3].OID)
			apply = append(apply, func(v []mib.Value) int { p.sampleAlarm(r, v[0], now); return 1 })
		}
	}
	for _, r := range p.usrHist.valid() {
		if u := r.rt.(*usrRT); !now.Before(u.next) {
			vars = append(vars, u.vars...)
			apply = append(apply, func(v []mib.Value) int { p.sampleUsr(r, v[:len(u.vars)], now); return len(u.vars) })
		}
	}
	p.mu.Unlock()
	vals := make([]mib.Value, len(vars))
	for i, o := range vars {
		vals[i] = p.tree.Get(o)
	}
	p.mu.Lock()
	for _, f := range apply {
		vals = vals[f(vals):]
	}
	p.mu.Unlock()
}

// snapCache keeps port snapshots briefly, so a walk of the host or matrix
// tables does not copy them once per varbind.
type snapCache struct {
	at    time.Time
	gen   uint64 // the probe's gen: tables built over changed rows are stale
	snaps map[*port]*stats.Snapshot
	nets  map[*port]*stats.NetSnapshot
	built map[string]*built
}

func (p *probe) snapshot(pt *port) *stats.Snapshot {
	now := p.now()
	if now.Sub(p.cache.at) > 100*time.Millisecond || p.cache.snaps == nil || p.cache.gen != p.gen {
		p.cache = snapCache{at: now, gen: p.gen, snaps: map[*port]*stats.Snapshot{}, nets: map[*port]*stats.NetSnapshot{}}
	}
	if pt == nil {
		return nil
	}
	s := p.cache.snaps[pt]
	if s == nil {
		sn := pt.st.Snapshot()
		s = &sn
		p.cache.snaps[pt] = s
	}
	return s
}

// netSnapshot is snapshot for the network-layer tables (p.mu held).
func (p *probe) netSnapshot(pt *port) *stats.NetSnapshot {
	p.snapshot(nil)
	s := p.cache.nets[pt]
	if s == nil {
		sn := pt.st.NetSnapshot()
		s = &sn
		p.cache.nets[pt] = s
	}
	return s
}

// ticks converts a Unix-nanosecond time to sysUpTime (0 before the start).
func (p *probe) ticks(ns int64) uint64 {
	if d := ns - p.start.UnixNano(); d > 0 {
		return uint64(d / int64(10*time.Millisecond))
	}
	return 0
}
