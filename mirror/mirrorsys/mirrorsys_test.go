package mirrorsys_test

import (
	"strings"
	"testing"

	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/mirror/mirrorsys"
	"github.com/wirebox/wirebox/subsys"
)

// A listen address on an appliance without ports is a configuration error
// naming mirror.listen; without one nothing runs there. A bad section is
// refused when the file is parsed.
func TestSection(t *testing.T) {
	cfg := config.Default(mirrorsys.Section)
	if got := mirrorsys.Section.Of(cfg).StateDir; got != "/var/lib/wirebox/mirror" {
		t.Errorf("default state_dir %q", got)
	}
	if svcs, err := mirrorsys.Subsystem.Services(subsys.Env{Config: cfg}); err != nil || len(svcs) != 0 {
		t.Errorf("no listen, no ports: %v %v", svcs, err)
	}
	mirrorsys.Section.Of(cfg).Listen = ":7412"
	if _, err := mirrorsys.Subsystem.Services(subsys.Env{Config: cfg}); err == nil || !strings.Contains(err.Error(), "mirror.listen") {
		t.Errorf("listen without ports: %v, want an error naming mirror.listen", err)
	}
	_, err := config.Parse([]byte("mirror:\n  listen: \"localhost:7412\"\n"), mirrorsys.Section)
	if err == nil || !strings.Contains(err.Error(), "mirror") || !strings.Contains(err.Error(), "IP address") {
		t.Errorf("listen on a host name: %v", err)
	}
	if _, err := config.Parse([]byte("mirror:\n  listen: \":7412\"\n  ports: [eth1]\n"), mirrorsys.Section); err != nil {
		t.Errorf("a valid section: %v", err)
	}
}
