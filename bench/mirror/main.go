// Command mirror measures the mirror tunnel against the alternatives in one
// run: iperf3 TCP throughput (client to lab host and back) and ping RTT
// (median, p99) from a client namespace to a lab host namespace through
//
//	(a) a direct veth pair,
//	(b) kernel VXLAN over a veth underlay,
//	(c) a plain TAP-over-TCP tunnel of etherpuppet's design (a length
//	    prefix per frame, one read and one write per frame, no TLS),
//	    bridged to the lab veth on the middle namespace,
//	(d) wirebox mirror with TLS 1.3: the server on the capture core with
//	    a bypass (AF_XDP) port on the lab veth, the client's TAP (with TSO
//	    and checksum offload and user-space GRO, and again without).
//
// and prints a table with ratios to VXLAN.
//
//	go run ./bench/mirror [-t 5s] [-pings 500]
//
// Needs root, iperf3, ping and ethtool. Creates network namespaces
// (wbb-*) and removes them at the end; traffic stays inside them.
package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/bench/internal/benchkit"
	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/mirror"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "tcptap" {
		if err := tcptap(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "tcptap:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "attach" {
		if err := attach(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "attach:", err)
			os.Exit(1)
		}
		return
	}
	dur := flag.Duration("t", 5*time.Second, "iperf3 duration per direction")
	pings := flag.Int("pings", 500, "pings per path")
	only := flag.String("only", "", "comma-separated paths to run (direct,vxlan,tcptap,mirror,mirror-nooffload)")
	flag.StringVar(&profDir, "profile", "", "write CPU profiles of the mirror server and client into this directory")
	flag.Parse()
	if profDir != "" {
		stopProf, err := benchkit.CPUProfile(filepath.Join(profDir, "server.pprof"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		defer stopProf()
	}
	if err := run(*dur, *pings, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench/mirror:", err)
		os.Exit(1) //nolint: the profile is lost on failure
	}
}

var profDir string

type result struct {
	path        string
	fwd, rev    float64 // bit/s
	median, p99 time.Duration
}

var sh = benchkit.Sh

// ns is a named namespace made for the run.
type ns string

func newNS(tag string) (ns, error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	n := ns("wbb-" + hex.EncodeToString(b[:]) + "-" + tag)
	if err := sh("ip", "netns", "add", string(n)); err != nil {
		return "", err
	}
	return n, n.sh("ip", "link", "set", "lo", "up")
}

func (n ns) sh(args ...string) error {
	return sh(append([]string{"ip", "netns", "exec", string(n)}, args...)...)
}

func (n ns) cmd(args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", string(n)}, args...)...)
}

func (n ns) path() string { return "/run/netns/" + string(n) }

func (n ns) del() { _ = sh("ip", "netns", "del", string(n)) }

// veth links a in na with b in nb and sets both up.
func veth(na ns, a string, nb ns, b string) error {
	if err := sh("ip", "link", "add", a, "netns", string(na), "type", "veth", "peer", "name", b, "netns", string(nb)); err != nil {
		return err
	}
	if err := na.sh("ip", "link", "set", a, "up"); err != nil {
		return err
	}
	return nb.sh("ip", "link", "set", b, "up")
}

func run(dur time.Duration, pings int, only string) error {
	if err := benchkit.Require("iperf3", "ping", "ethtool", "ip"); err != nil {
		return err
	}
	paths := []struct {
		name  string
		setup func() (ns, ns, string, func(), error)
	}{
		{"direct veth", setupDirect},
		{"kernel VXLAN", setupVXLAN},
		{"TAP over TCP (etherpuppet design)", setupTCPTap},
		{"wirebox mirror (TLS 1.3)", func() (ns, ns, string, func(), error) { return setupMirror(true) }},
		{"wirebox mirror, TAP offloads off", func() (ns, ns, string, func(), error) { return setupMirror(false) }},
	}
	keys := []string{"direct", "vxlan", "tcptap", "mirror", "mirror-nooffload"}
	var results []result
	for i, p := range paths {
		if only != "" && !strings.Contains(","+only+",", ","+keys[i]+",") {
			continue
		}
		fmt.Fprintf(os.Stderr, "== %s\n", p.name)
		client, host, target, cleanup, err := p.setup()
		if err != nil {
			if cleanup != nil {
				cleanup()
			}
			return fmt.Errorf("%s: %w", p.name, err)
		}
		r := result{path: p.name}
		r.median, r.p99, err = pingRTT(client, target, pings)
		if err == nil {
			r.fwd, err = iperf(client, host, target, dur, false)
		}
		if err == nil {
			r.rev, err = iperf(client, host, target, dur, true)
		}
		cleanup()
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		results = append(results, r)
	}
	print(results)
	return nil
}

func print(rs []result) {
	var vx, direct *result
	for i := range rs {
		switch rs[i].path {
		case "kernel VXLAN":
			vx = &rs[i]
		case "direct veth":
			direct = &rs[i]
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "path\tTCP to lab Gbit/s\tTCP from lab Gbit/s\tx VXLAN (to/from)\tRTT median µs\tRTT p99 µs\tRTT added vs direct µs\t")
	for _, r := range rs {
		ratio, added := "-", "-"
		if vx != nil && vx.fwd > 0 && vx.rev > 0 {
			ratio = fmt.Sprintf("%.2f / %.2f", r.fwd/vx.fwd, r.rev/vx.rev)
		}
		if direct != nil {
			added = fmt.Sprintf("%.0f", float64(r.median-direct.median)/1e3)
		}
		fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%s\t%.0f\t%.0f\t%s\t\n", r.path, r.fwd/1e9, r.rev/1e9, ratio,
			float64(r.median)/1e3, float64(r.p99)/1e3, added)
	}
	tw.Flush()
}

var rttRe = regexp.MustCompile(`time=([0-9.]+) ms`)

func pingRTT(client ns, target string, n int) (time.Duration, time.Duration, error) {
	out, err := client.cmd("ping", "-c", strconv.Itoa(n), "-i", "0.005", "-W", "2", target).CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("ping: %v: %s", err, out)
	}
	var rtts []time.Duration
	for _, m := range rttRe.FindAllStringSubmatch(string(out), -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		rtts = append(rtts, time.Duration(v*1e6))
	}
	if len(rtts) == 0 {
		return 0, 0, fmt.Errorf("ping: no replies: %s", out)
	}
	sort.Slice(rtts, func(i, j int) bool { return rtts[i] < rtts[j] })
	return rtts[len(rtts)/2], rtts[len(rtts)*99/100], nil
}

