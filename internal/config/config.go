// Package config is wirebox's one configuration file: strict YAML (an
// unknown key is an error), validated, with safe defaults. Errors name the
// key and the line, so a typo on an appliance is found from the console.
package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"
)

// DefaultSocket is where the control API listens when nothing says otherwise.
const DefaultSocket = "/run/wirebox/wirebox.sock"

// Config is the whole configuration. Subsystems add their sections here.
type Config struct {
	// Name identifies the appliance in the console and API.
	Name       string           `yaml:"name"`
	API        APIConfig        `yaml:"api"`
	Log        LogConfig        `yaml:"log"`
	Supervisor SupervisorConfig `yaml:"supervisor"`
}

// APIConfig configures the control API.
type APIConfig struct {
	// Socket is the unix socket path; the local API is always on.
	Socket string `yaml:"socket"`
	// SocketMode is the socket's permission bits, in octal.
	SocketMode string `yaml:"socket_mode"`
	// Listen, when set, also serves the API on this TCP address. It requires
	// TLSCert, TLSKey and TokenFile: the remote API never runs unauthenticated.
	Listen    string `yaml:"listen"`
	TLSCert   string `yaml:"tls_cert"`
	TLSKey    string `yaml:"tls_key"`
	TokenFile string `yaml:"token_file"`
}

// LogConfig configures the daemon's own log (service log rings keep everything).
type LogConfig struct {
	Level  string `yaml:"level"`  // debug, info, warn, error
	Format string `yaml:"format"` // text or json
}

// SupervisorConfig tunes restarts.
type SupervisorConfig struct {
	BackoffBase    Duration `yaml:"backoff_base"`
	BackoffMax     Duration `yaml:"backoff_max"`
	MaxFailures    int      `yaml:"max_failures"`
	StableAfter    Duration `yaml:"stable_after"`
	HealthInterval Duration `yaml:"health_interval"`
	StopTimeout    Duration `yaml:"stop_timeout"`
}

// Duration is a time.Duration written as "1.5s" in YAML.
type Duration time.Duration

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return &valueError{value: string(b), msg: fmt.Sprintf("invalid duration %q (want e.g. 500ms, 10s, 2m)", b)}
	}
	*d = Duration(v)
	return nil
}

//go:embed default.yaml
var defaultYAML []byte

// DefaultYAML is the embedded default configuration: local socket only, no
// remote listener.
func DefaultYAML() []byte { return bytes.Clone(defaultYAML) }

// Default returns the embedded default configuration.
func Default() *Config {
	c, err := Parse(defaultYAML)
	if err != nil {
		panic("embedded default config is invalid: " + err.Error())
	}
	return c
}

// ErrNoConfig is returned by Load when the file does not exist, so callers
// can tell "absent" (use defaults) from "invalid" (refuse to start).
var ErrNoConfig = errors.New("no configuration file")

// Error is a configuration error at a key (a YAML path such as
// "$.api.listen") and, when known, a line of the file.
type Error struct {
	File string
	Path string
	Line int
	Msg  string
}

func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteString(":")
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:", e.Line)
	}
	if b.Len() > 0 {
		b.WriteString(" ")
	}
	if e.Path != "" {
		fmt.Fprintf(&b, "%s: ", strings.TrimPrefix(e.Path, "$."))
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Load reads and validates a file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoConfig, path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	c, err := Parse(b)
	var ce *Error
	if errors.As(err, &ce) {
		ce.File = path
	}
	return c, err
}

// Parse decodes and validates YAML. Keys absent from the document keep
// their defaults; unknown keys and wrong types are errors.
func Parse(b []byte) (*Config, error) {
	c := builtin()
	if len(bytes.TrimSpace(b)) > 0 {
		if err := yaml.UnmarshalWithOptions(b, c, yaml.Strict()); err != nil {
			return nil, decodeError(b, err)
		}
	}
	if err := c.validate(); err != nil {
		var ce *Error
		if errors.As(err, &ce) && ce.Line == 0 {
			ce.Line = lineOf(b, ce.Path)
		}
		return nil, err
	}
	return c, nil
}

// builtin holds the defaults that apply to keys a file leaves out.
func builtin() *Config {
	return &Config{
		Name: "wirebox",
		API:  APIConfig{Socket: DefaultSocket, SocketMode: "0660"},
		Log:  LogConfig{Level: "info", Format: "text"},
		Supervisor: SupervisorConfig{
			BackoffBase:    Duration(100 * time.Millisecond),
			BackoffMax:     Duration(30 * time.Second),
			MaxFailures:    5,
			StableAfter:    Duration(30 * time.Second),
			HealthInterval: Duration(10 * time.Second),
			StopTimeout:    Duration(10 * time.Second),
		},
	}
}

// valueError is returned by our own unmarshalers, which the YAML library
// calls without a position; the position is found afterwards by the value.
type valueError struct{ value, msg string }

func (e *valueError) Error() string { return e.msg }

// decodeError turns the YAML library's error into an Error naming the key
// (as a path such as "supervisor.max_failures") and the line.
func decodeError(doc []byte, err error) error {
	f, perr := parser.ParseBytes(doc, 0)
	var ve *valueError
	if errors.As(err, &ve) {
		e := &Error{Msg: ve.msg}
		if perr == nil {
			if n := findNode(f, func(n ast.Node) bool {
				s, ok := n.(*ast.StringNode)
				return ok && s.Value == ve.value
			}); n != nil {
				e.Path = n.GetPath()
				e.Line = n.GetToken().Position.Line
			}
		}
		return e
	}
	var se yaml.Error
	if !errors.As(err, &se) {
		return &Error{Msg: err.Error()}
	}
	e := &Error{Msg: se.GetMessage()}
	tk := se.GetToken()
	if tk == nil || tk.Position == nil {
		return e
	}
	e.Line = tk.Position.Line
	if perr != nil {
		return e
	}
	// The token is the offending key (unknown field) or value (wrong type);
	// either way the node at that position knows its path.
	if n := findNode(f, func(n ast.Node) bool {
		t := n.GetToken()
		return t != nil && t.Position != nil && t.Position.Line == tk.Position.Line && t.Position.Column == tk.Position.Column
	}); n != nil {
		e.Path = n.GetPath()
		if strings.Contains(e.Msg, "unknown field") {
			// The key node's path already ends in the key.
			e.Msg = "unknown key"
		} else if i := strings.Index(e.Msg, " into Go struct field"); i >= 0 {
			// Go type names mean little to an operator: keep "cannot unmarshal string" and the wanted type.
			rest := e.Msg[i:]
			if j := strings.LastIndex(rest, " of type "); j >= 0 {
				e.Msg = e.Msg[:i] + ": want " + rest[j+len(" of type "):]
			}
		}
	}
	return e
}

type finder struct {
	match func(ast.Node) bool
	found ast.Node
}

func (v *finder) Visit(n ast.Node) ast.Visitor {
	if v.found != nil {
		return nil
	}
	if _, isMV := n.(*ast.MappingValueNode); !isMV && v.match(n) {
		v.found = n
		return nil
	}
	return v
}

func findNode(f *ast.File, match func(ast.Node) bool) ast.Node {
	v := &finder{match: match}
	for _, d := range f.Docs {
		if d.Body != nil {
			ast.Walk(v, d.Body)
		}
	}
	return v.found
}

// lineOf finds the line of a YAML path in the document, or 0.
func lineOf(doc []byte, path string) int {
	if path == "" {
		return 0
	}
	p, err := yaml.PathString(path)
	if err != nil {
		return 0
	}
	f, err := parser.ParseBytes(doc, 0)
	if err != nil {
		return 0
	}
	n, err := p.FilterFile(f)
	if err != nil || n == nil {
		return 0
	}
	if tk := n.GetToken(); tk != nil && tk.Position != nil {
		return tk.Position.Line
	}
	return 0
}

func (c *Config) validate() error {
	bad := func(path, format string, args ...any) error {
		return &Error{Path: path, Msg: fmt.Sprintf(format, args...)}
	}
	if strings.TrimSpace(c.Name) == "" {
		return bad("$.name", "must not be empty")
	}
	if c.API.Socket == "" {
		return bad("$.api.socket", "must not be empty: the local API is always on")
	}
	if _, err := c.API.Mode(); err != nil {
		return bad("$.api.socket_mode", "%v", err)
	}
	if c.API.Listen != "" {
		if _, _, err := net.SplitHostPort(c.API.Listen); err != nil {
			return bad("$.api.listen", "want host:port: %v", err)
		}
		for _, k := range []struct{ path, v string }{
			{"$.api.tls_cert", c.API.TLSCert}, {"$.api.tls_key", c.API.TLSKey}, {"$.api.token_file", c.API.TokenFile},
		} {
			if k.v == "" {
				return bad("$.api.listen", "a remote API listener requires api.tls_cert, api.tls_key and api.token_file; %s is missing", strings.TrimPrefix(k.path, "$."))
			}
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		return bad("$.log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		return bad("$.log.format", "must be text or json, not %q", c.Log.Format)
	}
	s := c.Supervisor
	for _, d := range []struct {
		path string
		v    Duration
	}{
		{"$.supervisor.backoff_base", s.BackoffBase}, {"$.supervisor.backoff_max", s.BackoffMax},
		{"$.supervisor.stable_after", s.StableAfter}, {"$.supervisor.health_interval", s.HealthInterval},
		{"$.supervisor.stop_timeout", s.StopTimeout},
	} {
		if d.v <= 0 {
			return bad(d.path, "must be a positive duration")
		}
	}
	if s.BackoffMax < s.BackoffBase {
		return bad("$.supervisor.backoff_max", "must not be less than backoff_base (%v)", s.BackoffBase.D())
	}
	if s.MaxFailures < 1 {
		return bad("$.supervisor.max_failures", "must be at least 1")
	}
	return nil
}

// Mode returns the socket mode as file permission bits.
func (a APIConfig) Mode() (fs.FileMode, error) {
	v, err := strconv.ParseUint(a.SocketMode, 8, 32)
	if err != nil || v > 0o777 {
		return 0, fmt.Errorf("want octal permission bits such as 0660, not %q", a.SocketMode)
	}
	if v&0o007 != 0 {
		return 0, fmt.Errorf("mode %s gives other users access to the control API; use 0660 or tighter", a.SocketMode)
	}
	return fs.FileMode(v), nil
}

// Marshal renders the effective configuration as YAML.
func (c *Config) Marshal() ([]byte, error) {
	return yaml.MarshalWithOptions(c, yaml.IndentSequence(true))
}
