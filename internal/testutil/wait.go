package testutil

import (
	"testing"
	"time"
)

// WaitFor polls cond until it holds, failing the test with what it waited
// for after 30 s. The bound is generous on purpose: it stops a hung test,
// it is not a timing assertion.
func WaitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
