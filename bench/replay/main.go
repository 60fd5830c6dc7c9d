// Command replay measures replay timing fidelity against tcpreplay in one
// run: N frames at a fixed spacing are replayed onto one end of a veth pair
// by tcpreplay (default timer) and by wirebox (through the capture core),
// and tcpdump captures them at the far end with nanosecond stamps. It
// prints the gap error (|gap - spacing|) median, p99 and max, and the
// total duration error, with ours/tcpreplay ratios.
//
//	go run ./bench/replay [-n 10000] [-gaps 100us,10us]
//
// Needs root, tcpreplay and tcpdump. Creates two network namespaces and
// removes them at the end. Traffic stays on the veth pair.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/wirebox/wirebox/bench/internal/benchkit"
	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/capture/pcapng"
	"github.com/wirebox/wirebox/capture/replay"
)

type stats struct {
	tool                   string
	gap                    time.Duration
	got                    int
	median, p99, max, mean time.Duration
	durErr                 time.Duration
}

func main() {
	n := flag.Int("n", 10000, "frames per run")
	gapsFlag := flag.String("gaps", "100us,10us", "frame spacings")
	flag.Parse()
	if err := run(*n, *gapsFlag); err != nil {
		fmt.Fprintln(os.Stderr, "bench/replay:", err)
		os.Exit(1)
	}
}

func run(n int, gapsFlag string) error {
	if err := benchkit.Require("tcpreplay", "tcpdump", "ip"); err != nil {
		return err
	}
	var gaps []time.Duration
	for _, g := range strings.Split(gapsFlag, ",") {
		d, err := time.ParseDuration(g)
		if err != nil || d <= 0 {
			return fmt.Errorf("bad gap %q", g)
		}
		gaps = append(gaps, d)
	}
	dir, err := os.MkdirTemp("", "wirebox-replay-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	gen, cp, del, err := benchkit.GenCap("wbrgen-", "wbrcap-")
	defer del()
	if err != nil {
		return err
	}
	core, closeCore, err := benchkit.NewCore(8192)
	if err != nil {
		return err
	}
	defer closeCore()
	port, err := core.OpenPort(capture.PortConfig{Name: "gen0", NetNS: "/run/netns/" + gen})
	if err != nil {
		return err
	}

	var all []stats
	for _, gap := range gaps {
		file, err := writeFile(dir, n, gap)
		if err != nil {
			return err
		}
		for _, tool := range []string{"tcpreplay", "wirebox"} {
			capFile := filepath.Join(dir, fmt.Sprintf("%s-%v.pcap", tool, gap))
			dump := exec.Command("ip", "netns", "exec", cp, "tcpdump", "-i", "cap0", "-Q", "in", "--time-stamp-precision=nano",
				"-B", "65536", "-c", fmt.Sprint(n), "-w", capFile, "ether proto 0x88b5")
			stderr, _ := dump.StderrPipe()
			if err := dump.Start(); err != nil {
				return err
			}
			if err := waitListening(stderr); err != nil {
				dump.Process.Kill()
				dump.Wait()
				return err
			}
			switch tool {
			case "tcpreplay":
				if err := benchkit.Sh("ip", "netns", "exec", gen, "tcpreplay", "-q", "-i", "gen0", file); err != nil {
					return err
				}
			case "wirebox":
				cons := core.NewConsumer("bench replay")
				rep, err := replay.Run(context.Background(), replay.FileSource(file), cons.Sender(port, false), replay.Options{})
				cons.Close()
				if err != nil {
					return err
				}
				if rep.Errors > 0 {
					return fmt.Errorf("wirebox replay: %d send errors: %s", rep.Errors, rep.FirstError)
				}
				fmt.Fprintf(os.Stderr, "wirebox at %v: scheduler saw %d late (worst %v)\n", gap, rep.Late, rep.WorstLate)
			}
			done := make(chan error, 1)
			go func() { done <- dump.Wait() }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				dump.Process.Signal(os.Interrupt)
				<-done
			}
			st, err := analyze(capFile, gap)
			if err != nil {
				return fmt.Errorf("%s at %v: %w", tool, gap, err)
			}
			st.tool = tool
			all = append(all, st)
		}
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "spacing\ttool\tframes\tgap err median\tp99\tmax\tmean\ttotal duration error\tp99 vs tcpreplay\tduration err vs tcpreplay\t")
	for _, s := range all {
		var ref stats
		for _, o := range all {
			if o.gap == s.gap && o.tool == "tcpreplay" {
				ref = o
			}
		}
		r1, r2 := "-", "-"
		if s.tool == "wirebox" {
			r1 = ratio(s.p99, ref.p99)
			r2 = ratio(abs(s.durErr), abs(ref.durErr))
		}
		pct := 100 * float64(s.durErr) / float64(time.Duration(s.got-1)*s.gap)
		fmt.Fprintf(tw, "%v\t%s\t%d\t%v\t%v\t%v\t%v\t%+v (%+.2f%%)\t%s\t%s\t\n", s.gap, s.tool, s.got, s.median, s.p99, s.max, s.mean, s.durErr, pct, r1, r2)
	}
	return tw.Flush()
}

