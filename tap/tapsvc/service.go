package tapsvc

import (
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/tap/tapcore"
)

// Name is the service name.
const Name = "tap"

// CoreSource gives the running capture core.
type CoreSource interface {
	Core() *capture.Core
}

// Service is the tap service.
type Service struct {
	src CoreSource
	cfg Config

	mu     sync.Mutex
	apps   map[uint32]*app
	nextID uint32

	violations, reclaimed, closed atomic.Uint64
}

// New returns the service.
func New(src CoreSource, cfg Config) *Service {
	return &Service{src: src, cfg: cfg, apps: map[uint32]*app{}}
}

// Name implements services.Service.
func (s *Service) Name() string { return Name }

// Deps: the core runs first.
func (s *Service) Deps() []string { return []string{"core"} }

// Socket is the path applications connect to.
func (s *Service) Socket() string { return s.cfg.Socket }

// Routes implements services.RouteProvider.
func (s *Service) Routes(mux *http.ServeMux) {
	mux.HandleFunc(api.RouteTaps, func(w http.ResponseWriter, r *http.Request) {
		api.WriteJSON(w, http.StatusOK, s.Status())
	})
}

// core is the running core, nil while there is none.
func (s *Service) core() *capture.Core {
	if s.src == nil {
		return nil
	}
	return s.src.Core()
}

// Status lists the connected applications, then the daemon's in-process
// ones (tapcore.LocalStatus).
func (s *Service) Status() api.Taps {
	st := api.Taps{Socket: s.cfg.Socket, Quota: s.cfg.Quota, Apps: []api.TapApp{},
		Violations: s.violations.Load(), Reclaimed: s.reclaimed.Load(), Closed: s.closed.Load()}
	s.mu.Lock()
	apps := make([]*app, 0, len(s.apps))
	for _, a := range s.apps {
		apps = append(apps, a)
	}
	s.mu.Unlock()
	slices.SortFunc(apps, func(a, b *app) int { return int(a.id) - int(b.id) })
	for _, a := range apps {
		st.Apps = append(st.Apps, a.status())
	}
	if core := s.core(); core != nil {
		st.Apps = append(st.Apps, tapcore.LocalStatus(core)...)
	}
	return st
}

// Collectors implements services.CollectorProvider.
func (s *Service) Collectors() []prometheus.Collector { return []prometheus.Collector{collector{s}} }

type collector struct{ s *Service }

var (
	appLabels     = []string{"app", "pid", "command"}
	descApps      = prometheus.NewDesc("wirebox_tap_apps", "Applications connected to the tap socket.", nil, nil)
	descHeld      = prometheus.NewDesc("wirebox_tap_app_frames_held", "Frames an application holds.", appLabels, nil)
	descDetoured  = prometheus.NewDesc("wirebox_tap_app_detoured_total", "Frames put on an application's detour ring.", appLabels, nil)
	descReverted  = prometheus.NewDesc("wirebox_tap_app_reverted_total", "Frames an application reverted (continued or sent).", appLabels, nil)
	descDropped   = prometheus.NewDesc("wirebox_tap_app_dropped_total", "Frames an application's taps missed (quota or queue full); they went on as if reverted.", appLabels, nil)
	descViolation = prometheus.NewDesc("wirebox_tap_violations_total", "Applications disconnected for a bad frame id or ring index.", nil, nil)
	descReclaimed = prometheus.NewDesc("wirebox_tap_reclaimed_frames_total", "Frame references given back to the pool when applications ended.", nil, nil)
)

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descApps, descHeld, descDetoured, descReverted, descDropped, descViolation, descReclaimed} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	st := c.s.Status()
	ch <- prometheus.MustNewConstMetric(descApps, prometheus.GaugeValue, float64(len(st.Apps)))
	ch <- prometheus.MustNewConstMetric(descViolation, prometheus.CounterValue, float64(st.Violations))
	ch <- prometheus.MustNewConstMetric(descReclaimed, prometheus.CounterValue, float64(st.Reclaimed))
	for _, a := range st.Apps {
		l := []string{a.Name + "#" + itoa(int(a.ID)), itoa(a.PID), a.Command}
		ch <- prometheus.MustNewConstMetric(descHeld, prometheus.GaugeValue, float64(a.Held), l...)
		ch <- prometheus.MustNewConstMetric(descDetoured, prometheus.CounterValue, float64(a.Detoured), l...)
		ch <- prometheus.MustNewConstMetric(descReverted, prometheus.CounterValue, float64(a.Reverted), l...)
		ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(a.Dropped), l...)
	}
}
