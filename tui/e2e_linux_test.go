package tui

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/testutil"
)

// TestConsoleInTmuxWithPort runs the real daemon binary with a port (wb0 in
// a test namespace, fed through a veth from another) and the console in
// tmux: the Overview and the Ports screen show the port, and its counters
// move as frames arrive; a capture is started from the form and stopped
// with s, y.
func TestConsoleInTmuxWithPort(t *testing.T) {
	testutil.RequireTmux(t)
	d, sender, mac := portDaemon(t, "port-box")
	bin, sock := d.Bin, d.Socket
	send := func(n int) {
		t.Helper()
		sender.SendTo(t, mac, udpFrame(t, 7), n)
	}

	s := testutil.NewTmux(t, 120, 40, fmt.Sprintf("env TERM=xterm-256color %s console --socket %s", bin, sock))
	s.Wait("port-box", "3 Ports", "RX, LAST MINUTE", "wb0", "core")
	s.Keys("3")
	s.Wait("Pool 4096 frames", "SUBSCRIBER")
	rx := regexp.MustCompile(`wb0  rx (\d+) pkts`)
	counter := func() int {
		m := rx.FindStringSubmatch(s.Capture(false))
		if m == nil {
			return -1
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	// The counter moves with the traffic: every frame sent shows up.
	for _, total := range []int{10, 30} {
		send(total - max(counter(), 0))
		deadline := time.Now().Add(20 * time.Second)
		for counter() < total {
			if time.Now().After(deadline) {
				t.Fatalf("rx counter stuck at %d, want %d:\n%s", counter(), total, s.Capture(false))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	t.Run("capture", func(t *testing.T) {
		out := t.TempDir()
		s.Keys("4")
		s.Wait("ID", "PORTS", "n new capture")
		s.Keys("n")
		s.Wait("New capture")
		s.Keys("-l", "wb0")
		s.Keys("Tab")
		s.Keys("-l", "udp port 7")
		s.Keys("Tab", "Tab")
		s.Keys("-l", out)
		s.Keys("Enter")
		s.Wait("started on wb0")
		send(5)
		s.Wait("running 5 ")
		s.Keys("s")
		s.Wait("Stop capture c1? [y/N]")
		s.Keys("y")
		s.Wait("capture c1 stopped: 5 packets in 1 files")
		files, _ := filepath.Glob(filepath.Join(out, "*.pcapng"))
		if len(files) != 1 {
			t.Fatalf("capture files: %v", files)
		}
	})
	s.Keys("q")
	s.Gone()
}
