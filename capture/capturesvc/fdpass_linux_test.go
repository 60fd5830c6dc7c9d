package capturesvc_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/pkttest"
	"github.com/wirebox/wirebox/internal/testutil"
)

// TestReplayPassesTheUsersFile: a local user in the socket's group
// (api.socket_group) replays a file of their own outside capture.root: the
// CLI opens it with the user's permission and hands the daemon the open
// descriptor (SCM_RIGHTS). A file the user may not read is not replayed,
// though the daemon (root) could read it.
func TestReplayPassesTheUsersFile(t *testing.T) {
	_, dir, asNobody := nobodyRig(t)
	write := func(name string, mode os.FileMode) string {
		path := filepath.Join(dir, name)
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, mode)
		if err != nil {
			t.Fatal(err)
		}
		w := pcapgo.NewWriter(f)
		w.WriteFileHeader(65535, layers.LinkTypeEthernet)
		frame := make([]byte, 60)
		copy(frame, []byte{2, 0, 0, 0, 0, 1})
		for i := range 3 {
			w.WritePacket(gopacket.CaptureInfo{Timestamp: time.Unix(1700000000, int64(i)*1000), CaptureLength: 60, Length: 60}, frame)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		return path
	}
	mine, secret := write("mine.pcap", 0o644), write("secret.pcap", 0o600)
	// nobody replays their own file (twice) from outside capture.root.
	if rep := testutil.CLIJSON[api.ReplayReport](t, asNobody, "replay", mine, "--port", "wb0", "--loop", "2", "--json"); rep.Sent != 6 {
		t.Fatalf("nobody replaying their own file twice: %+v", rep)
	}
	if out, err := asNobody("replay", secret, "--port", "wb0"); err == nil || !strings.Contains(out, "capture root") {
		t.Fatalf("nobody replaying a file only root may read: %v\n%s", err, out)
	}
}

// TestCaptureIntoTheUsersDirectory: a local user in the socket's group
// captures into a directory of their own (--out /abs/path): the CLI
// creates and opens it and passes it; the files are the user's, 0640.
// A directory the user may not write to is not written.
func TestCaptureIntoTheUsersDirectory(t *testing.T) {
	p, dir, asNobody := nobodyRig(t)
	home := filepath.Join(dir, "home")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(home, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	// nobody captures into their own directory.
	s := testutil.CLIJSON[api.CaptureSession](t, asNobody, "capture", "start", "--port", "wb0", "--filter", "udp port 7", "--out", filepath.Join(home, "caps"), "--json")
	mac := p.NearLink.MAC
	p.Sender(t).SendTo(t, mac, pkttest.UDP(t, "10.0.0.1", "10.0.0.2", 7, 7, []byte("mine")), 5)
	testutil.Eventually(t, "the session to write 5 frames", func() error {
		ss := testutil.CaptureList(t, asNobody)
		if len(ss) != 1 {
			t.Fatalf("list: %+v", ss)
		}
		for _, s := range ss {
			if s.Packets != 5 {
				return fmt.Errorf("the session wrote %d of 5 frames", s.Packets)
			}
		}
		return nil
	})
	if out, err := asNobody("capture", "stop", s.ID); err != nil {
		t.Fatalf("stop: %v %s", err, out)
	}
	files, _ := filepath.Glob(filepath.Join(home, "caps", "*.pcapng"))
	if len(files) != 1 {
		t.Fatalf("files: %v", files)
	}
	fi, err := os.Stat(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid != 65534 || fi.Mode().Perm() != 0o640 {
		t.Errorf("capture file owned by %d, mode %v; want nobody's, 0640", st.Uid, fi.Mode().Perm())
	}
	// Root's own directory: the CLI cannot create it as nobody, so the
	// path goes to the daemon, which refuses it outside capture.root.
	if out, err := asNobody("capture", "start", "--port", "wb0", "--out", "/root/wirebox-nobody"); err == nil || !strings.Contains(out, "capture root") {
		t.Fatalf("nobody capturing into /root: %v\n%s", err, out)
	}
	if _, err := os.Stat("/root/wirebox-nobody"); err == nil {
		os.RemoveAll("/root/wirebox-nobody")
		t.Fatal("a directory was created in /root for nobody")
	}
}

// nobodyRig runs a daemon with a port whose socket group is nobody's, and
// returns the veth pair, a directory every user may enter (with a copy of
// the binary) and a runner of the CLI as nobody.
func nobodyRig(t *testing.T) (*netns.VethPair, string, func(args ...string) (string, error)) {
	p, cfg := passiveConfig(t, t.TempDir())
	cfg.API.SocketGroup = "65534" // nobody's group
	// A directory nobody may enter, for the socket, the binary and the files.
	dir, err := os.MkdirTemp("", "wirebox-fdpass-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	cfg.API.Socket = filepath.Join(dir, "wirebox.sock")
	d := startDaemon(t, cfg)
	bin := filepath.Join(dir, "wirebox")
	b, err := os.ReadFile(d.Bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	asNobody := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"--socket", cfg.API.Socket}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	return p, dir, asNobody
}
