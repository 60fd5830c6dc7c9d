package daemon

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/internal/leakcheck"
	"github.com/wirebox/wirebox/internal/testutil"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Run(m)) }

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runDaemon starts a daemon on cfg until the test ends and returns a client of its socket.
func runDaemon(t *testing.T, cfg *config.Config) (*Daemon, *api.Client) {
	t.Helper()
	d, err := New(cfg, Options{Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	return d, testutil.InProcess(t, cfg.API.Socket, d.Run)
}

func testConfig(t *testing.T) *config.Config {
	cfg := config.Default()
	cfg.API.Socket = filepath.Join(t.TempDir(), "run", "wirebox.sock")
	return cfg
}

func TestStatusMetricsLogsRestart(t *testing.T) {
	cfg := testConfig(t)
	cfg.Name = "bench-7"
	_, cl := runDaemon(t, cfg)
	ctx := context.Background()

	fi, err := os.Stat(cfg.API.Socket)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o660 {
		t.Errorf("socket mode = %v, want 0660", fi.Mode().Perm())
	}

	st, err := cl.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Name != "bench-7" || len(st.Services) != 1 || st.Services[0].Name != "api" || st.Services[0].State != api.StateRunning {
		t.Fatalf("status = %+v", st)
	}

	m, err := cl.Text(ctx, api.PathMetrics)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`wirebox_service_up{service="api"} 1`, `wirebox_service_restarts_total{service="api"} 0`, "go_goroutines"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	logs, err := cl.Logs(ctx, "api", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs.Entries) == 0 || logs.Entries[0].Msg != "control API listening" || logs.Entries[0].Attrs["addr"] != cfg.API.Socket {
		t.Errorf("api logs = %+v", logs.Entries)
	}

	// Follow the log while restarting the API service itself: the stream is
	// cut when the service stops, and the new run logs again.
	if err := cl.Restart(ctx, "api"); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	for {
		st, err := cl.Status(wctx)
		if err == nil && st.Services[0].Restarts == 1 && st.Services[0].State == api.StateRunning {
			break
		}
		if wctx.Err() != nil {
			t.Fatalf("api did not come back after restart: %v %+v", err, st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := cl.Restart(ctx, "nope"); !api.IsNotFound(err) {
		t.Errorf("restart of unknown service: %v, want 404", err)
	}
	if _, err := cl.Logs(ctx, "nope", 0); !api.IsNotFound(err) {
		t.Errorf("logs of unknown service: %v, want 404", err)
	}
	cfgText, err := cl.Text(ctx, api.PathConfig)
	if err != nil || !strings.Contains(cfgText, "name: bench-7") {
		t.Errorf("/v1/config = %q, %v", cfgText, err)
	}
}

func TestFollowLogsStreamsNewRecords(t *testing.T) {
	cfg := testConfig(t)
	d, cl := runDaemon(t, cfg)
	ring, err := d.Supervisor().Logs("api")
	if err != nil {
		t.Fatal(err)
	}
	_, _, next := ring.Since(0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	got := make(chan api.LogEntry, 10)
	done := make(chan error, 1)
	go func() {
		done <- cl.FollowLogs(ctx, "api", next, func(e api.LogEntry) error {
			got <- e
			return errors.New("enough")
		})
	}()
	// A refused restart is logged into the api ring; make one.
	if err := cl.Restart(context.Background(), "nope"); !api.IsNotFound(err) {
		t.Fatal(err)
	}
	select {
	case e := <-got:
		if e.Msg != "restart refused" || e.Attrs["target"] != "nope" {
			t.Errorf("followed %+v", e)
		}
		if e.Seq != next {
			t.Errorf("first followed record seq = %d, want %d", e.Seq, next)
		}
	case <-ctx.Done():
		t.Fatal("no record followed")
	}
	if err := <-done; err == nil || err.Error() != "enough" {
		t.Errorf("FollowLogs = %v", err)
	}
}

func TestRemoteAPIRequiresTLSAndToken(t *testing.T) {
	dir := t.TempDir()
	tf := testutil.WriteTLS(t, dir)
	tokenFile := filepath.Join(dir, "token")
	token := "s3cret-token-0123456789"
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.API.Listen = "127.0.0.1:0"
	cfg.API.TLSCert, cfg.API.TLSKey, cfg.API.TokenFile = tf.Cert, tf.Key, tokenFile

	// Port 0 cannot be told to the client, so learn it from the listener's log.
	d, cl := runDaemon(t, cfg)
	var addr string
	testutil.Eventually(t, "the remote listener", func() error {
		ring, _ := d.Supervisor().Logs("api-remote")
		entries, _, _ := ring.Since(0)
		for _, e := range entries {
			if e.Msg == "control API listening" {
				addr = e.Attrs["addr"]
				return nil
			}
		}
		st, _ := cl.Status(context.Background())
		return fmt.Errorf("not listening; status %+v", st)
	})
	ctx := context.Background()
	rc, err := api.NewRemoteClient("https://"+addr, token, api.ClientTLS{CAFile: tf.CA})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	st, err := rc.Status(ctx)
	if err != nil {
		t.Fatalf("remote status with token: %v", err)
	}
	if len(st.Services) != 2 {
		t.Errorf("services = %+v", st.Services)
	}

	bad, _ := api.NewRemoteClient("https://"+addr, "wrong-token-0123456789", api.ClientTLS{CAFile: tf.CA})
	defer bad.Close()
	var he *api.HTTPError
	if _, err := bad.Status(ctx); !errors.As(err, &he) || he.Code != http.StatusUnauthorized {
		t.Errorf("wrong token: %v, want 401", err)
	}
	// Plain HTTP on the TLS port gets nowhere.
	resp, err := http.Get("http://" + addr + api.PathStatus)
	if err == nil {
		b := bufio.NewReader(resp.Body)
		line, _ := b.ReadString('\n')
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP got 200: %q", line)
		}
	}
	// An unknown CA is refused by the client.
	other := testutil.WriteTLS(t, t.TempDir())
	wrongCA, _ := api.NewRemoteClient("https://"+addr, token, api.ClientTLS{CAFile: other.CA})
	defer wrongCA.Close()
	if _, err := wrongCA.Status(ctx); err == nil {
		t.Error("client trusted a certificate from another CA")
	}
}

func TestRemoteWithoutAuthRefuses(t *testing.T) {
	if _, _, err := api.ListenRemote(api.RemoteOptions{Addr: "127.0.0.1:0"}, http.NotFoundHandler()); !errors.Is(err, api.ErrRemoteNeedsAuth) {
		t.Errorf("ListenRemote without TLS/token = %v", err)
	}
	dir := t.TempDir()
	tf := testutil.WriteTLS(t, dir)
	short := filepath.Join(dir, "short")
	os.WriteFile(short, []byte("abc"), 0o600)
	if _, _, err := api.ListenRemote(api.RemoteOptions{Addr: "127.0.0.1:0", CertFile: tf.Cert, KeyFile: tf.Key, TokenFile: short}, http.NotFoundHandler()); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("short token: %v", err)
	}
}

func TestSecondDaemonOnSameSocketRefuses(t *testing.T) {
	cfg := testConfig(t)
	runDaemon(t, cfg)
	if _, err := api.ListenUnix(cfg.API.Socket, 0o660, -1); err == nil || !strings.Contains(err.Error(), "already serving") {
		t.Errorf("second listener: %v", err)
	}
}

func TestRemovedSocketIsRestoredByHealthProbe(t *testing.T) {
	cfg := testConfig(t)
	cfg.Supervisor.HealthInterval = config.Duration(20 * time.Millisecond)
	cfg.Supervisor.BackoffBase = config.Duration(time.Millisecond)
	_, cl := runDaemon(t, cfg)
	if err := os.Remove(cfg.API.Socket); err != nil {
		t.Fatal(err)
	}
	cl.Close() // drop the kept-alive connection to the old socket
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := cl.WaitReady(ctx)
	if err != nil {
		t.Fatalf("API never came back after its socket was removed: %v", err)
	}
	if st.Services[0].Restarts < 1 || !strings.Contains(st.Services[0].LastError, "health probe failed") {
		t.Errorf("api after socket removal: %+v", st.Services[0])
	}
}

func TestRemoteHealthProbeHandshakes(t *testing.T) {
	dir := t.TempDir()
	tf := testutil.WriteTLS(t, dir)
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("0123456789abcdef0123"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t)
	cfg.API.Listen = "127.0.0.1:0"
	cfg.API.TLSCert, cfg.API.TLSKey, cfg.API.TokenFile = tf.Cert, tf.Key, tokenFile
	cfg.Supervisor.HealthInterval = config.Duration(10 * time.Millisecond)
	d, cl := runDaemon(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		st, err := cl.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if st.Services[1].Name == "api-remote" && st.Services[1].Health == "ok" {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("remote API never probed healthy: %+v", st.Services)
		}
		time.Sleep(10 * time.Millisecond)
	}
	ring, _ := d.Supervisor().Logs("api-remote")
	entries, _, _ := ring.Since(0)
	for _, e := range entries {
		if strings.Contains(e.Msg, "handshake error") {
			t.Errorf("health probe caused %q", e.Msg)
		}
	}
}
