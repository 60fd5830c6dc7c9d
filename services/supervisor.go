package services

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"slices"
	"sync"
	"time"
)

// Options tune the supervisor. Zero values take the defaults noted.
type Options struct {
	Logger         *slog.Logger  // parent logger; default slog.Default()
	LogRingSize    int           // records kept per service; default 1000
	BackoffBase    time.Duration // delay unit: the n-th consecutive failure waits n²×base; default 100ms
	BackoffMax     time.Duration // cap on one delay; default 30s
	MaxFailures    int           // consecutive failures before a service is marked failed; default 5
	StableAfter    time.Duration // a run this long resets the failure count; default 30s
	HealthInterval time.Duration // period of health probes; default 10s
	HealthTimeout  time.Duration // one probe's deadline; default 5s
	HealthFailures int           // consecutive failed probes that restart a service; default 3
	StopTimeout    time.Duration // how long one service may take to stop; default 10s
}

func (o *Options) setDefaults() {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	if o.LogRingSize <= 0 {
		o.LogRingSize = 1000
	}
	def(&o.BackoffBase, 100*time.Millisecond)
	def(&o.BackoffMax, 30*time.Second)
	if o.MaxFailures <= 0 {
		o.MaxFailures = 5
	}
	def(&o.StableAfter, 30*time.Second)
	def(&o.HealthInterval, 10*time.Second)
	def(&o.HealthTimeout, 5*time.Second)
	if o.HealthFailures <= 0 {
		o.HealthFailures = 3
	}
	def(&o.StopTimeout, 10*time.Second)
}

// ErrUnknownService is returned for a service name the supervisor does not have.
var ErrUnknownService = errors.New("unknown service")

// Supervisor runs a fixed set of services.
type Supervisor struct {
	opts   Options
	units  []*unit // in dependency order
	byName map[string]*unit

	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every state change
	started bool
	fatal   chan error // an Essential service failed for good (buffered 1)

	// life serialises Replace with the start and the final stop, so a
	// replaced unit is never started after (or stopped twice by) stopAll.
	life     sync.Mutex
	runCtx   context.Context // Run's, without its cancel: the units' parent
	stopping bool
}

type unit struct {
	svc  Service
	deps []string
	ring *LogRing
	log  *slog.Logger

	restartReq chan struct{} // buffered(1): an operator asked for a restart
	stop       context.CancelFunc
	done       chan struct{} // closed when the unit's goroutine has returned

	// guarded by Supervisor.mu
	state       State
	restarts    int
	failures    int // consecutive
	lastErr     string
	lastErrAt   time.Time
	upSince     time.Time
	health      string
	nextRestart time.Time
}

