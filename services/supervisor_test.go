package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/leakcheck"
	"github.com/wirebox/wirebox/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Run(m)) }

func testOpts() Options {
	return Options{
		Logger:         slog.New(slog.NewTextHandler(io.Discard, nil)),
		BackoffBase:    time.Millisecond,
		BackoffMax:     20 * time.Millisecond,
		MaxFailures:    4,
		HealthInterval: 5 * time.Millisecond,
		StopTimeout:    2 * time.Second,
	}
}

// steady is a service that becomes ready and runs until stopped.
func steady(name string, deps ...string) ServiceFunc {
	return ServiceFunc{ServiceName: name, DependsOn: deps, RunFunc: func(ctx context.Context, rt *Runtime) error {
		rt.Ready()
		<-ctx.Done()
		return nil
	}}
}

// start runs the supervisor until the test ends.
func start(t *testing.T, s *Supervisor) {
	t.Helper()
	testutil.Go(t, s.Run)
}

// waitFor waits until cond holds on the status, failing the test with the last status after a generous deadline.
func waitFor(t *testing.T, s *Supervisor, what string, cond func(map[string]Status) bool) map[string]Status {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		ch := s.Changed()
		m := map[string]Status{}
		for _, st := range s.Status() {
			m[st.Name] = st
		}
		if cond(m) {
			return m
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out waiting for %s; status: %+v", what, m)
		}
	}
}

// started makes a supervisor of svcs with the test options and runs it
// until the test ends.
func started(t *testing.T, svcs ...Service) *Supervisor {
	t.Helper()
	s, err := New(testOpts(), svcs...)
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	return s
}

func TestPanickingServiceRestartsWithBackoffThenFails(t *testing.T) {
	var runs int
	var mu sync.Mutex
	crasher := ServiceFunc{ServiceName: "crasher", RunFunc: func(ctx context.Context, rt *Runtime) error {
		mu.Lock()
		runs++
		n := runs
		mu.Unlock()
		rt.Ready()
		panic(fmt.Sprintf("boom %d", n))
	}}
	s := started(t, steady("a"), crasher, steady("b"))

	// Restart count rises while the others run (they may still be starting
	// when the crasher first fails: wait for them rather than expect it).
	m := waitFor(t, s, "a restart with the others running", func(m map[string]Status) bool {
		return m["crasher"].Restarts >= 1 && m["a"].State == StateRunning && m["b"].State == StateRunning
	})
	for _, n := range []string{"a", "b"} {
		if m[n].Restarts != 0 {
			t.Errorf("%s restarted %d times beside the crasher", n, m[n].Restarts)
		}
	}
	m = waitFor(t, s, "crasher failed", func(m map[string]Status) bool { return m["crasher"].State == StateFailed })
	c := m["crasher"]
	if c.Restarts != 3 {
		t.Errorf("restarts = %d, want 3 (4 runs before giving up)", c.Restarts)
	}
	if !strings.Contains(c.LastError, "panic: boom 4") {
		t.Errorf("last_error = %q, want the last panic", c.LastError)
	}
	for _, n := range []string{"a", "b"} {
		if m[n].State != StateRunning || m[n].Restarts != 0 {
			t.Errorf("%s = %+v, want running with no restarts", n, m[n])
		}
	}
	// It stays failed: no more runs happen.
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	if runs != 4 {
		t.Errorf("runs = %d after failing, want 4", runs)
	}
	mu.Unlock()

	// An operator restart revives it (and it panics again, counted).
	if err := s.Restart("crasher"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, "restart after failed", func(m map[string]Status) bool { return m["crasher"].Restarts >= 4 })
}

