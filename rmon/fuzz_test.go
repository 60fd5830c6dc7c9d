package rmon

import (
	"encoding/binary"
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/rmon/drmon"
	"github.com/wirebox/wirebox/rmon/mib"
	"github.com/wirebox/wirebox/rmon/snmp"
	"github.com/wirebox/wirebox/rmon/stats"
)

// testAgent builds the agent and its probe without ports or a socket.
func testAgent(tb testing.TB, cfg Config) (*snmp.Agent, *probe) {
	tb.Helper()
	acfg, err := cfg.agentConfig()
	if err != nil {
		tb.Fatal(err)
	}
	acfg.EngineID, acfg.Boots = newEngineID(), 1
	agent, p, _, err := build(&cfg, acfg, 16, 16)
	if err != nil {
		tb.Fatal(err)
	}
	return agent, p
}

// FuzzAgent runs arbitrary messages through the agent with the whole
// probe tree (no ports): control-table SETs in any combination must never
// panic, and the sampler must cope with whatever rows they made.
func FuzzAgent(f *testing.F) {
	g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: "fuzz", Logger: gosnmp.NewLogger(nil)}
	e, a, u := ".1.3.6.1.2.1.16.9.1.1", ".1.3.6.1.2.1.16.3.1.1", ".1.3.6.1.2.1.16.18.1.1"
	i := func(n int) any { return n }
	var seeds [][]byte
	for _, req := range []struct {
		t    gosnmp.PDUType
		pdus []gosnmp.SnmpPDU
	}{
		{gosnmp.SetRequest, []gosnmp.SnmpPDU{
			{Name: e + ".7.3", Type: gosnmp.Integer, Value: i(2)}, {Name: e + ".2.3", Type: gosnmp.OctetString, Value: "x"},
			{Name: e + ".3.3", Type: gosnmp.Integer, Value: i(4)}, {Name: e + ".7.3", Type: gosnmp.Integer, Value: i(1)}}},
		{gosnmp.SetRequest, []gosnmp.SnmpPDU{
			{Name: a + ".12.2", Type: gosnmp.Integer, Value: i(2)}, {Name: a + ".2.2", Type: gosnmp.Integer, Value: i(1)},
			{Name: a + ".3.2", Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.2.1.11.1.0"}, {Name: a + ".4.2", Type: gosnmp.Integer, Value: i(2)},
			{Name: a + ".7.2", Type: gosnmp.Integer, Value: i(1)}, {Name: a + ".9.2", Type: gosnmp.Integer, Value: i(3)},
			{Name: a + ".12.2", Type: gosnmp.Integer, Value: i(1)}}},
		{gosnmp.SetRequest, []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.16.2.1.1.7.1", Type: gosnmp.Integer, Value: i(2)},
			{Name: ".1.3.6.1.2.1.16.5.1.1.10.1", Type: gosnmp.Integer, Value: i(2)}}},
		{gosnmp.SetRequest, []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.1.5.0", Type: gosnmp.OctetString, Value: "probe"}}},
		// RMON2: a usrHistory bucket-group on sysUpTime, an hlHostControl
		// and an nlMatrixTopN row.
		{gosnmp.SetRequest, []gosnmp.SnmpPDU{
			{Name: u + ".7.4", Type: gosnmp.Integer, Value: i(5)}, {Name: u + ".2.4", Type: gosnmp.Integer, Value: i(1)},
			{Name: u + ".5.4", Type: gosnmp.Integer, Value: i(1)}, {Name: ".1.3.6.1.2.1.16.18.2.1.2.4.1", Type: gosnmp.ObjectIdentifier, Value: ".1.3.6.1.2.1.1.3.0"},
			{Name: ".1.3.6.1.2.1.16.18.2.1.3.4.1", Type: gosnmp.Integer, Value: i(2)}, {Name: u + ".7.4", Type: gosnmp.Integer, Value: i(1)}}},
		{gosnmp.SetRequest, []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.16.14.1.1.12.2", Type: gosnmp.Integer, Value: i(5)},
			{Name: ".1.3.6.1.2.1.16.15.4.1.11.1", Type: gosnmp.Integer, Value: i(5)}}},
		{gosnmp.GetNextRequest, []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.16.14.2.1.3.1.100", Type: gosnmp.Null}}},
		{gosnmp.GetBulkRequest, []gosnmp.SnmpPDU{{Name: ".1.3.6.1.2.1.16", Type: gosnmp.Null}}},
		{gosnmp.GetNextRequest, []gosnmp.SnmpPDU{{Name: ".1.3", Type: gosnmp.Null}}},
	} {
		b, err := g.SnmpEncodePacket(req.t, req.pdus, 0, 20)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		seeds = append(seeds, b)
	}
	agent, p := testAgent(f, Config{Communities: []CommunityConfig{{Name: "fuzz", Write: []string{"1"}}}})
	src := netip.MustParseAddr("127.0.0.1")
	// The seeds, encoded by gosnmp, create an event and an alarm on it.
	for _, b := range append(seeds[:2:2], seeds[4]) {
		if agent.Handle(b, src) == nil {
			f.Fatal("no answer to a seed")
		}
	}
	p.mu.Lock()
	ev, al, uh := p.events.rows[3], p.alarms.rows[2], p.usrHist.rows[4]
	p.mu.Unlock()
	if ev == nil || ev.status != statusValid || al == nil || al.status != statusValid || uh == nil || uh.status != statusValid {
		f.Fatalf("seeds did not create the rows: event %+v alarm %+v usrHistory %+v", ev, al, uh)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		agent.Handle(b, src)
		p.sample()
	})
}

