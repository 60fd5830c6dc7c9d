package cli

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/subsys"
)

func newPortsCmd(g *globals) *cobra.Command {
	c := &cobra.Command{
		Use:   "ports",
		Short: "Show the capture core's ports, their counters and subscribers",
		Long: `Show every port of the capture core: mode, received and transmitted frames
and bytes, frames dropped by the kernel or for want of a pool frame, the
timestamp source, the link state, and each subscriber's delivered and dropped
counts. --json prints the API's JSON (GET /v1/ports).`,
		Args: cobra.NoArgs,
	}
	query := subsys.GetCmd(c, g.client, api.PathPorts, printPorts).RunE
	c.RunE = func(cmd *cobra.Command, args []string) error {
		err := query(cmd, args)
		if api.IsNotFound(err) {
			return fmt.Errorf("the daemon has no capture core (no ports configured): %w", err)
		}
		return err
	}
	return c
}

func printPorts(w io.Writer, st api.Ports) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "PORT\tMODE\tLINK\tRX PKTS\tRX BYTES\tTX PKTS\tTX BYTES\tDROP KERNEL\tDROP POOL\tTIMESTAMPS\t")
	for _, p := range st.Ports {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t\n", p.Name, p.Mode, p.Link,
			p.RxPackets, p.RxBytes, p.TxPackets, p.TxBytes, p.RxDroppedKernel, p.RxDroppedPool, p.TimestampSource)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, p := range st.Ports {
		speed := "speed unknown"
		if p.SpeedMbps > 0 {
			speed = fmt.Sprintf("%d Mb/s", p.SpeedMbps)
		}
		fmt.Fprintf(w, "  %s: ifindex %d, mac %s, mtu %d, %s, %s duplex, state %s", p.Name, p.IfIndex, p.MAC, p.MTU, speed, p.Duplex, p.OperState)
		if !p.Attached {
			fmt.Fprint(w, ", engine stopped")
		}
		if p.EngineStarts > 1 || p.Missed > 0 {
			fmt.Fprintf(w, ", engine started %d times, %d frames missed while stopped", p.EngineStarts, p.Missed)
		}
		fmt.Fprintln(w)
		for _, s := range p.Subscribers {
			kind := s.Kind
			if s.Hook != "" {
				kind += ", " + s.Hook
			}
			if s.Exclusive {
				kind += ", exclusive"
			}
			fmt.Fprintf(w, "  %s: subscriber %s (%s): delivered %d, dropped %d\n", p.Name, s.Name, kind, s.Delivered, s.Dropped)
		}
	}
	pages := ""
	if st.Pool.Pages != "" {
		pages = "; " + st.Pool.Pages
	}
	_, err := fmt.Fprintf(w, "pool: %d of %d frames free (%d bytes each%s)\n", st.Pool.Free, st.Pool.Frames, st.Pool.FrameSize, pages)
	return err
}
