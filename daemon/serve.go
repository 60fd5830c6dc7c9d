package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/services"
)

// ServeOptions configure Serve.
type ServeOptions struct {
	Options
	// Store is where applied configurations are kept ("" Dir: nowhere).
	Store Store
	// ApplyTimeout bounds the wait for every service of a new
	// configuration to run; longer, and it is rolled back (default 60 s).
	ApplyTimeout time.Duration
	// BootFile holds the boot process's phases (JSON []api.BootPhase).
	BootFile string
	// Restarts and LastExit describe earlier runs of the daemon process
	// (from the boot process that restarts it).
	Restarts int
	LastExit string
	// MainAt is the kernel uptime when the daemon's main started.
	MainAt float64
}

var errApplyBusy = errors.New("another configuration is being applied")

type pendingConfig struct{ loaded Loaded }

// Serve runs the daemon on l until ctx ends. POST /v1/config replaces the
// configuration at run time: the new one is validated (refused with the
// error when invalid, the running one untouched), then only the services
// built from the keys that changed are restarted on it (Reconfigure); a
// change every service depends on (pool, ports, management, ...) stops
// every service and builds the daemon again. When the services all run
// within ApplyTimeout it is stored (the old one becomes the last good);
// otherwise the previous configuration is put back (rolled back), and GET
// /v1/appliance says why and which services were restarted.
func Serve(ctx context.Context, l Loaded, o ServeOptions) error {
	if o.ApplyTimeout == 0 {
		o.ApplyTimeout = 60 * time.Second
	}
	log := o.Logger
	if log == nil {
		log = o.Options.Logger
	}
	var (
		mu      sync.Mutex
		info    = l.Info
		pending = make(chan pendingConfig, 1)
		busy    bool
	)
	info.Persistent = o.Store.Dir != ""
	o.Options.Apply = func(b []byte) (api.ConfigApplied, error) {
		cfg, err := ParseConfig(b)
		if err != nil {
			return api.ConfigApplied{}, err
		}
		mu.Lock()
		defer mu.Unlock()
		if busy {
			return api.ConfigApplied{}, errApplyBusy
		}
		busy = true
		pending <- pendingConfig{Loaded{Cfg: cfg, YAML: b, Info: api.ConfigInfo{Source: "applied over the API", Path: o.Store.Current()}}}
		return api.ConfigApplied{Generation: info.Generation + 1, Message: "valid; restarting the services it concerns"}, nil
	}
	o.Options.Appliance = func(d *Daemon) api.Appliance {
		mu.Lock()
		ci := info
		mu.Unlock()
		now := api.KernelUptime()
		a := api.Appliance{Management: d.Management(), Config: ci, UptimeSeconds: now,
			Daemon: api.DaemonInfo{PID: os.Getpid(), Restarts: o.Restarts, LastExit: o.LastExit}}
		if b, err := os.ReadFile(o.BootFile); err == nil && o.BootFile != "" {
			_ = json.Unmarshal(b, &a.Boot)
		}
		if o.MainAt > 0 {
			a.Boot = append(a.Boot, api.BootPhase{Name: "daemon main", Seconds: round2(o.MainAt)})
		}
		a.Boot = append(a.Boot, d.ServiceStarts(now)...)
		return a
	}

	cur := l
	var r *running
	for {
		if r == nil {
			var err error
			if r, err = start(ctx, cur, o); err != nil {
				if cur.YAML == nil {
					return err // the built-in defaults do not build: nothing to fall back to
				}
				log.Error("configuration does not build; using the built-in defaults", "source", cur.Info.Source, "err", err)
				mu.Lock()
				info.Fallbacks = append(info.Fallbacks, fmt.Sprintf("%s: %v", cur.Info.Source, err))
				info.Source, info.Path = BuiltinSource, ""
				mu.Unlock()
				cur = Loaded{Cfg: DefaultConfig()}
				continue
			}
		}
		select {
		case <-ctx.Done():
			r.cancel()
			return <-r.done
		case err := <-r.done:
			return err
		case p := <-pending:
			restarted, err := r.d.Reconfigure(p.loaded.Cfg)
			if err == nil {
				// Only the services whose part changed were restarted.
				outcome := "applied"
				if err, exited := waitHealthy(ctx, r.d.sup, o.ApplyTimeout, r.done); err != nil {
					outcome = "rolled back: " + err.Error()
					if exited {
						return err
					}
					if _, rerr := r.d.Reconfigure(cur.Cfg); rerr != nil {
						// Cannot go back in place: start the old one afresh.
						log.Error("rolling back in place", "err", rerr)
						r.cancel()
						<-r.done
						r = nil
					}
				}
				mu.Lock()
				busy = false
				info.LastApply, info.Restarted = outcome, restarted
				if outcome == "applied" {
					info.LastApply, cur = stored(o.Store, &info, p.loaded), p.loaded
				}
				mu.Unlock()
				log.Info("configuration apply", "outcome", outcome, "restarted", restarted)
				continue
			}
			if !errors.Is(err, ErrRebuild) {
				mu.Lock()
				busy = false
				info.LastApply, info.Restarted = "rolled back: "+err.Error(), nil
				mu.Unlock()
				log.Warn("configuration apply", "err", err)
				continue
			}
			log.Info("configuration apply: every service restarts", "why", err)
			r.cancel()
			if err := <-r.done; err != nil {
				log.Warn("stopping for a new configuration", "err", err)
			}
			r = nil
			next, outcome := tryConfig(ctx, p.loaded, o)
			mu.Lock()
			busy = false
			info.LastApply, info.Restarted = outcome, nil
			if next != nil {
				info.Restarted = names(next.d.svcs)
				info.LastApply = stored(o.Store, &info, p.loaded)
				cur, r = p.loaded, next
			}
			mu.Unlock()
			log.Info("configuration apply", "outcome", outcome)
			// rolled back (r nil): go round and start cur again
		}
	}
}

