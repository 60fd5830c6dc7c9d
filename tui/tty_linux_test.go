package tui

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"
	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/internal/testutil"
)

func TestEnsureTTYSize(t *testing.T) {
	_, pts := testutil.OpenPTY(t)
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
	_, pts := testutil.OpenPTY(t)
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

// TestConsoleOnSerialLine runs `wirebox console` as init runs it on the
// appliance: session leader on a terminal that reports 0x0 (a fresh pty, as a
// serial line), TERM=vt100. It must size the line (here from
// WIREBOX_CONSOLE_SIZE), draw, and on q exit cleanly, not killed by the
// SIGHUP that giving up the terminal raises.
func TestConsoleOnSerialLine(t *testing.T) {
	bin := testutil.Wirebox(t)
	sock := filepath.Join(t.TempDir(), "wirebox.sock")
	startDaemon(t, bin, sock)
	ptm, pts := testutil.OpenPTY(t)
	cmd := exec.Command(bin, "console", "--socket", sock)
	cmd.Env = []string{"PATH=/usr/bin:/bin", "TERM=vt100", SizeEnv + "=100x30"}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = pts, pts, pts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	var mu sync.Mutex
	var out bytes.Buffer
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		buf := make([]byte, 4096)
		for {
			n, err := ptm.Read(buf)
			mu.Lock()
			out.Write(buf[:n])
			mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	shown := func() string { mu.Lock(); defer mu.Unlock(); return ansi.Strip(out.String()) }
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(shown(), "Appliance") {
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("the console drew nothing usable on a 0x0 line:\n%q", shown())
		}
		time.Sleep(20 * time.Millisecond)
	}
	ws, err := unix.IoctlGetWinsize(int(pts.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Col != 100 || ws.Row != 30 {
		t.Errorf("line size %+v (%v), want 100x30 from %s", ws, err, SizeEnv)
	}
	if _, err := ptm.Write([]byte("q")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("console exit: %v\n%q", err, shown())
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
		t.Fatalf("console did not exit on q:\n%q", shown())
	}
	pts.Close()
	ptm.Close()
	<-readDone
}
