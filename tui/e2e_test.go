package tui

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/internal/testutil"
)

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
	testutil.RequireTmux(t)
	sock := filepath.Join(t.TempDir(), "wirebox.sock")
	d := startDaemon(t, "wirebox", sock)
	bin, cl := d.Bin, d.Client

	s := testutil.NewTmux(t, 80, 24, fmt.Sprintf("env TERM=xterm-256color %s console --socket %s", bin, sock))
	s.Wait("1 Overview", "2 Services", "Appliance", "SERVICE", "api", "running")

	s.Keys("?")
	s.Wait("Keys: everywhere", "go to screen")
	s.Keys("Escape")
	s.Wait("Appliance")

	s.Keys("2")
	s.Wait("HEALTH", "> api")
	s.Keys("Tab")
	s.Wait("Appliance")
	s.Keys("Tab")
	s.Wait("HEALTH")

	s.Keys("Enter")
	s.Wait("Log of api", "control API listening")
	s.Keys("r")
	s.Wait("Restart api? [y/N]")
	s.Keys("y")
	s.Wait("restart of api requested", "restarting on request", "restarts 1")
	if n := restarts(t, cl, "api"); n != 1 {
		t.Fatalf("daemon counts %d restarts of api, want 1", n)
	}
	if colour := s.Capture(true); colourSGR(colour) == "" {
		t.Errorf("no colour in a 256-colour terminal:\n%q", colour)
	}

	// Losing the daemon shows the banner; a new daemon on the socket clears it.
	if err := d.Stop(); err != nil {
		t.Fatal(err)
	}
	s.Wait("daemon unreachable, retrying", "offline")
	startDaemon(t, "wirebox", sock)
	pane := s.Wait("wirebox · up")
	if strings.Contains(pane, "daemon unreachable") {
		t.Fatalf("banner still shown after the daemon came back:\n%s", pane)
	}

	s.Keys("q")
	s.Gone()
}

// TestConsoleMonochrome runs the console as on a vt100 serial line: no
// colour codes at all, and the selection still visible (reverse video).
func TestConsoleMonochrome(t *testing.T) {
	testutil.RequireTmux(t)
	d := startDaemon(t, "wirebox", "")
	s := testutil.NewTmux(t, 80, 24, fmt.Sprintf("env TERM=vt100 %s console --socket %s", d.Bin, d.Socket))
	s.Wait("SERVICE", "api", "running")
	s.Keys("2")
	s.Wait("> api")
	pane := s.Capture(true)
	if c := colourSGR(pane); c != "" {
		t.Errorf("colour sequence %q in the monochrome console:\n%q", c, pane)
	}
	if !strings.Contains(pane, "\x1b[7m") {
		t.Errorf("no reverse video for the selection:\n%q", pane)
	}
	s.Keys("q")
	s.Gone()
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
	testutil.RequireTmux(t)
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

	s := testutil.NewTmux(t, 120, 40, fmt.Sprintf("env TERM=xterm-256color %s console --remote https://%s --token @%s --ca %s", bin, addr, tokenFile, tf.CA))
	s.Wait("remote-box", "api-remote", "Daemon    "+addr)
	s.Keys("q")
	s.Gone()

	// A wrong token gets a banner that says so, not a crash.
	s = testutil.NewTmux(t, 120, 40, fmt.Sprintf("env TERM=xterm-256color %s console --remote https://%s --token wrong-token-0123456789 --ca %s", bin, addr, tf.CA))
	s.Wait("the daemon refuses this console (check --token)", "HTTP 401")
	s.Keys("q")
	s.Gone()
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
