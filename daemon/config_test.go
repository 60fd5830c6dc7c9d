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
