package qemu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/wirebox/wirebox/image"
	"github.com/wirebox/wirebox/image/boot"
	"github.com/wirebox/wirebox/internal/api"
)

// Guest addressing on QEMU's user-mode network.
const (
	GuestAddr    = "10.0.2.15"
	GuestGateway = "10.0.2.2"
)

// NetCmdline is the kernel command line part that gives the management
// port (eth0) its user-mode network address statically. The image does
// not need it (its daemon asks QEMU's DHCP server), but it still works.
const NetCmdline = "ip=" + GuestAddr + "::" + GuestGateway + ":255.255.255.0:wirebox:eth0:off"

// Peer is a dgram link to another guest: frames go between two UDP ports
// on 127.0.0.1. Unlike -netdev socket, either side may start first.
type Peer struct {
	LocalPort, RemotePort int
	// Addr is the guest's address on the link, e.g. 169.254.77.1/24, set
	// with wirebox.ip=; empty leaves the port unconfigured.
	Addr string
}

// mac is the guest NIC's MAC on the link: both guests' QEMUs would give it
// the same default, so it comes from the (distinct) local port.
func (p *Peer) mac() string {
	return fmt.Sprintf("52:54:00:77:%02x:%02x", p.LocalPort>>8&0xff, p.LocalPort&0xff)
}

// Options describe one guest.
type Options struct {
	Name   string // for messages and the QEMU process title
	Kernel string // direct kernel boot: kernel + initramfs
	Initrd string
	ISO    string // boot this ISO instead (BIOS, or UEFI when UEFI is set)
	UEFI   bool
	// Cmdline is appended to the default (serial console, quiet, the
	// management address) for direct kernel boots.
	Cmdline  string
	MemoryMB int // 512 by default
	CPUs     int // 1 by default
	// Host ports on 127.0.0.1 forwarded to the guest's API, SNMP (udp)
	// and mirror ports; 0 picks a free port.
	APIPort, SNMPPort, MirrorPort int
	Taps                          []string // host TAP devices for extra NICs (eth1..., after the peer link)
	// TapMACs are the MACs of the Taps' NICs; TapMAC(i) where missing.
	// Two guests of one process on one host bridge need their own.
	TapMACs []string
	// HubNICs adds NICs joined to each other by a QEMU hub (after the
	// TAPs): a lab network inside QEMU that needs no host device, so a
	// plain `wirebox qemu` has ports to show (what one sends, the others
	// receive).
	HubNICs int
	Peer    *Peer  // the peer link is eth1 when present
	Disk    string // raw disk image attached as virtio-blk (the data partition)
	// Serial console. Interactive puts the console and QEMU's monitor on
	// the terminal (Ctrl-A X quits); otherwise Stdin/Stdout are used.
	Interactive bool
	Stdin       io.Reader
	Stdout      io.Writer
	// QEMU is the binary; qemu-system-x86_64 by default.
	QEMU string
}

// VM is a running QEMU process started by Start. Only it is ever stopped.
type VM struct {
	Opts    Options
	Started time.Time
	Args    []string

	cmd    *exec.Cmd
	done   chan struct{}
	err    error
	tmp    string
	stderr *bytes.Buffer // QEMU's own messages (not the guest console)
	// stopped says why the host stopped QEMU (set before the signal), so
	// an exit with status 0 after SIGTERM is not mistaken for the guest
	// powering off.
	stopped atomic.Pointer[string]
}

// FreePort returns a port on 127.0.0.1 that was free a moment ago for the
// network ("tcp" or "udp"). Another process may take it before QEMU binds
// it; QEMU then fails to start and says so.
func FreePort(network string) (int, error) {
	switch network {
	case "udp":
		c, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer c.Close()
		return c.LocalAddr().(*net.UDPAddr).Port, nil
	default:
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port, nil
	}
}

func (o *Options) defaults() error {
	if o.QEMU == "" {
		o.QEMU = "qemu-system-x86_64"
	}
	if o.Name == "" {
		o.Name = "wirebox"
	}
	if o.MemoryMB == 0 {
		o.MemoryMB = 512
	}
	if o.CPUs == 0 {
		o.CPUs = 1
	}
	if o.ISO == "" && (o.Kernel == "" || o.Initrd == "") {
		return errors.New("qemu: need a kernel and initramfs, or an ISO")
	}
	tools := []image.Tool{image.ToolQEMU}
	if o.UEFI {
		tools = append(tools, image.ToolOVMF)
	}
	if err := image.NeedTools(tools...); err != nil {
		return err
	}
	var err error
	for _, p := range []struct {
		port *int
		net  string
	}{{&o.APIPort, "tcp"}, {&o.SNMPPort, "udp"}, {&o.MirrorPort, "tcp"}} {
		if *p.port == 0 {
			if *p.port, err = FreePort(p.net); err != nil {
				return err
			}
		}
	}
	return nil
}

