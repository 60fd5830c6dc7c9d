// Command ha measures crash failovers of a stateful L4 forwarder pair side
// by side: keepalived (VRRP, 0.01 s adverts) with conntrackd (FTFW) and
// nftables DNAT in the kernel, and the wirebox pair (ha/node, standby
// response and standby first). Each failover runs with a long TCP stream
// and idle connections through the VIP; per failover it records the
// connections lost, the resets the client saw, and the stream's largest
// stall.
//
//	go run ./bench/ha [-reps 10] [-idle 100] [-systems keepalived,wirebox-sr,wirebox-sf]
//
// Needs root, keepalived, conntrackd, nft, tcpdump, ethtool (scripts/deps.sh
// bench). Topology (all namespaces made here and removed at the end):
// client ↔ bridge ↔ two appliances ↔ bridge ↔ servers, plus a peer link
// (and for wirebox a witness link) between the appliances. A crash is the
// active appliance's links going down and its processes killed (SIGKILL
// for keepalived and conntrackd, stopping node and core for wirebox): a
// kernel forwarder whose daemons die goes on forwarding, so killing
// processes alone would not be a crash.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/wirebox/wirebox/bench/internal/benchkit"
	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/ha/hatraffic"
	"github.com/wirebox/wirebox/ha/node"
	"github.com/wirebox/wirebox/tap"
)

var key = []byte("bench pre-shared key for the ha pair")

func main() {
	reps := flag.Int("reps", 10, "crash failovers per system")
	idle := flag.Int("idle", 100, "idle connections beside the stream")
	systems := flag.String("systems", "keepalived,wirebox-sr,wirebox-sf", "systems to measure, in order")
	verbose := flag.Bool("v", false, "log each failover")
	tput := flag.Bool("throughput", false, "measure forwarding throughput (iperf3 TCP, and UDP in 64-byte frames) through nftables NAT, the wirebox forwarder alone and the wirebox pair, instead of failovers")
	secs := flag.Int("t", 5, "seconds per throughput run")
	tsys := flag.String("tput-systems", strings.Join(tputSystems, ","), "systems of -throughput, in order (the first is the ratios' base)")
	cpuprof := flag.String("cpuprofile", "", "write a CPU profile of this process (the wirebox nodes run in it) to this file")
	flag.Parse()
	stopProf, err := benchkit.CPUProfile(*cpuprof)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/ha:", err)
		os.Exit(1)
	}
	defer stopProf()
	if *tput {
		if err := throughput(*secs, strings.Split(*tsys, ",")); err != nil {
			pprof.StopCPUProfile()
			fmt.Fprintln(os.Stderr, "bench/ha:", err)
			os.Exit(1)
		}
		return
	}
	var results []result
	for _, sys := range strings.Split(*systems, ",") {
		r, err := measure(sys, *reps, *idle, *verbose)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench/ha: %s: %v\n", sys, err)
			os.Exit(1)
		}
		results = append(results, r)
	}
	printTable(os.Stdout, results)
}

type failover struct {
	lost, rsts int
	stall      time.Duration
	takeover   time.Duration // crash to the survivor owning the addresses (polled), -1 never
	rejoinLost int           // lost while the crashed node returned, before the next failover
	rst0       int           // the RST count when the crash began
	streamLost bool
}

type result struct {
	system string
	idle   int
	fos    []failover
}

func nsx(ns string, args ...string) error {
	return benchkit.Sh(append([]string{"ip", "netns", "exec", ns}, args...)...)
}

// topo is the namespaces of one run.
type topo struct {
	cl, sw1, sw2, sv, a, b string
	dir                    string
}

