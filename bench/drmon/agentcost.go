package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/wirebox/wirebox/bench/internal/benchkit"
)

// runAgentCost: trafgen sends frames unicast to a namespace host's MAC;
// `wirebox agent` and `tcpdump -w /dev/null` listen on that interface at
// the same time; each one's CPU is read from /proc before and after.
func runAgentCost(wirebox string, n int, profile string) error {
	l, del, err := benchkit.NewLink("wbdrma-", "wbdrmb-")
	defer del()
	if err != nil {
		return err
	}
	na := l.Recv
	dir, err := os.MkdirTemp("", "drmonbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	key := filepath.Join(dir, "key")
	os.WriteFile(key, []byte(benchKey), 0o600)
	args := []string{"netns", "exec", na, wirebox, "agent", "-i", "wb0", "--key-file", key, "--group", "", "--proxy", "127.0.0.1:9"}
	if profile != "" {
		args = append(args, "--cpuprofile", profile)
	}
	agent := exec.Command("ip", args...)
	td := exec.Command("ip", "netns", "exec", na, "tcpdump", "-i", "wb0", "-n", "-w", "/dev/null")
	var tdOut strings.Builder
	td.Stderr = &tdOut
	for _, c := range []*exec.Cmd{agent, td} {
		if err := c.Start(); err != nil {
			return err
		}
		defer func() { c.Process.Signal(syscall.SIGINT); c.Wait() }()
	}
	time.Sleep(2 * time.Second) // both listening
	au0, as0, _ := benchkit.CPUTimes(agent.Process.Pid)
	tu0, ts0, _ := benchkit.CPUTimes(td.Process.Pid)
	// IPv4/UDP from 02:00:00:00:00:01, 64 bytes on the wire.
	el, err := l.Trafgen(n, benchkit.TrafgenFrame(l.DstMAC, "0x02, 0x00, 0x00, 0x00, 0x00, 0x01, c16(0x0800), 0x45, 0, c16(46), 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2, c16(1000), c16(2000), c16(26), 0, 0, fill(0x00, 18)"))
	if err != nil {
		return err
	}
	time.Sleep(2 * time.Second) // let both drain
	au1, as1, _ := benchkit.CPUTimes(agent.Process.Pid)
	tu1, ts1, _ := benchkit.CPUTimes(td.Process.Pid)
	a0, a1, t0, t1 := au0+as0, au1+as1, tu0+ts0, tu1+ts1
	td.Process.Signal(syscall.SIGINT)
	td.Wait()
	captured := ""
	for _, l := range strings.Split(tdOut.String(), "\n") {
		if strings.Contains(l, "captured") || strings.Contains(l, "dropped by kernel") {
			captured += strings.TrimSpace(l) + "; "
		}
	}
	per := func(d time.Duration) float64 { return d.Seconds() * 1e6 / float64(n) }
	tw := tabwriter.NewWriter(os.Stdout, 2, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "agent cost: %d frames of 64 bytes at %.0f pps (trafgen), both listening on the same veth\t\t\t\n", n, float64(n)/el.Seconds())
	fmt.Fprintln(tw, "process\tCPU (user + system)\tCPU s per million frames\tratio to tcpdump\t")
	fmt.Fprintf(tw, "tcpdump -w /dev/null\t%s (%s + %s)\t%.3f\t1.00\t\n", (t1 - t0).Round(time.Millisecond), tu1-tu0, ts1-ts0, per(t1-t0))
	fmt.Fprintf(tw, "wirebox agent\t%s (%s + %s)\t%.3f\t%.2f\t\n", (a1 - a0).Round(time.Millisecond), au1-au0, as1-as0, per(a1-a0), float64(a1-a0)/float64(max(t1-t0, 1)))
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Println("tcpdump:", captured)
	return nil
}
