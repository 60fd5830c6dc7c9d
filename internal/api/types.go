package api

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Service states as reported by the supervisor. A service is "running" only
// when it has told the supervisor it is ready; nothing reports running by
// default.
const (
	StateStarting = "starting" // Run called, not yet ready
	StateRunning  = "running"  // ready and healthy
	StateDegraded = "degraded" // ready, but the last health probe failed
	StateBackoff  = "backoff"  // failed, waiting to be restarted
	StateStopping = "stopping"
	StateStopped  = "stopped" // not running and not due to run (clean exit or shutdown)
	StateFailed   = "failed"  // failed too often; needs an explicit restart
	StateWaiting  = "waiting" // waiting for its dependencies to be running
)

// Status is the body of GET /v1/status.
type Status struct {
	Name          string          `json:"name"`
	Version       string          `json:"version"`
	StartedAt     time.Time       `json:"started_at"`
	UptimeSeconds float64         `json:"uptime_seconds"`
	Services      []ServiceStatus `json:"services"`
}

// ServiceStatus describes one supervised service.
type ServiceStatus struct {
	Name          string     `json:"name"`
	State         string     `json:"state"`
	Restarts      int        `json:"restarts"`
	LastError     string     `json:"last_error"`
	LastErrorAt   *time.Time `json:"last_error_at,omitempty"`
	UptimeSeconds float64    `json:"uptime_seconds"`
	Health        string     `json:"health,omitempty"` // "ok", or the last probe error
	Deps          []string   `json:"deps,omitempty"`
	NextRestartAt *time.Time `json:"next_restart_at,omitempty"`
}

// LogEntry is one record of a service's log ring.
type LogEntry struct {
	Seq   uint64            `json:"seq"`
	Time  time.Time         `json:"time"`
	Level string            `json:"level"`
	Msg   string            `json:"msg"`
	Attrs map[string]string `json:"attrs,omitempty"`
}

// AttrText renders the record's attributes as " key=value" pairs in key
// order (values with blanks or quotes quoted), leaving out "service",
// which the reader already knows: how the CLI and the console show them.
func (e LogEntry) AttrText() string {
	keys := make([]string, 0, len(e.Attrs))
	for k := range e.Attrs {
		if k != "service" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	var b strings.Builder
	for _, k := range keys {
		v := e.Attrs[k]
		if strings.ContainsAny(v, " \t\n\"=") {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(&b, " %s=%s", k, v)
	}
	return b.String()
}

// Logs is the body of GET /v1/services/{name}/logs.
type Logs struct {
	Service string     `json:"service"`
	Entries []LogEntry `json:"entries"`
	// Dropped counts records that fell out of the ring before Entries[0].
	Dropped uint64 `json:"dropped"`
}

// Error is the body of every non-2xx API answer.
type Error struct {
	Error string `json:"error"`
}
