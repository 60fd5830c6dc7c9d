package boot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/image/kmod"
	"github.com/wirebox/wirebox/internal/api"
)

// Options configure Run. The zero value is the appliance's behaviour.
type Options struct {
	// Console is the program run in the foreground after the daemon starts;
	// when it exits, Run returns and u-root's init starts the fallback
	// shell. Empty runs no console.
	Console []string
	Log     *slog.Logger
	Out     io.Writer // console messages; os.Stdout by default
}

// DefaultConsole is the foreground program on the appliance's console:
// the TUI. When it exits (or with wirebox.console=off) u-root's shell takes
// the terminal. Set it to nil to boot straight to the shell.
var DefaultConsole = []string{GuestBinary, "console"}

// Run is the uinit: see the package documentation.
func Run(ctx context.Context, o Options) error {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Log == nil {
		o.Log = slog.New(slog.NewTextHandler(o.Out, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	if o.Console == nil {
		o.Console = DefaultConsole
	}
	log := o.Log
	var phases []string
	bootPhases := kernelPhases()
	phase := func(name string) {
		now := api.KernelUptime()
		phases = append(phases, fmt.Sprintf("%s %.2f", name, now))
		bootPhases = append(bootPhases, phaseAt(name, now))
	}
	phase("uinit")
	raw, err := os.ReadFile("/proc/cmdline")
	if err != nil {
		return fmt.Errorf("read kernel command line: %w", err)
	}
	cl := ParseCmdline(strings.TrimSpace(string(raw)))

	var uts unix.Utsname
	if err := unix.Uname(&uts); err != nil {
		return fmt.Errorf("uname: %w", err)
	}
	release := unix.ByteSliceToString(uts.Release[:])
	modDir := filepath.Join("/lib/modules", release)
	// The modules the boot needs (NICs, disk, entropy) now; the rest (the
	// subsystems' virtual devices) while the daemon starts.
	n, err := LoadModules(modDir, log, EarlyModules)
	if err != nil {
		log.Error("kernel modules", "err", err) // keep booting: the API may still come up
	} else {
		log.Debug("kernel modules loaded", "count", n)
	}
	phase("modules")
	// NICs up now, so their carrier is there by the time the daemon's
	// management service asks DHCP (u-root's client otherwise sets a down
	// link up and sleeps 100 ms before it looks again).
	upNICs(log)
	if dev, err := mountData(cl["wirebox.data"]); err != nil {
		log.Warn("data partition", "err", err)
	} else if dev != "" {
		log.Info("data partition mounted", "device", dev, "at", DataMount)
	}
	phase("data")
	// The network of ip= and wirebox.ip= is configured while the daemon
	// starts (Go start-up under TCG takes a second or more): the API
	// listens on the wildcard address, so it does not need the address to
	// be there first. Without ip= the daemon's management service gets
	// the address by DHCP.
	netDone := make(chan error, 1)
	go func() { netDone <- configureNetwork(cl, log) }()
	if cl["ip"] != "" || cl["wirebox.ip"] != "" {
		// Static addresses first (netlink calls, milliseconds), so the
		// daemon's management service finds them in place when it picks
		// the management NIC and starts DHCP (TestTapNIC once failed to
		// ping over a wirebox.ip= NIC with the two racing).
		err := <-netDone
		netDone <- err
	}
	modsDone := make(chan struct{})
	go func() {
		defer close(modsDone)
		if _, err := LoadModules(modDir, log, nil); err != nil {
			log.Error("kernel modules", "err", err)
		}
	}()
	conf, source := resolveConfig(cl)
	args := []string{"--config", conf}
	if source != "kernel command line" && dataMounted() {
		// Applied configurations are kept on the data partition and win
		// over the image's; the daemon falls back along the chain.
		args = append(args, "--state-dir", StateDir)
		source = "data partition if stored there, else " + source
	}
	hugePages(log)
	phase("daemon")
	writeBootFile(bootPhases)
	pid, err := startKeeper(args, cl["wirebox.debug"] == "1")
	if err != nil {
		log.Error("daemon", "err", err)
	}
	if err := <-netDone; err != nil {
		log.Error("network", "err", err)
	}
	phase("network")
	<-modsDone
	phase("modules (rest)")
	writeBootFile(bootPhases)
	if pid != 0 {
		fmt.Fprintf(o.Out, "wirebox: daemon started (kept running by pid %d; config %s from %s; log %s); seconds since kernel start: %s\n",
			pid, conf, source, daemonLog, strings.Join(phases, ", "))
	}

	// After the daemon is started, so the probe's wait (the terminal's
	// answer crosses the serial line twice) delays only the console.
	spec := cl["wirebox.tty"]
	if spec == "" {
		spec = cl["wirebox.console_size"] // the console's own name for it
	}
	setWindowSize(int(os.Stdin.Fd()), spec, log)
	quietConsole(log)

	if len(o.Console) > 0 && cl["wirebox.console"] != "off" {
		cmd := exec.CommandContext(ctx, o.Console[0], o.Console[1:]...)
		out := consoleOutput()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, out, out
		if err := cmd.Run(); err != nil {
			log.Warn("console exited", "err", err)
		}
	}
	detachTTY()
	return nil
}

// shmemTHP is where the kernel takes its policy for huge pages in shared
// memory, which the frame pool (a memfd) is.
const shmemTHP = "/sys/kernel/mm/transparent_hugepage/shmem_enabled"

// hugePages lets the frame pool have transparent huge pages: the pool
// advises them (MADV_HUGEPAGE), and with "advise" the kernel backs only
// such mappings with them. Fewer TLB misses in the receive path's copy
// into pool frames: about 16 % less CPU per 64-byte frame
// (docs/BENCHMARKS.md, issue 9, third session). Nothing is reserved; the
// pool logs which pages it got.
func hugePages(log *slog.Logger) {
	if err := os.WriteFile(shmemTHP, []byte("advise"), 0o644); err != nil {
		log.Warn("huge pages for the frame pool", "err", err)
	}
}

// quietConsole keeps kernel warnings off the console, as "quiet" means to
// (u-root's init raises the level to show notices): a message the kernel
// prints on the serial line lands in the middle of the full-screen console
// and stays there until that row changes. Errors still show; everything
// is in dmesg.
func quietConsole(log *slog.Logger) {
	if err := os.WriteFile("/proc/sys/kernel/printk", []byte("4"), 0o644); err != nil {
		log.Warn("console log level", "err", err)
	}
}

// consoleOutput is where the console draws: the terminal itself (our
// stdin, which the kernel opened read-write as /dev/console), not our
// stdout. u-root's init gives the uinit a pipe as stdout that it copies to
// every console= device; a full-screen program writing to that pipe sees
// no terminal, so it learns no size (it drew 80x24 whatever the terminal
// or wirebox.tty= said). The price: the TUI is not mirrored on the other
// console= devices (the screen of console=tty0), whose keyboard never
// reached it anyway.
func consoleOutput() *os.File {
	if _, err := unix.IoctlGetWinsize(int(os.Stdin.Fd()), unix.TIOCGWINSZ); err == nil {
		return os.Stdin
	}
	return os.Stdout
}

// detachTTY works around u-root issue 3645: init gives the uinit the
// console as its controlling terminal; when the uinit exits the kernel
// hangs up that terminal and the shell init starts next gets SIGHUP. We
// ignore SIGHUP and give up the terminal before exiting, so no hangup is
// sent.
func detachTTY() {
	signal.Ignore(syscall.SIGHUP)
	_ = unix.IoctlSetInt(int(os.Stdin.Fd()), unix.TIOCNOTTY, 0)
}

// setWindowSize gives the console the terminal's real size: wirebox.tty=
// (or wirebox.console_size=) when given, else what the terminal answers to a cursor-position probe
// (a serial line carries no size; what the kernel or init reports, 0x0 or
// 80x24, is a guess, and a guess larger or smaller than the real terminal
// makes full-screen programs overwrite rows), else what the tty reports,
// else 80x24.
func setWindowSize(fd int, spec string, log *slog.Logger) {
	ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
	if err != nil {
		return // not a terminal
	}
	cols, rows, how := uint16(80), uint16(24), "default"
	if ws.Col != 0 && ws.Row != 0 {
		cols, rows, how = ws.Col, ws.Row, "tty"
	}
	if spec != "" {
		c, r, ok := strings.Cut(spec, "x")
		ci, err1 := strconv.ParseUint(c, 10, 16)
		ri, err2 := strconv.ParseUint(r, 10, 16)
		if !ok || err1 != nil || err2 != nil || ci == 0 || ri == 0 {
			log.Warn("wirebox.tty / wirebox.console_size: want COLSxROWS", "value", spec)
		} else {
			cols, rows, how = uint16(ci), uint16(ri), "wirebox.tty"
		}
	}
	if how != "wirebox.tty" {
		if c, r, ok := probeSize(fd, 2*time.Second); ok {
			cols, rows, how = c, r, "terminal's answer"
		}
	}
	ws.Col, ws.Row = cols, rows
	if err := unix.IoctlSetWinsize(fd, unix.TIOCSWINSZ, ws); err != nil {
		log.Warn("set terminal size", "err", err)
	}
	log.Info("console size", "cols", cols, "rows", rows, "from", how)
}

// EarlyModules are the modules loaded before the daemon starts: the NICs,
// the data disk and the entropy source (see image.DefaultModules).
var EarlyModules = []string{"virtio_pci", "virtio_rng", "virtio_net", "virtio_blk"}

// LoadModules loads the modules of dir/modules.dep named by only (with
// their dependencies; nil: every module), dependencies first, with
// finit_module. Modules already loaded (or built in) are fine.
func LoadModules(dir string, log *slog.Logger, only []string) (int, error) {
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return 0, nil
		}
		return 0, err
	}
	defer f.Close()
	deps, order, err := kmod.ParseModulesDep(f)
	if err != nil {
		return 0, err
	}
	if only != nil {
		order = selectModules(order, only)
	}
	load, err := kmod.LoadOrder(deps, order)
	if err != nil {
		return 0, err
	}
	var errs []error
	n := 0
	for _, m := range load {
		path := filepath.Join(dir, m)
		// finit_module of a loaded module still reads and checks its
		// signature before it says EEXIST: slow under TCG, so skip it.
		if _, done := loadedModules.LoadOrStore(path, true); done {
			continue
		}
		if err := loadModule(path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", m, err))
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// loadedModules are the module paths this process loaded.
var loadedModules sync.Map

// selectModules keeps the module paths whose module name is in names
// (file name without .ko and compression suffix, - and _ the same).
func selectModules(order, names []string) []string {
	want := map[string]bool{}
	for _, n := range names {
		want[strings.ReplaceAll(n, "-", "_")] = true
	}
	var out []string
	for _, p := range order {
		base := filepath.Base(p)
		if i := strings.Index(base, ".ko"); i >= 0 {
			base = base[:i]
		}
		if want[strings.ReplaceAll(base, "-", "_")] {
			out = append(out, p)
		}
	}
	return out
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	err = unix.FinitModule(int(f.Fd()), "", 0)
	if errors.Is(err, unix.EEXIST) {
		return nil
	}
	return err
}

// configureNetwork brings up lo, the management port from ip= and the
// extra addresses from wirebox.ip=.
func configureNetwork(cl Cmdline, log *slog.Logger) error {
	if lo, err := netlink.LinkByName("lo"); err == nil {
		_ = netlink.LinkSetUp(lo)
	}
	var errs []error
	ipc, err := ParseIP(cl["ip"])
	if err != nil {
		errs = append(errs, err)
	}
	if ipc.DHCP {
		errs = append(errs, errors.New("ip=dhcp is not supported; give a static address"))
	}
	if ipc.Hostname != "" {
		if err := unix.Sethostname([]byte(ipc.Hostname)); err != nil {
			errs = append(errs, fmt.Errorf("hostname: %w", err))
		}
	}
	if ipc.Addr.IsValid() {
		dev := ipc.Device
		if dev == "" {
			dev = "eth0"
		}
		link, err := waitLink(dev, nil, 5*time.Second)
		if err != nil {
			errs = append(errs, err)
		} else {
			if err := addAddr(link, ipc.Addr.String()); err != nil {
				errs = append(errs, err)
			}
			if ipc.Gateway.IsValid() {
				r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: ipc.Gateway.AsSlice()}
				if err := netlink.RouteReplace(r); err != nil {
					errs = append(errs, fmt.Errorf("default route via %s: %w", ipc.Gateway, err))
				}
			}
			log.Debug("management port", "dev", dev, "addr", ipc.Addr, "gw", ipc.Gateway)
		}
	}
	extra, err := ParseAddrs(cl["wirebox.ip"])
	if err != nil {
		errs = append(errs, err)
	}
	for _, a := range extra {
		link, err := waitLink(a.Device, a.MAC, 5*time.Second)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := addAddr(link, a.Prefix.String()); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// upNICs sets every NIC (netlink kind "device") up.
func upNICs(log *slog.Logger) {
	links, err := netlink.LinkList()
	if err != nil {
		log.Warn("list NICs", "err", err)
		return
	}
	for _, l := range links {
		if l.Type() == "device" && l.Attrs().Flags&net.FlagLoopback == 0 {
			if err := netlink.LinkSetUp(l); err != nil {
				log.Warn("set NIC up", "nic", l.Attrs().Name, "err", err)
			}
		}
	}
}

// waitLink waits for a NIC whose driver may still be probing, and sets it
// up. With mac set the NIC is the one with that hardware address (the
// kernel names NICs in probe order) and name only names it in errors.
func waitLink(name string, mac net.HardwareAddr, timeout time.Duration) (netlink.Link, error) {
	deadline := time.Now().Add(timeout)
	for {
		link, err := findLink(name, mac)
		if err == nil {
			if err := netlink.LinkSetUp(link); err != nil {
				return nil, fmt.Errorf("set %s up: %w", name, err)
			}
			return link, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("interface %s did not appear within %s: %w", name, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func findLink(name string, mac net.HardwareAddr) (netlink.Link, error) {
	if mac == nil {
		return netlink.LinkByName(name)
	}
	links, err := netlink.LinkList()
	if err != nil {
		return nil, err
	}
	for _, l := range links {
		if bytes.Equal(l.Attrs().HardwareAddr, mac) {
			return l, nil
		}
	}
	return nil, errors.New("no NIC has this MAC")
}

func addAddr(link netlink.Link, cidr string) error {
	a, err := netlink.ParseAddr(cidr)
	if err != nil {
		return err
	}
	if err := netlink.AddrReplace(link, a); err != nil {
		return fmt.Errorf("address %s on %s: %w", cidr, link.Attrs().Name, err)
	}
	return nil
}

// mountData mounts the data partition: the device named by wirebox.data
// (waited for up to 5 s), else the first block device holding an ext4 file
// system labelled DataLabel. No such device is not an error ("" returned).
func mountData(dev string) (string, error) {
	if dev == "" {
		var err error
		if dev, err = findByLabel("/sys/class/block", "/dev", DataLabel); err != nil || dev == "" {
			return "", err
		}
	} else {
		deadline := time.Now().Add(5 * time.Second)
		for {
			if _, err := os.Stat(dev); err == nil {
				break
			} else if time.Now().After(deadline) {
				return "", fmt.Errorf("wirebox.data=%s: %w", dev, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if err := os.MkdirAll(DataMount, 0o755); err != nil {
		return "", err
	}
	if err := unix.Mount(dev, DataMount, "ext4", unix.MS_NOATIME, ""); err != nil {
		return "", fmt.Errorf("mount %s on %s: %w", dev, DataMount, err)
	}
	return dev, nil
}

// findByLabel scans block devices for an ext4 superblock with the label.
// It does not wait: virtio and SCSI disks are probed while their driver
// module loads, so by now they are there.
func findByLabel(sysBlock, devDir, label string) (string, error) {
	ents, err := os.ReadDir(sysBlock)
	if err != nil {
		return "", err
	}
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, "loop") || strings.HasPrefix(name, "ram") {
			continue
		}
		dev := filepath.Join(devDir, name)
		if l, err := ext4Label(dev); err == nil && l == label {
			return dev, nil
		}
	}
	return "", nil
}

// ext4Label reads the volume label from an ext2/3/4 superblock.
func ext4Label(dev string) (string, error) {
	f, err := os.Open(dev)
	if err != nil {
		return "", err
	}
	defer f.Close()
	sb := make([]byte, 1024)
	if _, err := f.ReadAt(sb, 1024); err != nil {
		return "", err
	}
	return Ext4Label(sb)
}

// resolveConfig picks the configuration file: the kernel command line,
// then the data partition, then the image's defaults.
func resolveConfig(cl Cmdline) (path, source string) {
	if p, ok := cl["wirebox.config"]; ok && p != "" {
		return p, "kernel command line"
	}
	p := filepath.Join(DataMount, "wirebox", "config.yaml")
	if _, err := os.Stat(p); err == nil {
		return p, "data partition"
	}
	return GuestConfig, "image defaults"
}

const daemonLog = "/var/log/wirebox.log"

// startKeeper starts `wirebox keep` in a session of its own (no
// controlling terminal, so the console's hangups never reach it): it runs
// the daemon and starts it again whenever it dies. The keeper outlives
// this uinit; init reaps it.
func startKeeper(daemonArgs []string, debug bool) (int, error) {
	if err := os.MkdirAll("/run/wirebox", 0o755); err != nil {
		return 0, err
	}
	cmd := exec.Command(GuestBinary, append([]string{"keep", "--"}, daemonArgs...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Env = append(os.Environ(), EnvBootFile+"="+BootFile)
	if debug {
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	} else {
		if err := os.MkdirAll(filepath.Dir(daemonLog), 0o755); err != nil {
			return 0, err
		}
		f, err := os.OpenFile(daemonLog, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		cmd.Stdout, cmd.Stderr = f, f
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	pid := cmd.Process.Pid
	return pid, cmd.Process.Release()
}

func dataMounted() bool {
	var st, parent unix.Stat_t
	if unix.Stat(DataMount, &st) != nil || unix.Stat("/", &parent) != nil {
		return false
	}
	return st.Dev != parent.Dev
}
