package tui

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// openPTY returns a new pseudo-terminal pair; a new one reports 0x0, like a
// serial line.
func openPTY(t *testing.T) (ptm, pts *os.File) {
	t.Helper()
	ptm, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ptm.Close() })
	if err := unix.IoctlSetPointerInt(int(ptm.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptm.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	pts, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pts.Close() })
	return ptm, pts
}

func TestEnsureTTYSize(t *testing.T) {
	_, pts := openPTY(t)
	ws, err := unix.IoctlGetWinsize(int(pts.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Row != 0 || ws.Col != 0 {
		t.Fatalf("a new pty should be 0x0: %+v %v", ws, err)
	}
	set, err := EnsureTTYSize(pts, Size{Cols: 100, Rows: 30})
	if err != nil || !set {
		t.Fatalf("EnsureTTYSize = %v, %v", set, err)
	}
	ws, _ = unix.IoctlGetWinsize(int(pts.Fd()), unix.TIOCGWINSZ)
	if ws.Row != 30 || ws.Col != 100 {
		t.Fatalf("size after EnsureTTYSize: %dx%d, want 100x30", ws.Col, ws.Row)
	}
	// A terminal that has a size keeps it.
	if set, err := EnsureTTYSize(pts, Size{Cols: 80, Rows: 24}); set || err != nil {
		t.Fatalf("second EnsureTTYSize = %v, %v", set, err)
	}
	// Not a terminal: nothing to do, no error.
	f, err := os.CreateTemp(t.TempDir(), "x")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if set, err := EnsureTTYSize(f, DefaultSize); set || err != nil {
		t.Fatalf("EnsureTTYSize on a file = %v, %v", set, err)
	}
}

// releaseHelperEnv makes the test binary act as a console that leads its
// session on a terminal and releases it (see TestMain).
const releaseHelperEnv = "WIREBOX_TUI_RELEASE_HELPER"

func releaseHelper() int {
	before := ttyNr()
	leader := IsSessionLeader()
	err := ReleaseTTY(os.Stdin)
	fmt.Fprintf(os.Stderr, "before=%d after=%d leader=%v err=%v\n", before, ttyNr(), leader, err)
	return 0
}

// ttyNr is the controlling terminal of this process (0: none), from
// /proc/self/stat.
func ttyNr() int {
	b, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	n, _ := strconv.Atoi(f[4])
	return n
}

// TestReleaseTTY runs a session leader with a controlling terminal, as init
// runs the console, and checks that ReleaseTTY drops the terminal and that
// the SIGHUP this sends the leader's group does not kill it.
func TestReleaseTTY(t *testing.T) {
	_, pts := openPTY(t)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), releaseHelperEnv+"=1")
	cmd.Stdin, cmd.Stdout = pts, pts
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Run(); err != nil {
		t.Fatalf("helper: %v\n%s", err, stderr.String())
	}
	var before, after int
	var leader bool
	var errs string
	if _, err := fmt.Sscanf(stderr.String(), "before=%d after=%d leader=%t err=%s", &before, &after, &leader, &errs); err != nil {
		t.Fatalf("helper said %q: %v", stderr.String(), err)
	}
	if before == 0 || !leader {
		t.Fatalf("helper did not start as a session leader on the pty: %s", stderr.String())
	}
	if after != 0 || errs != "<nil>" {
		t.Fatalf("the controlling terminal was not released: %s", stderr.String())
	}
}
