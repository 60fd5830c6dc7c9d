package netns

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// recorder is a testing.TB that records Skip/Fatal instead of ending the goroutine.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(f string, a ...any) {
	r.skipped = true
	r.msg = f
}
func (r *recorder) Fatalf(f string, a ...any) {
	r.failed = true
	r.msg = f
}

func TestRequireDecision(t *testing.T) {
	for _, tc := range []struct {
		name       string
		reason     string
		ci         bool
		skip, fail bool
	}{
		{"capable", "", false, false, false},
		{"capable in CI", "", true, false, false},
		{"incapable", "not root", false, true, false},
		{"incapable in CI", "not root", true, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &recorder{TB: t}
			require(r, tc.reason, tc.ci)
			if r.skipped != tc.skip || r.failed != tc.fail {
				t.Errorf("require(%q, ci=%v): skipped=%v failed=%v, want skipped=%v failed=%v",
					tc.reason, tc.ci, r.skipped, r.failed, tc.skip, tc.fail)
			}
		})
	}
}

func currentNetNS(t *testing.T) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func TestNewAndCleanup(t *testing.T) {
	Require(t)
	before := currentNetNS(t)
	var path string
	t.Run("inner", func(t *testing.T) {
		ns := New(t)
		path = ns.Path
		if !strings.HasPrefix(ns.Name, "wbt-") || filepath.Base(ns.Path) != ns.Name {
			t.Fatalf("name %q path %q", ns.Name, ns.Path)
		}
		if _, err := os.Stat(ns.Path); err != nil {
			t.Fatal(err)
		}
		// Inside, a different namespace with only lo, up; IPv6 off.
		var inode uint64
		var links []netlink.Link
		var v6 []byte
		err := ns.Do(func() error {
			var st unix.Stat_t
			if err := unix.Stat("/proc/thread-self/ns/net", &st); err != nil {
				return err
			}
			inode = st.Ino
			var err error
			if links, err = netlink.LinkList(); err != nil {
				return err
			}
			v6, err = os.ReadFile("/proc/sys/net/ipv6/conf/default/disable_ipv6")
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		if inode == before {
			t.Fatal("Do ran in the test's own namespace")
		}
		if len(links) != 1 || links[0].Attrs().Name != "lo" || links[0].Attrs().Flags&net.FlagUp == 0 {
			t.Fatalf("links in new namespace: %v", links)
		}
		if string(bytes.TrimSpace(v6)) != "1" {
			t.Fatalf("default disable_ipv6 = %q", v6)
		}
		// External tools see the namespace by name.
		out, err := ns.Command("ip", "-o", "link", "show", "lo").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "lo:") {
			t.Fatalf("ip netns exec: %v: %s", err, out)
		}
	})
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("namespace %s still exists after cleanup: %v", path, err)
	}
	if after := currentNetNS(t); after != before {
		t.Fatal("test goroutine changed namespace")
	}
}

// TestCleanupAfterFailure runs a test that creates a namespace and then
// fails, in a child process, and checks the namespace is gone afterwards.
func TestCleanupAfterFailure(t *testing.T) {
	Require(t)
	if os.Getenv("WIREBOX_NETNS_CHILD") != "" {
		t.Skip("child mode")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFailingChild$", "-test.v")
	cmd.Env = append(os.Environ(), "WIREBOX_NETNS_CHILD=1")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("child test passed, want failure:\n%s", out)
	}
	m := regexp.MustCompile(`namespace path (\S+)`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("child did not report its namespace:\n%s", out)
	}
	if _, err := os.Stat(string(m[1])); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("namespace %s survived the failed test: %v", m[1], err)
	}
}

// TestFailingChild fails on purpose; it only runs as TestCleanupAfterFailure's child.
func TestFailingChild(t *testing.T) {
	if os.Getenv("WIREBOX_NETNS_CHILD") == "" {
		t.Skip("runs only as the child of TestCleanupAfterFailure")
	}
	ns := New(t)
	a := New(t)
	Veth(t, ns, "x0", a, "x1", VethOptions{})
	t.Logf("namespace path %s", ns.Path)
	t.Fatal("failing on purpose")
}

