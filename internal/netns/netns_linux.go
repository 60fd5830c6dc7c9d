package netns

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// runDir is where iproute2 keeps named namespaces.
const runDir = "/run/netns"

// NS is a named network namespace owned by one test.
type NS struct {
	// Name is the namespace name, usable with `ip netns exec`.
	Name string
	// Path is the bind mount that keeps the namespace alive.
	Path string
}

// New creates a named network namespace with loopback up and IPv6 disabled,
// and removes it when the test ends.
func New(tb testing.TB) *NS {
	tb.Helper()
	Require(tb)
	ns, err := create(uniqueName())
	if err != nil {
		tb.Fatalf("netns: %v", err)
	}
	tb.Cleanup(func() {
		if err := ns.remove(); err != nil {
			tb.Errorf("netns: %v", err)
		}
	})
	return ns
}

func uniqueName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "wbt-" + hex.EncodeToString(b[:])
}

// create makes the namespace on a thread that dies afterwards.
func create(name string) (*NS, error) {
	if err := os.MkdirAll(runDir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", runDir, err)
	}
	ns := &NS{Name: name, Path: filepath.Join(runDir, name)}
	err := onLockedThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("unshare: %w", err)
		}
		f, err := os.OpenFile(ns.Path, os.O_CREATE|os.O_EXCL|os.O_RDONLY, 0o444)
		if err != nil {
			return fmt.Errorf("create %s: %w", ns.Path, err)
		}
		f.Close()
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(self, ns.Path, "none", unix.MS_BIND, ""); err != nil {
			os.Remove(ns.Path)
			return fmt.Errorf("bind mount %s: %w", ns.Path, err)
		}
		return setupNamespace()
	})
	if err != nil {
		// The mount may exist if setup failed after it.
		_ = ns.remove()
		return nil, fmt.Errorf("namespace %s: %w", name, err)
	}
	return ns, nil
}

// setupNamespace runs inside the new namespace: IPv6 off for every link to
// come, loopback up.
func setupNamespace() error {
	for _, k := range []string{"all", "default"} {
		if err := writeSysctl("net/ipv6/conf/"+k+"/disable_ipv6", "1"); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("find lo: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// writeSysctl writes a /proc/sys value; net/ keys act on the calling
// thread's namespace.
func writeSysctl(key, value string) error {
	p := filepath.Join("/proc/sys", key)
	if err := os.WriteFile(p, []byte(value), 0o644); err != nil {
		return fmt.Errorf("sysctl %s=%s: %w", key, value, err)
	}
	return nil
}

func (ns *NS) remove() error {
	err := unix.Unmount(ns.Path, unix.MNT_DETACH)
	if err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmount %s: %w", ns.Path, err)
	}
	if err := os.Remove(ns.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", ns.Path, err)
	}
	return nil
}

// onLockedThread runs fn on a new goroutine locked to its OS thread and
// never unlocks it: when the goroutine returns the runtime ends the thread,
// so whatever namespace fn entered goes with it.
func onLockedThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer func() {
			if r := recover(); r != nil {
				errc <- fmt.Errorf("panic: %v", r)
			}
		}()
		errc <- fn()
	}()
	return <-errc
}

// Do runs fn inside the namespace, on a locked thread that exits afterwards.
// fn must not start goroutines that need to stay in the namespace: sockets
// and netlink handles created in fn keep their namespace; threads do not.
func (ns *NS) Do(fn func() error) error {
	return onLockedThread(func() error {
		f, err := os.Open(ns.Path)
		if err != nil {
			return fmt.Errorf("open %s: %w", ns.Path, err)
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("setns %s: %w", ns.Name, err)
		}
		return fn()
	})
}

// Netlink returns a netlink handle bound to the namespace, closed at cleanup.
func (ns *NS) Netlink(tb testing.TB) *netlink.Handle {
	tb.Helper()
	var h *netlink.Handle
	err := ns.Do(func() (err error) {
		h, err = netlink.NewHandle()
		return err
	})
	if err != nil {
		tb.Fatalf("netns %s: netlink handle: %v", ns.Name, err)
	}
	tb.Cleanup(h.Close)
	return h
}

