package image

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
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
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return s, err
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return s, err
	}
	ca := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "wirebox image CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return s, fmt.Errorf("create CA: %w", err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return s, err
	}
	srv := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "wirebox"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"wirebox", "localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, net.IPv4(10, 0, 2, 15)},
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return s, fmt.Errorf("create server certificate: %w", err)
	}
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		return s, err
	}
	caKeyDER, _ := x509.MarshalPKCS8PrivateKey(caKey)
	srvKeyDER, _ := x509.MarshalPKCS8PrivateKey(srvKey)
	for _, f := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{s.CAFile, pemBlock("CERTIFICATE", caDER), 0o644},
		{s.CAKeyFile, pemBlock("PRIVATE KEY", caKeyDER), 0o600},
		{s.ServerCertFile, pemBlock("CERTIFICATE", srvDER), 0o644},
		{s.ServerKeyFile, pemBlock("PRIVATE KEY", srvKeyDER), 0o600},
		{s.TokenFile, []byte(hex.EncodeToString(tok) + "\n"), 0o600},
	} {
		if err := os.WriteFile(f.path, f.data, f.mode); err != nil {
			return s, err
		}
	}
	return s, s.valid(now)
}

// valid checks that the files exist, the server pair matches, chains to the
// CA and stays valid for at least a day.
func (s Secrets) valid(now time.Time) error {
	pair, err := tls.LoadX509KeyPair(s.ServerCertFile, s.ServerKeyFile)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(s.CAFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("no CA certificate in " + s.CAFile)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return err
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "127.0.0.1", CurrentTime: now.Add(24 * time.Hour)}); err != nil {
		return fmt.Errorf("server certificate: %w", err)
	}
	if _, err := os.Stat(s.CAKeyFile); err != nil {
		return err
	}
	_, err = s.Token()
	return err
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}
