package cli

import (
	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/daemon"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/subsys"
	"github.com/wirebox/wirebox/tui"
)

func newConsoleCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "console",
		Short: "The interactive console (TUI) of the appliance",
		Long: `The interactive console: the appliance, its services and their logs, and a
screen per subsystem. It talks to the daemon's control API, on the local socket
or remotely with --remote, --token and --ca, and reconnects by itself when the
daemon goes away. Press ? inside for the keys.

Terminals without colour (NO_COLOR, TERM=vt100 or dumb) get a monochrome
theme. A terminal that reports no size (a serial line) is taken as 80x24, or as
WIREBOX_CONSOLE_SIZE=COLSxROWS, or wirebox.console_size= on the kernel command line.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var panels []func(*tui.Env) []tui.Panel
			for _, sub := range daemon.Subsystems() {
				if sub.Panels != nil {
					panels = append(panels, sub.Panels)
				}
			}
			return subsys.WithClient(g.client, func(cl *api.Client) error { return tui.Run(cmd.Context(), cl, panels...) })
		},
	}
}