// stored saves an applied configuration, counts the generation and says
// where the configuration now comes from; it returns the apply's outcome.
func stored(st Store, info *api.ConfigInfo, l Loaded) string {
	outcome := "applied"
	if err := st.Save(l.YAML); err != nil {
		outcome = "applied, but not stored: " + err.Error()
	}
	info.Generation++
	info.Source, info.Path, info.Fallbacks = l.Info.Source, l.Info.Path, nil
	if st.Dir == "" {
		info.Path = ""
	}
	return outcome
}

type running struct {
	d      *Daemon
	cancel context.CancelFunc
	done   chan error
}

// start builds a daemon on l and runs it.
func start(ctx context.Context, l Loaded, o ServeOptions) (*running, error) {
	d, err := New(l.Cfg, o.Options)
	if err != nil {
		return nil, err
	}
	rctx, cancel := context.WithCancel(ctx)
	r := &running{d: d, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(rctx) }()
	return r, nil
}

// tryConfig builds and runs a daemon on l and waits until every service
// runs. It returns the running daemon, or nil and why not (after stopping it).
func tryConfig(ctx context.Context, l Loaded, o ServeOptions) (*running, string) {
	r, err := start(ctx, l, o)
	if err != nil {
		return nil, "rolled back: " + err.Error()
	}
	if err, exited := waitHealthy(ctx, r.d.sup, o.ApplyTimeout, r.done); err != nil {
		r.cancel()
		if !exited {
			<-r.done
		}
		return nil, "rolled back: " + err.Error()
	}
	return r, "applied"
}

// waitHealthy waits until every service runs; a service that fails or
// waits to be restarted is a failure.
func waitHealthy(ctx context.Context, sup *services.Supervisor, timeout time.Duration, done <-chan error) (error, bool) {
	deadline := time.After(timeout)
	for {
		all := true
		for _, st := range sup.Status() {
			switch st.State {
			case services.StateRunning:
			case services.StateFailed, services.StateBackoff:
				return fmt.Errorf("service %s %s: %s", st.Name, st.State, st.LastError), false
			default:
				all = false
			}
		}
		if all {
			return nil, false
		}
		select {
		case <-ctx.Done():
			return ctx.Err(), false
		case err := <-done:
			return fmt.Errorf("daemon stopped: %v", err), true
		case <-deadline:
			return fmt.Errorf("services not all running after %s", timeout), false
		case <-time.After(100 * time.Millisecond):
		}
	}
}
