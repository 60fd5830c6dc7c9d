package capturecli

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/capture/pcapng"
)

// newCaptureRepairCmd repairs capture files here, without the daemon: the
// daemon repairs its own capture root at start, but files written into a
// client's directory (--out /abs/dir) or copied off a crashed system are
// only reachable from here.
func newCaptureRepairCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "repair FILE|DIR...",
		Short: "Cut capture files a crash left cut inside a block back to their last whole block",
		Long: `Repair capture files that a killed or crashed capture left ending inside a
block (tshark: "cut short in the middle of a packet"). A file is cut back to
its last whole pcapng block, zstd frame or gzip member; the whole blocks of a
compressed file's cut last frame are compressed again, so nothing that
reached the disk whole is lost. A DIR is searched for files whose writer died
while writing them (their ".NAME.writing" marker). Files a running capture
is writing are left alone.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out := cmd.OutOrStdout()
			var errs []error
			for _, p := range args {
				fi, err := os.Stat(p)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				var rs []pcapng.Repaired
				if fi.IsDir() {
					rs, err = pcapng.RepairDir(p)
				} else {
					var r pcapng.Repaired
					if r, err = pcapng.RepairFile(p); err == nil {
						rs = []pcapng.Repaired{r}
					}
				}
				if err != nil {
					errs = append(errs, err)
				}
				for _, r := range rs {
					switch {
					case r.Removed:
						fmt.Fprintf(out, "%s: removed (no whole block in its %d bytes)\n", r.Path, r.Size)
					case !r.Changed():
						fmt.Fprintf(out, "%s: whole\n", r.Path)
					default:
						fmt.Fprintf(out, "%s: %d -> %d bytes (%d salvaged from its cut last frame)\n", r.Path, r.Size, r.Kept, r.Salvaged)
					}
				}
			}
			return errors.Join(errs...)
		},
	}
}