func iperf(client, host ns, target string, dur time.Duration, reverse bool) (float64, error) {
	srv := host.cmd("iperf3", "-s", "-1", "--forceflush", "-B", target)
	sout, err := srv.StdoutPipe()
	if err != nil {
		return 0, err
	}
	if err := srv.Start(); err != nil {
		return 0, err
	}
	defer func() { _ = srv.Process.Kill(); _ = srv.Wait() }()
	// Start the client once the server listens.
	br := bufio.NewReader(sout)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return 0, fmt.Errorf("iperf3 server: %w", err)
		}
		if strings.Contains(line, "Server listening") {
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, br) }()
	args := []string{"timeout", strconv.Itoa(int(dur.Seconds()) + 30), "iperf3", "-c", target, "-t",
		strconv.Itoa(int(dur.Seconds())), "-J", "--connect-timeout", "3000"}
	if reverse {
		args = append(args, "-R")
	}
	var out []byte
	for try := 0; try < 20; try++ { // the server may not listen yet
		out, err = client.cmd(args...).Output()
		if err == nil || !strings.Contains(string(out), "unable to connect") {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var res struct {
		End struct {
			SumReceived struct {
				BPS float64 `json:"bits_per_second"`
			} `json:"sum_received"`
		} `json:"end"`
		Error string `json:"error"`
	}
	if jerr := json.Unmarshal(out, &res); jerr != nil || res.Error != "" || err != nil {
		return 0, fmt.Errorf("iperf3 reverse=%t: %v %v %s", reverse, err, jerr, res.Error)
	}
	return res.End.SumReceived.BPS, nil
}

// lab is one set-up's namespaces by tag and what undoes it.
type lab struct {
	ns    map[string]ns
	stops []func()
}

// newLab makes a namespace per tag and a veth per link ("c:d0-h:d1").
func newLab(tags []string, links ...string) (*lab, error) {
	l := &lab{ns: map[string]ns{}}
	for _, t := range tags {
		n, err := newNS(t)
		if err != nil {
			return l, err
		}
		l.ns[t] = n
	}
	for _, ln := range links {
		var ta, a, tb, b string
		ends := strings.SplitN(ln, "-", 2)
		ta, a, _ = strings.Cut(ends[0], ":")
		tb, b, _ = strings.Cut(ends[1], ":")
		if err := veth(l.ns[ta], a, l.ns[tb], b); err != nil {
			return l, err
		}
	}
	return l, nil
}

// done undoes the set-up, last step first.
func (l *lab) done() {
	for i := len(l.stops) - 1; i >= 0; i-- {
		l.stops[i]()
	}
	for _, n := range l.ns {
		n.del()
	}
}

// run runs each step in the namespace its first element names.
func (l *lab) run(steps ...[]string) error {
	for _, s := range steps {
		if err := l.ns[s[0]].sh(s[1:]...); err != nil {
			return err
		}
	}
	return nil
}

// start starts a process in namespace tag, stopped by done.
func (l *lab) start(tag string, args ...string) error {
	c := l.ns[tag].cmd(args...)
	c.Stderr = os.Stderr
	if err := c.Start(); err != nil {
		return err
	}
	l.stops = append(l.stops, func() { _ = c.Process.Signal(os.Interrupt); _ = c.Wait() })
	return nil
}

// fail returns a set-up's failure with what undoes its part.
func (l *lab) fail(err error) (ns, ns, string, func(), error) {
	return "", "", "", l.done, err
}

func setupDirect() (ns, ns, string, func(), error) {
	l, err := newLab([]string{"c", "h"}, "c:d0-h:d1")
	if err == nil {
		err = l.run([]string{"c", "ip", "addr", "add", "192.168.80.1/24", "dev", "d0"},
			[]string{"h", "ip", "addr", "add", "192.168.80.2/24", "dev", "d1"})
	}
	if err != nil {
		return l.fail(err)
	}
	return l.ns["c"], l.ns["h"], "192.168.80.2", l.done, nil
}

func setupVXLAN() (ns, ns, string, func(), error) {
	l, err := newLab([]string{"c", "h"}, "c:u0-h:u1")
	if err == nil {
		err = l.run(
			[]string{"c", "ip", "addr", "add", "10.81.0.1/24", "dev", "u0"},
			[]string{"h", "ip", "addr", "add", "10.81.0.2/24", "dev", "u1"},
			[]string{"c", "ip", "link", "add", "vx0", "type", "vxlan", "id", "42", "remote", "10.81.0.2", "local", "10.81.0.1", "dstport", "4789", "dev", "u0"},
			[]string{"h", "ip", "link", "add", "vx0", "type", "vxlan", "id", "42", "remote", "10.81.0.1", "local", "10.81.0.2", "dstport", "4789", "dev", "u1"},
			[]string{"c", "ip", "addr", "add", "192.168.81.1/24", "dev", "vx0"},
			[]string{"h", "ip", "addr", "add", "192.168.81.2/24", "dev", "vx0"},
			[]string{"c", "ip", "link", "set", "vx0", "up"},
			[]string{"h", "ip", "link", "set", "vx0", "up"},
		)
	}
	if err != nil {
		return l.fail(err)
	}
	return l.ns["c"], l.ns["h"], "192.168.81.2", l.done, nil
}

// setupTCPTap: client TAP --TCP-- appliance TAP bridged to the lab veth.
func setupTCPTap() (ns, ns, string, func(), error) {
	l, err := newLab([]string{"c", "a", "h"}, "c:m0-a:m1", "a:p0-h:p1")
	if err == nil {
		err = l.run(
			[]string{"c", "ip", "addr", "add", "10.82.0.1/24", "dev", "m0"},
			[]string{"a", "ip", "addr", "add", "10.82.0.2/24", "dev", "m1"},
			[]string{"h", "ip", "addr", "add", "192.168.82.2/24", "dev", "p1"},
			[]string{"a", "ip", "link", "add", "br0", "type", "bridge"},
			[]string{"a", "ip", "link", "set", "p0", "master", "br0"},
			[]string{"a", "ip", "link", "set", "br0", "up"},
		)
	}
	self, _ := os.Executable()
	if err == nil {
		err = l.start("a", self, "tcptap", "-listen", "10.82.0.2:9000", "-tap", "tt1", "-bridge", "br0")
	}
	if err == nil {
		time.Sleep(300 * time.Millisecond)
		err = l.start("c", self, "tcptap", "-connect", "10.82.0.2:9000", "-tap", "tt0", "-addr", "192.168.82.1/24")
	}
	if err == nil {
		err = waitLink(l.ns["c"], "tt0")
	}
	if err != nil {
		return l.fail(err)
	}
	return l.ns["c"], l.ns["h"], "192.168.82.2", l.done, nil
}

// waitLink waits for an interface with an IPv4 address in n.
func waitLink(n ns, name string) error {
	for i := 0; i < 100; i++ {
		out, _ := n.cmd("ip", "-4", "addr", "show", "dev", name).Output()
		if strings.Contains(string(out), "inet ") {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("%s in %s never came up", name, n)
}

// setupMirror runs the mirror server in this process on a capture core
// whose bypass port is the appliance's lab veth; the client runs as a
// process in the client namespace.
func setupMirror(offload bool) (ns, ns, string, func(), error) {
	l, err := newLab([]string{"c", "a", "h"}, "c:m0-a:m1", "a:p0-h:p1")
	if err == nil {
		err = l.run(
			[]string{"c", "ip", "addr", "add", "10.83.0.1/24", "dev", "m0"},
			[]string{"a", "ip", "addr", "add", "10.83.0.2/24", "dev", "m1"},
			[]string{"h", "ip", "addr", "add", "192.168.83.2/24", "dev", "p1"},
			// AF_XDP sees bytes: the lab's frames must carry their checksums
			// (a NIC's would; a veth leaves them to an offload).
			[]string{"h", "ethtool", "-K", "p1", "tx", "off"},
		)
	}
	if err != nil {
		return l.fail(err)
	}
	a := l.ns["a"]
	core, closeCore, err := benchkit.NewCore(16384)
	if err != nil {
		return l.fail(err)
	}
	l.stops = append(l.stops, closeCore)
	if _, err := core.OpenPort(capture.PortConfig{Name: "p0", NetNS: a.path(), Mode: capture.Bypass}); err != nil {
		return l.fail(err)
	}
	dir, _ := os.MkdirTemp("", "wirebox-mirror-bench-")
	l.stops = append(l.stops, func() { os.RemoveAll(dir) })
	svc, err := mirror.New(mirror.Config{Listen: "10.83.0.2:7412", NetNS: a.path(), StateDir: dir, Ports: []string{"p0"}},
		func() *capture.Core { return core }, slog.New(slog.DiscardHandler))
	if err != nil {
		return l.fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- svc.Run(ctx, nil) }()
	l.stops = append(l.stops, func() { cancel(); <-errc })
	for svc.Addr() == nil {
		select {
		case err := <-errc:
			return l.fail(err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	self, _ := os.Executable()
	args := []string{self, "attach"}
	if !offload {
		args = append(args, "-no-offload")
	}
	if profDir != "" {
		args = append(args, "-cpuprofile", filepath.Join(profDir, "client.pprof"))
	}
	if err := l.start("c", append(args, "-server", "10.83.0.2:7412", "-ca", filepath.Join(dir, "mirror-ca.pem"),
		"-token", "@"+filepath.Join(dir, "mirror-token"), "-port", "p0", "-as", "mir0", "-addr", "192.168.83.1/24")...); err != nil {
		return l.fail(err)
	}
	if err := waitLink(l.ns["c"], "mir0"); err != nil {
		return l.fail(err)
	}
	return l.ns["c"], l.ns["h"], "192.168.83.2", l.done, nil
}

// attach is the mirror client (the CLI does not have the command yet).
func attach(args []string) error {
	fs := flag.NewFlagSet("attach", flag.ExitOnError)
	var o mirror.AttachOptions
	fs.StringVar(&o.Server, "server", "", "")
	fs.StringVar(&o.CAFile, "ca", "", "")
	fs.StringVar(&o.Token, "token", "", "")
	fs.StringVar(&o.Port, "port", "", "")
	fs.StringVar(&o.As, "as", "", "")
	fs.BoolVar(&o.NoOffload, "no-offload", false, "")
	addr := fs.String("addr", "", "address for the TAP")
	prof := fs.String("cpuprofile", "", "")
	_ = fs.Parse(args)
	stopProf, err := benchkit.CPUProfile(*prof)
	if err != nil {
		return err
	}
	defer stopProf()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	added := false
	o.OnState = func(s mirror.State) {
		if s.Connected && !added && *addr != "" {
			added = true
			go func() { _ = exec.Command("ip", "addr", "add", *addr, "dev", s.Interface).Run() }()
		}
	}
	return mirror.Attach(ctx, o, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
}

// tcptap is a plain TAP-over-TCP tunnel end: each frame is sent as a
// 2-byte length and the frame, one read and one write per frame.
func tcptap(args []string) error {
	fs := flag.NewFlagSet("tcptap", flag.ExitOnError)
	listen := fs.String("listen", "", "")
	connect := fs.String("connect", "", "")
	name := fs.String("tap", "", "")
	addr := fs.String("addr", "", "")
	bridge := fs.String("bridge", "", "")
	_ = fs.Parse(args)
	runtime.LockOSThread()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = *name
	tt := &netlink.Tuntap{LinkAttrs: attrs, Mode: netlink.TUNTAP_MODE_TAP, Flags: netlink.TUNTAP_NO_PI | netlink.TUNTAP_ONE_QUEUE, NonPersist: true, Queues: 1}
	if err := netlink.LinkAdd(tt); err != nil {
		return err
	}
	f := tt.Fds[0]
	l, err := netlink.LinkByName(*name)
	if err != nil {
		return err
	}
	if *bridge != "" {
		br, err := netlink.LinkByName(*bridge)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetMaster(l, br); err != nil {
			return err
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return err
	}
	var conn net.Conn
	if *listen != "" {
		ln, err := net.Listen("tcp", *listen)
		if err != nil {
			return err
		}
		conn, err = ln.Accept()
		if err != nil {
			return err
		}
		ln.Close()
	} else {
		if conn, err = net.Dial("tcp", *connect); err != nil {
			return err
		}
	}
	if *addr != "" {
		a, err := netlink.ParseAddr(*addr)
		if err != nil {
			return err
		}
		if err := netlink.AddrAdd(l, a); err != nil {
			return err
		}
	}
	errc := make(chan error, 2)
	go func() { // TAP -> TCP
		buf := make([]byte, 2+65536)
		for {
			n, err := f.Read(buf[2:])
			if err != nil {
				errc <- err
				return
			}
			binary.BigEndian.PutUint16(buf, uint16(n))
			if _, err := conn.Write(buf[:2+n]); err != nil {
				errc <- err
				return
			}
		}
	}()
	go func() { // TCP -> TAP
		buf := make([]byte, 65536)
		for {
			if _, err := io.ReadFull(conn, buf[:2]); err != nil {
				errc <- err
				return
			}
			n := int(binary.BigEndian.Uint16(buf))
			if _, err := io.ReadFull(conn, buf[:n]); err != nil {
				errc <- err
				return
			}
			if _, err := f.Write(buf[:n]); err != nil && !errors.Is(err, unix.EINVAL) {
				errc <- err
				return
			}
		}
	}()
	return <-errc
}
