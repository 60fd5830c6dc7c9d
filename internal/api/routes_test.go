package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPathsMatchRoutes: every path builder lands on the route pattern it
// belongs to, with the parameter the server reads back, so a client built
// from the builders reaches the handler registered with the pattern.
func TestPathsMatchRoutes(t *testing.T) {
	for _, c := range []struct {
		route, method, path, param, want string
	}{
		{RouteStatus, "GET", PathStatus, "", ""},
		{RouteConfig, "GET", PathConfig, "", ""},
		{RouteMetrics, "GET", PathMetrics, "", ""},
		{RoutePorts, "GET", PathPorts, "", ""},
		{RouteCaptureStart, "POST", PathCaptures, "", ""},
		{RouteCaptureList, "GET", PathCaptures, "", ""},
		{RouteReplay, "POST", PathReplay, "", ""},
		{RouteTaps, "GET", PathTaps, "", ""},
		{RouteHA, "GET", PathHA, "", ""},
		{RouteHAFailover, "POST", PathHAFailover, "", ""},
		{RouteAppliance, "GET", PathAppliance, "", ""},
		{RouteConfigApply, "POST", PathConfig, "", ""},
		{RouteServiceLogs, "GET", ServiceLogsPath("api remote"), "name", "api remote"},
		{RouteServiceRestart, "POST", ServiceRestartPath("core"), "name", "core"},
		{RouteCapture, "GET", CapturePath("c1"), "id", "c1"},
		{RouteCaptureStop, "POST", CaptureStopPath("c/2"), "id", "c/2"},
	} {
		if !strings.HasPrefix(c.route, c.method+" ") {
			t.Errorf("route %q: want method %s", c.route, c.method)
		}
		mux := http.NewServeMux()
		var got string
		hit := false
		mux.HandleFunc(c.route, func(w http.ResponseWriter, r *http.Request) {
			hit = true
			if c.param != "" {
				got = r.PathValue(c.param)
			}
		})
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(c.method, c.path, nil))
		if !hit {
			t.Errorf("%s %s does not reach route %q (HTTP %d)", c.method, c.path, c.route, rec.Code)
			continue
		}
		if got != c.want {
			t.Errorf("%s %s: %s = %q, want %q", c.method, c.path, c.param, got, c.want)
		}
	}
}
