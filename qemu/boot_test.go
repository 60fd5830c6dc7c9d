package qemu

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/image"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/testutil"
)

// The boot tests build the real image once (TestMain) and boot it under
// QEMU TCG. They need qemu-system-x86, ovmf, grub-pc-bin,
// grub-efi-amd64-bin, xorriso, mtools, e2fsprogs and the Debian kernel
// package (apt-get download). Without them they skip, except under CI
// (env CI set), where they fail.

var (
	built    *image.Artifacts
	buildErr error
	bootTO   = flag.Duration("boot-timeout", 4*time.Minute, "how long one guest may take to answer")
	imageDir = flag.String("image", "", "boot the image already built in this directory (wirebox image --out DIR) instead of building one")
)

func TestMain(m *testing.M) {
	flag.Parse()
	code := func() int {
		if testing.Short() && os.Getenv("CI") == "" { // under CI the boots run anyway
			buildErr = errors.New("-short: boot tests skipped")
			return m.Run()
		}
		if *imageDir != "" {
			built = prebuilt(*imageDir)
			return m.Run()
		}
		dir, err := os.MkdirTemp("", "wirebox-boottest-")
		if err != nil {
			buildErr = err
			return m.Run()
		}
		defer os.RemoveAll(dir)
		if err := image.NeedTools(image.ToolQEMU, image.ToolOVMF); err != nil {
			buildErr = err
			return m.Run()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		start := time.Now()
		built, buildErr = image.Build(ctx, image.Options{
			// The ISO's entry has no address: the management NIC gets one
			// by DHCP, as on bare metal.
			SrcDir: "..", OutDir: dir, ISO: true,
			Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		})
		if buildErr == nil {
			fmt.Printf("image built in %.1f s:\n%s", time.Since(start).Seconds(), built.Sizes())
		}
		return m.Run()
	}()
	os.Exit(code)
}

// prebuilt are the artifacts of `wirebox image --out dir`, for quicker
// runs while working on the tests (the image is as old as that build).
func prebuilt(dir string) *image.Artifacts {
	a := &image.Artifacts{Kernel: filepath.Join(dir, "vmlinuz"), Initramfs: filepath.Join(dir, "initramfs.cpio.zst"), Secrets: image.SecretsIn(dir)}
	if _, err := os.Stat(filepath.Join(dir, "wirebox.iso")); err == nil {
		a.ISO = filepath.Join(dir, "wirebox.iso")
	}
	if _, err := os.Stat(filepath.Join(dir, "vmlinux")); err == nil {
		a.KernelELF = filepath.Join(dir, "vmlinux")
	}
	return a
}

// needImage skips (or, under CI, fails) when the image could not be built.
func needImage(t *testing.T) *image.Artifacts {
	t.Helper()
	if buildErr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("boot test cannot run under CI: %v", buildErr)
		}
		t.Skipf("boot test: %v", buildErr)
	}
	return built
}

func baseOptions(a *image.Artifacts, name string) Options {
	k := a.KernelELF // started at its PVH entry, as `wirebox qemu` does
	if k == "" {
		k = a.Kernel
	}
	return Options{Name: name, Kernel: k, Initrd: a.Initramfs}
}

// bootGuest starts a guest, waits until its API reports every service running
// and returns the VM, its client and console. The VM is stopped at cleanup.
func bootGuest(t *testing.T, o Options) (*VM, *api.Client, *Console, *api.Status) {
	t.Helper()
	vm, c, con, st := bootNoFatal(t, o)
	if st == nil {
		t.FailNow()
	}
	return vm, c, con, st
}

