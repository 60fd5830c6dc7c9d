package rmon

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/capture/capturetest"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/testutil"
	"github.com/wirebox/wirebox/services"
	"github.com/wirebox/wirebox/services/servicestest"
)

type topo struct {
	a, b   *netns.NS
	la, lb netns.Link
	core   *capture.Core
}

// newTopo makes two namespaces joined by a veth pair (MTU 9000, so
// oversize frames can be sent) and a core with a passive port on wb0.
func newTopo(t *testing.T) *topo {
	t.Helper()
	p := netns.Pair(t, netns.PairOptions{VethOptions: netns.VethOptions{MTU: 9000}})
	c := capturetest.Core(t, 4096)
	if _, err := c.OpenPort(capture.PortConfig{Name: "wb0", NetNS: p.Near.Path, Mode: capture.Passive, RingBlocks: 4}); err != nil {
		t.Fatal(err)
	}
	return &topo{a: p.Near, b: p.Far, la: p.NearLink, lb: p.FarLink, core: c}
}

// startService runs the rmon service under the real supervisor, after a
// stand-in "core" service, until the test ends.
func startService(t *testing.T, cfg Config, core *capture.Core) *Service {
	t.Helper()
	svc, _ := startStoppable(t, cfg, core)
	return svc
}

// startStoppable is startService with a stop function (also run at the
// test's end if not called).
func startStoppable(t *testing.T, cfg Config, core *capture.Core) (*Service, func()) {
	t.Helper()
	svc, err := New(cfg, func() *capture.Core { return core }, nil)
	if err != nil {
		t.Fatal(err)
	}
	sup, err := services.New(services.Options{}, servicestest.Steady("core"), svc)
	if err != nil {
		t.Fatal(err)
	}
	halt := testutil.Go(t, sup.Run)
	testutil.Eventually(t, "the rmon service listening", func() error {
		if svc.Addr() == nil {
			return fmt.Errorf("not yet: %+v", sup.Status())
		}
		return nil
	})
	return svc, func() {
		if err := halt(); err != nil {
			t.Error(err)
		}
	}
}

// managed starts the service on a new topology with the community "mgr",
// which may write under the subtree write, and returns net-snmp's
// arguments for it.
func managed(t *testing.T, write string) (*topo, []string) {
	t.Helper()
	tp := newTopo(t)
	svc := startService(t, Config{Listen: "127.0.0.1:0", Communities: []CommunityConfig{{Name: "mgr", Write: []string{write}}}}, tp.core)
	return tp, []string{"-v2c", "-c", "mgr", svc.Addr().String()}
}

