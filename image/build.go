package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/u-root/gobusybox/src/pkg/golang"
	"github.com/u-root/mkuimage/uimage"
	"github.com/u-root/uio/llog"

	"github.com/wirebox/wirebox/image/boot"
	"github.com/wirebox/wirebox/image/kmod"
)

// DefaultModules are the kernel modules the appliance loads at boot: the
// virtio NIC and disk drivers QEMU presents, and the virtual devices the
// subsystems create (TAP for mirror clients, veth, VXLAN, bridges), and
// clsact plus cls_bpf for the core's inject-as-received path (replay --to
// host), and virtio_rng: without an entropy source the kernel's random
// pool takes many seconds to be ready under TCG (no RDRAND), and until then
// every getrandom() blocks: DHCP transaction IDs, TLS. AF_PACKET and
// AF_XDP are built into Debian's kernels.
var DefaultModules = []string{"virtio_pci", "virtio_rng", "virtio_net", "virtio_blk", "tun", "veth", "vxlan", "bridge", "sch_ingress", "cls_bpf"}

// DefaultShell is the shell u-root's init starts after the uinit (wirebox
// boot) returns, and whenever the console exits. The console itself is run
// by wirebox boot (see image/boot Options.Console).
const DefaultShell = "gosh"

// UrootCommands are the u-root commands built into the image's busybox:
// init, the fallback shell and a few tools for looking around.
var UrootCommands = []string{
	"init", "gosh", "ls", "cat", "dmesg", "ip", "mount", "umount", "ps", "ping",
	"free", "df", "mkdir", "uname", "lsmod", "insmod", "kill",
}

// Options configure Build.
type Options struct {
	SrcDir        string // the wirebox module root (go.mod); "." by default
	OutDir        string // artifacts; "out" by default
	CacheDir      string // kernel cache; ~/.cache/wirebox/kernel by default
	KernelPackage string // DefaultKernelPackage by default
	Modules       []string
	ConfigFile    string // guest default config; generated when empty
	Cmdline       string // kernel command line for the ISO's boot entry
	ISO           bool   // also build the hybrid BIOS/UEFI ISO
	// ExtraFiles are more files for the image, "HOSTPATH:PATH/IN/IMAGE".
	ExtraFiles []string
	Log        *slog.Logger
}

// Artifacts are the files Build wrote.
type Artifacts struct {
	Kernel        string // the bzImage (the ISO boots it)
	KernelVersion string
	// KernelELF is the same kernel unpacked (vmlinux), which QEMU starts at
	// its PVH entry for a direct kernel boot; "" when the bzImage's
	// compression is not LZ4 (boot the bzImage then).
	KernelELF string
	Initramfs string // zstd-compressed cpio
	ISO       string // empty unless Options.ISO
	Secrets   Secrets
	Modules   []string // module paths in the image
}

// Sizes returns "name size" lines for the artifacts.
func (a *Artifacts) Sizes() string {
	var b strings.Builder
	for _, f := range []string{a.Kernel, a.KernelELF, a.Initramfs, a.ISO} {
		if f == "" {
			continue
		}
		if st, err := os.Stat(f); err == nil {
			fmt.Fprintf(&b, "%-28s %9d bytes (%.1f MB)\n", f, st.Size(), float64(st.Size())/1e6)
		}
	}
	return b.String()
}

