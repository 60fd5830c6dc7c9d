package netns

import (
	"os"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

// probe checks once per process whether namespaces can be made here.
var probe = sync.OnceValue(func() string {
	if os.Geteuid() != 0 {
		return "not root"
	}
	err := onLockedThread(func() error { return unix.Unshare(unix.CLONE_NEWNET) })
	if err != nil {
		return "cannot create network namespaces: " + err.Error()
	}
	return ""
})

// Require skips the test when it cannot create network namespaces (not
// root, no netns support), or fails it when the environment variable CI is
// set: in CI the privileged tests must run.
func Require(tb testing.TB) {
	tb.Helper()
	require(tb, probe(), os.Getenv("CI") != "")
}

// require is Require with the probe result and CI flag given, so the
// decision itself is tested.
func require(tb testing.TB, reason string, ci bool) {
	tb.Helper()
	if reason == "" {
		return
	}
	if ci {
		tb.Fatalf("privileged test cannot run (CI is set): %s", reason)
		return
	}
	tb.Skipf("privileged test skipped: %s (set CI to make this fail)", reason)
}
