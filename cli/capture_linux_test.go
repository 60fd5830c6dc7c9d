package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/capture/capturesvc"
	"github.com/wirebox/wirebox/capture/pcapng"
	"github.com/wirebox/wirebox/daemon"
	"github.com/wirebox/wirebox/daemon/daemontest"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/pkttest"
	"github.com/wirebox/wirebox/internal/testutil"
)

// captureRig is a daemon (in-process, daemontest) with one passive port
// wb0 in a test namespace, joined by veth to peer0 in another (netns.Pair),
// captures confined to the temporary directory, and a raw sender on peer0.
type captureRig struct {
	socket string
	a, b   *netns.NS
	mac    net.HardwareAddr
	sender *netns.Raw
}

func newCaptureRig(t *testing.T) *captureRig {
	t.Helper()
	p := netns.Pair(t)
	cfg := daemon.DefaultConfig()
	cfg.Ports = []config.PortConfig{{Name: p.NearLink.Name, Mode: config.PortPassive, Netns: p.Near.Path}}
	capturesvc.Section.Of(cfg).Root = os.TempDir()
	d, cl := daemontest.Start(t, cfg)
	testutil.WaitRunning(t, cl, "core", capturesvc.Name)
	return &captureRig{socket: d.Socket(), a: p.Near, b: p.Far, mac: p.NearLink.MAC, sender: p.Sender(t)}
}

// addAddr gives a link in the port's namespace an address (CIDR).
func (r *captureRig) addAddr(t *testing.T, link, cidr string) {
	t.Helper()
	r.a.Run(t, "ip", "addr", "add", cidr, "dev", link)
}

func (r *captureRig) send(t *testing.T, frame []byte) {
	t.Helper()
	copy(frame, r.mac)
	r.sender.Send(t, frame)
}

// cli runs a wirebox command line with the capture and replay commands.
func (r *captureRig) cli(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var o, e bytes.Buffer
	g := &globals{stdout: &o, stderr: &e}
	root := newRoot(g)
	root.SetArgs(append([]string{"--socket", r.socket}, args...))
	root.SetOut(&o)
	root.SetErr(&e)
	err := root.ExecuteContext(context.Background())
	return o.String(), err
}

func (r *captureRig) list(t *testing.T) map[string]api.CaptureSession {
	t.Helper()
	return testutil.CaptureList(t, r.run(t))
}

// run is cli as a runner for testutil.CLIJSON.
func (r *captureRig) run(t *testing.T) func(args ...string) (string, error) {
	return func(args ...string) (string, error) { return r.cli(t, args...) }
}

func (r *captureRig) waitPackets(t *testing.T, id string, n uint64) {
	t.Helper()
	testutil.Eventually(t, fmt.Sprintf("session %s to write %d packets", id, n), func() error {
		if s := r.list(t)[id]; s.Packets != n {
			return fmt.Errorf("%d written", s.Packets)
		}
		return nil
	})
}

var startedRE = regexp.MustCompile(`^capture (c\d+) started on`)

func (r *captureRig) start(t *testing.T, args ...string) string {
	t.Helper()
	out, err := r.cli(t, append([]string{"capture", "start"}, args...)...)
	if err != nil {
		t.Fatalf("capture start %v: %v", args, err)
	}
	m := startedRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("capture start said %q", out)
	}
	return m[1]
}

func tsharkLines(t *testing.T, files []string, fields ...string) []string {
	t.Helper()
	var lines []string
	for _, f := range files {
		args := []string{"-r", f, "-T", "fields"}
		for _, fl := range fields {
			args = append(args, "-e", fl)
		}
		lines = append(lines, pkttest.Lines(pkttest.Run(t, "tshark", args...))...)
	}
	return lines
}

