package capturetest

import (
	"testing"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/tap"
)

// Core makes a pool of frames frames and a core on it. When the test ends it closes the core, fails the test
// unless every frame is back in the pool (a leaked reference), and frees
// the pool. Cleanups registered after the call run before it, so a test's
// consumers stop before the core closes.
func Core(tb testing.TB, frames int) *capture.Core {
	tb.Helper()
	pool, err := tap.NewPool(tap.Config{Frames: frames})
	if err != nil {
		tb.Fatal(err)
	}
	c := capture.NewCore(pool, nil)
	tb.Cleanup(func() {
		if err := c.Close(); err != nil {
			tb.Error(err)
		}
		if err := pool.CheckFull(); err != nil {
			tb.Error(err)
		}
		pool.Close()
	})
	return c
}