func abs(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func ratio(a, b time.Duration) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.3fx", float64(a)/float64(b))
}

func writeFile(dir string, n int, gap time.Duration) (string, error) {
	out := filepath.Join(dir, fmt.Sprintf("src-%v", gap))
	w, err := pcapng.NewWriter(pcapng.Options{Dir: out, Interfaces: []pcapng.Interface{{Name: "src"}}})
	if err != nil {
		return "", err
	}
	frame := make([]byte, 64)
	copy(frame, net.HardwareAddr{0x02, 0, 0, 0, 0, 2})
	copy(frame[6:], net.HardwareAddr{0x02, 0, 0, 0, 0, 1})
	frame[12], frame[13] = 0x88, 0xb5
	t0 := time.Unix(1700000000, 0)
	for i := 0; i < n; i++ {
		frame[14], frame[15], frame[16], frame[17] = byte(i>>24), byte(i>>16), byte(i>>8), byte(i)
		if err := w.WritePacket(pcapng.Packet{Timestamp: t0.Add(time.Duration(i) * gap), Data: frame}); err != nil {
			return "", err
		}
	}
	if err := w.Close(); err != nil {
		return "", err
	}
	return w.Files()[0], nil
}

func waitListening(r io.Reader) error {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if strings.Contains(sc.Text(), "listening on") {
			go io.Copy(io.Discard, r)
			return nil
		}
	}
	return fmt.Errorf("tcpdump did not start")
}

func analyze(path string, gap time.Duration) (stats, error) {
	r, err := pcapng.Open(path)
	if err != nil {
		return stats{}, err
	}
	defer r.Close()
	var ts []time.Time
	for {
		rec, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return stats{}, err
		}
		ts = append(ts, rec.Timestamp)
	}
	if len(ts) < 2 {
		return stats{}, fmt.Errorf("captured only %d frames", len(ts))
	}
	errs := make([]time.Duration, 0, len(ts)-1)
	var sum float64
	for i := 1; i < len(ts); i++ {
		e := abs(ts[i].Sub(ts[i-1]) - gap)
		errs = append(errs, e)
		sum += float64(e)
	}
	sort.Slice(errs, func(i, j int) bool { return errs[i] < errs[j] })
	return stats{
		gap: gap, got: len(ts),
		median: errs[len(errs)/2], p99: errs[int(math.Ceil(float64(len(errs))*0.99))-1], max: errs[len(errs)-1],
		mean:   time.Duration(sum / float64(len(errs))),
		durErr: ts[len(ts)-1].Sub(ts[0]) - time.Duration(len(ts)-1)*gap,
	}, nil
}
