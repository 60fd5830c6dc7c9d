package node

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/tap"
)

// appliance is one node's namespace and core.
type appliance struct {
	ns   *netns.NS
	core *capture.Core
	pool *tap.Pool
}

func newAppliance(t *testing.T, ns *netns.NS, ports ...string) *appliance {
	t.Helper()
	pool, err := tap.NewPool(tap.Config{Frames: 8192})
	if err != nil {
		t.Fatal(err)
	}
	core := capture.NewCore(pool, slog.New(slog.DiscardHandler))
	a := &appliance{ns: ns, core: core, pool: pool}
	t.Cleanup(a.close)
	for _, p := range ports {
		ns.Run(t, "ethtool", "-K", p, "gro", "on")
		if _, err := core.OpenPort(capture.PortConfig{Name: p, Mode: capture.Bypass, NetNS: ns.Path}); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func (a *appliance) close() {
	if a.core != nil {
		a.core.Close()
		a.pool.Close()
		a.core = nil
	}
}

// startNode runs a node until the returned stop is called (or the test ends).
func startNode(t *testing.T, a *appliance, cfg Config, name string) (*Node, func()) {
	t.Helper()
	n, err := New(a.core, cfg, slog.New(slog.NewTextHandler(testWriter{t, name}, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("%s: %v", name, err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	t.Cleanup(stop)
	return n, stop
}

type testWriter struct {
	t    *testing.T
	name string
}

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Logf("%s: %s", w.name, bytes.TrimSpace(b))
	return len(b), nil
}

// servers starts a TCP echo server on each backend and a UDP echo server,
// in ns.
