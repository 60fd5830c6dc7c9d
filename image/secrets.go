package image

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/wirebox/wirebox/internal/selfsigned"
)

// Secrets are what the guest's TCP control API needs (the listener only
// runs with TLS and a bearer token) and what the host needs to talk to it.
// The CA key stays on the host; the server key goes into the image.
type Secrets struct {
	CAFile         string // CA certificate, for clients (--ca)
	CAKeyFile      string
	ServerCertFile string // signed by the CA; embedded in the image
	ServerKeyFile  string // embedded in the image
	TokenFile      string // bearer token, for clients (--token) and the guest
}

// SecretsIn names the secret files under dir (out/ by default).
func SecretsIn(dir string) Secrets {
	return Secrets{
		CAFile:         filepath.Join(dir, "api-ca.pem"),
		CAKeyFile:      filepath.Join(dir, "api-ca-key.pem"),
		ServerCertFile: filepath.Join(dir, "api-server.pem"),
		ServerKeyFile:  filepath.Join(dir, "api-server-key.pem"),
		TokenFile:      filepath.Join(dir, "api-token"),
	}
}

// Token reads the bearer token.
func (s Secrets) Token() (string, error) {
	b, err := os.ReadFile(s.TokenFile)
	if err != nil {
		return "", fmt.Errorf("api token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if len(t) < 32 {
		return "", fmt.Errorf("api token in %s is too short", s.TokenFile)
	}
	return t, nil
}

// EnsureSecrets reuses valid secrets under dir or creates a fresh self-signed
// CA, a server certificate for the names a guest is reached by (127.0.0.1
// through a forwarded port, localhost, wirebox, the QEMU guest address) and
// a random 256-bit token. Files holding keys or the token are mode 0600.
func EnsureSecrets(dir string, now time.Time) (Secrets, error) {
	s := SecretsIn(dir)
	if err := s.valid(now); err == nil {
		return s, nil
	}
	_, err := selfsigned.Ensure(s.files(), selfsigned.Options{
		CAName:     "wirebox image CA",
		DNSNames:   []string{"wirebox", "localhost"},
		IPs:        []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.IPv4(10, 0, 2, 15)},
		VerifyName: "127.0.0.1",
	}, now)
	if err != nil {
		return s, err
	}
	// New secrets get a new token too, as they always have.
	if err := os.Remove(s.TokenFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return s, err
	}
	if _, err := selfsigned.EnsureToken(s.TokenFile); err != nil {
		return s, err
	}
	return s, s.valid(now)
}

func (s Secrets) files() selfsigned.Files {
	return selfsigned.Files{CA: s.CAFile, CAKey: s.CAKeyFile, Cert: s.ServerCertFile, Key: s.ServerKeyFile}
}

// valid checks that the files exist, the server pair matches, chains to the
// CA and stays valid for at least a day, and that the token is usable.
func (s Secrets) valid(now time.Time) error {
	if err := s.files().Valid(now, "127.0.0.1"); err != nil {
		return err
	}
	_, err := s.Token()
	return err
}
