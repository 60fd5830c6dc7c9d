// Command capture measures capture to disk side by side with tcpdump -w,
// dumpcap -w and netsniff-ng on one veth pair, at 64 and 1514 byte frames:
// frames written, loss, written frames per second, and the generator's
// rate while capturing (on veth the receive path runs on the sender's CPU,
// so a costlier consumer shows as a slower generator).
//
//	go run ./bench/capture [-n 500000] [-sizes 64,1514] [-dir DIR]
//	go run ./bench/capture -tools wirebox -compress zstd -rate 200000pps -random
//
// Needs root, trafgen (netsniff-ng), tcpdump, dumpcap. Creates two network
// namespaces and removes them at the end. Traffic stays on the veth pair.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/wirebox/wirebox/bench/internal/benchkit"
	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/capture/pcapng"
	"github.com/wirebox/wirebox/capture/session"
)

// opts are the flags that shape a run beyond the defaults.
var opts struct {
	compress, rate string
	random         bool
	queue          int
}

type result struct {
	tool      string
	size      int
	sent      int
	written   int
	genPPS    float64
	wallSecs  float64 // generator start to last frame written
	writtenPS float64
	note      string
}

func main() {
	n := flag.Int("n", 500000, "frames per run")
	sizes := flag.String("sizes", "64,1514", "frame sizes")
	dir := flag.String("dir", "", "output directory for capture files (default: a temp dir on /var/tmp)")
	keep := flag.Bool("keep", false, "keep the capture files")
	prof := flag.String("cpuprofile", "", "write a CPU profile of this process (the wirebox capturer runs in it)")
	tools := flag.String("tools", "tcpdump,dumpcap,netsniff-ng,wirebox", "capturers to run, in order")
	flag.StringVar(&opts.compress, "compress", "", "wirebox's compression: zstd, gzip or none")
	flag.StringVar(&opts.rate, "rate", "", "limit the generator (trafgen -b, e.g. 200000pps); default as fast as it can")
	flag.BoolVar(&opts.random, "random", false, "random payloads (incompressible) instead of a constant fill")
	flag.IntVar(&opts.queue, "queue", 32768, "wirebox's session queue, frames (the pool has 65536)")
	flag.Parse()
	stopProf, err := benchkit.CPUProfile(*prof)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer stopProf()
	if err := run(*n, *sizes, *dir, *keep, strings.Split(*tools, ",")); err != nil {
		fmt.Fprintln(os.Stderr, "bench/capture:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(n int, sizesFlag, dir string, keep bool, tools []string) error {
	if err := benchkit.Require("trafgen", "ip", "ethtool", "tc"); err != nil {
		return err
	}
	var sizes []int
	for _, s := range strings.Split(sizesFlag, ",") {
		v, err := strconv.Atoi(s)
		if err != nil || v < 60 || v > 1514 {
			return fmt.Errorf("bad size %q", s)
		}
		sizes = append(sizes, v)
	}
	if dir == "" {
		d, err := os.MkdirTemp("/var/tmp", "wirebox-bench-")
		if err != nil {
			return err
		}
		dir = d
	}
	if !keep {
		defer os.RemoveAll(dir)
	}
	gen, cp, del, err := benchkit.GenCap("wbgen-", "wbcap-")
	defer del()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := benchkit.ShAll([][]string{
		// NAPI on the receive side and a qdisc on the sender: a full veth
		// ring then pushes back on the generator instead of dropping.
		{"ip", "netns", "exec", gen, "ethtool", "-K", "gen0", "gro", "on"},
		{"ip", "netns", "exec", cp, "ethtool", "-K", "cap0", "gro", "on"},
		{"ip", "netns", "exec", gen, "tc", "qdisc", "replace", "dev", "gen0", "root", "pfifo", "limit", "10000"},
	}); err != nil {
		return err
	}
	hw, err := benchkit.MAC(cp, "cap0")
	if err != nil {
		return err
	}

	var results []result
	for _, size := range sizes {
		conf := filepath.Join(dir, fmt.Sprintf("frame%d.cfg", size))
		os.WriteFile(conf, []byte(trafgenConf(hw, size)), 0o644)
		r, err := generate(ctx, gen, conf, n)
		if err != nil {
			return err
		}
		results = append(results, result{tool: "generator alone", size: size, sent: n, genPPS: r, note: "no capture"})
		for _, tool := range tools {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			res, err := measure(ctx, tool, gen, cp, conf, dir, size, n)
			if err != nil {
				return fmt.Errorf("%s at %d B: %w", tool, size, err)
			}
			results = append(results, res)
			fmt.Fprintf(os.Stderr, "%-16s %5d B: written %d/%d, generator %.3f Mpps\n", tool, size, res.written, n, res.genPPS/1e6)
		}
	}
	printTable(results)
	return nil
}

func trafgenConf(dst net.HardwareAddr, size int) string {
	// Source MAC, EtherType 0x88b5 (local experimental: no protocol handles it).
	rest := "0x02, 0x00, 0x00, 0x00, 0x00, 0x01, c16(0x88b5), "
	if opts.random {
		rest += fmt.Sprintf("drnd(%d)", size-14)
	} else {
		rest += fmt.Sprintf("fill(0xab, %d)", size-14)
	}
	return benchkit.TrafgenFrame(dst, rest) + "\n"
}

// generate runs trafgen for n frames on one CPU through the qdisc and
// returns its rate.
func generate(ctx context.Context, gen, conf string, n int) (float64, error) {
	args := []string{"netns", "exec", gen, "trafgen", "-q", "-P", "1", "-C", "-i", conf, "-o", "gen0", "-n", strconv.Itoa(n)}
	if opts.rate != "" {
		args = append(args, "-b", opts.rate)
	}
	cmd := exec.CommandContext(ctx, "ip", args...)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		return 0, fmt.Errorf("trafgen: %v: %s", err, out)
	}
	return float64(n) / d.Seconds(), nil
}

func measure(ctx context.Context, tool, gen, cp, conf, dir string, size, n int) (result, error) {
	res := result{tool: tool, size: size, sent: n}
	out := filepath.Join(dir, fmt.Sprintf("%s-%d", tool, size))
	os.RemoveAll(out)
	os.MkdirAll(out, 0o755)
	var stopCapture func() error
	var count func() (int, error)
	switch tool {
	case "wirebox":
		core, closeCore, err := benchkit.NewCore(65536)
		if err != nil {
			return res, err
		}
		defer closeCore()
		port, err := core.OpenPort(capture.PortConfig{Name: "cap0", NetNS: "/run/netns/" + cp})
		if err != nil {
			return res, err
		}
		mgr := session.NewManager(core, nil, "", 0)
		st, err := mgr.Start(session.Config{Ports: []string{"cap0"}, OutDir: out, Direction: "rx", Queue: opts.queue, Compress: opts.compress})
		if err != nil {
			return res, err
		}
		stopCapture = func() error {
			// Wait until the port has seen every frame and the queue drained.
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				ps := port.Stats()
				s, _ := mgr.Get(st.ID)
				if ps.RxPackets+ps.RxDroppedKernel >= uint64(n) && s.Packets+s.DroppedQueue >= ps.RxPackets {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			final, err := mgr.Stop(st.ID)
			ps := port.Stats()
			if final.DroppedQueue > 0 || ps.RxDroppedKernel > 0 || ps.RxDroppedPool > 0 || ps.RxPackets < uint64(n) {
				res.note = fmt.Sprintf("port saw %d; dropped: queue %d, kernel %d, pool %d", ps.RxPackets, final.DroppedQueue, ps.RxDroppedKernel, ps.RxDroppedPool)
			}
			return err
		}
	default:
		var args []string
		file := filepath.Join(out, "cap.pcap")
		switch tool {
		case "tcpdump":
			args = []string{"tcpdump", "-i", "cap0", "-w", file, "-B", "65536", "-Q", "in"}
		case "dumpcap":
			file = filepath.Join(out, "cap.pcapng")
			args = []string{"dumpcap", "-q", "-i", "cap0", "-w", file, "-B", "64"}
		case "netsniff-ng":
			args = []string{"netsniff-ng", "--in", "cap0", "--out", file, "--silent"}
		}
		cmd := exec.Command("ip", append([]string{"netns", "exec", cp}, args...)...)
		var errOut strings.Builder
		cmd.Stderr = &errOut
		cmd.Stdout = io.Discard
		if err := cmd.Start(); err != nil {
			return res, err
		}
		// Wait for the tool to create its file (tcpdump buffers even the
		// header), then give its socket a moment.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, err := os.Stat(file); err == nil {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				return res, fmt.Errorf("%s did not start: %s", tool, errOut.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
		time.Sleep(500 * time.Millisecond)
		stopCapture = func() error {
			// Let the tool drain its ring, then stop it like a user would.
			last := int64(-1)
			for i := 0; i < 100; i++ {
				time.Sleep(100 * time.Millisecond)
				fi, _ := os.Stat(file)
				if fi != nil && fi.Size() == last {
					break
				}
				if fi != nil {
					last = fi.Size()
				}
			}
			cmd.Process.Signal(os.Interrupt)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-done
				return errors.New("did not stop on SIGINT")
			}
			return nil
		}
		count = func() (int, error) { return countFile(file) }
	}
	start := time.Now()
	rate, err := generate(ctx, gen, conf, n)
	if err != nil {
		stopCapture()
		return res, err
	}
	res.genPPS = rate
	if err := stopCapture(); err != nil {
		return res, err
	}
	res.wallSecs = time.Since(start).Seconds()
	if count == nil {
		files, _ := pcapng.ListFiles(out, "c1")
		total := 0
		for _, f := range files {
			c, err := countFile(f)
			if err != nil {
				return res, err
			}
			total += c
		}
		res.written = total
	} else if res.written, err = count(); err != nil {
		return res, err
	}
	res.writtenPS = float64(res.written) / (float64(n) / res.genPPS)
	return res, nil
}

func countFile(path string) (int, error) {
	r, err := pcapng.Open(path)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	n := 0
	for {
		_, err := r.Next()
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			// A tool killed mid-write may leave a partial last record.
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return n, nil
			}
			return n, err
		}
		n++
	}
}

func printTable(rs []result) {
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "size\ttool\tsent\twritten\tloss %\tgenerator Mpps\twritten Mpps\tgen vs best peer\t")
	for _, r := range rs {
		if r.tool == "generator alone" {
			fmt.Fprintf(tw, "%d\t%s\t%d\t-\t-\t%.3f\t-\t-\t\n", r.size, r.tool, r.sent, r.genPPS/1e6)
			continue
		}
		best := 0.0
		for _, o := range rs {
			if o.size == r.size && o.tool != "wirebox" && o.tool != "generator alone" && o.genPPS > best {
				best = o.genPPS
			}
		}
		ratio := "-"
		if r.tool == "wirebox" && best > 0 {
			ratio = fmt.Sprintf("%.2fx", r.genPPS/best)
		}
		loss := 100 * float64(r.sent-r.written) / float64(r.sent)
		fmt.Fprintf(tw, "%d\t%s\t%d\t%d\t%.2f\t%.3f\t%.3f\t%s\t%s\n", r.size, r.tool, r.sent, r.written, loss, r.genPPS/1e6, r.writtenPS/1e6, ratio, r.note)
	}
	tw.Flush()
}
