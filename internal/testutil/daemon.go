package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
)

// Daemon is a `wirebox daemon` process a test started from the binary
// (Wirebox) with a typed configuration. It is the one way tests outside
// package daemon run a daemon: the binary needs no import of the daemon,
// so any package's tests can use it. (Package daemon/daemontest runs one
// in-process, for tests that need its internals.)
type Daemon struct {
	// Client talks to the daemon's socket; closed when the test ends.
	Client *api.Client
	// Socket is the API socket, ConfigFile the configuration it runs on.
	Socket, ConfigFile string
	// Bin is the wirebox binary, for tests that run its client commands.
	Bin string

	cmd    *exec.Cmd
	killed bool
	log    Buffer
	done   chan struct{}
	err    error // the exit status, once done is closed
}

// StartDaemon writes cfg (its API socket moved into the test's temporary
// directory unless the test set one) and runs the daemon on it with extra flags, waits until the
// API answers, and stops it with SIGTERM when the test ends, failing the
// test if it does not exit cleanly. cfg is typically config.Default with
// the sections of the subsystems the test configures.
func StartDaemon(tb testing.TB, cfg *config.Config, flags ...string) *Daemon {
	tb.Helper()
	return startDaemon(tb, cfg, nil, flags)
}

// StartDaemonInNetns is StartDaemon with the daemon inside the named
// network namespace (`ip netns exec`, which execs: the process is the
// daemon's), for tests whose appliance is one host of a namespace network.
func StartDaemonInNetns(tb testing.TB, netnsName string, cfg *config.Config, flags ...string) *Daemon {
	tb.Helper()
	return startDaemon(tb, cfg, []string{"ip", "netns", "exec", netnsName}, flags)
}

func startDaemon(tb testing.TB, cfg *config.Config, prefix, flags []string) *Daemon {
	tb.Helper()
	dir := tb.TempDir()
	c := *cfg
	if c.API.Socket == config.DefaultSocket {
		c.API.Socket = filepath.Join(dir, "wirebox.sock")
	}
	b, err := c.Marshal()
	if err != nil {
		tb.Fatal(err)
	}
	d := &Daemon{Socket: c.API.Socket, ConfigFile: filepath.Join(dir, "wirebox.yaml"), Bin: Wirebox(tb), done: make(chan struct{})}
	if err := os.WriteFile(d.ConfigFile, b, 0o600); err != nil {
		tb.Fatal(err)
	}
	argv := append(append(prefix, d.Bin, "daemon", "--config", d.ConfigFile), flags...)
	d.cmd = exec.Command(argv[0], argv[1:]...)
	d.cmd.Stdout, d.cmd.Stderr = &d.log, &d.log
	if err := d.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { d.err = d.cmd.Wait(); close(d.done) }()
	d.Client = api.NewUnixClient(d.Socket)
	tb.Cleanup(func() {
		d.Client.Close()
		if err := d.Stop(); err != nil && !d.killed {
			tb.Errorf("daemon: %v\n%s", err, d.Log())
		} else if tb.Failed() {
			tb.Logf("daemon log:\n%s", d.Log())
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := d.Client.WaitReady(ctx); err != nil {
		tb.Fatalf("%v\ndaemon log:\n%s", err, d.Log())
	}
	return d
}

// Stop sends SIGTERM and waits for the exit (killing the daemon after 30
// s); it returns the exit error. Stopping twice is harmless.
func (d *Daemon) Stop() error {
	select {
	case <-d.done:
		return d.err
	default:
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return d.err
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
		return fmt.Errorf("did not stop within 30s of SIGTERM")
	}
}

// Kill kills the daemon with SIGKILL (a crash, as far as it can tell) and
// waits for it to be gone.
func (d *Daemon) Kill() {
	d.killed = true
	_ = d.cmd.Process.Signal(syscall.SIGKILL)
	<-d.done
}

// Run runs a client command of the binary against the daemon and returns
// its stdout; a failure's error carries stderr.
func (d *Daemon) Run(args ...string) (string, error) {
	var o, e bytes.Buffer
	cmd := exec.Command(d.Bin, append([]string{"--socket", d.Socket}, args...)...)
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Run(); err != nil {
		return o.String(), fmt.Errorf("wirebox %v: %v: %s", args, err, e.String())
	}
	return o.String(), nil
}

// Pid is the daemon's process id (for tests that count its threads or
// descriptors under /proc).
func (d *Daemon) Pid() int { return d.cmd.Process.Pid }

// Done is closed when the daemon has exited.
func (d *Daemon) Done() <-chan struct{} { return d.done }

// Log is what the daemon wrote to stdout and stderr so far.
func (d *Daemon) Log() string { return d.log.String() }

// WaitRunning waits until every named service reports running.
func (d *Daemon) WaitRunning(tb testing.TB, names ...string) {
	tb.Helper()
	WaitRunning(tb, d.Client, names...)
}

// WaitRunning waits until the daemon behind cl reports every named service
// running, failing the test after 30 s with the last status.
func WaitRunning(tb testing.TB, cl *api.Client, names ...string) {
	tb.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, err := cl.Status(context.Background())
		if err == nil && allRunning(st, names) {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("services %v not running: %+v (%v)", names, st, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func allRunning(st *api.Status, names []string) bool {
	for _, n := range names {
		ok := false
		for _, s := range st.Services {
			ok = ok || (s.Name == n && s.State == api.StateRunning)
		}
		if !ok {
			return false
		}
	}
	return true
}

// Buffer is a bytes.Buffer safe for a process writing while a test reads.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// PostConfig posts a configuration document to the daemon behind cl (POST
// /v1/config, what `wirebox config apply` does) and wants 202 Accepted; a
// refusal's error carries the daemon's reason.
func PostConfig(ctx context.Context, cl *api.Client, doc string) error {
	resp, err := cl.Do(ctx, http.MethodPost, api.PathConfig, strings.NewReader(doc))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		return fmt.Errorf("POST %s: %s", api.PathConfig, resp.Status)
	}
	return nil
}

// CLIJSON runs a command of the CLI that prints JSON (args include
// --json) through run (a Daemon's Run, or a test's own runner of the CLI)
// and decodes its output into a T, failing the test if the command fails
// or prints something else.
func CLIJSON[T any](tb testing.TB, run func(args ...string) (string, error), args ...string) T {
	tb.Helper()
	var v T
	out, err := run(args...)
	if err == nil {
		err = json.Unmarshal([]byte(out), &v)
	}
	if err != nil {
		tb.Fatalf("wirebox %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return v
}

// CaptureList is `capture list --json` (CLIJSON) by session id.
func CaptureList(tb testing.TB, run func(args ...string) (string, error)) map[string]api.CaptureSession {
	tb.Helper()
	m := map[string]api.CaptureSession{}
	for _, s := range CLIJSON[[]api.CaptureSession](tb, run, "capture", "list", "--json") {
		m[s.ID] = s
	}
	return m
}
