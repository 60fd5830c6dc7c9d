package coresvc

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/internal/leakcheck"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/testutil"
	"golang.org/x/sys/unix"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Run(m)) }

// daemon runs the real wirebox binary on a configuration (YAML: the
// core's keys) until the test ends; it returns once every service runs.
func daemon(t *testing.T, yaml string) (bin, socket string) {
	t.Helper()
	cfg, err := config.Parse([]byte("name: coretest\n" + yaml))
	if err != nil {
		t.Fatal(err)
	}
	d := testutil.StartDaemon(t, cfg)
	testutil.WaitFor(t, "every service to run", func() bool {
		st, err := d.Client.Status(context.Background())
		return err == nil && allRunning(st)
	})
	return d.Bin, d.Socket
}

func allRunning(st *api.Status) bool {
	for _, s := range st.Services {
		if s.State != api.StateRunning {
			return false
		}
	}
	return len(st.Services) > 0
}

// ports runs `wirebox ports --json` and decodes it.
func ports(t *testing.T, bin, socket string) api.Ports {
	t.Helper()
	return testutil.CLIJSON[api.Ports](t, func(args ...string) (string, error) {
		out, err := exec.Command(bin, append(args, "--socket", socket)...).Output()
		return string(out), err
	}, "ports", "--json")
}

func port(t *testing.T, p api.Ports, name string) api.PortStatus {
	t.Helper()
	for _, ps := range p.Ports {
		if ps.Name == name {
			return ps
		}
	}
	t.Fatalf("no port %s in %+v", name, p)
	return api.PortStatus{}
}

// trafgen sends n 64-byte frames (EtherType 0x88b5, local experimental:
// nothing in the namespaces answers) to dst from dev in ns. --no-sock-mem
// and --notouch-irq keep trafgen from tuning the host's socket memory and
// IRQ affinity; --qdisc-path sends through the qdisc so the veth can push
// back.
func trafgen(t *testing.T, l netns.Link, dst []byte, n int, extra ...string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("{ ")
	for _, x := range dst {
		fmt.Fprintf(&b, "0x%02x, ", x)
	}
	b.WriteString("0x02, 0x00, 0x00, 0x00, 0x00, 0x01, c16(0x88b5), fill(0x00, 50) }")
	args := append([]string{"-o", l.Name, "-n", fmt.Sprint(n), "-P", "1", "--no-sock-mem", "--notouch-irq", "--qdisc-path", "--no-cpu-stats"}, extra...)
	out, err := l.NS.Command("trafgen", append(args, b.String())...).CombinedOutput()
	if err != nil {
		t.Fatalf("trafgen: %v\n%s", err, out)
	}
}

