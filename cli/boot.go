package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/image/boot"
)

// newBootCmd is the appliance's uinit: u-root's init runs /bin/uinit, a
// link to `wirebox boot`, once at boot.
func newBootCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:                "boot",
		Short:              "Appliance boot (run by u-root's init as uinit): modules, network, data partition, daemon, console",
		Hidden:             true,
		Args:               cobra.ArbitraryArgs, // init appends uroot.uinitargs; we take ours from /proc/cmdline
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Getpid() == 1 {
				return fmt.Errorf("wirebox boot is the uinit, not init")
			}
			return boot.Run(cmd.Context(), boot.Options{Out: g.stdout})
		},
	}
}

// newKeepCmd runs the daemon and restarts it whenever it dies: wirebox boot
// starts it in its own session, so it outlives the uinit.
func newKeepCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "keep -- [DAEMON FLAGS]",
		Short: "Run wirebox daemon and restart it whenever it exits (started by wirebox boot)",
		Long: `Run "wirebox daemon" with the given flags and start it again whenever it exits
(kill -9, a panic outside a service): after 100 ms, or after a delay doubling up
to 5 s while it keeps dying within a second. Each restart is logged and
counted; GET /v1/appliance (and the console's overview) shows the count.`,
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			return boot.Keep(cmd.Context(), self, args, g.stderr)
		},
	}
}
