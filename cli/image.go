//go:build !wirebox_guest

package cli

import (
	"fmt"
	"log/slog"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/image"
	"github.com/wirebox/wirebox/subsys"
)

func newImageCmd(g *globals) *cobra.Command {
	var o image.Options
	var modules string
	var log func() *slog.Logger
	c := &cobra.Command{
		Use:   "image",
		Short: "Build the bootable appliance: kernel, initramfs and ISO, into out/",
		Long: `Build the appliance image from this source tree (run it in the module root):
Debian's cloud kernel (apt-get download, cached), an initramfs made with u-root
(init, a busybox of u-root tools, the static wirebox binary started at boot,
the kernel modules the appliance needs) and a hybrid BIOS/UEFI ISO.

The guest's control API also listens on TCP with TLS and a bearer token: the CA
and token are created once in the output directory (api-ca.pem, api-token) and
reused, so clients keep working across rebuilds:

  wirebox status --remote https://127.0.0.1:PORT --token @out/api-token --ca out/api-ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.Log = log()
			if modules != "" {
				o.Modules = strings.Split(modules, ",")
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			a, err := image.Build(ctx, o)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "kernel %s, %d modules\n%s", a.KernelVersion, len(a.Modules), a.Sizes())
			fmt.Fprintf(g.stdout, "api CA %s, token %s\n", a.Secrets.CAFile, a.Secrets.TokenFile)
			return nil
		},
	}
	f := c.Flags()
	f.StringVar(&o.OutDir, "out", "out", "output directory")
	f.StringVar(&o.SrcDir, "src", ".", "wirebox source tree (module root)")
	f.StringVar(&o.CacheDir, "cache", "", "kernel cache (default ~/.cache/wirebox/kernel)")
	f.StringVar(&o.KernelPackage, "kernel", image.DefaultKernelPackage, "Debian kernel package (metapackage or versioned)")
	f.StringVar(&modules, "modules", strings.Join(image.DefaultModules, ","), "kernel modules to include (dependencies are added)")
	f.StringVar(&o.ConfigFile, "config", "", "guest default configuration (default: generated, TCP API with TLS and token)")
	f.StringVar(&o.Cmdline, "cmdline", image.DefaultCmdline, "kernel command line of the ISO's boot entry")
	f.BoolVar(&o.ISO, "iso", true, "also build the hybrid BIOS/UEFI ISO (needs grub-pc-bin, grub-efi-amd64-bin, xorriso, mtools)")
	f.StringArrayVar(&o.ExtraFiles, "file", nil, "extra file for the image, HOSTPATH:PATH/IN/IMAGE (repeatable)")
	log = subsys.VerboseLog(c, "show the u-root builder's output")
	return c
}
