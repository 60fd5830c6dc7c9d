package rmon

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/internal/tick"
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

// port is one port of the probe. A port keeps its ifIndex, counters and
// the rows on it for the service's life: when the core closes it, it
// stops counting; when a port of that name comes back, it goes on.
type port struct {
	ifIndex int
	key     string                   // the core's port name, or "drmon:" and a view's name
	cp      atomic.Pointer[corePort] // the core's port: a new one when it comes back
	st      *stats.Port
	facts   portFacts
	nic     nicState
	ifRow   ifRow // IF-MIB's cached values (registerIF)
}

// core is the core's port (or the dRMON view) now.
func (pt *port) core() corePort { return *pt.cp.Load() }

// ether is the port's etherStats counters with the NIC's error counts.
func (pt *port) ether() stats.Ether {
	e, _, _ := pt.st.EtherSnapshot()
	if n := pt.nic.cur.Load(); n != nil {
		e.CRCAlign += n.CRCAlign
		e.Fragments += n.Fragments
		e.Jabbers += n.Jabbers
	}
	return e
}

// portSpec is a port as setPorts takes it (st nil: new counters).
type portSpec struct {
	key  string
	core corePort
	st   *stats.Port
}

// probe is the RMON state: control tables and their runtime, guarded by mu.
type probe struct {
	mu sync.Mutex
	// ports are the present ports in ifIndex order; the slice is replaced,
	// never changed, so readers need no lock.
	ports    atomic.Pointer[[]*port]
	byKey    map[string]*port // every port seen
	nextIf   int
	maxHosts int
	maxPairs int
	// anyPort lets data sources name absent ports while saved rows are
	// activated again (persist.go); rowsChanged counts row changes, and
	// rowsSaved what was last written.
	anyPort                atomic.Bool
	restored               []restoredRow
	rowsChanged, rowsSaved uint64
	tree                   *mib.Tree
	uptime                 func() uint64 // sysUpTime in hundredths of a second
	start                  time.Time     // when sysUpTime was 0
	notify                 func(trapOID mib.OID, vbs []notifyVB)
	now                    func() time.Time
	cache                  snapCache
	ether                  *ctlTable
	history                *ctlTable
	alarms                 *ctlTable
	events                 *ctlTable
	hostCtl                *ctlTable
	matCtl                 *ctlTable
	topN                   *ctlTable
	protoDist              *ctlTable
	// RMON2 network layer (nl.go)
	hlHostCtl, hlMatrixCtl, addrMapCtl *ctlTable
	addrMapDeletes                     uint64
	// addrMapBase is each port's stats.Port.MACDeletes when its first
	// addressMap row started: what its table deleted since counts.
	addrMapBase    map[*port]uint64
	nlTopN, alTopN *mTopN
	usrHist        *ctlTable
	logs           map[int32]*eventLog
	// gen changes with every change of rows, buckets, logs or reports;
	// derived indexes are rebuilt when it moved (see cachedIndex).
	gen      uint64
	idxCache map[string]genIndex
	// filter and capture groups (channel.go)
	filters, channels, buffers *ctlTable
	activeChannels             atomic.Int32
	// drmonDelay is how long a dRMON view's history bucket waits for the
	// agents' reports after it ends (drmon.go).
	drmonDelay time.Duration
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

// portList returns the present ports in ifIndex order.
func (p *probe) portList() []*port {
	if l := p.ports.Load(); l != nil {
		return *l
	}
	return nil
}

// portByIndex returns the present port with ifIndex i.
func (p *probe) portByIndex(i int64) *port {
	for _, pt := range p.portList() {
		if int64(pt.ifIndex) == i {
			return pt
		}
	}
	if p.anyPort.Load() {
		for _, pt := range p.byKey {
			if int64(pt.ifIndex) == i {
				return pt
			}
		}
	}
	return nil
}

func newStats(p *probe) *stats.Port { return stats.NewPort(p.maxHosts, p.maxPairs) }

// portOf resolves a dataSource (ifIndex.N) to a present port.
func (p *probe) portOf(ds mib.Value) *port {
	if ds.Type != gosnmp.ObjectIdentifier || len(ds.OID) != len(ifIndexOID)+1 || !ds.OID.HasPrefix(ifIndexOID) {
		return nil
	}
	return p.portByIndex(int64(ds.OID[len(ifIndexOID)]))
}

// setPorts makes specs the present ports (in that order for new ones):
// a port seen before keeps its ifIndex, counters and the rows on it; a
// new one gets the next ifIndex and the probe's monitor rows. It
// returns the present ports.
func (p *probe) setPorts(specs []portSpec) []*port {
	facts := make([]portFacts, len(specs))
	for i, s := range specs {
		facts[i] = s.core.facts()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var list, added []*port
	for i, s := range specs {
		pt := p.byKey[s.key]
		if pt == nil {
			p.nextIf++
			pt = &port{ifIndex: p.nextIf, key: s.key, st: s.st}
			if pt.st == nil {
				pt.st = newStats(p)
			}
			p.byKey[s.key] = pt
			added = append(added, pt)
			p.rowsChanged++
		} else if s.st != nil && pt.st != s.st {
			pt.st = s.st // a dRMON view's counters are the proxy's
		}
		pt.cp.Store(&s.core)
		pt.facts = facts[i]
		list = append(list, pt)
	}
	slices.SortFunc(list, func(a, b *port) int { return a.ifIndex - b.ifIndex })
	p.ports.Store(&list)
	for _, pt := range added {
		p.addMonitorRows(pt) // their activation looks the port up
	}
	p.gen++
	return list
}

// addMonitorRows adds the probe's own rows for a new port where no
// manager's row has its index (p.mu held).
func (p *probe) addMonitorRows(pt *port) {
	for _, t := range []*ctlTable{p.ether, p.hostCtl, p.matCtl, p.protoDist, p.hlHostCtl, p.hlMatrixCtl, p.addrMapCtl} {
		if t.rows[int32(pt.ifIndex)] != nil {
			continue
		}
		t.add(&ctlRow{index: int32(pt.ifIndex), vals: map[uint32]mib.Value{
			2:                    dataSource(pt),
			t.spec.statusCol - 1: mib.String(monitorOwner),
		}})
	}
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

func newProbe(tree *mib.Tree, uptime func() uint64, maxHosts, maxPairs int) *probe {
	p := &probe{tree: tree, uptime: uptime, now: time.Now, logs: map[int32]*eventLog{}, byKey: map[string]*port{}, maxHosts: maxHosts, maxPairs: maxPairs}
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
	p.registerMatrixTopN(tree)
	p.registerUsrHistory(tree)
	p.registerChannels(tree)
	return p
}

// run samples history, reports and alarms once a second until ctx ends.
func (p *probe) run(ctx context.Context) { every(ctx, time.Second, false, p.sample) }

// every runs fn every d (first at once with now) until ctx ends.
func every(ctx context.Context, d time.Duration, now bool, fn func()) {
	if now {
		fn()
	}
	tick.Every(ctx, d, func() error { fn(); return nil })
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
	for _, m := range []*mTopN{p.nlTopN, p.alTopN} {
		for _, r := range m.ctl.valid() {
			p.sampleMTopN(m, r, now)
		}
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
	return cached(p.cache.snaps, pt, pt.st.Snapshot)
}

// netSnapshot is snapshot for the network-layer tables (p.mu held).
func (p *probe) netSnapshot(pt *port) *stats.NetSnapshot {
	p.snapshot(nil)
	return cached(p.cache.nets, pt, pt.st.NetSnapshot)
}

// cached returns m[pt], taking it first if missing.
func cached[T any](m map[*port]*T, pt *port, take func() T) *T {
	s := m[pt]
	if s == nil {
		v := take()
		s = &v
		m[pt] = s
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
