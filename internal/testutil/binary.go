package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	buildOnce sync.Once
	buildPath string
	buildErr  error
	buildOut  []byte
)

// Wirebox builds the wirebox binary once per test process and returns its
// path. Tests that drive the real binary (signals, exit codes, peers such as
// curl and tmux) use it.
func Wirebox(tb testing.TB) string {
	tb.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "wirebox-test-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildPath = filepath.Join(dir, "wirebox")
		cmd := exec.Command("go", "build", "-o", buildPath, "github.com/wirebox/wirebox/cmd/wirebox")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		buildOut, buildErr = cmd.CombinedOutput()
	})
	if buildErr != nil {
		tb.Fatalf("building wirebox: %v\n%s", buildErr, buildOut)
	}
	return buildPath
}