func TestBootAPI(t *testing.T) {
	a := needImage(t)
	if st, err := os.Stat(a.Initramfs); err == nil {
		t.Logf("initramfs %s: %.2f MB zstd", filepath.Base(a.Initramfs), float64(st.Size())/1e6)
	}
	vm, c, con, st := bootGuest(t, baseOptions(a, "wirebox"))
	// The boot set shmem huge pages to "advise", so the pool's advice holds.
	var ports api.Ports
	if err := c.Get(context.Background(), api.PathPorts, &ports); err != nil {
		t.Errorf("GET %s: %v", api.PathPorts, err)
	} else if !strings.Contains(ports.Pool.Pages, "transparent huge pages advised (shmem_enabled advise)") {
		t.Errorf("pool pages %q, want transparent huge pages advised", ports.Pool.Pages)
	}
	if st.Name != "wirebox" {
		t.Errorf("status name = %q, want wirebox (the image's default config)", st.Name)
	}
	var names []string
	for _, s := range st.Services {
		names = append(names, s.Name+"="+s.State)
	}
	t.Logf("services: %s", strings.Join(names, " "))
	if !strings.Contains(strings.Join(names, " "), "api=running") {
		t.Errorf("no running api service in %v", names)
	}
	if !strings.Contains(con.String(), "from image defaults") {
		t.Errorf("boot did not report the image's default config on the console")
	}

	// The remote API must refuse requests without the right token.
	pem, err := os.ReadFile(a.Secrets.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	defer hc.CloseIdleConnections()
	for _, tok := range []string{"", "not-the-token"} {
		req, _ := http.NewRequest(http.MethodGet, vm.APIURL()+api.PathStatus, nil)
		if tok != "" {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("token %q: %v", tok, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET /v1/status with token %q: %s, want 401", tok, resp.Status)
		}
	}
}

// TestPair boots an HA pair and proves the peer link carries frames both
// ways: both APIs answer, then guest A pings guest B's peer-link address
// (169.254.77.2 on B's eth1) from its shell, and the echo replies come back.
func TestPair(t *testing.T) {
	a := needImage(t)
	base := baseOptions(a, "wirebox")
	base.Cmdline = "wirebox.console=off" // the shell, not the TUI, on the serial line
	oa, ob, err := PairOptions(base)
	if err != nil {
		t.Fatal(err)
	}
	// Boot both at once, as `wirebox qemu --pair` does.
	done := make(chan struct{})
	var conB *Console
	go func() {
		defer close(done)
		_, _, conB, _ = bootNoFatal(t, ob)
	}()
	vmA, _, conA, _ := bootGuest(t, oa)
	<-done
	if conB == nil {
		t.Fatal("guest B did not come up")
	}
	tctx, tcancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer tcancel()
	ctx, cancel := vmA.Context(tctx)
	defer cancel()
	peerB := strings.Split(PeerAddrB, "/")[0]
	// The shell comes up once wirebox boot returns; type until it answers.
	off, err := conA.Expect(ctx, 0, "wirebox: daemon started")
	if err == nil {
		off, err = conA.Expect(ctx, off, "toggle key help") // gosh's prompt line
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := conA.Type("ping -c 3 " + peerB + "\r"); err != nil {
		t.Fatal(err)
	}
	if _, err := conA.Expect(ctx, off, "bytes from "+peerB); err != nil {
		t.Fatalf("no echo reply over the peer link: %v", err)
	}
	t.Logf("guest A got an echo reply from guest B over the dgram peer link")
}

// bootNoFatal is bootGuest for a second goroutine (t.Fatal must not be called
// off the test goroutine): failures are reported with t.Error and a nil status.
func bootNoFatal(t *testing.T, o Options) (*VM, *api.Client, *Console, *api.Status) {
	t.Helper()
	con, err := NewConsole(nil)
	if err != nil {
		t.Error(err)
		return nil, nil, nil, nil
	}
	o.Stdout, o.Stdin = con, con.Input()
	// The guest lives until the test's cleanup; only the wait for its API
	// is bounded by -boot-timeout. (Start's context once was the boot's:
	// QEMU got SIGTERM -boot-timeout after its start, mid-test, whenever a
	// loaded machine made a test's later steps slower than that.)
	vm, err := Start(context.Background(), o)
	if err != nil {
		t.Error(err)
		return nil, nil, nil, nil
	}
	t.Cleanup(func() {
		select {
		case <-vm.Done():
			if t.Failed() {
				t.Logf("%s: %s", o.Name, vm.ExitReport())
			}
		default:
		}
		vm.Stop()
		con.Close()
		if t.Failed() {
			t.Logf("%s console:\n%s", o.Name, tail(con.String(), 3000))
		}
	})
	c, err := vm.NewClient(built.Secrets)
	if err != nil {
		t.Error(err)
		return nil, nil, nil, nil
	}
	t.Cleanup(c.Close)
	ctx, cancel := context.WithTimeout(context.Background(), *bootTO)
	defer cancel()
	st, took, err := vm.WaitReady(ctx, c)
	if err != nil {
		t.Error(err)
		return nil, nil, nil, nil
	}
	t.Logf("%s boot-to-api: %.2f s (QEMU start to every service running)", o.Name, took.Seconds())
	return vm, c, con, st
}

// TestISO boots the hybrid ISO once with BIOS (SeaBIOS) and once with UEFI
// (OVMF) and checks the API answers.
func TestISO(t *testing.T) {
	a := needImage(t)
	for _, uefi := range []bool{false, true} {
		name := map[bool]string{false: "bios", true: "uefi"}[uefi]
		t.Run(name, func(t *testing.T) {
			o := Options{Name: "wirebox-iso-" + name, ISO: a.ISO, UEFI: uefi}
			bootGuest(t, o)
		})
	}
}

// TestDataPartition attaches a disk with an ext4 file system labelled
// wirebox-data: its wirebox/config.yaml replaces the image defaults, and
// wirebox.config= on the kernel command line wins over both.
func TestDataPartition(t *testing.T) {
	a := needImage(t)
	if _, err := exec.LookPath("mkfs.ext4"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("mkfs.ext4 missing: apt-get install -y e2fsprogs")
		}
		t.Skip("mkfs.ext4 missing: apt-get install -y e2fsprogs")
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	conf := func(name string) string {
		return strings.Replace(image.DefaultGuestConfig(), "name: wirebox\n", "name: "+name+"\n", 1)
	}
	if err := os.MkdirAll(filepath.Join(root, "wirebox"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "wirebox", "config.yaml"), []byte(conf("from-disk")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "cmdline.yaml"), []byte(conf("from-cmdline")), 0o644); err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(dir, "data.img")
	if out, err := exec.Command("mkfs.ext4", "-q", "-F", "-L", "wirebox-data", "-d", root, disk, "16M").CombinedOutput(); err != nil {
		t.Fatalf("mkfs.ext4: %v\n%s", err, out)
	}
	for _, tc := range []struct{ name, cmdline, want string }{
		{"partition", "", "from-disk"},
		{"cmdline", "wirebox.config=/data/cmdline.yaml", "from-cmdline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := baseOptions(a, "wirebox-data-"+tc.name)
			o.Disk, o.Cmdline = disk, tc.cmdline
			_, _, _, st := bootGuest(t, o)
			if st.Name != tc.want {
				t.Errorf("status name = %q, want %q", st.Name, tc.want)
			}
		})
	}
}

// TestTapNIC attaches a host TAP device as the guest's eth1, moves the TAP
// into a network namespace made for the test, and pings the guest's
// wirebox.ip= address from the namespace: frames cross the TAP both ways.
// (The guest's shell used to ping out instead; its serial line stalls now
// and then under load, a problem of its own: docs/IMAGE.md.)
func TestTapNIC(t *testing.T) {
	a := needImage(t)
	ns := netns.New(t) // also: root and namespaces, or skip (fail under CI)
	ip := func(args ...string) { t.Helper(); testutil.Run(t, exec.Command("ip", args...)) }
	tap := fmt.Sprintf("wbt%d", os.Getpid()%100000)
	ip("tuntap", "add", "dev", tap, "mode", "tap")
	// Deleted here while it is still ours; once moved, the namespace's
	// removal destroys it.
	t.Cleanup(func() { exec.Command("ip", "link", "del", tap).Run() })

	o := baseOptions(a, "wirebox-tap")
	o.Taps = []string{tap}
	// The NIC by its MAC: the guest names NICs in probe order.
	o.Cmdline = "wirebox.ip=" + strings.ReplaceAll(TapMAC(0), ":", "-") + ":169.254.88.2/24 wirebox.console=off"
	vm, _, con, _ := bootGuest(t, o)
	// QEMU holds the TAP open now; the device can move to the test's namespace.
	ip("link", "set", tap, "netns", ns.Name)
	ip("-n", ns.Name, "addr", "add", "169.254.88.1/24", "dev", tap)
	ip("-n", ns.Name, "link", "set", tap, "up")

	tctx, tcancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer tcancel()
	ctx, cancel := vm.Context(tctx)
	defer cancel()
	// Up to three tries: the guest may still be settling its link.
	var perr error
	var out []byte
	for try := 0; try < 3; try++ {
		if out, perr = ns.Command("ping", "-c", "3", "-W", "5", "169.254.88.2").CombinedOutput(); perr == nil {
			if !strings.Contains(string(out), "bytes from 169.254.88.2") {
				perr = errors.New("ping succeeded without an echo reply from 169.254.88.2")
			}
			break
		}
		t.Logf("try %d: %v\n%s", try+1, perr, out)
	}
	if perr != nil {
		// What the guest and the namespace think of the link, for the
		// next one to read.
		off := len(con.String())
		_ = con.Type("ip addr\r")
		_ = con.Type("ip route\r")
		_ = con.Type("ip neigh\r")
		dctx, dcancel := context.WithTimeout(ctx, 10*time.Second)
		_, _ = con.Expect(dctx, off, "169.254.88.1 dev")
		dcancel()
		host, _ := exec.Command("sh", "-c", "ip -n "+ns.Name+" -s link; ip -n "+ns.Name+" addr; ip -n "+ns.Name+" neigh").CombinedOutput()
		t.Fatalf("no echo reply from the guest over the TAP: %v\n%s\nguest console:\n%s\nnamespace:\n%s", perr, out, con.String(), host)
	}
}
