package pkttest

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// CountEchoRequests counts the ICMP echo requests tcpdump sees on dev while
// run runs. command builds the tcpdump command (for a namespace, its
// NS.Command), so the capture runs where dev is.
func CountEchoRequests(tb testing.TB, command func(name string, args ...string) *exec.Cmd, dev string, run func()) int {
	tb.Helper()
	Need(tb, "tcpdump")
	cmd := command("tcpdump", "-i", dev, "-n", "-l", "--immediate-mode", "icmp[icmptype] == icmp-echo")
	var out bytes.Buffer
	cmd.Stdout = &out
	stderr, _ := cmd.StderrPipe()
	if err := cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { cmd.Process.Kill() })
	// Wait for "listening on …" (after a line about verbose output).
	br := bufio.NewReader(stderr)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			tb.Fatalf("tcpdump did not start: %v %s", err, line)
		}
		if strings.Contains(line, "listening") {
			break
		}
	}
	go io.Copy(io.Discard, br)
	run()
	time.Sleep(300 * time.Millisecond) // let the last frame reach the capture
	cmd.Process.Signal(os.Interrupt)
	cmd.Wait()
	return strings.Count(out.String(), "ICMP echo request")
}
