package benchkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/services"
	"github.com/wirebox/wirebox/tap"
)

// Sh runs a command; its error carries the command line and its output.
func Sh(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// ShAll runs each command in turn and stops at the first that fails.
func ShAll(cmds [][]string) error {
	for _, c := range cmds {
		if err := Sh(c...); err != nil {
			return err
		}
	}
	return nil
}

// Require fails when one of tools is not on PATH.
func Require(tools ...string) error {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not installed (scripts/deps.sh bench)", tool)
		}
	}
	return nil
}

// Namespaces adds one named network namespace per prefix, each named
// prefix+suffix with one random suffix for the run. The returned func
// deletes them; it is never nil, and on error the ones made are gone.
func Namespaces(prefixes ...string) ([]string, func(), error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	var names []string
	del := func() {
		for _, ns := range names {
			_ = Sh("ip", "netns", "del", ns)
		}
	}
	for _, p := range prefixes {
		ns := p + suffix
		if err := Sh("ip", "netns", "add", ns); err != nil {
			del()
			return nil, func() {}, err
		}
		names = append(names, ns)
	}
	return names, del, nil
}

// Veth links a in namespace na with b in namespace nb and sets both up.
func Veth(na, a, nb, b string) error {
	return ShAll([][]string{
		{"ip", "-n", na, "link", "add", a, "type", "veth", "peer", "name", b, "netns", nb},
		{"ip", "-n", na, "link", "set", a, "up"},
		{"ip", "-n", nb, "link", "set", b, "up"},
	})
}

// GenCap makes a generator and a capture namespace named from the
// prefixes, joined by a veth gen0 (in gen) to cap0 (in cp), both up, with
// IPv6 off in both so the kernel's own solicitations stay out of the
// counts. The returned func deletes them; it is never nil.
func GenCap(genPrefix, capPrefix string) (gen, cp string, del func(), err error) {
	nss, del, err := Namespaces(genPrefix, capPrefix)
	if err != nil {
		return "", "", del, err
	}
	gen, cp = nss[0], nss[1]
	if err := Veth(gen, "gen0", cp, "cap0"); err != nil {
		return gen, cp, del, err
	}
	return gen, cp, del, ShAll([][]string{
		{"ip", "netns", "exec", gen, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"},
		{"ip", "netns", "exec", cp, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"},
	})
}

// MAC is the hardware address of dev in namespace ns.
func MAC(ns, dev string) (net.HardwareAddr, error) {
	out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/sys/class/net/"+dev+"/address").Output()
	if err != nil {
		return nil, fmt.Errorf("address of %s in %s: %w", dev, ns, err)
	}
	return net.ParseMAC(strings.TrimSpace(string(out)))
}

// CPU is a process's user+system CPU time from /proc/PID/stat.
func CPU(pid int) (time.Duration, error) {
	u, s, err := CPUTimes(pid)
	return u + s, err
}

// CPUTimes is a process's user and system CPU time from /proc (10 ms
// resolution).
func CPUTimes(pid int) (user, sys time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const tick = time.Second / 100 // USER_HZ 100
	return time.Duration(ut) * tick, time.Duration(st) * tick, nil
}

// Link is a sender and a receiver namespace joined by a veth: the
// receiver's end is Dev ("wb0", address DstMAC), the sender's SendDev
// ("peer0"); loopback is up in both.
type Link struct {
	Recv, Send   string // namespace names
	Dev, SendDev string
	DstMAC       net.HardwareAddr
}

// NewLink makes a Link in two fresh namespaces named from the prefixes
// (the receiver's first). The returned func deletes them; it is never nil.
func NewLink(recvPrefix, sendPrefix string) (Link, func(), error) {
	l := Link{Dev: "wb0", SendDev: "peer0"}
	nss, del, err := Namespaces(recvPrefix, sendPrefix)
	if err != nil {
		return l, del, err
	}
	l.Recv, l.Send = nss[0], nss[1]
	if err := ShAll([][]string{
		{"ip", "-n", l.Recv, "link", "set", "lo", "up"}, {"ip", "-n", l.Send, "link", "set", "lo", "up"},
	}); err != nil {
		return l, del, err
	}
	if err := Veth(l.Recv, l.Dev, l.Send, l.SendDev); err != nil {
		return l, del, err
	}
	l.DstMAC, err = MAC(l.Recv, l.Dev)
	return l, del, err
}

// TrafgenFrame is a trafgen packet: dst's bytes, then rest (trafgen's
// syntax: the source MAC onwards), in braces.
func TrafgenFrame(dst net.HardwareAddr, rest string) string {
	var b strings.Builder
	b.WriteString("{ ")
	for _, x := range dst {
		fmt.Fprintf(&b, "0x%02x, ", x)
	}
	b.WriteString(rest)
	b.WriteString(" }")
	return b.String()
}

// Trafgen sends n copies of frame from the link's sender on one CPU,
// through the qdisc, and returns how long it took.
func (l Link) Trafgen(n int, frame string) (time.Duration, error) {
	start := time.Now()
	out, err := exec.Command("ip", "netns", "exec", l.Send, "trafgen", "-o", l.SendDev, "-n", strconv.Itoa(n), "-P", "1",
		"--no-sock-mem", "--notouch-irq", "--qdisc-path", "--no-cpu-stats", frame).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("trafgen: %w: %s", err, out)
	}
	return time.Since(start), nil
}

// NewCore makes a pool of frames and a capture core on it that logs
// nothing, as a bench's own wirebox side; closeAll closes the core, then
// the pool.
func NewCore(frames int) (core *capture.Core, closeAll func(), err error) {
	pool, err := tap.NewPool(tap.Config{Frames: frames})
	if err != nil {
		return nil, nil, err
	}
	core = capture.NewCore(pool, nil)
	return core, func() { core.Close(); pool.Close() }, nil
}

// CPUProfile writes this process's CPU profile to path until stop; with
// path "" it does nothing.
func CPUProfile(path string) (stop func(), err error) {
	if path == "" {
		return func() {}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// Supervise runs svcs under a supervisor, as the daemon does, beside a
// stand-in "core" service: the bench made its capture.Core itself, and
// services that depend on "core" wait for one by that name. stop ends the
// run and waits for it.
func Supervise(log *slog.Logger, svcs ...services.Service) (stop func(), err error) {
	core := services.ServiceFunc{ServiceName: "core", RunFunc: func(ctx context.Context, rt *services.Runtime) error {
		rt.Ready()
		<-ctx.Done()
		return nil
	}}
	sup, err := services.New(services.Options{Logger: log}, append([]services.Service{core}, svcs...)...)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	return func() { cancel(); <-done }, nil
}
