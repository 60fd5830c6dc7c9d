package daemon

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/testutil"
)

// TestApplyRestartsOnlyWhatChanged runs Serve with a port (a veth in a test
// namespace), so the core, capture and mirror services run, and applies
// configurations over the API: a new name restarts nothing; a changed
// mirror section restarts the mirror service only (the core, capture and
// the APIs keep running, restart counts unchanged); a changed pool
// restarts every service; a mirror section that cannot run is rolled back
// in place, the old mirror running again.
func TestApplyRestartsOnlyWhatChanged(t *testing.T) {
	p := netns.Pair(t)
	dir := t.TempDir()
	socket := filepath.Join(dir, "run", "wirebox.sock")
	doc := func(name string, frames int, mirror string) string {
		return fmt.Sprintf("name: %s\napi:\n  socket: %s\npool:\n  frames: %d\nports:\n  - name: %s\n    mode: passive\n    netns: %s\n    ring_blocks: 2\nmirror:\n%s",
			name, socket, frames, p.NearLink.Name, p.Near.Path, mirror)
	}
	stateA := "  state_dir: " + filepath.Join(dir, "mirror-a") + "\n"
	stateB := "  state_dir: " + filepath.Join(dir, "mirror-b") + "\n"
	first, err := ParseConfig([]byte(doc("first", 4096, stateA)))
	if err != nil {
		t.Fatal(err)
	}
	cl := testutil.InProcess(t, socket, func(ctx context.Context) error {
		return Serve(ctx, Loaded{Cfg: first, YAML: []byte(doc("first", 4096, stateA)), Info: api.ConfigInfo{Source: "test"}},
			ServeOptions{Options: Options{Logger: quietLog()}, ApplyTimeout: 30 * time.Second})
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := cl.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	restarts := func() map[string]int {
		t.Helper()
		st, err := cl.WaitReady(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]int{}
		for _, s := range st.Services {
			m[s.Name] = s.Restarts
		}
		return m
	}
	before := restarts()
	for _, s := range []string{"api", "core", "capture", "mirror"} {
		if _, ok := before[s]; !ok {
			t.Fatalf("no %s service: %v", s, before)
		}
	}
	apply := func(gen int, d string, wantRestarted ...string) map[string]int {
		t.Helper()
		if err := post(t, cl, d); err != nil {
			t.Fatal(err)
		}
		a := waitApply(t, cl, gen, false)
		if a.Config.LastApply != "applied" {
			t.Fatalf("apply: %+v", a.Config)
		}
		got := slices.Clone(a.Config.Restarted)
		slices.Sort(got)
		slices.Sort(wantRestarted)
		if !slices.Equal(got, wantRestarted) {
			t.Errorf("restarted %v, want %v", got, wantRestarted)
		}
		return restarts()
	}

	// The name only: no service restarts, the API answers with the new name.
	after := apply(1, doc("second", 4096, stateA))
	if st, _ := cl.Status(ctx); st.Name != "second" {
		t.Errorf("name after apply: %q", st.Name)
	}
	for s, n := range before {
		if after[s] != n {
			t.Errorf("%s restarted for a new name (%d -> %d)", s, n, after[s])
		}
	}
	// The mirror section: the mirror service only.
	before = after
	after = apply(2, doc("second", 4096, stateB), "mirror")
	for s, n := range before {
		want := n
		if s == "mirror" {
			want++
		}
		if after[s] != want {
			t.Errorf("%s restarts %d -> %d after a mirror change", s, n, after[s])
		}
	}
	// A mirror section that validates but cannot run (a certificate that
	// is not there): rolled back in place, the other services untouched.
	before = after
	missing := filepath.Join(dir, "missing")
	if err := post(t, cl, doc("second", 4096, stateB+"  listen: 127.0.0.1:0\n  cert: "+missing+".pem\n  key: "+missing+".key\n")); err != nil {
		t.Fatal(err)
	}
	a := waitApply(t, cl, 0, true)
	if !strings.Contains(a.Config.LastApply, "mirror") || a.Config.Generation != 2 {
		t.Fatalf("rollback: %+v", a.Config)
	}
	after = restarts()
	for s, n := range before {
		if s != "mirror" && after[s] != n {
			t.Errorf("%s restarted (%d -> %d) by a mirror change that was rolled back", s, n, after[s])
		}
	}
	// The pool: every service (the daemon is built again).
	a2 := func() []string {
		if err := post(t, cl, doc("second", 8192, stateB)); err != nil {
			t.Fatal(err)
		}
		return waitApply(t, cl, 3, false).Config.Restarted
	}()
	for s := range before {
		if !slices.Contains(a2, s) {
			t.Errorf("%s not restarted for a pool change (restarted %v)", s, a2)
		}
	}
}
