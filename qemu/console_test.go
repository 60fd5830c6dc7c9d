package qemu

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/testutil"
)

// TestConsoleSize boots the image with its serial console on a 120x40 tmux
// pane, as `make run` does in a terminal: the guest asks the terminal for
// its size (a serial line carries none), and the console draws a 120x40
// screen whose service rows are the daemon's, with nothing overwritten.
// Quitting the console leaves the shell, and the boot's log says where the
// size came from.
func TestConsoleSize(t *testing.T) {
	a := needImage(t)
	testutil.RequireTmux(t)
	const cols, rows = 120, 40
	o := baseOptions(a, "wirebox-tty")
	o.Interactive = true // the console and QEMU's monitor on the pane, as in `make run`
	if err := o.defaults(); err != nil {
		t.Fatal(err)
	}
	args, err := o.args(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// timeout(1): QEMU is the tmux server's child, not ours; should this
	// test die before its cleanup kills the server, QEMU still ends.
	s := testutil.NewTmux(t, cols, rows, shellQuote(append([]string{"timeout", "900", o.QEMU}, args...)))
	s.Timeout = *bootTO
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pane and scrollback:\n%s", tail(s.History(), 4000))
		}
	})
	vm := &VM{Opts: o}
	c, err := vm.NewClient(built.Secrets)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), *bootTO)
	defer cancel()
	var st *api.Status
	waitFor(ctx, t, "every service running", func() error {
		if st, err = c.Status(ctx); err != nil {
			return err
		}
		if nr := NotRunning(st); len(nr) > 0 {
			return fmt.Errorf("not running: %v", nr)
		}
		return nil
	})

	pane := s.Wait("1 Overview", "q quit", "SERVICE")
	lines := strings.Split(strings.TrimSuffix(pane, "\n"), "\n")
	if len(lines) != rows {
		t.Fatalf("pane has %d rows, want %d:\n%s", len(lines), rows, pane)
	}
	// The footer is on the terminal's last row and the header's right-hand
	// part (name · up TIME) ends at its last columns: an 80x24 screen has
	// them on row 24 and at column 80.
	if !strings.Contains(lines[rows-1], "q quit") {
		t.Errorf("footer not on row %d:\n%s", rows, pane)
	}
	header := strings.TrimRight(lines[0], " ")
	if w := utf8.RuneCountInString(header); w < cols-4 || !strings.Contains(header, "· up") {
		t.Errorf("header ends at column %d, want about %d:\n%s", w, cols, pane)
	}
	// Every service the daemon reports has its row, name intact (a wrong
	// size made rows overwrite each other: "2spi-remote").
	for _, sv := range st.Services {
		found := false
		for _, l := range lines {
			if strings.HasPrefix(strings.TrimLeft(l, " >"), sv.Name+" ") {
				found = true
			}
		}
		if !found {
			t.Errorf("no row for service %s:\n%s", sv.Name, pane)
		}
	}

	// q leaves the console for the shell; the boot's log on the terminal
	// said where the size came from.
	s.Keys("q")
	s.Wait("toggle key help") // gosh's prompt line
	if h := s.History(); !strings.Contains(h, fmt.Sprintf(`cols=%d rows=%d from="terminal's answer"`, cols, rows)) {
		t.Errorf("the boot's console size line is missing or not from the terminal's answer:\n%s", tail(h, 3000))
	}
}

// shellQuote makes one sh command line of args.
func shellQuote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}
