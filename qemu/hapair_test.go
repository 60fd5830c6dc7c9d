package qemu

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/ha/hatraffic"
	"github.com/wirebox/wirebox/image"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/pkttest"
	"github.com/wirebox/wirebox/internal/testutil"
)

// The HA pair test's service: clients on 10.0.1.0/24, the VIP there, two
// backends on 10.0.2.0/24 that reach the clients through the gateway.
const (
	haVIP     = "10.0.1.100"
	haGateway = "10.0.2.1"
	haClient  = "10.0.1.5"
	haServer1 = "10.0.2.11"
	haServer2 = "10.0.2.12"
)

var haKey = hex.EncodeToString([]byte("qemu pair test pre-shared key...."))

// TestHAPair boots two appliances as `wirebox qemu --pair` does (a dgram
// peer link on eth1), each with a client-side and a server-side NIC on
// host TAP devices joined by two bridges in namespaces made here:
//
//	cl:c0 ── sw1:br0 ──┬── A:eth2  A:eth3 ──┬── sw2:br0 ── sv:s0
//	                   └── B:eth2  B:eth3 ──┘
//	A:eth1 ── B:eth1 (peer link, QEMU dgram over 127.0.0.1)
//
// Both get an HA config through the API (standby response), then a
// byte-checked TCP stream and idle connections run through the VIP while
// the QEMU process of the active guest is killed with SIGKILL: the other
// guest takes over, the stream goes on with every byte, every idle
// connection still echoes, and the client sees no reset (tcpdump).
func TestHAPair(t *testing.T) {
	a := needImage(t)
	pkttest.Need(t, "tcpdump", "ethtool")
	cl, sw1, sw2, sv := netns.New(t), netns.New(t), netns.New(t), netns.New(t)
	for _, sw := range []*netns.NS{sw1, sw2} {
		sw.Run(t, "ip", "link", "add", "br0", "type", "bridge")
		sw.Run(t, "ip", "link", "set", "br0", "up")
	}
	host := func(ns *netns.NS, dev, addr string, sw *netns.NS, port string) {
		netns.Veth(t, ns, dev, sw, port, netns.VethOptions{AddrA: addr})
		sw.Run(t, "ip", "link", "set", port, "master", "br0")
		// Complete checksums on the wire: the forwarder updates them
		// incrementally and never completes a partial one.
		ns.Run(t, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off")
		sw.Run(t, "ethtool", "-K", port, "tx", "off", "tso", "off", "gso", "off", "gro", "off")
	}
	host(cl, "c0", haClient+"/24", sw1, "s1c")
	host(sv, "s0", haServer1+"/24", sw2, "s2s")
	sv.Run(t, "ip", "addr", "add", haServer2+"/24", "dev", "s0")
	sv.Run(t, "ip", "route", "add", "10.0.1.0/24", "via", haGateway)

	// Four TAP devices, made here and moved to the bridges once QEMU holds
	// them; MACs of our own, as both guests run in this process.
	base := baseOptions(a, "wirebox")
	oa, ob, err := PairOptions(base)
	if err != nil {
		t.Fatal(err)
	}
	taps := map[string][]string{}
	for gi, o := range []*Options{&oa, &ob} {
		for i := range 2 {
			tap := fmt.Sprintf("wbh%d%c%d", os.Getpid()%10000, 'a'+gi, i)
			if out, err := exec.Command("ip", "tuntap", "add", "dev", tap, "mode", "tap").CombinedOutput(); err != nil {
				t.Fatalf("ip tuntap add %s: %v\n%s", tap, err, out)
			}
			sw := []*netns.NS{sw1, sw2}[i]
			t.Cleanup(func() {
				if exec.Command("ip", "link", "del", tap).Run() != nil {
					_ = sw.Command("ip", "link", "del", tap).Run()
				}
			})
			o.Taps = append(o.Taps, tap)
			o.TapMACs = append(o.TapMACs, fmt.Sprintf("52:54:00:15:%02x:%02x", 0xa+gi, i))
		}
		taps[o.Name] = o.Taps
	}

	// Boot both at once.
	type guest struct {
		vm  *VM
		c   *api.Client
		con *Console
	}
	var ga, gb guest
	done := make(chan struct{})
	go func() {
		defer close(done)
		gb.vm, gb.c, gb.con, _ = bootNoFatal(t, ob)
	}()
	ga.vm, ga.c, ga.con, _ = bootGuest(t, oa)
	<-done
	if gb.vm == nil {
		t.Fatal("guest B did not come up")
	}
	for _, o := range []Options{oa, ob} {
		for i, tap := range o.Taps {
			sw := []*netns.NS{sw1, sw2}[i]
			if out, err := exec.Command("ip", "link", "set", tap, "netns", sw.Name).CombinedOutput(); err != nil {
				t.Fatalf("move %s: %v\n%s", tap, err, out)
			}
			sw.Run(t, "ip", "link", "set", tap, "master", "br0")
			sw.Run(t, "ip", "link", "set", tap, "up")
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// The guests' names for the TAP NICs, from their MACs.
	names := func(g guest, o Options) (client, server string) {
		t.Helper()
		var ports api.Ports
		byMAC := map[string]string{}
		waitFor(ctx, t, o.Name+" ports of the TAP NICs", func() error {
			if err := g.c.Get(ctx, api.PathPorts, &ports); err != nil {
				return err
			}
			for _, p := range ports.Ports {
				byMAC[strings.ToLower(p.MAC)] = p.Name
			}
			for _, m := range o.TapMACs {
				if byMAC[m] == "" {
					return fmt.Errorf("no port with MAC %s in %v", m, byMAC)
				}
			}
			return nil
		})
		return byMAC[o.TapMACs[0]], byMAC[o.TapMACs[1]]
	}
	for _, x := range []struct {
		g        guest
		o        Options
		prio     int
		me, them string
		name     string
	}{
		{ga, oa, 200, PeerAddrA, PeerAddrB, "ha-a"},
		{gb, ob, 100, PeerAddrB, PeerAddrA, "ha-b"},
	} {
		cp, sp := names(x.g, x.o)
		me, them := strings.Split(x.me, "/")[0], strings.Split(x.them, "/")[0]
		if err := testutil.PostConfig(ctx, x.g.c, haGuestConfig(x.name, cp, sp, me, them, x.prio)); err != nil {
			t.Fatalf("%s: %v", x.o.Name, err)
		}
	}
	status := func(g guest) (api.HAStatus, error) {
		var st api.HAStatus
		err := g.c.Get(ctx, api.PathHA, &st)
		return st, err
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		cctx, ccancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer ccancel()
		for name, g := range map[string]guest{"A": ga, "B": gb} {
			var st api.HAStatus
			err := g.c.Get(cctx, api.PathHA, &st)
			t.Logf("guest %s HA status: %+v %v", name, st, err)
		}
	})
	var act, stb guest
	var actName string
	waitFor(ctx, t, "one guest active, the other standby in sync", func() error {
		sa, err := status(ga)
		if err != nil {
			return fmt.Errorf("A: %w", err)
		}
		sb, err := status(gb)
		if err != nil {
			return fmt.Errorf("B: %w", err)
		}
		switch {
		case sa.Role == "active" && sb.Role == "standby" && sb.InSync && sb.PeerAlive:
			act, stb, actName = ga, gb, "A"
		case sb.Role == "active" && sa.Role == "standby" && sa.InSync && sa.PeerAlive:
			act, stb, actName = gb, ga, "B"
		default:
			return fmt.Errorf("A %s (in sync %v, peer alive %v), B %s (in sync %v, peer alive %v)",
				sa.Role, sa.InSync, sa.PeerAlive, sb.Role, sb.InSync, sb.PeerAlive)
		}
		return nil
	})
	t.Logf("guest %s is active", actName)

	stop, err := hatraffic.Servers(sv.Path, []netip.AddrPort{netip.MustParseAddrPort(haServer1 + ":8080"), netip.MustParseAddrPort(haServer2 + ":8081")}, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	args := hatraffic.RSTArgs("c0")
	rst, err := hatraffic.StartRSTWatch(cl.Command(args[0], args[1:]...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rst.Stop)
	// Slow enough for two TCG guests on a shared machine, where every
	// frame also crosses the peer link.
	var c net.Conn
	waitFor(ctx, t, "a connection through the VIP", func() (err error) {
		c, err = hatraffic.Dial(cl.Path, "tcp", haVIP+":80")
		return err
	})
	s := hatraffic.StartStream(c, hatraffic.StreamOptions{Chunk: 1024, Every: 20 * time.Millisecond})
	defer s.End()
	const nIdle = 10
	idle, err := hatraffic.Idle(cl.Path, haVIP+":80", nIdle)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	if _, err := hatraffic.PingAll(idle, "hello", time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Progress(32<<10, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	waitFor(ctx, t, "the standby tracking every connection", func() error {
		st, err := status(stb)
		if err != nil {
			return err
		}
		if st.Connections < nIdle+1 {
			return fmt.Errorf("standby tracks %d connections", st.Connections)
		}
		return nil
	})

	s.MaxStall.Store(0)
	crash := time.Now()
	act.vm.Kill()
	t.Logf("QEMU of guest %s killed (SIGKILL)", actName)
	var after api.HAStatus
	waitFor(ctx, t, "the standby active", func() (err error) {
		if after, err = status(stb); err != nil {
			return err
		}
		if after.Role != "active" {
			return fmt.Errorf("role %s", after.Role)
		}
		return nil
	})
	took := time.Since(crash)
	if err := s.Progress(32<<10, 2*time.Minute); err != nil {
		t.Fatalf("after the crash: %v", err)
	}
	if dead, err := hatraffic.PingAll(idle, "after the crash", time.Minute); err != nil {
		t.Fatalf("%d of %d idle connections lost: %v", len(dead), nIdle, err)
	}
	time.Sleep(300 * time.Millisecond) // let tcpdump print what it saw
	if n := rst.Count(); n != 0 {
		t.Fatalf("the client saw %d resets:\n%s", n, rst.Lines())
	}
	if after.LastFailover == nil || after.LastFailover.Reason != "peer lost" {
		t.Errorf("last failover %+v, want one for a lost peer", after.LastFailover)
	}
	t.Logf("standby active within %v of the kill (seen by polling its API), largest stream stall %v, last failover %+v; %d idle connections and the stream survived, no reset",
		took.Round(time.Millisecond), time.Duration(s.MaxStall.Load()).Round(time.Millisecond), *after.LastFailover, nIdle)
}

// haGuestConfig is the image's default config with the TAP NICs as bypass
// ports (no auto ports: the peer link stays the kernel's) and the ha
// section. Heartbeats every 100 ms, dead after 1 s: TCG guests on a shared
// machine are late now and then, and there is no witness path here.
func haGuestConfig(name, clientPort, serverPort, me, them string, prio int) string {
	conf := strings.Replace(image.DefaultGuestConfig(), "name: wirebox\n", "name: "+name+"\n", 1)
	conf = strings.Replace(conf, "auto_ports: true\n", "auto_ports: false\n", 1)
	return conf + fmt.Sprintf(`ports:
  - {name: %s, mode: bypass}
  - {name: %s, mode: bypass}
ha:
  enabled: true
  client_port: %s
  server_port: %s
  gateway: %s
  service:
    vip: %s
    port: 80
    protocols: [tcp]
    backends: [%s:8080, %s:8081]
    balance: round_robin
  peer:
    listen: %s:7400
    address: %s:7400
    key: %s
    interval: 100ms
    dead_after: 10
    priority: %d
    mode: standby_response
`, clientPort, serverPort, clientPort, serverPort, haGateway, haVIP, haServer1, haServer2, me, them, haKey, prio)
}
