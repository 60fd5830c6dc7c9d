// Package daemontest runs a wirebox daemon in-process for tests: the same
// typed configuration as testutil.StartDaemon (the binary), for tests that
// need the daemon's internals (its supervisor, its core) or want no build.
// It imports package daemon, so daemon's own tests use testutil instead.
package daemontest

import (
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/wirebox/wirebox/daemon"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/internal/testutil"
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
	cl := testutil.InProcess(tb, c.API.Socket, d.Run)
	return d, cl
}
