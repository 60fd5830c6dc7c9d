package capturesvc_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/capture/capturesvc"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/pkttest"
)

// TestDaemonLinkDeleteAndReAdd: with a capture running on a port, the
// port's interface is deleted (ip link del) and created again; the real
// daemon reports the port absent meanwhile, re-attaches by itself, and the
// same session records the frames sent after the link came back. The core
// service stays running throughout.
func TestDaemonLinkDeleteAndReAdd(t *testing.T) {
	p, cfg := passiveConfig(t, t.TempDir())
	d := startDaemon(t, cfg)
	ctx := context.Background()

	var s api.CaptureSession
	if err := d.Client.Post(ctx, api.PathCaptures, api.CaptureStart{Ports: []string{"wb0"}, Filter: "udp port 7", OutDir: "flap"}, &s); err != nil {
		t.Fatal(err)
	}
	packets := func() uint64 {
		var got api.CaptureSession
		if err := d.Client.Get(ctx, api.CapturePath(s.ID), &got); err != nil {
			t.Fatal(err)
		}
		return got.Packets
	}
	port := func() api.PortStatus {
		var ps api.Ports
		if err := d.Client.Get(ctx, api.PathPorts, &ps); err != nil {
			t.Fatal(err)
		}
		for _, x := range ps.Ports {
			if x.Name == "wb0" {
				return x
			}
		}
		t.Fatalf("no wb0 in %+v", ps.Ports)
		return api.PortStatus{}
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("%s: port %+v, session packets %d\n%s", what, port(), packets(), d.Log())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	frame := pkttest.UDP(t, "10.0.0.1", "10.0.0.2", 7, 7, []byte("flap"))
	send := func(link netns.Link, n int) {
		t.Helper()
		mac, err := net.ParseMAC(port().MAC)
		if err != nil {
			t.Fatal(err)
		}
		netns.OpenRaw(t, link).SendTo(t, mac, frame, n)
	}
	send(p.FarLink, 10)
	waitUntil("10 frames before the flap", func() bool { return packets() == 10 })

	if out, err := p.Near.Command("ip", "link", "del", "wb0").CombinedOutput(); err != nil {
		t.Fatalf("ip link del: %v %s", err, out)
	}
	waitUntil("the port reported absent", func() bool { st := port(); return !st.Attached && st.OperState == "absent" })

	_, far := netns.Veth(t, p.Near, "wb0", p.Far, "peer0", netns.VethOptions{})
	waitUntil("the port attached again", func() bool { st := port(); return st.Attached && st.EngineStarts >= 2 })
	send(far, 20)
	waitUntil("the session resumed: 30 frames", func() bool { return packets() == 30 })

	var st api.Status
	if err := d.Client.Get(ctx, api.PathStatus, &st); err != nil {
		t.Fatal(err)
	}
	for _, svc := range st.Services {
		if (svc.Name == "core" || svc.Name == capturesvc.Name) && (svc.State != api.StateRunning || svc.Restarts != 0) {
			t.Errorf("%s: %s after %d restarts (%s)", svc.Name, svc.State, svc.Restarts, svc.LastError)
		}
	}
	if !strings.Contains(d.Log(), "wb0") {
		t.Errorf("the daemon's log does not mention the port's link going and coming:\n%s", d.Log())
	}
}