// nlAttr encodes one netlink attribute (native endian, padded to 4).
func nlAttr(typ uint16, payload []byte) []byte {
	b := binary.NativeEndian.AppendUint16(nil, uint16(4+len(payload)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, payload...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

// nicReply is an ETHTOOL_MSG_STATS_GET reply in the kernel's layout (as
// veth's, testdata/fuzz/FuzzNICStats/veth-reply, with counters in the
// groups): eth-mac FCS 7 and alignment 2 errors, rmon 3 fragments and 1
// jabber.
func nicReply() []byte {
	u32 := func(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
	u64 := func(v uint64) []byte { return binary.NativeEndian.AppendUint64(nil, v) }
	stat := func(id uint16, v uint64) []byte { return nlAttr(ethtoolAGrpStat|0x8000, nlAttr(id, u64(v))) }
	hdr := nlAttr(ethtoolAStatsHeader|0x8000, append(nlAttr(1, u32(2)), nlAttr(2, []byte("wb0\x00"))...))
	mac := append(append(append(nlAttr(ethtoolAGrpID, u32(ethtoolStatsEthMAC)), nlAttr(3, u32(0x12))...),
		stat(ethtoolMACFCSErr, 7)...), stat(ethtoolMACAlignErr, 2)...)
	rmon := append(append(append(nlAttr(ethtoolAGrpID, u32(ethtoolStatsRMON)), nlAttr(3, u32(0x14))...),
		stat(ethtoolRMONFrag, 3)...), stat(ethtoolRMONJabber, 1)...)
	b := []byte{0x21, 1, 0, 0}
	b = append(b, hdr...)
	b = append(b, nlAttr(ethtoolAStatsGrp|0x8000, mac)...)
	return append(b, nlAttr(ethtoolAStatsGrp|0x8000, rmon)...)
}

func TestParseNICStats(t *testing.T) {
	n, ok, err := parseNICStats(nicReply())
	if err != nil || !ok || n != (nicErrors{CRCAlign: 9, Fragments: 3, Jabbers: 1}) {
		t.Errorf("%+v %v %v", n, ok, err)
	}
	var s nicState
	s.add(nicErrors{CRCAlign: 100, Fragments: 5})
	s.add(nicErrors{CRCAlign: 104, Fragments: 5, Jabbers: 1})
	s.add(nicErrors{CRCAlign: 2}) // the NIC started over
	if got := *s.cur.Load(); got != (nicErrors{CRCAlign: 6, Jabbers: 1}) {
		t.Errorf("accumulated %+v", got)
	}
}

// FuzzNICStats: the ethtool reply decoder never panics on kernel bytes
// (seeds: a real veth reply and the layout with counters).
func FuzzNICStats(f *testing.F) {
	f.Add(nicReply())
	f.Fuzz(func(t *testing.T, b []byte) {
		parseNICStats(b)
	})
}

// FuzzRestore: whatever rmon-rows.json holds, restoring it, activating
// its rows and sampling them never panics (the seed is a file the probe
// wrote for an event, an alarm, a history, a usrHistory and an
// nlMatrixTopN row).
func FuzzRestore(f *testing.F) {
	mk := func() *probe {
		p := newProbe(&mib.Tree{}, func() uint64 { return 0 }, 16, 16)
		v := &drmon.View{Name: "v", St: stats.NewPort(16, 16)}
		p.setPorts([]portSpec{{key: "drmon:v", core: corePort{view: v}, st: v.St}})
		return p
	}
	p := mk()
	oid := func(s string) mib.Value { return mib.ObjectID(mib.MustOID(s)) }
	p.mu.Lock()
	for _, x := range []struct {
		t    *ctlTable
		i    int32
		vals map[uint32]mib.Value
	}{
		{p.events, 3, map[uint32]mib.Value{2: mib.String("x"), 3: mib.Integer(2)}},
		{p.history, 5, map[uint32]mib.Value{2: oid("1.3.6.1.2.1.2.2.1.1.1"), 3: mib.Integer(5), 5: mib.Integer(1)}},
		{p.usrHist, 4, map[uint32]mib.Value{2: mib.Integer(1), 3: mib.Integer(5), 5: mib.Integer(1), objKey(1, 2): oid("1.3.6.1.2.1.1.3.0")}},
		{p.nlTopN.ctl, 2, map[uint32]mib.Value{2: mib.Integer(1), 4: mib.Integer(2), 7: mib.Integer(5)}},
		{p.alarms, 2, map[uint32]mib.Value{2: mib.Integer(1), 3: oid("1.3.6.1.2.1.16.1.1.1.5.1"), 4: mib.Integer(2), 9: mib.Integer(3)}},
	} {
		x.t.add(&ctlRow{index: x.i, vals: x.vals})
	}
	p.rowsChanged++
	seed, err := json.Marshal(p.savedState())
	p.mu.Unlock()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseRows(b, "fuzz")
		if err != nil {
			return
		}
		q := mk()
		q.restore(s)
		q.activateRestored()
		q.sample()
		q.sample()
	})
}