// Command returns a command that runs name with args inside the namespace
// through `ip netns exec`.
func (ns *NS) Command(name string, args ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Run runs name with args in the namespace to the end and returns its
// combined output; it fails the test, showing the output, if the command
// fails. For set-up steps (ip, ethtool, tc) and short peer tools.
func (ns *NS) Run(tb testing.TB, name string, args ...string) string {
	tb.Helper()
	out, err := ns.Command(name, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("netns %s: %s %s: %v\n%s", ns.Name, name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ListenUDP opens a UDP socket in the namespace bound to addr
// ("10.77.0.1:7777"), for tests that check what the namespace's host
// stack receives. It is closed when the test ends.
func (ns *NS) ListenUDP(tb testing.TB, addr string) *net.UDPConn {
	tb.Helper()
	ua, err := net.ResolveUDPAddr("udp4", addr)
	if err != nil {
		tb.Fatal(err)
	}
	var conn *net.UDPConn
	if err := ns.Do(func() (err error) {
		conn, err = net.ListenUDP("udp4", ua)
		return err
	}); err != nil {
		tb.Fatalf("netns %s: listen udp %s: %v", ns.Name, addr, err)
	}
	tb.Cleanup(func() { conn.Close() })
	return conn
}

// Link describes one end of a veth pair or a TAP device in a namespace.
type Link struct {
	NS    *NS
	Name  string
	Index int
	MAC   net.HardwareAddr
}

// VethOptions configures [Veth].
type VethOptions struct {
	// Addrs are CIDR addresses for the first and the second end ("" for none).
	AddrA, AddrB string
	// MTU for both ends (0: kernel default).
	MTU int
	// Queues sets the number of rx and tx queues of both ends (0: one).
	Queues int
}

// Veth creates a veth pair with end nameA in a and nameB in b (a and b may be
// the same namespace), assigns the addresses, and sets both ends up.
// Deleting the namespaces at cleanup removes the pair.
func Veth(tb testing.TB, a *NS, nameA string, b *NS, nameB string, opts VethOptions) (Link, Link) {
	tb.Helper()
	la, lb, err := veth(a, nameA, b, nameB, opts)
	if err != nil {
		tb.Fatalf("netns: veth %s/%s - %s/%s: %v", a.Name, nameA, b.Name, nameB, err)
	}
	return la, lb
}

func veth(a *NS, nameA string, b *NS, nameB string, opts VethOptions) (Link, Link, error) {
	bf, err := os.Open(b.Path)
	if err != nil {
		return Link{}, Link{}, err
	}
	defer bf.Close()
	attrs := netlink.NewLinkAttrs()
	attrs.Name = nameA
	attrs.MTU = opts.MTU
	if opts.Queues > 0 {
		attrs.NumTxQueues, attrs.NumRxQueues = opts.Queues, opts.Queues
	}
	v := &netlink.Veth{LinkAttrs: attrs, PeerName: nameB, PeerNamespace: netlink.NsFd(int(bf.Fd()))}
	if opts.Queues > 0 {
		v.PeerNumTxQueues, v.PeerNumRxQueues = uint32(opts.Queues), uint32(opts.Queues)
	}
	if opts.MTU > 0 {
		v.PeerMTU = uint32(opts.MTU)
	}
	var la, lb Link
	err = a.Do(func() error {
		if err := netlink.LinkAdd(v); err != nil {
			return fmt.Errorf("add: %w", err)
		}
		var err error
		la, err = setUp(a, nameA, opts.AddrA)
		return err
	})
	if err != nil {
		return la, lb, err
	}
	err = b.Do(func() error {
		var err error
		lb, err = setUp(b, nameB, opts.AddrB)
		return err
	})
	return la, lb, err
}

// setUp runs inside ns: disable IPv6 on the link, add the address, set it up.
func setUp(ns *NS, name, addr string) (Link, error) {
	l, err := netlink.LinkByName(name)
	if err != nil {
		return Link{}, fmt.Errorf("find %s: %w", name, err)
	}
	if err := writeSysctl("net/ipv6/conf/"+name+"/disable_ipv6", "1"); err != nil && !errors.Is(err, os.ErrNotExist) {
		return Link{}, err
	}
	if addr != "" {
		a, err := netlink.ParseAddr(addr)
		if err != nil {
			return Link{}, fmt.Errorf("address %q: %w", addr, err)
		}
		if err := netlink.AddrAdd(l, a); err != nil {
			return Link{}, fmt.Errorf("add address %s to %s: %w", addr, name, err)
		}
	}
	if err := netlink.LinkSetUp(l); err != nil {
		return Link{}, fmt.Errorf("set %s up: %w", name, err)
	}
	return Link{NS: ns, Name: name, Index: l.Attrs().Index, MAC: l.Attrs().HardwareAddr}, nil
}

// Tap creates a persistent TAP device named name in ns, with the address
// (CIDR, "" for none), set up. It goes away with the namespace.
func Tap(tb testing.TB, ns *NS, name, addr string) Link {
	tb.Helper()
	var l Link
	err := ns.Do(func() error {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = name
		t := &netlink.Tuntap{LinkAttrs: attrs, Mode: netlink.TUNTAP_MODE_TAP, Flags: netlink.TUNTAP_NO_PI | netlink.TUNTAP_ONE_QUEUE}
		if err := netlink.LinkAdd(t); err != nil {
			return fmt.Errorf("add tap: %w", err)
		}
		for _, f := range t.Fds {
			f.Close()
		}
		var err error
		l, err = setUp(ns, name, addr)
		return err
	})
	if err != nil {
		tb.Fatalf("netns %s: tap %s: %v", ns.Name, name, err)
	}
	return l
}
