package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/leakcheck"
	"github.com/wirebox/wirebox/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Run(m)) }

func run(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = Main(context.Background(), args, &o, &e)
	return code, o.String(), e.String()
}

func TestConfigCheckExitCodes(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml", "name: lab-1\n")
	code, out, errOut := run(t, "config", "check", good)
	if code != 0 || !strings.Contains(out, "name: lab-1") || !strings.Contains(out, "socket: /run/wirebox/wirebox.sock") {
		t.Errorf("good file: code %d, out %q, err %q", code, out, errOut)
	}
	for _, tc := range []struct{ name, body, want string }{
		{"unknown.yaml", "name: a\napi:\n  sokcet: /x\n", "unknown.yaml:3: api.sokcet: unknown key"},
		{"type.yaml", "supervisor:\n  max_failures: many\n", "type.yaml:2: supervisor.max_failures: cannot unmarshal string: want int"},
		// A subsystem's section (from the daemon's table) is checked the same way.
		{"section.yaml", "name: a\ncapture:\n  root: rel\n", "section.yaml:3: capture.root: must be an absolute directory"},
		{"sectionkey.yaml", "capture:\n  rot: /x\n", "sectionkey.yaml:2: capture.rot: unknown key"},
		// Ten bytes that panicked inside the YAML library.
		{"tag.yaml", "ports: !x\n", "tag.yaml:1: ports: unknown YAML tag !x"},
		// Every error, each with its line; a bare number names its key.
		{"many.yaml", "supervisor:\n  backoff_base: 5\nbogus: 1\n", "many.yaml:2: supervisor.backoff_base: 5 is a bare number"},
		{"many2.yaml", "supervisor:\n  backoff_base: 5\nbogus: 1\n", "many2.yaml:3: bogus: unknown key"},
	} {
		p := write(tc.name, tc.body)
		code, _, errOut := run(t, "config", "check", p)
		if code != ExitConfig || !strings.Contains(errOut, tc.want) {
			t.Errorf("%s: code %d, stderr %q; want 2 and %q", tc.name, code, errOut, tc.want)
		}
	}
	// config default is the reference a user edits from: every section at
	// its defaults, each key commented, and it checks clean as it is.
	code, out, _ = run(t, "config", "default")
	for _, want := range []string{"\npool:\n", "  frames: 16384", "\nsupervisor:\n", "  max_failures: 5", "\nlog:\n",
		"\ncapture:\n", "  root: /var/lib/wirebox/captures\n", "  max_sessions: 64\n", "  # Capture sessions running at once"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("config default lacks %q: %d\n%s", want, code, out)
		}
	}
	def := filepath.Join(dir, "default.yaml")
	if err := os.WriteFile(def, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "config", "check", def); code != 0 {
		t.Errorf("config check of config default's output: %d %s", code, errOut)
	}
	if code, _, errOut := run(t, "config", "check", filepath.Join(dir, "missing.yaml")); code != ExitConfig {
		t.Errorf("missing file: code %d %q", code, errOut)
	}
	if code, _, _ := run(t, "no-such-command"); code != ExitConfig {
		t.Errorf("unknown command: code %d", code)
	}
}

func TestVersionHelpCompletion(t *testing.T) {
	code, out, _ := run(t, "version")
	if code != 0 || !strings.HasPrefix(out, "wirebox ") {
		t.Errorf("version: %d %q", code, out)
	}
	// --version says the same as the version command.
	if code2, out2, _ := run(t, "--version"); code2 != 0 || out2 != out {
		t.Errorf("--version: %d %q, want %q", code2, out2, out)
	}
	for _, args := range [][]string{{"--help"}, {"status", "--help"}, {"logs", "--help"}, {"config", "check", "--help"}, {"daemon", "--help"}} {
		if code, out, _ := run(t, args...); code != 0 || !strings.Contains(out, "Usage:") {
			t.Errorf("%v: %d %q", args, code, out)
		}
	}
	code, out, _ = run(t, "completion", "bash")
	if code != 0 || !strings.Contains(out, "__start_wirebox") {
		t.Errorf("completion bash: %d, %d bytes", code, len(out))
	}
}

