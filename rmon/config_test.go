package rmon

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/internal/testutil"
	"github.com/wirebox/wirebox/services"
	"github.com/wirebox/wirebox/services/servicestest"
)

func TestConfigValidate(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("from-a-file\n"), 0o600)
	good := Config{Listen: "127.0.0.1:1161", Communities: []CommunityConfig{{Name: "c", Sources: []string{"10.0.0.0/8", "192.0.2.1"}}},
		Users: []UserConfig{{Name: "u", Auth: "SHA-512", AuthKeyFile: keyFile, Priv: "aes256", PrivKey: "12345678"}}}
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	var zero Config
	if err := zero.Validate(); err != nil || zero.Enabled() {
		t.Errorf("zero config: %v, enabled %v", err, zero.Enabled())
	}
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Listen: "nonsense"}, "listen"},
		{Config{Communities: []CommunityConfig{{Name: ""}}}, "empty name"},
		{Config{Communities: []CommunityConfig{{Name: "a"}, {Name: "a"}}}, "duplicate"},
		{Config{Communities: []CommunityConfig{{Name: "a", Sources: []string{"x"}}}}, "sources"},
		{Config{Communities: []CommunityConfig{{Name: "a", Read: []string{"1.x"}}}}, "read"},
		{Config{Users: []UserConfig{{Name: "u", Auth: "md5", AuthKey: "12345678"}}}, "auth"},
		{Config{Users: []UserConfig{{Name: "u", Auth: "sha", AuthKey: "short"}}}, "8 characters"},
		{Config{Users: []UserConfig{{Name: "u", Priv: "aes", PrivKey: "12345678"}}}, "needs auth"},
		{Config{Users: []UserConfig{{Name: "u", Auth: "sha", AuthKey: "12345678", Priv: "des", PrivKey: "12345678"}}}, "priv"},
		{Config{Users: []UserConfig{{Name: "u", Auth: "sha", AuthKeyFile: "/nonexistent"}}}, "auth_key_file"},
		{Config{EngineID: "zz"}, "engine_id"},
		{Config{Traps: []TrapTarget{{Address: "x"}}}, "traps"},
		{Config{V1MaxMessageSize: 100}, "v1_max_message_size"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.cfg, err, c.want)
		}
	}
}

func TestEngineState(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "engine.json")
	id1, b1, err := loadEngine(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	id2, b2, err := loadEngine(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if string(id1) != string(id2) || b1 != 1 || b2 != 2 {
		t.Errorf("restart: %x/%d then %x/%d", id1, b1, id2, b2)
	}
	other := []byte{0x80, 0, 0, 0, 4, 'x', 'y'}
	id3, b3, err := loadEngine(path, other)
	if err != nil || string(id3) != string(other) || b3 != 1 {
		t.Errorf("override: %x/%d %v", id3, b3, err)
	}
}

// TestDisabled: with no listen address the service runs idle, binds
// nothing and the API says it is not running.
func TestDisabled(t *testing.T) {
	svc, err := New(Config{}, func() *capture.Core { return nil }, nil)
	if err != nil {
		t.Fatal(err)
	}
	if svc.Name() != "rmon" || len(svc.Deps()) != 1 || svc.Deps()[0] != "core" {
		t.Errorf("name %q deps %v", svc.Name(), svc.Deps())
	}
	sup := servicestest.Supervise(t, services.Options{}, servicestest.Steady("core"), svc)
	testutil.Eventually(t, "the rmon service running", func() error {
		if st := sup.Status(); len(st) != 2 || st[1].State != services.StateRunning {
			return fmt.Errorf("status %+v", st)
		}
		return nil
	})
	if svc.Addr() != nil {
		t.Errorf("disabled service bound %v", svc.Addr())
	}
	mux := http.NewServeMux()
	svc.Routes(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/rmon", nil))
	if rec.Code != http.StatusServiceUnavailable {
		t.Errorf("GET /v1/rmon: %d %s", rec.Code, rec.Body)
	}
}
