package services

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descUp = prometheus.NewDesc("wirebox_service_up",
		"1 if the service is running (ready, health probe passing or degraded), else 0.", []string{"service"}, nil)
	descRestarts = prometheus.NewDesc("wirebox_service_restarts_total",
		"Times the supervisor restarted the service.", []string{"service"}, nil)
	descState = prometheus.NewDesc("wirebox_service_state",
		"1 for the service's current state.", []string{"service", "state"}, nil)
)

// Collector exposes the supervisor's view as Prometheus metrics.
func (s *Supervisor) Collector() prometheus.Collector { return supervisorCollector{s} }

type supervisorCollector struct{ s *Supervisor }

func (c supervisorCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descUp
	ch <- descRestarts
	ch <- descState
}

func (c supervisorCollector) Collect(ch chan<- prometheus.Metric) {
	for _, st := range c.s.Status() {
		up := 0.0
		if st.State.Up() {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(descUp, prometheus.GaugeValue, up, st.Name)
		ch <- prometheus.MustNewConstMetric(descRestarts, prometheus.CounterValue, float64(st.Restarts), st.Name)
		ch <- prometheus.MustNewConstMetric(descState, prometheus.GaugeValue, 1, st.Name, string(st.State))
	}
}
