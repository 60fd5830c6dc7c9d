package pkttest

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/testutil"
)

// Tool is a peer tool (tcpdump, dumpcap, tshark) running beside a test.
type Tool struct {
	Cmd  *exec.Cmd
	out  testutil.Buffer
	done chan struct{}
	err  error
}

// Start runs cmd and waits (up to 20 s) until a line of its stderr holds
// ready ("listening on" for tcpdump); the test fails if it exits or stays
// silent first. Stdout is kept (Stdout); the tool is killed when the test
// ends if it is still running.
func Start(tb testing.TB, cmd *exec.Cmd, ready string) *Tool {
	tb.Helper()
	t := &Tool{Cmd: cmd, done: make(chan struct{})}
	cmd.Stdout = &t.out
	stderr, err := cmd.StderrPipe()
	if err != nil {
		tb.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("%v: %v", cmd.Args, err)
	}
	seen := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		var lines bytes.Buffer
		for sc.Scan() {
			lines.WriteString(sc.Text() + "\n")
			if strings.Contains(sc.Text(), ready) {
				seen <- ""
				_, _ = io.Copy(io.Discard, stderr)
				break
			}
		}
		seen <- lines.String() // unread if ready was seen
		t.err = cmd.Wait()
		close(t.done)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-t.done
	})
	select {
	case s := <-seen:
		if s != "" {
			tb.Fatalf("%v exited before %q: %s", cmd.Args, ready, s)
		}
	case <-time.After(20 * time.Second):
		tb.Fatalf("%v did not print %q within 20s", cmd.Args, ready)
	}
	return t
}

// Wait waits up to d for the tool to exit and returns its exit error (or
// a timeout error, after killing it).
func (t *Tool) Wait(d time.Duration) error {
	select {
	case <-t.done:
		return t.err
	case <-time.After(d):
		_ = t.Cmd.Process.Kill()
		<-t.done
		return fmt.Errorf("%s did not exit within %v", t.Cmd.Args[0], d)
	}
}

// Stdout is what the tool wrote to stdout so far.
func (t *Tool) Stdout() string { return t.out.String() }
