package rmon

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/internal/buildinfo"
	"github.com/wirebox/wirebox/rmon/mib"
)

var (
	systemOID  = mib.MustOID("1.3.6.1.2.1.1")
	ifNumber   = mib.MustOID("1.3.6.1.2.1.2.1")
	ifEntry    = mib.MustOID("1.3.6.1.2.1.2.2.1")
	ifXEntry   = mib.MustOID("1.3.6.1.2.1.31.1.1.1")
	defaultOID = mib.MustOID("1.3.6.1.4.1.8072.3.2.10")
)

// sysStrings are the settable system objects.
type sysStrings struct {
	mu                      sync.Mutex
	contact, name, location string
}

func (s *sysStrings) scalar(field *string) mib.Scalar {
	return mib.Scalar{
		Get: func() mib.Value {
			s.mu.Lock()
			defer s.mu.Unlock()
			return mib.String(*field)
		},
		Set: func(tx *mib.Txn, v mib.Value) gosnmp.SNMPError {
			if e := checkString(255)(v); e != mib.NoError {
				return e
			}
			val := string(v.Bytes)
			tx.OnCommit(func() {
				s.mu.Lock()
				*field = val
				s.mu.Unlock()
			})
			return mib.NoError
		},
	}
}

func registerSystem(tree *mib.Tree, cfg *Config, uptime func() uint64) *sysStrings {
	s := &sysStrings{contact: cfg.SysContact, name: cfg.SysName, location: cfg.SysLocation}
	objID := defaultOID
	if cfg.SysObjectID != "" {
		objID = mib.MustOID(cfg.SysObjectID)
	}
	descr := "wirebox RMON probe " + buildinfo.String()
	tree.Register(systemOID, mib.Scalars{
		1: {Get: func() mib.Value { return mib.String(descr) }},
		2: {Get: func() mib.Value { return mib.ObjectID(objID) }},
		3: {Get: func() mib.Value { return mib.TimeTicks(uptime()) }},
		4: s.scalar(&s.contact),
		5: s.scalar(&s.name),
		6: s.scalar(&s.location),
		// Layers: datalink (2) for the probe, transport (8) and application (64) for the agent.
		7: {Get: func() mib.Value { return mib.Integer(2 + 8 + 64) }},
		8: {Get: func() mib.Value { return mib.TimeTicks(0) }},
	})
	return s
}

// ifRow is one port's IF-MIB values, cached briefly: a walk reads every
// column of every row and the core's counters cost a snapshot each.
type ifRow struct {
	at   time.Time
	vals map[uint32]mib.Value // ifTable columns
	x    map[uint32]mib.Value // ifXTable columns
}

func registerIF(tree *mib.Tree, p *probe) {
	var mu sync.Mutex // guards the ports' ifRow caches
	// The index follows the present ports (cached per port list).
	var idxOf *[]*port
	var idx []mib.OID
	present := func() ([]*port, []mib.OID) {
		l := p.ports.Load()
		mu.Lock()
		defer mu.Unlock()
		if l == nil {
			return nil, nil
		}
		if l != idxOf {
			idx = make([]mib.OID, len(*l))
			for i, pt := range *l {
				idx[i] = mib.OID{uint32(pt.ifIndex)}
			}
			idxOf = l
		}
		return *l, idx
	}
	find := func(index mib.OID) *port {
		list, _ := present()
		if len(index) != 1 {
			return nil
		}
		i, ok := slices.BinarySearchFunc(list, index[0], func(pt *port, n uint32) int { return cmp.Compare(uint32(pt.ifIndex), n) })
		if !ok {
			return nil
		}
		return list[i]
	}
	row := func(pt *port) *ifRow {
		mu.Lock()
		defer mu.Unlock()
		r := &pt.ifRow
		if time.Since(r.at) < 100*time.Millisecond {
			return r
		}
		p.mu.Lock()
		f := pt.facts
		p.mu.Unlock()
		c := pt.core().counters()
		_, rx, tx := pt.st.EtherSnapshot()
		// ifOperStatus from netlink's operational state (RFC 2863 values).
		oper := int64(2) // down
		switch f.OperState {
		case "up":
			oper = 1
		case "testing":
			oper = 3
		case "dormant":
			oper = 5
		case "notpresent", "absent":
			oper = 6
		case "lowerlayerdown":
			oper = 7
		case "unknown", "":
			oper = 4
			if c.LinkUp {
				oper = 1 // veth and tun report "unknown" while passing traffic
			}
		}
		var lastChange uint64
		if d := f.LastChange.Sub(p.start); d > 0 {
			lastChange = uint64(d / (10 * time.Millisecond))
		}
		speed := uint64(f.SpeedMbps) * 1_000_000
		r.vals = map[uint32]mib.Value{
			1: mib.Integer(int64(pt.ifIndex)), 2: mib.String(pt.core().Name()), 3: mib.Integer(6),
			4: mib.Integer(int64(f.MTU)), 5: mib.Gauge32(speed), 6: mib.OctetString(f.MAC),
			7: mib.Integer(1), 8: mib.Integer(oper), 9: mib.TimeTicks(lastChange),
			10: mib.Counter32(c.RxBytes), 11: mib.Counter32(rx.Ucast), 13: mib.Counter32(c.RxDropped),
			14: mib.Counter32(0), 15: mib.Counter32(0), 16: mib.Counter32(c.TxBytes), 17: mib.Counter32(tx.Ucast),
			19: mib.Counter32(0), 20: mib.Counter32(c.TxErrors),
		}
		r.x = map[uint32]mib.Value{
			1: mib.String(pt.core().Name()), 2: mib.Counter32(rx.Multicast), 3: mib.Counter32(rx.Broadcast),
			4: mib.Counter32(tx.Multicast), 5: mib.Counter32(tx.Broadcast),
			6: mib.Counter64(c.RxBytes), 7: mib.Counter64(rx.Ucast), 8: mib.Counter64(rx.Multicast), 9: mib.Counter64(rx.Broadcast),
			10: mib.Counter64(c.TxBytes), 11: mib.Counter64(tx.Ucast), 12: mib.Counter64(tx.Multicast), 13: mib.Counter64(tx.Broadcast),
			14: mib.Integer(2), 15: mib.Gauge32(uint64(f.SpeedMbps)), 16: mib.Integer(1), 17: mib.Integer(1),
			18: mib.String(""), 19: mib.TimeTicks(0),
		}
		r.at = time.Now()
		return r
	}
	tree.Register(ifNumber, mib.Single(func() mib.Value { return mib.Integer(int64(len(p.portList()))) }))
	ifIndex := func() []mib.OID { _, o := present(); return o }
	// ifTable and ifXTable: the same rows, each its own column set.
	ifTable := func(cols []uint32, set func(*ifRow) map[uint32]mib.Value) *mib.Table {
		return &mib.Table{Cols: cols, Index: ifIndex, Cell: func(index mib.OID, col uint32) (mib.Value, bool) {
			pt := find(index)
			if pt == nil {
				return mib.Value{}, false
			}
			v, ok := set(row(pt))[col]
			return v, ok
		}}
	}
	tree.Register(ifEntry, ifTable([]uint32{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 14, 15, 16, 17, 19, 20},
		func(r *ifRow) map[uint32]mib.Value { return r.vals }))
	tree.Register(ifXEntry, ifTable(seq(1, 19), func(r *ifRow) map[uint32]mib.Value { return r.x }))
}
