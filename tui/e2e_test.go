package tui

import (
	"errors"
	"fmt"
	"github.com/wirebox/wirebox/internal/config"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/testutil"
)

// tmuxSession is a tmux server of the test's own (its socket in TempDir)
// running one command in an 80x24 pane.
type tmuxSession struct {
	t    *testing.T
	sock string
}

func requireTmux(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("tmux"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("tmux is required in CI (apt-get install tmux; scripts/deps.sh test installs it)")
		}
		t.Skip("tmux not installed")
	}
}

func newTmux(t *testing.T, w, h int, command string) *tmuxSession {
	t.Helper()
	s := &tmuxSession{t: t, sock: filepath.Join(t.TempDir(), "tmux.sock")}
	s.run("-f", "/dev/null", "new-session", "-d", "-s", "console", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h), command)
	t.Cleanup(func() { _ = exec.Command("tmux", "-S", s.sock, "kill-server").Run() })
	return s
}

func (s *tmuxSession) run(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func (s *tmuxSession) capture(escapes bool) string {
	s.t.Helper()
	args := []string{"capture-pane", "-p", "-t", "console"}
	if escapes {
		args = append(args, "-e")
	}
	return s.run(args...)
}

func (s *tmuxSession) keys(keys ...string) {
	s.t.Helper()
	s.run(append([]string{"send-keys", "-t", "console"}, keys...)...)
}

// wait polls the pane until it shows every one of want.
func (s *tmuxSession) wait(want ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		pane := s.capture(false)
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

// gone waits for the pane's command to exit (the session ends with it).
func (s *tmuxSession) gone() {
	s.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for exec.Command("tmux", "-S", s.sock, "has-session", "-t", "console").Run() == nil {
		if time.Now().After(deadline) {
			s.t.Fatalf("the console did not exit; pane:\n%s", s.capture(false))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startDaemon runs the real daemon binary with the default configuration
// named name, on sock (or a socket of its own for "").
func startDaemon(t *testing.T, name, sock string) *testutil.Daemon {
	t.Helper()
	cfg := config.Default()
	cfg.Name = name
	if sock != "" {
		cfg.API.Socket = sock
	}
	return testutil.StartDaemon(t, cfg)
}

// TestConsoleInTmux is the end-to-end test: the real daemon binary, the real
// console in a tmux pane, keys sent with send-keys, the pane read back.
func TestConsoleInTmux(t *testing.T) {
	requireTmux(t)
	sock := filepath.Join(t.TempDir(), "wirebox.sock")
	d := startDaemon(t, "wirebox", sock)
	bin, cl := d.Bin, d.Client

	s := newTmux(t, 80, 24, fmt.Sprintf("env TERM=xterm-256color %s console --socket %s", bin, sock))
	s.wait("1 Overview", "2 Services", "Appliance", "SERVICE", "api", "running")

	s.keys("?")
	s.wait("Keys: everywhere", "go to screen")
	s.keys("Escape")
	s.wait("Appliance")

	s.keys("2")
	s.wait("HEALTH", "> api")
	s.keys("Tab")
	s.wait("Appliance")
	s.keys("Tab")
	s.wait("HEALTH")

	s.keys("Enter")
	s.wait("Log of api", "control API listening")
	s.keys("r")
	s.wait("Restart api? [y/N]")
	s.keys("y")
	s.wait("restart of api requested", "restarting on request", "restarts 1")
	if n := restarts(t, cl, "api"); n != 1 {
		t.Fatalf("daemon counts %d restarts of api, want 1", n)
	}
	if colour := s.capture(true); colourSGR(colour) == "" {
		t.Errorf("no colour in a 256-colour terminal:\n%q", colour)
	}

	// Losing the daemon shows the banner; a new daemon on the socket clears it.
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	s.wait("daemon unreachable, retrying", "offline")
	startDaemon(t, "wirebox", sock)
	pane := s.wait("wirebox · up")
	if strings.Contains(pane, "daemon unreachable") {
		t.Fatalf("banner still shown after the daemon came back:\n%s", pane)
	}

	s.keys("q")
	s.gone()
}

// TestConsoleMonochrome runs the console as on a vt100 serial line: no
// colour codes at all, and the selection still visible (reverse video).
func TestConsoleMonochrome(t *testing.T) {
	requireTmux(t)
	d := startDaemon(t, "wirebox", "")
	s := newTmux(t, 80, 24, fmt.Sprintf("env TERM=vt100 %s console --socket %s", d.Bin, d.Socket))
	s.wait("SERVICE", "api", "running")
	s.keys("2")
	s.wait("> api")
	pane := s.capture(true)
	if c := colourSGR(pane); c != "" {
		t.Errorf("colour sequence %q in the monochrome console:\n%q", c, pane)
	}
	if !strings.Contains(pane, "\x1b[7m") {
		t.Errorf("no reverse video for the selection:\n%q", pane)
	}
	s.keys("q")
	s.gone()
}

var sgrRE = regexp.MustCompile(`\x1b\[([0-9;:]*)m`)

// colourSGR returns the first SGR sequence in s that sets a colour (39 and
// 49, "default colour", are how tmux resets and do not count).
func colourSGR(s string) string {
	for _, m := range sgrRE.FindAllStringSubmatch(s, -1) {
		for _, p := range strings.FieldsFunc(m[1], func(r rune) bool { return r == ';' || r == ':' }) {
			n, _ := strconv.Atoi(p)
			if (n >= 30 && n <= 38) || (n >= 40 && n <= 48) || (n >= 90 && n <= 97) || (n >= 100 && n <= 107) {
				return m[0]
			}
		}
	}
	return ""
}

// TestConsoleRemote attaches the console to the daemon's TLS API with a
// token and the appliance's CA, as an operator does from a host.
func TestConsoleRemote(t *testing.T) {
	requireTmux(t)
	dir := t.TempDir()
	tf := testutil.WriteTLS(t, dir)
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("console-token-0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := config.Default()
	cfg.Name = "remote-box"
	cfg.API.Listen, cfg.API.TLSCert, cfg.API.TLSKey, cfg.API.TokenFile = addr, tf.Cert, tf.Key, tokenFile
	bin := testutil.StartDaemon(t, cfg).Bin

	s := newTmux(t, 120, 40, fmt.Sprintf("env TERM=xterm-256color %s console --remote https://%s --token @%s --ca %s", bin, addr, tokenFile, tf.CA))
	s.wait("remote-box", "api-remote", "Daemon    "+addr)
	s.keys("q")
	s.gone()

	// A wrong token gets a banner that says so, not a crash.
	s = newTmux(t, 120, 40, fmt.Sprintf("env TERM=xterm-256color %s console --remote https://%s --token wrong-token-0123456789 --ca %s", bin, addr, tf.CA))
	s.wait("the daemon refuses this console (check --token)", "HTTP 401")
	s.keys("q")
	s.gone()
}

// TestConsoleWithoutTerminal: started with no terminal at all (a script, a
// service manager), the console says what it needs and exits 1.
func TestConsoleWithoutTerminal(t *testing.T) {
	bin := testutil.Wirebox(t)
	cmd := exec.Command(bin, "console", "--socket", filepath.Join(t.TempDir(), "none.sock"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true} // no controlling terminal, so no /dev/tty
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "the console needs a terminal") {
		t.Fatalf("console without a terminal: %v\n%s", err, out)
	}
}
