package cli

import (
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/daemon"
	"github.com/wirebox/wirebox/image/boot"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
)

func newDaemonCmd(g *globals) *cobra.Command {
	var cfgPath, stateDir string
	c := &cobra.Command{
		Use:   "daemon",
		Short: "Run the supervisor and every configured service",
		Long: `Run the wirebox daemon: the supervisor, every configured service and the
control API. Without --config it runs on the embedded defaults (control API on
the local socket only). SIGTERM or SIGINT stops the services in reverse
dependency order.

With --state-dir (the appliance passes /data/wirebox), configurations applied
with "wirebox config apply" are stored there and win over --config at the next
start: the stored config.yaml, else config.last-good.yaml, else --config, else
the built-in defaults; an invalid one is skipped and "wirebox config show"
says which was used and why others were not.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mainAt := api.KernelUptime()
			store := daemon.Store{Dir: stateDir}
			var cands []daemon.Candidate
			if stateDir != "" {
				cands = append(cands, daemon.Candidate{Path: store.Current(), Source: "data partition"},
					daemon.Candidate{Path: store.LastGood(), Source: "last good"})
			}
			l := daemon.Loaded{Cfg: daemon.DefaultConfig(), Info: api.ConfigInfo{Source: daemon.BuiltinSource}}
			if cfgPath != "" {
				if stateDir == "" {
					// Without a store the file given is the configuration:
					// invalid or missing is an error, as always.
					cfg, err := daemon.LoadConfig(cfgPath)
					if err != nil {
						if errors.Is(err, config.ErrNoConfig) {
							return usageError(err)
						}
						return err
					}
					b, _ := os.ReadFile(cfgPath)
					l = daemon.Loaded{Cfg: cfg, YAML: b, Info: api.ConfigInfo{Source: "--config", Path: cfgPath}}
				} else {
					cands = append(cands, daemon.Candidate{Path: cfgPath, Source: "image defaults"})
				}
			}
			if len(cands) > 0 {
				l = daemon.LoadFirst(cands)
			}
			cfg := l.Cfg
			socket := ""
			if cmd.Flags().Changed("socket") || os.Getenv("WIREBOX_SOCKET") != "" {
				socket = g.socket
			}
			log := newLogger(g, cfg.Log)
			for _, f := range l.Info.Fallbacks {
				log.Warn("configuration skipped", "why", f)
			}
			log.Info("configuration", "source", l.Info.Source, "path", l.Info.Path)
			restarts, _ := strconv.Atoi(os.Getenv(boot.EnvDaemonRestarts))
			so := daemon.ServeOptions{
				Options: daemon.Options{Socket: socket, Logger: log}, Store: store,
				BootFile: os.Getenv(boot.EnvBootFile), Restarts: restarts, LastExit: os.Getenv(boot.EnvDaemonLastExit), MainAt: mainAt,
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			go func() {
				<-ctx.Done()
				log.Info("signal received; stopping services")
				stop() // a second signal kills the process the default way
			}()
			return daemon.Serve(ctx, l, so)
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "configuration file (YAML); default: embedded safe defaults")
	c.Flags().StringVar(&stateDir, "state-dir", "", "directory that keeps applied configurations (the data partition)")
	return c
}

func newLogger(g *globals, lc config.LogConfig) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(lc.Level)) // validated by config
	opts := &slog.HandlerOptions{Level: lvl}
	if lc.Format == "json" {
		return slog.New(slog.NewJSONHandler(g.stderr, opts))
	}
	return slog.New(slog.NewTextHandler(g.stderr, opts))
}
