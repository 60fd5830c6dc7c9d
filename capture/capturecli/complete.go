package capturecli

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/subsys"
)

// Shell completion: fixed values for the enumerated flags, and the port
// names and capture ids the daemon has, asked for briefly (a daemon that
// does not answer completes nothing rather than hanging the shell).

type completeFunc = func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective)

func fixed(values ...string) completeFunc {
	return cobra.FixedCompletions(values, cobra.ShellCompDirectiveNoFileComp)
}

// fromDaemon completes with what list returns from the daemon.
func fromDaemon(client subsys.ClientFunc, list func(context.Context, *api.Client) ([]string, error)) completeFunc {
	return func(cmd *cobra.Command, _ []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		var out []cobra.Completion
		_ = subsys.WithClient(client, func(cl *api.Client) error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			names, err := list(ctx, cl)
			for _, n := range names {
				if strings.HasPrefix(n, prefix) {
					out = append(out, n)
				}
			}
			return err
		})
		return out, cobra.ShellCompDirectiveNoFileComp
	}
}

func portNames(client subsys.ClientFunc) completeFunc {
	return fromDaemon(client, func(ctx context.Context, cl *api.Client) ([]string, error) {
		var ps api.Ports
		if err := cl.Get(ctx, api.PathPorts, &ps); err != nil {
			return nil, err
		}
		var names []string
		for _, p := range ps.Ports {
			names = append(names, p.Name)
		}
		return names, nil
	})
}

func captureIDs(client subsys.ClientFunc) completeFunc {
	f := fromDaemon(client, func(ctx context.Context, cl *api.Client) ([]string, error) {
		var ss []api.CaptureSession
		if err := cl.Get(ctx, api.PathCaptures, &ss); err != nil {
			return nil, err
		}
		var ids []string
		for _, s := range ss {
			if s.Running {
				ids = append(ids, s.ID)
			}
		}
		return ids, nil
	})
	return func(cmd *cobra.Command, args []string, prefix string) ([]cobra.Completion, cobra.ShellCompDirective) {
		if len(args) > 0 {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		return f(cmd, args, prefix)
	}
}
