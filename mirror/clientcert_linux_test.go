package mirror

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// clientPKI writes a CA and client certificates it signs (by common name).
func clientPKI(t *testing.T, dir string, cns ...string) (caFile string, certs map[string][2]string) {
	t.Helper()
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "lab clients"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	caFile = write("client-ca.pem", "CERTIFICATE", caDER)
	certs = map[string][2]string{}
	for i, cn := range cns {
		k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(int64(i + 2)), Subject: pkix.Name{CommonName: cn},
			NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kd, _ := x509.MarshalECPrivateKey(k)
		certs[cn] = [2]string{write(cn+".pem", "CERTIFICATE", der), write(cn+"-key.pem", "EC PRIVATE KEY", kd)}
	}
	return caFile, certs
}

// A client certificate signed by the configured client CA authenticates
// instead of a token, limited like a token; a foreign one is refused.
func TestClientCertificate(t *testing.T) {
	dir := t.TempDir()
	caFile, certs := clientPKI(t, dir, "ci-runner", "lab1-bot")
	_, foreign := clientPKI(t, t.TempDir(), "intruder")
	l := newLab(t, func(c *Config) {
		c.ClientCA = caFile
		c.Access = []Access{{Name: "bot", ClientCN: "lab1-bot", Ports: []string{"mq0"}}}
	})
	base := []string{"-server", l.addr(), "-ca", l.ca(), "-port", "mp0", "-as", "mir0"}
	out := l.attachFails(t, append(base, "-cert", certs["lab1-bot"][0], "-key", certs["lab1-bot"][1])...)
	if !strings.Contains(out, "port not allowed") || !strings.Contains(out, "credential bot") {
		t.Errorf("restricted certificate:\n%s", out)
	}
	out = l.attachFails(t, append(base, "-cert", foreign["intruder"][0], "-key", foreign["intruder"][1])...)
	if !strings.Contains(out, "certificate") {
		t.Errorf("foreign certificate:\n%s", out)
	}
	c := l.attach(t, append(base, "-cert", certs["ci-runner"][0], "-key", certs["ci-runner"][1])...)
	c.WaitLine(t, "attach with a client certificate", "connected=true")
	ss := l.svc.Sessions()
	if len(ss) != 1 || ss[0].Identity != "cert:ci-runner" || ss[0].Port != "mp0" {
		t.Errorf("sessions %+v", ss)
	}
}
