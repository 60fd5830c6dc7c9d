// Command drmon benchmarks dRMON (issue 14), in two parts printed as
// tables:
//
//   - proxy: N simulated agents (a child process, one UDP socket each, on
//     loopback) answer a proxy polling every interval; the proxy is the
//     rmon service with its SNMP agent, as in the daemon. Measured: merge
//     lag (a report sent to its count visible over SNMP), the proxy
//     process's CPU per report and per wall second, its memory.
//
//   - agent: trafgen sends frames to a namespace host where `wirebox agent`
//     and `tcpdump -w /dev/null` both listen on the same interface in the
//     same run; measured: each one's CPU per million frames.
//
//     go build -o /tmp/drmonbench ./bench/drmon && go build -o /tmp/wirebox ./cmd/wirebox
//     sudo /tmp/drmonbench -agents 1000 -rounds 4 -wirebox /tmp/wirebox
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/wirebox/wirebox/bench/internal/benchkit"
	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/rmon"
	"github.com/wirebox/wirebox/rmon/drmon"
	"github.com/wirebox/wirebox/rmon/stats"
)

const benchKey = "drmon benchmark key, 16+ bytes"

func main() {
	agents := flag.Int("agents", 1000, "simulated agents (0: skip the proxy part)")
	interval := flag.Duration("interval", 5*time.Second, "poll interval")
	rounds := flag.Int("rounds", 4, "poll rounds measured (after one warm-up round)")
	frames := flag.Int("frames", 2_000_000, "frames for the agent-cost part (0: skip it)")
	wirebox := flag.String("wirebox", "", "the wirebox binary for the agent-cost part (empty: skip it)")
	profile := flag.String("agent-cpuprofile", "", "write the agent's Go CPU profile here (agent-cost part)")
	child := flag.String("child", "", "internal: run the simulated agents against this proxy address")
	dur := flag.Duration("duration", 0, "internal: how long the child runs")
	flag.Parse()
	var err error
	switch {
	case *child != "":
		err = runAgents(*child, *agents, *dur)
	default:
		if *agents > 0 {
			err = runProxy(*agents, *interval, *rounds)
		}
		if err == nil && *wirebox != "" && *frames > 0 {
			err = runAgentCost(*wirebox, *frames, *profile)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "drmon bench:", err)
		os.Exit(1)
	}
}

// sendLog wraps an agent's socket: after every report it sends, it
// records the time and counts one more frame into the agent, so every
// report carries exactly one new packet.
type sendLog struct {
	net.PacketConn
	a     *drmon.Agent
	frame []byte
	mu    *sync.Mutex
	sent  *[]int64
}

func (c sendLog) WriteTo(b []byte, to net.Addr) (int, error) {
	n, err := c.PacketConn.WriteTo(b, to)
	if err == nil && len(b) > 5 && b[5] == drmon.TypeReport {
		now := time.Now().UnixNano()
		c.mu.Lock()
		*c.sent = append(*c.sent, now)
		c.mu.Unlock()
		c.a.Count([]stats.Frame{{Data: c.frame, WireLen: len(c.frame), TX: true}}, []int64{now})
	}
	return n, err
}

// runAgents is the child: n agents, then the send times on stdout.
func runAgents(proxy string, n int, dur time.Duration) error {
	addr, err := net.ResolveUDPAddr("udp4", proxy)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), dur)
	defer cancel()
	var mu sync.Mutex
	var sent []int64
	var wg sync.WaitGroup
	for i := range n {
		m := [6]byte{0x02, 0xdd, 0, byte(i >> 16), byte(i >> 8), byte(i)}
		a, err := drmon.NewAgent(drmon.AgentConfig{Key: []byte(benchKey), Name: fmt.Sprintf("sim%d", i), MACs: [][6]byte{m}, Proxy: addr,
			HelloInterval: time.Second})
		if err != nil {
			return err
		}
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		f := make([]byte, 60)
		copy(f, []byte{0x02, 0xee, 0, byte(i >> 16), byte(i >> 8), byte(i)})
		copy(f[6:], m[:])
		a.Count([]stats.Frame{{Data: f, WireLen: 60, TX: true}}, []int64{time.Now().UnixNano()})
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.Serve(ctx, sendLog{c, a, f, &mu, &sent})
		}()
	}
	wg.Wait()
	w := bufio.NewWriter(os.Stdout)
	for _, t := range sent {
		fmt.Fprintln(w, t)
	}
	return w.Flush()
}

func freeUDP() (string, error) {
	c, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.LocalAddr().String(), nil
}

func cpuSelf() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssKiB() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			v, _ := strconv.Atoi(f[1])
			return v
		}
	}
	return 0
}

type sample struct {
	t int64
	v uint64
}

func runProxy(n int, interval time.Duration, rounds int) error {
	dir, err := os.MkdirTemp("", "drmonbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(benchKey), 0o600); err != nil {
		return err
	}
	snmpAddr, err := freeUDP()
	if err != nil {
		return err
	}
	pxAddr, err := freeUDP()
	if err != nil {
		return err
	}
	core, closeCore, err := benchkit.NewCore(1024)
	if err != nil {
		return err
	}
	defer closeCore()
	cfg := rmon.Config{Listen: snmpAddr, Communities: []rmon.CommunityConfig{{Name: "bench"}}, MaxHosts: 4 * n, MaxPairs: 4 * n,
		DRMON: &rmon.DRMONConfig{Listen: pxAddr, KeyFile: keyFile, PollInterval: interval.String()}}
	log := slog.New(slog.DiscardHandler)
	svc, err := rmon.New(cfg, func() *capture.Core { return core }, log)
	if err != nil {
		return err
	}
	stop, err := benchkit.Supervise(log, svc)
	if err != nil {
		return err
	}
	defer stop()
	for svc.Addr() == nil {
		time.Sleep(10 * time.Millisecond)
	}
	host, port, _ := net.SplitHostPort(snmpAddr)
	pn, _ := strconv.Atoi(port)
	g := &gosnmp.GoSNMP{Target: host, Port: uint16(pn), Community: "bench", Version: gosnmp.Version2c, Timeout: time.Second, Retries: 2}
	if err := g.Connect(); err != nil {
		return err
	}
	defer g.Conn.Close()
	// etherStatsPkts of the view: ifIndex 1 (the core has no port here).
	pkts := func() (uint64, error) {
		r, err := g.Get([]string{".1.3.6.1.2.1.16.1.1.1.5.1"})
		if err != nil {
			return 0, err
		}
		return gosnmp.ToBigInt(r.Variables[0].Value).Uint64(), nil
	}

	total := interval * time.Duration(rounds+2)
	self, _ := os.Executable()
	cmd := exec.Command(self, "-child", pxAddr, "-agents", fmt.Sprint(n), "-duration", total.String())
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	var sendTimes []int64
	readDone := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if t, err := strconv.ParseInt(sc.Text(), 10, 64); err == nil {
				sendTimes = append(sendTimes, t)
			}
		}
		close(readDone)
	}()
	start := time.Now()
	var samples []sample
	var cpu0 time.Duration
	var wall0 time.Time
	var applied0 uint64
	measuring := false
	for time.Since(start) < total-interval/2 {
		v, err := pkts()
		if err != nil {
			return err
		}
		samples = append(samples, sample{time.Now().UnixNano(), v})
		if !measuring && time.Since(start) > interval+interval/2 {
			measuring, cpu0, wall0 = true, cpuSelf(), time.Now()
			st, _ := svc.Status()
			applied0 = st.DRMON.Applied
		}
		time.Sleep(20 * time.Millisecond)
	}
	cpu1, wall1 := cpuSelf(), time.Now()
	st, err := svc.Status()
	if err != nil {
		return err
	}
	applied := st.DRMON.Applied - applied0
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss := rssKiB()
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("agents: %w", err)
	}
	<-readDone
	// The j-th report sent (in time order) brought the total to j: its lag
	// is from its send to the first SNMP read showing at least j.
	slices.Sort(sendTimes)
	var lags []time.Duration
	k := 0
	for j, ts := range sendTimes {
		for k < len(samples) && samples[k].v < uint64(j+1) {
			k++
		}
		if k == len(samples) {
			break
		}
		lags = append(lags, time.Duration(samples[k].t-ts))
	}
	slices.Sort(lags)
	pct := func(p float64) time.Duration {
		if len(lags) == 0 {
			return 0
		}
		return lags[min(len(lags)-1, int(p*float64(len(lags))))]
	}
	within := 0
	for _, l := range lags {
		if l <= time.Second {
			within++
		}
	}
	agentsSeen := len(st.DRMON.Agents)
	cpu := cpu1 - cpu0
	wall := wall1.Sub(wall0)
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "proxy: %d agents, poll every %s, %d rounds measured (GOMAXPROCS %d)\t\t\n", n, interval, rounds, runtime.GOMAXPROCS(0))
	fmt.Fprintln(tw, "measurement\tvalue\taim\t")
	fmt.Fprintf(tw, "agents known\t%d\t%d\t\n", agentsSeen, n)
	fmt.Fprintf(tw, "reports sent / visible\t%d / %d\t\t\n", len(sendTimes), len(lags))
	fmt.Fprintf(tw, "merge lag median (send -> SNMP)\t%s\t\t\n", pct(0.5).Round(time.Microsecond))
	fmt.Fprintf(tw, "merge lag p99\t%s\t\t\n", pct(0.99).Round(time.Microsecond))
	fmt.Fprintf(tw, "merge lag max\t%s\t<= 1s\t\n", pct(1).Round(time.Microsecond))
	fmt.Fprintf(tw, "reports visible within 1 s\t%.2f %%\t100 %%\t\n", 100*float64(within)/float64(max(len(lags), 1)))
	fmt.Fprintf(tw, "reports applied in the window\t%d\t\t\n", applied)
	fmt.Fprintf(tw, "proxy process CPU per report\t%.1f µs\t\t\n", float64(cpu.Microseconds())/float64(max(applied, 1)))
	fmt.Fprintf(tw, "proxy process CPU\t%.2f %% of a core\t< 10 %%\t\n", 100*cpu.Seconds()/wall.Seconds())
	fmt.Fprintf(tw, "proxy process RSS / Go heap in use\t%d KiB / %d KiB\t\t\n", rss, ms.HeapInuse>>10)
	fmt.Fprintf(tw, "dropped: out of sequence / replayed / bad auth\t%d / %d / %d\t\t\n", st.DRMON.OutOfSequence, st.DRMON.Replayed, st.DRMON.BadAuth)
	return tw.Flush()
}
