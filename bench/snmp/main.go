// Command snmp compares the rmon agent with Debian's snmpd side by side,
// on the same IF-MIB size: a network namespace with lo and 128 dummy links
// (129 interfaces; veth pairs inside the namespace on kernels without the
// dummy driver), snmpd serving them, and wirebox's rmon service with
// the capture core holding one passive port per interface.
//
//	go run ./bench/snmp [-walks 10] [-gets 2000]
//	go run ./bench/snmp -load 2000000
//
// Measures, for both agents: snmpbulkwalk of IF-MIB (varbinds per second,
// net-snmp process included), an in-process gosnmp bulk walk of IF-MIB
// (no process start-up), a whole-tree bulk walk, and GET round-trip time
// (median, p99) for v2c and v3 authPriv (SHA-256 / AES-128). Needs root,
// snmpd and the snmp tools (scripts/deps.sh bench). The namespace is
// removed at the end; traffic stays on its loopback.
//
// With -load, instead: trafgen (netsniff-ng) sends 64-byte frames at full
// rate through a veth pair into a passive core port, with the core alone
// and with the rmon service subscribed: the generator's rate, the frames
// the port received and the frames the probe counted (etherStatsPkts,
// etherStatsDropEvents).
package main

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/wirebox/wirebox/bench/internal/benchkit"
	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/rmon"
)

const (
	snmpdAddr = "127.0.0.1:16100"
	oursAddr  = "127.0.0.1:16101"
	community = "bench"
	v3User    = "benchv3"
	v3Auth    = "bench-auth-pass"
	v3Priv    = "bench-priv-pass"
	dummies   = 128
)

func main() {
	walks := flag.Int("walks", 10, "walks per measurement")
	gets := flag.Int("gets", 2000, "GETs per RTT measurement")
	inner := flag.String("inner", "", "internal: run inside this namespace")
	load := flag.Int("load", 0, "instead: the probe's cost under load, with this many 64-byte frames from trafgen")
	flag.Parse()
	if *load > 0 {
		if err := runLoad(*load); err != nil {
			fmt.Fprintln(os.Stderr, "bench/snmp:", err)
			os.Exit(1)
		}
		return
	}
	if *inner != "" {
		if err := runInner(*inner, *walks, *gets); err != nil {
			fmt.Fprintln(os.Stderr, "bench/snmp:", err)
			os.Exit(1)
		}
		return
	}
	if err := runOuter(*walks, *gets); err != nil {
		fmt.Fprintln(os.Stderr, "bench/snmp:", err)
		os.Exit(1)
	}
}

// runOuter makes the namespace and runs this program again inside it.
func runOuter(walks, gets int) error {
	nss, del, err := benchkit.Namespaces("wbsnmp-")
	defer del()
	if err != nil {
		return err
	}
	ns := nss[0]
	var batch strings.Builder
	batch.WriteString("link set lo up\n")
	// Dummy links when the kernel has them, else veth pairs inside the
	// namespace (same count: to the agents an interface is an interface).
	kind := "dummy"
	if benchkit.Sh("ip", "-n", ns, "link", "add", "probe0", "type", "dummy") != nil {
		kind = "veth"
	} else {
		_ = benchkit.Sh("ip", "-n", ns, "link", "del", "probe0")
	}
	for i := 0; i < dummies; i++ {
		if kind == "dummy" {
			fmt.Fprintf(&batch, "link add if%d type dummy\nlink set if%d up\n", i, i)
		} else if i%2 == 0 {
			fmt.Fprintf(&batch, "link add if%d type veth peer name if%d\nlink set if%d up\nlink set if%d up\n", i, i+1, i, i+1)
		}
	}
	fmt.Printf("interfaces: lo + %d %s links\n", dummies, kind)
	cmd := exec.Command("ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip -batch: %w: %s", err, out)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	c := exec.Command("ip", "netns", "exec", ns, self, "-inner", ns, "-walks", fmt.Sprint(walks), "-gets", fmt.Sprint(gets))
	c.Stdout, c.Stderr = os.Stdout, os.Stderr
	return c.Run()
}

type agent struct {
	name string
	addr string
}

