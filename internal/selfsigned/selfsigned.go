// Package selfsigned makes and checks the TLS material a wirebox remote
// surface needs when nobody provided any: a per-appliance ECDSA P-256 CA, a
// server certificate it signs, and a random bearer token. The remote API
// image secrets and the mirror service both use it, so the files look the
// same and survive restarts the same way.
package selfsigned

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
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

// Files names the PEM files of a CA and a server certificate it signed.
type Files struct {
	CA, CAKey, Cert, Key string
}

// Options say what the generated certificates are for.
type Options struct {
	CAName   string   // CA common name
	DNSNames []string // server certificate names
	IPs      []net.IP // server certificate addresses
	// VerifyName, if set, must be a name the server certificate is valid
	// for; existing files that fail this are replaced.
	VerifyName string
}

// Ensure keeps valid existing files or writes a fresh CA and server
// certificate (five years). Key files are mode 0600. It reports whether it
// created them.
func Ensure(f Files, o Options, now time.Time) (bool, error) {
	if err := f.Valid(now, o.VerifyName); err == nil {
		return false, nil
	}
	for _, p := range []string{f.CA, f.CAKey, f.Cert, f.Key} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return false, err
		}
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return false, err
	}
	ca := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: o.CAName},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(5, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		return false, fmt.Errorf("create CA: %w", err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return false, err
	}
	srv := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "wirebox"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     o.DNSNames,
		IPAddresses:  o.IPs,
	}
	srvDER, err := x509.CreateCertificate(rand.Reader, srv, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		return false, fmt.Errorf("create server certificate: %w", err)
	}
	caKeyDER, _ := x509.MarshalPKCS8PrivateKey(caKey)
	srvKeyDER, _ := x509.MarshalPKCS8PrivateKey(srvKey)
	for _, w := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{f.CA, pemBlock("CERTIFICATE", caDER), 0o644},
		{f.CAKey, pemBlock("PRIVATE KEY", caKeyDER), 0o600},
		{f.Cert, pemBlock("CERTIFICATE", srvDER), 0o644},
		{f.Key, pemBlock("PRIVATE KEY", srvKeyDER), 0o600},
	} {
		if err := os.WriteFile(w.path, w.data, w.mode); err != nil {
			return false, err
		}
	}
	return true, f.Valid(now, o.VerifyName)
}

// Valid checks that the files exist, the server pair matches, chains to the
// CA, is valid for name (if set) and stays valid for at least a day.
func (f Files) Valid(now time.Time, name string) error {
	pair, err := tls.LoadX509KeyPair(f.Cert, f.Key)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(f.CA)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("no CA certificate in " + f.CA)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return err
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: name, CurrentTime: now.Add(24 * time.Hour)}); err != nil {
		return fmt.Errorf("server certificate: %w", err)
	}
	_, err = os.Stat(f.CAKey)
	return err
}

// TokenMinLen is the shortest token ReadToken accepts.
const TokenMinLen = 32

// EnsureToken keeps a valid token file or writes a random 256-bit one
// (hex, mode 0600). It reports whether it created it.
func EnsureToken(path string) (bool, error) {
	if _, err := ReadToken(path); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return false, err
	}
	tok := make([]byte, 32)
	if _, err := rand.Read(tok); err != nil {
		return false, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(tok)+"\n"), 0o600); err != nil {
		return false, err
	}
	return true, nil
}

// ReadToken reads a token file (surrounding white space ignored).
func ReadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if len(t) < TokenMinLen {
		return "", fmt.Errorf("token in %s is too short", path)
	}
	return t, nil
}

// Fingerprint is the SHA-256 of a certificate's DER bytes as colon
// separated upper-case hex, the form openssl x509 -fingerprint prints.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	var b strings.Builder
	for i := 0; i < len(h); i += 2 {
		if i > 0 {
			b.WriteByte(':')
		}
		b.WriteString(h[i : i+2])
	}
	return b.String()
}

// FileFingerprint is the Fingerprint of the first certificate in a PEM file.
func FileFingerprint(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	blk, _ := pem.Decode(b)
	if blk == nil || blk.Type != "CERTIFICATE" {
		return "", fmt.Errorf("%s: no PEM certificate", path)
	}
	return Fingerprint(blk.Bytes), nil
}

// ParseFingerprint accepts a SHA-256 fingerprint as hex with or without
// colons (any case, optional "sha256:" prefix) and returns the 32 bytes.
func ParseFingerprint(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	s = strings.TrimPrefix(strings.TrimPrefix(s, "sha256:"), "SHA256:")
	s = strings.ReplaceAll(s, ":", "")
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return nil, fmt.Errorf("fingerprint %q: want 64 hex digits (SHA-256)", s)
	}
	return b, nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	return n
}

// IssueClient writes a client certificate (five years) and its key, signed
// by the CA of f (its CA and CAKey files), for name: how an appliance's
// CA vouches for a peer that dials it (a dRMON agent).
func IssueClient(f Files, name, certPath, keyPath string, now time.Time) error {
	ca, err := tls.LoadX509KeyPair(f.CA, f.CAKey)
	if err != nil {
		return fmt.Errorf("CA: %w", err)
	}
	caCert, err := x509.ParseCertificate(ca.Certificate[0])
	if err != nil {
		return err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(5, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &key.PublicKey, ca.PrivateKey)
	if err != nil {
		return fmt.Errorf("create client certificate: %w", err)
	}
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.WriteFile(keyPath, pemBlock("PRIVATE KEY", keyDER), 0o600); err != nil {
		return err
	}
	return os.WriteFile(certPath, pemBlock("CERTIFICATE", der), 0o644)
}
