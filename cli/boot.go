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
