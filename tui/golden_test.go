package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

var sizes = []struct{ w, h int }{{80, 24}, {120, 40}}

// TestGolden renders every screen at 80x24 and 120x40 from the fixed API,
// with the clock and colour profile pinned. Update with -update.
func TestGolden(t *testing.T) {
	screens := []struct {
		name  string
		mono  bool
		drive func(t *testing.T, tm *testConsole, f *fixedAPI)
	}{
		{"overview", false, func(t *testing.T, tm *testConsole, f *fixedAPI) {
			waitScreen(t, tm, "RX, LAST MINUTE")
			feedPorts(tm, 40)
			waitScreen(t, tm, "1.4k")
		}},
		{"overview-mono", true, func(t *testing.T, tm *testConsole, f *fixedAPI) {
			waitScreen(t, tm, "RX, LAST MINUTE")
			feedPorts(tm, 40)
			waitScreen(t, tm, "1.4k")
		}},
		{"ports", false, func(t *testing.T, tm *testConsole, f *fixedAPI) {
			keys(tm, "3")
			waitScreen(t, tm, "SUBSCRIBER")
			feedPorts(tm, 70)
			waitScreen(t, tm, "1.6k")
		}},
		{"ports-mono", true, func(t *testing.T, tm *testConsole, f *fixedAPI) {
			keys(tm, "3")
			waitScreen(t, tm, "SUBSCRIBER")
			feedPorts(tm, 70)
			waitScreen(t, tm, "1.6k")
			keys(tm, "j")
			waitScreen(t, tm, "link down since")
		}},
		{"services", false, func(t *testing.T, tm *testConsole, f *fixedAPI) {
			keys(tm, "2", "j", "j")
			waitScreen(t, tm, "HEALTH")
		}},
		{"services-mono", true, func(t *testing.T, tm *testConsole, f *fixedAPI) {
			keys(tm, "2", "j", "j")
			waitScreen(t, tm, "HEALTH")
		}},
		{"services-filter", false, func(t *testing.T, tm *testConsole, f *fixedAPI) {
			keys(tm, "tab", "/", "a", "p", "i")
			waitScreen(t, tm, "/api")
		}},
		{"services-confirm", false, func(t *testing.T, tm *testConsole, f *fixedAPI) {
			keys(tm, "2", "j", "j", "j", "r")
			waitScreen(t, tm, "Restart exporter? [y/N]")
		}},
		{"logs", false, func(t *testing.T, tm *testConsole, f *fixedAPI) {
			keys(tm, "2", "enter")
			waitScreen(t, tm, "client went away")
		}},
		{"help", false, func(t *testing.T, tm *testConsole, f *fixedAPI) {
			keys(tm, "2", "?")
			waitScreen(t, tm, "Keys: Services")
		}},
		{"capture", false, func(t *testing.T, tm *testConsole, f *fixedAPI) {
			openCaptures(t, tm, "c1-00003.pcapng")
		}},
		{"capture-mono", true, func(t *testing.T, tm *testConsole, f *fixedAPI) {
			// The sessions arrive with their own poll: move only once they are there.
			openCaptures(t, tm, "c1-00003.pcapng")
			keys(tm, "j")
			waitScreen(t, tm, "no space left on device")
		}},
		{"capture-form-error", false, func(t *testing.T, tm *testConsole, f *fixedAPI) {
			openCaptures(t, tm, "c1-00003.pcapng")
			fillCaptureForm(tm, "wb0", "tcp port 80 and", "/data/captures")
			waitScreen(t, tm, `expected an expression after "and"`)
		}},
		{"capture-stop-confirm", false, func(t *testing.T, tm *testConsole, f *fixedAPI) {
			openCaptures(t, tm, "c1-00003.pcapng")
			keys(tm, "s")
			waitScreen(t, tm, "Stop capture c1? [y/N]")
		}},
		{"banner", false, func(t *testing.T, tm *testConsole, f *fixedAPI) {
			// The API went down after one status (downAfterOne, below).
			waitScreen(t, tm, "daemon unreachable")
		}},
	}
	for _, sc := range screens {
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("%s/%dx%d", sc.name, sz.w, sz.h), func(t *testing.T) {
				f := newFixedAPI()
				cl := f.serve(t)
				interval := time.Hour // no polls beyond the first: the frame is fixed
				if sc.name == "banner" {
					interval = 20 * time.Millisecond
					f.downAfterOne.Store(true)
				}
				tm := console(t, cl, sz.w, sz.h, sc.mono, interval)
				waitScreen(t, tm, "bench-7")
				sc.drive(t, tm, f)
				screen := finalScreen(t, tm)
				checkFits(t, screen, sz.w, sz.h)
				requireGolden(t, screen)
			})
		}
	}
}

// checkFits fails when a frame is taller or wider than the terminal.
func checkFits(t *testing.T, screen []byte, w, h int) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(string(screen), "\n"), "\n")
	if len(lines) != h {
		t.Errorf("frame has %d lines, want %d", len(lines), h)
	}
	for i, l := range lines {
		if n := visibleWidth(l); n > w {
			t.Errorf("line %d is %d cells wide, more than %d: %q", i, n, w, l)
		}
	}
}
