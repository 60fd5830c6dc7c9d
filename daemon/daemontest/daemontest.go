// Package daemontest runs a wirebox daemon in-process for tests: the same
// typed configuration as testutil.StartDaemon (the binary), for tests that
// need the daemon's internals (its supervisor, its core) or want no build.
// It imports package daemon, so daemon's own tests use testutil instead.
package daemontest

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/wirebox/wirebox/daemon"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
)

// Start builds the daemon from cfg (nil: daemon.DefaultConfig; its API
// socket moved into the test's temporary directory), runs it until the
// test ends, and returns it with a client once the API answers. The test
// fails if Run returns an error.
func Start(tb testing.TB, cfg *config.Config) (*daemon.Daemon, *api.Client) {
	tb.Helper()
	if cfg == nil {
		cfg = daemon.DefaultConfig()
	}
	c := *cfg
	c.API.Socket = filepath.Join(tb.TempDir(), "wirebox.sock")
	d, err := daemon.New(&c, daemon.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- d.Run(ctx) }()
	cl := api.NewUnixClient(c.API.Socket)
	tb.Cleanup(func() {
		cl.Close()
		cancel()
		if err := <-errc; err != nil {
			tb.Errorf("daemon: %v", err)
		}
	})
	wctx, wcancel := context.WithTimeout(ctx, 30*time.Second)
	defer wcancel()
	if _, err := cl.WaitReady(wctx); err != nil {
		tb.Fatal(err)
	}
	return d, cl
}
