package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wirebox/wirebox/bench/internal/benchkit"
)

// The second table: counting frames on a port. tcpdump (-w /dev/null) on
// the port against the C counter example (tap/examples/ccount) on an input
// tap of a passive port of the daemon; CPU seconds per million frames of
// the counting processes (tcpdump; daemon + ccount), from /proc.

// cpuSeconds is utime+stime of pid.
func cpuSeconds(pid int) float64 {
	d, err := benchkit.CPU(pid)
	if err != nil {
		return 0
	}
	return d.Seconds()
}

type countResult struct {
	name    string
	size, n int
	counted uint64
	cpu     float64
	genPPS  float64
}

func counterRun(dir, name string, size, n int) countResult {
	setup() // g0 (gen) — f0 (fwd): the counted port is f0
	r := countResult{name: name, size: size, n: n}
	var pids []int
	var stops []func()
	var countOut *bytes.Buffer
	switch name {
	case "tcpdump":
		c, out := background(dir, "tcpdump", nsx(fwd, "tcpdump", "-i", "f0", "-n", "-w", "/dev/null", "-B", "65536"))
		pids, countOut = []int{c.Process.Pid}, out
		stops = append(stops, func() { stopProc(c, out) })
	case "ccount", "ccount-base":
		suffix := strings.TrimPrefix(name, "ccount")
		sock := filepath.Join(dir, "tapc.sock")
		cfg := fmt.Sprintf("name: tapbench\napi:\n  socket: %s\nports:\n  - name: f0\n    mode: passive\n    netns: %s\ntap:\n  socket: %s\n  group: \"\"\n%s",
			filepath.Join(dir, "apic.sock"), fwd, sock, queueLine(suffix))
		d, dout := startDaemon(dir, "wireboxc.yaml", cfg, suffix, sock)
		c, out := background(dir, "ccount", []string{filepath.Join(dir, "ccount"), sock, "f0"})
		pids, countOut = []int{d.Process.Pid, c.Process.Pid}, out
		tapPids = pids
		stops = append(stops, func() { stopProc(c, out) }, func() { stopProc(d, dout) })
	}
	time.Sleep(2 * time.Second)
	cpu0 := 0.0
	for _, p := range pids {
		cpu0 += cpuSeconds(p)
	}
	perfStop, statStop := func() {}, func() {}
	run := fmt.Sprintf("%s-%d", name, size)
	if name != "tcpdump" {
		perfStop, statStop = perfStart(run), statStart(run)
	}
	secs := trafgen(size, n)
	time.Sleep(500 * time.Millisecond)
	perfStop()
	statStop()
	tapPids = nil
	for _, p := range pids {
		r.cpu += cpuSeconds(p)
	}
	r.cpu -= cpu0
	r.genPPS = float64(n) / secs
	for _, s := range stops {
		s()
	}
	teardown()
	out := countOut.String()
	switch name {
	case "tcpdump":
		for _, l := range strings.Split(out, "\n") {
			if strings.HasSuffix(l, "packets captured") {
				r.counted, _ = strconv.ParseUint(strings.Fields(l)[0], 10, 64)
			}
		}
	default:
		for _, l := range strings.Split(out, "\n") {
			var v uint64
			if _, err := fmt.Sscanf(l, "frames %d", &v); err == nil {
				r.counted = v
			}
		}
	}
	return r
}

func counterTable(dir string) {
	if out, err := exec.Command("cc", "-O2", "-I", "tap/include", "-o", filepath.Join(dir, "ccount"), "tap/examples/ccount/ccount.c").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "bench/tap: cc ccount: %v\n%s", err, out)
		return
	}
	var rs []countResult
	for _, sz := range [][2]int{{64, *n64}, {1514, *n1514}} {
		names := []string{"tcpdump", "ccount"}
		if *base != "" {
			names = append(names, "ccount-base")
		}
		for _, name := range names {
			r := counterRun(dir, name, sz[0], sz[1])
			fmt.Fprintf(os.Stderr, "%d bytes %-11s counted %d of %d, %.2f CPU s\n", sz[0], name, r.counted, sz[1], r.cpu)
			if v, ok := stats[fmt.Sprintf("%s-%d", name, sz[0])]; ok {
				fmt.Fprintf(os.Stderr, "%d bytes %s: %.3f system calls and %.3f context switches per frame sent (daemon + ccount)\n", sz[0], name, v[0]/float64(sz[1]), v[1]/float64(sz[1]))
			}
			rs = append(rs, r)
		}
	}
	fmt.Printf("\ncounting on a port: tcpdump -w /dev/null vs the C counter on an input tap (daemon + ccount CPU)\n")
	fmt.Printf("%-5s %-11s %9s %10s %9s %8s %12s %6s %11s\n", "bytes", "counter", "frames", "gen_pps", "counted", "cpu_s", "cpu_s/Mframe", "cpu_x", "cpu_s/Msent")
	for _, r := range rs {
		var base countResult
		for _, b := range rs {
			if b.size == r.size && b.name == "tcpdump" {
				base = b
			}
		}
		per := func(x countResult) float64 { return x.cpu / float64(max(x.counted, 1)) * 1e6 }
		fmt.Printf("%-5d %-11s %9d %10.0f %9d %8.2f %12.2f %6.2f %11.2f\n", r.size, r.name, r.n, r.genPPS, r.counted, r.cpu, per(r), per(r)/per(base), r.cpu/float64(r.n)*1e6)
	}
}
