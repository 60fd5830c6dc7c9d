//go:build !linux

package netns

import (
	"os"
	"testing"
)

// Require skips (or, with CI set, fails) the test: namespaces exist only on Linux.
func Require(tb testing.TB) {
	tb.Helper()
	require(tb, "network namespaces need Linux", os.Getenv("CI") != "")
}

func require(tb testing.TB, reason string, ci bool) {
	tb.Helper()
	if ci {
		tb.Fatalf("privileged test cannot run (CI is set): %s", reason)
		return
	}
	tb.Skipf("privileged test skipped: %s", reason)
}
