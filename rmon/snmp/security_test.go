package snmp

import (
	"bytes"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/rmon/mib"
)

// proxy relays UDP between a manager and the agent, recording requests
// and optionally rewriting them.
type proxy struct {
	conn    net.PacketConn
	agent   *net.UDPAddr
	mu      sync.Mutex
	reqs    [][]byte
	rewrite func(b []byte) []byte
}

func newProxy(t *testing.T, agentAddr string) (*proxy, string) {
	t.Helper()
	conn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ua, _ := net.ResolveUDPAddr("udp", agentAddr)
	p := &proxy{conn: conn, agent: ua}
	up, err := net.DialUDP("udp", nil, ua)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 65536)
		for {
			n, from, err := conn.ReadFrom(buf)
			if err != nil {
				return
			}
			req := bytes.Clone(buf[:n])
			p.mu.Lock()
			p.reqs = append(p.reqs, bytes.Clone(req))
			if p.rewrite != nil {
				req = p.rewrite(req)
			}
			p.mu.Unlock()
			up.Write(req)
			up.SetReadDeadline(time.Now().Add(time.Second))
			rn, err := up.Read(buf)
			if err == nil {
				conn.WriteTo(buf[:rn], from)
			}
		}
	}()
	t.Cleanup(func() { conn.Close(); up.Close(); wg.Wait() })
	return p, conn.LocalAddr().String()
}

func (p *proxy) requests() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.reqs...)
}

// exchange sends one raw request to the agent and returns the reply (nil
// on timeout).
func exchange(t *testing.T, addr string, req []byte) []byte {
	t.Helper()
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(req); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(time.Second))
	buf := make([]byte, 65536)
	n, err := c.Read(buf)
	if err != nil {
		return nil
	}
	return buf[:n]
}

// TestV3Tampered changes one byte of each authenticated request in flight:
// the agent must not act on it and must count a wrong digest.
func TestV3Tampered(t *testing.T) {
	tree, contact := testTree()
	a, addr := startAgent(t, Config{Users: testUsers}, tree)
	p, paddr := newProxy(t, addr)
	p.mu.Lock()
	p.rewrite = func(b []byte) []byte {
		m, err := decodeMessage(b)
		if err != nil || m.Flags&flagAuth == 0 {
			return b // discovery goes through untouched
		}
		// The last byte is in the value of the last varbind: "ok" becomes "ol".
		b[len(b)-1]++
		return b
	}
	p.mu.Unlock()
	args := append(v3args("sha256", "authNoPriv", "SHA-256", "authpass256", "", ""), paddr, "1.3.6.1.2.1.1.4.0", "s", "ok")
	out, err := snmpTool(t, "snmpset", args...)
	if err == nil || !strings.Contains(out, "Authentication failure") {
		t.Errorf("tampered set: %v %s", err, out)
	}
	if contact() != "nobody" {
		t.Errorf("tampered set applied: contact %q", contact())
	}
	if a.USMStat(usmWrongDigests) != 1 {
		t.Errorf("usmStatsWrongDigests %d", a.USMStat(usmWrongDigests))
	}
	// The same request untampered goes through (the test can fail both ways).
	p.mu.Lock()
	p.rewrite = nil
	p.mu.Unlock()
	mustTool(t, "snmpset", args...)
	if contact() != "ok" {
		t.Errorf("contact %q", contact())
	}
	// gosnmp's own decoder accepts the tampered message without complaint:
	// the reason the agent verifies the HMAC itself.
	reqs := p.requests()
	tampered := bytes.Clone(reqs[len(reqs)-1])
	tampered[len(tampered)-1]++
	g := &gosnmp.GoSNMP{Version: gosnmp.Version3, SecurityModel: gosnmp.UserSecurityModel, MsgFlags: gosnmp.AuthNoPriv,
		SecurityParameters: &gosnmp.UsmSecurityParameters{UserName: "sha256", AuthenticationProtocol: gosnmp.SHA256,
			AuthenticationPassphrase: "authpass256", AuthoritativeEngineID: string(a.EngineID())}}
	if _, err := g.SnmpDecodePacket(tampered); err != nil {
		t.Logf("gosnmp rejects the tampered packet: %v", err)
	}
	before := a.USMStat(usmWrongDigests)
	if r := exchange(t, addr, tampered); r != nil {
		m, err := decodeMessage(r)
		if err != nil || m.PDU.Type != gosnmp.Report {
			t.Errorf("tampered replay answered with %v %+v", err, m)
		}
	}
	if a.USMStat(usmWrongDigests) != before+1 {
		t.Errorf("wrong digests not counted")
	}
}

