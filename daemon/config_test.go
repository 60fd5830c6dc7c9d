package daemon

import (
	"os"
	"strings"
	"testing"

	"github.com/wirebox/wirebox/capture/capturesvc"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/mirror/mirrorsys"
)

// The README's example (core keys and subsystems' sections) must stay
// valid with every subsystem's section.
func TestREADMEExampleParses(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	i := strings.Index(s, "```yaml\n")
	if i < 0 {
		t.Fatal("README has no yaml example")
	}
	s = s[i+len("```yaml\n"):]
	doc := s[:strings.Index(s, "```")]
	c, err := config.Parse([]byte(doc), Sections()...)
	if err != nil {
		t.Fatalf("README example: %v", err)
	}
	if c.Name != "lab-3" || len(c.Ports) != 3 || c.Ports[1].Forward != "eth3" || capturesvc.Section.Of(c).Root != "/var/lib/wirebox/captures" {
		t.Errorf("README example parsed as %+v", c)
	}
	if m := mirrorsys.Section.Of(c); m.Listen != "0.0.0.0:7412" || len(m.Ports) != 1 || m.Ports[0] != "eth1" {
		t.Errorf("README example's mirror section parsed as %+v", m)
	}
}

// TestNewBuildsEachServiceOnce: the appliance's shape (management NIC,
// local and remote API) gives each service once, in start order. (A slice
// shared between the API services and the list once put mgmt in place of
// api-remote, and the image's config did not build.)
func TestNewBuildsEachServiceOnce(t *testing.T) {
	cfg := testConfig(t)
	cfg.Management.DHCP = true
	cfg.API.Listen, cfg.API.TLSCert, cfg.API.TLSKey, cfg.API.TokenFile = "127.0.0.1:0", "c.pem", "k.pem", "token"
	d, err := New(cfg, Options{Logger: quietLog()})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range d.Supervisor().Status() {
		got = append(got, st.Name)
	}
	if strings.Join(got, " ") != "api mgmt api-remote" {
		t.Errorf("services %v, want api mgmt api-remote", got)
	}
}
