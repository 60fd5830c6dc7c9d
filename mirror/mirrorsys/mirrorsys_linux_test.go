package mirrorsys_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/internal/leakcheck"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/testutil"
	"github.com/wirebox/wirebox/mirror"
	"github.com/wirebox/wirebox/mirror/mirrorsys"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Run(m)) }

// startAttach runs `wirebox mirror attach` in ns; its stdout lines are
// its states.
func startAttach(t *testing.T, ns *netns.NS, args ...string) *testutil.Proc {
	t.Helper()
	return testutil.StartProc(t, ns.Command(testutil.Wirebox(t), append([]string{"mirror", "attach"}, args...)...))
}

var fingerprintRE = regexp.MustCompile(`mirror: server certificate.* sha256=([0-9A-F:]{95})`)

// TestDaemonMirror: the daemon with a mirror section lends its port mp0
// (in the appliance namespace) to `wirebox mirror attach` in a client
// namespace; the client pings the lab host through its TAP; the daemon's
// CLI shows the session; unregister takes the port away and register gives
// it back; after kill -9 of the daemon and a restart the client is back on
// its own; Ctrl-C removes the TAP.
//
//	client ns                 appliance ns (daemon's port and listener)       lab ns
//	mc0 10.78.0.1 ----------- ma0 10.78.0.2:7412
//	mir0 (TAP) 192.168.78.1   mp0 (bypass port) ----------------------------- lab0 192.168.78.2
func TestDaemonMirror(t *testing.T) {
	for _, tool := range []string{"ping", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (scripts/deps.sh test): %v", tool, err)
		}
	}
	client, appliance, host := netns.New(t), netns.New(t), netns.New(t)
	netns.Veth(t, client, "mc0", appliance, "ma0", netns.VethOptions{AddrA: "10.78.0.1/24", AddrB: "10.78.0.2/24"})
	_, lab0 := netns.Veth(t, appliance, "mp0", host, "lab0", netns.VethOptions{AddrB: "192.168.78.2/24"})
	// The lab host's frames cross AF_XDP as bytes: they must carry their
	// checksums.
	host.Run(t, "ethtool", "-K", "lab0", "tx", "off")

	state := t.TempDir()
	cfg := config.Default(mirrorsys.Section)
	cfg.Name = "mirrortest"
	cfg.Ports = []config.PortConfig{{Name: "mp0", Mode: config.PortBypass, Netns: appliance.Path}}
	sec := mirrorsys.Section.Of(cfg)
	sec.Listen = "10.78.0.2:7412"
	sec.NetNS = appliance.Path
	sec.StateDir = state
	sec.Ports = []string{"mp0"}
	d := testutil.StartDaemon(t, cfg)
	d.WaitRunning(t, "core", mirror.Name)

	// The fingerprint the daemon printed pins its certificate.
	var fp string
	for deadline := time.Now().Add(10 * time.Second); fp == ""; time.Sleep(20 * time.Millisecond) {
		if m := fingerprintRE.FindStringSubmatch(d.Log()); m != nil {
			fp = m[1]
		} else if time.Now().After(deadline) {
			t.Fatalf("no fingerprint in the daemon's log:\n%s", d.Log())
		}
	}
	token := "@" + filepath.Join(state, "mirror-token")
	out := client.Run(t, d.Bin, "mirror", "ports", "10.78.0.2:7412", "--fingerprint", fp, "--token", token)
	if !regexp.MustCompile(`(?m)^mp0\s+true\s+up\s+10000\s+full\s+1500\s`).MatchString(out) {
		t.Errorf("wirebox mirror ports:\n%s", out)
	}
	if out, err := client.Command(d.Bin, "mirror", "ports", "10.78.0.2:7412", "--fingerprint", fp, "--token", strings.Repeat("0", 64)).CombinedOutput(); err == nil ||
		!strings.Contains(string(out), "authentication failed") {
		t.Errorf("ports with a wrong token: %v\n%s", err, out)
	}

	// Attach with the CA from the state dir and the token file.
	pcapFile := filepath.Join(t.TempDir(), "mir0.pcapng")
	a := startAttach(t, client, "10.78.0.2", "mp0", "--as", "mir0", "--ca", filepath.Join(state, "mirror-ca.pem"), "--token", token, "--pcap", pcapFile)
	a.WaitLine(t, "the client to attach", "mir0: connected=true link=true mtu=1500")
	h := client.Netlink(t)
	tap, err := h.LinkByName("mir0")
	if err != nil {
		t.Fatalf("no TAP mir0 in the client namespace: %v", err)
	}
	if got, want := tap.Attrs().HardwareAddr.String(), appliancePortMAC(t, appliance); got != want {
		t.Errorf("TAP MAC %s, want the appliance port's %s", got, want)
	}
	client.Run(t, "ip", "addr", "add", "192.168.78.1/24", "dev", "mir0")
	ping := func(when string) {
		t.Helper()
		out := client.Run(t, "ping", "-c", "3", "-i", "0.2", "-W", "5", "192.168.78.2")
		if !strings.Contains(out, " 0% packet loss") {
			t.Errorf("ping %s:\n%s", when, out)
		}
	}
	ping("through the mirror")
	// The --pcap file holds the lab host's replies as the appliance stamped
	// them (nanoseconds, inbound on the port), readable by tcpdump while the
	// client runs: a TAP cannot carry those stamps, the file does.
	replies := testutil.Run(t, exec.Command("tcpdump", "-r", pcapFile, "-n", "-tt", "--time-stamp-precision=nano", "icmp[icmptype] == icmp-echoreply"))
	if got := regexp.MustCompile(`(?m)^\d+\.\d{9} IP 192\.168\.78\.2 > 192\.168\.78\.1: ICMP echo reply`).FindAllString(replies, -1); len(got) < 3 {
		t.Errorf("echo replies in the --pcap file, nanosecond stamps: %d of 3:\n%s", len(got), replies)
	}
	neigh := client.Run(t, "ip", "neigh", "show", "192.168.78.2", "dev", "mir0")
	if !strings.Contains(strings.ToLower(neigh), lab0.MAC.String()) {
		t.Errorf("the lab host's MAC %s not learnt on the TAP: %s", lab0.MAC, neigh)
	}

	sessions, err := d.Run("mirror", "sessions")
	if err != nil || !regexp.MustCompile(`10\.78\.0\.1:\d+\s+token\s+mp0\s+exclusive`).MatchString(sessions) {
		t.Errorf("wirebox mirror sessions: %v\n%s", err, sessions)
	}

	// Unregister: the client is told and loses carrier; register brings
	// it back.
	if out, err := d.Run("mirror", "unregister", "mp0"); err != nil || !regexp.MustCompile(`(?m)^mp0\s+false\s`).MatchString(out) {
		t.Errorf("wirebox mirror unregister mp0: %v\n%s", err, out)
	}
	a.WaitLine(t, "the client to lose the port", "connected=false", "unregistered")
	if _, err := d.Run("mirror", "register", "mp0"); err != nil {
		t.Errorf("wirebox mirror register mp0: %v", err)
	}
	a.WaitLine(t, "the client to get the port back", "connected=true link=true")
	if _, err := d.Run("mirror", "unregister", "nope0"); err == nil {
		t.Error("unregister of a port that is not registered succeeded")
	}

	// kill -9 of the daemon: the client sees the tunnel break, and
	// reconnects once the daemon is back (same state dir, same certificate).
	d.Kill()
	a.WaitLine(t, "the client to see the daemon gone", "connected=false")
	d2 := testutil.StartDaemon(t, cfg)
	d2.WaitRunning(t, "core", mirror.Name)
	a.WaitLine(t, "the client to reconnect", "mir0: connected=true link=true")
	ping("after the daemon's restart")
	if m := fingerprintRE.FindStringSubmatch(d2.Log()); m == nil || m[1] != fp {
		t.Errorf("the restarted daemon's certificate changed: %v, was %s", m, fp)
	}

	// Ctrl-C detaches and removes the TAP; the port is free.
	_ = a.Cmd.Process.Signal(os.Interrupt)
	if out := a.WaitExit(t); a.Err() != nil {
		t.Errorf("attach exit: %v\n%s", a.Err(), out)
	}
	if _, err := h.LinkByName("mir0"); err == nil {
		t.Error("TAP mir0 still there after Ctrl-C")
	}
	// detach of what is not a TAP is refused.
	if out, err := client.Command(d.Bin, "mirror", "detach", "mc0").CombinedOutput(); err == nil || !strings.Contains(string(out), "not a TAP") {
		t.Errorf("wirebox mirror detach mc0: %v %s", err, out)
	}
}

func appliancePortMAC(t *testing.T, ns *netns.NS) string {
	t.Helper()
	l, err := ns.Netlink(t).LinkByName("mp0")
	if err != nil {
		t.Fatal(err)
	}
	return l.Attrs().HardwareAddr.String()
}