// TestCaptureCLIEndToEnd drives capture start/list/stop and replay through
// the CLI and the API against the capture service on a real core, checks
// the files with tshark, replays our file with tcpreplay and replays a file
// onto the wire where tcpdump captures it.
func TestCaptureCLIEndToEnd(t *testing.T) {
	pkttest.Need(t, "tshark", "tcpdump", "tcpreplay")
	r := newCaptureRig(t)
	dir := t.TempDir()

	// Bad input: clear errors naming the position, nothing started.
	if _, err := r.cli(t, "capture", "start", "--port", "wb0", "--filter", "tcp port", "--out", dir); err == nil || !strings.Contains(err.Error(), "column 9") {
		t.Fatalf("bad filter: %v", err)
	}
	if _, err := r.cli(t, "capture", "start", "--port", "wb0", "--match", "x(y", "--out", dir); err == nil || !strings.Contains(err.Error(), "column 2") {
		t.Fatalf("bad regex: %v", err)
	}
	if _, err := r.cli(t, "capture", "start", "--port", "nope", "--out", dir); err == nil {
		t.Fatal("unknown port accepted")
	}
	if _, err := r.cli(t, "capture", "stop", "c42"); err == nil || !api.IsNotFound(err) {
		t.Fatalf("stop unknown: %v", err)
	}

	web := r.start(t, "--port", "wb0", "--filter", "udp dst port 80", "--out", filepath.Join(dir, "web"))
	sec := r.start(t, "--port", "wb0", "--match", "s3cret", "--rotate-size", "1k", "--keep", "2", "--compress", "zstd", "--out", filepath.Join(dir, "sec"))
	const nWeb = 200
	for i := 0; i < nWeb; i++ {
		r.send(t, pkttest.UDP(t, "10.0.0.1", "10.0.0.2", 1000, 80, []byte(fmt.Sprintf("web %d", i))))
		r.send(t, pkttest.UDP(t, "10.0.0.1", "10.0.0.2", 1000, 81, []byte("other")))
	}
	r.send(t, pkttest.UDP(t, "10.0.0.5", "10.0.0.6", 5, 6, []byte("a s3cret here")))
	for i := 0; i < 30; i++ {
		r.send(t, pkttest.UDP(t, "10.0.0.6", "10.0.0.5", 6, 5, make([]byte, 100)))
	}
	r.waitPackets(t, web, nWeb)
	r.waitPackets(t, sec, 31)
	if out, _ := r.cli(t, "capture", "list"); !strings.Contains(out, web) || !strings.Contains(out, "CURRENT FILE") {
		t.Fatalf("list: %s", out)
	}
	out, err := r.cli(t, "capture", "stop", web)
	if err != nil || !strings.Contains(out, fmt.Sprintf("%d packets written, 0 dropped (queue)", nWeb)) {
		t.Fatalf("stop: %v %s", err, out)
	}
	final := testutil.CLIJSON[api.CaptureSession](t, r.run(t), "capture", "stop", "--json", sec)
	if final.Packets != 31 || final.FilesKept != 2 || final.Files < 3 || final.Running {
		t.Fatalf("sec session: %+v", final)
	}
	webFiles, _ := filepath.Glob(filepath.Join(dir, "web", "*.pcapng"))
	if lines := tsharkLines(t, webFiles, "udp.dstport", "frame.interface_name"); len(lines) != nWeb || lines[0] != "80\twb0" {
		t.Fatalf("web files: %d lines, first %q", len(lines), lines[0])
	}
	secFiles, _ := filepath.Glob(filepath.Join(dir, "sec", "*.pcapng.zst"))
	if len(secFiles) != 2 {
		t.Fatalf("sec files %v", secFiles)
	}
	for _, l := range tsharkLines(t, secFiles, "udp.srcport") {
		if l != "6" {
			t.Fatalf("sec files hold a frame of another flow direction: %q", l)
		}
	}

	// tcpreplay replays our file from the far end; a new session counts it.
	again := r.start(t, "--port", "wb0", "--filter", "udp port 80", "--direction", "rx", "--out", filepath.Join(dir, "again"))
	if out, err := r.b.Command("tcpreplay", "-q", "-i", "peer0", "--topspeed", webFiles[0]).CombinedOutput(); err != nil {
		t.Fatalf("tcpreplay: %v\n%s", err, out)
	}
	r.waitPackets(t, again, nWeb)
	if _, err := r.cli(t, "capture", "stop", again); err != nil {
		t.Fatal(err)
	}

	// Our replay onto the wire, captured by tcpdump at the far end.
	src := filepath.Join(dir, "replay")
	w, err := pcapng.NewWriter(pcapng.Options{Dir: src, Interfaces: []pcapng.Interface{{Name: "x", SnapLen: 60}}})
	if err != nil {
		t.Fatal(err)
	}
	const nRep = 50
	t0 := time.Unix(1700000000, 0)
	for i := 0; i < nRep; i++ {
		f := pkttest.UDP(t, "10.9.0.1", "10.9.0.2", 7777, 7777, bytes.Repeat([]byte{byte(i)}, 100))
		w.WritePacket(pcapng.Packet{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), Data: f[:60], Length: len(f)})
	}
	w.Close()
	capFile := filepath.Join(dir, "far.pcap")
	dump := pkttest.Start(t, r.b.Command("tcpdump", "-i", "peer0", "-Q", "in", "--time-stamp-precision=nano", "-c", fmt.Sprint(nRep), "-w", capFile, "udp port 7777"), "listening on")
	rep := testutil.CLIJSON[api.ReplayReport](t, r.run(t), "replay", w.Files()[0], "--port", "wb0", "--json")
	if rep.Sent != nRep || rep.Padded != nRep || rep.Errors != 0 {
		t.Fatalf("replay: %+v", rep)
	}
	if err := dump.Wait(20 * time.Second); err != nil {
		t.Fatalf("tcpdump: %v", err)
	}
	rd, err := pcapng.Open(capFile)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	var prev time.Time
	for i := 0; i < nRep; i++ {
		rec, err := rd.Next()
		if err != nil {
			t.Fatalf("far end frame %d: %v", i, err)
		}
		if len(rec.Data) != 142 || !bytes.Contains(rec.Data[60:], []byte("wirebox-pad!")) || rec.Data[42] != byte(i) {
			t.Fatalf("far end frame %d: %x", i, rec.Data)
		}
		if i > 0 {
			t.Logf("gap %d: %v", i, rec.Timestamp.Sub(prev))
		}
		prev = rec.Timestamp
	}
	t.Logf("replay report: %+v", rep)

	// --to host: the frames enter the port's receive path in the kernel.
	// The host stack of the port's namespace gets every datagram (a UDP
	// socket bound to the port's address), and a session on the port sees
	// each frame exactly once, as received.
	r.addAddr(t, "wb0", "10.9.0.2/24")
	conn := r.a.ListenUDP(t, "10.9.0.2:7777")
	hw, err := pcapng.NewWriter(pcapng.Options{Dir: filepath.Join(dir, "tohost"), Interfaces: []pcapng.Interface{{Name: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < nRep; i++ {
		f := pkttest.UDP(t, "10.9.0.1", "10.9.0.2", 7777, 7777, []byte(fmt.Sprintf("to-host-%03d", i)))
		copy(f, r.mac)
		hw.WritePacket(pcapng.Packet{Timestamp: t0.Add(time.Duration(i) * time.Millisecond), Data: f, Length: len(f)})
	}
	hw.Close()
	host := r.start(t, "--port", "wb0", "--direction", "both", "--filter", "udp port 7777", "--out", filepath.Join(dir, "host"))
	if out, err := r.cli(t, "replay", hw.Files()[0], "--port", "wb0", "--to", "host", "--speed", "10"); err != nil || !strings.Contains(out, fmt.Sprintf("sent %d frames", nRep)) {
		t.Fatalf("replay to host: %v %s", err, out)
	}
	buf := make([]byte, 2048)
	for i := 0; i < nRep; i++ {
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("host stack got %d of %d datagrams: %v", i, nRep, err)
		}
		if got, want := string(buf[:n]), fmt.Sprintf("to-host-%03d", i); got != want {
			t.Fatalf("datagram %d: %q, want %q", i, got, want)
		}
	}
	r.waitPackets(t, host, nRep)
	time.Sleep(200 * time.Millisecond) // a second copy would show up by now
	if got := r.list(t)[host]; got.Packets != nRep {
		t.Fatalf("session wrote %d packets, want %d once each", got.Packets, nRep)
	}
	if _, err := r.cli(t, "capture", "stop", host); err != nil {
		t.Fatal(err)
	}
	// tshark: each frame once, flagged inbound, in order.
	hostFiles, _ := filepath.Glob(filepath.Join(dir, "host", "*.pcapng"))
	lines := tsharkLines(t, hostFiles, "frame.packet_flags_direction", "data.data")
	if len(lines) != nRep {
		t.Fatalf("tshark read %d frames from the session, want %d: %q", len(lines), nRep, lines)
	}
	for i, l := range lines {
		if want := fmt.Sprintf("0x00000001\t%x", fmt.Sprintf("to-host-%03d", i)); l != want {
			t.Fatalf("frame %d: %q, want %q", i, l, want)
		}
	}
	if _, err := r.cli(t, "replay", "/nonexistent.pcap", "--port", "wb0"); err == nil {
		t.Fatal("replay of a missing file succeeded")
	}
}
