package testutil

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// fatalRecorder is a testing.TB whose Fatalf records the message and ends
// the goroutine the way t.Fatalf does.
type fatalRecorder struct {
	testing.TB
	msg string
}

func (r *fatalRecorder) Helper() {}
func (r *fatalRecorder) Fatalf(format string, args ...any) {
	r.msg = fmt.Sprintf(format, args...)
	panic(r)
}

// TestEventually: a check that comes right returns; WaitFor and Eventually
// that never come right fail with what they waited for (Eventually with
// the last state too).
func TestEventually(t *testing.T) {
	n := 0
	Eventually(t, "three checks", func() error {
		if n++; n < 3 {
			return fmt.Errorf("check %d", n)
		}
		return nil
	})
	if n != 3 {
		t.Fatalf("%d checks, want 3", n)
	}
	defer func(b time.Duration) { waitBound = b }(waitBound)
	waitBound = 50 * time.Millisecond
	fails := func(f func(tb testing.TB)) string {
		r := &fatalRecorder{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			defer func() { _ = recover() }()
			f(r)
		}()
		<-done
		return r.msg
	}
	if msg := fails(func(tb testing.TB) { WaitFor(tb, "never", func() bool { return false }) }); msg != "timed out waiting for never" {
		t.Errorf("WaitFor failed with %q", msg)
	}
	if msg := fails(func(tb testing.TB) {
		Eventually(tb, "never", func() error { return fmt.Errorf("state %d", 7) })
	}); !strings.HasPrefix(msg, "timed out waiting for never: state 7") {
		t.Errorf("Eventually failed with %q", msg)
	}
}
