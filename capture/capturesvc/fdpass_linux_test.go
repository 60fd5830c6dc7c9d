package capturesvc_test

import (
	"encoding/json"
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

	"github.com/wirebox/wirebox/capture/capturesvc"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/testutil"
)

// TestReplayPassesTheUsersFile: a local user in the socket's group
// (api.socket_group) replays a file of their own outside capture.root: the
// CLI opens it with the user's permission and hands the daemon the open
// descriptor (SCM_RIGHTS). A file the user may not read is not replayed,
// though the daemon (root) could read it.
func TestReplayPassesTheUsersFile(t *testing.T) {
	p := netns.Pair(t)
	cfg := config.Default(capturesvc.Section)
	cfg.Ports = []config.PortConfig{{Name: p.NearLink.Name, Mode: config.PortPassive, Netns: p.Near.Path}}
	capturesvc.Section.Of(cfg).Root = t.TempDir()
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
	d := testutil.StartDaemon(t, cfg)
	d.WaitRunning(t, "core", capturesvc.Name)
	bin := filepath.Join(dir, "wirebox")
	b, err := os.ReadFile(d.Bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
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
	asNobody := func(args ...string) (string, error) {
		cmd := exec.Command(bin, append([]string{"--socket", cfg.API.Socket}, args...)...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := asNobody("replay", mine, "--port", "wb0", "--loop", "2", "--json")
	var rep api.ReplayReport
	if err != nil || json.Unmarshal([]byte(out), &rep) != nil || rep.Sent != 6 {
		t.Fatalf("nobody replaying their own file (twice) from outside capture.root: %v\n%s", err, out)
	}
	if out, err := asNobody("replay", secret, "--port", "wb0"); err == nil || !strings.Contains(out, "capture root") {
		t.Fatalf("nobody replaying a file only root may read: %v\n%s", err, out)
	}
}