func runInner(ns string, walks, gets int) error {
	dir, err := os.MkdirTemp("", "wbsnmp")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	stop, err := startSnmpd(dir)
	if err != nil {
		return err
	}
	defer stop()
	stopOurs, nports, err := startOurs(dir)
	if err != nil {
		return err
	}
	defer stopOurs()
	agents := []agent{{"snmpd", snmpdAddr}, {"wirebox", oursAddr}}
	for _, a := range agents {
		if err := waitUp(a.addr); err != nil {
			return fmt.Errorf("%s: %w", a.name, err)
		}
	}
	fmt.Printf("namespace %s; wirebox core ports: %d\n\n", ns, nports)
	type row struct {
		what    string
		vals    [2]float64
		unit    string
		higher  bool // higher is better
		varbind [2]int
	}
	var rows []row
	// each measures every agent in turn (i is its column); the error
	// names the agent.
	each := func(f func(i int, addr string) error) error {
		for i, a := range agents {
			if err := f(i, a.addr); err != nil {
				return fmt.Errorf("%s: %w", a.name, err)
			}
		}
		return nil
	}
	v2 := []string{"-v2c", "-c", community}
	v3 := []string{"-v3", "-u", v3User, "-l", "authPriv", "-a", "SHA-256", "-A", v3Auth, "-x", "AES", "-X", v3Priv}
	for _, m := range []struct {
		what string
		args []string
		oids []string
	}{
		{"snmpbulkwalk IF-MIB v2c (-Cr50)", v2, []string{"1.3.6.1.2.1.2", "1.3.6.1.2.1.31"}},
		{"snmpbulkwalk IF-MIB v3 authPriv", v3, []string{"1.3.6.1.2.1.2", "1.3.6.1.2.1.31"}},
		{"snmpbulkwalk whole tree v2c", v2, []string{"1"}},
	} {
		r := row{what: m.what + " varbinds/s", unit: "vb/s", higher: true}
		if err := each(func(i int, addr string) (err error) {
			r.vals[i], r.varbind[i], err = toolWalk(addr, m.args, m.oids, walks)
			return err
		}); err != nil {
			return err
		}
		rows = append(rows, r)
	}
	for _, v := range []bool{false, true} {
		r := row{what: "gosnmp BulkWalk IF-MIB (in-process) varbinds/s", unit: "vb/s", higher: true}
		if v {
			r.what = "gosnmp BulkWalk IF-MIB v3 authPriv varbinds/s"
		}
		if err := each(func(i int, addr string) (err error) {
			r.vals[i], r.varbind[i], err = gosnmpWalk(addr, v, walks)
			return err
		}); err != nil {
			return err
		}
		rows = append(rows, r)
	}
	for _, v := range []bool{false, true} {
		med := row{what: "GET sysUpTime.0 RTT median v2c", unit: "µs"}
		p99 := row{what: "GET sysUpTime.0 RTT p99 v2c", unit: "µs"}
		if v {
			med.what, p99.what = "GET RTT median v3 authPriv", "GET RTT p99 v3 authPriv"
		}
		if err := each(func(i int, addr string) (err error) {
			med.vals[i], p99.vals[i], err = getRTT(addr, v, gets)
			return err
		}); err != nil {
			return err
		}
		rows = append(rows, med, p99)
	}
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement\tsnmpd\twirebox\twirebox/snmpd\tvarbinds (snmpd/wirebox)\t")
	for _, r := range rows {
		vb := ""
		if r.varbind[0] > 0 {
			vb = fmt.Sprintf("%d/%d", r.varbind[0], r.varbind[1])
		}
		fmt.Fprintf(tw, "%s\t%.0f %s\t%.0f %s\t%.2f\t%s\t\n", r.what, r.vals[0], r.unit, r.vals[1], r.unit, r.vals[1]/r.vals[0], vb)
	}
	tw.Flush()
	fmt.Println("\nratio: wirebox/snmpd; for RTT lower is better (a ratio under 1 means wirebox answers faster).")
	return nil
}

func startSnmpd(dir string) (func(), error) {
	conf := filepath.Join(dir, "snmpd.conf")
	err := os.WriteFile(conf, []byte(fmt.Sprintf(`agentAddress udp:%s
rocommunity %s 127.0.0.1
createUser %s SHA-256 %s AES %s
rouser %s priv
`, snmpdAddr, community, v3User, v3Auth, v3Priv, v3User)), 0o600)
	if err != nil {
		return nil, err
	}
	persist := filepath.Join(dir, "persist")
	os.MkdirAll(persist, 0o700)
	cmd := exec.Command("snmpd", "-f", "-Lf", filepath.Join(dir, "snmpd.log"), "-C", "-c", conf, "-p", filepath.Join(dir, "snmpd.pid"))
	cmd.Env = append(os.Environ(), "SNMP_PERSISTENT_DIR="+persist)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("snmpd: %w", err)
	}
	return func() {
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
	}, nil
}