// New checks the services (unique names, known dependencies, no cycles) and
// orders them for start.
func New(opts Options, svcs ...Service) (*Supervisor, error) {
	opts.setDefaults()
	s := &Supervisor{opts: opts, byName: make(map[string]*unit), changed: make(chan struct{}), fatal: make(chan error, 1)}
	var all []*unit
	for _, svc := range svcs {
		name := svc.Name()
		if name == "" {
			return nil, errors.New("supervisor: service with empty name")
		}
		if _, dup := s.byName[name]; dup {
			return nil, fmt.Errorf("supervisor: duplicate service %q", name)
		}
		u := &unit{svc: svc, ring: NewLogRing(opts.LogRingSize), restartReq: make(chan struct{}, 1), state: StateStopped}
		if d, ok := svc.(Dependent); ok {
			u.deps = slices.Clone(d.Deps())
		}
		u.log = slog.New(&ringHandler{ring: u.ring, next: opts.Logger.Handler()}).With("service", name)
		s.byName[name] = u
		all = append(all, u)
	}
	for _, u := range all {
		for _, d := range u.deps {
			if _, ok := s.byName[d]; !ok {
				return nil, fmt.Errorf("supervisor: service %q depends on unknown service %q", u.svc.Name(), d)
			}
		}
	}
	// Depth-first topological sort, keeping the given order among independents.
	const (
		unvisited = iota
		visiting
		visited
	)
	mark := make(map[*unit]int)
	var visit func(u *unit, path []string) error
	visit = func(u *unit, path []string) error {
		switch mark[u] {
		case visited:
			return nil
		case visiting:
			return fmt.Errorf("supervisor: dependency cycle: %v", append(path, u.svc.Name()))
		}
		mark[u] = visiting
		for _, d := range u.deps {
			if err := visit(s.byName[d], append(path, u.svc.Name())); err != nil {
				return err
			}
		}
		mark[u] = visited
		s.units = append(s.units, u)
		return nil
	}
	for _, u := range all {
		if err := visit(u, nil); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Run starts every service in dependency order and blocks until ctx is
// done; then it stops them in reverse order, giving each StopTimeout. It
// returns an error naming the services that did not stop in time.
func (s *Supervisor) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("supervisor: already started")
	}
	s.started = true
	s.mu.Unlock()

	s.mu.Lock()
	for _, u := range s.units {
		u.state = StateStarting
		if len(u.deps) > 0 {
			u.state = StateWaiting
		}
	}
	s.mu.Unlock()
	s.life.Lock()
	s.runCtx = context.WithoutCancel(ctx)
	for _, u := range s.units {
		s.startUnit(u)
	}
	s.life.Unlock()
	select {
	case <-ctx.Done():
		return s.stopAll()
	case err := <-s.fatal:
		return errors.Join(err, s.stopAll())
	}
}

// startUnit starts u's loop (s.life held).
func (s *Supervisor) startUnit(u *unit) {
	uctx, cancel := context.WithCancel(s.runCtx)
	u.stop = cancel
	u.done = make(chan struct{})
	go s.loop(uctx, u)
}

// Replace stops the running services named like svcs and starts svcs in
// their place (each keeps its log ring, and the restart is counted), while
// every other service keeps running: how a changed configuration reaches
// only the services it concerns. Every name must be known and the
// dependencies known and unchanged in shape (no new cycle is checked for:
// a replacement keeps its predecessor's place in the start order).
func (s *Supervisor) Replace(svcs ...Service) error {
	s.life.Lock()
	defer s.life.Unlock()
	if s.runCtx == nil || s.stopping {
		return errors.New("supervisor: not running")
	}
	var us []*unit
	for _, svc := range svcs {
		u, ok := s.byName[svc.Name()]
		if !ok {
			return fmt.Errorf("%w %q", ErrUnknownService, svc.Name())
		}
		var deps []string
		if d, ok := svc.(Dependent); ok {
			deps = d.Deps()
		}
		if !slices.Equal(deps, u.deps) {
			return fmt.Errorf("supervisor: replacement of %q depends on %v, not %v", svc.Name(), deps, u.deps)
		}
		us = append(us, u)
	}
	var stuck []string
	for i := len(us) - 1; i >= 0; i-- {
		if !s.stopUnit(us[i]) {
			stuck = append(stuck, us[i].svc.Name())
		}
	}
	if len(stuck) > 0 {
		return fmt.Errorf("supervisor: services did not stop within %v: %v", s.opts.StopTimeout, stuck)
	}
	for i, u := range us {
		s.setState(u, func() {
			u.svc = svcs[i]
			u.restarts++
			u.failures = 0
			u.lastErr, u.lastErrAt = "", time.Time{}
			u.state = StateStarting
		})
		u.log.Info("restarting with a new configuration")
		s.startUnit(u)
	}
	return nil
}

// stopUnit cancels u and waits up to StopTimeout for it; false if it did
// not stop in time.
func (s *Supervisor) stopUnit(u *unit) bool {
	u.stop()
	t := time.NewTimer(s.opts.StopTimeout)
	defer t.Stop()
	select {
	case <-u.done:
		return true
	case <-t.C:
		u.log.Error("service did not stop in time", "timeout", s.opts.StopTimeout)
		return false
	}
}

