package rmon

import (
	"bytes"
	"net/netip"
	"os"
	"slices"
	"testing"

	"github.com/wirebox/wirebox/internal/pkttest"
	"golang.org/x/sys/unix"
)

// TestTaggedAndExtHeaders: Linux's own stack in the peer namespace sends
// UDP over IPv6 as three fragments, behind a hop-by-hop header, behind a
// destination-options header and through an SRv6 route (a routing
// header), and UDP over IPv4; the test captures those frames on their
// way out and sends them again 802.1Q-tagged and 802.1ad Q-in-Q-tagged
// (this kernel has no 8021q module to tag them itself). Each of the
// seven is then counted three times as UDP, in protocolDist, nlHost and
// alHost, read with net-snmp.
func TestTaggedAndExtHeaders(t *testing.T) {
	pkttest.Need(t, "ip")
	tp, c := managed(t, "1.3.6.1.2.1.16")
	run := func(name string, args ...string) {
		t.Helper()
		if out, err := tp.b.Command(name, args...).CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	gw := "02:00:00:00:00:77"
	// internal/netns turns IPv6 off; this test wants the stack's IPv6.
	if err := tp.b.Do(func() error { return os.WriteFile("/proc/sys/net/ipv6/conf/peer0/disable_ipv6", []byte("0"), 0o644) }); err != nil {
		t.Fatal(err)
	}
	// Fragments that stay within 1518 octets with two tags added (RMON
	// counts longer frames as oversize, tagged or not).
	run("ip", "link", "set", "peer0", "mtu", "1400")
	run("ip", "-6", "addr", "add", "fd00:77::2/64", "dev", "peer0", "nodad")
	run("ip", "addr", "add", "10.77.0.2/24", "dev", "peer0")
	run("ip", "-6", "neigh", "replace", "fd00:77::1", "lladdr", gw, "dev", "peer0", "nud", "permanent")
	run("ip", "neigh", "replace", "10.77.0.1", "lladdr", gw, "dev", "peer0", "nud", "permanent")
	run("ip", "-6", "route", "add", "fd00:77::99/128", "encap", "seg6", "mode", "inline", "segs", "fd00:77::1", "dev", "peer0")

	var frames [][]byte
	err := tp.b.Do(func() error {
		// The frames the stack sends to the gateway's MAC, as they leave.
		rx, err := packetSocket("peer0", unix.ETH_P_ALL)
		if err != nil {
			return err
		}
		defer unix.Close(rx)
		if err := unix.SetsockoptTimeval(rx, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &unix.Timeval{Sec: 10}); err != nil {
			return err
		}
		dst6 := func(a string) *unix.SockaddrInet6 {
			return &unix.SockaddrInet6{Port: 9, Addr: netip.MustParseAddr(a).As16()}
		}
		opt := string([]byte{0, 0, 1, 4, 0, 0, 0, 0}) // an empty header: PadN
		for _, s := range []struct {
			sockopt int
			to      string
			size    int
		}{{0, "fd00:77::1", 3000}, {unix.IPV6_HOPOPTS, "fd00:77::1", 3}, {unix.IPV6_DSTOPTS, "fd00:77::1", 3}, {0, "fd00:77::99", 3}} {
			fd, err := unix.Socket(unix.AF_INET6, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				return err
			}
			if s.sockopt != 0 {
				if err := unix.SetsockoptString(fd, unix.IPPROTO_IPV6, s.sockopt, opt); err != nil {
					unix.Close(fd)
					return err
				}
			}
			err = unix.Sendto(fd, make([]byte, s.size), 0, dst6(s.to))
			unix.Close(fd)
			if err != nil {
				return err
			}
		}
		fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		if err := unix.Sendto(fd, make([]byte, 100), 0, &unix.SockaddrInet4{Port: 9, Addr: [4]byte{10, 77, 0, 1}}); err != nil {
			return err
		}
		gwMAC := []byte{2, 0, 0, 0, 0, 0x77}
		buf := make([]byte, 2048)
		for len(frames) < 7 {
			n, _, err := unix.Recvfrom(rx, buf, 0)
			if err != nil {
				return err // EAGAIN after 10 s: the stack did not send them all
			}
			if bytes.Equal(buf[:6], gwMAC) {
				frames = append(frames, bytes.Clone(buf[:n]))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	run("ip", "link", "set", "peer0", "mtu", "9000") // room for the tags
	var again [][]byte
	for _, tags := range [][]byte{{0x81, 0x00, 0x00, 0x0a}, {0x88, 0xa8, 0x00, 0x14, 0x81, 0x00, 0x00, 0x1e}} {
		for _, f := range frames {
			again = append(again, slices.Concat(f[:12], tags, f[12:]))
		}
	}
	sendRaw(t, tp.b, "peer0", again)

	// nlHost and alHost of the monitor row (1): fd00:77::1 received 18
	// IPv6 frames, all UDP (local index 9); 10.77.0.1 3 UDP/IPv4 (6).
	v6 := ".3.16.253.0.0.119.0.0.0.0.0.0.0.0.0.0.0.1"
	v4 := ".2.4.10.77.0.1"
	nl, al := ".1.3.6.1.2.1.16.14.2.1", ".1.3.6.1.2.1.16.16.1.1"
	waitWalk(t, "snmpget", append(c, nl+".3.1.0"+v6), nl+".3.1.0"+v6, "18")
	m := walk(t, "snmpget", append(c, nl+".3.1.0"+v4, al+".2.1.0"+v6+".9", al+".2.1.0"+v6+".3", al+".2.1.0"+v4+".6")...)
	for oid, want := range map[string]string{nl + ".3.1.0" + v4: "3", al + ".2.1.0" + v6 + ".9": "18", al + ".2.1.0" + v6 + ".3": "18", al + ".2.1.0" + v4 + ".6": "3"} {
		if m[oid] != want {
			t.Errorf("%s = %q, want %s", oid, m[oid], want)
		}
	}
	// protocolDist of row 1: UDP over IPv6 and IPv4, only these frames.
	st := ".1.3.6.1.2.1.16.12.2.1.1.1"
	m = walk(t, "snmpget", append(c, st+".9", st+".6")...)
	if m[st+".9"] != "18" || m[st+".6"] != "3" {
		t.Errorf("protocolDist udp over ipv6, ip: %v", m)
	}
}
