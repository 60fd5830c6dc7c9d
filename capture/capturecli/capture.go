package capturecli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/subsys"
)

func newCaptureCmd(client subsys.ClientFunc) *cobra.Command {
	c := &cobra.Command{
		Use:   "capture",
		Short: "Capture sessions: start, list, stop; repair files a crash cut",
	}
	c.AddCommand(newCaptureStartCmd(client), newCaptureListCmd(client), newCaptureStopCmd(client), newCaptureRepairCmd())
	return c
}

// sizeUnits are the suffixes parseSize takes, lower-cased: k, M, G, T
// and KiB, MiB, ... are powers of 1024; KB, MB, ... powers of 1000, as
// the units say.
var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

// parseSize reads sizes as users write them: 1000, 64k, 10M, 4MB, 1GiB,
// 1.5G, "100 MiB" (case does not matter).
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return 0, nil
	}
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') && t[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	bad := fmt.Errorf("size %q: want a number and an optional unit (64k, 100M, 4MB, 1GiB)", s)
	if !ok || num == "" || strings.ContainsAny(num, "+-eE") {
		return 0, bad
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 {
		return 0, bad
	}
	v := f * mult
	if v >= 1<<62 {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return int64(v), nil
}

func newCaptureStartCmd(client subsys.ClientFunc) *cobra.Command {
	var (
		req        api.CaptureStart
		rotateSize string
		rotateTime time.Duration
		asJSON     *bool
	)
	c := &cobra.Command{
		Use:   "start --port P [--port P2] --out DIR",
		Short: "Start a capture session on one or more ports",
		Example: `  wirebox capture start --port eth1 --filter 'tcp port 80' --rotate-size 100M --keep 10 --compress zstd --out /data/cap
  wirebox capture start --port eth1 --match 'GET /login' --out /data/login`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(req.Ports) == 0 {
				return subsys.Usage(fmt.Errorf("--port is required"))
			}
			if req.OutDir == "" {
				return subsys.Usage(fmt.Errorf("--out is required"))
			}
			size, err := parseSize(rotateSize)
			if err != nil {
				return subsys.Usage(err)
			}
			req.RotateSize = size
			if rotateTime > 0 {
				req.RotateTime = rotateTime.String()
			}
			return subsys.WithClient(client, func(cl *api.Client) error {
				var st api.CaptureSession
				post := func() error { return cl.Post(cmd.Context(), api.PathCaptures, req, &st) }
				// On the local socket an absolute --out is this user's own
				// directory: the command creates and opens it and hands the
				// daemon the descriptor (SCM_RIGHTS), so the user's
				// permission counts, not capture.root, and the files are
				// theirs. A relative --out is inside capture.root.
				if cl.Local() && filepath.IsAbs(req.OutDir) {
					if dir, err := openOutDir(req.OutDir); err == nil {
						defer dir.Close()
						req.OutFD = true
						post = func() error { return cl.PostFile(cmd.Context(), api.PathCaptures, dir, req, &st) }
					}
				}
				if err := post(); err != nil {
					return err
				}
				if *asJSON {
					return subsys.PrintJSON(cmd.OutOrStdout(), st)
				}
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "capture %s started on %s, writing %s\n", st.ID, strings.Join(st.Config.Ports, ","), st.CurrentFile)
				return err
			})
		},
	}
	asJSON = subsys.JSONFlag(c)
	f := c.Flags()
	f.StringSliceVar(&req.Ports, "port", nil, "port to capture (repeat or comma-separate for several)")
	f.StringVar(&req.Filter, "filter", "", "tcpdump filter expression")
	f.StringVar(&req.Match, "match", "", "payload regular expression: capture each matching flow from its first match on")
	f.StringVar(&req.Direction, "direction", "both", "rx, tx or both")
	f.IntVar(&req.SnapLen, "snaplen", 0, "bytes kept of each frame (0: all)")
	f.StringVar(&rotateSize, "rotate-size", "", "start a new file at this size (e.g. 100M, 4MB, 1GiB)")
	f.DurationVar(&rotateTime, "rotate-time", 0, "start a new file after this long (e.g. 10m)")
	f.IntVar(&req.Keep, "keep", 0, "files to keep (0: all)")
	f.StringVar(&req.Compress, "compress", "none", "zstd, gzip or none")
	f.StringVar(&req.OutDir, "out", "", "output directory: an absolute one is yours (on the appliance itself), a relative one is inside capture.root")
	f.IntVar(&req.Queue, "queue", 0, "frames that may wait for the disk before drops (default 16384)")
	_ = c.RegisterFlagCompletionFunc("port", portNames(client))
	_ = c.RegisterFlagCompletionFunc("direction", fixed("rx", "tx", "both"))
	_ = c.RegisterFlagCompletionFunc("compress", fixed("zstd", "gzip", "none"))
	return c
}

// openOutDir creates dir if needed (as this user) and opens it.
func openOutDir(dir string) (*os.File, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.IsDir() {
		f.Close()
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	return f, nil
}

func newCaptureListCmd(client subsys.ClientFunc) *cobra.Command {
	return subsys.GetCmd(&cobra.Command{
		Use:   "list",
		Short: "List capture sessions with their counters",
		Args:  cobra.NoArgs,
	}, client, api.PathCaptures, func(w io.Writer, ss []api.CaptureSession) error {
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tPORTS\tPACKETS\tBYTES\tDROP(QUEUE)\tDROP(KERNEL)\tFILES\tCURRENT FILE\tERROR")
		for _, s := range ss {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\n", s.ID, strings.Join(s.Config.Ports, ","), s.Packets, s.Bytes,
				s.DroppedQueue, s.DroppedKernel, s.Files, s.CurrentFile, s.Error)
		}
		return tw.Flush()
	})
}

func newCaptureStopCmd(client subsys.ClientFunc) *cobra.Command {
	return subsys.PostCmd(&cobra.Command{
		Use:               "stop ID",
		Short:             "Stop a capture session; its files are closed complete",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: captureIDs(client),
	}, client, func(args []string) string { return api.CaptureStopPath(args[0]) }, func(w io.Writer, st api.CaptureSession) error {
		_, err := fmt.Fprintf(w, "capture %s stopped: %d packets written, %d dropped (queue), %d dropped (kernel), %d files\n",
			st.ID, st.Packets, st.DroppedQueue, st.DroppedKernel, st.Files)
		return err
	})
}
