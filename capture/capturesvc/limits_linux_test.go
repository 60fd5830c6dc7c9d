package capturesvc_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/wirebox/wirebox/capture/capturesvc"
	"github.com/wirebox/wirebox/capture/pcapng"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/testutil"
)

func threads(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// TestDaemonLimits: a client looping on POST /v1/captures meets
// capture.max_sessions (HTTP 429, naming the key) and the daemon lives on
// without a thread per session; a replay past capture.max_replays is
// refused the same way.
func TestDaemonLimits(t *testing.T) {
	dir := t.TempDir()
	_, cfg := passiveConfig(t, dir)
	sec := capturesvc.Section.Of(cfg)
	sec.MaxSessions = 40
	sec.MaxReplays = 1
	d := startDaemon(t, cfg)
	ctx := context.Background()
	base := threads(t, d.Pid())

	started, refused := 0, 0
	for i := 0; i < 100; i++ {
		var s api.CaptureSession
		err := d.Client.Post(ctx, api.PathCaptures, api.CaptureStart{Ports: []string{"wb0"}, OutDir: "loop"}, &s)
		var he *api.HTTPError
		switch {
		case err == nil:
			started++
		case errors.As(err, &he) && he.Code == http.StatusTooManyRequests && strings.Contains(he.Msg, "capture.max_sessions"):
			refused++
		default:
			t.Fatalf("start %d: %v", i, err)
		}
	}
	if started != 40 || refused != 60 {
		t.Fatalf("%d started, %d refused; want 40 and 60", started, refused)
	}
	if _, err := d.Client.Status(ctx); err != nil {
		t.Fatalf("daemon after the loop: %v\n%s", err, d.Log())
	}
	// Each session used to lock an OS thread for its writer: 40 sessions
	// would add 40 threads. Now a fixed pool of 8 has threads of their own.
	if n := threads(t, d.Pid()); n >= base+40 {
		t.Fatalf("%d threads with 40 sessions (%d before): a thread per session", n, base)
	}
	t.Logf("threads: %d before, %d with 40 sessions", base, threads(t, d.Pid()))

	// Shell completion knows the daemon's ports and running sessions.
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"capture", "start", "--port", ""}, []string{"wb0"}},
		{[]string{"replay", "x.pcap", "--port", "w"}, []string{"wb0"}},
		{[]string{"capture", "stop", "c1"}, []string{"c1", "c10", "c19"}},
		{[]string{"capture", "start", "--compress", ""}, []string{"zstd", "gzip", "none"}},
		{[]string{"replay", "x.pcap", "--to", ""}, []string{"wire", "host"}},
	} {
		out, err := d.Run(append([]string{"__complete"}, c.args...)...)
		for _, w := range c.want {
			if err != nil || !strings.Contains("\n"+out, "\n"+w+"\n") {
				t.Errorf("completion of %v: %v %q, want %s", c.args, err, out, w)
			}
		}
	}

	// Replays: one holds the only slot (two frames a minute apart), the
	// next is refused at once.
	w, err := pcapng.NewWriter(pcapng.Options{Dir: filepath.Join(dir, "slow"), Interfaces: []pcapng.Interface{{Name: "x"}}})
	if err != nil {
		t.Fatal(err)
	}
	frame := make([]byte, 60)
	copy(frame, net.HardwareAddr{0x02, 0, 0, 0, 0, 1})
	t0 := time.Unix(1700000000, 0)
	for _, at := range []time.Time{t0, t0.Add(time.Minute)} {
		if err := w.WritePacket(pcapng.Packet{Timestamp: at, Data: frame, Length: len(frame)}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- d.Client.Post(rctx, api.PathReplay, api.Replay{File: w.Files()[0], Port: "wb0"}, nil)
	}()
	// The first holds its slot once its consumer is listed.
	testutil.Eventually(t, "the first replay to start", func() error {
		var ps api.Ports
		if err := d.Client.Get(ctx, api.PathPorts, &ps); err != nil {
			t.Fatal(err)
		}
		for _, c := range ps.Consumers {
			if strings.HasPrefix(c.Name, "replay ") {
				return nil
			}
		}
		return fmt.Errorf("consumers: %+v", ps.Consumers)
	})
	err = d.Client.Post(ctx, api.PathReplay, api.Replay{File: w.Files()[0], Port: "wb0"}, nil)
	var he *api.HTTPError
	if !errors.As(err, &he) || he.Code != http.StatusTooManyRequests || !strings.Contains(he.Msg, "capture.max_replays") {
		t.Fatalf("second replay: %v", err)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cancelled replay reported success")
	}
	replayRefusals(t, d, dir)
}

// replayRefusals: the CLI exits non-zero with the reason when a frame was
// not sent (larger than the port's MTU), for raw-IP files, and for
// --speed 0 or absurd speeds.
func replayRefusals(t *testing.T, d *testutil.Daemon, dir string) {
	write := func(name string, lt layers.LinkType, frames ...[]byte) string {
		t.Helper()
		path := filepath.Join(dir, name)
		f, err := os.Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		w := pcapgo.NewWriter(f)
		if err := w.WriteFileHeader(65535, lt); err != nil {
			t.Fatal(err)
		}
		for i, fr := range frames {
			ci := gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(i)*1000), CaptureLength: len(fr), Length: len(fr)}
			if err := w.WritePacket(ci, fr); err != nil {
				t.Fatal(err)
			}
		}
		return path
	}
	small, big := make([]byte, 100), make([]byte, 3000) // the veth's MTU is 1500
	// A link in the root to a readable capture outside it (it was
	// followed: a link to /etc/shadow was opened).
	outside := t.TempDir()
	good := write("good.pcap", layers.LinkTypeEthernet, small)
	if err := os.Rename(good, filepath.Join(outside, "good.pcap")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "good.pcap"), filepath.Join(dir, "link.pcap")); err != nil {
		t.Fatal(err)
	}
	copy(small, []byte{2, 0, 0, 0, 0, 1})
	copy(big, []byte{2, 0, 0, 0, 0, 1})
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"replay", write("mtu.pcap", layers.LinkTypeEthernet, small, big, small), "--port", "wb0"}, "1 of 3 frames were not sent"},
		{[]string{"replay", write("raw.pcap", layers.LinkTypeRaw, small), "--port", "wb0"}, "Ethernet frames only"},
		{[]string{"replay", "mtu.pcap", "--port", "wb0", "--speed", "0"}, "--speed 0"},
		{[]string{"replay", "link.pcap", "--port", "wb0"}, "capture.root"},
		{[]string{"replay", "mtu.pcap", "--port", "nope"}, `no port "nope" on this appliance; its ports: wb0`},
		{[]string{"replay", "mtu.pcap", "--port", "wb0", "--speed", "1e-300"}, "--speed 1e-300"},
		{[]string{"replay", "mtu.pcap", "--port", "wb0", "--loop", "-3"}, "--loop -3"},
	} {
		// The cancelled replay before these gives its slot back when the
		// daemon notices the client went away: a moment after the client.
		out, err := d.Run(c.args...)
		for deadline := time.Now().Add(10 * time.Second); err != nil && strings.Contains(err.Error(), "too many replays") && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
			out, err = d.Run(c.args...)
		}
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v %s, want a failure saying %q", c.args[1:], err, out, c.want)
		}
	}
}
