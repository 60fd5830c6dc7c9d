package api_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/testutil"
)

const token = "0123456789abcdef-test-token"

// remote serves h on a TLS listener with the token, with short timeouts,
// and returns its address and the client TLS configuration.
func remote(t *testing.T, h http.Handler, o api.ServeOptions) (string, *tls.Config) {
	t.Helper()
	dir := t.TempDir()
	tf := testutil.WriteTLS(t, dir)
	tok := filepath.Join(dir, "token")
	if err := os.WriteFile(tok, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, h, err := api.ListenRemote(api.RemoteOptions{Addr: "127.0.0.1:0", CertFile: tf.Cert, KeyFile: tf.Key, TokenFile: tok}, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- api.ServeWith(ctx, l, h, slog.New(slog.DiscardHandler), o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	pem, err := os.ReadFile(tf.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return l.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// closedByServer reads from c until the server closes it (EOF or reset),
// failing if it is still open after a minute (the timeouts under test are
// far shorter).
func closedByServer(t *testing.T, c net.Conn, what string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	_, err := io.Copy(io.Discard, c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("%s: the server kept the connection open", what)
	}
}

// TestRemoteConnectionsAreBounded: a connection that sends nothing, one
// that failed authentication and an idle kept-alive one are closed by the
// daemon; connections over the per-source cap are closed at once; a long
// handler still runs to its end once the body is read.
func TestRemoteConnectionsAreBounded(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ok", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("POST /slow", func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case <-r.Context().Done():
			http.Error(w, "cancelled", http.StatusInternalServerError)
		case <-time.After(3 * time.Second): // well past the body timeout
			io.WriteString(w, "done")
		}
	})
	addr, tc := remote(t, mux, api.ServeOptions{
		ReadHeaderTimeout: time.Second, BodyTimeout: time.Second,
		IdleTimeout: time.Second, MaxConns: 16, MaxConnsPerSource: 3,
	})
	dial := func(t *testing.T, addr string, tc *tls.Config) *tls.Conn {
		t.Helper()
		c, err := tls.Dial("tcp", addr, tc)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	request := func(t *testing.T, c net.Conn, method, path, auth, body string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, "https://"+addr+path, strings.NewReader(body))
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		if err := req.Write(c); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		resp.Status = strings.TrimSpace(string(b))
		return resp
	}

	t.Run("silent", func(t *testing.T) {
		closedByServer(t, dial(t, addr, tc), "a connection that sent no request")
	})
	t.Run("failed auth", func(t *testing.T) {
		c := dial(t, addr, tc)
		resp := request(t, c, "GET", "/ok", "wrong-token-wrong-token", "")
		if resp.StatusCode != http.StatusUnauthorized || !resp.Close {
			t.Fatalf("wrong token: %d, close %v", resp.StatusCode, resp.Close)
		}
		closedByServer(t, c, "after a failed authentication")
	})
	t.Run("idle", func(t *testing.T) {
		c := dial(t, addr, tc)
		if resp := request(t, c, "GET", "/ok", token, ""); resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("good token: %d %q, close %v", resp.StatusCode, resp.Status, resp.Close)
		}
		closedByServer(t, c, "an idle kept-alive connection")
	})
	t.Run("long handler", func(t *testing.T) {
		c := dial(t, addr, tc)
		if resp := request(t, c, "POST", "/slow", token, `{"x":1}`); resp.StatusCode != http.StatusOK || resp.Status != "done" {
			t.Fatalf("a handler running past the body timeout: %d %q", resp.StatusCode, resp.Status)
		}
	})
	t.Run("per source", func(t *testing.T) {
		// Its own server, with timeouts that do not free the held
		// connections while the test counts them.
		addr, tc := remote(t, mux, api.ServeOptions{MaxConns: 16, MaxConnsPerSource: 3})
		var held []*tls.Conn
		for range 3 {
			c := dial(t, addr, tc)
			// A request proves the server took the connection.
			if resp := request(t, c, "GET", "/ok", token, ""); resp.StatusCode != http.StatusOK {
				t.Fatal(resp.Status)
			}
			held = append(held, c)
		}
		raw, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		closedByServer(t, raw, "a fourth connection from one source")
		for _, c := range held {
			c.Close()
		}
	})
}
