package capturecli

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/capture/replay"
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
On the appliance itself (the local socket) a FILE you can read is opened by the
command and handed to the daemon open, wherever it is; otherwise FILE is a path
on the appliance inside capture.root (relative paths are taken from there).

--speed is from 0.001 to 1000000. --loop 0 sends the file until the command is
stopped (Ctrl-C), as tcpreplay's --loop 0. Only Ethernet frames are sent: a
file of raw IP packets (no link header) is refused, and so is a file whose
timestamps jump by more than an hour (after --speed) between two frames. The
command exits non-zero when any frame was not sent (larger than the port's
MTU, say), after printing the report.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if req.Port == "" {
				return subsys.Usage(fmt.Errorf("--port is required"))
			}
			if !(req.Speed >= replay.MinSpeed && req.Speed <= replay.MaxSpeed) {
				return subsys.Usage(fmt.Errorf("--speed %g: want from %g to %g", req.Speed, replay.MinSpeed, replay.MaxSpeed))
			}
			switch {
			case req.Loop == 0:
				req.Loop = replay.LoopForever
			case req.Loop < 0:
				return subsys.Usage(fmt.Errorf("--loop %d: want a count, or 0 for until stopped", req.Loop))
			}
			req.File = args[0]
			return subsys.WithClient(client, func(cl *api.Client) error {
				var rep api.ReplayReport
				post := func() error { return cl.Post(cmd.Context(), api.PathReplay, req, &rep) }
				// On the local socket a file this user can open is handed
				// to the daemon open (SCM_RIGHTS): the user's permission
				// counts, not capture.root. Otherwise it is a path on the
				// appliance, relative ones inside capture.root.
				if cl.Local() {
					if f, err := os.Open(args[0]); err == nil {
						defer f.Close()
						req.FD, req.File = true, filepath.Base(args[0])
						post = func() error { return cl.PostFile(cmd.Context(), api.PathReplay, f, req, &rep) }
					}
				}
				if err := post(); err != nil {
					return err
				}
				w := cmd.OutOrStdout()
				if *asJSON {
					if err := subsys.PrintJSON(w, rep); err != nil {
						return err
					}
				} else {
					fmt.Fprintf(w, "sent %d frames (%d bytes, %d padded) in %v at speed %g; late %d (worst %v); errors %d\n",
						rep.Sent, rep.Bytes, rep.Padded, time.Duration(rep.DurationNS), rep.Speed, rep.Late, time.Duration(rep.WorstLateNS), rep.Errors)
				}
				if rep.Errors > 0 {
					return fmt.Errorf("%d of %d frames were not sent; the first error: %s", rep.Errors, rep.Errors+rep.Sent, rep.FirstError)
				}
				return nil
			})
		},
	}
	asJSON = subsys.JSONFlag(c)
	f := c.Flags()
	f.StringVar(&req.Port, "port", "", "port to send through")
	f.Float64Var(&req.Speed, "speed", 1, "speed factor (2 = twice as fast)")
	f.IntVar(&req.Loop, "loop", 1, "times to send the file (0: until stopped)")
	f.StringVar(&req.To, "to", "wire", "wire (transmit on the port) or host (as if received)")
	_ = c.RegisterFlagCompletionFunc("port", portNames(client))
	_ = c.RegisterFlagCompletionFunc("to", fixed("wire", "host"))
	return c
}
