//go:build !wirebox_guest

package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/wirebox/wirebox/image"
	"github.com/wirebox/wirebox/qemu"
)

func newQemuCmd(g *globals) *cobra.Command {
	var (
		out, appendCmdline, iso, disk string
		kernel, initrd                string
		taps                          []string
		pair, check, uefi             bool
		timeout                       time.Duration
		apiPort, snmpPort, mirrorPort int
		memory, hubNICs               int
	)
	c := &cobra.Command{
		Use:   "qemu",
		Short: "Boot the appliance (or an HA pair) under QEMU with the console on this terminal",
		Long: `Boot the image built by "wirebox image" under QEMU (TCG). The management port
uses user-mode networking restricted to loopback: the control API, SNMP (udp)
and mirror ports are forwarded from 127.0.0.1 (free ports unless given). The
serial console is on this terminal: Ctrl-A X quits QEMU, Ctrl-A C its monitor.

--pair boots two appliances joined by a peer link (eth1, 169.254.77.1 and .2);
the second's console goes to OUT/pair-b.console.log.
--check boots without a terminal, waits until the guest API reports every
service running, prints "boot-to-api: N.NN s" and where the time went (kernel,
initramfs unpacking, modules, Go start-up, each service), stops the guest and
exits 0.

The management NIC (eth0) gets its address from QEMU's DHCP server; every
other NIC (--tap, the --pair peer link, the --lab-nics joined by a QEMU hub)
becomes a passive port.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			secrets := image.SecretsIn(out)
			if kernel == "" {
				// The unpacked kernel when the image has one: QEMU starts
				// it at its PVH entry, without the bzImage's decompressor.
				kernel = filepath.Join(out, "vmlinux")
				if _, err := os.Stat(kernel); err != nil {
					kernel = filepath.Join(out, "vmlinuz")
				}
			}
			if initrd == "" {
				initrd = filepath.Join(out, "initramfs.cpio.zst")
			}
			base := qemu.Options{
				Name: "wirebox", Kernel: kernel, Initrd: initrd,
				Cmdline: appendCmdline, MemoryMB: memory, Taps: taps, Disk: disk, HubNICs: hubNICs,
				APIPort: apiPort, SNMPPort: snmpPort, MirrorPort: mirrorPort,
			}
			if iso != "" {
				base.ISO, base.UEFI = iso, uefi
			}
			if base.ISO == "" {
				for _, f := range []string{base.Kernel, base.Initrd} {
					if _, err := os.Stat(f); err != nil {
						return fmt.Errorf("%w (run \"wirebox image\" or \"make image\" first)", err)
					}
				}
			}
			opts := []qemu.Options{base}
			if pair {
				a, b, err := qemu.PairOptions(base)
				if err != nil {
					return err
				}
				opts = []qemu.Options{a, b}
			}
			if check {
				return runCheck(ctx, g, opts, secrets, out, timeout)
			}
			var vms []*qemu.VM
			defer func() {
				for _, vm := range vms {
					vm.Stop()
				}
			}()
			for i, o := range opts {
				if i == 0 {
					o.Interactive = true
				} else {
					f, err := os.Create(filepath.Join(out, "pair-b.console.log"))
					if err != nil {
						return err
					}
					defer f.Close()
					o.Stdout = f
				}
				vm, err := qemu.Start(ctx, o)
				if err != nil {
					return err
				}
				vms = append(vms, vm)
			}
			for _, vm := range vms {
				fmt.Fprintf(g.stderr, "%s: api %s  snmp udp 127.0.0.1:%d  mirror tcp 127.0.0.1:%d (loopback only)\n",
					vm.Opts.Name, vm.APIURL(), vm.Opts.SNMPPort, vm.Opts.MirrorPort)
			}
			fmt.Fprintf(g.stderr, "credentials: token %s, CA %s\n", secrets.TokenFile, secrets.CAFile)
			fmt.Fprintf(g.stderr, "remote: wirebox status --remote %s --token @%s --ca %s\n", vms[0].APIURL(), secrets.TokenFile, secrets.CAFile)
			fmt.Fprintf(g.stderr, "        wirebox ports --remote %s --token @%s --ca %s\n", vms[0].APIURL(), secrets.TokenFile, secrets.CAFile)
			fmt.Fprintf(g.stderr, "        wirebox config apply FILE --remote %s --token @%s --ca %s\n", vms[0].APIURL(), secrets.TokenFile, secrets.CAFile)
			<-vms[0].Done()
			return vms[0].Err()
		},
	}
	f := c.Flags()
	f.StringVar(&out, "out", "out", "directory with the image (vmlinux or vmlinuz, initramfs.cpio.zst, api-ca.pem, api-token)")
	f.StringVar(&appendCmdline, "append", "", "extra kernel command line (e.g. wirebox.console=off wirebox.debug=1)")
	f.StringVar(&iso, "iso", "", "boot this ISO instead of the kernel and initramfs")
	f.StringVar(&kernel, "kernel", "", "kernel to boot (default OUT/vmlinux, else OUT/vmlinuz)")
	f.StringVar(&initrd, "initrd", "", "initramfs to boot (default OUT/initramfs.cpio.zst; an uncompressed cpio works too)")
	f.BoolVar(&uefi, "uefi", false, "boot the ISO with UEFI firmware (OVMF) instead of BIOS")
	f.StringVar(&disk, "disk", "", "raw disk image to attach (ext4 labelled wirebox-data is mounted at /data)")
	f.StringArrayVar(&taps, "tap", nil, "host TAP device to attach as an extra NIC (repeatable)")
	f.BoolVar(&pair, "pair", false, "boot two appliances joined by a dgram peer link")
	f.BoolVar(&check, "check", false, "boot, wait for every service to run, print boot-to-api, stop")
	f.DurationVar(&timeout, "timeout", 3*time.Minute, "how long --check waits for the API")
	f.IntVar(&apiPort, "api-port", 0, "host port for the control API (0: a free port)")
	f.IntVar(&snmpPort, "snmp-port", 0, "host udp port for SNMP (0: a free port)")
	f.IntVar(&mirrorPort, "mirror-port", 0, "host port for the mirror service (0: a free port)")
	f.IntVar(&memory, "memory", 512, "guest memory in MiB")
	f.IntVar(&hubNICs, "lab-nics", 2, "extra NICs joined by a QEMU hub (they become ports; what one sends the others receive)")
	return c
}

// runCheck boots every guest with its console captured, waits until each
// API reports every service running, prints the boot-to-api times and stops
// the guests.
func runCheck(ctx context.Context, g *globals, opts []qemu.Options, s image.Secrets, out string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type result struct {
		name      string
		took      time.Duration
		err       error
		log       string
		breakdown string
	}
	results := make(chan result, len(opts))
	for _, o := range opts {
		go func() {
			logPath := filepath.Join(out, o.Name+".console.log")
			f, err := os.Create(logPath)
			if err != nil {
				results <- result{name: o.Name, err: err}
				return
			}
			defer f.Close()
			o.Stdout = f
			vm, err := qemu.Start(ctx, o)
			if err != nil {
				results <- result{name: o.Name, err: err, log: logPath}
				return
			}
			r := result{name: o.Name, log: logPath}
			if c, err := vm.NewClient(s); err != nil {
				r.err = err
			} else {
				_, r.took, r.err = vm.WaitReady(ctx, c)
				if r.err == nil {
					if a, at, err := vm.Appliance(ctx, c); err == nil {
						r.breakdown = qemu.Breakdown(a, at, r.took)
					}
				}
				c.Close()
			}
			vm.Stop() // before reporting, so nothing outlives the command
			results <- r
		}()
	}
	var errs []error
	for range opts {
		r := <-results
		if r.err != nil {
			tail := ""
			if b, err := os.ReadFile(r.log); err == nil {
				tail = lastLines(string(b), 15)
			}
			errs = append(errs, fmt.Errorf("%w\nconsole (%s):\n%s", r.err, r.log, tail)) // r.err names the guest
			continue
		}
		if len(opts) == 1 {
			fmt.Fprintf(g.stdout, "boot-to-api: %.2f s\n", r.took.Seconds())
		} else {
			fmt.Fprintf(g.stdout, "%s boot-to-api: %.2f s\n", r.name, r.took.Seconds())
		}
		if r.breakdown != "" {
			fmt.Fprint(g.stdout, r.breakdown)
		}
	}
	return errors.Join(errs...)
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
