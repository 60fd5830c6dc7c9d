package testutil

import (
	"fmt"
	"strings"
	"testing"
)

// TestCLIJSON: the output decodes into the type; a failing command or
// output that is not JSON fails the test, naming the command.
func TestCLIJSON(t *testing.T) {
	run := func(out string, err error) func(args ...string) (string, error) {
		return func(args ...string) (string, error) { return out, err }
	}
	if got := CLIJSON[[]int](t, run("[1,2]", nil), "x", "--json"); len(got) != 2 || got[1] != 2 {
		t.Errorf("decoded %v", got)
	}
	for _, r := range []func(args ...string) (string, error){run("[1,2]", fmt.Errorf("exit status 1")), run("usage: x", nil)} {
		rec := &fatalRecorder{TB: t}
		func() {
			defer func() { _ = recover() }()
			CLIJSON[[]int](rec, r, "x", "--json")
		}()
		if !strings.HasPrefix(rec.msg, "wirebox x --json: ") {
			t.Errorf("failure %q", rec.msg)
		}
	}
}