// args builds the QEMU command line. tmp holds per-VM files (UEFI vars).
func (o *Options) args(tmp string) ([]string, error) {
	a := []string{
		"-name", o.Name,
		"-nodefaults", "-no-user-config", "-no-reboot",
		"-accel", "tcg", // /dev/kvm is not usable on the machines we run on
		"-m", strconv.Itoa(o.MemoryMB), "-smp", strconv.Itoa(o.CPUs),
		"-display", "none", "-vga", "none",
	}
	if o.Interactive {
		a = append(a, "-chardev", "stdio,id=con,mux=on,signal=off", "-serial", "chardev:con", "-mon", "chardev=con,mode=readline")
	} else {
		a = append(a, "-chardev", "stdio,id=con,signal=off", "-serial", "chardev:con")
	}
	if o.ISO != "" {
		a = append(a, "-drive", "file="+o.ISO+",media=cdrom,readonly=on,if=ide", "-boot", "d")
		if o.UEFI {
			vars := filepath.Join(tmp, "OVMF_VARS.fd")
			b, err := os.ReadFile("/usr/share/OVMF/OVMF_VARS_4M.fd")
			if err != nil {
				return nil, fmt.Errorf("UEFI variables (apt-get install -y ovmf): %w", err)
			}
			if err := os.WriteFile(vars, b, 0o600); err != nil {
				return nil, err
			}
			a = append(a, "-machine", "q35",
				"-drive", "if=pflash,format=raw,unit=0,readonly=on,file="+image.ToolOVMF.Name,
				"-drive", "if=pflash,format=raw,unit=1,file="+vars)
		}
	} else {
		// No ip=: the management NIC gets its address by DHCP, as from the ISO.
		cl := strings.TrimSpace(image.DefaultCmdline + " " + o.Cmdline)
		a = append(a, "-kernel", o.Kernel, "-initrd", o.Initrd, "-append", cl)
	}
	fwd := fmt.Sprintf("hostfwd=tcp:127.0.0.1:%d-:%d,hostfwd=udp:127.0.0.1:%d-:%d,hostfwd=tcp:127.0.0.1:%d-:%d",
		o.APIPort, boot.GuestAPIPort, o.SNMPPort, boot.GuestSNMPPort, o.MirrorPort, boot.GuestMirrorPort)
	// restrict=on: the guest reaches nothing but the forwarded ports. romfile=
	// (no iPXE option ROM): we never netboot, and it saves firmware time.
	a = append(a, "-netdev", "user,id=mgmt,restrict=on,net=10.0.2.0/24,"+fwd,
		"-device", "virtio-net-pci,netdev=mgmt,mac=52:54:00:00:00:01,romfile=")
	if p := o.Peer; p != nil {
		a = append(a, "-netdev", fmt.Sprintf("dgram,id=peer,local.type=inet,local.host=127.0.0.1,local.port=%d,remote.type=inet,remote.host=127.0.0.1,remote.port=%d", p.LocalPort, p.RemotePort),
			"-device", "virtio-net-pci,netdev=peer,romfile=,mac="+p.mac())
	}
	for i, t := range o.Taps {
		mac := TapMAC(i)
		if i < len(o.TapMACs) && o.TapMACs[i] != "" {
			mac = o.TapMACs[i]
		}
		a = append(a, "-netdev", fmt.Sprintf("tap,id=tap%d,ifname=%s,script=no,downscript=no", i, t),
			"-device", fmt.Sprintf("virtio-net-pci,netdev=tap%d,romfile=,mac=%s", i, mac))
	}
	for i := range o.HubNICs {
		a = append(a, "-netdev", fmt.Sprintf("hubport,id=hub%d,hubid=1", i),
			"-device", fmt.Sprintf("virtio-net-pci,netdev=hub%d,romfile=,mac=52:54:00:20:%02x:%02x", i, os.Getpid()&0xff, i))
	}
	if o.Disk != "" {
		a = append(a, "-drive", "file="+o.Disk+",format=raw,if=virtio")
	}
	// Entropy from the host: under TCG the guest CPU has no RDRAND, and the
	// kernel's random pool would take seconds to be ready, blocking every
	// getrandom() (DHCP, TLS) until then.
	a = append(a, "-object", "rng-random,id=rng0,filename=/dev/urandom", "-device", "virtio-rng-pci,rng=rng0")
	return a, nil
}

