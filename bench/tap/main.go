// Command tap benchmarks forwarding between two veth ports, side by side
// in one run: the kernel bridge, `xdp-bench redirect` (xdp-tools, one
// direction, native XDP on veth) when installed, and the Go bridge example
// (tap/examples/tapbridge) on two bypass taps of a wirebox daemon.
//
// Topology per run: gen (g0) — (f0) fwd (f1) — (s0) sink, fresh
// namespaces. trafgen sends N broadcast frames of EtherType 0x88b5 into g0
// through the qdisc; the forwarder moves them from f0 to f1; the sink
// counts what arrives (s0 rx_packets). Printed per size and forwarder: the
// generator's rate, frames forwarded, loss, forwarded frames per second
// (over the generator's run plus the drain), and ratios to the kernel
// bridge.
//
//	sudo go run ./bench/tap [-n64 1000000] [-n1514 300000] [-rounds 2]
//
// Tap rows also show the daemon's and the application's CPU seconds per
// million forwarded frames. -base DIR adds rows for the daemon and
// tapbridge built from another wirebox tree (before/after in one run);
// -stat counts system calls and context switches per frame (perf stat);
// -perf DIR records the tap runs with perf record -g (or, with -syscalls,
// perf trace -s); -only NAME keeps the forwarders whose name contains it.
//
// Needs root, iproute2, ethtool, netsniff-ng (trafgen), Go; xdp-tools
// optional. The machine is shared: compare numbers within one run.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

var (
	n64    = flag.Int("n64", 1000000, "64-byte frames per run")
	n1514  = flag.Int("n1514", 300000, "1514-byte frames per run")
	rounds = flag.Int("rounds", 2, "rounds (interleaved); the median rate is shown")
	keep   = flag.Bool("v", false, "print the commands' output")
	count  = flag.Bool("counter", true, "also the counting table: tcpdump vs the C counter on an input tap")
	perfTo = flag.String("perf", "", "record `dir`/<run>.data with perf record -g on the tap runs' processes (daemon and application) while trafgen sends")
	queue  = flag.Int("queue", 0, "tap.queue of the daemon under test (0: its default; not given to -base)")
	sysSum = flag.Bool("syscalls", false, "with -perf: perf trace -s (system calls per thread) instead of perf record")
	only   = flag.String("only", "", "run only the forwarders whose names contain this (the counting table is -counter)")
	base   = flag.String("base", "", "also run the daemon and tapbridge built from the wirebox tree at `dir` (rows tapbridge-base, ccount-base): before/after in one run")
	stat   = flag.Bool("stat", false, "count system calls and context switches of the tap runs' processes (perf stat) and print them per frame")
)

// stats are perf stat counts of one tap run (for -stat), by run name.
var stats = map[string][2]float64{}

// statStart counts system calls and context switches of the tap
// processes until the returned stop, into stats[name].
func statStart(name string) func() {
	if !*stat || len(tapPids) == 0 {
		return func() {}
	}
	out := filepath.Join(os.TempDir(), "wirebox-tapbench-stat-"+name)
	stop := perfOnTap("stat", "-x", ",", "-o", out, "-e", "raw_syscalls:sys_enter,context-switches")
	return func() {
		stop()
		b, err := os.ReadFile(out)
		if err != nil {
			return // perf did not run
		}
		os.Remove(out)
		var v [2]float64
		for _, l := range strings.Split(string(b), "\n") {
			f := strings.Split(l, ",")
			if len(f) < 3 {
				continue
			}
			x, _ := strconv.ParseFloat(f[0], 64)
			switch {
			case strings.HasPrefix(f[2], "raw_syscalls"):
				v[0] = x
			case strings.HasPrefix(f[2], "context-switches"):
				v[1] = x
			}
		}
		stats[name] = v
	}
}

// tapPids are the processes of the tap run being measured (for -perf).
var tapPids []int

// tapCPU is the CPU seconds the tap run's processes used so far.
func tapCPU() float64 {
	t := 0.0
	for _, p := range tapPids {
		t += cpuSeconds(p)
	}
	return t
}

// tapPidList is tapPids for perf's -p.
func tapPidList() string {
	pids := make([]string, len(tapPids))
	for i, p := range tapPids {
		pids[i] = strconv.Itoa(p)
	}
	return strings.Join(pids, ",")
}

