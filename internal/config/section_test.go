package config

import (
	"strings"
	"testing"
)

// sample is a subsystem's section as a subsystem declares it.
type sample struct {
	Dir   string   `yaml:"dir"`
	Rate  int      `yaml:"rate"`
	Peers []string `yaml:"peers,omitempty"`
}

var sampleSection = NewSection("sample", sample{Dir: "/var/lib/sample", Rate: 10}, func(s *sample) error {
	if !strings.HasPrefix(s.Dir, "/") {
		return Errorf("dir", "must be absolute, not %q", s.Dir)
	}
	if s.Rate < 1 {
		return Errorf("rate", "must be at least 1")
	}
	for i, p := range s.Peers {
		if p == "" {
			return Errorf("peers["+string(rune('0'+i))+"]", "must not be empty")
		}
	}
	return nil
})

func TestSectionErrorsNameKeyAndLine(t *testing.T) {
	checkErrors(t, []errorCase{
		{"unknown key in section", "name: x\nsample:\n  dri: /x\n", 3, "sample.dri: unknown key"},
		{"wrong type in section", "sample:\n  rate: fast\n", 2, "sample.rate: cannot unmarshal string: want int"},
		{"section validation", "name: x\nsample:\n  dir: rel\n", 3, `sample.dir: must be absolute, not "rel"`},
		{"section validation, second key", "sample:\n  dir: /x\n  rate: 0\n", 3, "sample.rate: must be at least 1"},
		{"section list element", "sample:\n  peers:\n    - a\n    - \"\"\n", 4, "sample.peers[1]: must not be empty"},
	})
}

func TestSectionDefaultsAndMerge(t *testing.T) {
	c, err := Parse([]byte("name: lab\nsample:\n  rate: 99\n"), sampleSection)
	if err != nil {
		t.Fatal(err)
	}
	if s := sampleSection.Of(c); s.Dir != "/var/lib/sample" || s.Rate != 99 {
		t.Errorf("section = %+v, want the default dir and rate 99", s)
	}
	if c.Name != "lab" {
		t.Errorf("core keys lost: name %q", c.Name)
	}
	d := Default(sampleSection)
	if s := sampleSection.Of(d); s.Rate != 10 {
		t.Errorf("default section = %+v", s)
	}
	// Changes through Of stay in the configuration and show in Marshal.
	sampleSection.Of(d).Dir = "/srv/x"
	b, err := d.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "sample:\n  dir: /srv/x\n  rate: 10\n") || !strings.Contains(string(b), "name: wirebox") {
		t.Errorf("Marshal:\n%s", b)
	}
	// What Marshal wrote parses back to the same values.
	back, err := Parse(b, sampleSection)
	if err != nil {
		t.Fatalf("Marshal output does not parse: %v\n%s", err, b)
	}
	if got := *sampleSection.Of(back); got.Dir != "/srv/x" || got.Rate != 10 {
		t.Errorf("round trip: %+v", got)
	}
}

func TestSectionUnknownWithoutDeclaration(t *testing.T) {
	// A file with a section that no subsystem declared is an unknown key.
	_, err := Parse([]byte("sample:\n  rate: 1\n"))
	if err == nil || !strings.Contains(err.Error(), "sample: unknown key") {
		t.Fatalf("Parse = %v, want an unknown key error", err)
	}
	// Of on a configuration made without the section gives the defaults.
	if s := sampleSection.Of(Default()); s.Dir != "/var/lib/sample" {
		t.Errorf("Of without the section = %+v", s)
	}
}

func TestSectionKeyClash(t *testing.T) {
	if _, err := Parse(nil, NewSection("api", sample{}, nil)); err == nil {
		t.Error("a section named like a core key was accepted")
	}
}

func TestMarshalSections(t *testing.T) {
	b, err := MarshalSections(sampleSection)
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != "sample:\n  dir: /var/lib/sample\n  rate: 10\n" {
		t.Errorf("MarshalSections = %q", b)
	}
}

func TestChangedKeys(t *testing.T) {
	parse := func(doc string) *Config {
		t.Helper()
		c, err := Parse([]byte(doc), sampleSection)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	base := "name: a\npool:\n  frames: 4096\nsample:\n  rate: 5\n"
	for _, tc := range []struct{ doc, want string }{
		{base, ""},
		{"name: a\npool:\n  frames: 4096\nsample:\n  rate: 5\n# a comment\n", ""},
		{"name: b\npool:\n  frames: 4096\nsample:\n  rate: 5\n", "name"},
		{"name: a\npool:\n  frames: 8192\nsample:\n  rate: 5\n", "pool"},
		{"name: a\npool:\n  frames: 4096\nsample:\n  rate: 6\n", "sample"},
		{"name: a\npool:\n  frames: 4096\n", "sample"}, // back to its defaults
		{"name: a\npool:\n  frames: 4096\nsample:\n  rate: 5\nauto_ports: true\n", "auto_ports"},
	} {
		got, err := ChangedKeys(parse(base), parse(tc.doc))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("%q: changed %v, want %q", tc.doc, got, tc.want)
		}
	}
}
