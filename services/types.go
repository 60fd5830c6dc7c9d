package services

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// State is where a service is in its life. A service is running only when
// it has told the supervisor it is ready; nothing reports running by default.
type State string

// Service states.
const (
	StateStarting State = "starting" // Run called, not yet ready
	StateRunning  State = "running"  // ready and healthy
	StateDegraded State = "degraded" // ready, but the last health probe failed
	StateBackoff  State = "backoff"  // failed, waiting to be restarted
	StateStopping State = "stopping"
	StateStopped  State = "stopped" // not running and not due to run (clean exit or shutdown)
	StateFailed   State = "failed"  // failed too often; needs an explicit restart
	StateWaiting  State = "waiting" // waiting for its dependencies to be running
)

// Up reports whether the state counts as serving (running or degraded).
func (s State) Up() bool { return s == StateRunning || s == StateDegraded }

// Status is the supervisor's view of one service.
type Status struct {
	Name        string
	State       State
	Restarts    int
	LastError   string
	LastErrorAt time.Time // zero: never failed
	// Uptime is how long the current run has been ready (0 when not up).
	Uptime time.Duration
	// Health is "ok", the last probe error, or "" before the first probe.
	Health      string
	Deps        []string
	NextRestart time.Time // zero: no restart pending
}

// LogEntry is one record of a service's log ring.
type LogEntry struct {
	Seq   uint64
	Time  time.Time
	Level string
	Msg   string
	Attrs map[string]string
}

// RouteProvider is implemented by services that serve control API routes;
// the daemon registers them on the API's mux.
type RouteProvider interface {
	Routes(mux *http.ServeMux)
}

// CollectorProvider is implemented by services that export metrics; the
// daemon registers them with the daemon's Prometheus registry.
type CollectorProvider interface {
	Collectors() []prometheus.Collector
}
