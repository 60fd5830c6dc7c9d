package services

import (
	"context"
	"log/slog"
	"sync"
)

// Service is one supervised part of the appliance.
//
// Run starts the service and blocks until ctx is cancelled (an orderly stop:
// return nil after releasing everything) or the service fails (return an
// error; a panic is recovered and treated the same). Run must call rt.Ready
// once it is actually serving; until then the service reports "starting",
// so nothing claims to be running before it is.
type Service interface {
	Name() string
	Run(ctx context.Context, rt *Runtime) error
}

// Dependent is implemented by services that must not start before others
// are running. Services start in dependency order and stop in reverse.
type Dependent interface {
	Deps() []string
}

// Essential is implemented by services the appliance is useless without
// (the local control API): when one fails for good (MaxFailures in a
// row), the supervisor stops everything and Run returns the reason, so the
// process exits non-zero instead of running on unreachable.
type Essential interface {
	Essential() bool
}

// HealthChecker is implemented by services with a health probe. The
// supervisor calls it periodically while the service runs; a failing probe
// shows as "degraded" and, after repeated failures, restarts the service.
type HealthChecker interface {
	Health(ctx context.Context) error
}

// Runtime is what the supervisor hands to one run of a service.
type Runtime struct {
	// Log writes to the daemon's log and to the service's bounded log ring.
	Log *slog.Logger

	readyOnce sync.Once
	ready     chan struct{}

	exitMu sync.Mutex
	onExit []func()
}

// OnExit registers f to run when this run of the service ends, however it
// ends (returned, failed or panicked), in reverse order of registration.
// Services hand the core's consumers to it (rt.OnExit(func() { k.Close() })),
// so every frame a run held goes back to the pool even if its code did not
// get as far as its own cleanup.
func (rt *Runtime) OnExit(f func()) {
	rt.exitMu.Lock()
	rt.onExit = append(rt.onExit, f)
	rt.exitMu.Unlock()
}

func (rt *Runtime) exit() {
	rt.exitMu.Lock()
	fs := rt.onExit
	rt.onExit = nil
	rt.exitMu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

func newRuntime(log *slog.Logger) *Runtime {
	return &Runtime{Log: log, ready: make(chan struct{})}
}

// Ready reports that the service is serving. Calling it more than once is harmless.
func (rt *Runtime) Ready() {
	rt.readyOnce.Do(func() { close(rt.ready) })
}

// ServiceFunc adapts a function to Service, for services with no state of their own.
type ServiceFunc struct {
	ServiceName string
	DependsOn   []string
	RunFunc     func(ctx context.Context, rt *Runtime) error
}

func (f ServiceFunc) Name() string                               { return f.ServiceName }
func (f ServiceFunc) Deps() []string                             { return f.DependsOn }
func (f ServiceFunc) Run(ctx context.Context, rt *Runtime) error { return f.RunFunc(ctx, rt) }
