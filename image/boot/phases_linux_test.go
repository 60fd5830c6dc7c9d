package boot

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/internal/testutil"
)

func TestKernelPhases(t *testing.T) {
	// Records as /dev/kmsg gives them, one per read (real lines of the
	// Debian cloud kernel under QEMU).
	recs := []string{
		"6,312,2190511,-;Trying to unpack rootfs image as initramfs...\n",
		"4,313,2200000,-;random: crng init done\n",
		"", // EPIPE: overwritten records are skipped
		"6,402,3471002,-;Freeing initrd memory: 7652K\n",
		"6,480,5040120,-;Run /init as init process\n SUBSYSTEM=x\n",
		"garbage",
	}
	i := 0
	got := KernelPhases(func(b []byte) (int, error) {
		if i >= len(recs) {
			return 0, unix.EAGAIN
		}
		r := recs[i]
		i++
		if r == "" {
			return 0, unix.EPIPE
		}
		return copy(b, r), nil
	})
	want := []struct {
		name string
		s    float64
	}{{"kernel: initramfs unpack starts", 2.19}, {"kernel: initramfs unpacked", 3.47}, {"kernel: /init starts", 5.04}}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for i, w := range want {
		if got[i].Name != w.name || got[i].Seconds != w.s {
			t.Errorf("phase %d = %+v, want %s at %.2f", i, got[i], w.name, w.s)
		}
	}
}

func TestParseCursorReport(t *testing.T) {
	for _, tc := range []struct {
		in         string
		cols, rows uint16
		ok         bool
	}{
		{"\x1b[40;120R", 120, 40, true},
		{"typed\x1b[24;80R", 80, 24, true},
		{"\x1b[40;120", 0, 0, false}, // not complete yet
		{"\x1b[2;3R", 0, 0, false},   // too small to be a whole screen
		{"\x1b[x;yR", 0, 0, false},
	} {
		c, r, ok := ParseCursorReport([]byte(tc.in))
		if c != tc.cols || r != tc.rows || ok != tc.ok {
			t.Errorf("%q: %d x %d %v, want %d x %d %v", tc.in, c, r, ok, tc.cols, tc.rows, tc.ok)
		}
	}
}

// TestKeep: a daemon that dies is started again, with the restart count
// and how the last one ended in its environment.
func TestKeep(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "runs")
	bin := filepath.Join(dir, "fake-daemon")
	// Each run records its environment, then the first two die (killed by
	// a signal, then a non-zero exit) and the third stays.
	script := `#!/bin/sh
echo "$WIREBOX_DAEMON_RESTARTS|$WIREBOX_DAEMON_LAST_EXIT|$*" >> ` + log + `
n=$(wc -l < ` + log + `)
[ "$n" -eq 1 ] && kill -9 $$
[ "$n" -eq 2 ] && exit 3
exec sleep 60
`
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Keep(ctx, bin, []string{"--config", "x.yaml"}, io.Discard) }()
	testutil.WaitFor(t, "the daemon's third run", func() bool {
		b, _ := os.ReadFile(log)
		return strings.Count(string(b), "\n") >= 3
	})
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(log)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	want := []string{"0||daemon --config x.yaml", "1|killed by signal killed|daemon --config x.yaml", "2|exited with status 3|daemon --config x.yaml"}
	for i, w := range want {
		if lines[i] != w {
			t.Errorf("run %d: %q, want %q", i, lines[i], w)
		}
	}
}
