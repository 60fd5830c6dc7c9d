package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/testutil"
)

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestLoadFirstFallback: the stored config, else the last good, else the
// image's, else the built-in defaults; each invalid one is named with why.
func TestLoadFirstFallback(t *testing.T) {
	dir := t.TempDir()
	st := Store{Dir: dir}
	image := filepath.Join(dir, "image.yaml")
	cands := []Candidate{{st.Current(), "data partition"}, {st.LastGood(), "last good"}, {image, "image defaults"}}

	// Nothing stored: the image's, no complaint about absent files.
	write(t, image, "name: from-image\n")
	l := LoadFirst(cands)
	if l.Info.Source != "image defaults" || l.Cfg.Name != "from-image" || len(l.Info.Fallbacks) != 0 {
		t.Fatalf("nothing stored: %+v", l.Info)
	}
	// A good stored one wins.
	write(t, st.Current(), "name: stored\n")
	if l = LoadFirst(cands); l.Info.Source != "data partition" || l.Cfg.Name != "stored" {
		t.Fatalf("stored: %+v", l.Info)
	}
	// A broken stored one falls back to the last good and says why.
	write(t, st.Current(), "name: stored\nlog:\n  level: loud\n")
	write(t, st.LastGood(), "name: last-good\n")
	l = LoadFirst(cands)
	if l.Info.Source != "last good" || l.Cfg.Name != "last-good" || len(l.Info.Fallbacks) != 1 ||
		!strings.Contains(l.Info.Fallbacks[0], "log.level") || !strings.Contains(l.Info.Fallbacks[0], "data partition") {
		t.Fatalf("broken stored: %+v", l.Info)
	}
	// Everything broken: the built-in defaults, three reasons.
	write(t, st.LastGood(), "nme: typo\n")
	write(t, image, "pool: [\n")
	l = LoadFirst(cands)
	if l.Info.Source != BuiltinSource || l.Cfg.Name != "wirebox" || len(l.Info.Fallbacks) != 3 || l.YAML != nil {
		t.Fatalf("all broken: %+v", l.Info)
	}
}

