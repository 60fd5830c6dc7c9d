package selfsigned

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestEnsureAndFingerprint(t *testing.T) {
	dir := t.TempDir()
	f := Files{CA: filepath.Join(dir, "ca.pem"), CAKey: filepath.Join(dir, "ca-key.pem"),
		Cert: filepath.Join(dir, "srv.pem"), Key: filepath.Join(dir, "srv-key.pem")}
	created, err := Ensure(f, Options{CAName: "t", DNSNames: []string{"localhost"}, VerifyName: "localhost"}, time.Now())
	if err != nil || !created {
		t.Fatalf("first Ensure: %v %v", created, err)
	}
	fp, err := FileFingerprint(f.Cert)
	if err != nil || len(fp) != 95 || strings.ToUpper(fp) != fp {
		t.Fatalf("fingerprint %q %v", fp, err)
	}
	if created, err := Ensure(f, Options{CAName: "t", DNSNames: []string{"localhost"}, VerifyName: "localhost"}, time.Now()); err != nil || created {
		t.Errorf("valid files replaced: %v %v", created, err)
	}
	if fp2, _ := FileFingerprint(f.Cert); fp2 != fp {
		t.Error("certificate changed")
	}
	for _, s := range []string{fp, strings.ToLower(strings.ReplaceAll(fp, ":", "")), "sha256:" + fp} {
		b, err := ParseFingerprint(s)
		if err != nil || len(b) != sha256.Size {
			t.Errorf("ParseFingerprint(%q): %v", s, err)
		}
	}
	if _, err := ParseFingerprint("abcd"); err == nil {
		t.Error("short fingerprint accepted")
	}
	tok := filepath.Join(dir, "token")
	if c, err := EnsureToken(tok); err != nil || !c {
		t.Fatal(err)
	}
	st, _ := os.Stat(tok)
	if st.Mode().Perm() != 0o600 {
		t.Errorf("token mode %v", st.Mode().Perm())
	}
	if c, _ := EnsureToken(tok); c {
		t.Error("token replaced")
	}
}
