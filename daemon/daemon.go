// Package daemon wires the appliance together: it builds the supervisor and
// its services from the configuration and serves the control API. It is the
// one place that knows every subsystem; subsystems know only the core.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/wirebox/wirebox/capture/coresvc"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/buildinfo"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/services"
	"github.com/wirebox/wirebox/subsys"
)

// Options for New.
type Options struct {
	// Socket overrides the configured API socket (the --socket flag).
	Socket string
	// Logger is the daemon's log; each service also logs to its own ring.
	Logger *slog.Logger
	// Apply and Appliance serve POST /v1/config and GET /v1/appliance
	// (set by Serve); nil leaves the routes out.
	Apply     func(yaml []byte) (api.ConfigApplied, error)
	Appliance func(*Daemon) api.Appliance
}

// Daemon is a configured appliance, ready to run.
type Daemon struct {
	cfg     atomic.Pointer[config.Config]
	opts    Options
	log     *slog.Logger
	sup     *services.Supervisor
	started time.Time
	// svcs are the services the supervisor runs, in the order given to
	// it; owners maps a configuration key to the services built from it
	// (Reconfigure restarts only those).
	svcs   []services.Service
	owners map[string][]string
	// api is the control API's current handler (the routes of the current
	// services): the API services serve through it, so Reconfigure can
	// swap it without restarting them.
	api atomic.Pointer[http.Handler]
	// core is the capture core service (nil without ports); subsystems
	// that consume ports get it from here.
	core *coresvc.Service
	// mgmt is the management network service (nil unless configured).
	mgmt *mgmtService
}

// New builds the daemon from a validated configuration.
func New(cfg *config.Config, opts Options) (*Daemon, error) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	cfg = withSocket(cfg, opts.Socket)
	d := &Daemon{opts: opts, log: opts.Logger, started: time.Now(), owners: map[string][]string{}}
	d.cfg.Store(cfg)

	apiSvcs, err := d.apiServices(cfg)
	if err != nil {
		return nil, err
	}
	svcs := []services.Service{apiSvcs[0]} // the local API first
	// The capture core: one pool, the configured ports. Subsystems that
	// consume ports depend on the "core" service and use env.Core().
	if cfg.Management.Enabled() {
		d.mgmt = newMgmt(cfg.Management)
		svcs = append(svcs, d.mgmt)
	}
	if len(cfg.Ports) > 0 || cfg.AutoPorts {
		if d.core, err = coresvc.New(cfg.Pool, cfg.Ports); err != nil {
			return nil, fmt.Errorf("capture core: %w", err)
		}
		if cfg.AutoPorts {
			d.core.SetAuto(coresvc.AutoOptions{Want: d.wantPort, Template: AutoPortTemplate})
		}
		svcs = append(svcs, d.core)
	}
	// Every subsystem in the table brings its own services.
	for _, sub := range all {
		ss, err := d.subsysServices(sub, cfg)
		if err != nil {
			d.close()
			return nil, err
		}
		if sub.Config != nil {
			d.owners[sub.Config.Key()] = names(ss)
		}
		svcs = append(svcs, ss...)
	}
	svcs = append(svcs, apiSvcs[1:]...) // the remote API last
	d.owners["api"] = names(apiSvcs)
	d.svcs = svcs

	s := cfg.Supervisor
	d.sup, err = services.New(services.Options{
		Logger:         opts.Logger,
		BackoffBase:    s.BackoffBase.D(),
		BackoffMax:     s.BackoffMax.D(),
		MaxFailures:    s.MaxFailures,
		StableAfter:    s.StableAfter.D(),
		HealthInterval: s.HealthInterval.D(),
		StopTimeout:    s.StopTimeout.D(),
	}, svcs...)
	if err != nil {
		d.close()
		return nil, err
	}
	h, err := d.wire(cfg, svcs)
	if err != nil {
		d.close()
		return nil, err
	}
	d.api.Store(&h)
	return d, nil
}

func withSocket(cfg *config.Config, socket string) *config.Config {
	if socket == "" {
		return cfg
	}
	c := *cfg
	c.API.Socket = socket
	return &c
}

func names(svcs []services.Service) []string {
	out := make([]string, len(svcs))
	for i, s := range svcs {
		out[i] = s.Name()
	}
	return out
}

