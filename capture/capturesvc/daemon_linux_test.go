package capturesvc_test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/wirebox/wirebox/capture/capturesvc"
	"github.com/wirebox/wirebox/capture/pcapng"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/pkttest"
	"github.com/wirebox/wirebox/internal/testutil"
)

// passiveConfig is the daemon configuration of these tests: the near end
// of a new veth pair as a passive port, capture files under root.
func passiveConfig(t *testing.T, root string) (*netns.VethPair, *config.Config) {
	t.Helper()
	p := netns.Pair(t)
	cfg := config.Default(capturesvc.Section)
	cfg.Ports = []config.PortConfig{{Name: p.NearLink.Name, Mode: config.PortPassive, Netns: p.Near.Path}}
	capturesvc.Section.Of(cfg).Root = root
	return p, cfg
}

// startDaemon runs the daemon on cfg until the test ends and returns once
// the core and capture services run.
func startDaemon(t *testing.T, cfg *config.Config) *testutil.Daemon {
	t.Helper()
	d := testutil.StartDaemon(t, cfg)
	d.WaitRunning(t, "core", capturesvc.Name)
	return d
}

// TestDaemonCaptureFlow runs the real wirebox binary as the daemon with a
// passive port in a test namespace, drives capture sessions with the
// wirebox CLI, stops one in order and kills the daemon with SIGKILL in the
// middle of another: tshark must read every file.
func TestDaemonCaptureFlow(t *testing.T) {
	pkttest.Need(t, "tshark")
	dir := t.TempDir()
	p, cfg := passiveConfig(t, dir)
	a, b, la, lb := p.Near, p.Far, p.NearLink, p.FarLink
	cfg.Name = "captest"
	daemon := startDaemon(t, cfg)
	cli := daemon.Run

	start := func(args ...string) string {
		t.Helper()
		return testutil.CLIJSON[api.CaptureSession](t, cli, append([]string{"capture", "start", "--json"}, args...)...).ID
	}
	list := func() map[string]api.CaptureSession { t.Helper(); return testutil.CaptureList(t, cli) }
	// The API may not write outside capture.root. (An absolute --out is
	// the CLI's user's own directory, passed open: see
	// TestCaptureIntoTheUsersDirectory. A relative one goes through the
	// root.)
	if out, err := cli("capture", "start", "--port", "wb0", "--out", "../../../../../../etc/wirebox-outside"); err == nil || !strings.Contains(err.Error(), "outside the capture root") {
		t.Errorf("capture outside the root: %v %s", err, out)
	}
	if _, err := os.Stat("/etc/wirebox-outside"); err == nil {
		t.Error("a directory outside the capture root was created")
	}
	webDir, allDir := filepath.Join(dir, "web"), filepath.Join(dir, "all")
	web := start("--port", "wb0", "--filter", "udp dst port 80", "--rotate-size", "64k", "--compress", "zstd", "--out", webDir)
	all := start("--port", "wb0", "--rotate-size", "32k", "--compress", "gzip", "--out", allDir)

	// The far end sends from its own namespace.
	sender := p.Sender(t)
	send := func(f []byte) { // also from a goroutine: t.Error, not Fatal
		copy(f, la.MAC)
		if err := sender.Write(f); err != nil {
			t.Error(err)
		}
	}
	const n = 2000
	webFrame := pkttest.UDP(t, "10.0.0.1", "10.0.0.2", 1000, 80, []byte(strings.Repeat("x", 100)))
	dnsFrame := pkttest.UDP(t, "10.0.0.1", "10.0.0.3", 1000, 53, []byte("dns"))
	for i := 0; i < n; i++ {
		send(webFrame)
		send(dnsFrame)
	}
	testutil.Eventually(t, "the web session's packets", func() error {
		if s := list()[web]; s.Packets != n {
			return fmt.Errorf("web session: %+v", s)
		}
		return nil
	})
	out, err := cli("capture", "stop", web)
	if err != nil || !strings.Contains(out, fmt.Sprintf("%d packets written, 0 dropped (queue)", n)) {
		t.Fatalf("stop: %v %s", err, out)
	}
	webFiles, _ := filepath.Glob(filepath.Join(webDir, "*.pcapng.zst"))
	if len(webFiles) < 2 {
		t.Fatalf("web files %v: no rotation", webFiles)
	}
	total := 0
	for _, f := range webFiles {
		lines := pkttest.Lines(pkttest.Run(t, "tshark", "-r", f, "-T", "fields", "-e", "udp.dstport", "-e", "frame.interface_name"))
		for _, l := range lines {
			if l != "80\twb0" {
				t.Fatalf("%s: %q", f, l)
			}
		}
		total += len(lines)
	}
	if total != n {
		t.Fatalf("tshark read %d packets from %d files, want %d", total, len(webFiles), n)
	}

	replayToHost(t, cli, a, b, la.MAC, lb.MAC, dir)

	// kill -9 in the middle of the second session, frames still arriving.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	f := pkttest.UDP(t, "10.0.0.1", "10.0.0.4", 7, 7, make([]byte, 300)) // may t.Fatal: not in the goroutine
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			default:
				send(f)
			}
		}
	}()
	var before api.CaptureSession
	testutil.Eventually(t, "the all session's packets", func() error {
		if before = list()[all]; before.Packets < 2*n+3000 {
			return fmt.Errorf("all session: %+v", before)
		}
		return nil
	})
	daemon.Kill()
	close(stop)
	wg.Wait()
	// The file the session was writing keeps its writer's marker; the
	// next daemon's capture service repairs it (cuts it back to its last
	// whole gzip member, if the kill cut one) and removes the marker.
	if ms, _ := filepath.Glob(filepath.Join(allDir, ".*.writing")); len(ms) != 1 {
		t.Fatalf("markers after kill -9: %v, want the current file's", ms)
	}
	again := testutil.StartDaemon(t, cfg)
	again.WaitRunning(t, "core", capturesvc.Name)
	if ms, _ := filepath.Glob(filepath.Join(allDir, ".*")); len(ms) != 0 {
		t.Fatalf("markers after the next daemon started: %v\n%s", ms, again.Log())
	}
	allFiles, _ := filepath.Glob(filepath.Join(allDir, "*.pcapng.gz"))
	read := 0
	for _, f := range allFiles {
		out, errOut, err := pkttest.RunErr("tshark", "-r", f, "-T", "fields", "-e", "frame.number")
		if err != nil || errOut != "" && !strings.Contains(errOut, "Running as user") {
			t.Fatalf("after kill -9, tshark on %s: %v\n%s", filepath.Base(f), err, errOut)
		}
		read += len(pkttest.Lines(out))
	}
	// What was in memory (the last chunk, at most a second's worth) is
	// lost; what reached the files is complete.
	t.Logf("after kill -9: %d files, %d packets readable; the session had counted %d shortly before the kill", len(allFiles), read, before.Packets)
	if read < 2*n+1000 {
		t.Fatalf("only %d packets readable, %d were counted well before the kill", read, before.Packets)
	}
}

