package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/daemon"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/buildinfo"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/subsys"
	"github.com/wirebox/wirebox/tui"
)

func newStatusCmd(g *globals) *cobra.Command {
	return subsys.GetCmd(&cobra.Command{
		Use:   "status",
		Short: "Show the daemon and its services",
		Args:  cobra.NoArgs,
	}, g.client, api.PathStatus, printStatus)
}

func printStatus(w io.Writer, st api.Status) error {
	fmt.Fprintf(w, "%s  version %s  up %s\n\n", st.Name, st.Version, fmtDuration(st.UptimeSeconds))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTATE\tRESTARTS\tUPTIME\tLAST ERROR")
	for _, s := range st.Services {
		up := "-"
		if s.UptimeSeconds > 0 {
			up = fmtDuration(s.UptimeSeconds)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\n", s.Name, s.State, s.Restarts, up, tui.FirstLine(s.LastError))
	}
	return tw.Flush()
}

func fmtDuration(sec float64) string {
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d < time.Minute:
		return d.Truncate(100 * time.Millisecond).String()
	case d < 24*time.Hour:
		return d.Truncate(time.Second).String()
	default:
		days := int(d / (24 * time.Hour))
		return fmt.Sprintf("%dd%s", days, (d % (24 * time.Hour)).Truncate(time.Minute))
	}
}

func newLogsCmd(g *globals) *cobra.Command {
	var follow bool
	var tail int
	c := serviceCmd(g, "logs SERVICE", "Show a service's log ring", func(cmd *cobra.Command, cl *api.Client, svc string) error {
		l, err := cl.Logs(cmd.Context(), svc, 0)
		if err != nil {
			return err
		}
		w := bufio.NewWriter(g.stdout)
		entries := l.Entries
		if tail > 0 && len(entries) > tail {
			entries = entries[len(entries)-tail:]
		}
		if l.Dropped > 0 && (tail <= 0 || len(l.Entries) <= tail) {
			fmt.Fprintf(w, "… %d older records dropped from the ring\n", l.Dropped)
		}
		next := uint64(0)
		for _, e := range l.Entries {
			next = e.Seq + 1
		}
		for _, e := range entries {
			printEntry(w, e)
		}
		if err := w.Flush(); err != nil || !follow {
			return err
		}
		return cl.FollowLogs(cmd.Context(), svc, next, func(e api.LogEntry) error {
			printEntry(w, e)
			return w.Flush()
		})
	})
	c.Flags().BoolVarP(&follow, "follow", "f", false, "keep printing new records")
	c.Flags().IntVarP(&tail, "tail", "n", 0, "print only the last N records (0: all kept)")
	return c
}

func printEntry(w *bufio.Writer, e api.LogEntry) {
	fmt.Fprintf(w, "%s %-5s %s%s\n", e.Time.Local().Format("2006-01-02T15:04:05.000"), e.Level, e.Msg, e.AttrText())
}

func serviceNames(ctx context.Context, g *globals) []string {
	var names []string
	_ = subsys.WithClient(g.client, func(cl *api.Client) error {
		ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		for _, s := range st.Services {
			names = append(names, s.Name)
		}
		return nil
	})
	return names
}

func newRestartCmd(g *globals) *cobra.Command {
	return serviceCmd(g, "restart SERVICE", "Restart a service (also revives a failed one)", func(cmd *cobra.Command, cl *api.Client, svc string) error {
		if err := cl.Restart(cmd.Context(), svc); err != nil {
			return err
		}
		_, err := fmt.Fprintf(g.stdout, "restart of %s requested\n", svc)
		return err
	})
}

// serviceCmd is a command on one service (completed from the daemon's
// services) that runs with a client.
func serviceCmd(g *globals, use, short string, run func(cmd *cobra.Command, cl *api.Client, service string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ExactArgs(1),
		ValidArgsFunction: func(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
			return serviceNames(cmd.Context(), g), cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return subsys.WithClient(g.client, func(cl *api.Client) error { return run(cmd, cl, args[0]) })
		},
	}
}

func newVersionCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintf(g.stdout, "wirebox %s\n", buildinfo.String())
			return err
		},
	}
}

func newConfigCmd(g *globals) *cobra.Command {
	c := &cobra.Command{Use: "config", Short: "Check, apply and show configuration"}
	c.AddCommand(newConfigApplyCmd(g), newConfigShowCmd(g), &cobra.Command{
		Use:   "check FILE",
		Short: "Validate a configuration file and print the effective configuration",
		Long: `Validate a configuration file and print the effective configuration (the file
merged over the built-in defaults). An invalid file exits with status 2 and an
error naming the key and the line.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := daemon.LoadConfig(args[0])
			if err != nil {
				var ce *config.Error
				if !errors.As(err, &ce) {
					return usageError(err)
				}
				return err
			}
			b, err := cfg.Marshal()
			if err != nil {
				return err
			}
			_, err = g.stdout.Write(b)
			return err
		},
	}, &cobra.Command{
		Use:   "default",
		Short: "Print the embedded default configuration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := g.stdout.Write(config.DefaultYAML()); err != nil {
				return err
			}
			// Then each subsystem's section at its defaults.
			b, err := config.MarshalSections(daemon.Sections()...)
			if err != nil {
				return err
			}
			_, err = g.stdout.Write(b)
			return err
		},
	})
	return c
}