// sendRaw sends frames from ifname in ns through a raw AF_PACKET socket.
func sendRaw(t *testing.T, ns *netns.NS, ifname string, frames [][]byte) {
	t.Helper()
	err := ns.Do(func() error {
		fd, err := packetSocket(ifname, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		for _, f := range frames {
			for {
				_, err := unix.Write(fd, f)
				if err == unix.ENOBUFS || err == unix.EINTR {
					time.Sleep(time.Millisecond)
					continue
				}
				if err != nil {
					return fmt.Errorf("send %d bytes: %w", len(f), err)
				}
				break
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// packetSocket is an AF_PACKET socket bound to ifname (in the calling
// thread's namespace) receiving protocol proto (host order; 0: none).
func packetSocket(ifname string, proto uint16) (int, error) {
	ifi, err := net.InterfaceByName(ifname)
	if err != nil {
		return -1, err
	}
	be := binary.BigEndian.Uint16([]byte{byte(proto), byte(proto >> 8)}) // htons
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(be))
	if err != nil {
		return -1, err
	}
	if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: be, Ifindex: ifi.Index}); err != nil {
		unix.Close(fd)
		return -1, err
	}
	return fd, nil
}

func mac(last byte) net.HardwareAddr { return net.HardwareAddr{0x02, 0, 0, 0, 0, last} }

func ethFrame(dst, src net.HardwareAddr, size int) []byte {
	f := make([]byte, size)
	copy(f, dst)
	copy(f[6:], src)
	binary.BigEndian.PutUint16(f[12:], 0x88b5) // local experimental: nothing answers
	return f
}

func snmpRun(t *testing.T, tool string, args ...string) string {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Fatalf("%s not installed (Debian package snmp, scripts/deps.sh test): %v", tool, err)
	}
	out, err := exec.Command(tool, append([]string{"-On", "-OU", "-Oe", "-r", "1", "-t", "3"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", tool, args, err, out)
	}
	return string(out)
}

var typePrefix = regexp.MustCompile(`^[A-Za-z0-9]+: `)

var lineRE = regexp.MustCompile(`^(\.[0-9.]+) = (?:[A-Za-z0-9 -]+: )?(.*)$`)

// walk returns OID -> value text of a walk.
func walk(t *testing.T, tool string, args ...string) map[string]string {
	t.Helper()
	out := snmpRun(t, tool, args...)
	m := map[string]string{}
	last := ""
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		if s := lineRE.FindStringSubmatch(l); s != nil {
			last = s[1]
			m[last] = strings.Trim(s[2], `"`)
		} else if last != "" && !strings.HasPrefix(l, ".") {
			m[last] += " " + strings.TrimSpace(l) // a long hex string goes on
		}
	}
	return m
}

func num(t *testing.T, m map[string]string, oid string) uint64 {
	t.Helper()
	v, ok := m[oid]
	if !ok {
		t.Fatalf("no %s", oid)
	}
	n, err := strconv.ParseUint(strings.Fields(v)[0], 10, 64)
	if err != nil {
		t.Fatalf("%s = %q: %v", oid, v, err)
	}
	return n
}

func macOID(m net.HardwareAddr) string {
	s := ".6"
	for _, b := range m {
		s += fmt.Sprintf(".%d", b)
	}
	return s
}

// TestProbeCounts sends known frames through the core's port and checks
// every etherStats counter, host row and matrix row over SNMP.
func TestProbeCounts(t *testing.T) {
	tp := newTopo(t)
	cfg := Config{Listen: "127.0.0.1:0", StateFile: filepath.Join(t.TempDir(), "engine.json"),
		Communities: []CommunityConfig{{Name: "probe-ro"}},
		Users:       []UserConfig{{Name: "ops", Auth: "sha256", AuthKey: "auth-key-123", Priv: "aes", PrivKey: "priv-key-123"}}}
	svc := startService(t, cfg, tp.core)
	addr := svc.Addr().String()

	type pair struct{ src, dst byte }
	var frames [][]byte
	hostsOut := map[byte][2]uint64{} // src -> pkts, octets
	hostsIn := map[byte][2]uint64{}
	pairs := map[pair][3]uint64{} // pkts, octets, errors
	var want struct{ pkts, octets, bcast, mcast, under, over, b64, b127, b255, b511, b1023, b1518 uint64 }
	add := func(dst net.HardwareAddr, src byte, size, n int) {
		for i := 0; i < n; i++ {
			frames = append(frames, ethFrame(dst, mac(src), size))
		}
		wire := uint64(size + 4)
		u := uint64(n)
		want.pkts += u
		want.octets += u * wire
		good := true
		switch {
		case wire < 64:
			want.under += u
			good = false
		case wire == 64:
			want.b64 += u
		case wire <= 127:
			want.b127 += u
		case wire <= 255:
			want.b255 += u
		case wire <= 511:
			want.b511 += u
		case wire <= 1023:
			want.b1023 += u
		case wire <= 1518:
			want.b1518 += u
		default:
			want.over += u
			good = false
		}
		if good && dst[0] == 0xff {
			want.bcast += u
		} else if good && dst[0]&1 == 1 {
			want.mcast += u
		}
		h := hostsOut[src]
		hostsOut[src] = [2]uint64{h[0] + u, h[1] + u*wire}
		if good && dst[0] == 0x02 {
			h := hostsIn[dst[5]]
			hostsIn[dst[5]] = [2]uint64{h[0] + u, h[1] + u*wire}
		}
		if dst[0] == 0x02 {
			p := pairs[pair{src, dst[5]}]
			e := uint64(0)
			if !good {
				e = u
			}
			pairs[pair{src, dst[5]}] = [3]uint64{p[0] + u, p[1] + u*wire, p[2] + e}
		}
	}
	// Good unicast frames between three hosts first (hosts are learned
	// from good frames), in every size bucket.
	add(mac(2), 1, 60, 5)
	add(mac(2), 1, 100, 4)
	add(mac(3), 1, 200, 3)
	add(mac(1), 2, 400, 2)
	add(mac(1), 3, 800, 6)
	add(mac(3), 2, 1514, 7)
	add(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1, 60, 3)
	add(net.HardwareAddr{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}, 2, 90, 4)
	add(mac(2), 1, 50, 2)   // undersize
	add(mac(3), 2, 2000, 1) // oversize
	sendRaw(t, tp.b, "peer0", frames)

	stat := func(col int) string { return fmt.Sprintf(".1.3.6.1.2.1.16.1.1.1.%d.1", col) }
	deadline := time.Now().Add(20 * time.Second)
	var m map[string]string
	for {
		m = walk(t, "snmpwalk", "-v2c", "-c", "probe-ro", addr, "1.3.6.1.2.1.16.1.1")
		if num(t, m, stat(5)) >= want.pkts || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Read again: the walk that saw the last frame counted read the
	// columns before etherStatsPkts earlier.
	m = walk(t, "snmpwalk", "-v2c", "-c", "probe-ro", addr, "1.3.6.1.2.1.16.1.1")
	for _, c := range []struct {
		col  int
		want uint64
	}{
		{3, 0}, {4, want.octets}, {5, want.pkts}, {6, want.bcast}, {7, want.mcast}, {8, 0}, {9, want.under},
		{10, want.over}, {11, 0}, {12, 0}, {13, 0}, {14, want.b64}, {15, want.b127}, {16, want.b255},
		{17, want.b511}, {18, want.b1023}, {19, want.b1518},
	} {
		if got := num(t, m, stat(c.col)); got != c.want {
			t.Errorf("etherStats column %d = %d, want %d", c.col, got, c.want)
		}
	}
	if m[stat(2)] != ".1.3.6.1.2.1.2.2.1.1.1" || m[stat(20)] != "monitor" || m[stat(21)] != "1" {
		t.Errorf("etherStats row: source %q owner %q status %q", m[stat(2)], m[stat(20)], m[stat(21)])
	}
	// snmptable reads the same row, through a MIB module for its columns.
	tab := table(t, "-v2c", "-c", "probe-ro", addr, "WIREBOX-RMON-TEST-MIB::etherStatsTable")
	if len(tab) != 1 || tab[0]["etherStatsPkts"] != fmt.Sprint(want.pkts) || tab[0]["etherStatsUndersizePkts"] != fmt.Sprint(want.under) ||
		tab[0]["etherStatsPkts1024to1518Octets"] != fmt.Sprint(want.b1518) || tab[0]["etherStatsOwner"] != "monitor" {
		t.Errorf("snmptable etherStatsTable: %v", tab)
	}
	// The 64-bit table over v3 authPriv.
	v3 := []string{"-v3", "-u", "ops", "-l", "authPriv", "-a", "SHA-256", "-A", "auth-key-123", "-x", "AES", "-X", "priv-key-123", addr}
	hc := walk(t, "snmpbulkwalk", append(v3, "1.3.6.1.2.1.16.1.7")...)
	for col, w := range map[int]uint64{2: want.pkts, 4: want.octets, 6: want.b64, 8: want.b127, 16: want.b1518, 1: 0, 3: 0} {
		if got := num(t, hc, fmt.Sprintf(".1.3.6.1.2.1.16.1.7.1.%d.1", col)); got != w {
			t.Errorf("etherStatsHighCapacity column %d = %d, want %d", col, got, w)
		}
	}
	// v1 (RFC 3584): the same Counter32 values, the Counter64 columns skipped.
	v1 := walk(t, "snmpwalk", "-v1", "-c", "probe-ro", addr, "1.3.6.1.2.1.16.1")
	if num(t, v1, stat(5)) != want.pkts || num(t, v1, ".1.3.6.1.2.1.16.1.7.1.1.1") != 0 {
		t.Errorf("v1 walk: %v", v1)
	}
	if _, ok := v1[".1.3.6.1.2.1.16.1.7.1.2.1"]; ok {
		t.Errorf("v1 walk returned a Counter64")
	}
	// Hosts: every source and unicast destination, plus broadcast and
	// multicast destinations.
	hosts := walk(t, "snmpbulkwalk", "-v2c", "-c", "probe-ro", addr, "1.3.6.1.2.1.16.4.2")
	for _, h := range []byte{1, 2, 3} {
		idx := "1" + macOID(mac(h))
		col := func(c int) uint64 { return num(t, hosts, fmt.Sprintf(".1.3.6.1.2.1.16.4.2.1.%d.%s", c, idx)) }
		if col(5) != hostsOut[h][0] || col(7) != hostsOut[h][1] || col(4) != hostsIn[h][0] || col(6) != hostsIn[h][1] {
			t.Errorf("host %d: out %d/%d in %d/%d, want out %v in %v", h, col(5), col(7), col(4), col(6), hostsOut[h], hostsIn[h])
		}
	}
	if got := num(t, hosts, ".1.3.6.1.2.1.16.4.2.1.8.1"+macOID(mac(1))); got != 2 {
		t.Errorf("host 1 out errors %d, want 2", got)
	}
	if got := num(t, hosts, ".1.3.6.1.2.1.16.4.2.1.9.1"+macOID(mac(1))); got != 3 {
		t.Errorf("host 1 out broadcast %d, want 3", got)
	}
	if n := len(hosts) / 10; n != 5 {
		t.Errorf("%d hosts, want 5 (3 stations, broadcast, multicast):\n%v", n, hosts)
	}
	if got := num(t, walk(t, "snmpget", "-v2c", "-c", "probe-ro", addr, "1.3.6.1.2.1.16.4.1.1.3.1"), ".1.3.6.1.2.1.16.4.1.1.3.1"); got != 5 {
		t.Errorf("hostControlTableSize %d", got)
	}
	// Matrix, both orders.
	sd := walk(t, "snmpbulkwalk", "-v2c", "-c", "probe-ro", addr, "1.3.6.1.2.1.16.6.2")
	ds := walk(t, "snmpwalk", "-v2c", "-c", "probe-ro", addr, "1.3.6.1.2.1.16.6.3")
	for p, w := range pairs {
		sdIdx := "1" + macOID(mac(p.src)) + macOID(mac(p.dst))
		dsIdx := "1" + macOID(mac(p.dst)) + macOID(mac(p.src))
		for c := 4; c <= 6; c++ {
			if got := num(t, sd, fmt.Sprintf(".1.3.6.1.2.1.16.6.2.1.%d.%s", c, sdIdx)); got != w[c-4] {
				t.Errorf("matrixSD %v column %d = %d, want %d", p, c, got, w[c-4])
			}
			if got := num(t, ds, fmt.Sprintf(".1.3.6.1.2.1.16.6.3.1.%d.%s", c, dsIdx)); got != w[c-4] {
				t.Errorf("matrixDS %v column %d = %d, want %d", p, c, got, w[c-4])
			}
		}
	}
	// IF-MIB for the port: the core's facts (port.Info) and 64-bit
	// multicast / broadcast counts.
	ift := walk(t, "snmpwalk", "-v2c", "-c", "probe-ro", addr, "1.3.6.1.2.1.2.2.1")
	if ift[".1.3.6.1.2.1.2.2.1.4.1"] != "9000" || ift[".1.3.6.1.2.1.2.2.1.8.1"] != "1" ||
		!strings.EqualFold(strings.ReplaceAll(ift[".1.3.6.1.2.1.2.2.1.6.1"], " ", ""), strings.ReplaceAll(tp.la.MAC.String(), ":", "")) {
		t.Errorf("ifTable (MAC %s): %v", tp.la.MAC, ift)
	}
	// IF-MIB for the port: name and 64-bit multicast / broadcast counts.
	ifx := walk(t, "snmpwalk", "-v2c", "-c", "probe-ro", addr, "1.3.6.1.2.1.31.1.1.1")
	if ifx[".1.3.6.1.2.1.31.1.1.1.1.1"] != "wb0" || num(t, ifx, ".1.3.6.1.2.1.31.1.1.1.9.1") != 3 || num(t, ifx, ".1.3.6.1.2.1.31.1.1.1.8.1") != 4 {
		t.Errorf("ifXTable: %v", ifx)
	}
	// The same numbers over the API and as metrics.
	mux := http.NewServeMux()
	svc.Routes(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/rmon", nil))
	var sum Summary
	if err := json.Unmarshal(rec.Body.Bytes(), &sum); err != nil || len(sum.Ports) != 1 {
		t.Fatalf("GET /v1/rmon: %v %s", err, rec.Body)
	}
	// veth has no NIC RMON counters: the error counts are the core's.
	if e := sum.Ports[0].Ether; e.Pkts != want.pkts || e.Octets != want.octets || e.Undersize != want.under || sum.Ports[0].Hosts != 5 ||
		sum.Ports[0].ErrorCounters != "core" {
		t.Errorf("GET /v1/rmon: %+v", sum.Ports[0])
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(svc.Collectors()...)
	if n, err := promtest.GatherAndCount(reg, "wirebox_rmon_ether_packets_total"); err != nil || n != 1 {
		t.Errorf("metrics: %d %v", n, err)
	}
	if err := promtest.GatherAndCompare(reg, strings.NewReader(fmt.Sprintf(`# HELP wirebox_rmon_ether_packets_total Frames seen (RMON etherStatsPkts).
# TYPE wirebox_rmon_ether_packets_total counter
wirebox_rmon_ether_packets_total{port="wb0"} %d
`, want.pkts)), "wirebox_rmon_ether_packets_total"); err != nil {
		t.Error(err)
	}
}

func snmpFail(t *testing.T, tool string, args ...string) string {
	t.Helper()
	out, err := exec.Command(tool, append([]string{"-On", "-r", "1", "-t", "3"}, args...)...).CombinedOutput()
	if err == nil {
		t.Fatalf("%s %v succeeded:\n%s", tool, args, out)
	}
	return string(out)
}

// TestRowCreation creates a history control row, an event and an alarm
// with snmpset as a manager does, and reads the results: history buckets,
// the event log and the trap at a listening manager.
func TestRowCreation(t *testing.T) {
	tp := newTopo(t)
	trapConn, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer trapConn.Close()
	cfg := Config{Listen: "127.0.0.1:0",
		Communities: []CommunityConfig{{Name: "mgr", Write: []string{"1.3.6.1.2.1.16"}}},
		Traps:       []TrapTarget{{Address: trapConn.LocalAddr().String(), Community: "traps"}}}
	svc := startService(t, cfg, tp.core)
	addr := svc.Addr().String()
	c := []string{"-v2c", "-c", "mgr", addr}
	set := func(args ...string) string { t.Helper(); return snmpRun(t, "snmpset", append(c, args...)...) }
	get := func(oids ...string) map[string]string {
		t.Helper()
		return walk(t, "snmpget", append(c, oids...)...)
	}

	// History: createRequest with the columns, then valid.
	h := ".1.3.6.1.2.1.16.2.1.1"
	set(h+".7.5", "i", "2", h+".2.5", "o", ".1.3.6.1.2.1.2.2.1.1.1", h+".3.5", "i", "10", h+".5.5", "i", "1", h+".6.5", "s", "tester")
	if g := get(h + ".7.5"); g[h+".7.5"] != "underCreation(3)" && g[h+".7.5"] != "3" {
		t.Errorf("history row status after createRequest: %v", g)
	}
	set(h+".7.5", "i", "1")
	// A valid row's data source is frozen; the whole SET fails and the
	// owner in the same PDU is not changed.
	out := snmpFail(t, "snmpset", append(c, h+".6.5", "s", "other", h+".2.5", "o", ".1.3.6.1.2.1.2.2.1.1.1")...)
	if !strings.Contains(out, "inconsistentValue") || !strings.Contains(out, "Failed object: "+h+".2.5") {
		t.Errorf("frozen data source: %s", out)
	}
	if g := get(h + ".6.5"); g[h+".6.5"] != "tester" {
		t.Errorf("owner after failed set: %v", g)
	}
	// A row on a port that does not exist cannot become valid.
	out = snmpFail(t, "snmpset", append(c, h+".7.6", "i", "2", h+".2.6", "o", ".1.3.6.1.2.1.2.2.1.1.9")...)
	if !strings.Contains(out, "wrongValue") {
		t.Errorf("bad data source: %s", out)
	}

	// Event (log and trap) and an alarm on etherStatsPkts.1, absolute,
	// rising at 10 packets.
	e := ".1.3.6.1.2.1.16.9.1.1"
	set(e+".7.3", "i", "2", e+".2.3", "s", "too many packets", e+".3.3", "i", "4", e+".6.3", "s", "tester", e+".7.3", "i", "1")
	a := ".1.3.6.1.2.1.16.3.1.1"
	set(a+".12.2", "i", "2", a+".2.2", "i", "1", a+".3.2", "o", ".1.3.6.1.2.1.16.1.1.1.5.1", a+".4.2", "i", "1",
		a+".6.2", "i", "1", a+".7.2", "i", "10", a+".8.2", "i", "5", a+".9.2", "i", "3", a+".10.2", "i", "0",
		a+".11.2", "s", "tester", a+".12.2", "i", "1")
	// An alarm on a non-integer variable is refused.
	out = snmpFail(t, "snmpset", append(c, a+".12.7", "i", "2", a+".3.7", "o", ".1.3.6.1.2.1.1.1.0", a+".12.7", "i", "1")...)
	if !strings.Contains(out, "inconsistentValue") {
		t.Errorf("alarm on a string: %s", out)
	}

	var frames [][]byte
	for i := 0; i < 25; i++ {
		frames = append(frames, ethFrame(mac(9), mac(8), 100))
	}
	sendRaw(t, tp.b, "peer0", frames)

	// The trap: decoded by gosnmp, an independent decoder.
	trapConn.SetReadDeadline(time.Now().Add(20 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := trapConn.ReadFrom(buf)
	if err != nil {
		t.Fatalf("no trap: %v", err)
	}
	g := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Community: "traps", Logger: gosnmp.NewLogger(nil)}
	pkt, err := g.SnmpDecodePacket(buf[:n])
	if err != nil {
		t.Fatalf("trap does not decode: %v", err)
	}
	if pkt.PDUType != gosnmp.SNMPv2Trap || pkt.Community != "traps" || len(pkt.Variables) != 7 ||
		pkt.Variables[1].Value != ".1.3.6.1.2.1.16.0.1" || pkt.Variables[5].Name != ".1.3.6.1.2.1.16.3.1.1.5.2" {
		t.Errorf("trap: %+v", pkt)
	}
	// The sample that crossed the threshold may have caught the burst
	// half counted: at least the threshold, at most all 25.
	if v := gosnmp.ToBigInt(pkt.Variables[5].Value).Int64(); v < 10 || v > 25 {
		t.Errorf("trap alarmValue %d", v)
	}
	// The event log and the alarm's value.
	logs := walk(t, "snmpwalk", append(c, ".1.3.6.1.2.1.16.9.2")...)
	if d := logs[".1.3.6.1.2.1.16.9.2.1.4.3.1"]; !strings.Contains(d, "too many packets: rising alarm 2") {
		t.Errorf("log: %v", logs)
	}
	waitWalk(t, "snmpget", append(c, a+".5.2"), a+".5.2", "25")
	// History: a bucket with the 25 frames appears within seconds.
	deadline := time.Now().Add(20 * time.Second)
	for {
		hist := walk(t, "snmpwalk", append(c, ".1.3.6.1.2.1.16.2.2.1.6.5")...)
		var total uint64
		for _, v := range hist {
			if n, err := strconv.ParseUint(v, 10, 64); err == nil {
				total += n
			}
		}
		if total == 25 {
			tab := table(t, append(c, "WIREBOX-RMON-TEST-MIB::etherHistoryTable")...)
			var sum int
			for _, r := range tab {
				n, _ := strconv.Atoi(r["etherHistoryPkts"])
				sum += n
				if r["etherHistoryIndex"] != "5" {
					t.Errorf("history row %v", r)
				}
			}
			if sum != 25 {
				t.Errorf("snmptable etherHistoryTable: %v", tab)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("history buckets hold %d packets: %v", total, hist)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Deleting the rows.
	set(a+".12.2", "i", "4", h+".7.5", "i", "4")
	for k := range walk(t, "snmpwalk", append(c, ".1.3.6.1.2.1.16.3")...) {
		if strings.HasPrefix(k, ".1.3.6.1.2.1.16.3.1.1.") {
			t.Errorf("alarm %s after delete", k)
		}
	}
}

// TestHostTopN asks for a report of the two hosts sending most packets
// over 5 seconds, sends frames within it, and reads the report.
func TestHostTopN(t *testing.T) {
	tp, c := managed(t, "1.3.6.1.2.1.16.5")
	n := ".1.3.6.1.2.1.16.5.1.1"
	// A host control row that does not exist is refused.
	out := snmpFail(t, "snmpset", append(c, n+".10.4", "i", "2", n+".2.4", "i", "9", n+".10.4", "i", "1")...)
	if !strings.Contains(out, "inconsistentValue") {
		t.Errorf("topN on a missing host row: %s", out)
	}
	snmpRun(t, "snmpset", append(c, n+".10.4", "i", "2", n+".2.4", "i", "1", n+".3.4", "i", "2",
		n+".6.4", "i", "2", n+".9.4", "s", "tester", n+".4.4", "i", "5", n+".10.4", "i", "1")...)
	var frames [][]byte
	for src, count := range map[byte]int{1: 10, 2: 5, 3: 1} {
		for i := 0; i < count; i++ {
			frames = append(frames, ethFrame(mac(7), mac(src), 80))
		}
	}
	sendRaw(t, tp.b, "peer0", frames)
	waitWalk(t, "snmpget", append(c, n+".4.4"), n+".4.4", "0") // the report is done
	rep := walk(t, "snmpwalk", append(c, ".1.3.6.1.2.1.16.5.2")...)
	r := ".1.3.6.1.2.1.16.5.2.1"
	if len(rep) != 8 || rep[r+".4.4.1"] != "10" || rep[r+".4.4.2"] != "5" ||
		!strings.HasPrefix(rep[r+".3.4.1"], "02 00 00 00 00 01") || !strings.HasPrefix(rep[r+".3.4.2"], "02 00 00 00 00 02") {
		t.Errorf("topN report: %v", rep)
	}
	// RMON2 probeConfig: the default gateway as `ip route` has it, and
	// the capabilities served (etherStats .. matrix, event, probeConfig).
	pc := walk(t, "snmpget", append(c, "1.3.6.1.2.1.16.19.12.0", "1.3.6.1.2.1.16.19.1.0")...)
	gw := "0.0.0.0"
	if f := strings.Fields(string(must(exec.Command("ip", "-4", "route", "show", "default").Output()))); len(f) > 2 && f[1] == "via" {
		gw = f[2]
	}
	if pc[".1.3.6.1.2.1.16.19.12.0"] != gw || !strings.HasPrefix(pc[".1.3.6.1.2.1.16.19.1.0"], "FF C0 3F E0") {
		t.Errorf("probeConfig: %v (gateway %s)", pc, gw)
	}
	ctl := walk(t, "snmpget", append(c, n+".5.4", n+".7.4")...)
	if ctl[n+".5.4"] != "5" || ctl[n+".7.4"] != "2" {
		t.Errorf("duration / granted size: %v", ctl)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// table runs snmptable with the test MIB module and returns its rows as
// column name -> value.
func table(t *testing.T, args ...string) []map[string]string {
	t.Helper()
	mibs, err := filepath.Abs(filepath.Join("testdata", "mibs"))
	if err != nil {
		t.Fatal(err)
	}
	a := append([]string{"-M", mibs, "-m", "WIREBOX-RMON-TEST-MIB", "-Cf", "|", "-Oe", "-OQ", "-r", "1", "-t", "3"}, args...)
	out, err := exec.Command("snmptable", a...).CombinedOutput()
	if err != nil {
		t.Fatalf("snmptable %v: %v\n%s", a, err, out)
	}
	var header []string
	var rows []map[string]string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if !strings.Contains(l, "|") {
			continue
		}
		f := strings.Split(l, "|")
		if header == nil {
			header = f
			continue
		}
		r := map[string]string{}
		for i, h := range header {
			if i < len(f) {
				r[h] = strings.Trim(typePrefix.ReplaceAllString(f[i], ""), `"`)
			}
		}
		rows = append(rows, r)
	}
	return rows
}

// TestProtocolDist creates protocolDist rows the RMON2 way (RowStatus
// createAndGo, createAndWait then active) and checks per-protocol counts.
func TestProtocolDist(t *testing.T) {
	tp, c := managed(t, "1.3.6.1.2.1.16.12")
	d := ".1.3.6.1.2.1.16.12.1.1"
	snmpRun(t, "snmpset", append(c, d+".6.7", "i", "4", d+".2.7", "o", ".1.3.6.1.2.1.2.2.1.1.1", d+".5.7", "s", "tester")...)
	snmpRun(t, "snmpset", append(c, d+".6.8", "i", "5")...)
	if g := walk(t, "snmpget", append(c, d+".6.8")...); g[d+".6.8"] != "3" {
		t.Errorf("createAndWait without a data source: status %v, want notReady(3)", g)
	}
	out := snmpFail(t, "snmpset", append(c, d+".6.8", "i", "1")...)
	if !strings.Contains(out, "inconsistentValue") {
		t.Errorf("activating an incomplete row: %s", out)
	}
	snmpRun(t, "snmpset", append(c, d+".2.8", "o", ".1.3.6.1.2.1.2.2.1.1.1")...)
	if g := walk(t, "snmpget", append(c, d+".6.8")...); g[d+".6.8"] != "2" {
		t.Errorf("complete row: status %v, want notInService(2)", g)
	}
	snmpRun(t, "snmpset", append(c, d+".6.8", "i", "1")...)

	ip := func(proto byte, size, n int) {
		var frames [][]byte
		for i := 0; i < n; i++ {
			f := ethFrame(mac(2), mac(1), size)
			f[12], f[13], f[14], f[14+9] = 0x08, 0x00, 0x45, proto
			frames = append(frames, f)
		}
		sendRaw(t, tp.b, "peer0", frames)
	}
	ip(6, 100, 7)  // TCP
	ip(17, 200, 3) // UDP
	arp := ethFrame(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, mac(1), 60)
	arp[12], arp[13] = 0x08, 0x06
	sendRaw(t, tp.b, "peer0", [][]byte{arp, arp})
	// local index: 1 ether2, 2 ip, 4 arp, 5 tcp, 6 udp
	want := map[int][2]uint64{1: {12, 7*104 + 3*204 + 2*64}, 2: {10, 7*104 + 3*204}, 4: {2, 128}, 5: {7, 728}, 6: {3, 612}, 3: {0, 0}}
	st := ".1.3.6.1.2.1.16.12.2.1"
	deadline := time.Now().Add(20 * time.Second)
	var m map[string]string
	for {
		m = walk(t, "snmpbulkwalk", append(c, st)...)
		if v, ok := m[st+".1.8.1"]; (ok && v == "12") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	m = walk(t, "snmpbulkwalk", append(c, st)...) // every frame counted before this walk began
	for _, row := range []int{1, 7, 8} {
		for li, w := range want {
			if got := num(t, m, fmt.Sprintf("%s.1.%d.%d", st, row, li)); got != w[0] {
				t.Errorf("row %d protocol %d: %d packets, want %d", row, li, got, w[0])
			}
			if got := num(t, m, fmt.Sprintf("%s.2.%d.%d", st, row, li)); got != w[1] {
				t.Errorf("row %d protocol %d: %d octets, want %d", row, li, got, w[1])
			}
		}
	}
	dir := walk(t, "snmpwalk", append(c, ".1.3.6.1.2.1.16.11.2.1.4")...)
	if dir[".1.3.6.1.2.1.16.11.2.1.4.8.0.0.0.1.0.0.8.0.2.0.0"] != "ip" || len(dir) != 10 {
		t.Errorf("protocolDirDescr: %v", dir)
	}
	snmpRun(t, "snmpset", append(c, d+".6.7", "i", "6", d+".6.8", "i", "6")...)
	if g := walk(t, "snmpwalk", append(c, d+".6")...); len(g) != 1 {
		t.Errorf("rows after destroy: %v", g)
	}
}

// TestPortsChange opens a second port while the service runs, counts on
// it, closes it and opens it again: the probe follows the core's ports,
// and the rows managers made (on either port) and their counts stay.
func TestPortsChange(t *testing.T) {
	tp := newTopo(t)
	svc := startService(t, Config{Listen: "127.0.0.1:0", Communities: []CommunityConfig{{Name: "mgr", Write: []string{"1.3.6.1.2.1.16"}}}}, tp.core)
	c := []string{"-v2c", "-c", "mgr", svc.Addr().String()}
	waitValue := func(oid, want string) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			out, _ := exec.Command("snmpget", append([]string{"-On", "-Oqv", "-r", "1", "-t", "2"}, append(c, oid)...)...).CombinedOutput()
			got := strings.TrimSpace(string(out))
			if got == want {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s = %q, want %q", oid, got, want)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	set := func(args ...string) { t.Helper(); snmpRun(t, "snmpset", append(c, args...)...) }
	waitValue("1.3.6.1.2.1.2.1.0", "1")
	// Rows on port 1: history (EntryStatus), protocolDist and hlHostControl (RowStatus).
	h, d, hl, e := ".1.3.6.1.2.1.16.2.1.1", ".1.3.6.1.2.1.16.12.1.1", ".1.3.6.1.2.1.16.14.1.1", ".1.3.6.1.2.1.16.1.1.1"
	set(h+".7.5", "i", "2", h+".2.5", "o", ".1.3.6.1.2.1.2.2.1.1.1", h+".5.5", "i", "1", h+".6.5", "s", "tester", h+".7.5", "i", "1")
	set(d+".6.7", "i", "4", d+".2.7", "o", ".1.3.6.1.2.1.2.2.1.1.1", d+".5.7", "s", "tester")
	set(hl+".12.9", "i", "4", hl+".2.9", "o", ".1.3.6.1.2.1.2.2.1.1.1", hl+".11.9", "s", "tester")
	sendRaw(t, tp.b, "peer0", repeat(ethFrame(mac(2), mac(1), 60), 4))
	waitValue(e+".5.1", "4")
	waitValue(d+".3.7", "0")

	_, lb := netns.Veth(t, tp.a, "wb1", tp.b, "peer1", netns.VethOptions{})
	open := func() *capture.Port {
		p1, err := tp.core.OpenPort(capture.PortConfig{Name: "wb1", NetNS: tp.a.Path, Mode: capture.Passive, RingBlocks: 4})
		if err != nil {
			t.Fatal(err)
		}
		return p1
	}
	p1 := open()
	waitValue("1.3.6.1.2.1.2.1.0", "2")
	waitValue("1.3.6.1.2.1.31.1.1.1.1.2", `"wb1"`)
	// Port 1's rows and counts are still there.
	g := walk(t, "snmpget", append(c, h+".7.5", d+".6.7", hl+".12.9", hl+".11.9", e+".5.1")...)
	if g[h+".7.5"] != "1" || g[d+".6.7"] != "1" || g[hl+".12.9"] != "1" || g[hl+".11.9"] != "tester" || g[e+".5.1"] != "4" {
		t.Errorf("rows after a port appeared: %v", g)
	}
	// A manager's row on the new port.
	set(e+".21.20", "i", "2", e+".2.20", "o", ".1.3.6.1.2.1.2.2.1.1.2", e+".20.20", "s", "tester", e+".21.20", "i", "1")
	sendRaw(t, tp.b, lb.Name, repeat(ethFrame(mac(2), mac(1), 60), 9))
	waitValue(e+".5.2", "9")
	waitValue(e+".5.20", "9")
	if err := p1.Close(); err != nil {
		t.Fatal(err)
	}
	waitValue("1.3.6.1.2.1.2.1.0", "1")
	g = walk(t, "snmpget", append(c, e+".5.20", e+".21.20", e+".5.1", h+".7.5")...)
	if g[e+".5.20"] != "9" || g[e+".21.20"] != "1" || g[e+".5.1"] != "4" || g[h+".7.5"] != "1" {
		t.Errorf("rows after the port closed: %v", g)
	}
	// The same port again: the same ifIndex, and its rows count on.
	p1 = open()
	defer p1.Close()
	waitValue("1.3.6.1.2.1.2.1.0", "2")
	waitValue("1.3.6.1.2.1.31.1.1.1.1.2", `"wb1"`)
	sendRaw(t, tp.b, lb.Name, repeat(ethFrame(mac(2), mac(1), 60), 3))
	waitValue(e+".5.20", "12")
	waitValue(e+".5.2", "12")
	// Port 1 counted all along; the protocolDist row counted its frames.
	sendRaw(t, tp.b, "peer0", repeat(ethFrame(mac(2), mac(1), 60), 2))
	waitValue(e+".5.1", "6")
	waitValue(".1.3.6.1.2.1.16.12.2.1.1.7.1", "6")
}

// TestFilterCapture sets up a filter, a channel with an event and a capture
// buffer as a manager does, and downloads the captured frames in slices.
func TestFilterCapture(t *testing.T) {
	tp, c := managed(t, "1.3.6.1.2.1.16")
	set := func(args ...string) { t.Helper(); snmpRun(t, "snmpset", append(c, args...)...) }
	e, ch, f, b := ".1.3.6.1.2.1.16.9.1.1", ".1.3.6.1.2.1.16.7.2.1", ".1.3.6.1.2.1.16.7.1.1", ".1.3.6.1.2.1.16.8.1.1"
	set(e+".7.1", "i", "2", e+".2.1", "s", "match", e+".3.1", "i", "2", e+".7.1", "i", "1")
	// A filter on a channel that does not exist yet is refused.
	out := snmpFail(t, "snmpset", append(c, f+".11.4", "i", "2", f+".2.4", "i", "3", f+".11.4", "i", "1")...)
	if !strings.Contains(out, "inconsistentValue") {
		t.Errorf("filter without its channel: %s", out)
	}
	set(ch+".12.3", "i", "2", ch+".2.3", "i", "1", ch+".3.3", "i", "1", ch+".4.3", "i", "1",
		ch+".7.3", "i", "1", ch+".8.3", "i", "1", ch+".11.3", "s", "tester", ch+".12.3", "i", "1")
	// EtherType 0x88b6 at offset 12.
	set(f+".11.4", "i", "2", f+".2.4", "i", "3", f+".3.4", "i", "12", f+".4.4", "x", "88B6", f+".5.4", "x", "FFFF", f+".11.4", "i", "1")
	set(b+".13.5", "i", "2", b+".2.5", "i", "3", b+".5.5", "i", "64", b+".6.5", "i", "20", b+".13.5", "i", "1")

	var frames [][]byte
	for i := 0; i < 10; i++ {
		fr := ethFrame(mac(2), mac(1), 100)
		if i%5 < 3 { // 6 of the 10 match
			fr[13] = 0xb6
		}
		fr[14] = byte(i)
		frames = append(frames, fr)
	}
	sendRaw(t, tp.b, "peer0", frames)
	waitWalk(t, "snmpget", append(c, ch+".9.3"), ch+".9.3", "6") // channelMatches
	g := walk(t, "snmpget", append(c, b+".10.5", ch+".8.3", ".1.3.6.1.2.1.16.8.2.1.5.5.1", ".1.3.6.1.2.1.16.8.2.1.4.5.1",
		".1.3.6.1.2.1.16.8.2.1.4.5.6", ".1.3.6.1.2.1.16.9.2.1.4.1.1", ".1.3.6.1.2.1.16.9.2.1.4.1.2")...)
	if g[b+".10.5"] != "6" || g[ch+".8.3"] != "2" || g[".1.3.6.1.2.1.16.8.2.1.5.5.1"] != "104" {
		t.Errorf("captured %s, event status %s, length %s", g[b+".10.5"], g[ch+".8.3"], g[".1.3.6.1.2.1.16.8.2.1.5.5.1"])
	}
	// The first 20 bytes (downloadSliceSize) of the first and sixth
	// matching frames: the payload byte tells them apart (frames 0 and 7).
	first := strings.ReplaceAll(g[".1.3.6.1.2.1.16.8.2.1.4.5.1"], " ", "")
	if !strings.HasPrefix(strings.ToUpper(first), "020000000002020000000001"+"88B600") || len(first) != 40 {
		t.Errorf("packet 1 slice %q", first)
	}
	if sixth := strings.ReplaceAll(g[".1.3.6.1.2.1.16.8.2.1.4.5.6"], " ", ""); !strings.HasPrefix(strings.ToUpper(sixth[24:]), "88B607") {
		t.Errorf("packet 6 slice %q", sixth)
	}
	// The event fired once (eventReady becomes eventFired), and logged.
	if !strings.Contains(g[".1.3.6.1.2.1.16.9.2.1.4.1.1"], "match: channel 3 matched") || !strings.Contains(g[".1.3.6.1.2.1.16.9.2.1.4.1.2"], "No Such Instance") {
		t.Errorf("event log: %v", g)
	}
	// Download the rest of a packet by moving downloadOffset.
	set(b+".7.5", "i", "60")
	g = walk(t, "snmpget", append(c, ".1.3.6.1.2.1.16.8.2.1.4.5.1")...)
	if s := strings.ReplaceAll(g[".1.3.6.1.2.1.16.8.2.1.4.5.1"], " ", ""); len(s) != 8 {
		t.Errorf("slice at offset 60 of a 64-byte capture: %q", s)
	}
}

// ipFrame is an Ethernet frame of size bytes with an IPv4 or IPv6 header
// from src to dst carrying next-protocol proto.
func ipFrame(dstMAC, srcMAC net.HardwareAddr, src, dst string, proto byte, size int) []byte {
	f := ethFrame(dstMAC, srcMAC, size)
	s, d := net.ParseIP(src), net.ParseIP(dst)
	if s4 := s.To4(); s4 != nil {
		binary.BigEndian.PutUint16(f[12:], 0x0800)
		f[14], f[14+9] = 0x45, proto
		copy(f[14+12:], s4)
		copy(f[14+16:], d.To4())
	} else {
		binary.BigEndian.PutUint16(f[12:], 0x86dd)
		f[14], f[14+6] = 0x60, proto
		copy(f[14+8:], s)
		copy(f[14+24:], d)
	}
	return f
}

func repeat(f []byte, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = f
	}
	return out
}

// waitWalk walks oid until it has an entry key with value want.
func waitWalk(t *testing.T, tool string, args []string, key, want string) map[string]string {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := walk(t, tool, args...)
		if m[key] == want {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %q, want %q:\n%v", key, m[key], want, m)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestNetworkLayer creates RMON2 host and matrix control rows the RowStatus
// way, sends IPv4 and IPv6 traffic, and reads nlHost, nlMatrix, alHost,
// alMatrix and addressMap with net-snmp, including a TimeFilter walk
// that returns only what changed since a given sysUpTime.
func TestNetworkLayer(t *testing.T) {
	tp, c := managed(t, "1.3.6.1.2.1.16")
	hc, mc := ".1.3.6.1.2.1.16.14.1.1", ".1.3.6.1.2.1.16.15.1.1"
	snmpRun(t, "snmpset", append(c, hc+".12.9", "i", "5", hc+".11.9", "s", "tester")...)
	snmpRun(t, "snmpset", append(c, hc+".2.9", "o", ".1.3.6.1.2.1.2.2.1.1.1", hc+".12.9", "i", "1")...)
	snmpRun(t, "snmpset", append(c, mc+".12.9", "i", "4", mc+".2.9", "o", ".1.3.6.1.2.1.2.2.1.1.1", mc+".11.9", "s", "tester")...)
	// A matrix row allowed one conversation.
	snmpRun(t, "snmpset", append(c, mc+".12.10", "i", "4", mc+".2.10", "o", ".1.3.6.1.2.1.2.2.1.1.1", mc+".6.10", "i", "1")...)

	var frames [][]byte
	frames = append(frames, repeat(ipFrame(mac(2), mac(1), "10.1.0.1", "10.1.0.2", 6, 100), 5)...)
	frames = append(frames, repeat(ipFrame(mac(1), mac(2), "10.1.0.2", "10.1.0.1", 17, 200), 3)...)
	frames = append(frames, repeat(ipFrame(mac(4), mac(3), "2001:db8::1", "2001:db8::2", 58, 120), 2)...)
	frames = append(frames, ipFrame(net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, mac(1), "10.1.0.1", "10.1.0.255", 17, 60))
	frames = append(frames, repeat(ipFrame(mac(2), mac(1), "10.1.0.1", "10.1.0.2", 6, 40), 4)...) // undersize: not counted
	sendRaw(t, tp.b, "peer0", frames)

	h1, h2 := ".2.4.10.1.0.1", ".2.4.10.1.0.2"
	v6a, v6b := ".3.16.32.1.13.184.0.0.0.0.0.0.0.0.0.0.0.1", ".3.16.32.1.13.184.0.0.0.0.0.0.0.0.0.0.0.2"
	nl := ".1.3.6.1.2.1.16.14.2.1"
	m := waitWalk(t, "snmpbulkwalk", append(c, nl), nl+".6.9.0"+h1, "584") // nlHostOutOctets: 5 x 104 and a 64-octet broadcast
	for _, w := range []struct {
		oid, want string
	}{
		{nl + ".3.9.0" + h1, "3"}, {nl + ".5.9.0" + h1, "612"}, {nl + ".6.9.0" + h1, "584"}, {nl + ".7.9.0" + h1, "1"},
		{nl + ".3.9.0" + h2, "5"}, {nl + ".4.9.0" + h2, "3"}, {nl + ".3.9.0" + v6b, "2"}, {nl + ".4.9.0" + v6a, "2"},
		{nl + ".3.1.0" + h1, "3"}, // the monitor row of port 1 sees the same
	} {
		if m[w.oid] != w.want {
			t.Errorf("%s = %q, want %s", w.oid, m[w.oid], w.want)
		}
	}
	if n := len(m) / 6; n != 2*5 {
		t.Errorf("nlHostTable has %d rows, want 10 (5 addresses, two control rows):\n%v", n, m)
	}
	// alHost: by protocol (2 ip, 5 tcp, 6 udp, 10 icmpv6).
	al := ".1.3.6.1.2.1.16.16.1.1"
	m = walk(t, "snmpbulkwalk", append(c, al)...)
	for oid, want := range map[string]string{al + ".3.9.0" + h1 + ".2": "6", al + ".3.9.0" + h1 + ".5": "5", al + ".3.9.0" + h1 + ".6": "1",
		al + ".2.9.0" + h1 + ".6": "3", al + ".5.9.0" + h1 + ".5": "520", al + ".2.9.0" + v6b + ".10": "2"} {
		if m[oid] != want {
			t.Errorf("%s = %q, want %s", oid, m[oid], want)
		}
	}
	// nlMatrix, both orders, and alMatrix.
	sd, ds := ".1.3.6.1.2.1.16.15.2.1", ".1.3.6.1.2.1.16.15.3.1"
	m = walk(t, "snmpbulkwalk", append(c, ".1.3.6.1.2.1.16.15")...)
	for oid, want := range map[string]string{sd + ".4.9.0" + h1 + h1[2:]: "", sd + ".4.9.0" + h1 + h2[2:]: "5", sd + ".5.9.0" + h1 + h2[2:]: "520",
		ds + ".4.9.0" + h2 + h1[2:]: "5", sd + ".4.9.0" + h2 + h1[2:]: "3", sd + ".4.9.0" + v6a + v6b[2:]: "2"} {
		if m[oid] != want {
			t.Errorf("%s = %q, want %q", oid, m[oid], want)
		}
	}
	n10 := 0
	for k := range m {
		if strings.HasPrefix(k, sd+".4.10.") {
			n10++
		}
	}
	if n10 != 1 {
		t.Errorf("matrix row with NlMaxDesiredEntries 1 has %d conversations", n10)
	}
	ctl := walk(t, "snmpget", append(c, mc+".4.9", mc+".8.9", hc+".4.9")...)
	if ctl[mc+".4.9"] != "8" || ctl[mc+".8.9"] != "16" || ctl[hc+".4.9"] != "5" {
		t.Errorf("inserts: %v", ctl)
	}
	am := walk(t, "snmpbulkwalk", append(c, ".1.3.6.1.2.1.16.17.1.1.2.9.0"+h1+h2[2:])...)
	if am[".1.3.6.1.2.1.16.17.1.1.2.9.0"+h1+h2[2:]+".5"] != "5" || am[".1.3.6.1.2.1.16.17.1.1.2.9.0"+h1+h2[2:]+".2"] != "5" || len(am) != 2 {
		t.Errorf("alMatrixSD 10.1.0.1 -> 10.1.0.2: %v", am)
	}
	// addressMap: the monitor row of port 1 maps every source address.
	src := ".11.1.3.6.1.2.1.2.2.1.1.1"
	m = walk(t, "snmpwalk", append(c, ".1.3.6.1.2.1.16.13")...)
	if !strings.HasPrefix(m[".1.3.6.1.2.1.16.13.5.1.4.0"+h1+src], "02 00 00 00 00 01") ||
		!strings.HasPrefix(m[".1.3.6.1.2.1.16.13.5.1.4.0"+v6a+src], "02 00 00 00 00 03") || m[".1.3.6.1.2.1.16.13.1.0"] != "3" {
		t.Errorf("addressMap: %v", m)
	}
	// TimeFilter: after sysUpTime T only what changed since T.
	up := walk(t, "snmpget", append(c, "1.3.6.1.2.1.1.3.0")...)[".1.3.6.1.2.1.1.3.0"]
	tm := strings.Trim(strings.Fields(up)[0], "()")
	sendRaw(t, tp.b, "peer0", repeat(ipFrame(mac(6), mac(5), "10.1.0.5", "10.1.0.6", 6, 100), 2))
	waitWalk(t, "snmpwalk", append(c, nl+".4.9.0.2.4.10.1.0.5"), nl+".4.9.0.2.4.10.1.0.5", "2")
	m = walk(t, "snmpwalk", append(c, nl+".4.9."+tm)...)
	if len(m) != 2 || m[nl+".4.9."+tm+".2.4.10.1.0.5"] != "2" || m[nl+".4.9."+tm+".2.4.10.1.0.6"] != "0" {
		t.Errorf("nlHostOutPkts since %s: %v", tm, m)
	}
	g := walk(t, "snmpget", append(c, nl+".4.9."+tm+h1, nl+".4.9.0"+h1)...)
	if !strings.Contains(g[nl+".4.9."+tm+h1], "No Such Instance") || g[nl+".4.9.0"+h1] != "6" {
		t.Errorf("GET through the TimeFilter: %v", g)
	}
	// protocolDir now says what the network layer supports.
	dir := walk(t, "snmpget", append(c, ".1.3.6.1.2.1.16.11.2.1.7.8.0.0.0.1.0.0.8.0.2.0.0", ".1.3.6.1.2.1.16.11.2.1.6.12.0.0.0.1.0.0.8.0.0.0.0.6.3.0.0.0")...)
	if dir[".1.3.6.1.2.1.16.11.2.1.7.8.0.0.0.1.0.0.8.0.2.0.0"] != "3" || dir[".1.3.6.1.2.1.16.11.2.1.6.12.0.0.0.1.0.0.8.0.0.0.0.6.3.0.0.0"] != "1" {
		t.Errorf("protocolDir host / address map config: %v", dir)
	}
	snmpRun(t, "snmpset", append(c, hc+".12.9", "i", "6", mc+".12.9", "i", "6", mc+".12.10", "i", "6")...)
	if m := walk(t, "snmpwalk", append(c, nl+".3")...); len(m) != 7 { // 10.1.0.5 and .6 came since
		t.Errorf("nlHostInPkts after destroying row 9: %v", m)
	}
}

// TestNlMatrixTopN asks for the two busiest IP conversations by packets
// over a 3-second collection and reads the report.
func TestNlMatrixTopN(t *testing.T) {
	tp, c := managed(t, "1.3.6.1.2.1.16")
	n := ".1.3.6.1.2.1.16.15.4.1"
	// On a matrix row that does not exist: refused.
	out := snmpFail(t, "snmpset", append(c, n+".11.3", "i", "4", n+".2.3", "i", "77")...)
	if !strings.Contains(out, "inconsistentValue") {
		t.Errorf("topN on a missing matrix row: %s", out)
	}
	snmpRun(t, "snmpset", append(c, n+".11.3", "i", "5", n+".2.3", "i", "1", n+".7.3", "i", "2", n+".10.3", "s", "tester")...)
	// And the three busiest (pair, protocol) conversations, terminal
	// protocols only (tcp, udp; not ip), from the same matrix row.
	a := ".1.3.6.1.2.1.16.17.3.1"
	snmpRun(t, "snmpset", append(c, a+".11.3", "i", "5", a+".2.3", "i", "1", a+".3.3", "i", "1", a+".7.3", "i", "3")...)
	var frames [][]byte
	frames = append(frames, repeat(ipFrame(mac(2), mac(1), "10.2.0.1", "10.2.0.2", 6, 100), 7)...)
	frames = append(frames, repeat(ipFrame(mac(1), mac(2), "10.2.0.2", "10.2.0.1", 6, 300), 2)...)
	frames = append(frames, repeat(ipFrame(mac(4), mac(3), "10.2.0.3", "10.2.0.4", 17, 100), 4)...)
	frames = append(frames, repeat(ipFrame(mac(6), mac(5), "10.2.0.5", "10.2.0.6", 17, 100), 1)...)
	// The frames must fall inside one collection: start one (activate
	// with 3 seconds), send, and see them counted while no report was
	// made yet; on a machine too slow for that, start over.
	sd := ".1.3.6.1.2.1.16.15.2.1.4.1.0.2.4.10.2.0.5.4.10.2.0.6"
	sent := 0
	for attempt := 0; ; attempt++ {
		if attempt == 5 {
			t.Fatal("no collection held all the frames in 5 attempts")
		}
		snmpRun(t, "snmpset", append(c, n+".4.3", "i", "3", n+".11.3", "i", "1", a+".4.3", "i", "3", a+".11.3", "i", "1")...)
		sendRaw(t, tp.b, "peer0", frames)
		sent++
		waitWalk(t, "snmpget", append(c, sd), sd, fmt.Sprint(sent))
		if g := walk(t, "snmpget", append(c, n+".5.3", a+".5.3")...); g[n+".5.3"] == "0" && g[a+".5.3"] == "0" {
			break
		}
		// notInService: the next activation starts over
		snmpRun(t, "snmpset", append(c, n+".11.3", "i", "2", a+".11.3", "i", "2")...)
	}
	waitWalk(t, "snmpget", append(c, n+".5.3"), n+".5.3", "1")
	waitWalk(t, "snmpget", append(c, a+".5.3"), a+".5.3", "1")
	ar := ".1.3.6.1.2.1.16.17.4.1"
	am := walk(t, "snmpwalk", append(c, ar)...)
	for k, v := range map[string]string{
		ar + ".2.3.1": "2", ar + ".5.3.1": "5", ar + ".6.3.1": "7", ar + ".7.3.1": "2", ar + ".8.3.1": "728",
		ar + ".5.3.2": "6", ar + ".6.3.2": "4", ar + ".5.3.3": "5", ar + ".6.3.3": "2", ar + ".7.3.3": "7",
	} {
		if am[k] != v {
			t.Errorf("alMatrixTopN %s = %q, want %s", k, am[k], v)
		}
	}
	if len(am) != 3*8 {
		t.Errorf("alMatrixTopN report: %v", am)
	}
	r := ".1.3.6.1.2.1.16.15.5.1"
	m := walk(t, "snmpwalk", append(c, r)...)
	want := map[string]string{
		r + ".2.3.1": "2", r + ".5.3.1": "7", r + ".6.3.1": "2", r + ".7.3.1": "728", r + ".8.3.1": "608",
		r + ".5.3.2": "4", r + ".6.3.2": "0",
	}
	for k, v := range want {
		if m[k] != v {
			t.Errorf("%s = %q, want %s", k, m[k], v)
		}
	}
	if !strings.HasPrefix(m[r+".3.3.1"], "0A 02 00 01") || !strings.HasPrefix(m[r+".4.3.2"], "0A 02 00 04") || len(m) != 14 {
		t.Errorf("report: %v", m)
	}
	ctl := walk(t, "snmpget", append(c, n+".6.3", n+".8.3", n+".11.3")...)
	if ctl[n+".6.3"] != "3" || ctl[n+".8.3"] != "2" || ctl[n+".11.3"] != "1" {
		t.Errorf("control row: %v", ctl)
	}
}

// TestUsrHistory samples etherStatsPkts (delta) and ifNumber (absolute)
// every second through a usrHistory bucket-group made with snmpset, and
// checks the buckets' deltas add up to the frames sent.
func TestUsrHistory(t *testing.T) {
	tp := newTopo(t)
	svc := startService(t, Config{Listen: "127.0.0.1:0", Communities: []CommunityConfig{
		{Name: "mgr", Write: []string{"1.3.6.1.2.1.16"}},
		{Name: "narrow", Read: []string{"1.3.6.1.2.1.16"}, Write: []string{"1.3.6.1.2.1.16"}},
	}}, tp.core)
	c := []string{"-v2c", "-c", "mgr", svc.Addr().String()}
	u, o := ".1.3.6.1.2.1.16.18.1.1", ".1.3.6.1.2.1.16.18.2.1"
	snmpRun(t, "snmpset", append(c, u+".7.4", "i", "5", u+".2.4", "i", "2", u+".3.4", "i", "100", u+".5.4", "i", "1", u+".6.4", "s", "tester")...)
	// The object rows appear with the control row's object count.
	objs := walk(t, "snmpwalk", append(c, o)...)
	if len(objs) != 4 || objs[o+".2.4.1"] != ".0.0" || objs[o+".3.4.2"] != "1" {
		t.Errorf("usrHistoryObjectTable: %v", objs)
	}
	// Not active until every object is set.
	if out := snmpFail(t, "snmpset", append(c, u+".7.4", "i", "1")...); !strings.Contains(out, "inconsistentValue") {
		t.Errorf("activating without objects: %s", out)
	}
	// A community that cannot read IF-MIB cannot sample it either.
	narrow := []string{"-v2c", "-c", "narrow", svc.Addr().String()}
	if out := snmpFail(t, "snmpset", append(narrow, o+".2.4.2", "o", ".1.3.6.1.2.1.2.1.0")...); !strings.Contains(out, "badValue") {
		t.Errorf("sampling outside the read view: %s", out)
	}
	snmpRun(t, "snmpset", append(c, o+".2.4.1", "o", ".1.3.6.1.2.1.16.1.1.1.5.1", o+".3.4.1", "i", "2",
		o+".2.4.2", "o", ".1.3.6.1.2.1.2.1.0", u+".7.4", "i", "1")...)
	if out := snmpFail(t, "snmpset", append(c, o+".3.4.2", "i", "2")...); !strings.Contains(out, "inconsistentValue") {
		t.Errorf("changing an object of an active row: %s", out)
	}
	h := ".1.3.6.1.2.1.16.18.3.1"
	waitWalk(t, "snmpget", append(c, h+".5.4.1.2"), h+".5.4.1.2", "2") // the first bucket: the deltas are primed
	sendRaw(t, tp.b, "peer0", repeat(ethFrame(mac(2), mac(1), 100), 17))
	deadline := time.Now().Add(20 * time.Second)
	for {
		m := walk(t, "snmpbulkwalk", append(c, h)...)
		var sum uint64
		for k, v := range m {
			if strings.HasPrefix(k, h+".4.4.") && strings.HasSuffix(k, ".1") {
				sum += num(t, m, k)
			}
			if strings.HasPrefix(k, h+".4.4.") && strings.HasSuffix(k, ".2") && v != "1" {
				t.Fatalf("ifNumber sampled as %s at %s", v, k)
			}
			if strings.HasPrefix(k, h+".5.4.") && v != "2" {
				t.Fatalf("%s: status %s, want valuePositive(2)", k, v)
			}
		}
		if sum == 17 {
			break
		}
		if sum > 17 || time.Now().After(deadline) {
			t.Fatalf("deltas of etherStatsPkts add up to %d, want 17:\n%v", sum, m)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if g := walk(t, "snmpget", append(c, u+".4.4", u+".7.4")...); g[u+".4.4"] != "100" || g[u+".7.4"] != "1" {
		t.Errorf("control row: %v", g)
	}
	snmpRun(t, "snmpset", append(c, u+".7.4", "i", "6")...)
	for k := range walk(t, "snmpwalk", append(c, ".1.3.6.1.2.1.16.18")...) {
		if strings.HasPrefix(k, ".1.3.6.1.2.1.16.18.") {
			t.Errorf("usrHistory after destroy: %s", k)
		}
	}
}

// TestRowsKept makes rows of several kinds, restarts the service (as a
// configuration applied over the API does) and reads them back: with a
// state file the rows and the ports' ifIndex are kept.
func TestRowsKept(t *testing.T) {
	tp := newTopo(t)
	cfg := Config{Listen: "127.0.0.1:0", StateFile: filepath.Join(t.TempDir(), "engine.json"),
		Communities: []CommunityConfig{{Name: "mgr", Write: []string{"1.3.6.1.2.1.16"}}}}
	svc, stop := startStoppable(t, cfg, tp.core)
	c := []string{"-v2c", "-c", "mgr", svc.Addr().String()}
	set := func(args ...string) { t.Helper(); snmpRun(t, "snmpset", append(c, args...)...) }
	h, e, a := ".1.3.6.1.2.1.16.2.1.1", ".1.3.6.1.2.1.16.9.1.1", ".1.3.6.1.2.1.16.3.1.1"
	hl, u, o := ".1.3.6.1.2.1.16.14.1.1", ".1.3.6.1.2.1.16.18.1.1", ".1.3.6.1.2.1.16.18.2.1"
	set(h+".7.5", "i", "2", h+".2.5", "o", ".1.3.6.1.2.1.2.2.1.1.1", h+".5.5", "i", "30", h+".6.5", "s", "tester", h+".7.5", "i", "1")
	set(e+".7.3", "i", "2", e+".2.3", "s", "busy", e+".3.3", "i", "2", e+".7.3", "i", "1")
	set(a+".12.2", "i", "2", a+".2.2", "i", "10", a+".3.2", "o", ".1.3.6.1.2.1.16.1.1.1.5.1", a+".7.2", "i", "1000",
		a+".9.2", "i", "3", a+".11.2", "s", "tester", a+".12.2", "i", "1")
	set(hl+".12.9", "i", "4", hl+".2.9", "o", ".1.3.6.1.2.1.2.2.1.1.1", hl+".6.9", "i", "7", hl+".11.9", "s", "tester")
	set(u+".7.4", "i", "5", u+".2.4", "i", "1", u+".5.4", "i", "60")
	set(o+".2.4.1", "o", ".1.3.6.1.2.1.2.1.0", u+".7.4", "i", "1")
	set(u+".7.6", "i", "5", u+".2.6", "i", "1") // left notReady
	want := walk(t, "snmpget", append(c, h+".2.5", h+".5.5", h+".6.5", h+".7.5", e+".2.3", e+".7.3", a+".3.2", a+".7.2", a+".12.2",
		hl+".2.9", hl+".6.9", hl+".11.9", hl+".12.9", u+".5.4", u+".7.4", o+".2.4.1", u+".7.6")...)
	// The rows are written within a second.
	rows := filepath.Join(filepath.Dir(cfg.StateFile), "rmon-rows.json")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if b, err := os.ReadFile(rows); err == nil && strings.Contains(string(b), "usrHistoryControlTable") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not written", rows)
		}
	}
	stop()

	svc = startService(t, cfg, tp.core)
	c[len(c)-1] = svc.Addr().String()
	got := walk(t, "snmpget", append(c, h+".2.5", h+".5.5", h+".6.5", h+".7.5", e+".2.3", e+".7.3", a+".3.2", a+".7.2", a+".12.2",
		hl+".2.9", hl+".6.9", hl+".11.9", hl+".12.9", u+".5.4", u+".7.4", o+".2.4.1", u+".7.6")...)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s after the restart: %q, want %q", k, got[k], v)
		}
	}
	if want[u+".7.6"] != "3" || want[hl+".12.9"] != "1" {
		t.Errorf("rows before the restart: %v", want)
	}
	// They work: the monitor row and the restored hlHostControl row count.
	sendRaw(t, tp.b, "peer0", repeat(ipFrame(mac(2), mac(1), "10.1.0.1", "10.1.0.2", 6, 100), 5))
	waitWalk(t, "snmpget", append(c, ".1.3.6.1.2.1.16.1.1.1.5.1"), ".1.3.6.1.2.1.16.1.1.1.5.1", "5")
	waitWalk(t, "snmpget", append(c, ".1.3.6.1.2.1.16.14.2.1.3.9.0.2.4.10.1.0.2"), ".1.3.6.1.2.1.16.14.2.1.3.9.0.2.4.10.1.0.2", "5")
}