// TestV3StaleTimeWindow replays a recorded authenticated request after the
// engine's clock moved 151 s: refused with a notInTimeWindow report.
func TestV3StaleTimeWindow(t *testing.T) {
	tree, _ := testTree()
	a, addr := startAgent(t, Config{Users: testUsers}, tree)
	p, paddr := newProxy(t, addr)
	mustTool(t, "snmpget", append(v3args("sha256aes", "authPriv", "SHA-256", "authpass256", "AES", "privpass256"), paddr, "1.3.6.1.2.1.1.1.0")...)
	reqs := p.requests()
	last := reqs[len(reqs)-1]
	// Replayed at once it is inside the window and answered.
	r := exchange(t, addr, last)
	if m, err := decodeMessage(r); err != nil || m.Flags&flagPriv == 0 {
		t.Fatalf("replay in window: %v", err)
	}
	a.start.Add(-151 * int64(time.Second))
	r = exchange(t, addr, last)
	m, err := decodeMessage(r)
	if err != nil || m.Flags != flagAuth || m.PDU.Type != gosnmp.Report ||
		!m.PDU.VarBinds[0].OID.HasPrefix(usmStatsOID.Append(usmNotInTimeWindows)) {
		t.Fatalf("stale request answered with %v %+v", err, m)
	}
	if a.USMStat(usmNotInTimeWindows) != 1 {
		t.Errorf("usmStatsNotInTimeWindows %d", a.USMStat(usmNotInTimeWindows))
	}
	// A manager resynchronizes from that report and gets through.
	mustTool(t, "snmpget", append(v3args("sha256aes", "authPriv", "SHA-256", "authpass256", "AES", "privpass256"), addr, "1.3.6.1.2.1.1.1.0")...)
}

// rawV2c builds a v2c request with arbitrary header fields.
func rawV2c(community string, p *PDU) []byte { return encodeCommunity(V2c, []byte(community), p) }

