package testutil

import (
	"errors"
	"testing"
	"time"
)

// WaitFor polls cond until it holds, failing the test with what it waited
// for after 30 s. The bound is generous on purpose: it stops a hung test,
// it is not a timing assertion.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	Eventually(t, what, func() error {
		if cond() {
			return nil
		}
		return errNotYet
	})
}

var errNotYet = errors.New("not yet")

// waitBound is how long WaitFor and Eventually wait (the helpers' own
// test shortens it).
var waitBound = 30 * time.Second

// Eventually is WaitFor for a check that says what it sees: check returns
// nil once the state is right, or an error that describes the state so
// far, which the failure after 30 s shows. It polls every 10 ms at first,
// then every 50 ms, so a check that runs a command does not load the
// machine.
func Eventually(t testing.TB, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(waitBound)
	for pause := 10 * time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			if err == errNotYet {
				t.Fatalf("timed out waiting for %s", what)
			}
			t.Fatalf("timed out waiting for %s: %v", what, err)
		}
		time.Sleep(pause)
	}
}