// perfStart records the tap processes with perf until the returned stop.
func perfStart(name string) func() {
	if *perfTo == "" || len(tapPids) == 0 {
		return func() {}
	}
	os.MkdirAll(*perfTo, 0o755)
	args := []string{"record", "-g", "-q", "-o", filepath.Join(*perfTo, name+".data")}
	if *sysSum {
		args = []string{"trace", "-s", "-o", filepath.Join(*perfTo, name+".syscalls")}
	}
	return perfOnTap(args...)
}

// perfOnTap runs perf with args on the tap processes until the returned
// stop (a no-op when perf did not start).
func perfOnTap(args ...string) (stop func()) {
	c := exec.Command("perf", append(args, "-p", tapPidList())...)
	if err := c.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "bench/tap: perf %s: %v\n", args[0], err)
		return func() {}
	}
	time.Sleep(300 * time.Millisecond) // perf attached before the run
	return func() {
		c.Process.Signal(os.Interrupt)
		c.Wait()
	}
}

const (
	gen, fwd, sink = "wbt-gen", "wbt-fwd", "wbt-sink"
)

func sh(args ...string) (string, error) {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if *keep {
		fmt.Fprintf(os.Stderr, "$ %s\n%s", strings.Join(args, " "), out)
	}
	if err != nil {
		return string(out), fmt.Errorf("%s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

func must(args ...string) string {
	out, err := sh(args...)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/tap:", err)
		teardown()
		os.Exit(1)
	}
	return out
}

func nsx(ns string, args ...string) []string {
	return append([]string{"ip", "netns", "exec", ns}, args...)
}

func setup() {
	teardown()
	for _, ns := range []string{gen, fwd, sink} {
		must("ip", "netns", "add", ns)
		must(nsx(ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")...)
	}
	must("ip", "-n", gen, "link", "add", "g0", "type", "veth", "peer", "name", "f0", "netns", fwd)
	must("ip", "-n", fwd, "link", "add", "f1", "type", "veth", "peer", "name", "s0", "netns", sink)
	for _, l := range [][2]string{{gen, "g0"}, {fwd, "f0"}, {fwd, "f1"}, {sink, "s0"}} {
		must("ip", "-n", l[0], "link", "set", l[1], "up")
		must(nsx(l[0], "ethtool", "-K", l[1], "gro", "on")...)
	}
	must(nsx(gen, "tc", "qdisc", "replace", "dev", "g0", "root", "pfifo", "limit", "10000")...)
}

func teardown() {
	for _, ns := range []string{gen, fwd, sink} {
		exec.Command("ip", "netns", "del", ns).Run()
	}
}

func sinkRx() uint64 {
	out := must(nsx(sink, "cat", "/sys/class/net/s0/statistics/rx_packets")...)
	v, _ := strconv.ParseUint(strings.TrimSpace(out), 10, 64)
	return v
}

// trafgen sends n frames of size bytes and returns the seconds it took.
func trafgen(size, n int) float64 {
	pkt := fmt.Sprintf("{ 0xff,0xff,0xff,0xff,0xff,0xff, 0x02,0x00,0x00,0x00,0x00,0x01, c16(0x88b5), fill(0x00, %d) }", size-14)
	t0 := time.Now()
	must(nsx(gen, "trafgen", "-o", "g0", "-n", strconv.Itoa(n), "-P", "1", "--no-sock-mem", "--notouch-irq", "--qdisc-path", "--no-cpu-stats", pkt)...)
	return time.Since(t0).Seconds()
}

type forwarder struct {
	name  string
	start func(dir string) (stop func())
}

func kernelBridge(string) func() {
	must("ip", "-n", fwd, "link", "add", "br0", "type", "bridge")
	must("ip", "-n", fwd, "link", "set", "f0", "master", "br0")
	must("ip", "-n", fwd, "link", "set", "f1", "master", "br0")
	must("ip", "-n", fwd, "link", "set", "br0", "up")
	time.Sleep(2 * time.Second) // forwarding state (STP off: at once; the ports need a moment)
	return func() { sh("ip", "-n", fwd, "link", "del", "br0") }
}

func background(dir, name string, cmd []string) (*exec.Cmd, *bytes.Buffer) {
	c := exec.Command(cmd[0], cmd[1:]...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	if err := c.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "bench/tap:", name, err)
		teardown()
		os.Exit(1)
	}
	return c, &out
}

// startDaemon writes cfg to file in dir and runs the daemon binary named
// with suffix on it, waiting up to 10 s for its tap socket sock.
func startDaemon(dir, file, cfg, suffix, sock string) (*exec.Cmd, *bytes.Buffer) {
	os.WriteFile(filepath.Join(dir, file), []byte(cfg), 0o600)
	d, out := background(dir, "wirebox", []string{filepath.Join(dir, "wirebox"+suffix), "daemon", "--config", filepath.Join(dir, file)})
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	return d, out
}

func stopProc(c *exec.Cmd, out *bytes.Buffer) {
	c.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.Process.Kill()
		<-done
	}
	if *keep {
		fmt.Fprintf(os.Stderr, "%s output:\n%s\n", c.Path, out)
	}
}

// failed names forwarders that could not run, with the reason.
var failed = map[string]string{}

func xdpRedirect(string) func() {
	// xdp-bench leaves its lock file behind when it fails to load; a lock
	// whose process is gone is stale.
	const lock = "/run/xdp-bench.lck"
	if b, err := os.ReadFile(lock); err == nil {
		if pid, _ := strconv.Atoi(strings.TrimSpace(string(b))); pid > 0 {
			if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); err != nil {
				os.Remove(lock)
			}
		}
	}
	c, out := background("", "xdp-bench", nsx(fwd, "xdp-bench", "redirect", "f0", "f1"))
	exited := make(chan struct{})
	go func() { c.Wait(); close(exited) }()
	select {
	case <-exited:
		// Typically: the kernel's BTF lacks the tracepoints xdp-bench attaches to.
		lines := strings.Split(strings.TrimSpace(out.String()), "\n")
		why := firstMatch(lines, "BTF")
		if why == "" {
			why = strings.TrimSpace(lines[len(lines)-1])
		}
		failed["xdp-bench-redirect"] = why
		return func() {}
	case <-time.After(2 * time.Second):
	}
	return func() {
		c.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			c.Process.Kill()
			<-exited
		}
	}
}

