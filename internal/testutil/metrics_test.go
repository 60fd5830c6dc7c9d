package testutil

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestMetrics: values sum by name, or by name and the chosen label.
func TestMetrics(t *testing.T) {
	frames := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "x_frames_total", Help: "h"}, []string{"direction", "port"})
	frames.WithLabelValues("rx", "a").Add(2)
	frames.WithLabelValues("rx", "b").Add(3)
	frames.WithLabelValues("tx", "a").Add(7)
	up := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x_up", Help: "h"})
	up.Set(1)
	if m := Metrics(t, "", frames, up); len(m) != 2 || m["x_frames_total"] != 12 || m["x_up"] != 1 {
		t.Errorf("by name: %v", m)
	}
	if m := Metrics(t, "direction", frames, up); len(m) != 3 || m["x_frames_total/rx"] != 5 || m["x_frames_total/tx"] != 7 || m["x_up"] != 1 {
		t.Errorf("by direction: %v", m)
	}
}