func TestBackoffGrowsAndIsCapped(t *testing.T) {
	s, err := New(Options{BackoffBase: 10 * time.Millisecond, BackoffMax: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for n, want := range map[int]time.Duration{1: 10 * time.Millisecond, 3: 90 * time.Millisecond, 100: time.Second} {
		for range 100 {
			d := s.backoff(n)
			if d < want/2 || d > want*3/2 {
				t.Fatalf("backoff(%d) = %v, want within 0.5–1.5× of %v", n, d, want)
			}
		}
	}
}

func TestDependencyOrder(t *testing.T) {
	var mu sync.Mutex
	var events []string
	rec := func(name string, deps ...string) ServiceFunc {
		return ServiceFunc{ServiceName: name, DependsOn: deps, RunFunc: func(ctx context.Context, rt *Runtime) error {
			mu.Lock()
			events = append(events, "start "+name)
			mu.Unlock()
			time.Sleep(5 * time.Millisecond) // give a wrong order the chance to show
			rt.Ready()
			<-ctx.Done()
			mu.Lock()
			events = append(events, "stop "+name)
			mu.Unlock()
			return nil
		}}
	}
	// Given in the wrong order on purpose.
	s, err := New(testOpts(), rec("web", "db", "net"), rec("db", "net"), rec("net"))
	if err != nil {
		t.Fatal(err)
	}
	stop := testutil.Go(t, s.Run)
	waitFor(t, s, "all running", func(m map[string]Status) bool {
		return m["web"].State == StateRunning && m["db"].State == StateRunning && m["net"].State == StateRunning
	})
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	want := "start net,start db,start web,stop web,stop db,stop net"
	if got := strings.Join(events, ","); got != want {
		t.Errorf("events = %s\nwant     %s", got, want)
	}
	for _, st := range s.Status() {
		if st.State != StateStopped {
			t.Errorf("%s state after shutdown = %q", st.Name, string(st.State))
		}
	}
}

func TestNewRejectsBadGraphs(t *testing.T) {
	if _, err := New(testOpts(), steady("a", "b"), steady("b", "a")); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: err = %v", err)
	}
	if _, err := New(testOpts(), steady("a", "zz")); err == nil || !strings.Contains(err.Error(), `unknown service "zz"`) {
		t.Errorf("unknown dep: err = %v", err)
	}
	if _, err := New(testOpts(), steady("a"), steady("a")); err == nil || !strings.Contains(err.Error(), "duplicate") {
		t.Errorf("duplicate: err = %v", err)
	}
}

func TestNotReadyIsNotRunning(t *testing.T) {
	release := make(chan struct{})
	slow := ServiceFunc{ServiceName: "slow", RunFunc: func(ctx context.Context, rt *Runtime) error {
		select {
		case <-release:
		case <-ctx.Done():
			return nil
		}
		rt.Ready()
		<-ctx.Done()
		return nil
	}}
	s := started(t, slow, steady("after", "slow"))
	m := waitFor(t, s, "starting", func(m map[string]Status) bool { return m["slow"].State == StateStarting })
	if m["after"].State != StateWaiting {
		t.Errorf("dependent state = %q, want waiting", m["after"].State)
	}
	close(release)
	waitFor(t, s, "both running", func(m map[string]Status) bool {
		return m["slow"].State == StateRunning && m["after"].State == StateRunning
	})
}

type probed struct {
	mu  sync.Mutex
	bad bool
}

func (p *probed) Name() string { return "probed" }
func (p *probed) Run(ctx context.Context, rt *Runtime) error {
	rt.Ready()
	<-ctx.Done()
	return nil
}
func (p *probed) Health(context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bad {
		return errors.New("link down")
	}
	return nil
}

func TestFailingHealthProbeRestarts(t *testing.T) {
	p := &probed{bad: true}
	s := started(t, p)
	m := waitFor(t, s, "health restart", func(m map[string]Status) bool { return m["probed"].Restarts >= 1 })
	if !strings.Contains(m["probed"].LastError, "link down") {
		t.Errorf("last_error = %q", m["probed"].LastError)
	}
	p.mu.Lock()
	p.bad = false
	p.mu.Unlock()
	waitFor(t, s, "healthy", func(m map[string]Status) bool {
		return m["probed"].State == StateRunning && m["probed"].Health == "ok"
	})
}

func TestManualRestartOfRunningService(t *testing.T) {
	var mu sync.Mutex
	starts := 0
	svc := ServiceFunc{ServiceName: "x", RunFunc: func(ctx context.Context, rt *Runtime) error {
		mu.Lock()
		starts++
		mu.Unlock()
		rt.Log.Info("hello", "n", 1)
		rt.Ready()
		<-ctx.Done()
		return nil
	}}
	s := started(t, svc)
	waitFor(t, s, "running", func(m map[string]Status) bool { return m["x"].State == StateRunning })
	if err := s.Restart("x"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, s, "restarted", func(m map[string]Status) bool {
		return m["x"].Restarts == 1 && m["x"].State == StateRunning
	})
	if err := s.Restart("nope"); !errors.Is(err, ErrUnknownService) {
		t.Errorf("Restart(nope) = %v", err)
	}
	ring, err := s.Logs("x")
	if err != nil {
		t.Fatal(err)
	}
	entries, _, _ := ring.Since(0)
	hellos := 0
	for _, e := range entries {
		if e.Msg == "hello" && e.Attrs["n"] == "1" && e.Attrs["service"] == "x" {
			hellos++
		}
	}
	if hellos != 2 {
		t.Errorf("log ring has %d hello records, want 2: %+v", hellos, entries)
	}
}

func TestServiceThatIgnoresStopIsReported(t *testing.T) {
	opts := testOpts()
	opts.StopTimeout = 50 * time.Millisecond
	unblock := make(chan struct{})
	stubborn := ServiceFunc{ServiceName: "stubborn", RunFunc: func(ctx context.Context, rt *Runtime) error {
		rt.Ready()
		<-unblock
		return nil
	}}
	s, err := New(opts, stubborn)
	if err != nil {
		t.Fatal(err)
	}
	stop := testutil.Go(t, s.Run)
	waitFor(t, s, "running", func(m map[string]Status) bool { return m["stubborn"].State == StateRunning })
	err = stop()
	close(unblock) // let the goroutine finish so the leak check passes
	if err == nil || !strings.Contains(err.Error(), "stubborn") {
		t.Errorf("Run = %v, want an error naming the stuck service", err)
	}
}

// TestOnExitRunsAfterPanic: what a run registers with OnExit runs when the
// run ends, also after a panic, newest first.
func TestOnExitRunsAfterPanic(t *testing.T) {
	var mu sync.Mutex
	var order []string
	note := func(s string) func() {
		return func() { mu.Lock(); order = append(order, s); mu.Unlock() }
	}
	runs := 0
	svc := ServiceFunc{ServiceName: "p", RunFunc: func(ctx context.Context, rt *Runtime) error {
		runs++
		rt.OnExit(note(fmt.Sprintf("first %d", runs)))
		rt.OnExit(note(fmt.Sprintf("second %d", runs)))
		rt.Ready()
		if runs == 1 {
			panic("boom")
		}
		<-ctx.Done()
		return nil
	}}
	s := started(t, svc)
	waitFor(t, s, "a restart", func(m map[string]Status) bool { return m["p"].Restarts >= 1 && m["p"].State == StateRunning })
	mu.Lock()
	got := fmt.Sprint(order)
	mu.Unlock()
	if got != "[second 1 first 1]" {
		t.Fatalf("OnExit after the panic ran %s, want [second 1 first 1]", got)
	}
}

// essentialFunc is a ServiceFunc that says it is essential.
type essentialFunc struct{ ServiceFunc }

func (essentialFunc) Essential() bool { return true }

// TestEssentialServiceFailingStopsTheSupervisor: when a service the
// appliance cannot work without (the local API) fails for good, Run stops
// every service and returns the reason, instead of running on unreachable;
// a non-essential service failing for good leaves the others running.
func TestEssentialServiceFailingStopsTheSupervisor(t *testing.T) {
	api := essentialFunc{ServiceFunc{ServiceName: "api", RunFunc: func(ctx context.Context, rt *Runtime) error {
		return errors.New("listening on /run/x.sock: address already in use")
	}}}
	stopped := make(chan struct{})
	other := ServiceFunc{ServiceName: "other", RunFunc: func(ctx context.Context, rt *Runtime) error {
		rt.Ready()
		<-ctx.Done()
		close(stopped)
		return nil
	}}
	s, err := New(testOpts(), other, api)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- s.Run(context.Background()) }()
	select {
	case err := <-errc:
		if err == nil || !strings.Contains(err.Error(), `essential service "api" failed 4 times`) || !strings.Contains(err.Error(), "address already in use") {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the supervisor ran on after its essential service failed for good")
	}
	select {
	case <-stopped:
	default:
		t.Error("the other service was not stopped")
	}
}

// TestReplaceRestartsOnlyThoseNamed: Replace stops the named service, runs
// its replacement in its place (restart counted, log ring kept) and leaves
// the others running: the one that depends on it too.
func TestReplaceRestartsOnlyThoseNamed(t *testing.T) {
	var mu sync.Mutex
	runs := map[string]int{}
	counted := func(name, tag string, deps ...string) ServiceFunc {
		return ServiceFunc{ServiceName: name, DependsOn: deps, RunFunc: func(ctx context.Context, rt *Runtime) error {
			mu.Lock()
			runs[name+"/"+tag]++
			mu.Unlock()
			rt.Log.Info("run", "tag", tag)
			rt.Ready()
			<-ctx.Done()
			return nil
		}}
	}
	s, err := New(testOpts(), counted("a", "old"), counted("b", "old", "a"), counted("c", "old"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Replace(counted("a", "new")); err == nil {
		t.Error("Replace before Run succeeded")
	}
	start(t, s)
	waitFor(t, s, "all running", func(m map[string]Status) bool {
		return m["a"].State == StateRunning && m["b"].State == StateRunning && m["c"].State == StateRunning
	})
	if err := s.Replace(counted("a", "new")); err != nil {
		t.Fatal(err)
	}
	m := waitFor(t, s, "a replaced", func(m map[string]Status) bool { return m["a"].State == StateRunning && m["a"].Restarts == 1 })
	if m["b"].Restarts != 0 || m["c"].Restarts != 0 || m["b"].State != StateRunning || m["c"].State != StateRunning {
		t.Errorf("the others were touched: %+v", m)
	}
	mu.Lock()
	want := map[string]int{"a/old": 1, "a/new": 1, "b/old": 1, "c/old": 1}
	for k, n := range want {
		if runs[k] != n {
			t.Errorf("%s ran %d times, want %d (all: %v)", k, runs[k], n, runs)
		}
	}
	mu.Unlock()
	ring, _ := s.Logs("a")
	entries, _, _ := ring.Since(0)
	var tags []string
	for _, e := range entries {
		if e.Msg == "run" {
			tags = append(tags, e.Attrs["tag"])
		}
	}
	if strings.Join(tags, ",") != "old,new" {
		t.Errorf("a's log ring has runs %v, want old,new", tags)
	}
	if err := s.Replace(counted("nope", "x")); !errors.Is(err, ErrUnknownService) {
		t.Errorf("Replace(nope) = %v", err)
	}
	if err := s.Replace(counted("b", "x")); err == nil {
		t.Error("a replacement with other dependencies was accepted")
	}
}
