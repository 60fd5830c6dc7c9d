package capturesvc_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"

	"github.com/wirebox/wirebox/capture/pcapng"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/pkttest"
	"github.com/wirebox/wirebox/internal/testutil"
)

// TestDaemonCaptureFlow runs the real wirebox binary as the daemon with a
// passive port in a test namespace, drives capture sessions with the
// wirebox CLI, stops one in order and kills the daemon with SIGKILL in the
// middle of another: tshark must read every file.
func TestDaemonCaptureFlow(t *testing.T) {
	pkttest.Need(t, "tshark")
	netns.Require(t)
	a, b := netns.New(t), netns.New(t)
	la, lb := netns.Veth(t, a, "wb0", b, "peer0", netns.VethOptions{})
	bin := testutil.Wirebox(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "wirebox.sock")
	cfg := filepath.Join(dir, "wirebox.yaml")
	yaml := fmt.Sprintf("name: captest\napi:\n  socket: %s\npool:\n  frames: 16384\nports:\n  - name: wb0\n    mode: passive\n    netns: %s\ncapture:\n  root: %s\n", sock, a.Name, dir)
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	daemon := exec.Command(bin, "daemon", "--config", cfg)
	var dlog bytes.Buffer
	daemon.Stdout, daemon.Stderr = &dlog, &dlog
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- daemon.Wait() }()
	t.Cleanup(func() {
		daemon.Process.Kill()
		select {
		case <-waited:
		case <-time.After(10 * time.Second):
		}
	})
	cli := func(args ...string) (string, error) {
		var o, e bytes.Buffer
		cmd := exec.Command(bin, append([]string{"--socket", sock}, args...)...)
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		if err != nil {
			return o.String(), fmt.Errorf("%v: %s", err, e.String())
		}
		return o.String(), nil
	}
	// Wait for the capture service.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out, err := cli("status", "--json")
		var st api.Status
		if err == nil && json.Unmarshal([]byte(out), &st) == nil {
			ok := false
			for _, s := range st.Services {
				ok = ok || (s.Name == "capture" && s.State == api.StateRunning)
			}
			if ok {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("capture service not running: %v %s\ndaemon log:\n%s", err, out, dlog.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	start := func(args ...string) string {
		t.Helper()
		out, err := cli(append([]string{"capture", "start", "--json"}, args...)...)
		var s api.CaptureSession
		if err != nil || json.Unmarshal([]byte(out), &s) != nil {
			t.Fatalf("capture start %v: %v %s", args, err, out)
		}
		return s.ID
	}
	list := func() map[string]api.CaptureSession {
		t.Helper()
		out, err := cli("capture", "list", "--json")
		var ss []api.CaptureSession
		if err != nil || json.Unmarshal([]byte(out), &ss) != nil {
			t.Fatalf("capture list: %v %s", err, out)
		}
		m := map[string]api.CaptureSession{}
		for _, s := range ss {
			m[s.ID] = s
		}
		return m
	}
	// The API may not write outside capture.root.
	if out, err := cli("capture", "start", "--port", "wb0", "--out", "/etc/wirebox-outside"); err == nil || !strings.Contains(err.Error(), "outside the capture root") {
		t.Errorf("capture outside the root: %v %s", err, out)
	}
	if _, err := os.Stat("/etc/wirebox-outside"); err == nil {
		t.Error("a directory outside the capture root was created")
	}
	webDir, allDir := filepath.Join(dir, "web"), filepath.Join(dir, "all")
	web := start("--port", "wb0", "--filter", "udp dst port 80", "--rotate-size", "64k", "--compress", "zstd", "--out", webDir)
	all := start("--port", "wb0", "--rotate-size", "32k", "--compress", "gzip", "--out", allDir)

	// The far end sends from its own namespace.
	fd := -1
	if err := b.Do(func() error {
		ifi, err := net.InterfaceByName("peer0")
		if err != nil {
			return err
		}
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index})
	}); err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	send := func(f []byte) {
		copy(f, la.MAC)
		for {
			_, err := unix.Write(fd, f)
			if err == unix.ENOBUFS || err == unix.EINTR {
				time.Sleep(time.Millisecond)
				continue
			}
			if err != nil {
				t.Error(err)
			}
			return
		}
	}
	const n = 2000
	webFrame := pkttest.UDP(t, "10.0.0.1", "10.0.0.2", 1000, 80, []byte(strings.Repeat("x", 100)))
	dnsFrame := pkttest.UDP(t, "10.0.0.1", "10.0.0.3", 1000, 53, []byte("dns"))
	for i := 0; i < n; i++ {
		send(webFrame)
		send(dnsFrame)
	}
	deadline = time.Now().Add(30 * time.Second)
	for list()[web].Packets != n {
		if time.Now().After(deadline) {
			t.Fatalf("web session: %+v", list()[web])
		}
		time.Sleep(50 * time.Millisecond)
	}
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
	go func() {
		defer wg.Done()
		f := pkttest.UDP(t, "10.0.0.1", "10.0.0.4", 7, 7, make([]byte, 300))
		for {
			select {
			case <-stop:
				return
			default:
				send(f)
			}
		}
	}()
	deadline = time.Now().Add(30 * time.Second)
	var before api.CaptureSession
	for before = list()[all]; before.Packets < 2*n+3000; before = list()[all] {
		if time.Now().After(deadline) {
			t.Fatalf("all session: %+v", before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := daemon.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-waited
	close(stop)
	wg.Wait()
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
	td := b.Command("tcpdump", "-i", "peer0", "-n", "-l", "-c", fmt.Sprint(pings), "icmp and icmp[icmptype] == icmp-echoreply")
	var out bytes.Buffer
	td.Stdout = &out
	stderr, err := td.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := td.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	listening := make(chan struct{})
	go func() {
		var seen []byte
		buf := make([]byte, 1024)
		for {
			n, err := stderr.Read(buf)
			seen = append(seen, buf[:n]...)
			if bytes.Contains(seen, []byte("listening on")) {
				close(listening)
				break
			}
			if err != nil {
				return
			}
		}
		for {
			if _, err := stderr.Read(buf); err != nil {
				return
			}
		}
	}()
	select {
	case <-listening:
	case <-time.After(20 * time.Second):
		td.Process.Kill()
		td.Wait()
		t.Fatal("tcpdump did not start")
	}
	go func() { done <- td.Wait() }()
	rep, err := cli("replay", w.Files()[0], "--port", "wb0", "--to", "host", "--json")
	var r api.ReplayReport
	if err != nil || json.Unmarshal([]byte(rep), &r) != nil || r.Sent != pings || r.Errors != 0 {
		td.Process.Kill()
		<-done
		t.Fatalf("replay --to host: %v %s", err, rep)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tcpdump: %v", err)
		}
	case <-time.After(20 * time.Second):
		td.Process.Kill()
		<-done
		t.Fatalf("the host answered %q of %d echo requests", out.String(), pings)
	}
	lines := pkttest.Lines(out.String())
	for i, l := range lines {
		if want := fmt.Sprintf("10.0.0.2 > 10.0.0.1: ICMP echo reply, id 30562, seq %d,", i+1); !strings.Contains(l, want) {
			t.Fatalf("reply %d: %q, want %q", i+1, l, want)
		}
	}
}
