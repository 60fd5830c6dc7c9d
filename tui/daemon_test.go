package tui

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/testutil"

	"github.com/charmbracelet/x/exp/teatest/v2"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
)

// runDaemon runs the real daemon (the binary, on a socket in the test's
// temporary directory) until the test ends, and returns a client of it.
func runDaemon(t *testing.T) *api.Client {
	t.Helper()
	cfg := config.Default()
	cfg.Name = "console-test"
	return testutil.StartDaemon(t, cfg).Client
}

// TestAgainstDaemon drives the console against a real daemon: the services
// screen lists the api service, its log shows the daemon's own records, and
// r then y restarts it, which the daemon confirms.
func TestAgainstDaemon(t *testing.T) {
	cl := runDaemon(t)
	for _, sz := range sizes {
		tm := console(t, cl, sz.w, sz.h, false, 50*time.Millisecond)
		waitScreen(t, tm, "console-test")
		keys(tm, "2")
		waitScreen(t, tm, "HEALTH")
		keys(tm, "enter")
		waitScreen(t, tm, "control API listening")

		before := restarts(t, cl, "api")
		keys(tm, "r")
		waitScreen(t, tm, "Restart api? [y/N]")
		keys(tm, "n")
		waitScreen(t, tm, "restart cancelled")
		if got := restarts(t, cl, "api"); got != before {
			t.Fatalf("restarts went from %d to %d after n", before, got)
		}
		keys(tm, "r", "y")
		waitScreen(t, tm, "restart of api requested")
		// The followed log shows the restart, and the daemon counts it.
		waitScreen(t, tm, "restarting on request")
		testutil.Eventually(t, "the daemon to count the restart", func() error {
			if n := restarts(t, cl, "api"); n != before+1 {
				return fmt.Errorf("%d restarts, want %d", n, before+1)
			}
			return nil
		})
		keys(tm, "q")
		tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
	}
}

func restarts(t *testing.T, cl *api.Client, name string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := cl.WaitReady(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st.Services {
		if s.Name == name {
			return s.Restarts
		}
	}
	t.Fatalf("no service %s in %+v", name, st.Services)
	return 0
}

// TestReconnects shows the banner while the daemon is away and clears it
// when a daemon answers again on the same socket.
func TestReconnects(t *testing.T) {
	f := newFixedAPI()
	cl := f.serve(t)
	tm := console(t, cl, 80, 24, false, 20*time.Millisecond)
	waitScreen(t, tm, "bench-7")
	f.down.Store(true)
	waitScreen(t, tm, "daemon unreachable, retrying")
	waitScreen(t, tm, "daemon is shutting down (HTTP 503)")
	f.down.Store(false)
	waitScreen(t, tm, "bench-7 · up")
	m := finalModel(t, tm)
	if m.statusErr != nil {
		t.Fatalf("banner still up after the daemon came back: %v", m.statusErr)
	}
}
