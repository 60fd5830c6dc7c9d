// Package tapcli is `wirebox taps`: the applications connected to the
// daemon's tap socket, their taps and frame counters.
package tapcli

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/subsys"
)

// Commands are the tap subsystem's commands.
func Commands(client subsys.ClientFunc) []*cobra.Command {
	return []*cobra.Command{subsys.GetCmd(&cobra.Command{
		Use:   "taps",
		Short: "List tap applications: pid, command, taps, frames held, detoured, reverted, dropped",
		Args:  cobra.NoArgs,
	}, client, api.PathTaps, Print)}
}

// TapList is "port:kind,port:kind".
func TapList(ts []api.Tap) string {
	var l []string
	for _, t := range ts {
		l = append(l, t.Port+":"+t.Kind)
	}
	if len(l) == 0 {
		return "-"
	}
	return strings.Join(l, ",")
}

// Print writes the text form of /v1/taps.
func Print(w io.Writer, st api.Taps) error {
	fmt.Fprintf(w, "socket %s · quota %d frames per application · %d gone (%d disconnected for violations), %d frames reclaimed\n",
		st.Socket, st.Quota, st.Closed, st.Violations, st.Reclaimed)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPID\tCOMMAND\tTAPS\tHELD\tDETOURED\tREVERTED\tDROPPED")
	for _, a := range st.Apps {
		id, cmd := AppID(a)
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%d\t%d\t%d\t%d\n", id, a.PID, cmd, TapList(a.Taps), a.Held, a.Detoured, a.Reverted, a.Dropped)
	}
	return tw.Flush()
}

// AppID is how an application is named in a listing: its number and
// command, or for one in the daemon (a mirror client's channel ...) "dN"
// and "daemon: NAME".
func AppID(a api.TapApp) (id, command string) {
	if a.InProcess {
		return "d" + strconv.Itoa(int(a.ID)), "daemon: " + a.Name
	}
	return strconv.Itoa(int(a.ID)), a.Command
}
