// Command soak runs the wirebox daemon under an hour (by default) of mixed
// load — capture sessions started and stopped, replays, API clients, the
// port's link deleted and re-added — and samples the daemon's RSS, open
// descriptors, threads and goroutines. After a warm-up they must end flat:
// the table shows the first and last samples and the change. Not a CI test
// (it takes an hour); the figures go to docs/BENCHMARKS.md.
//
//	go build -o /tmp/wirebox ./cmd/wirebox && go run ./bench/soak -bin /tmp/wirebox -duration 1h
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/wirebox/wirebox/bench/internal/benchkit"
	"github.com/wirebox/wirebox/internal/api"
)

func main() {
	bin := flag.String("bin", "", "the wirebox binary (go build -o ... ./cmd/wirebox)")
	duration := flag.Duration("duration", time.Hour, "how long to run")
	every := flag.Duration("sample", time.Minute, "sampling interval")
	flag.Parse()
	if *bin == "" {
		fmt.Fprintln(os.Stderr, "soak: -bin is required")
		os.Exit(2)
	}
	if err := run(*bin, *duration, *every); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
}

type sample struct {
	at                              time.Duration
	rssKB, fds, threads, goroutines int
	ops                             int
}

func run(bin string, duration, every time.Duration) error {
	gen, cp, del, err := benchkit.GenCap("wbsgen-", "wbscap-")
	defer del()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("/var/tmp", "wirebox-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	sock := filepath.Join(dir, "wirebox.sock")
	cfg := fmt.Sprintf("api:\n  socket: %s\nports:\n  - name: cap0\n    mode: passive\n    netns: %s\ncapture:\n  root: %s\n", sock, cp, filepath.Join(dir, "captures"))
	cfgPath := filepath.Join(dir, "wirebox.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	trace, err := writeTrace(filepath.Join(dir, "captures"))
	if err != nil {
		return err
	}
	daemon := exec.Command(bin, "daemon", "--config", cfgPath)
	daemon.Stdout, daemon.Stderr = nil, nil
	if err := daemon.Start(); err != nil {
		return err
	}
	defer func() { daemon.Process.Signal(os.Interrupt); daemon.Wait() }()
	cl := api.NewUnixClient(sock)
	defer cl.Close()
	ctx := context.Background()
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	_, err = cl.WaitReady(wctx)
	cancel()
	if err != nil {
		return err
	}
	pid := daemon.Process.Pid
	start := time.Now()
	var samples []sample
	ops := 0
	take := func() {
		s := sample{at: time.Since(start).Round(time.Second), ops: ops}
		s.rssKB = procStatus(pid, "VmRSS")
		s.threads = procStatus(pid, "Threads")
		if ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid)); err == nil {
			s.fds = len(ents)
		}
		if m, err := cl.Text(ctx, api.PathMetrics); err == nil {
			for _, l := range strings.Split(m, "\n") {
				if v, ok := strings.CutPrefix(l, "go_goroutines "); ok {
					s.goroutines, _ = strconv.Atoi(strings.TrimSpace(v))
				}
			}
		}
		samples = append(samples, s)
		fmt.Printf("%8v  rss %7d kB  fds %4d  threads %3d  goroutines %5d  ops %d\n", s.at, s.rssKB, s.fds, s.threads, s.goroutines, s.ops)
	}
	take()
	next := start.Add(every)
	var running []string
	for i := 0; time.Since(start) < duration; i++ {
		switch i % 10 {
		case 0, 1, 2: // sessions come and go
			var s api.CaptureSession
			if err := cl.Post(ctx, api.PathCaptures, api.CaptureStart{Ports: []string{"cap0"}, Filter: "udp or arp", RotateSize: 1 << 20, Keep: 2, OutDir: "soak"}, &s); err == nil {
				running = append(running, s.ID)
			}
		case 3, 4:
			if len(running) > 0 {
				_ = cl.Post(ctx, api.CaptureStopPath(running[0]), struct{}{}, nil)
				running = running[1:]
			}
		case 5: // a replay through the port
			_ = cl.Post(ctx, api.PathReplay, api.Replay{File: trace, Port: "cap0", Speed: 100}, nil)
		case 6, 7: // API clients
			c := api.NewUnixClient(sock)
			_, _ = c.Status(ctx)
			var ps api.Ports
			_ = c.Get(ctx, api.PathPorts, &ps)
			c.Close()
		case 8: // a raw connection that sends nothing and goes away
			if c, err := net.Dial("unix", sock); err == nil {
				c.Close()
			}
		case 9:
			if i%100 == 9 { // a link flap: delete and re-add the port's veth
				_ = benchkit.Sh("ip", "-n", cp, "link", "del", "cap0")
				time.Sleep(500 * time.Millisecond)
				_ = benchkit.Veth(gen, "gen0", cp, "cap0")
			}
		}
		ops++
		time.Sleep(20 * time.Millisecond)
		if time.Now().After(next) {
			take()
			next = next.Add(every)
		}
	}
	for _, id := range running {
		_ = cl.Post(ctx, api.CaptureStopPath(id), struct{}{}, nil)
	}
	take()
	// Flat after warm-up: compare the second sample with the last.
	first, last := samples[min(1, len(samples)-1)], samples[len(samples)-1]
	fmt.Printf("\n%-12s %12s %12s %10s\n", "", "after warm-up", "at the end", "change")
	for _, r := range []struct {
		name string
		a, b int
	}{{"RSS kB", first.rssKB, last.rssKB}, {"fds", first.fds, last.fds}, {"threads", first.threads, last.threads}, {"goroutines", first.goroutines, last.goroutines}} {
		fmt.Printf("%-12s %12d %12d %+9.1f%%\n", r.name, r.a, r.b, 100*float64(r.b-r.a)/float64(max(r.a, 1)))
	}
	fmt.Printf("%d operations in %v\n", ops, time.Since(start).Round(time.Second))
	return nil
}

func procStatus(pid int, key string) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	return -1
}

// writeTrace writes a small Ethernet pcap (100 UDP frames, 1 ms apart) in
// dir for the replays.
func writeTrace(dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "soak.pcap")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	w := pcapgo.NewWriter(f)
	w.WriteFileHeader(65535, layers.LinkTypeEthernet)
	buf := gopacket.NewSerializeBuffer()
	for i := range 100 {
		eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}, EthernetType: layers.EthernetTypeIPv4}
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4(10, 0, 0, 1), DstIP: net.IPv4(10, 0, 0, 2)}
		udp := &layers.UDP{SrcPort: 7, DstPort: 7}
		udp.SetNetworkLayerForChecksum(ip)
		if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, eth, ip, udp, gopacket.Payload("soak")); err != nil {
			return "", err
		}
		d := buf.Bytes()
		w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(i)*int64(time.Millisecond)), CaptureLength: len(d), Length: len(d)}, d)
	}
	return path, f.Close()
}
