package capturesvc_test

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/pkttest"
	"github.com/wirebox/wirebox/internal/testutil"
)

// TestCaptureAcrossCoreRestart: `wirebox restart core` in the middle of a
// capture. The session runs on (same id, same files), writes what arrives
// before and after, and what arrived while the engines were stopped is
// counted, not silently lost; capinfos reads the result.
func TestCaptureAcrossCoreRestart(t *testing.T) {
	pkttest.Need(t, "capinfos")
	dir := t.TempDir()
	p, cfg := passiveConfig(t, dir)
	cfg.Name = "restarttest"
	d := startDaemon(t, cfg)
	s := testutil.CLIJSON[api.CaptureSession](t, d.Run, "capture", "start", "--json", "--port", p.NearLink.Name, "--filter", "udp dst port 9", "--out", filepath.Join(dir, "s"))
	session := func() api.CaptureSession {
		t.Helper()
		ss := testutil.CaptureList(t, d.Run)
		x, ok := ss[s.ID]
		if !ok {
			t.Fatalf("session %s gone: %+v", s.ID, ss)
		}
		return x
	}
	waitPackets := func(n uint64) {
		t.Helper()
		testutil.Eventually(t, fmt.Sprintf("%d packets", n), func() error {
			if s := session(); s.Packets < n {
				return fmt.Errorf("session: %+v", s)
			}
			return nil
		})
	}
	ports := func() api.PortStatus {
		t.Helper()
		ps := testutil.CLIJSON[api.Ports](t, d.Run, "ports", "--json")
		if len(ps.Ports) != 1 {
			t.Fatalf("ports: %+v", ps)
		}
		return ps.Ports[0]
	}
	snd := p.Sender(t)
	frame := pkttest.UDP(t, "10.9.0.1", "10.9.0.2", 1000, 9, []byte("before and after"))
	copy(frame, p.NearLink.MAC)
	burst := func(n int) {
		for i := 0; i < n; i++ {
			snd.Send(t, frame)
		}
	}
	burst(300)
	waitPackets(300)
	if out, err := d.Run("restart", "core"); err != nil {
		t.Fatalf("restart core: %v %s", err, out)
	}
	testutil.Eventually(t, "the core to come back", func() error {
		if ps := ports(); ps.EngineStarts < 2 || !ps.Attached {
			return fmt.Errorf("port: %+v", ps)
		}
		return nil
	})
	burst(300)
	waitPackets(600)
	before := session()
	out, err := d.Run("capture", "stop", s.ID)
	if err != nil || !strings.Contains(out, "600 packets written") {
		t.Fatalf("capture stop: %v %s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "s", "*.pcapng"))
	total := 0
	for _, f := range files {
		out := pkttest.Run(t, "capinfos", "-M", "-c", "-T", f)
		fields := strings.Split(strings.TrimSpace(pkttest.Lines(out)[len(pkttest.Lines(out))-1]), "\t")
		n, err := strconv.Atoi(fields[len(fields)-1])
		if err != nil {
			t.Fatalf("capinfos %s: %s", f, out)
		}
		total += n
	}
	if total != 600 {
		t.Fatalf("files hold %d packets, want 600", total)
	}
	t.Logf("session %s across the restart: %d packets in %d files, port engine starts %d, missed %d", s.ID, total, len(files), ports().EngineStarts, before.Missed)
}
