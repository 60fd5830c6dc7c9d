package cli

import (
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/daemon"
	"github.com/wirebox/wirebox/internal/config"
)

func newDaemonCmd(g *globals) *cobra.Command {
	var cfgPath string
	c := &cobra.Command{
		Use:   "daemon",
		Short: "Run the supervisor and every configured service",
		Long: `Run the wirebox daemon: the supervisor, every configured service and the
control API. Without --config it runs on the embedded defaults (control API on
the local socket only). SIGTERM or SIGINT stops the services in reverse
dependency order.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg := daemon.DefaultConfig()
			if cfgPath != "" {
				var err error
				if cfg, err = daemon.LoadConfig(cfgPath); err != nil {
					if errors.Is(err, config.ErrNoConfig) {
						return usageError(err)
					}
					return err
				}
			}
			socket := ""
			if cmd.Flags().Changed("socket") || os.Getenv("WIREBOX_SOCKET") != "" {
				socket = g.socket
			}
			log := newLogger(g, cfg.Log)
			d, err := daemon.New(cfg, daemon.Options{Socket: socket, Logger: log})
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			go func() {
				<-ctx.Done()
				log.Info("signal received; stopping services")
				stop() // a second signal kills the process the default way
			}()
			return d.Run(ctx)
		},
	}
	c.Flags().StringVarP(&cfgPath, "config", "c", "", "configuration file (YAML); default: embedded safe defaults")
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