func (o *Options) defaults() error {
	if o.SrcDir == "" {
		o.SrcDir = "."
	}
	if o.OutDir == "" {
		o.OutDir = "out"
	}
	if o.CacheDir == "" {
		d, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("kernel cache dir: %w", err)
		}
		o.CacheDir = filepath.Join(d, "wirebox", "kernel")
	}
	if o.KernelPackage == "" {
		o.KernelPackage = DefaultKernelPackage
	}
	if o.Modules == nil {
		o.Modules = DefaultModules
	}
	if o.Cmdline == "" {
		o.Cmdline = DefaultCmdline
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// DefaultCmdline boots quietly with the console on the first serial port
// and the screen (the last console= gets /dev/console).
const DefaultCmdline = "console=tty0 console=ttyS0,115200 quiet"

// Build builds the kernel, the initramfs (u-root init and tools, the wirebox
// binary, the kernel modules with their modules.dep, the guest API secrets
// and default config) and optionally the ISO, into OutDir.
func Build(ctx context.Context, o Options) (*Artifacts, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	tools := []Tool{ToolGo}
	if o.ISO {
		tools = append(tools, ToolGrubMkrescue, ToolGrubPC, ToolGrubEFI, ToolXorriso, ToolMformat)
	}
	if err := NeedTools(tools...); err != nil {
		return nil, err
	}
	src, err := filepath.Abs(o.SrcDir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(src, "cmd", "wirebox")); err != nil {
		return nil, fmt.Errorf("%s is not the wirebox source tree (no cmd/wirebox): %w", src, err)
	}
	if err := os.MkdirAll(o.OutDir, 0o755); err != nil {
		return nil, err
	}
	out, err := filepath.Abs(o.OutDir)
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "wirebox-image-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)

	start := time.Now()
	k, err := FetchKernel(ctx, o.KernelPackage, o.CacheDir)
	if err != nil {
		return nil, err
	}
	o.Log.Info("kernel", "package", k.Package, "version", k.Version, "took", time.Since(start).Round(time.Millisecond))

	a := &Artifacts{KernelVersion: k.Version, Kernel: filepath.Join(out, "vmlinuz"), Initramfs: filepath.Join(out, "initramfs.cpio.zst")}
	if err := copyFile(k.Vmlinuz, a.Kernel, 0o644); err != nil {
		return nil, err
	}
	if a.KernelELF, err = writeELF(a.Kernel, filepath.Join(out, "vmlinux")); err != nil {
		return nil, err
	}

	stage := filepath.Join(tmp, "stage")
	if a.Secrets, err = EnsureSecrets(out, time.Now()); err != nil {
		return nil, fmt.Errorf("api secrets: %w", err)
	}
	if a.Modules, err = stageModules(k, o.Modules, stage); err != nil {
		return nil, err
	}
	if err := stageConfig(o, a.Secrets, stage); err != nil {
		return nil, err
	}
	for _, f := range o.ExtraFiles {
		src, dst, ok := strings.Cut(f, ":")
		if !ok || src == "" || dst == "" || strings.HasPrefix(dst, "/") || strings.Contains(dst, "..") {
			return nil, fmt.Errorf("extra file %q: want HOSTPATH:RELATIVE/PATH/IN/IMAGE", f)
		}
		st, err := os.Stat(src)
		if err != nil {
			return nil, fmt.Errorf("extra file: %w", err)
		}
		if err := copyFile(src, filepath.Join(stage, dst), st.Mode().Perm()); err != nil {
			return nil, err
		}
	}
	t := time.Now()
	if err := buildWirebox(ctx, src, filepath.Join(stage, "bin", "wirebox")); err != nil {
		return nil, err
	}
	o.Log.Info("built wirebox", "took", time.Since(t).Round(time.Millisecond))

	t = time.Now()
	cpio := filepath.Join(tmp, "initramfs.cpio")
	if err := buildInitramfs(src, stage, cpio, tmp, o.Log); err != nil {
		return nil, err
	}
	if err := compressZstd(cpio, a.Initramfs); err != nil {
		return nil, err
	}
	o.Log.Info("built initramfs", "took", time.Since(t).Round(time.Millisecond))

	if o.ISO {
		t = time.Now()
		a.ISO = filepath.Join(out, "wirebox.iso")
		if err := buildISO(ctx, a, o.Cmdline, tmp); err != nil {
			return nil, err
		}
		o.Log.Info("built ISO", "took", time.Since(t).Round(time.Millisecond))
	}
	return a, nil
}

// writeELF writes the unpacked kernel of the bzImage at src to dst, or
// removes a stale dst and returns "" when there is none to unpack.
func writeELF(src, dst string) (string, error) {
	b, err := os.ReadFile(src)
	if err != nil {
		return "", err
	}
	elf, err := ExtractELF(b)
	if errors.Is(err, ErrNoELF) {
		_ = os.Remove(dst)
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", src, err)
	}
	return dst, writeFile(dst, elf, 0o644)
}

// stageModules copies the module closure into stage/lib/modules/VERSION
// with a modules.dep covering exactly those modules.
func stageModules(k *Kernel, names []string, stage string) ([]string, error) {
	tree, err := kmod.ReadModuleTree(k.ModulesDir)
	if err != nil {
		return nil, err
	}
	mods, err := tree.Closure(names)
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(stage, "lib", "modules", k.Version)
	var paths []string
	for _, m := range mods {
		if err := copyFile(filepath.Join(k.ModulesDir, m.Path), filepath.Join(dir, m.Path), 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, m.Path)
	}
	var b bytes.Buffer
	if err := tree.WriteModulesDep(&b, mods); err != nil {
		return nil, err
	}
	return paths, os.WriteFile(filepath.Join(dir, "modules.dep"), b.Bytes(), 0o644)
}

// DefaultGuestConfig is the configuration embedded in the image when no
// config file is given: the control API also listens on TCP, with TLS and
// the image's bearer token, so the host can reach it through QEMU's
// forwarded port; the management NIC gets its address by DHCP and every
// other NIC becomes a passive port.
func DefaultGuestConfig() string {
	return fmt.Sprintf(`# wirebox guest defaults, written by wirebox image.
name: wirebox
api:
  socket: /run/wirebox/wirebox.sock
  socket_mode: "0660"
  listen: "0.0.0.0:%d"
  tls_cert: %s
  tls_key: %s
  token_file: %s
log:
  level: info
  format: text
# Every NIC but the management one is a passive port, also NICs added later.
auto_ports: true
# The management NIC: the first NIC that gets a DHCP lease (or has an
# address from ip= on the kernel command line). For a static address:
#   interface: eth0
#   address: 192.0.2.10/24
#   gateway: 192.0.2.1
management:
  dhcp: true
`, boot.GuestAPIPort, boot.GuestTLSCert, boot.GuestTLSKey, boot.GuestToken)
}

func stageConfig(o Options, s Secrets, stage string) error {
	conf := []byte(DefaultGuestConfig())
	if o.ConfigFile != "" {
		var err error
		if conf, err = os.ReadFile(o.ConfigFile); err != nil {
			return fmt.Errorf("guest config: %w", err)
		}
	}
	if err := writeFile(filepath.Join(stage, boot.GuestConfig), conf, 0o644); err != nil {
		return err
	}
	if err := copyFile(s.ServerCertFile, filepath.Join(stage, boot.GuestTLSCert), 0o644); err != nil {
		return err
	}
	if err := copyFile(s.ServerKeyFile, filepath.Join(stage, boot.GuestTLSKey), 0o600); err != nil {
		return err
	}
	return copyFile(s.TokenFile, filepath.Join(stage, boot.GuestToken), 0o600)
}

// GuestBuildTag builds the appliance flavour of the wirebox binary: the
// host-only commands (image, qemu) and their heavy dependencies are left out.
const GuestBuildTag = "wirebox_guest"

// buildWirebox builds the static guest binary: no cgo, baseline amd64 so it
// runs on any x86-64 CPU (and QEMU's default TCG CPU), stripped.
func buildWirebox(ctx context.Context, src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", GuestBuildTag, "-trimpath", "-ldflags=-s -w", "-o", dst, "./cmd/wirebox")
	cmd.Dir = src
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64", "GOAMD64=v1")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/wirebox: %w\n%s", err, out)
	}
	return nil
}