// TestDaemonEndToEnd runs the real binary: daemon, status --json, curl on
// the socket, logs, restart, and an orderly SIGTERM.
func TestDaemonEndToEnd(t *testing.T) {
	bin := testutil.Wirebox(t)
	dir := t.TempDir()
	sock := filepath.Join(dir, "w.sock")
	cfgPath := filepath.Join(dir, "w.yaml")
	if err := os.WriteFile(cfgPath, []byte("name: e2e\napi:\n  socket: /nonexistent/ignored.sock\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := exec.Command(bin, "daemon", "--config", cfgPath, "--socket", sock)
	var dlog bytes.Buffer
	d.Stderr = &dlog
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- d.Wait() }()
	t.Cleanup(func() {
		if d.ProcessState == nil {
			d.Process.Kill()
			<-exited
		}
	})

	cl := api.NewUnixClient(sock)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := cl.WaitReady(ctx); err != nil {
		t.Fatalf("%v\ndaemon log:\n%s", err, dlog.String())
	}

	out, err := exec.Command(bin, "status", "--json", "--socket", sock).Output()
	if err != nil {
		t.Fatalf("status --json: %v", err)
	}
	var fromCLI api.Status
	if err := json.Unmarshal(out, &fromCLI); err != nil {
		t.Fatalf("status --json is not JSON: %v\n%s", err, out)
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal("curl is needed for this test (apt-get install curl)")
	}
	out, err = exec.Command(curl, "-sS", "--unix-socket", sock, "http://x"+api.PathStatus).Output()
	if err != nil {
		t.Fatalf("curl: %v", err)
	}
	var fromCurl api.Status
	if err := json.Unmarshal(out, &fromCurl); err != nil {
		t.Fatalf("curl output is not JSON: %v\n%s", err, out)
	}
	if fromCLI.Name != "e2e" || fromCurl.Name != "e2e" || len(fromCLI.Services) != len(fromCurl.Services) || len(fromCLI.Services) == 0 {
		t.Fatalf("CLI %+v\ncurl %+v", fromCLI, fromCurl)
	}
	for i := range fromCLI.Services {
		a, b := fromCLI.Services[i], fromCurl.Services[i]
		if a.Name != b.Name || a.State != b.State || a.Restarts != b.Restarts || a.LastError != b.LastError {
			t.Errorf("service %d differs: CLI %+v, curl %+v", i, a, b)
		}
	}
	out, err = exec.Command(curl, "-sS", "--unix-socket", sock, "http://x"+api.PathMetrics).Output()
	if err != nil || !strings.Contains(string(out), `wirebox_service_up{service="api"} 1`) || !strings.Contains(string(out), `wirebox_service_restarts_total{service="api"} 0`) {
		t.Errorf("metrics: %v\n%.2000s", err, out)
	}
	out, err = exec.Command(bin, "status", "--socket", sock).Output()
	if err != nil || !strings.Contains(string(out), "api") || !strings.Contains(string(out), "running") {
		t.Errorf("status table: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "logs", "api", "--socket", sock).Output()
	if err != nil || !strings.Contains(string(out), "control API listening") {
		t.Errorf("logs: %v\n%s", err, out)
	}
	if out, err := exec.Command(bin, "restart", "api", "--socket", sock).CombinedOutput(); err != nil {
		t.Errorf("restart: %v %s", err, out)
	}

	if err := d.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("daemon exit after SIGTERM: %v\n%s", err, dlog.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("daemon did not stop on SIGTERM\n%s", dlog.String())
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Errorf("socket still present after stop: %v", err)
	}
	if _, err := os.Stat("/nonexistent/ignored.sock"); err == nil {
		t.Error("--socket did not override the configured socket")
	}
	// With the daemon gone, a client says so plainly.
	out, err = exec.Command(bin, "status", "--socket", sock).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "cannot reach the wirebox daemon") {
		t.Errorf("status without daemon: %v %s", err, out)
	}
}

// TestErrorsForUsers: API errors reach the user without "(HTTP 400)", and a
// socket the user may not open says what to do about it.
func TestErrorsForUsers(t *testing.T) {
	he := &api.HTTPError{Code: 400, Msg: "no port \"x\" on this appliance; its ports: wb0"}
	if got := userMessage(fmt.Errorf("capture start: %w", he)); got != "capture start: "+he.Msg {
		t.Errorf("userMessage = %q", got)
	}
	// A directory nobody can enter, with a copy of the binary and a socket
	// only root may open, as a user outside the socket's group finds it.
	dir, err := os.MkdirTemp("", "wirebox-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "wirebox")
	b, err := os.ReadFile(testutil.Wirebox(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if err := os.Chmod(sock, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--socket", sock, "status")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "permission denied") || !strings.Contains(string(out), "api.socket_group") || !strings.Contains(string(out), "sudo") {
		t.Errorf("permission denied without a hint: %v\n%s", err, out)
	}
}