func firstMatch(lines []string, sub string) string {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}

func tapBridge(dir string) func() { return tapBridgeOf(dir, "") }

// tapBridgeOf runs the daemon and tapbridge binaries named with suffix
// (""; "-base" for -base).
func tapBridgeOf(dir, suffix string) func() {
	sock := filepath.Join(dir, "tap.sock")
	cfg := fmt.Sprintf(`name: tapbench
api:
  socket: %s
pool:
  frames: 32768
ports:
  - name: f0
    mode: bypass
    netns: %s
  - name: f1
    mode: bypass
    netns: %s
tap:
  socket: %s
  group: ""
%s`, filepath.Join(dir, "api.sock"), fwd, fwd, sock, queueLine(suffix))
	d, dout := startDaemon(dir, "wirebox.yaml", cfg, suffix, sock)
	b, bout := background(dir, "tapbridge", []string{filepath.Join(dir, "tapbridge"+suffix), "-socket", sock, "-a", "f0", "-b", "f1"})
	tapPids = []int{d.Process.Pid, b.Process.Pid}
	time.Sleep(2 * time.Second)
	return func() { stopProc(b, bout); stopProc(d, dout); tapPids = nil }
}

// queueLine is the tap section's queue setting for -queue (new daemon only).
func queueLine(suffix string) string {
	if *queue == 0 || suffix != "" {
		return ""
	}
	return fmt.Sprintf("  queue: %d\n", *queue)
}

type result struct {
	size, n        int
	name           string
	genPPS, fwdPPS []float64
	cpu            []float64 // tap rows: daemon + application CPU seconds per million forwarded frames
	fwd            []uint64
}

