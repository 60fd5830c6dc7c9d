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
	cfg    *config.Config
	log    *slog.Logger
	sup    *services.Supervisor
	server *api.Server
	reg    *prometheus.Registry
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
	if opts.Socket != "" {
		c := *cfg
		c.API.Socket = opts.Socket
		cfg = &c
	}
	d := &Daemon{cfg: cfg, log: opts.Logger, reg: prometheus.NewRegistry()}
	d.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	mode, err := cfg.API.Mode()
	if err != nil {
		return nil, err
	}
	gid, err := cfg.API.GID()
	if err != nil {
		return nil, err
	}
	svcs := []services.Service{
		&apiService{name: "api", listen: func() (listener, error) { return api.ListenUnix(cfg.API.Socket, mode, gid) }, handler: d.handler},
	}
	// The capture core: one pool, the configured ports. Subsystems that
	// consume ports depend on the "core" service and use env.Core().
	env := subsys.Env{Config: cfg, Log: opts.Logger}
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
		env.Core = d.core.Core
	}
	// Every subsystem in the table brings its own services.
	for _, sub := range all {
		if sub.Services == nil {
			continue
		}
		ss, err := sub.Services(env)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("%s: %w", sub.Name, err)
		}
		svcs = append(svcs, ss...)
	}
	if cfg.API.Listen != "" {
		ro := api.RemoteOptions{Addr: cfg.API.Listen, CertFile: cfg.API.TLSCert, KeyFile: cfg.API.TLSKey, TokenFile: cfg.API.TokenFile}
		svcs = append(svcs, &apiService{name: "api-remote", remote: &ro, handler: d.handler})
	}

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
	d.reg.MustRegister(d.sup.Collector())
	apiLog, err := d.sup.Logger("api") // API requests are logged in the api service's ring
	if err != nil {
		d.close()
		return nil, err
	}
	d.server = api.NewServer(api.ServerOptions{
		Name:      cfg.Name,
		Version:   buildinfo.String(),
		StartedAt: time.Now(),
		Backend:   backend{d.sup},
		Registry:  d.reg,
		Config:    cfg.Marshal,
		Logger:    apiLog,
	})
	d.routes(opts)
	for _, svc := range svcs {
		if rp, ok := svc.(services.RouteProvider); ok {
			rp.Routes(d.server.Mux())
		}
		if cp, ok := svc.(services.CollectorProvider); ok {
			for _, c := range cp.Collectors() {
				if err := d.reg.Register(c); err != nil {
					d.close()
					return nil, fmt.Errorf("registering metrics of %s: %w", svc.Name(), err)
				}
			}
		}
	}
	return d, nil
}

func (d *Daemon) handler() http.Handler { return d.server.Handler() }

// Core is the capture core service, or nil when no ports are configured.
func (d *Daemon) Core() *coresvc.Service { return d.core }

// Socket is the local API socket the daemon serves.
func (d *Daemon) Socket() string { return d.cfg.API.Socket }

// Supervisor returns the daemon's supervisor.
func (d *Daemon) Supervisor() *services.Supervisor { return d.sup }

// Run runs every service until ctx is done, then stops them in order.
func (d *Daemon) Run(ctx context.Context) error {
	d.log.Info("wirebox daemon starting", "version", buildinfo.String(), "name", d.cfg.Name, "socket", d.cfg.API.Socket)
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
