package image

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestEnsureSecrets(t *testing.T) {
	dir := t.TempDir()
	now := time.Now()
	s, err := EnsureSecrets(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := s.Token()
	if err != nil || len(tok) != 64 {
		t.Fatalf("token %q, %v; want 64 hex characters", tok, err)
	}
	for _, f := range []string{s.CAKeyFile, s.ServerKeyFile, s.TokenFile} {
		st, err := os.Stat(f)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", f, st.Mode().Perm(), err)
		}
	}

	// A real TLS handshake on loopback: the server's pair, verified by a
	// client trusting only the CA, for the address the host uses.
	pair, err := tls.LoadX509KeyPair(s.ServerCertFile, s.ServerKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.(*tls.Conn).Handshake()
			c.Close()
		}
	}()
	pem, _ := os.ReadFile(s.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: pool})
	if err != nil {
		t.Fatalf("TLS to 127.0.0.1 with the image CA: %v", err)
	}
	c.Close()
	if _, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: x509.NewCertPool()}); err == nil {
		t.Error("handshake succeeded without trusting the CA")
	}

	// Reused while valid: same token, same CA.
	s2, err := EnsureSecrets(dir, now)
	if err != nil {
		t.Fatal(err)
	}
	tok2, _ := s2.Token()
	if tok2 != tok {
		t.Error("EnsureSecrets replaced valid secrets")
	}
	// Replaced when about to expire or broken.
	if _, err := EnsureSecrets(dir, now.AddDate(6, 0, 0)); err != nil {
		t.Fatal(err)
	}
	if tok3, _ := s2.Token(); tok3 == tok {
		t.Error("EnsureSecrets kept a certificate that expires within a day")
	}
	os.WriteFile(s.TokenFile, []byte("short\n"), 0o600)
	if _, err := s.Token(); err == nil {
		t.Error("Token accepted a short token")
	}
}

func TestNeedTools(t *testing.T) {
	err := NeedTools(Tool{"definitely-not-a-tool-wirebox", "wirebox-pkg-a"}, ToolGo, Tool{"/nonexistent/file", "wirebox-pkg-b"})
	if !errors.Is(err, ErrMissingTool) {
		t.Fatalf("NeedTools = %v, want ErrMissingTool", err)
	}
	if !strings.Contains(err.Error(), "apt-get install -y wirebox-pkg-a wirebox-pkg-b") {
		t.Errorf("error does not name the packages: %v", err)
	}
	if err := NeedTools(ToolGo); err != nil {
		t.Errorf("NeedTools(go) = %v", err)
	}
}