// startOurs runs the capture core on every interface of the namespace
// and the rmon service on it, under the supervisor as in the daemon.
func startOurs(dir string) (func(), int, error) {
	ifs, err := os.ReadDir("/sys/class/net")
	if err != nil {
		return nil, 0, err
	}
	core, closeCore, err := benchkit.NewCore(8192)
	if err != nil {
		return nil, 0, err
	}
	for _, fi := range ifs {
		if _, err := core.OpenPort(capture.PortConfig{Name: fi.Name(), Mode: capture.Passive, RingBlocks: 2, BlockSize: 64 << 10}); err != nil {
			closeCore()
			return nil, 0, err
		}
	}
	cfg := rmon.Config{Listen: oursAddr, StateFile: filepath.Join(dir, "engine.json"),
		Communities: []rmon.CommunityConfig{{Name: community, Sources: []string{"127.0.0.1"}}},
		Users:       []rmon.UserConfig{{Name: v3User, Auth: "sha256", AuthKey: v3Auth, Priv: "aes", PrivKey: v3Priv}}}
	log := slog.New(slog.DiscardHandler)
	svc, err := rmon.New(cfg, func() *capture.Core { return core }, log)
	if err != nil {
		return nil, 0, err
	}
	stop, err := benchkit.Supervise(log, svc)
	if err != nil {
		return nil, 0, err
	}
	return func() {
		stop()
		closeCore()
	}, len(core.Ports()), nil
}

func client(addr string, v3 bool) (*gosnmp.GoSNMP, error) {
	host, port, _ := strings.Cut(addr, ":")
	var p uint16
	fmt.Sscan(port, &p)
	g := &gosnmp.GoSNMP{Target: host, Port: p, Version: gosnmp.Version2c, Community: community, Timeout: 2 * time.Second,
		Retries: 1, MaxOids: 60, MaxRepetitions: 50}
	if v3 {
		g.Version = gosnmp.Version3
		g.SecurityModel = gosnmp.UserSecurityModel
		g.MsgFlags = gosnmp.AuthPriv
		g.SecurityParameters = &gosnmp.UsmSecurityParameters{UserName: v3User, AuthenticationProtocol: gosnmp.SHA256,
			AuthenticationPassphrase: v3Auth, PrivacyProtocol: gosnmp.AES, PrivacyPassphrase: v3Priv}
	}
	return g, g.Connect()
}

func waitUp(addr string) error {
	g, err := client(addr, false)
	if err != nil {
		return err
	}
	defer g.Conn.Close()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if _, err := g.Get([]string{".1.3.6.1.2.1.1.3.0"}); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// toolWalk runs snmpbulkwalk n times and returns varbinds per second.
func toolWalk(addr string, auth, oids []string, n int) (float64, int, error) {
	var total time.Duration
	count := 0
	for i := 0; i < n; i++ {
		vbs := 0
		start := time.Now()
		for _, o := range oids {
			args := append(append([]string{"-On", "-Cr50", "-t", "5", "-r", "0"}, auth...), addr, o)
			c := exec.Command("snmpbulkwalk", args...)
			c.Env = append(os.Environ(), "MIBS=")
			out, err := c.Output()
			if err != nil {
				return 0, 0, fmt.Errorf("snmpbulkwalk %v: %w", args, err)
			}
			vbs += strings.Count(string(out), "\n")
		}
		total += time.Since(start)
		count = vbs
	}
	return float64(count*n) / total.Seconds(), count, nil
}

func gosnmpWalk(addr string, v3 bool, n int) (float64, int, error) {
	g, err := client(addr, v3)
	if err != nil {
		return 0, 0, err
	}
	defer g.Conn.Close()
	count := 0
	start := time.Now()
	for i := 0; i < n; i++ {
		count = 0
		for _, root := range []string{".1.3.6.1.2.1.2", ".1.3.6.1.2.1.31"} {
			err := g.BulkWalk(root, func(gosnmp.SnmpPDU) error { count++; return nil })
			if err != nil {
				return 0, 0, err
			}
		}
	}
	return float64(count*n) / time.Since(start).Seconds(), count, nil
}

func getRTT(addr string, v3 bool, n int) (median, p99 float64, err error) {
	g, err := client(addr, v3)
	if err != nil {
		return 0, 0, err
	}
	defer g.Conn.Close()
	rtts := make([]float64, 0, n)
	for i := 0; i < n+50; i++ {
		start := time.Now()
		r, err := g.Get([]string{".1.3.6.1.2.1.1.3.0"})
		if err != nil {
			return 0, 0, err
		}
		if r.Error != gosnmp.NoError {
			return 0, 0, fmt.Errorf("GET: %v", r.Error)
		}
		if i >= 50 { // warm-up: discovery and caches
			rtts = append(rtts, float64(time.Since(start).Microseconds()))
		}
	}
	slices.Sort(rtts)
	return rtts[len(rtts)/2], rtts[len(rtts)*99/100], nil
}