// TapMAC is the guest MAC of the NIC on Options.Taps[i] (distinct per
// process, so parallel guests on one host bridge do not clash).
func TapMAC(i int) string {
	return fmt.Sprintf("52:54:00:10:%02x:%02x", os.Getpid()>>8&0xff, (os.Getpid()+i)&0xff)
}

// Start starts QEMU. The VM stops when ctx is done or Stop is called.
func Start(ctx context.Context, o Options) (*VM, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	if o.Peer != nil && o.Peer.Addr != "" && o.ISO == "" {
		// By MAC, not eth1: the guest names NICs in probe order.
		o.Cmdline = strings.TrimSpace(o.Cmdline + " wirebox.ip=" + strings.ReplaceAll(o.Peer.mac(), ":", "-") + ":" + o.Peer.Addr)
	}
	tmp, err := os.MkdirTemp("", "wirebox-qemu-")
	if err != nil {
		return nil, err
	}
	args, err := o.args(tmp)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	vm := &VM{Opts: o, Args: args, done: make(chan struct{}), tmp: tmp}
	vm.cmd = exec.Command(o.QEMU, args...)
	if o.Interactive {
		vm.cmd.Stdin, vm.cmd.Stdout, vm.cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	} else {
		vm.cmd.Stdin, vm.cmd.Stdout = o.Stdin, o.Stdout
		if vm.cmd.Stdin == nil {
			// QEMU's stdio chardev wants a stdin that stays open: an idle
			// pipe (an *os.File, so exec starts no copying goroutine).
			r, w, err := os.Pipe()
			if err != nil {
				os.RemoveAll(tmp)
				return nil, err
			}
			vm.cmd.Stdin = r
			defer r.Close() // the child has its copy
			go func() { <-vm.done; w.Close() }()
		}
		// With a non-file Stdin, Wait would otherwise wait for the copy
		// from a reader that may never end.
		vm.cmd.WaitDelay = 2 * time.Second
		vm.stderr = &bytes.Buffer{}
		vm.cmd.Stderr = vm.stderr
	}
	vm.Started = time.Now()
	if err := startDyingWithParent(vm.cmd, vm.done); err != nil {
		os.RemoveAll(tmp)
		return nil, fmt.Errorf("start %s: %w", o.QEMU, err)
	}
	go func() {
		err := vm.cmd.Wait()
		if err != nil {
			vm.err = fmt.Errorf("qemu %s: %w", o.Name, err)
			if vm.stderr != nil && vm.stderr.Len() > 0 {
				vm.err = fmt.Errorf("%w: %s", vm.err, strings.TrimSpace(vm.stderr.String()))
			}
		}
		os.RemoveAll(tmp)
		close(vm.done)
	}()
	go func() {
		select {
		case <-ctx.Done():
			vm.stop("the context given to Start ended: " + context.Cause(ctx).Error())
		case <-vm.done:
		}
	}()
	return vm, nil
}

// Done is closed when QEMU has exited.
func (vm *VM) Done() <-chan struct{} { return vm.done }

