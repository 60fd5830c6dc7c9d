// Package hacli is `wirebox ha`: status and a planned switch-over.
package hacli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/subsys"
)

// Commands are the subsystem's commands.
func Commands(client subsys.ClientFunc) []*cobra.Command {
	c := &cobra.Command{Use: "ha", Short: "HA pair: status and planned switch-over"}
	c.AddCommand(statusCmd(client), failoverCmd(client))
	return []*cobra.Command{c}
}

func statusCmd(client subsys.ClientFunc) *cobra.Command {
	return subsys.GetCmd(&cobra.Command{Use: "status", Short: "Role, peer, link latency, last failover, connections, sync", Args: cobra.NoArgs},
		client, api.PathHA, Print)
}

func failoverCmd(client subsys.ClientFunc) *cobra.Command {
	return subsys.PostCmd(&cobra.Command{Use: "failover", Short: "Hand the active role to the standby (refused unless it is alive and in sync)", Args: cobra.NoArgs},
		client, func([]string) string { return api.PathHAFailover }, func(w io.Writer, st api.HAStatus) error {
			_, err := fmt.Fprintf(w, "handed over: this node is now %s; the peer takes the service\n", st.Role)
			return err
		})
}

// Print writes the status as text.
func Print(w io.Writer, st api.HAStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	peer := "none (forwarder alone)"
	if st.Peer != "" {
		alive := "lost"
		if st.PeerAlive {
			alive = "alive"
		}
		peer = fmt.Sprintf("%s %s (%s), link rtt %v", st.Peer, st.PeerRole, alive, time.Duration(st.LinkRTTNS))
	}
	fmt.Fprintf(tw, "role:\t%s\n", st.Role)
	if st.Mode != "" {
		fmt.Fprintf(tw, "mode:\t%s\n", st.Mode)
	}
	fmt.Fprintf(tw, "peer:\t%s\n", peer)
	fmt.Fprintf(tw, "vip:\t%s (owner: %v)\n", st.VIP, st.AddressOwner)
	fmt.Fprintf(tw, "connections:\t%d\n", st.Connections)
	fmt.Fprintf(tw, "in sync:\t%v\n", st.InSync)
	if f := st.LastFailover; f != nil {
		fmt.Fprintf(tw, "last failover:\t%s, %s, %v\n", f.At, f.Reason, time.Duration(f.DurationNS))
	} else {
		fmt.Fprintf(tw, "last failover:\tnone\n")
	}
	c := st.Counters
	fmt.Fprintf(tw, "forwarded:\t%d (dropped %d, by the peer %d)\n", c.Forwarded, c.Dropped, c.ForwardedByPeer)
	fmt.Fprintf(tw, "mirrored:\t%d sent, %d received\n", c.MirrorSent, c.MirrorReceived)
	fmt.Fprintf(tw, "sync:\t%d syncs, %d entries sent, %d received\n", c.Syncs, c.SyncEntriesSent, c.SyncEntriesRecv)
	fmt.Fprintf(tw, "peer link:\t%d sent, %d received, %d forged, %d replayed, %d malformed\n",
		st.Link.Sent, st.Link.Received, st.Link.Forged, st.Link.Replayed, st.Link.Malformed)
	return tw.Flush()
}
