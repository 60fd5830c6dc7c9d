package mirror

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/capture/capturetest"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/leakcheck"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/pkttest"
	"github.com/wirebox/wirebox/internal/testutil"
	"github.com/wirebox/wirebox/services"
	"github.com/wirebox/wirebox/services/servicestest"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Run(m)) }

// lab is the test topology:
//
//	client ns            appliance ns                  lab ns
//	mc0 10.77.0.1 ---- ma0 10.77.0.2 (mirror server)
//	                     mp0 (bypass port, mirrored) ---- lab0 192.168.77.2
//	                     mq0 (passive port, not registered) ---- lab1
//
// The client's TAP gets 192.168.77.1: it is mp0 seen from the client.
type lab struct {
	client, appliance, host *netns.NS
	core                    *capture.Core
	svc                     *Service
	cfg                     Config
	stop                    context.CancelFunc
	done                    chan error
	lab0                    netns.Link
	mp0                     netns.Link
}

func newLab(t *testing.T, mutate func(*Config)) *lab {
	t.Helper()
	l := &lab{client: netns.New(t), appliance: netns.New(t), host: netns.New(t)}
	netns.Veth(t, l.client, "mc0", l.appliance, "ma0", netns.VethOptions{AddrA: "10.77.0.1/24", AddrB: "10.77.0.2/24"})
	l.mp0, l.lab0 = netns.Veth(t, l.appliance, "mp0", l.host, "lab0", netns.VethOptions{AddrB: "192.168.77.2/24"})
	netns.Veth(t, l.appliance, "mq0", l.host, "lab1", netns.VethOptions{})
	// The lab host's frames cross AF_XDP as bytes: they must carry their
	// checksums (a veth would otherwise leave them to an offload).
	l.host.Run(t, "ethtool", "-K", "lab0", "tx", "off")
	l.core = capturetest.Core(t, 8192)
	if _, err := l.core.OpenPort(capture.PortConfig{Name: "mp0", NetNS: l.appliance.Path, Mode: capture.Bypass}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.core.OpenPort(capture.PortConfig{Name: "mq0", NetNS: l.appliance.Path}); err != nil {
		t.Fatal(err)
	}
	l.cfg = Config{Listen: "10.77.0.2:0", NetNS: l.appliance.Path, StateDir: t.TempDir(), Ports: []string{"mp0"}}
	if mutate != nil {
		mutate(&l.cfg)
	}
	var err error
	l.svc, err = New(l.cfg, func() *capture.Core { return l.core }, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	l.start(t)
	t.Cleanup(func() { l.halt(t) })
	return l
}

// start runs the service until halt.
func (l *lab) start(t *testing.T) {
	t.Helper()
	// Under the real supervisor, after a "core" service (the test owns
	// the core itself).
	sup, err := services.New(services.Options{Logger: testLog(t)}, servicestest.Steady("core"), l.svc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.stop, l.done = cancel, make(chan error, 1)
	go func() { l.done <- sup.Run(ctx) }()
	testutil.WaitFor(t, "the mirror service to run", func() bool {
		for _, st := range sup.Status() {
			if st.Name == Name {
				return st.State == api.StateRunning
			}
		}
		return false
	})
	testutil.WaitFor(t, "the mirror service to listen", func() bool { return l.svc.Addr() != nil })
}

func (l *lab) halt(t *testing.T) {
	if l.stop != nil {
		l.stop()
		select {
		case <-l.done:
		case <-time.After(30 * time.Second):
			_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 2)
			t.Fatal("the mirror service did not stop")
		}
		l.stop = nil
	}
}

func (l *lab) addr() string { return l.svc.Addr().String() }

func (l *lab) token(t *testing.T) string {
	b, err := os.ReadFile(filepath.Join(l.cfg.StateDir, "mirror-token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func (l *lab) ca() string { return filepath.Join(l.cfg.StateDir, "mirror-ca.pem") }

// dialOpts verifies with the generated CA and the main token.
func (l *lab) dialOpts(t *testing.T) DialOptions {
	return DialOptions{Server: l.addr(), CAFile: l.ca(), Token: l.token(t)}
}

func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// waitProc waits for a peer tool to exit; one that hangs is killed (and
// the test fails) rather than hanging the test.
func waitProc(t *testing.T, cmd *exec.Cmd, diag ...func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Errorf("%v did not exit; killed", cmd.Args)
		for _, d := range diag {
			d()
		}
		_ = cmd.Process.Kill()
		<-done
	}
}

// dumpTAP runs tcpdump on the client's TAP mir0 (with filter) into a
// pcap file; the function it returns stops it and returns what `tcpdump
// -n args -r` reads from the file.
func (l *lab) dumpTAP(t *testing.T, filter ...string) func(args ...string) string {
	t.Helper()
	pcap := filepath.Join(t.TempDir(), "tap.pcap")
	dump := pkttest.Start(t, l.client.Command("tcpdump", append([]string{"-i", "mir0", "-U", "-n", "-w", pcap}, filter...)...), "listening on")
	return func(args ...string) string {
		t.Helper()
		_ = dump.Cmd.Process.Signal(syscall.SIGINT)
		if err := dump.Wait(30 * time.Second); err != nil {
			t.Errorf("tcpdump on mir0: %v", err)
		}
		return testutil.Run(t, exec.Command("tcpdump", append(append([]string{"-n"}, args...), "-r", pcap)...))
	}
}

// cliArgs turns the tests' flag list (-server HOST:PORT -port NAME and
// the other options) into the command line of `wirebox mirror attach`
// (HOST PORTNAME --option ...).
func cliArgs(args []string) []string {
	var server, port string
	var rest []string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-server":
			i++
			server = args[i]
		case "-port":
			i++
			port = args[i]
		case "-monitor":
			rest = append(rest, "--monitor")
		default:
			rest = append(rest, "-"+a, args[i+1])
			i++
		}
	}
	return append([]string{"mirror", "attach", server, port}, rest...)
}

// client is a running `wirebox mirror attach` (the real CLI); its state
// lines are its stdout.
type client = testutil.Proc

// attach starts the client in the client namespace.
func (l *lab) attach(t *testing.T, args ...string) *client {
	t.Helper()
	return testutil.StartProc(t, l.client.Command(testutil.Wirebox(t), cliArgs(args)...))
}

// linkOf reads an interface in ns (nil if absent).
func linkOf(t *testing.T, h *netlink.Handle, name string) netlink.Link {
	l, err := h.LinkByName(name)
	if err != nil {
		return nil
	}
	return l
}

func carrier(l netlink.Link) bool { return l.Attrs().RawFlags&syscall.IFF_RUNNING != 0 }

// The attach flow end to end: the client's TAP is the appliance port.
func TestAttachEndToEnd(t *testing.T) {
	for _, tool := range []string{"ping", "arping", "iperf3", "tcpdump", "ethtool"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is needed (scripts/deps.sh test): %v", tool, err)
		}
	}
	l := newLab(t, nil)
	c := l.attach(t, "-server", l.addr(), "-ca", l.ca(), "-token", l.token(t), "-port", "mp0", "-as", "mir0")
	c.WaitLine(t, "the client to attach", "connected=true", "link=true")
	h := l.client.Netlink(t)
	tapLink := linkOf(t, h, "mir0")
	if tapLink == nil {
		t.Fatal("no TAP mir0 in the client namespace")
	}
	if got := tapLink.Attrs().HardwareAddr.String(); got != l.mp0.MAC.String() {
		t.Errorf("TAP MAC %s, want the appliance port's %s", got, l.mp0.MAC)
	}
	if tapLink.Attrs().MTU != 1500 {
		t.Errorf("TAP MTU %d, want 1500", tapLink.Attrs().MTU)
	}
	l.client.Run(t, "ip", "addr", "add", "192.168.77.1/24", "dev", "mir0")

	// tcpdump on the TAP sees the lab host's frames (by its MAC).
	dump := l.dumpTAP(t, "ether", "src", l.lab0.MAC.String())

	out := l.client.Run(t, "ping", "-c", "3", "-i", "0.2", "-W", "5", "192.168.77.2")
	if !strings.Contains(out, " 0% packet loss") {
		t.Errorf("ping through the mirror:\n%s", out)
	}
	out = l.client.Run(t, "arping", "-c", "2", "-w", "5", "-I", "mir0", "192.168.77.2")
	if !strings.Contains(strings.ToLower(out), strings.ToLower(l.lab0.MAC.String())) {
		t.Errorf("arping did not see the lab host's MAC %s:\n%s", l.lab0.MAC, out)
	}
	read := dump("-e")
	if !strings.Contains(read, "ICMP echo reply") || !strings.Contains(read, "Reply 192.168.77.2 is-at") {
		t.Errorf("tcpdump on the TAP missed the lab host's replies:\n%s", read)
	}

	// iperf3 TCP both ways; the server in the lab namespace.
	for _, reverse := range []bool{false, true} {
		srv := l.host.Command("iperf3", "-s", "-1", "--forceflush", "-B", "192.168.77.2")
		sout, err := srv.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := srv.Start(); err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(sout)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("iperf3 server: %v", err)
			}
			if strings.Contains(line, "Server listening") {
				break
			}
		}
		go func() { _, _ = io.Copy(io.Discard, br) }()
		args := []string{"-c", "192.168.77.2", "-t", "2", "-J"}
		if reverse {
			args = append(args, "-R")
		}
		var res struct {
			End struct {
				SumReceived struct {
					Bytes float64 `json:"bytes"`
					BPS   float64 `json:"bits_per_second"`
				} `json:"sum_received"`
			} `json:"end"`
			Error string `json:"error"`
		}
		js, err := l.client.Command("timeout", append([]string{"60", "iperf3", "--connect-timeout", "5000"}, args...)...).Output()
		if err != nil {
			_ = srv.Process.Kill()
		}
		waitProc(t, srv, func() {
			for _, n := range []*netns.NS{l.host, l.client} {
				out, _ := n.Command("ss", "-tnoi").CombinedOutput()
				t.Logf("sockets in %s:\n%s", n.Name, out)
			}
			t.Logf("sessions: %+v", l.svc.Sessions())
		})

		if err := json.Unmarshal(js, &res); err != nil || len(js) == 0 || res.Error != "" || res.End.SumReceived.Bytes == 0 {
			t.Fatalf("iperf3 reverse=%t: %v %s: %s", reverse, err, res.Error, js)
		}
		t.Logf("iperf3 reverse=%t: %.0f Mbit/s", reverse, res.End.SumReceived.BPS/1e6)
	}

	// The API shows the session with traffic both ways.
	ss := getJSON[[]api.MirrorSession](t, l, "/v1/mirror/sessions")
	if len(ss) != 1 || ss[0].Port != "mp0" || ss[0].Mode != "exclusive" || ss[0].FramesToClient == 0 || ss[0].FramesFromClient == 0 {
		t.Errorf("sessions: %+v", ss)
	}
	ports := getJSON[[]api.MirrorPort](t, l, "/v1/mirror/ports")
	found := false
	for _, p := range ports {
		if p.Name == "mp0" {
			found = true
			if !p.Registered || p.Link != "up" || p.Holder == "" || p.MTU != 1500 || p.MAC != l.mp0.MAC.String() {
				t.Errorf("port mp0: %+v", p)
			}
		}
	}
	if !found {
		t.Errorf("ports: %+v", ports)
	}

	// The same as Prometheus metrics.
	seen := testutil.Metrics(t, "direction", l.svc.Collectors()...)
	for _, k := range []string{"wirebox_mirror_sessions", "wirebox_mirror_channels", "wirebox_mirror_frames_total/to_client",
		"wirebox_mirror_frames_total/from_client", "wirebox_mirror_bytes_total/to_client", "wirebox_mirror_rtt_seconds"} {
		if seen[k] <= 0 {
			t.Errorf("metric %s: %v (all: %v)", k, seen[k], seen)
		}
	}

	// Link down on the appliance port: the TAP loses carrier, then regains it.
	l.host.Run(t, "ip", "link", "set", "lab0", "down")
	testutil.WaitFor(t, "the TAP to lose carrier", func() bool { l := linkOf(t, h, "mir0"); return l != nil && !carrier(l) })
	c.WaitLine(t, "the client to see the link down", "connected=true", "link=false")
	l.host.Run(t, "ip", "link", "set", "lab0", "up")
	testutil.WaitFor(t, "the TAP to regain carrier", func() bool { l := linkOf(t, h, "mir0"); return l != nil && carrier(l) })

	// An MTU change on the appliance port follows to the TAP.
	l.appliance.Run(t, "ip", "link", "set", "mp0", "mtu", "1400")
	testutil.WaitFor(t, "the TAP to take the new MTU", func() bool { l := linkOf(t, h, "mir0"); return l != nil && l.Attrs().MTU == 1400 })
	l.appliance.Run(t, "ip", "link", "set", "mp0", "mtu", "1500")
	testutil.WaitFor(t, "the TAP to take the MTU back", func() bool { l := linkOf(t, h, "mir0"); return l != nil && l.Attrs().MTU == 1500 })

	// Ctrl-C detaches: the TAP goes, the port is free.
	_ = c.Cmd.Process.Signal(os.Interrupt)
	c.WaitExit(t)
	if c.Err() != nil {
		t.Errorf("client exit: %v", c.Err())
	}
	if linkOf(t, h, "mir0") != nil {
		t.Error("TAP still there after detach")
	}
	testutil.WaitFor(t, "the port to be free", func() bool {
		for _, p := range l.svc.Ports() {
			if p.Name == "mp0" {
				return p.Holder == ""
			}
		}
		return false
	})
}

func getJSON[T any](t *testing.T, l *lab, path string) T {
	t.Helper()
	mux := http.NewServeMux()
	l.svc.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v T
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s: %s", path, resp.Status, b)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, b)
	}
	return v
}

func post(t *testing.T, l *lab, path string) int {
	t.Helper()
	mux := http.NewServeMux()
	l.svc.Routes(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resp, err := http.Post(srv.URL+path, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}
