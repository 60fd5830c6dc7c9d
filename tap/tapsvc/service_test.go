package tapsvc

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/internal/testutil"
)

// TestRouteAndMetrics: /v1/taps answers and the collector describes what
// it collects.
func TestRouteAndMetrics(t *testing.T) {
	s := New(nil, Config{Socket: "/run/x/tap.sock", Quota: 4096, MaxTaps: 4})
	s.violations.Add(2)
	mux := http.NewServeMux()
	s.Routes(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", api.PathTaps, nil))
	var st api.Taps
	if err := json.Unmarshal(rec.Body.Bytes(), &st); rec.Code != 200 || err != nil || st.Violations != 2 || st.Apps == nil || st.Quota != 4096 {
		t.Fatalf("GET %s: %d %s", api.PathTaps, rec.Code, rec.Body)
	}
	got := testutil.Metrics(t, "", s.Collectors()...)
	if got["wirebox_tap_violations_total"] != 2 || got["wirebox_tap_apps"] != 0 {
		t.Fatalf("metrics %v", got)
	}
	if _, ok := got["wirebox_tap_reclaimed_frames_total"]; !ok {
		t.Fatalf("metrics %v", got)
	}
}

// TestSection: defaults are a local socket, root and a group, and bad
// values are refused with their key.
func TestSection(t *testing.T) {
	c := config.Default(Section)
	d := Section.Of(c)
	if !d.Enabled || d.Socket != DefaultSocket || d.Group != DefaultGroup || d.Quota != DefaultQuota {
		t.Fatalf("defaults %+v", d)
	}
	for _, doc := range []string{"tap:\n  socket: relative.sock\n", "tap:\n  quota: 10\n", "tap:\n  max_taps: 0\n"} {
		if _, err := config.Parse([]byte(doc), Section); err == nil {
			t.Errorf("%q accepted", doc)
		}
	}
}