func TestVethTraffic(t *testing.T) {
	a, b := New(t), New(t)
	la, lb := Veth(t, a, "va", b, "vb", VethOptions{AddrA: "10.99.0.1/24", AddrB: "10.99.0.2/24", MTU: 1500})
	if la.Index == 0 || lb.Index == 0 || len(la.MAC) != 6 {
		t.Fatalf("links %+v %+v", la, lb)
	}
	// A UDP datagram from a to b proves addresses, link state and namespaces.
	conn := b.ListenUDP(t, "10.99.0.2:9999")
	if err := a.Do(func() error {
		c, err := net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(10, 99, 0, 2), Port: 9999})
		if err != nil {
			return err
		}
		defer c.Close()
		_, err = c.Write([]byte("hello"))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 64)
	n, _, err := conn.ReadFromUDP(buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	// IPv6 disabled on the link itself.
	out, err := b.Command("cat", "/proc/sys/net/ipv6/conf/vb/disable_ipv6").Output()
	if err != nil || strings.TrimSpace(string(out)) != "1" {
		t.Fatalf("disable_ipv6 on vb: %q %v", out, err)
	}
}

func TestTap(t *testing.T) {
	ns := New(t)
	l := Tap(t, ns, "tap0", "10.98.0.1/24")
	h := ns.Netlink(t)
	got, err := h.LinkByName("tap0")
	if err != nil {
		t.Fatal(err)
	}
	if got.Attrs().Index != l.Index || got.Type() != "tuntap" {
		t.Fatalf("tap %+v type %s", got.Attrs(), got.Type())
	}
}

// TestPairSendRecv: a frame the far end sends arrives on the near link,
// and one the near link sends is what the far end's receiver returns.
func TestPairSendRecv(t *testing.T) {
	p := Pair(t, PairOptions{Near: "pn0", Far: "pf0"})
	if p.NearLink.NS != p.Near || p.FarLink.NS != p.Far || p.NearLink.Name != "pn0" {
		t.Fatalf("pair: %+v", p)
	}
	near := OpenRaw(t, p.NearLink)
	rx := p.Receiver(t)
	frame := func(dst, src net.HardwareAddr, tag byte) []byte {
		f := make([]byte, 60)
		copy(f, dst)
		copy(f[6:], src)
		f[12], f[13], f[14] = 0x88, 0xb5, tag // local experimental ethertype
		return f
	}
	isTag := func(tag byte) func([]byte) bool {
		return func(b []byte) bool { return len(b) > 14 && b[12] == 0x88 && b[13] == 0xb5 && b[14] == tag }
	}
	p.Sender(t).Send(t, frame(p.NearLink.MAC, p.FarLink.MAC, 1))
	if got := near.Recv(t, isTag(1)); !bytes.Equal(got[:6], p.NearLink.MAC) {
		t.Errorf("near end got %x", got[:14])
	}
	near.Send(t, frame(p.FarLink.MAC, p.NearLink.MAC, 2))
	if got := rx.Recv(t, isTag(2)); !bytes.Equal(got[6:12], p.NearLink.MAC) {
		t.Errorf("far end got %x", got[:14])
	}
}

// TestLine: B reaches C across the line only when A forwards (here a Linux
// bridge of wb0 and wb1): Ping says no before and yes after; GRO is on at
// every end.
func TestLine(t *testing.T) {
	l := NewLine(t, LineOptions{Peer0: "10.98.0.1/24", Peer1: "10.98.0.2/24", GRO: true})
	for _, e := range []Link{l.Peer0, l.WB0, l.WB1, l.Peer1} {
		out, err := e.NS.Command("ethtool", "-k", e.Name).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "generic-receive-offload: on") {
			t.Errorf("%s in %s: GRO not on: %v\n%s", e.Name, e.NS.Name, err, out)
		}
	}
	if l.Ping(t, 1) {
		t.Fatal("ping across a line that does not forward")
	}
	for _, args := range [][]string{
		{"ip", "link", "add", "br0", "type", "bridge"},
		{"ip", "link", "set", "wb0", "master", "br0"},
		{"ip", "link", "set", "wb1", "master", "br0"},
		{"ip", "link", "set", "br0", "up"},
	} {
		l.A.Run(t, args[0], args[1:]...)
	}
	if !l.Ping(t, 2) {
		t.Fatal("no ping across the bridged line")
	}
}