// replayToHost replays ICMP echo requests --to host through the daemon:
// the host stack of the port's namespace answers each on the wire, where
// tcpdump on the far end sees the replies.
func replayToHost(t *testing.T, cli func(...string) (string, error), a, b *netns.NS, portMAC, peerMAC net.HardwareAddr, dir string) {
	t.Helper()
	for _, c := range []*exec.Cmd{
		a.Command("ip", "addr", "add", "10.0.0.2/24", "dev", "wb0"),
		b.Command("ip", "addr", "add", "10.0.0.1/24", "dev", "peer0"),
	} {
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v %s", c.Args, err, out)
		}
	}
	w, err := pcapng.NewWriter(pcapng.Options{Dir: filepath.Join(dir, "pings"), Interfaces: []pcapng.Interface{{Name: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	const pings = 3
	t0 := time.Unix(1700000000, 0)
	for i := 1; i <= pings; i++ {
		eth := &layers.Ethernet{SrcMAC: peerMAC, DstMAC: portMAC, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IPv4(10, 0, 0, 1).To4(), DstIP: net.IPv4(10, 0, 0, 2).To4()}
		icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: 0x7762, Seq: uint16(i)}
		f := pkttest.Serialize(t, eth, ip, icmp, gopacket.Payload("wirebox replay to host"))
		if err := w.WritePacket(pcapng.Packet{Timestamp: t0.Add(time.Duration(i) * 10 * time.Millisecond), Data: f, Length: len(f)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	td := pkttest.Start(t, b.Command("tcpdump", "-i", "peer0", "-n", "-l", "-c", fmt.Sprint(pings), "icmp and icmp[icmptype] == icmp-echoreply"), "listening on")
	if r := testutil.CLIJSON[api.ReplayReport](t, cli, "replay", w.Files()[0], "--port", "wb0", "--to", "host", "--json"); r.Sent != pings || r.Errors != 0 {
		t.Fatalf("replay --to host: %+v", r)
	}
	if err := td.Wait(20 * time.Second); err != nil {
		t.Fatalf("tcpdump: %v; the host answered %q of %d echo requests", err, td.Stdout(), pings)
	}
	lines := pkttest.Lines(td.Stdout())
	for i, l := range lines {
		if want := fmt.Sprintf("10.0.0.2 > 10.0.0.1: ICMP echo reply, id 30562, seq %d,", i+1); !strings.Contains(l, want) {
			t.Fatalf("reply %d: %q, want %q", i+1, l, want)
		}
	}
}
