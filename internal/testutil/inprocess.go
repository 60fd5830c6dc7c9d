package testutil

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/api"
)

// InProcess runs run (a daemon's Run) until the test ends and returns a
// client of socket once the API there answers. When the test ends it
// cancels run's context and fails the test if run returned an error or
// left the socket behind. daemon/daemontest and package daemon's own tests
// start their in-process daemons through it.
func InProcess(tb testing.TB, socket string, run func(context.Context) error) *api.Client {
	tb.Helper()
	stop := Go(tb, run)
	cl := api.NewUnixClient(socket)
	tb.Cleanup(func() {
		cl.Close()
		if err := stop(); err != nil {
			tb.Errorf("daemon: %v", err)
		}
		if _, err := os.Stat(socket); !errors.Is(err, os.ErrNotExist) {
			tb.Errorf("socket left behind after stop: %v", err)
		}
	})
	wctx, wcancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer wcancel()
	if _, err := cl.WaitReady(wctx); err != nil {
		tb.Fatal(err)
	}
	return cl
}
