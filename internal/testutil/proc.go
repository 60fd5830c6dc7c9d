package testutil

import (
	"bufio"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Proc is a long-running command whose stdout lines a test watches: a
// client that prints its state, one line a change (`wirebox mirror
// attach`). When the test ends it gets SIGTERM (SIGKILL after 15 s), and
// its stderr goes to the log if the test failed.
type Proc struct {
	Cmd *exec.Cmd

	mu     sync.Mutex
	lines  []string
	stderr Buffer
	exited chan struct{}
	err    error // the exit status, once exited is closed
}

// StartProc starts cmd, collecting its stdout lines and its stderr.
func StartProc(tb testing.TB, cmd *exec.Cmd) *Proc {
	tb.Helper()
	p := &Proc{Cmd: cmd, exited: make(chan struct{})}
	out, err := cmd.StdoutPipe()
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stderr = &p.stderr
	if err := cmd.Start(); err != nil {
		tb.Fatalf("%v: %v", cmd.Args, err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
		p.err = cmd.Wait()
		close(p.exited)
	}()
	tb.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-p.exited
		}
		if tb.Failed() {
			tb.Logf("%v stderr:\n%s", cmd.Args, p.Stderr())
		}
	})
	return p
}

// Last is the latest stdout line ("" before the first).
func (p *Proc) Last() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.lines) == 0 {
		return ""
	}
	return p.lines[len(p.lines)-1]
}

// Stderr is what the command wrote to stderr so far.
func (p *Proc) Stderr() string { return p.stderr.String() }

// Exited is closed when the command has exited.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Err is the exit status; it is valid once Exited is closed.
func (p *Proc) Err() error {
	<-p.exited
	return p.err
}

// WaitLine waits until the latest stdout line holds every one of subs (the
// lines arrive asynchronously; the 30 s bound only stops a failing test).
// The test fails if the command exits first.
func (p *Proc) WaitLine(tb testing.TB, what string, subs ...string) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-p.exited:
			tb.Fatalf("%s exited (%v) waiting for %s:\n%s", p.Cmd.Args[0], p.err, what, p.Stderr())
		default:
		}
		l, ok := p.Last(), true
		for _, s := range subs {
			ok = ok && strings.Contains(l, s)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s; last line %q\n%s", what, l, p.Stderr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// WaitExit waits up to 30 s for the command to exit, failing the test if
// it does not, and returns its stderr.
func (p *Proc) WaitExit(tb testing.TB) string {
	tb.Helper()
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		tb.Fatalf("%v did not exit", p.Cmd.Args)
	}
	return p.Stderr()
}

// Run runs cmd to the end and returns its combined output, failing the
// test (with the output) if it fails: a set-up step such as `ethtool` or
// `ip` in a namespace, or a peer tool that reads a file.
func Run(tb testing.TB, cmd *exec.Cmd) string {
	tb.Helper()
	out, err := cmd.CombinedOutput()
	if err != nil {
		tb.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return string(out)
}
