package capturecli

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/subsys"
)

func newReplayCmd(client subsys.ClientFunc) *cobra.Command {
	var (
		req    api.Replay
		asJSON *bool
	)
	c := &cobra.Command{
		Use:   "replay FILE --port P",
		Short: "Send a capture file through a port at its captured timing",
		Long: `Replay reads pcap or pcapng (plain, gzip or zstd) and sends each frame at
its captured time relative to one absolute start, so lateness never adds up.
Frames cut short by a snaplen are padded to their original length with the
pattern "wirebox-pad!". --to host delivers the frames as if received on the port:
on a passive port they enter the interface's kernel receive path, so the host
stack gets them (sockets bound there, ARP, ICMP) and every capture session on
the port sees each once as received; a bypass port's traffic never reaches the
host stack, so there they go to the port's subscribers only. The frames need the
port's MAC address (or broadcast) as destination for the host stack to take them.
FILE is on the appliance, inside capture.root (relative paths are taken from there).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.Port == "" {
				return subsys.Usage(fmt.Errorf("--port is required"))
			}
			// A path on the appliance: relative ones are inside capture.root.
			req.File = args[0]
			return subsys.Query(cmd, client, *asJSON, api.PathReplay, req, func(w io.Writer, rep api.ReplayReport) error {
				fmt.Fprintf(w, "sent %d frames (%d bytes, %d padded) in %v at speed %g; late %d (worst %v); errors %d\n",
					rep.Sent, rep.Bytes, rep.Padded, time.Duration(rep.DurationNS), rep.Speed, rep.Late, time.Duration(rep.WorstLateNS), rep.Errors)
				if rep.FirstError != "" {
					fmt.Fprintf(w, "first error: %s\n", rep.FirstError)
				}
				return nil
			})
		},
	}
	asJSON = subsys.JSONFlag(c)
	f := c.Flags()
	f.StringVar(&req.Port, "port", "", "port to send through")
	f.Float64Var(&req.Speed, "speed", 1, "speed factor (2 = twice as fast)")
	f.IntVar(&req.Loop, "loop", 1, "times to send the file")
	f.StringVar(&req.To, "to", "wire", "wire (transmit on the port) or host (as if received)")
	return c
}
