package testutil

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Tmux is a tmux server of the test's own (its socket in TempDir) running
// one command in a pane of a given size: the real terminal peer for the
// console tests. It is killed at cleanup, and with it the pane's command.
type Tmux struct {
	t    testing.TB
	sock string
	// Timeout bounds Wait and Gone (20 s unless set): a bound, not a
	// timed assertion.
	Timeout time.Duration
}

// RequireTmux skips without tmux, and fails under CI.
func RequireTmux(t testing.TB) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is required in CI (apt-get install tmux; scripts/deps.sh test installs it)")
		}
		t.Skip("tmux not installed")
	}
}

// NewTmux starts command (run by sh -c) in a detached cols x rows pane.
func NewTmux(t testing.TB, cols, rows int, command string) *Tmux {
	t.Helper()
	s := &Tmux{t: t, sock: filepath.Join(t.TempDir(), "tmux.sock"), Timeout: 20 * time.Second}
	s.Run("-f", "/dev/null", "new-session", "-d", "-s", "console", "-x", fmt.Sprint(cols), "-y", fmt.Sprint(rows), command)
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", s.sock, "kill-server").Run() })
	return s
}

// Run runs a tmux command against this server.
func (s *Tmux) Run(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Capture is the pane as shown (with SGR escapes when escapes is set).
func (s *Tmux) Capture(escapes bool) string {
	s.t.Helper()
	args := []string{"capture-pane", "-p", "-t", "console"}
	if escapes {
		args = append(args, "-e")
	}
	return s.Run(args...)
}

// History is the pane's scrollback and screen.
func (s *Tmux) History() string {
	s.t.Helper()
	return s.Run("capture-pane", "-p", "-S", "-", "-t", "console")
}

// Keys sends keys with send-keys.
func (s *Tmux) Keys(keys ...string) {
	s.t.Helper()
	s.Run(append([]string{"send-keys", "-t", "console"}, keys...)...)
}

// Wait polls the pane until it shows every one of want, and returns it.
func (s *Tmux) Wait(want ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(s.Timeout)
	for {
		pane := s.Capture(false)
		missing := ""
		for _, w := range want {
			if !strings.Contains(pane, w) {
				missing = w
				break
			}
		}
		if missing == "" {
			return pane
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("the pane never showed %q; it shows:\n%s", missing, pane)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Gone waits for the pane's command to exit (the session ends with it).
func (s *Tmux) Gone() {
	s.t.Helper()
	deadline := time.Now().Add(s.Timeout)
	for exec.Command("tmux", "-S", s.sock, "has-session", "-t", "console").Run() == nil {
		if time.Now().After(deadline) {
			s.t.Fatalf("the command did not exit; pane:\n%s", s.Capture(false))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
