package testutil

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
)

// Go runs run (a service's or a supervisor's Run) in a goroutine with a
// context of its own. stop cancels that context, waits for run to return
// and returns its error (the same error again on a later call). If the
// test has not stopped it by the end, its cleanup does, failing the test
// if run returned an error.
func Go(tb testing.TB, run func(context.Context) error) (stop func() error) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- run(ctx) }()
	var once sync.Once
	var err error
	halt := func() error {
		once.Do(func() {
			cancel()
			err = <-errc
		})
		return err
	}
	var byTest atomic.Bool // the test saw the error itself
	tb.Cleanup(func() {
		if err := halt(); err != nil && !byTest.Load() {
			tb.Errorf("%v", err)
		}
	})
	return func() error { byTest.Store(true); return halt() }
}
