package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/testutil"
)

// TestCaptureStartStop drives the Capture panel against the fixed API:
// a form error, a start, a cancelled stop and a stop.
func TestCaptureStartStop(t *testing.T) {
	f := newFixedAPI()
	cl := f.serve(t)
	tm := console(t, cl, 80, 24, false, 50*time.Millisecond)
	waitScreen(t, tm, "bench-7")
	openCaptures(t, tm, "c1-00003.pcapng")

	// No output directory: the daemon's error lands under Output.
	keys(tm, "n")
	typeText(tm, "wb1")
	keys(tm, "enter", "enter", "enter", "enter")
	waitScreen(t, tm, "no output directory")
	typeText(tm, "/data/captures")
	keys(tm, "enter")
	waitScreen(t, tm, "capture c3 started on wb1")
	waitScreen(t, tm, "> c3   wb1")

	keys(tm, "k", "k", "s")
	waitScreen(t, tm, "Stop capture c1? [y/N]")
	keys(tm, "n")
	waitScreen(t, tm, "stop cancelled")
	keys(tm, "s", "y")
	waitScreen(t, tm, "capture c1 stopped: 123456 packets in 3 files")
	f.mu.Lock()
	left := len(f.captures)
	var ids []string
	for _, c := range f.captures {
		ids = append(ids, c.ID)
	}
	f.mu.Unlock()
	if left != 2 || ids[0] != "c2" || ids[1] != "c3" {
		t.Fatalf("sessions left on the daemon: %v", ids)
	}
	// The list follows the daemon: c1 is gone from the screen.
	testutil.Eventually(t, "the stopped session to leave the list", func() error {
		if s := tm.rec.screen(); strings.Contains(s, "c1-00003") {
			return fmt.Errorf("still listed:\n%s", s)
		}
		return nil
	})
}

func TestFmtBytesCount(t *testing.T) {
	for b, want := range map[uint64]string{0: "0B", 1023: "1023B", 1024: "1.0K", 98765432: "94.2M", 3 << 30: "3.0G"} {
		if got := FmtBytes(b); got != want {
			t.Errorf("FmtBytes(%d) = %q, want %q", b, got, want)
		}
	}
	for v, want := range map[float64]string{0: "0", 999: "999", 12345: "12.3k", 4.5e6: "4.5M", 2e9: "2.0G"} {
		if got := FmtCount(v); got != want {
			t.Errorf("FmtCount(%v) = %q, want %q", v, got, want)
		}
	}
}