// apiServices are the local API service and, when the configuration has
// a listen address, the remote one.
func (d *Daemon) apiServices(cfg *config.Config) ([]services.Service, error) {
	mode, err := cfg.API.Mode()
	if err != nil {
		return nil, err
	}
	gid, err := cfg.API.GID()
	if err != nil {
		return nil, err
	}
	socket := cfg.API.Socket
	svcs := []services.Service{
		&apiService{name: "api", listen: func() (listener, error) { return api.ListenUnix(socket, mode, gid) }, handler: d.handler},
	}
	if cfg.API.Listen != "" {
		ro := api.RemoteOptions{Addr: cfg.API.Listen, CertFile: cfg.API.TLSCert, KeyFile: cfg.API.TLSKey, TokenFile: cfg.API.TokenFile}
		svcs = append(svcs, &apiService{name: "api-remote", remote: &ro, handler: d.handler})
	}
	return svcs, nil
}

// subsysServices builds a subsystem's services on cfg (and the running core).
func (d *Daemon) subsysServices(sub subsys.Subsystem, cfg *config.Config) ([]services.Service, error) {
	if sub.Services == nil {
		return nil, nil
	}
	env := subsys.Env{Config: cfg, Log: d.opts.Logger}
	if d.core != nil {
		env.Core = d.core.Core
	}
	ss, err := sub.Services(env)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", sub.Name, err)
	}
	return ss, nil
}

// wire builds the control API's handler for cfg and svcs: the core routes,
// the appliance routes, each service's routes, and the metrics of each.
func (d *Daemon) wire(cfg *config.Config, svcs []services.Service) (http.Handler, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(d.sup.Collector())
	apiLog, err := d.sup.Logger("api") // API requests are logged in the api service's ring
	if err != nil {
		return nil, err
	}
	server := api.NewServer(api.ServerOptions{
		Name:      cfg.Name,
		Version:   buildinfo.String(),
		StartedAt: d.started,
		Backend:   backend{d.sup},
		Registry:  reg,
		Config:    cfg.Marshal,
		Logger:    apiLog,
	})
	d.routes(server.Mux(), d.opts)
	for _, svc := range svcs {
		if rp, ok := svc.(services.RouteProvider); ok {
			rp.Routes(server.Mux())
		}
		if cp, ok := svc.(services.CollectorProvider); ok {
			for _, c := range cp.Collectors() {
				if err := reg.Register(c); err != nil {
					return nil, fmt.Errorf("registering metrics of %s: %w", svc.Name(), err)
				}
			}
		}
	}
	return server.Handler(), nil
}

// handler serves the API through the current handler.
func (d *Daemon) handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*d.api.Load()).ServeHTTP(w, r)
	})
}

// ErrRebuild is returned by Reconfigure for a change that every service
// depends on (the pool, ports, management, log, supervisor settings, or a
// change in which services there are): the daemon must be built again.
var ErrRebuild = errors.New("the change concerns every service")

// rebuildKeys are the core keys every service depends on.
var rebuildKeys = map[string]bool{"pool": true, "ports": true, "auto_ports": true, "management": true, "log": true, "supervisor": true}

// Reconfigure applies cfg to the running daemon: the services built from
// the keys that changed are built again on it and restarted, the others
// keep running; the API's handler is rebuilt (a new name or routes show at
// once). It returns the restarted services' names. For a change every
// service depends on it changes nothing and returns ErrRebuild.
func (d *Daemon) Reconfigure(cfg *config.Config) ([]string, error) {
	cfg = withSocket(cfg, d.opts.Socket)
	old := d.cfg.Load()
	changed, err := config.ChangedKeys(old, cfg)
	if err != nil {
		return nil, err
	}
	var repl []services.Service
	for _, k := range changed {
		if rebuildKeys[k] {
			return nil, fmt.Errorf("%w: %s", ErrRebuild, k)
		}
		var ss []services.Service
		switch {
		case k == "name":
			continue // the handler below carries it
		case k == "api":
			if ss, err = d.apiServices(cfg); err != nil {
				return nil, err
			}
		default:
			sub, ok := subsystemOf(k)
			if !ok {
				return nil, fmt.Errorf("%w: unknown key %s", ErrRebuild, k)
			}
			if ss, err = d.subsysServices(sub, cfg); err != nil {
				return nil, err
			}
		}
		if !slices.Equal(names(ss), d.owners[k]) {
			return nil, fmt.Errorf("%w: %s changes the services (%v, was %v)", ErrRebuild, k, names(ss), d.owners[k])
		}
		repl = append(repl, ss...)
	}
	byName := map[string]services.Service{}
	for _, s := range repl {
		byName[s.Name()] = s
	}
	svcs := make([]services.Service, len(d.svcs))
	for i, s := range d.svcs {
		if n, ok := byName[s.Name()]; ok {
			s = n
		}
		svcs[i] = s
	}
	h, err := d.wire(cfg, svcs)
	if err != nil {
		return nil, err
	}
	d.cfg.Store(cfg)
	d.svcs = svcs
	d.api.Store(&h)
	if err := d.sup.Replace(repl...); err != nil {
		return nil, err
	}
	return names(repl), nil
}