func TestStoreSaveRotates(t *testing.T) {
	st := Store{Dir: filepath.Join(t.TempDir(), "wirebox")}
	for _, s := range []string{"name: one\n", "name: two\n", "name: three\n"} {
		if err := st.Save([]byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	cur, _ := os.ReadFile(st.Current())
	last, _ := os.ReadFile(st.LastGood())
	if string(cur) != "name: three\n" || string(last) != "name: two\n" {
		t.Errorf("current %q, last good %q", cur, last)
	}
	if err := (Store{}).Save([]byte("x")); err != nil {
		t.Errorf("no store: %v", err)
	}
}

func appliance(t *testing.T, cl *api.Client) api.Appliance {
	t.Helper()
	var a api.Appliance
	if err := cl.Get(context.Background(), api.PathAppliance, &a); err != nil {
		t.Fatal(err)
	}
	return a
}

// waitApply polls GET /v1/appliance (the API goes away while the services
// restart) until LastApply is set and the generation is at least gen.
func waitApply(t *testing.T, cl *api.Client, gen int, rolledBack bool) api.Appliance {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for {
		var a api.Appliance
		err := cl.Get(ctx, api.PathAppliance, &a)
		if err == nil && a.Config.LastApply != "" {
			if rolledBack && strings.HasPrefix(a.Config.LastApply, "rolled back") {
				return a
			}
			if !rolledBack && a.Config.Generation >= gen {
				return a
			}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no apply outcome: %+v, %v", a.Config, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func post(t *testing.T, cl *api.Client, doc string) error {
	t.Helper()
	return testutil.PostConfig(context.Background(), cl, doc)
}

// TestApplyStoreRollback drives POST /v1/config against Serve: a broken
// config is refused and nothing changes; a good one is applied and stored
// and survives a restart of the daemon on the same store; one that
// validates but cannot run (a port on a missing interface) is rolled back.
func TestApplyStoreRollback(t *testing.T) {
	dir := t.TempDir()
	socket := filepath.Join(dir, "run", "wirebox.sock")
	store := Store{Dir: filepath.Join(dir, "data")}
	image := filepath.Join(dir, "image.yaml")
	doc := func(name, extra string) string {
		return fmt.Sprintf("name: %s\napi:\n  socket: %s\n%s", name, socket, extra)
	}
	write(t, image, doc("first", ""))
	cands := []Candidate{{store.Current(), "data partition"}, {store.LastGood(), "last good"}, {image, "image defaults"}}
	serve := func(t *testing.T) *api.Client {
		l := LoadFirst(cands)
		return testutil.InProcess(t, socket, func(ctx context.Context) error {
			return Serve(ctx, l, ServeOptions{Options: Options{Logger: quietLog()}, Store: store, ApplyTimeout: 30 * time.Second})
		})
	}
	ctx := context.Background()

	t.Run("apply", func(t *testing.T) {
		cl := serve(t)
		if a := appliance(t, cl); a.Config.Source != "image defaults" || !a.Config.Persistent || a.Config.Generation != 0 {
			t.Fatalf("at start: %+v", a.Config)
		}
		// Broken: refused with the key, the running config unchanged, nothing stored.
		err := post(t, cl, doc("second", "log:\n  level: loud\n"))
		var he *api.HTTPError
		if !errors.As(err, &he) || he.Code != http.StatusBadRequest || !strings.Contains(he.Msg, "log.level") {
			t.Fatalf("broken config: %v, want 400 naming log.level", err)
		}
		if st, _ := cl.Status(ctx); st.Name != "first" {
			t.Fatalf("after a refused config the name is %q", st.Name)
		}
		if _, err := os.Stat(store.Current()); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a refused config was stored: %v", err)
		}
		// Good: applied and stored.
		if err := post(t, cl, doc("second", "")); err != nil {
			t.Fatal(err)
		}
		a := waitApply(t, cl, 1, false)
		if a.Config.LastApply != "applied" || a.Config.Source != "applied over the API" {
			t.Fatalf("apply: %+v", a.Config)
		}
		if st, err := cl.Status(ctx); err != nil || st.Name != "second" {
			t.Fatalf("after apply: %v %v", st, err)
		}
		if b, _ := os.ReadFile(store.Current()); string(b) != doc("second", "") {
			t.Fatalf("stored %q", b)
		}
		// Valid but cannot run: the remote API's certificate is missing.
		missing := filepath.Join(dir, "missing")
		if err := post(t, cl, doc("third", fmt.Sprintf("  listen: 127.0.0.1:0\n  tls_cert: %s.pem\n  tls_key: %s.key\n  token_file: %s.token\n", missing, missing, missing))); err != nil {
			t.Fatal(err)
		}
		a = waitApply(t, cl, 0, true)
		if !strings.Contains(a.Config.LastApply, "api-remote") || a.Config.Generation != 1 {
			t.Fatalf("rollback: %+v", a.Config)
		}
		// The previous configuration runs again (wait for it to answer).
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		st, err := cl.WaitReady(wctx)
		if err != nil || st.Name != "second" {
			t.Fatalf("after rollback: %v %v", st, err)
		}
		if b, _ := os.ReadFile(store.Current()); string(b) != doc("second", "") {
			t.Fatalf("a rolled back config was stored: %q", b)
		}
	})
	t.Run("restart keeps it", func(t *testing.T) {
		cl := serve(t)
		a := appliance(t, cl)
		if a.Config.Source != "data partition" {
			t.Fatalf("after restart: %+v", a.Config)
		}
		if st, _ := cl.Status(ctx); st.Name != "second" {
			t.Fatalf("after restart the name is %q", st.Name)
		}
	})
}