func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func main() {
	flag.Parse()
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench/tap: needs root (network namespaces)")
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "wirebox-tapbench-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	for _, b := range [][2]string{{"wirebox", "./cmd/wirebox"}, {"tapbridge", "./tap/examples/tapbridge"}} {
		c := exec.Command("go", "build", "-o", filepath.Join(dir, b[0]), b[1])
		c.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := c.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "bench/tap: build %s: %v\n%s", b[0], err, out)
			os.Exit(1)
		}
	}
	fws := []forwarder{{"kernel-bridge", kernelBridge}}
	if _, err := exec.LookPath("xdp-bench"); err == nil {
		fws = append(fws, forwarder{"xdp-bench-redirect", xdpRedirect})
	} else {
		fmt.Println("# xdp-bench not installed (xdp-tools): row skipped")
	}
	if *base != "" {
		for _, b := range [][2]string{{"wirebox-base", "./cmd/wirebox"}, {"tapbridge-base", "./tap/examples/tapbridge"}} {
			c := exec.Command("go", "build", "-o", filepath.Join(dir, b[0]), b[1])
			c.Dir = *base
			c.Env = append(os.Environ(), "CGO_ENABLED=0")
			if out, err := c.CombinedOutput(); err != nil {
				fmt.Fprintf(os.Stderr, "bench/tap: build %s in %s: %v\n%s", b[0], *base, err, out)
				os.Exit(1)
			}
		}
		fws = append(fws, forwarder{"tapbridge-base", func(dir string) func() { return tapBridgeOf(dir, "-base") }})
	}
	fws = append(fws, forwarder{"tapbridge", tapBridge})
	if *only != "" {
		fws = slices.DeleteFunc(fws, func(f forwarder) bool { return !strings.Contains(f.name, *only) })
	}
	defer teardown()
	var results []*result
	get := func(size, n int, name string) *result {
		for _, r := range results {
			if r.size == size && r.name == name {
				return r
			}
		}
		r := &result{size: size, n: n, name: name}
		results = append(results, r)
		return r
	}
	for round := 0; round < *rounds; round++ {
		for _, sz := range [][2]int{{64, *n64}, {1514, *n1514}} {
			for _, fw := range fws {
				setup()
				stop := fw.start(dir)
				rx0 := sinkRx()
				run := fmt.Sprintf("%s-%d-r%d", fw.name, sz[0], round+1)
				perfStop, statStop := perfStart(run), statStart(run)
				cpu0 := tapCPU()
				secs := trafgen(sz[0], sz[1])
				time.Sleep(500 * time.Millisecond) // drain
				cpu, tapped := tapCPU()-cpu0, len(tapPids) > 0
				perfStop()
				statStop()
				got := sinkRx() - rx0
				if v, ok := stats[run]; ok {
					fmt.Fprintf(os.Stderr, "round %d %d bytes %s: %.3f system calls and %.3f context switches per forwarded frame (daemon + application)\n",
						round+1, sz[0], fw.name, v[0]/float64(max(got, 1)), v[1]/float64(max(got, 1)))
				}
				stop()
				teardown()
				r := get(sz[0], sz[1], fw.name)
				r.genPPS = append(r.genPPS, float64(sz[1])/secs)
				r.fwdPPS = append(r.fwdPPS, float64(got)/(secs+0.5))
				r.fwd = append(r.fwd, got)
				if tapped {
					r.cpu = append(r.cpu, cpu/float64(max(got, 1))*1e6)
				}
				fmt.Fprintf(os.Stderr, "round %d %d bytes %-20s forwarded %d of %d in %.2fs\n", round+1, sz[0], fw.name, got, sz[1], secs)
			}
		}
	}
	host, _ := os.Hostname()
	load, _ := os.ReadFile("/proc/loadavg")
	uname, _ := exec.Command("uname", "-r").Output()
	fmt.Printf("tap forwarding benchmark: %s, kernel %s, %d rounds, %s, load %s\n", host, strings.TrimSpace(string(uname)), *rounds,
		time.Now().UTC().Format("2006-01-02T15:04Z"), strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Printf("%-5s %-20s %9s %10s %10s %7s %10s %6s %6s %10s\n", "bytes", "forwarder", "frames", "gen_pps", "forwarded", "loss%", "fwd_pps", "gen_x", "fwd_x", "cpu_s/Mfwd")
	for _, r := range results {
		if why, ok := failed[r.name]; ok {
			fmt.Printf("%-5d %-20s did not run: %s\n", r.size, r.name, why)
			continue
		}
		base := get(r.size, r.n, "kernel-bridge")
		if len(base.fwdPPS) == 0 {
			base = r
		}
		worst := r.fwd[0]
		for _, f := range r.fwd {
			worst = min(worst, f)
		}
		loss := 100 * float64(uint64(r.n)-min(worst, uint64(r.n))) / float64(r.n)
		cpu := "-"
		if len(r.cpu) > 0 {
			cpu = fmt.Sprintf("%.2f", median(r.cpu))
		}
		fmt.Printf("%-5d %-20s %9d %10.0f %10d %7.2f %10.0f %6.2f %6.2f %10s\n", r.size, r.name, r.n, median(r.genPPS), worst, loss,
			median(r.fwdPPS), median(r.genPPS)/median(base.genPPS), median(r.fwdPPS)/median(base.fwdPPS), cpu)
	}
	if *count {
		counterTable(dir)
	}
}
