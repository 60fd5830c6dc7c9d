package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/subsys"
)

func newPortsCmd(g *globals) *cobra.Command {
	var asJSON bool
	c := &cobra.Command{
		Use:   "ports",
		Short: "Show the capture core's ports, their counters and subscribers",
		Long: `Show every port of the capture core: mode, received and transmitted frames
and bytes, frames dropped by the kernel or for want of a pool frame, the
timestamp source, the link state, and each subscriber's delivered and dropped
counts. --json prints the API's JSON (GET /v1/ports).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cl, err := g.client()
			if err != nil {
				return err
			}
			defer cl.Close()
			var st api.Ports
			if err := cl.Get(cmd.Context(), api.PathPorts, &st); err != nil {
				if api.IsNotFound(err) {
					return fmt.Errorf("the daemon has no capture core (no ports configured): %w", err)
				}
				return err
			}
			if asJSON {
				return subsys.PrintJSON(g.stdout, st)
			}
			tw := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
			fmt.Fprintln(tw, "PORT\tMODE\tLINK\tRX PKTS\tRX BYTES\tTX PKTS\tTX BYTES\tDROP KERNEL\tDROP POOL\tTIMESTAMPS\t")
			for _, p := range st.Ports {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", p.Name, p.Mode, p.Link,
					p.RxPackets, p.RxBytes, p.TxPackets, p.TxBytes, p.RxDroppedKernel, p.RxDroppedPool, p.TimestampSource)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, p := range st.Ports {
				for _, s := range p.Subscribers {
					fmt.Fprintf(g.stdout, "  %s: subscriber %s (%s): delivered %d, dropped %d\n", p.Name, s.Name, s.Kind, s.Delivered, s.Dropped)
				}
			}
			fmt.Fprintf(g.stdout, "pool: %d of %d frames free (%d bytes each)\n", st.Pool.Free, st.Pool.Frames, st.Pool.FrameSize)
			return nil
		},
	}
	c.Flags().BoolVar(&asJSON, "json", false, "print the API's JSON")
	return c
}