// buildInitramfs runs u-root's builder: the u-root commands as one busybox
// (resolved through our go.mod, where `go get -tool` pins them), the staged
// files, /bin/uinit running `wirebox boot`, and the fallback shell.
func buildInitramfs(src, stage, cpio, tmp string, log *slog.Logger) error {
	if out, err := exec.Command("go", "env", "GOAMD64").Output(); err == nil && strings.TrimSpace(string(out)) != "v1" {
		return fmt.Errorf("go env GOAMD64 is %s; the image needs v1 (unset GOAMD64)", strings.TrimSpace(string(out)))
	}
	var pkgs []string
	for _, c := range UrootCommands {
		pkgs = append(pkgs, "github.com/u-root/u-root/cmds/core/"+c)
	}
	var files []string
	err := filepath.WalkDir(stage, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(stage, p)
		if err != nil {
			return err
		}
		files = append(files, p+":"+filepath.ToSlash(rel))
		return nil
	})
	if err != nil {
		return err
	}
	bbtmp := filepath.Join(tmp, "bb")
	if err := os.MkdirAll(bbtmp, 0o755); err != nil {
		return err
	}
	var ulog bytes.Buffer
	l := llog.New(slog.LevelWarn, llog.WritePrintf(&ulog))
	// A -trimpath binary (make build) knows no GOROOT, and u-root's
	// builder would then look for "bin/go": ask the go command.
	goroot, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return fmt.Errorf("go env GOROOT: %w", err)
	}
	env := golang.Default(golang.DisableCGO(), golang.WithGOOS("linux"), golang.WithGOARCH("amd64"),
		golang.WithGOROOT(strings.TrimSpace(string(goroot))), golang.WithWorkingDir(src))
	err = uimage.Create(l,
		uimage.WithReplaceEnv(env),
		uimage.WithBaseArchive(uimage.DefaultRamfs()),
		uimage.WithBusyboxCommands(pkgs...),
		uimage.WithFiles(files...),
		uimage.WithInit("init"),
		uimage.WithUinit(boot.GuestBinary, "boot"),
		uimage.WithShell(DefaultShell),
		uimage.WithSkipLDD(),
		uimage.WithTempDir(bbtmp),
		uimage.WithCPIOOutput(cpio),
	)
	if ulog.Len() > 0 {
		log.Debug("u-root builder", "output", ulog.String())
	}
	if err != nil {
		return fmt.Errorf("u-root initramfs: %w\n%s", err, ulog.String())
	}
	return nil
}

