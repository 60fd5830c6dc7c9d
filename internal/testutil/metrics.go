package testutil

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics registers cs in a pedantic registry (which checks that each
// collector describes what it collects), gathers once and sums each
// metric's counter and gauge values by name, or by "name/value" of the
// label byLabel where a metric has it ("" for by name only). Tests
// compare a service's metrics with what its API says.
func Metrics(tb testing.TB, byLabel string, cs ...prometheus.Collector) map[string]float64 {
	tb.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(cs...)
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, lp := range m.GetLabel() {
				if byLabel != "" && lp.GetName() == byLabel {
					key += "/" + lp.GetValue()
				}
			}
			got[key] += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return got
}
