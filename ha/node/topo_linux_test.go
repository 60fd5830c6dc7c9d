package node

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/ha/fwd"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/tap"
)

const (
	vip      = "10.0.1.100"
	gateway  = "10.0.2.1"
	clientIP = "10.0.1.5"
	server1  = "10.0.2.11"
	server2  = "10.0.2.12"
)

var testKey = []byte("a pre-shared key for the ha test!")

func service() fwd.Service {
	return fwd.Service{VIP: netip.MustParseAddr(vip), Port: 80, TCP: true, UDP: true, Balance: fwd.RoundRobin,
		Backends: []netip.AddrPort{netip.MustParseAddrPort(server1 + ":8080"), netip.MustParseAddrPort(server2 + ":8081")}}
}

func run(t *testing.T, ns *netns.NS, args ...string) {
	t.Helper()
	if out, err := ns.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v: %v: %s", ns.Name, args, err, out)
	}
}

// hostEnd prepares a veth end of a host namespace for frames forwarded by
// an AF_XDP port: checksums complete (no offload: the forwarder updates
// them incrementally, a partial checksum would stay wrong) and GRO on (so
// veth receives the XDP-transmitted frames in NAPI).
func hostEnd(t *testing.T, ns *netns.NS, dev string) {
	run(t, ns, "ethtool", "-K", dev, "tx", "off", "tso", "off", "gso", "off", "gro", "on")
}

// appliance is one node's namespace and core.
type appliance struct {
	ns   *netns.NS
	core *capture.Core
	pool *tap.Pool
}

func newAppliance(t *testing.T, ns *netns.NS, ports ...string) *appliance {
	t.Helper()
	pool, err := tap.NewPool(tap.Config{Frames: 8192})
	if err != nil {
		t.Fatal(err)
	}
	core := capture.NewCore(pool, slog.New(slog.DiscardHandler))
	a := &appliance{ns: ns, core: core, pool: pool}
	t.Cleanup(a.close)
	for _, p := range ports {
		run(t, ns, "ethtool", "-K", p, "gro", "on")
		if _, err := core.OpenPort(capture.PortConfig{Name: p, Mode: capture.Bypass, NetNS: ns.Path}); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

func (a *appliance) close() {
	if a.core != nil {
		a.core.Close()
		a.pool.Close()
		a.core = nil
	}
}

// startNode runs a node until the returned stop is called (or the test ends).
func startNode(t *testing.T, a *appliance, cfg Config, name string) (*Node, func()) {
	t.Helper()
	n, err := New(a.core, cfg, slog.New(slog.NewTextHandler(testWriter{t, name}, &slog.HandlerOptions{Level: slog.LevelInfo})))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("%s: %v", name, err)
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	t.Cleanup(stop)
	return n, stop
}

type testWriter struct {
	t    *testing.T
	name string
}

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Logf("%s: %s", w.name, bytes.TrimSpace(b))
	return len(b), nil
}

// servers starts a TCP echo server on each backend and a UDP echo server,
// in ns.
func servers(t *testing.T, ns *netns.NS) {
	t.Helper()
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	for _, b := range service().Backends {
		var ln net.Listener
		var pc net.PacketConn
		err := ns.Do(func() (err error) {
			if ln, err = net.Listen("tcp", b.String()); err != nil {
				return err
			}
			pc, err = net.ListenPacket("udp", b.String())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close(); pc.Close() })
		wg.Go(func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				mu.Lock()
				conns = append(conns, c)
				mu.Unlock()
				wg.Go(func() { io.Copy(c, c); c.Close() })
			}
		})
		wg.Go(func() {
			buf := make([]byte, 2048)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo(append([]byte(b.String()+" "), buf[:n]...), from)
			}
		})
	}
}

func dial(t *testing.T, ns *netns.NS, network, addr string) net.Conn {
	t.Helper()
	var c net.Conn
	err := ns.Do(func() (err error) {
		c, err = net.DialTimeout(network, addr, 10*time.Second)
		return err
	})
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// echo sends n random bytes through c and checks that every byte comes back.
func echo(t *testing.T, c net.Conn, n int) {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	errc := make(chan error, 1)
	go func() { _, err := c.Write(data); errc <- err }()
	got := make([]byte, n)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("echoed bytes differ")
	}
	c.SetDeadline(time.Time{})
}

func udpEcho(t *testing.T, c net.Conn, msg string) string {
	t.Helper()
	buf := make([]byte, 2048)
	for try := 0; try < 20; try++ { // the first datagrams may meet an unresolved neighbour
		c.Write([]byte(msg))
		c.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
		n, err := c.Read(buf)
		if err == nil {
			return string(buf[:n])
		}
	}
	t.Fatalf("no UDP answer to %q", msg)
	return ""
}

func tcpdumpAvailable(t *testing.T) {
	if _, err := exec.LookPath("tcpdump"); err != nil {
		t.Fatal("tcpdump missing (scripts/deps.sh test)")
	}
}

var _ = fmt.Sprintf

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }
