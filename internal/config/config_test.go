package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDefaultIsSafe(t *testing.T) {
	c := Default()
	if c.API.Listen != "" {
		t.Errorf("default config listens on %q; the default must be local only", c.API.Listen)
	}
	if c.API.Socket != DefaultSocket {
		t.Errorf("socket = %q", c.API.Socket)
	}
	if m, err := c.API.Mode(); err != nil || m != 0o660 {
		t.Errorf("mode = %v, %v", m, err)
	}
}

// errorCase is a document that must fail to parse with an error at line
// that contains want.
type errorCase struct {
	name, doc string
	line      int
	want      string
}

func checkErrors(t *testing.T, cases []errorCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.doc), sampleSection)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse = %v, want *Error", err)
			}
			if ce.Line != tc.line {
				t.Errorf("line = %d, want %d (%v)", ce.Line, tc.line, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestErrorsNameKeyAndLine(t *testing.T) {
	checkErrors(t, []errorCase{
		{"unknown top key", "name: x\nbogus: 1\n", 2, "bogus: unknown key"},
		{"unknown nested key", "api:\n  socket: /x\n  sockt_mode: 1\n", 3, "api.sockt_mode: unknown key"},
		{"wrong type", "supervisor:\n  max_failures: abc\n", 2, "supervisor.max_failures: cannot unmarshal string: want int"},
		{"bad duration", "log:\n  level: info\nsupervisor:\n  backoff_base: 3parsecs\n", 4, "supervisor.backoff_base: invalid duration"},
		{"listener without tls", "api:\n  listen: 127.0.0.1:7443\n", 2, "requires api.tls_cert, api.tls_key and api.token_file"},
		{"bad level", "log:\n  level: loud\n", 2, `log.level: must be debug, info, warn or error, not "loud"`},
		{"world-readable socket", "api:\n  socket_mode: \"0666\"\n", 2, "gives other users access"},
		{"empty name", "name: \"\"\n", 1, "name: must not be empty"},
		{"syntax", "name: [\n", 1, "not found"},
		{"backoff order", "supervisor:\n  backoff_base: 10s\n  backoff_max: 1s\n", 3, "backoff_max: must not be less"},
	})
}

func TestPartialFileKeepsDefaults(t *testing.T) {
	c, err := Parse([]byte("name: lab-3\nsupervisor:\n  max_failures: 9\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "lab-3" || c.Supervisor.MaxFailures != 9 {
		t.Errorf("got %+v", c)
	}
	if c.Supervisor.BackoffMax.D() != 30*time.Second || c.API.Socket != DefaultSocket {
		t.Errorf("defaults lost: %+v", c)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "none.yaml")); !errors.Is(err, ErrNoConfig) {
		t.Errorf("missing file: %v, want ErrNoConfig", err)
	}
	p := filepath.Join(dir, "w.yaml")
	if err := os.WriteFile(p, []byte("name: a\nnope: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Load(p)
	if err == nil || !strings.HasPrefix(err.Error(), p+":2: nope") {
		t.Errorf("Load = %v, want it to start with %s:2: nope", err, p)
	}
}

func TestMarshalRoundTrip(t *testing.T) {
	c := Default()
	c.Supervisor.StopTimeout = Duration(1500 * time.Millisecond)
	b, err := c.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := Parse(b)
	if err != nil {
		t.Fatalf("re-parsing marshalled config: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(c2, c) {
		t.Errorf("round trip changed config:\n%+v\n%+v", c, c2)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(DefaultYAML())
	f.Add([]byte("name: x\nbogus: 1\n"))
	f.Add([]byte("supervisor:\n  backoff_base: 3parsecs\n"))
	f.Add([]byte("api:\n  listen: 127.0.0.1:1\n  tls_cert: a\n  tls_key: b\n  token_file: c\n"))
	f.Add([]byte("- [a, {b: c}]\n"))
	f.Add([]byte(portsDoc))
	f.Add([]byte("ports:\n  - name: a\n    mode: bypass\n    forward: a\n"))
	f.Add([]byte("ports: !x\n")) // panicked inside the YAML library
	f.Add([]byte("ports: !x"))
	f.Add([]byte("supervisor:\n  backoff_base: 5\n  max_failures: 0\nbogus: 1\n"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		c, err := Parse(doc)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			if len(errorsOf(err)) == 0 {
				t.Fatalf("%q: %v is not a config error", doc, err)
			}
			return
		}
		// Whatever parses must re-marshal into something that parses the same.
		b, err := c.Marshal()
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		c2, err := Parse(b)
		if err != nil {
			t.Fatalf("re-parse of %q: %v", b, err)
		}
		if !reflect.DeepEqual(c2, c) {
			t.Fatalf("round trip differs")
		}
	})
}

// TestTenByteFile: "ports: !x" panicked inside the YAML library (a nil
// pointer) and `daemon --config` printed a stack trace; it is a named
// error at the key and line, with or without the final newline.
func TestTenByteFile(t *testing.T) {
	for _, doc := range []string{"ports: !x\n", "ports: !x", "api:\n  socket: !foo /x\n"} {
		_, err := Parse([]byte(doc))
		var ce *Error
		if !errors.As(err, &ce) || ce.Line == 0 || ce.Path == "" || !strings.Contains(err.Error(), "unknown YAML tag") {
			t.Errorf("%q: %#v", doc, err)
		}
	}
}

// TestEveryErrorReported: a file with several mistakes gets them all, in
// file order, each with its key and line; a bare number for a duration
// names the key.
func TestEveryErrorReported(t *testing.T) {
	doc := "name: x\nsupervisor:\n  backoff_base: 5\n  max_failures: 0\nlog:\n  level: loud\nbogus: 1\napi:\n  socket_mode: \"0666\"\n"
	_, err := Parse([]byte(doc), sampleSection)
	var l ErrorList
	if !errors.As(err, &l) {
		t.Fatalf("%v: want an ErrorList", err)
	}
	want := []struct {
		line       int
		path, text string
	}{
		{3, "$.supervisor.backoff_base", "bare number"},
		{4, "$.supervisor.max_failures", "at least 1"},
		{6, "$.log.level", "loud"},
		{7, "$.bogus", "unknown key"},
		{9, "$.api.socket_mode", "other users"},
	}
	if len(l) != len(want) {
		t.Fatalf("%d errors, want %d:\n%v", len(l), len(want), err)
	}
	for i, w := range want {
		if l[i].Line != w.line || l[i].Path != w.path || !strings.Contains(l[i].Msg, w.text) {
			t.Errorf("error %d: %v (line %d, path %s), want line %d %s: %s", i, l[i], l[i].Line, l[i].Path, w.line, w.path, w.text)
		}
	}
}
