package daemon

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/internal/testutil"
)

// TestDaemonWithoutAPIExits: a second daemon on a socket another daemon
// serves cannot start its API; after the supervisor's retries it exits
// non-zero with the reason, instead of running on unreachable.
func TestDaemonWithoutAPIExits(t *testing.T) {
	cfg := testConfig(t)
	cfg.Supervisor.BackoffBase = config.Duration(time.Millisecond)
	cfg.Supervisor.BackoffMax = config.Duration(10 * time.Millisecond)
	first := testutil.StartDaemon(t, cfg)
	cmd := exec.Command(first.Bin, "daemon", "--config", first.ConfigFile)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() == 0 {
			t.Fatalf("second daemon: %v, want a non-zero exit\n%s", err, out.String())
		}
		if s := out.String(); !strings.Contains(s, `essential service "api"`) || !strings.Contains(s, "already serving") {
			t.Fatalf("second daemon's output does not give the reason:\n%s", s)
		}
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("the second daemon runs on without its API:\n%s", out.String())
	}
	// The first one is untouched.
	if _, err := first.Client.Status(t.Context()); err != nil {
		t.Fatalf("first daemon: %v", err)
	}
}

// TestSocketGroup: api.socket_group gives the socket to a group, so its
// members can use the API without root; an unknown group is a config error.
func TestSocketGroup(t *testing.T) {
	cfg := testConfig(t)
	cfg.API.SocketGroup = "4242"
	testutil.StartDaemon(t, cfg)
	fi, err := os.Stat(cfg.API.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if gid := fi.Sys().(*syscall.Stat_t).Gid; gid != 4242 || fi.Mode().Perm() != 0o660 {
		t.Fatalf("socket group %d mode %v, want 4242 and 0660", gid, fi.Mode().Perm())
	}
	// An unknown group is found when the daemon starts (a file is checked
	// on machines without the group), naming the key.
	bad := testConfig(t)
	bad.API.SocketGroup = "no-such-group-wb"
	if _, err := New(bad, Options{}); err == nil || !strings.Contains(err.Error(), "api.socket_group") {
		t.Fatalf("unknown group: %v", err)
	}
	if _, err := config.Parse([]byte("api:\n  socket_group: \"a b\"\n")); err == nil || !strings.Contains(err.Error(), "api.socket_group") {
		t.Fatalf("a group with a space: %v", err)
	}
}