// compressZstd compresses with zstd, which the kernel unpacks quickly
// (CONFIG_RD_ZSTD) and which beats gzip on size. The zstd program at level
// 19 with a 32 MiB window (the whole cpio, so the Go runtime shared by the
// busybox and wirebox binaries is stored once) is about 13% smaller than
// the Go encoder's best; without the program we fall back to the encoder.
func compressZstd(src, dst string) error {
	if _, err := exec.LookPath("zstd"); err == nil {
		out, err := exec.Command("zstd", "-19", "--long=25", "-T0", "-q", "-f", "-o", dst, src).CombinedOutput()
		if err != nil {
			return fmt.Errorf("zstd: %w: %s", err, out)
		}
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	f, err := os.Create(dst + ".tmp")
	if err != nil {
		return err
	}
	defer f.Close()
	zw, err := zstd.NewWriter(f, zstd.WithEncoderLevel(zstd.SpeedBestCompression), zstd.WithEncoderConcurrency(runtime.GOMAXPROCS(0)))
	if err != nil {
		return err
	}
	if _, err := io.Copy(zw, in); err != nil {
		zw.Close()
		return fmt.Errorf("compress initramfs: %w", err)
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(dst+".tmp", dst)
}

// buildISO writes a hybrid ISO (BIOS via grub-pc, UEFI via an EFI system
// partition image) with grub-mkrescue. The serial console is set up in
// grub.cfg so the boot menu and the console both show on ttyS0 and screen.
func buildISO(ctx context.Context, a *Artifacts, cmdline, tmp string) error {
	root := filepath.Join(tmp, "iso")
	if err := copyFile(a.Kernel, filepath.Join(root, "boot", "vmlinuz"), 0o644); err != nil {
		return err
	}
	if err := copyFile(a.Initramfs, filepath.Join(root, "boot", "initramfs.cpio.zst"), 0o644); err != nil {
		return err
	}
	cfg := fmt.Sprintf(`serial --unit=0 --speed=115200
terminal_input serial console
terminal_output serial console
set timeout=0
set default=0
menuentry "wirebox" {
	linux /boot/vmlinuz %s
	initrd /boot/initramfs.cpio.zst
}
`, cmdline)
	if err := writeFile(filepath.Join(root, "boot", "grub", "grub.cfg"), []byte(cfg), 0o644); err != nil {
		return err
	}
	if _, err := run(ctx, tmp, "grub-mkrescue", "-o", a.ISO+".tmp", root, "--", "-volid", "WIREBOX"); err != nil {
		return fmt.Errorf("ISO: %w", err)
	}
	return os.Rename(a.ISO+".tmp", a.ISO)
}

func copyFile(src, dst string, mode os.FileMode) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return writeFile(dst, b, mode)
}

func writeFile(dst string, b []byte, mode os.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(dst+".tmp", b, mode); err != nil {
		return err
	}
	if err := os.Chmod(dst+".tmp", mode); err != nil {
		return errors.Join(err, os.Remove(dst+".tmp"))
	}
	return os.Rename(dst+".tmp", dst)
}