// subsystemOf finds the subsystem whose configuration section is key.
func subsystemOf(key string) (subsys.Subsystem, bool) {
	for _, s := range all {
		if s.Config != nil && s.Config.Key() == key {
			return s, true
		}
	}
	return subsys.Subsystem{}, false
}

// Core is the capture core service, or nil when no ports are configured.
func (d *Daemon) Core() *coresvc.Service { return d.core }

// Socket is the local API socket the daemon serves.
func (d *Daemon) Socket() string { return d.cfg.Load().API.Socket }

// Supervisor returns the daemon's supervisor.
func (d *Daemon) Supervisor() *services.Supervisor { return d.sup }

// Run runs every service until ctx is done, then stops them in order.
func (d *Daemon) Run(ctx context.Context) error {
	cfg := d.cfg.Load()
	d.log.Info("wirebox daemon starting", "version", buildinfo.String(), "name", cfg.Name, "socket", cfg.API.Socket)
	err := d.sup.Run(ctx)
	err = errors.Join(err, d.close())
	d.log.Info("wirebox daemon stopped")
	return err
}

// close releases what outlives the services' runs (the buffer pool).
func (d *Daemon) close() error {
	if d.core != nil {
		return d.core.Close()
	}
	return nil
}

// backend adapts the supervisor to the API: the supervisor's own types
// become the API's wire types here, the one place that knows both.
type backend struct{ s *services.Supervisor }

// Backend shows a supervisor through the API.
func Backend(s *services.Supervisor) api.Backend { return backend{s} }

func (b backend) Status() []api.ServiceStatus {
	sts := b.s.Status()
	out := make([]api.ServiceStatus, len(sts))
	for i, st := range sts {
		out[i] = ServiceStatus(st)
	}
	return out
}

func (b backend) Restart(name string) error {
	if err := b.s.Restart(name); err != nil {
		if errors.Is(err, services.ErrUnknownService) {
			return api.NotFound(err)
		}
		return err
	}
	return nil
}

func (b backend) Logs(name string) (api.LogSource, error) {
	r, err := b.s.Logs(name)
	if err != nil {
		return nil, api.NotFound(err)
	}
	return logSource{r}, nil
}

// ServiceStatus is a service's status as the API sends it.
func ServiceStatus(st services.Status) api.ServiceStatus {
	out := api.ServiceStatus{
		Name: st.Name, State: string(st.State), Restarts: st.Restarts, LastError: st.LastError,
		UptimeSeconds: st.Uptime.Seconds(), Health: st.Health, Deps: st.Deps,
	}
	if !st.LastErrorAt.IsZero() {
		t := st.LastErrorAt
		out.LastErrorAt = &t
	}
	if !st.NextRestart.IsZero() {
		t := st.NextRestart
		out.NextRestartAt = &t
	}
	return out
}

// logSource serves a service's log ring in the API's wire type.
type logSource struct{ r *services.LogRing }

func (l logSource) Since(seq uint64) ([]api.LogEntry, uint64, uint64) {
	es, dropped, next := l.r.Since(seq)
	out := make([]api.LogEntry, len(es))
	for i, e := range es {
		out[i] = api.LogEntry{Seq: e.Seq, Time: e.Time, Level: e.Level, Msg: e.Msg, Attrs: e.Attrs}
	}
	if es == nil {
		out = nil
	}
	return out, dropped, next
}

func (l logSource) Wait(ctx context.Context, seq uint64) error { return l.r.Wait(ctx, seq) }