func TestDecodingEdgeCases(t *testing.T) {
	tree, _ := testTree()
	_, addr := startAgent(t, Config{Communities: []Community{{Name: "c", Read: []mib.OID{{1}}},
		{Name: "rw", Read: []mib.OID{{1}}, Write: []mib.OID{{1}}}}}, tree)
	getc := func(c string, p *PDU) *PDU {
		t.Helper()
		r := exchange(t, addr, rawV2c(c, p))
		if r == nil {
			t.Fatalf("no answer to %+v", p)
		}
		m, err := decodeMessage(r)
		if err != nil {
			t.Fatal(err)
		}
		return &m.PDU
	}
	get := func(p *PDU) *PDU { t.Helper(); return getc("c", p) }
	sys := mib.MustOID("1.3.6.1.2.1.1")
	// A negative request-id is echoed as the same negative number.
	r := get(&PDU{Type: gosnmp.GetRequest, RequestID: -12345, VarBinds: []VarBind{{sys.Append(1, 0), mib.Null}}})
	if r.RequestID != -12345 || r.ErrorStatus != 0 {
		t.Errorf("negative request-id: %+v", r)
	}
	// Non-repeaters above 255 (gosnmp would truncate 300 to 44): all 300
	// varbinds are non-repeaters, each answered once.
	var vbs []VarBind
	for i := 0; i < 300; i++ {
		vbs = append(vbs, VarBind{sys, mib.Null})
	}
	r = get(&PDU{Type: gosnmp.GetBulkRequest, RequestID: 1, ErrorStatus: 300, ErrorIndex: 10, VarBinds: vbs})
	if len(r.VarBinds) != 300 {
		t.Errorf("non-repeaters 300: %d varbinds", len(r.VarBinds))
	}
	// Negative max-repetitions is treated as zero: only the non-repeater.
	r = get(&PDU{Type: gosnmp.GetBulkRequest, RequestID: 2, ErrorStatus: 1, ErrorIndex: -5,
		VarBinds: []VarBind{{sys, mib.Null}, {sys, mib.Null}}})
	if len(r.VarBinds) != 1 || r.VarBinds[0].OID.String() != "1.3.6.1.2.1.1.1.0" {
		t.Errorf("negative max-repetitions: %+v", r.VarBinds)
	}
	// Negative non-repeaters: treated as zero, everything repeats.
	r = get(&PDU{Type: gosnmp.GetBulkRequest, RequestID: 3, ErrorStatus: -1, ErrorIndex: 2,
		VarBinds: []VarBind{{sys, mib.Null}}})
	if len(r.VarBinds) != 2 {
		t.Errorf("negative non-repeaters: %+v", r.VarBinds)
	}
	// Response larger than our maximum: tooBig with no varbinds (GET), a
	// shortened list (GETBULK).
	many := make([]VarBind, 4000)
	for i := range many {
		many[i] = VarBind{sys.Append(1, 0), mib.Null}
	}
	r = get(&PDU{Type: gosnmp.GetRequest, RequestID: 4, VarBinds: many[:3000]})
	if r.ErrorStatus != int64(mib.TooBig) || len(r.VarBinds) != 0 {
		t.Errorf("oversized get: status %d, %d varbinds", r.ErrorStatus, len(r.VarBinds))
	}
	// v1 with its 484-byte limit.
	v1 := encodeCommunity(V1, []byte("c"), &PDU{Type: gosnmp.GetRequest, RequestID: 5, VarBinds: many[:20]})
	if rm, err := decodeMessage(exchange(t, addr, v1)); err != nil || rm.PDU.ErrorStatus != int64(mib.TooBig) {
		t.Errorf("v1 oversized: %v %+v", err, rm)
	}
	// Error index beyond 255 names the right varbind (gosnmp keeps it in a uint8).
	set := make([]VarBind, 0, 300)
	for i := 0; i < 299; i++ {
		set = append(set, VarBind{sys.Append(4, 0), mib.String("x")})
	}
	set = append(set, VarBind{sys.Append(7, 0), mib.Integer(1)})
	r = getc("rw", &PDU{Type: gosnmp.SetRequest, RequestID: 7, VarBinds: set})
	if r.ErrorStatus != int64(mib.NotWritable) || r.ErrorIndex != 300 {
		t.Errorf("set failing at varbind 300: status %d index %d", r.ErrorStatus, r.ErrorIndex)
	}
	r = get(&PDU{Type: gosnmp.SetRequest, RequestID: 8, VarBinds: set[:1]})
	if r.ErrorStatus != int64(mib.NoAccess) || r.ErrorIndex != 1 {
		t.Errorf("set without write view: %+v", r.ErrorStatus)
	}
}

func TestSourceList(t *testing.T) {
	tree, _ := testTree()
	a, _ := startAgent(t, Config{Communities: []Community{{Name: "c", Read: []mib.OID{{1}},
		Sources: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}}}, tree)
	req := rawV2c("c", &PDU{Type: gosnmp.GetRequest, RequestID: 1, VarBinds: []VarBind{{mib.MustOID("1.3.6.1.2.1.1.1.0"), mib.Null}}})
	if a.Handle(req, netip.MustParseAddr("192.0.2.7")) == nil {
		t.Error("allowed source refused")
	}
	if a.Handle(req, netip.MustParseAddr("198.51.100.7")) != nil {
		t.Error("other source answered")
	}
}
