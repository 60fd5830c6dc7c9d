package captureui

import (
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/tui/tuitest"
)

// TestCaptureRate: the PKT/S column comes from two polls, not one.
func TestCaptureRate(t *testing.T) {
	c := newCapturePanel(tuitest.Env())
	c.SetSize(80, 20)
	t0 := time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC)
	mk := func(p uint64) []api.CaptureSession {
		return []api.CaptureSession{{ID: "c1", Running: true, CaptureCounters: api.CaptureCounters{Packets: p}, Config: api.CaptureStart{Ports: []string{"wb0"}}}}
	}
	c.Update(capturesMsg{list: mk(100), at: t0})
	if strings.Contains(c.View(), "100/s") || c.rates["c1"] != 0 {
		t.Fatalf("a rate from one sample: %v", c.rates)
	}
	c.Update(capturesMsg{list: mk(2600), at: t0.Add(2 * time.Second)})
	if c.rates["c1"] != 1250 || !strings.Contains(c.View(), " 1.2k ") {
		t.Fatalf("rate %v, view:\n%s", c.rates["c1"], c.View())
	}
}