func (s *Supervisor) stopAll() error {
	s.life.Lock()
	s.stopping = true
	s.life.Unlock()
	var stuck []string
	for i := len(s.units) - 1; i >= 0; i-- {
		u := s.units[i]
		if !s.stopUnit(u) {
			stuck = append(stuck, u.svc.Name())
		}
	}
	if len(stuck) > 0 {
		return fmt.Errorf("supervisor: services did not stop within %v: %v", s.opts.StopTimeout, stuck)
	}
	return nil
}

func (s *Supervisor) setState(u *unit, f func()) {
	s.mu.Lock()
	f()
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
}

// waitDeps blocks until every dependency of u is running (or degraded).
func (s *Supervisor) waitDeps(ctx context.Context, u *unit) error {
	for {
		s.mu.Lock()
		ok := true
		for _, d := range u.deps {
			if st := s.byName[d].state; st != StateRunning && st != StateDegraded {
				ok = false
				break
			}
		}
		ch := s.changed
		s.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// runOnce runs the service once, recovering a panic into an error.
// What the run registered with Runtime.OnExit runs afterwards, whether it
// returned or panicked.
func runOnce(ctx context.Context, svc Service, rt *Runtime) (err error) {
	defer rt.exit()
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return svc.Run(ctx, rt)
}

// loop is the life of one unit: wait for dependencies, run, watch health,
// restart with backoff, give up after MaxFailures.
func (s *Supervisor) loop(ctx context.Context, u *unit) {
	defer close(u.done)
	defer s.setState(u, func() { u.state = StateStopped; u.upSince = time.Time{}; u.nextRestart = time.Time{} })

	for {
		if len(u.deps) > 0 {
			s.setState(u, func() { u.state = StateWaiting })
			if s.waitDeps(ctx, u) != nil {
				return
			}
		}
		outcome := s.runAndWatch(ctx, u)
		switch outcome {
		case outcomeShutdown:
			return
		case outcomeManualRestart:
			s.setState(u, func() { u.restarts++; u.failures = 0; u.state = StateStarting })
			u.log.Info("restarting on request")
			continue
		case outcomeExited:
			u.log.Info("service exited")
			s.setState(u, func() { u.state = StateStopped; u.upSince = time.Time{} })
			if !s.waitRestartRequest(ctx, u) {
				return
			}
			s.setState(u, func() { u.restarts++; u.failures = 0; u.state = StateStarting })
			continue
		}
		// outcomeFailed
		var failures int
		s.mu.Lock()
		failures = u.failures
		s.mu.Unlock()
		if failures >= s.opts.MaxFailures {
			u.log.Error("service failed too often; not restarting", "failures", failures)
			s.setState(u, func() { u.state = StateFailed; u.upSince = time.Time{} })
			if e, ok := u.svc.(Essential); ok && e.Essential() {
				s.mu.Lock()
				last := u.lastErr
				s.mu.Unlock()
				select {
				case s.fatal <- fmt.Errorf("essential service %q failed %d times, the last time with: %s", u.svc.Name(), failures, last):
				default:
				}
			}
			if !s.waitRestartRequest(ctx, u) {
				return
			}
			s.setState(u, func() { u.restarts++; u.failures = 0; u.state = StateStarting })
			continue
		}
		delay := s.backoff(failures)
		s.setState(u, func() {
			u.state = StateBackoff
			u.upSince = time.Time{}
			u.nextRestart = time.Now().Add(delay)
		})
		u.log.Warn("restarting after backoff", "delay", delay, "failures", failures)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-u.restartReq:
			t.Stop()
		case <-t.C:
		}
		s.setState(u, func() { u.restarts++; u.nextRestart = time.Time{}; u.state = StateStarting })
	}
}

func (s *Supervisor) waitRestartRequest(ctx context.Context, u *unit) bool {
	select {
	case <-ctx.Done():
		return false
	case <-u.restartReq:
		return true
	}
}

// backoff is n²×base with 0.5–1.5× jitter, capped (after tailscale's
// util/backoff): quick retries for a blip, slow ones for a broken service.
func (s *Supervisor) backoff(n int) time.Duration {
	d := time.Duration(n*n) * s.opts.BackoffBase
	if d > s.opts.BackoffMax || d <= 0 {
		d = s.opts.BackoffMax
	}
	return time.Duration(float64(d) * (0.5 + rand.Float64()))
}

type outcome int

const (
	outcomeShutdown outcome = iota
	outcomeManualRestart
	outcomeExited
	outcomeFailed
)

func (s *Supervisor) runAndWatch(ctx context.Context, u *unit) outcome {
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	rt := newRuntime(u.log)
	s.setState(u, func() { u.state = StateStarting; u.health = "" })
	start := time.Now()
	done := make(chan error, 1)
	go func() { done <- runOnce(runCtx, u.svc, rt) }()

	hc, hasHealth := u.svc.(HealthChecker)
	var healthC <-chan time.Time
	ready := rt.ready
	var manual bool
	var healthErr error
	badProbes := 0

	for {
		select {
		case <-ready:
			ready = nil
			s.setState(u, func() { u.state = StateRunning; u.upSince = time.Now() })
			u.log.Info("service running")
			if hasHealth {
				tk := time.NewTicker(s.opts.HealthInterval)
				defer tk.Stop()
				healthC = tk.C
			}
		case <-healthC:
			pctx, pcancel := context.WithTimeout(runCtx, s.opts.HealthTimeout)
			err := hc.Health(pctx)
			pcancel()
			if err == nil {
				badProbes = 0
				s.setState(u, func() { u.state = StateRunning; u.health = "ok" })
				continue
			}
			badProbes++
			u.log.Warn("health probe failed", "err", err, "consecutive", badProbes)
			s.setState(u, func() { u.state = StateDegraded; u.health = err.Error() })
			if badProbes >= s.opts.HealthFailures {
				healthErr = fmt.Errorf("health probe failed %d times: %w", badProbes, err)
				cancel()
			}
		case <-u.restartReq:
			manual = true
			cancel()
		case err := <-done:
			select {
			case <-ctx.Done():
				if err != nil && !errors.Is(err, context.Canceled) {
					u.log.Warn("service stopped with error", "err", err)
				}
				return outcomeShutdown
			default:
			}
			if manual {
				return outcomeManualRestart
			}
			if healthErr != nil {
				err = healthErr
			}
			if err == nil {
				return outcomeExited
			}
			u.log.Error("service failed", "err", err)
			s.setState(u, func() {
				if time.Since(start) >= s.opts.StableAfter {
					u.failures = 0
				}
				u.failures++
				u.lastErr = err.Error()
				u.lastErrAt = time.Now()
			})
			return outcomeFailed
		}
	}
}

// Restart asks a service to restart: a running one is stopped and started
// again; a failed or exited one is started again, with its failure count reset.
func (s *Supervisor) Restart(name string) error {
	u, ok := s.byName[name]
	if !ok {
		return fmt.Errorf("%w %q", ErrUnknownService, name)
	}
	select {
	case u.restartReq <- struct{}{}:
	default: // one request is already pending
	}
	return nil
}

// Status reports every service, in dependency order.
func (s *Supervisor) Status() []Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Status, 0, len(s.units))
	now := time.Now()
	for _, u := range s.units {
		st := Status{
			Name:        u.svc.Name(),
			State:       u.state,
			Restarts:    u.restarts,
			LastError:   u.lastErr,
			LastErrorAt: u.lastErrAt,
			Health:      u.health,
			Deps:        u.deps,
			NextRestart: u.nextRestart,
		}
		if !u.upSince.IsZero() {
			st.Uptime = now.Sub(u.upSince)
		}
		out = append(out, st)
	}
	return out
}

// Logs returns the log ring of a service.
func (s *Supervisor) Logs(name string) (*LogRing, error) {
	u, ok := s.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownService, name)
	}
	return u.ring, nil
}

// Logger returns the logger that writes into a service's ring, for parts
// of the daemon that act on a service's behalf outside its Run.
func (s *Supervisor) Logger(name string) (*slog.Logger, error) {
	u, ok := s.byName[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownService, name)
	}
	return u.log, nil
}

// Changed returns a channel closed at the next state change of any service.
func (s *Supervisor) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}
