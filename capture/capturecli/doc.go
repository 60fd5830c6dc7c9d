// Package capturecli is the capture subsystem's command line: `wirebox
// capture start|list|stop` and `wirebox replay`, thin clients of the
// capture service's API routes. capturesvc.Subsystem hands them to the CLI.
package capturecli

import (
	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/subsys"
)

// Commands are the capture subsystem's top-level commands.
func Commands(client subsys.ClientFunc) []*cobra.Command {
	return []*cobra.Command{newCaptureCmd(client), newReplayCmd(client)}
}
