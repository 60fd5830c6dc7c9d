package tui

import (
	"github.com/wirebox/wirebox/internal/pkttest"
	"github.com/wirebox/wirebox/internal/testutil"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wirebox/wirebox/capture/capturesvc"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/internal/netns"
)

// portDaemon runs the daemon binary with one passive port, wb0 in a test
// namespace joined by veth to peer0 in another (netns.Pair), captures
// confined to the temporary directory. It returns the daemon, a raw sender
// on peer0 and wb0's MAC address, once the core and capture services run.
func portDaemon(t *testing.T, name string) (*testutil.Daemon, *netns.Raw, net.HardwareAddr) {
	t.Helper()
	p := netns.Pair(t)
	cfg := config.Default(capturesvc.Section)
	cfg.Name = name
	cfg.Pool.Frames = 4096
	cfg.Ports = []config.PortConfig{{Name: p.NearLink.Name, Mode: config.PortPassive, Netns: p.Near.Path}}
	capturesvc.Section.Of(cfg).Root = os.TempDir()
	d := testutil.StartDaemon(t, cfg)
	d.WaitRunning(t, "core", capturesvc.Name)
	return d, p.Sender(t), p.NearLink.MAC
}

// udpFrame is an Ethernet/IPv4/UDP frame to port dport.
func udpFrame(t *testing.T, dport uint16) []byte {
	return pkttest.UDP(t, "10.9.0.2", "10.9.0.1", 40000, dport, make([]byte, 16))
}

// TestCapturePanelOnRealCore: against the real core and capture services,
// the Ports screen shows wb0's live counters and the Capture form
// shows the real filter compiler's error under the filter, starts a
// capture on wb0, the counters move as frames arrive, and s, y stops it,
// leaving a pcapng file behind.
func TestCapturePanelOnRealCore(t *testing.T) {
	d, sender, mac := portDaemon(t, "capture-box")
	out := t.TempDir()
	tm := console(t, d.Client, 100, 30, false, 100*time.Millisecond)
	waitScreen(t, tm, "4 Capture")
	openCaptures(t, tm, "no capture sessions; n starts one")

	fillCaptureForm(tm, "wb0", "udp port 7 and", out)
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
		sender.SendTo(t, mac, udpFrame(t, port), 1)
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