func waitRx(t *testing.T, bin, socket, name string, n uint64) api.PortStatus {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ps := port(t, ports(t, bin, socket), name)
		if ps.RxPackets >= n || time.Now().After(deadline) {
			return ps
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// frames is the 2,000,000; WIREBOX_CORE_FRAMES lowers it for a
// quick local run.
func frames() int {
	var n int
	if _, err := fmt.Sscan(os.Getenv("WIREBOX_CORE_FRAMES"), &n); err == nil && n > 0 {
		return n
	}
	return 2_000_000
}

// TestDaemonPassivePort is the "done when": the daemon with a
// passive port in a test namespace counts every one of 2,000,000 frames,
// with no drops, in `wirebox ports --json`.
func TestDaemonPassivePort(t *testing.T) {
	p := netns.Pair(t)
	a, la, lb := p.Near, p.NearLink, p.FarLink
	netns.Backpressure(t, la, lb)
	bin, sock := daemon(t, fmt.Sprintf("ports:\n  - name: wb0\n    mode: passive\n    netns: %s\n", a.Name))
	ps := port(t, ports(t, bin, sock), "wb0")
	if ps.Mode != "passive" || ps.Link != "up" || ps.RxPackets != 0 {
		t.Fatalf("before sending: %+v", ps)
	}
	n := frames()
	start := time.Now()
	trafgen(t, lb, la.MAC, n)
	sent := time.Since(start)
	ps = waitRx(t, bin, sock, "wb0", uint64(n))
	t.Logf("%d frames sent in %v; port: %+v", n, sent, ps)
	if ps.RxPackets != uint64(n) || ps.RxBytes != uint64(n)*64 || ps.RxDroppedKernel != 0 || ps.RxDroppedPool != 0 {
		t.Fatalf("port after %d frames: %+v", n, ps)
	}
	if ps.TimestampSource != "kernel" && ps.TimestampSource != "hardware" {
		t.Fatalf("timestamp source %q", ps.TimestampSource)
	}
	// The same numbers as Prometheus metrics, and in the table.
	cl := api.NewUnixClient(sock)
	defer cl.Close()
	metrics, err := cl.Text(context.Background(), api.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf(`wirebox_port_rx_packets_total{mode="passive",port="wb0"} %g`, float64(n)),
		`wirebox_port_rx_dropped_kernel_total{mode="passive",port="wb0"} 0`,
		`wirebox_port_link_up{mode="passive",port="wb0"} 1`,
		"wirebox_pool_frames 16384",
	} {
		if !strings.Contains(metrics, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	out, err := exec.Command(bin, "ports", "--socket", sock).CombinedOutput()
	if err != nil || !strings.Contains(string(out), fmt.Sprint(n)) || !strings.Contains(string(out), "wb0") {
		t.Errorf("wirebox ports: %v\n%s", err, out)
	}
}

// windowSender sends n 64-byte test frames from l to dst, never more than
// window ahead of what the far end has counted (read through the API).
// AF_XDP has no backpressure: a full socket ring drops (and counts), and on
// two shared cores a spinning rate-limited generator starves the
// forwarder, so the bypass test bounds frames in flight instead of the
// rate. bench/ measures the full-rate behaviour.
func windowSender(t *testing.T, l netns.Link, dst []byte, n, window int, counted func() uint64) {
	t.Helper()
	var fd int
	err := l.NS.Do(func() error {
		var err error
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: l.Index})
	})
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	f := make([]byte, 64)
	copy(f, dst)
	copy(f[6:], []byte{2, 0, 0, 0, 0, 1})
	f[12], f[13] = 0x88, 0xb5
	deadline := time.Now().Add(5 * time.Minute)
	for sent := 0; sent < n; {
		done := int(counted())
		for k := min(n, done+window) - sent; k > 0; k-- {
			binary.BigEndian.PutUint32(f[14:], uint32(sent))
			for {
				_, err := unix.Write(fd, f)
				if err == unix.ENOBUFS || err == unix.EINTR {
					time.Sleep(100 * time.Microsecond)
					continue
				}
				if err != nil {
					t.Fatalf("send: %v", err)
				}
				break
			}
			sent++
		}
		if time.Now().After(deadline) {
			t.Fatalf("sent %d, far end counted %d: stalled", sent, done)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestDaemonBypassForward: the same through AF_XDP, forwarding every frame
// to a second bypass port whose peer counts them with a passive port.
func TestDaemonBypassForward(t *testing.T) {
	line := netns.NewLine(t, netns.LineOptions{})
	a, c, la, lb := line.A, line.C, line.WB0, line.Peer0
	netns.Backpressure(t, la, lb)
	bin, sock := daemon(t, fmt.Sprintf(`pool:
  frames: 65536
ports:
  - name: wb0
    mode: bypass
    netns: %[1]s
    forward: wb1
    ring_frames: 16384
  - name: wb1
    mode: bypass
    netns: %[1]s
  - name: peer1
    mode: passive
    netns: %[2]s
`, a.Name, c.Name))
	cl := api.NewUnixClient(sock)
	defer cl.Close()
	counted := func() uint64 {
		var p api.Ports
		if err := cl.Get(context.Background(), api.PathPorts, &p); err != nil {
			t.Fatal(err)
		}
		return port(t, p, "peer1").RxPackets
	}
	n := frames()
	start := time.Now()
	windowSender(t, lb, la.MAC, n, 8192, counted)
	sent := time.Since(start)
	in := waitRx(t, bin, sock, "wb0", uint64(n))
	far := waitRx(t, bin, sock, "peer1", uint64(n))
	out := port(t, ports(t, bin, sock), "wb1")
	t.Logf("%d frames sent in %v\nin:  %+v\nout: %+v\nfar: %+v", n, sent, in, out, far)
	if in.RxPackets != uint64(n) || in.RxBytes != uint64(n)*64 || in.RxDroppedKernel != 0 || in.RxDroppedPool != 0 ||
		in.Unclaimed != 0 || in.TimestampSource != "engine" || in.Link != "up" {
		t.Errorf("bypass port: %+v", in)
	}
	if out.TxPackets != uint64(n) || out.TxBytes != uint64(n)*64 || out.TxErrors != 0 {
		t.Errorf("forward port: %+v", out)
	}
	if far.RxPackets != uint64(n) || far.RxDroppedKernel != 0 {
		t.Errorf("far end: %+v", far)
	}
}

// TestDaemonWithoutPorts: no ports configured, no core service, and
// `wirebox ports` says so.
func TestDaemonWithoutPorts(t *testing.T) {
	bin, sock := daemon(t, "")
	out, err := exec.Command(bin, "ports", "--socket", sock).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no capture core") {
		t.Fatalf("wirebox ports without ports: %v\n%s", err, out)
	}
	cl := api.NewUnixClient(sock)
	defer cl.Close()
	st, err := cl.Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Services {
		if s.Name == Name {
			t.Fatalf("core service runs without ports: %+v", st.Services)
		}
	}
}

// TestDaemonBadPort: a port that does not exist fails the core service
// with an error naming it, and the API keeps running.
func TestDaemonBadPort(t *testing.T) {
	cfg, err := config.Parse([]byte("supervisor:\n  max_failures: 1\nports:\n  - name: nosuch0\n    mode: passive\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := testutil.StartDaemon(t, cfg)
	var last *api.Status
	testutil.WaitFor(t, "the core service to fail", func() bool {
		st, err := d.Client.Status(context.Background())
		if err != nil {
			return false
		}
		last = st
		for _, s := range st.Services {
			if s.Name == Name && s.State == api.StateFailed {
				return true
			}
		}
		return false
	})
	for _, s := range last.Services {
		if s.Name == Name && !strings.Contains(s.LastError, "nosuch0") {
			t.Fatalf("last error %q does not name the port", s.LastError)
		}
	}
}