// Context is parent, also cancelled when QEMU exits (its cause then says
// how: ExitReport), so a test waiting on the guest fails at once, not when
// its budget runs out.
func (vm *VM) Context(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(parent)
	go func() {
		select {
		case <-vm.done:
			cancel(errors.New(vm.ExitReport()))
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// Err is QEMU's exit error, valid after Done.
func (vm *VM) Err() error { <-vm.done; return vm.err }

// ExitReport says how QEMU ended, valid after Done: its exit error, whether
// the host stopped it and why, and QEMU's own messages (e.g. "terminating
// on signal 15"). QEMU exits with status 0 both when the guest powers off
// or reboots (-no-reboot) and when it is sent SIGTERM; this tells them apart.
func (vm *VM) ExitReport() string {
	<-vm.done
	var b strings.Builder
	if vm.err != nil {
		fmt.Fprintf(&b, "QEMU exited: %v", vm.err)
	} else {
		b.WriteString("QEMU exited with status 0")
	}
	var ee *exec.ExitError
	switch why := vm.stopped.Load(); {
	case why != nil:
		fmt.Fprintf(&b, "; the host stopped it: %s", *why)
	case errors.As(vm.err, &ee) && ee.ProcessState.Sys().(syscall.WaitStatus).Signaled():
		b.WriteString("; killed by a signal Stop did not send")
	default:
		b.WriteString("; not stopped by the host (the guest powered off, rebooted or reset)")
	}
	if vm.stderr != nil && vm.err == nil { // vm.err has them already
		if msg := strings.TrimSpace(vm.stderr.String()); msg != "" {
			fmt.Fprintf(&b, "; QEMU said: %s", msg)
		}
	}
	return b.String()
}

// Stop asks QEMU to terminate (SIGTERM: QEMU shuts the machine down and
// exits), then kills it if it has not exited within 5 s. It signals only
// the process Start started.
func (vm *VM) Stop() { vm.stop("Stop called") }

func (vm *VM) stop(why string) {
	select {
	case <-vm.done:
		return
	default:
	}
	vm.stopped.CompareAndSwap(nil, &why)
	_ = vm.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-vm.done:
	case <-time.After(5 * time.Second):
		_ = vm.cmd.Process.Kill()
		<-vm.done
	}
}

// Kill ends QEMU with SIGKILL at once, as a crash of the whole machine
// would (the guest gets no shutdown). It signals only the process Start
// started.
func (vm *VM) Kill() {
	select {
	case <-vm.done:
		return
	default:
	}
	_ = vm.cmd.Process.Kill()
	<-vm.done
}

// APIURL is the guest's control API through the forwarded port.
func (vm *VM) APIURL() string { return fmt.Sprintf("https://127.0.0.1:%d", vm.Opts.APIPort) }

// NewClient is a client of the guest API through the forwarded port,
// trusting only the image's CA (out/api-ca.pem) and sending its token.
func (vm *VM) NewClient(s image.Secrets) (*api.Client, error) {
	tok, err := s.Token()
	if err != nil {
		return nil, err
	}
	return api.NewRemoteClient(vm.APIURL(), tok, api.ClientTLS{CAFile: s.CAFile})
}

// NotRunning lists the services of st that are not running; a status
// without services counts as not ready.
func NotRunning(st *api.Status) []string {
	if len(st.Services) == 0 {
		return []string{"(no services reported)"}
	}
	var out []string
	for _, s := range st.Services {
		if s.State != api.StateRunning {
			out = append(out, s.Name+"="+s.State)
		}
	}
	return out
}

// WaitReady polls the guest API until every service is running, QEMU
// exits or ctx ends. It returns the last status and the time from QEMU's
// start to the first answer with every service running.
//
// A new request starts every 200 ms, each allowed 5 s, whatever the
// earlier ones do: a connection made through QEMU's user-mode network
// before the guest has its management address hangs until the client
// gives up (seen: all of them, for 10 s), so polling one request at a
// time (3 s each, as before) measured up to 3 s of that hang, not the
// moment the API first answered.
func (vm *VM) WaitReady(ctx context.Context, c *api.Client) (*api.Status, time.Duration, error) {
	type answer struct {
		st  *api.Status
		err error
		at  time.Duration
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // ends the requests still in flight
	answers := make(chan answer)
	ask := func() {
		go func() {
			actx, acancel := context.WithTimeout(ctx, 5*time.Second)
			defer acancel()
			st, err := c.Status(actx)
			select {
			case answers <- answer{st, err, time.Since(vm.Started)}:
			case <-ctx.Done():
			}
		}()
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	ask()
	var last error
	for {
		select {
		case a := <-answers:
			if a.err != nil {
				last = a.err
				continue
			}
			if nr := NotRunning(a.st); len(nr) > 0 {
				last = fmt.Errorf("services not running: %s", strings.Join(nr, ", "))
				continue
			}
			return a.st, a.at, nil
		case <-tick.C:
			ask()
		case <-vm.done:
			return nil, 0, fmt.Errorf("guest %s exited before its API was ready (last: %v): %v", vm.Opts.Name, last, vm.err)
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("guest %s API not ready: %w (last: %v)", vm.Opts.Name, ctx.Err(), last)
		}
	}
}

// Peer link addresses of an HA pair (link-local, so they never leave the
// link).
const (
	PeerAddrA = "169.254.77.1/24"
	PeerAddrB = "169.254.77.2/24"
)

// PairOptions derives the two guests of an HA pair from base: names
// wirebox-a and wirebox-b, each with its own forwarded ports (free ones;
// base's explicit ports go to A), joined by a dgram peer link on two free
// UDP ports of 127.0.0.1.
func PairOptions(base Options) (a, b Options, err error) {
	pa, err := FreePort("udp")
	if err != nil {
		return a, b, err
	}
	pb, err := FreePort("udp")
	if err != nil {
		return a, b, err
	}
	for pb == pa {
		if pb, err = FreePort("udp"); err != nil {
			return a, b, err
		}
	}
	a, b = base, base
	a.Name, b.Name = "wirebox-a", "wirebox-b"
	b.APIPort, b.SNMPPort, b.MirrorPort = 0, 0, 0
	b.Taps = nil // TAP devices belong to one guest
	a.Peer = &Peer{LocalPort: pa, RemotePort: pb, Addr: PeerAddrA}
	b.Peer = &Peer{LocalPort: pb, RemotePort: pa, Addr: PeerAddrB}
	return a, b, nil
}
