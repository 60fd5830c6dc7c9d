package tui

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/testutil"
)

// TestConsoleInTmuxWithPort runs the real daemon binary with a port (wb0 in
// a test namespace, fed through a veth from another) and the console in
// tmux: the Overview and the Ports screen show the port, and its counters
// move as frames arrive. When the daemon also runs the capture service, a
// capture is started from the form and stopped with s, y.
func TestConsoleInTmuxWithPort(t *testing.T) {
	requireTmux(t)
	netns.Require(t)
	bin := testutil.Wirebox(t)
	a, b := netns.New(t), netns.New(t)
	la, _ := netns.Veth(t, a, "wb0", b, "peer0", netns.VethOptions{})
	dir := t.TempDir()
	cfg := filepath.Join(dir, "wirebox.yaml")
	// Capture output goes to the tests' temporary directories.
	yaml := fmt.Sprintf("name: port-box\npool:\n  frames: 4096\n  frame_size: 2048\nports:\n  - name: wb0\n    mode: passive\n    netns: %s\ncapture:\n  root: %s\n", a.Name, os.TempDir())
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "wirebox.sock")
	startDaemon(t, bin, sock, "--config", cfg)

	fd := -1
	err := b.Do(func() error {
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
	defer unix.Close(fd)
	send := func(n int) {
		t.Helper()
		for range n {
			if _, err := unix.Write(fd, udpFrame(la.MAC, 7)); err != nil {
				t.Fatal(err)
			}
		}
	}

	s := newTmux(t, 120, 40, fmt.Sprintf("env TERM=xterm-256color %s console --socket %s", bin, sock))
	s.wait("port-box", "3 Ports", "RX, LAST MINUTE", "wb0", "core")
	s.keys("3")
	s.wait("Pool 4096 frames", "SUBSCRIBER")
	rx := regexp.MustCompile(`wb0  rx (\d+) pkts`)
	counter := func() int {
		m := rx.FindStringSubmatch(s.capture(false))
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
				t.Fatalf("rx counter stuck at %d, want %d:\n%s", counter(), total, s.capture(false))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	t.Run("capture", func(t *testing.T) {
		cl := api.NewUnixClient(sock)
		defer cl.Close()
		st, err := cl.Status(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if !HasService(st, captureService) {
			t.Skip("this daemon does not run the capture service (daemon does not wire capture/capturesvc yet)")
		}
		out := t.TempDir()
		s.keys("4")
		s.wait("ID", "PORTS", "n new capture")
		s.keys("n")
		s.wait("New capture")
		s.keys("-l", "wb0")
		s.keys("Tab")
		s.keys("-l", "udp port 7")
		s.keys("Tab", "Tab")
		s.keys("-l", out)
		s.keys("Enter")
		s.wait("started on wb0")
		send(5)
		s.wait("running 5 ")
		s.keys("s")
		s.wait("Stop capture c1? [y/N]")
		s.keys("y")
		s.wait("capture c1 stopped: 5 packets in 1 files")
		files, _ := filepath.Glob(filepath.Join(out, "*.pcapng"))
		if len(files) != 1 {
			t.Fatalf("capture files: %v", files)
		}
	})
	s.keys("q")
	s.gone()
}
