package tui

import (
	"context"
	"encoding/binary"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/capture/capturesvc"
	"github.com/wirebox/wirebox/capture/coresvc"
	"github.com/wirebox/wirebox/daemon"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/services"
)

// captureDaemon is the control API of an appliance with a real capture
// core: port wb0 in a test namespace, joined by veth to peer0 in another,
// the real core and capture services under a real supervisor, with their
// routes (/v1/ports, /v1/captures). It returns a client and
// a raw socket on peer0 to send frames into wb0 with.
func captureDaemon(t *testing.T) (*api.Client, int, net.HardwareAddr) {
	t.Helper()
	netns.Require(t)
	a, b := netns.New(t), netns.New(t)
	la, _ := netns.Veth(t, a, "wb0", b, "peer0", netns.VethOptions{})
	core, err := coresvc.New(config.PoolConfig{Frames: 4096, FrameSize: 2048},
		[]config.PortConfig{{Name: "wb0", Mode: "passive", Netns: a.Path}})
	if err != nil {
		t.Fatal(err)
	}
	svc := capturesvc.New(core, "")
	quiet := slog.New(slog.DiscardHandler)
	sup, err := services.New(services.Options{Logger: quiet}, core, svc)
	if err != nil {
		t.Fatal(err)
	}
	srv := api.NewServer(api.ServerOptions{Name: "capture-box", Version: "test", StartedAt: time.Now(), Backend: daemon.Backend(sup), Logger: quiet})
	core.Routes(srv.Mux())
	svc.Routes(srv.Mux())
	ctx, cancel := context.WithCancel(context.Background())
	supDone := make(chan error, 1)
	go func() { supDone <- sup.Run(ctx) }()
	socket := filepath.Join(t.TempDir(), "api.sock")
	l, err := api.ListenUnix(socket, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	srvDone := make(chan error, 1)
	go func() { srvDone <- api.Serve(ctx, l, srv.Handler(), quiet) }()
	cl := api.NewUnixClient(socket)
	t.Cleanup(func() {
		cl.Close()
		cancel()
		<-srvDone
		if err := <-supDone; err != nil {
			t.Error(err)
		}
		if err := core.Close(); err != nil {
			t.Error(err)
		}
	})
	fd := -1
	err = b.Do(func() error {
		ifi, err := net.InterfaceByName("peer0")
		if err != nil {
			return err
		}
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0); err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Ifindex: ifi.Index})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fd) })
	return cl, fd, la.MAC
}

// udpFrame is an Ethernet/IPv4/UDP frame to dst (the MAC of wb0).
func udpFrame(dst net.HardwareAddr, dport uint16) []byte {
	f := make([]byte, 42+16)
	copy(f, dst)
	copy(f[6:], []byte{2, 0, 0, 0, 0, 1})
	f[12], f[13] = 0x08, 0x00
	ip := f[14:]
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], 20+8+16)
	copy(ip[12:], net.IPv4(10, 9, 0, 2).To4())
	copy(ip[16:], net.IPv4(10, 9, 0, 1).To4())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	u := ip[20:]
	binary.BigEndian.PutUint16(u, 40000)
	binary.BigEndian.PutUint16(u[2:], dport)
	binary.BigEndian.PutUint16(u[4:], 8+16)
	return f
}

// TestCapturePanelOnRealCore: against the real core and capture services,
// the Ports screen shows wb0's live counters and the Capture form
// shows the real filter compiler's error under the filter, starts a
// capture on wb0, the counters move as frames arrive, and s, y stops it,
// leaving a pcapng file behind.
func TestCapturePanelOnRealCore(t *testing.T) {
	cl, fd, mac := captureDaemon(t)
	out := t.TempDir()
	tm := console(t, cl, 100, 30, false, 100*time.Millisecond)
	waitScreen(t, tm, "4 Capture")
	keys(tm, "4")
	waitScreen(t, tm, "no capture sessions; n starts one")

	keys(tm, "n")
	typeText(tm, "wb0")
	keys(tm, "tab")
	typeText(tm, "udp port 7 and")
	keys(tm, "tab", "tab")
	typeText(tm, out)
	keys(tm, "enter")
	waitScreen(t, tm, "expected an expression after")
	for range len(" and") {
		keys(tm, "backspace")
	}
	keys(tm, "enter", "enter", "enter")
	waitScreen(t, tm, "started on wb0")

	// 5 frames the filter takes, 3 it does not.
	for i := range 8 {
		port := uint16(7)
		if i >= 5 {
			port = 9
		}
		if _, err := unix.Write(fd, udpFrame(mac, port)); err != nil {
			t.Fatal(err)
		}
	}
	waitScreenRE(t, tm, `c1\s+wb0\s+running\s+5\s`) // the PACKETS column moved
	keys(tm, "s", "y")
	waitScreen(t, tm, "stopped: 5 packets in 1 files")

	// The Ports screen shows the real counters of wb0 and the session as
	// a subscriber while it ran; now all 8 frames are counted.
	keys(tm, "3")
	waitScreen(t, tm, "wb0  rx 8 pkts")
	waitScreenRE(t, tm, `> wb0\s+passive\s+up`)
	files, _ := filepath.Glob(filepath.Join(out, "*.pcapng"))
	if len(files) != 1 {
		t.Fatalf("capture files: %v", files)
	}
	if fi, err := os.Stat(files[0]); err != nil || fi.Size() == 0 {
		t.Fatalf("capture file %s: %v", files[0], err)
	}
}