func newTopo(kernel bool) (*topo, error) {
	var r [3]byte
	rand.Read(r[:])
	id := hex.EncodeToString(r[:])
	t := &topo{cl: "wbh-cl-" + id, sw1: "wbh-s1-" + id, sw2: "wbh-s2-" + id, sv: "wbh-sv-" + id, a: "wbh-a-" + id, b: "wbh-b-" + id}
	dir, err := os.MkdirTemp("", "bench-ha-")
	if err != nil {
		return nil, err
	}
	t.dir = dir
	cmds := [][]string{}
	for _, ns := range []string{t.cl, t.sw1, t.sw2, t.sv, t.a, t.b} {
		cmds = append(cmds, []string{"ip", "netns", "add", ns},
			[]string{"ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"},
			[]string{"ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"})
	}
	for _, sw := range []string{t.sw1, t.sw2} {
		cmds = append(cmds, []string{"ip", "netns", "exec", sw, "ip", "link", "add", "br0", "type", "bridge"},
			[]string{"ip", "netns", "exec", sw, "ip", "link", "set", "br0", "up"})
	}
	link := func(ns, dev, sw, port string) {
		cmds = append(cmds, []string{"ip", "link", "add", dev, "netns", ns, "type", "veth", "peer", "name", port, "netns", sw},
			[]string{"ip", "netns", "exec", sw, "ip", "link", "set", port, "master", "br0", "up"},
			[]string{"ip", "netns", "exec", sw, "ethtool", "-K", port, "gro", "off", "tx", "off", "tso", "off", "gso", "off"},
			[]string{"ip", "netns", "exec", ns, "ip", "link", "set", dev, "up"})
	}
	link(t.cl, "c0", t.sw1, "s1c")
	link(t.a, "a0", t.sw1, "s1a")
	link(t.b, "b0", t.sw1, "s1b")
	link(t.a, "a1", t.sw2, "s2a")
	link(t.b, "b1", t.sw2, "s2b")
	link(t.sv, "s0", t.sw2, "s2s")
	cmds = append(cmds,
		[]string{"ip", "netns", "exec", t.cl, "ip", "addr", "add", hatraffic.ClientIP + "/24", "dev", "c0"},
		[]string{"ip", "netns", "exec", t.cl, "ethtool", "-K", "c0", "tx", "off", "tso", "off", "gso", "off", "gro", "on"},
		[]string{"ip", "netns", "exec", t.sv, "ip", "addr", "add", hatraffic.Server1 + "/24", "dev", "s0"},
		[]string{"ip", "netns", "exec", t.sv, "ip", "addr", "add", hatraffic.Server2 + "/24", "dev", "s0"},
		[]string{"ip", "netns", "exec", t.sv, "ethtool", "-K", "s0", "tx", "off", "tso", "off", "gso", "off", "gro", "on"},
		[]string{"ip", "netns", "exec", t.sv, "ip", "route", "add", "10.0.1.0/24", "via", hatraffic.Gateway},
	)
	// The appliances' own links: peer (pa-pb, 10.0.9.0/24) and witness
	// (wa-wb, 10.0.8.0/24).
	for _, l := range [][4]string{{"pa", "pb", "10.0.9.1/24", "10.0.9.2/24"}, {"wa", "wb", "10.0.8.1/24", "10.0.8.2/24"}} {
		cmds = append(cmds, []string{"ip", "link", "add", l[0], "netns", t.a, "type", "veth", "peer", "name", l[1], "netns", t.b},
			[]string{"ip", "netns", "exec", t.a, "ip", "addr", "add", l[2], "dev", l[0]},
			[]string{"ip", "netns", "exec", t.b, "ip", "addr", "add", l[3], "dev", l[1]},
			[]string{"ip", "netns", "exec", t.a, "ip", "link", "set", l[0], "up"},
			[]string{"ip", "netns", "exec", t.b, "ip", "link", "set", l[1], "up"})
	}
	if kernel {
		cmds = append(cmds,
			[]string{"ip", "netns", "exec", t.a, "ip", "addr", "add", "10.0.1.2/24", "dev", "a0"},
			[]string{"ip", "netns", "exec", t.a, "ip", "addr", "add", "10.0.2.2/24", "dev", "a1"},
			[]string{"ip", "netns", "exec", t.b, "ip", "addr", "add", "10.0.1.3/24", "dev", "b0"},
			[]string{"ip", "netns", "exec", t.b, "ip", "addr", "add", "10.0.2.3/24", "dev", "b1"},
			[]string{"ip", "netns", "exec", t.a, "sysctl", "-qw", "net.ipv4.ip_forward=1"},
			[]string{"ip", "netns", "exec", t.b, "sysctl", "-qw", "net.ipv4.ip_forward=1"})
	} else {
		for _, d := range [][2]string{{t.a, "a0"}, {t.a, "a1"}, {t.b, "b0"}, {t.b, "b1"}} {
			cmds = append(cmds, []string{"ip", "netns", "exec", d[0], "ethtool", "-K", d[1], "gro", "on"})
		}
	}
	if err := benchkit.ShAll(cmds); err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

func (t *topo) close() {
	for _, ns := range []string{t.cl, t.sw1, t.sw2, t.sv, t.a, t.b} {
		_ = benchkit.Sh("ip", "netns", "del", ns)
	}
	os.RemoveAll(t.dir)
}

// linkState sets an appliance's links up or down (a crash takes them down).
func (t *topo) linkState(a bool, up string) error {
	ns, devs := t.a, []string{"a0", "a1", "pa", "wa"}
	if !a {
		ns, devs = t.b, []string{"b0", "b1", "pb", "wb"}
	}
	// One ip process for all four links: a crash takes them down at once
	// (one command per link left the peer link up for tens of ms after
	// the data links on a loaded machine, which the stall then counted).
	var batch strings.Builder
	for _, d := range devs {
		fmt.Fprintf(&batch, "link set %s %s\n", d, up)
	}
	cmd := exec.Command("ip", "-n", ns, "-batch", "-")
	cmd.Stdin = strings.NewReader(batch.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("ip -n %s -batch: %v: %s", ns, err, out)
	}
	if up != "up" {
		return nil
	}
	// Daemons started before the carrier is there find no link to use.
	return waitFor(10*time.Second, func() bool {
		for _, d := range devs {
			out, err := exec.Command("ip", "netns", "exec", ns, "ip", "link", "show", d).Output()
			if err != nil || !strings.Contains(string(out), "LOWER_UP") {
				return false
			}
		}
		return true
	})
}

// pairSystem is one of the measured pairs.
type pairSystem interface {
	start(a bool) error // start (or restart) one appliance
	crash(a bool)       // links down, processes gone
	active() (a bool, ok bool)
	owns(a bool) bool // a serves the addresses (safe beside a crash of the other)
	ready() bool      // both up, the standby holds the state
	close()
}

func measure(sys string, reps, idle int, verbose bool) (result, error) {
	res := result{system: sys, idle: idle}
	kernel := sys == "keepalived"
	t, err := newTopo(kernel)
	if err != nil {
		return res, err
	}
	defer t.close()
	stopServers, err := hatraffic.Servers(nsPath(t.sv), hatraffic.Service(false).Backends, false)
	if err != nil {
		return res, err
	}
	defer stopServers()
	var p pairSystem
	switch sys {
	case "keepalived":
		p = &kernelPair{t: t}
	case "wirebox-sr":
		p = &wbPair{t: t, mode: node.StandbyResponse}
	case "wirebox-sf":
		p = &wbPair{t: t, mode: node.StandbyFirst}
	default:
		return res, fmt.Errorf("unknown system %q", sys)
	}
	defer p.close()
	if err := p.start(true); err != nil {
		return res, err
	}
	if err := waitFor(20*time.Second, func() bool { a, ok := p.active(); return ok && a }); err != nil {
		return res, fmt.Errorf("appliance A never became active: %w", err)
	}
	if err := p.start(false); err != nil {
		return res, err
	}
	if err := waitReady(p, 30*time.Second); err != nil {
		return res, fmt.Errorf("the pair never got ready: %w", err)
	}
	rst, err := hatraffic.StartRSTWatch(exec.Command("ip", append([]string{"netns", "exec", t.cl}, hatraffic.RSTArgs("c0")...)...))
	if err != nil {
		return res, err
	}
	defer rst.Stop()
	if pcap := os.Getenv("BENCH_HA_PCAP"); pcap != "" {
		// Headers of everything the client sees, to find where a stall
		// comes from (retransmission timers, the address move).
		for _, c := range [][3]string{{t.cl, "c0", "client"}, {t.sv, "s0", "server"}} {
			cap := exec.Command("ip", "netns", "exec", c[0], "tcpdump", "-i", c[1], "-s", "128", "-w", pcap+"."+sys+"."+c[2])
			if err := cap.Start(); err != nil {
				return res, err
			}
			defer func() { _ = cap.Process.Signal(syscall.SIGTERM); _ = cap.Wait() }()
		}
	}
	var s *hatraffic.Stream
	var conns []net.Conn
	defer func() {
		if s != nil {
			s.End()
		}
		for _, c := range conns {
			c.Close()
		}
	}()
	// newStream dials the stream again, up to five times: a dial refused
	// or reset while the pair settles after a rejoin counts as a
	// connection lost at that rejoin.
	newStream := func() (*hatraffic.Stream, error) {
		for try := 0; ; try++ {
			c, err := dial(t.cl)
			if err == nil {
				return startStream(c), nil
			}
			if len(res.fos) == 0 || try == 4 {
				return nil, err
			}
			res.fos[len(res.fos)-1].rejoinLost++
			time.Sleep(time.Second)
		}
	}
	for rep := 0; rep <= reps; rep++ {
		// What the return of the last crashed node cost (a node that
		// claims the address before it has the state resets connections),
		// counted with that failover; then fresh connections for the lost.
		if rep > 0 {
			lost := pingAll(conns, 10*time.Second)
			if !res.fos[rep-1].streamLost && s.Progress(64<<10, 10*time.Second) != nil {
				lost++
			}
			res.fos[rep-1].rejoinLost = lost
			res.fos[rep-1].rsts = rst.Count() - res.fos[rep-1].rst0 // updated again below if the settling costs more
			if verbose && lost > 0 {
				fmt.Fprintf(os.Stderr, "%s: %d connections lost while the crashed node returned\n", sys, lost)
			}
			conns = keepAlive(conns)
		}
		if rep == reps {
			break
		}
		if s == nil || s.Err() != nil {
			if s != nil {
				s.End()
			}
			if s, err = newStream(); err != nil {
				return res, err
			}
		}
		// New connections can die too while the pair settles after a
		// rejoin: count them with the last failover and try again.
		for try := 0; ; try++ {
			dead := 0
			for len(conns) < idle {
				c, err := dial(t.cl)
				if err != nil {
					// Refused or reset while the pair settles (keepalived
					// lets both nodes answer for a moment): counted like a
					// connection lost at the rejoin.
					if rep == 0 || try == 5 {
						return res, err
					}
					dead++
					break
				}
				conns = append(conns, c)
			}
			dead += pingAll(conns, 10*time.Second)
			if dead == 0 {
				break
			}
			if rep == 0 || try == 5 {
				return res, fmt.Errorf("%d idle connections dead before failover %d", dead, rep)
			}
			res.fos[rep-1].rejoinLost += dead
			conns = keepAlive(conns)
			if err := waitFor(60*time.Second, p.ready); err != nil {
				return res, err
			}
			time.Sleep(time.Second)
		}
		if s.Err() != nil {
			s.End()
			if s, err = newStream(); err != nil {
				return res, err
			}
		}
		for try := 0; ; try++ {
			perr := s.Progress(256<<10, 20*time.Second)
			if perr == nil {
				break
			}
			// A stream reset while the pair settled after the last
			// rejoin: lost at that rejoin; a new one for this failover.
			if s.Err() == nil || rep == 0 || try == 5 {
				return res, fmt.Errorf("before failover %d: %w", rep, perr)
			}
			res.fos[rep-1].rejoinLost++
			s.End()
			time.Sleep(time.Second)
			if s, err = newStream(); err != nil {
				return res, err
			}
		}
		time.Sleep(200 * time.Millisecond) // let state sync catch up, as it would in service
		act, _ := p.active()
		rst0 := rst.Count()
		if rep > 0 {
			res.fos[rep-1].rsts = rst0 - res.fos[rep-1].rst0
		}
		s.MaxStall.Store(0)
		// The survivor's takeover, polled beside the crash.
		crashAt := time.Now()
		tookc := make(chan time.Duration, 1)
		go func() {
			if waitFor(10*time.Second, func() bool { return p.owns(!act) }) != nil {
				tookc <- -1
				return
			}
			tookc <- time.Since(crashAt)
		}()
		p.crash(act)
		// The stream either moves on or breaks; idle connections answer or not.
		streamErr := s.Progress(256<<10, 15*time.Second)
		lost := pingAll(conns, 10*time.Second)
		if streamErr != nil || s.Err() != nil {
			lost++
		}
		// Reconnect the lost idle connections before the next failover.
		conns = keepAlive(conns)
		time.Sleep(300 * time.Millisecond) // resets to the client arrive, tcpdump prints them
		fo := failover{lost: lost, rsts: rst.Count() - rst0, rst0: rst0, stall: time.Duration(s.MaxStall.Load()), takeover: <-tookc}
		if streamErr != nil || s.Err() != nil {
			fo.stall, fo.streamLost = -1, true
		}
		res.fos = append(res.fos, fo)
		if verbose {
			fmt.Fprintf(os.Stderr, "%s failover %d: lost %d, resets %d, takeover %v, stall %v\n", sys, rep+1, fo.lost, fo.rsts, fo.takeover, fo.stall)
		}
		// The crashed appliance returns and becomes the standby.
		if err := t.linkState(act, "up"); err != nil {
			return res, err
		}
		if err := p.start(act); err != nil {
			return res, err
		}
		if err := waitReady(p, 60*time.Second); err != nil {
			return res, fmt.Errorf("after failover %d the pair never got ready: %w", rep, err)
		}
	}
	return res, nil
}

func waitFor(d time.Duration, cond func() bool) error { return hatraffic.WaitFor(d, cond) }

// waitReady waits up to d for the pair to be ready; when it is not, the
// pair's state (if it can dump one) goes to stderr.
func waitReady(p pairSystem, d time.Duration) error {
	err := waitFor(d, p.ready)
	if dp, ok := p.(interface{ dump() string }); ok && err != nil {
		fmt.Fprintln(os.Stderr, dp.dump())
	}
	return err
}

// --- wirebox --------------------------------------------------------------

type wbMember struct {
	pool   *tap.Pool
	core   *capture.Core
	node   *node.Node
	cancel context.CancelFunc
	done   chan error
}

type wbPair struct {
	t      *topo
	mode   node.Mode
	m      [2]*wbMember // A, B
	alone  bool         // no peer: the forwarder alone
	single bool         // one backend (iperf3's control and data connections must meet)
}

func (w *wbPair) idx(a bool) int {
	if a {
		return 0
	}
	return 1
}

func (w *wbPair) start(a bool) error {
	ns, cp, sp, me, them, wme, wthem, prio := w.t.a, "a0", "a1", "10.0.9.1", "10.0.9.2", "10.0.8.1", "10.0.8.2", uint8(200)
	if !a {
		ns, cp, sp, me, them, wme, wthem, prio = w.t.b, "b0", "b1", them, me, wthem, wme, 100
	}
	pool, err := tap.NewPool(tap.Config{Frames: 8192})
	if err != nil {
		return err
	}
	core := capture.NewCore(pool, slog.New(slog.DiscardHandler))
	m := &wbMember{pool: pool, core: core, done: make(chan error, 1)}
	for _, p := range []string{cp, sp} {
		if _, err := core.OpenPort(capture.PortConfig{Name: p, Mode: capture.Bypass, NetNS: "/run/netns/" + ns}); err != nil {
			core.Close()
			pool.Close()
			return err
		}
	}
	svc := hatraffic.Service(false)
	if w.single {
		svc.Backends, svc.UDP = svc.Backends[:1], true
	}
	cfg := node.Config{ClientPort: cp, ServerPort: sp, Gateway: netip.MustParseAddr(hatraffic.Gateway), Service: svc,
		Peer: &node.PeerConfig{Listen: netip.MustParseAddrPort(me + ":7400"), Address: netip.MustParseAddrPort(them + ":7400"),
			Key: key, NetNS: "/run/netns/" + ns, Interval: 10 * time.Millisecond, DeadAfter: 3, Priority: prio, Mode: w.mode,
			WitnessListen: netip.MustParseAddrPort(wme + ":7401"), Witness: netip.MustParseAddrPort(wthem + ":7401")}}
	if w.alone {
		cfg.Peer = nil
	}
	log := slog.New(slog.DiscardHandler)
	if os.Getenv("BENCH_HA_LOG") != "" { // the nodes' log on stderr, to see what a failover did
		log = slog.New(slog.NewTextHandler(os.Stderr, nil)).With("node", map[bool]string{true: "A", false: "B"}[a])
	}
	n, err := node.New(core, cfg, log)
	if err != nil {
		core.Close()
		pool.Close()
		return err
	}
	m.node = n
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	ready := make(chan struct{})
	go func() { m.done <- n.Run(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-m.done:
		return err
	}
	w.m[w.idx(a)] = m
	return nil
}

func (m *wbMember) stop() {
	m.cancel()
	<-m.done
	m.core.Close()
	m.pool.Close()
}

func (w *wbPair) crash(a bool) {
	_ = w.t.linkState(a, "down")
	if m := w.m[w.idx(a)]; m != nil {
		m.stop()
		w.m[w.idx(a)] = nil
	}
}

func (w *wbPair) active() (bool, bool) {
	for i, m := range w.m {
		if m != nil && m.node.Status().Role == "active" {
			return i == 0, true
		}
	}
	return false, false
}

func (w *wbPair) owns(a bool) bool {
	m := w.m[w.idx(a)]
	return m != nil && m.node.Status().Role == "active"
}

func (w *wbPair) ready() bool {
	if w.m[0] == nil || w.m[1] == nil {
		return false
	}
	for _, m := range w.m {
		if st := m.node.Status(); st.Role == "standby" && st.InSync && st.PeerAlive {
			return true
		}
	}
	return false
}

func (w *wbPair) close() {
	for i, m := range w.m {
		if m != nil {
			m.stop()
			w.m[i] = nil
		}
	}
}

// --- keepalived + conntrackd + nftables -------------------------------------

type kernelPair struct {
	t      *topo
	procs  [2][]*exec.Cmd
	starts int
}

const nftRules = `
table ip bench {
	chain pre {
		type nat hook prerouting priority dstnat; policy accept;
		ip daddr %s tcp dport 80 dnat ip to numgen inc mod 2 map { 0 : %s . 8080, 1 : %s . 8081 }
	}
}
`

func (k *kernelPair) files(a bool) (ns, me, peer, dev0, dev1, name string, prio int) {
	if a {
		return k.t.a, "10.0.9.1", "10.0.9.2", "a0", "a1", "A", 200
	}
	return k.t.b, "10.0.9.2", "10.0.9.1", "b0", "b1", "B", 100
}

func (k *kernelPair) start(a bool) error {
	ns, me, peer, dev0, dev1, name, prio := k.files(a)
	dir := k.t.dir
	nft := filepath.Join(dir, name+".nft")
	if err := os.WriteFile(nft, fmt.Appendf(nil, nftRules, hatraffic.VIP, hatraffic.Server1, hatraffic.Server2), 0o600); err != nil {
		return err
	}
	if err := nsx(ns, "nft", "-f", nft); err != nil && !strings.Contains(err.Error(), "exists") {
		return err
	}
	ctl := filepath.Join(dir, name+".ctl")
	ctconf := filepath.Join(dir, name+"-conntrackd.conf")
	conf := fmt.Sprintf(`Sync {
	Mode FTFW {
		DisableExternalCache Off
		CommitTimeout 1800
		PurgeTimeout 5
	}
	UDP {
		IPv4_address %s
		IPv4_Destination_Address %s
		Port 3780
		Interface %s
		SndSocketBuffer 1249280
		RcvSocketBuffer 1249280
		Checksum on
	}
}
General {
	Systemd off
	HashSize 32768
	HashLimit 131072
	LogFile %s
	Syslog off
	LockFile %s
	UNIX {
		Path %s
		Backlog 20
	}
	NetlinkBufferSize 2097152
	NetlinkBufferSizeMaxGrowth 8388608
	Filter From Userspace {
		Protocol Accept {
			TCP
			UDP
		}
		Address Ignore {
			IPv4_address 127.0.0.1
			IPv4_address 10.0.9.0/24
		}
	}
}
`, me, peer, map[bool]string{true: "pa", false: "pb"}[a], filepath.Join(dir, name+"-conntrackd.log"), filepath.Join(dir, name+".lock"), ctl)
	if err := os.WriteFile(ctconf, []byte(conf), 0o600); err != nil {
		return err
	}
	os.Remove(filepath.Join(dir, name+".lock"))
	os.Remove(ctl)
	notify := filepath.Join(dir, name+"-notify.sh")
	// What conntrackd's primary-backup.sh does on each transition.
	script := fmt.Sprintf(`#!/bin/sh
C="/usr/sbin/conntrackd -C %s"
case "$3" in
MASTER) $C -c; $C -f; $C -R; $C -B ;;
BACKUP) $C -t; $C -n ;;
FAULT) $C -t ;;
esac
exit 0
`, ctconf)
	if err := os.WriteFile(notify, []byte(script), 0o700); err != nil {
		return err
	}
	kconf := filepath.Join(dir, name+"-keepalived.conf")
	kc := fmt.Sprintf(`global_defs {
	router_id %s
	enable_script_security
	script_user root
	vrrp_garp_master_delay 1
	vrrp_garp_master_repeat 3
}
vrrp_sync_group G {
	group {
		VIP
		GW
	}
	notify %s
}
vrrp_instance VIP {
	state BACKUP
	nopreempt
	interface %s
	virtual_router_id 51
	priority %d
	version 3
	advert_int 0.01
	virtual_ipaddress {
		%s/24
	}
}
vrrp_instance GW {
	state BACKUP
	nopreempt
	interface %s
	virtual_router_id 52
	priority %d
	version 3
	advert_int 0.01
	virtual_ipaddress {
		%s/24
	}
}
`, name, notify, dev0, prio, hatraffic.VIP, dev1, prio, hatraffic.Gateway)
	if err := os.WriteFile(kconf, []byte(kc), 0o600); err != nil {
		return err
	}
	ct := exec.Command("ip", "netns", "exec", ns, "conntrackd", "-C", ctconf)
	ct.Stdout, ct.Stderr = io.Discard, io.Discard
	if err := ct.Start(); err != nil {
		return err
	}
	// conntrackd must be listening before keepalived's first notify.
	if err := waitFor(10*time.Second, func() bool { _, err := os.Stat(ctl); return err == nil }); err != nil {
		ct.Process.Kill()
		ct.Wait()
		return fmt.Errorf("conntrackd %s did not start: %w", name, err)
	}
	k.starts++
	run := fmt.Sprintf("%s-%d", name, k.starts) // pid files of a killed instance stay behind
	ka := exec.Command("ip", "netns", "exec", ns, "keepalived", "-n", "-l", "-D", "-f", kconf,
		"-p", filepath.Join(dir, run+"-ka.pid"), "-r", filepath.Join(dir, run+"-vrrp.pid"), "-c", filepath.Join(dir, run+"-chk.pid"),
		"-i", name)
	klog, err := os.Create(filepath.Join(dir, run+"-keepalived.log"))
	if err != nil {
		return err
	}
	defer klog.Close()
	ka.Stdout, ka.Stderr = klog, klog
	ka.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := ka.Start(); err != nil {
		ct.Process.Kill()
		ct.Wait()
		return err
	}
	k.procs[k.idx(a)] = []*exec.Cmd{ka, ct}
	return nil
}

func (k *kernelPair) idx(a bool) int {
	if a {
		return 0
	}
	return 1
}

// kill ends one appliance's processes with SIGKILL: keepalived's process
// group (it forks a VRRP child), then conntrackd.
func (k *kernelPair) kill(i int) {
	for j, c := range k.procs[i] {
		if j == 0 {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
		_ = c.Process.Kill()
		_ = c.Wait()
	}
	k.procs[i] = nil
}

func (k *kernelPair) crash(a bool) {
	_ = k.t.linkState(a, "down")
	k.kill(k.idx(a))
	ns, _, _, dev0, dev1, _, _ := k.files(a)
	// The addresses a killed keepalived leaves behind, and the kernel's
	// connection table: a crashed box keeps neither.
	_ = nsx(ns, "ip", "addr", "del", hatraffic.VIP+"/24", "dev", dev0)
	_ = nsx(ns, "ip", "addr", "del", hatraffic.Gateway+"/24", "dev", dev1)
	_ = nsx(ns, "conntrack", "-F")
}

func (k *kernelPair) hasVIP(a bool) bool {
	ns, _, _, dev0, _, _, _ := k.files(a)
	out, err := exec.Command("ip", "netns", "exec", ns, "ip", "-4", "addr", "show", "dev", dev0).Output()
	return err == nil && strings.Contains(string(out), hatraffic.VIP+"/")
}

func (k *kernelPair) owns(a bool) bool { return k.hasVIP(a) }

func (k *kernelPair) active() (bool, bool) {
	for _, a := range []bool{true, false} {
		if k.procs[k.idx(a)] != nil && k.hasVIP(a) {
			return a, true
		}
	}
	return false, false
}

// ready: both run, one holds the VIP, and the standby's external cache
// holds the active's connections (conntrackd -s ext counts them).
func (k *kernelPair) ready() bool {
	if k.procs[0] == nil || k.procs[1] == nil {
		return false
	}
	act, ok := k.active()
	if !ok {
		return false
	}
	ans, _, _, _, _, _, _ := k.files(act)
	sns, _, _, _, _, sname, _ := k.files(!act)
	// The service's connections: in the active's kernel table, and in the
	// standby's external cache (what conntrackd would commit).
	kernel, err := exec.Command("ip", "netns", "exec", ans, "conntrack", "-L", "-p", "tcp", "--orig-dst", hatraffic.VIP).Output()
	if err != nil {
		return false
	}
	want := strings.Count(string(kernel), "dport=80 ")
	ext, err := exec.Command("ip", "netns", "exec", sns, "conntrackd", "-C", filepath.Join(k.t.dir, sname+"-conntrackd.conf"), "-e").Output()
	if err != nil {
		return false
	}
	return strings.Count(string(ext), "dst="+hatraffic.VIP+" ") >= want
}

func (k *kernelPair) dump() string {
	var b strings.Builder
	for _, a := range []bool{true, false} {
		ns, _, _, _, _, name, _ := k.files(a)
		for _, c := range [][]string{{"ip", "-4", "addr"}, {"conntrack", "-C"},
			{"conntrackd", "-C", filepath.Join(k.t.dir, name+"-conntrackd.conf"), "-e"}} {
			out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, c...)...).CombinedOutput()
			fmt.Fprintf(&b, "%s %v: %v\n%s\n", name, c, err, out)
		}
		log, _ := os.ReadFile(filepath.Join(k.t.dir, name+"-conntrackd.log"))
		fmt.Fprintf(&b, "%s conntrackd log:\n%s\n", name, log)
		logs, _ := filepath.Glob(filepath.Join(k.t.dir, name+"-*-keepalived.log"))
		for _, l := range logs {
			text, _ := os.ReadFile(l)
			fmt.Fprintf(&b, "%s:\n%s\n", filepath.Base(l), text)
		}
	}
	return b.String()
}

func (k *kernelPair) close() {
	for i := range k.procs {
		if k.procs[i] != nil {
			k.kill(i)
		}
	}
}

// --- traffic ---------------------------------------------------------------

func nsPath(ns string) string { return "/run/netns/" + ns }

func dial(ns string) (net.Conn, error) { return hatraffic.Dial(nsPath(ns), "tcp", hatraffic.VIP+":80") }

func startStream(c net.Conn) *hatraffic.Stream {
	return hatraffic.StartStream(c, hatraffic.StreamOptions{})
}

// pingAll echoes a line on each connection in parallel and returns how
// many failed (a failed one is closed and removed by keepAlive).
func pingAll(conns []net.Conn, timeout time.Duration) int {
	dead, _ := hatraffic.PingAll(conns, "ping", timeout)
	for _, i := range dead {
		deadConns.Store(conns[i], true)
	}
	return len(dead)
}

var deadConns sync.Map

// keepAlive drops the dead connections from the set.
func keepAlive(conns []net.Conn) []net.Conn {
	return slices.DeleteFunc(conns, func(c net.Conn) bool {
		if _, dead := deadConns.LoadAndDelete(c); dead {
			c.Close()
			return true
		}
		return false
	})
}

// --- table -----------------------------------------------------------------

func printTable(w io.Writer, rs []result) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "system\tfailovers\tclean (no loss, no RST)\tconnections lost\tlost at rejoin\tresets seen\ttakeover median\tstall median\tstall max\tstall < 100 ms")
	medians := map[string]time.Duration{}
	for _, r := range rs {
		lost, rejoin, rsts, clean, fast := 0, 0, 0, 0, 0
		var stalls, takeovers []time.Duration
		for _, f := range r.fos {
			if f.takeover >= 0 {
				takeovers = append(takeovers, f.takeover)
			}
			lost += f.lost
			rejoin += f.rejoinLost
			rsts += f.rsts
			if f.lost == 0 && f.rejoinLost == 0 && f.rsts == 0 {
				clean++
			}
			if f.stall >= 0 {
				stalls = append(stalls, f.stall)
				if f.stall < 100*time.Millisecond {
					fast++
				}
			}
		}
		slices.Sort(stalls)
		med, mx := "-", "-"
		if len(stalls) > 0 {
			med = stalls[len(stalls)/2].Round(time.Millisecond).String()
			mx = stalls[len(stalls)-1].Round(time.Millisecond).String()
			medians[r.system] = stalls[len(stalls)/2]
		}
		tmed := "-"
		if len(takeovers) > 0 {
			slices.Sort(takeovers)
			tmed = takeovers[len(takeovers)/2].Round(time.Millisecond).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d of %d\t%d\t%d\t%s\t%s\t%s\t%d\n", r.system, len(r.fos), clean, lost, len(r.fos)*(r.idle+1), rejoin, rsts, tmed, med, mx, fast)
	}
	tw.Flush()
	if ka := medians["keepalived"]; ka > 0 {
		for _, r := range rs {
			if m := medians[r.system]; r.system != "keepalived" && m > 0 {
				fmt.Fprintf(w, "stall median, keepalived / %s: %.1f\n", r.system, float64(ka)/float64(m))
			}
		}
	}
	fmt.Fprintln(w, "(takeover: from the crash to the survivor serving the addresses, polled;")
	fmt.Fprintln(w, " stall: the stream's longest gap between reads during the failover; - when the stream was lost.")
	fmt.Fprintln(w, " resets: RSTs the client saw from the crash to the next failover, the rejoin included; clean: no loss and no RST in that span)")
}
