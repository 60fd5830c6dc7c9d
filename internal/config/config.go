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

// Config is the whole configuration: the core's keys here, and one
// Section per subsystem (declared on the subsystem's side, see Section).
type Config struct {
	// Name identifies the appliance in the console and API.
	Name       string           `yaml:"name"`
	API        APIConfig        `yaml:"api"`
	Log        LogConfig        `yaml:"log"`
	Supervisor SupervisorConfig `yaml:"supervisor"`
	// Pool sizes the one buffer pool every port and consumer shares.
	Pool PoolConfig `yaml:"pool"`
	// Ports are the network interfaces the capture core attaches to.
	Ports []PortConfig `yaml:"ports,omitempty"`
	// AutoPorts makes every NIC other than the management one a passive
	// port, also NICs that appear later (see auto.go).
	AutoPorts bool `yaml:"auto_ports,omitempty"`
	// Management is the NIC the appliance is reached through (see auto.go).
	Management ManagementConfig `yaml:"management,omitempty"`

	// secs are the subsystems' sections this configuration carries, in
	// order; sections their decoded values by key.
	secs     []Section
	sections map[string]any
}

// PoolConfig sizes the buffer pool.
type PoolConfig struct {
	// Frames is the number of frames in the pool.
	Frames int `yaml:"frames"`
	// FrameSize is the size of one frame: 2048 or 4096 bytes.
	FrameSize int `yaml:"frame_size"`
}

// Port modes.
const (
	PortPassive = "passive" // AF_PACKET: the host stack keeps seeing the traffic
	PortBypass  = "bypass"  // AF_XDP: the appliance owns the port
)

// PortConfig is one port of the capture core.
type PortConfig struct {
	// Name is the network interface.
	Name string `yaml:"name"`
	// Mode is passive or bypass.
	Mode string `yaml:"mode"`
	// Queues is the number of engine queues (default 1).
	Queues int `yaml:"queues,omitempty"`
	// Netns names the network namespace the interface is in: a name under
	// /run/netns or an absolute path. Empty: the daemon's own.
	Netns string `yaml:"netns,omitempty"`
	// Forward names another bypass port that sends every frame of this one
	// that no consumer took (bypass only).
	Forward string `yaml:"forward,omitempty"`
	// RingBlocks and BlockSize size a passive port's AF_PACKET ring
	// (default 64 blocks of 1 MiB).
	RingBlocks int `yaml:"ring_blocks,omitempty"`
	BlockSize  int `yaml:"block_size,omitempty"`
	// RingFrames sizes a bypass port's AF_XDP rings (default 2048, a power of two).
	RingFrames int `yaml:"ring_frames,omitempty"`
}

// NetnsPath is the namespace file of the port, or "" for the daemon's own.
func (p PortConfig) NetnsPath() string {
	if p.Netns == "" || strings.HasPrefix(p.Netns, "/") {
		return p.Netns
	}
	return "/run/netns/" + p.Netns
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

// Default returns the embedded default configuration with the defaults of
// the sections secs.
func Default(secs ...Section) *Config {
	c, err := Parse(defaultYAML, secs...)
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

// Load reads and validates a file that may hold the sections secs.
func Load(path string, secs ...Section) (*Config, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: %s", ErrNoConfig, path)
	}
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	c, err := Parse(b, secs...)
	var ce *Error
	if errors.As(err, &ce) {
		ce.File = path
	}
	return c, err
}

// Parse decodes and validates YAML that may hold the sections secs. Keys
// absent from the document keep their defaults; unknown keys (a section
// not in secs too) and wrong types are errors.
func Parse(b []byte, secs ...Section) (*Config, error) {
	c := builtin()
	c.secs = secs
	doc, err := newDocument(secs)
	if err != nil {
		return nil, err
	}
	v := doc.value(c)
	if len(bytes.TrimSpace(b)) > 0 {
		if err := yaml.UnmarshalWithOptions(b, v.Addr().Interface(), yaml.Strict()); err != nil {
			return nil, decodeError(b, err)
		}
	}
	doc.store(v, c)
	err = c.validate()
	if err == nil {
		err = c.validateSections()
	}
	if err != nil {
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
		Pool: PoolConfig{Frames: 16384, FrameSize: 2048},
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
	if err := c.validateManagement(bad); err != nil {
		return err
	}
	return c.validatePorts(bad)
}

// validatePorts checks the pool and the ports, filling in port defaults.
func (c *Config) validatePorts(bad func(path, format string, args ...any) error) error {
	if c.Pool.FrameSize != 2048 && c.Pool.FrameSize != 4096 {
		return bad("$.pool.frame_size", "must be 2048 or 4096, not %d", c.Pool.FrameSize)
	}
	if c.Pool.Frames < 1024 || c.Pool.Frames > 1<<22 {
		return bad("$.pool.frames", "must be from 1024 to %d, not %d", 1<<22, c.Pool.Frames)
	}
	if len(c.Ports) == 0 {
		c.Ports = nil // "ports: []" and no ports are the same
	}
	seen := map[string]int{}
	xdpFrames := 0
	for i := range c.Ports {
		p := &c.Ports[i]
		at := func(key string) string { return fmt.Sprintf("$.ports[%d].%s", i, key) }
		if p.Name == "" {
			return bad(fmt.Sprintf("$.ports[%d]", i), "port needs a name (the network interface)")
		}
		if len(p.Name) > 15 || strings.ContainsAny(p.Name, "/ \t") {
			return bad(at("name"), "%q is not a network interface name", p.Name)
		}
		if j, dup := seen[p.Name]; dup {
			return bad(at("name"), "port %q is already configured as ports[%d]", p.Name, j)
		}
		seen[p.Name] = i
		if p.Mode == "" {
			return bad(at("name"), "port %q needs a mode: passive or bypass", p.Name)
		}
		if p.Mode != PortPassive && p.Mode != PortBypass {
			return bad(at("mode"), "must be passive or bypass, not %q", p.Mode)
		}
		if p.Queues == 0 {
			p.Queues = 1
		}
		if p.Queues < 1 || p.Queues > 64 {
			return bad(at("queues"), "must be from 1 to 64, not %d", p.Queues)
		}
		if p.Netns != "" && !strings.HasPrefix(p.Netns, "/") && strings.ContainsAny(p.Netns, "/ ") {
			return bad(at("netns"), "want a namespace name or an absolute path, not %q", p.Netns)
		}
		switch p.Mode {
		case PortPassive:
			if p.Forward != "" {
				return bad(at("forward"), "only bypass ports forward; a passive port's traffic stays with the host")
			}
			if p.RingFrames != 0 {
				return bad(at("ring_frames"), "is for bypass ports; passive ports use ring_blocks and block_size")
			}
			if p.RingBlocks == 0 {
				p.RingBlocks = 64
			}
			if p.BlockSize == 0 {
				p.BlockSize = 1 << 20
			}
			if p.RingBlocks < 2 || p.RingBlocks > 4096 {
				return bad(at("ring_blocks"), "must be from 2 to 4096, not %d", p.RingBlocks)
			}
			if p.BlockSize < 4096 || p.BlockSize > 1<<26 || p.BlockSize&(p.BlockSize-1) != 0 {
				return bad(at("block_size"), "must be a power of two from 4096 to %d, not %d", 1<<26, p.BlockSize)
			}
		case PortBypass:
			if p.RingBlocks != 0 || p.BlockSize != 0 {
				return bad(at("ring_blocks"), "ring_blocks and block_size are for passive ports; bypass ports use ring_frames")
			}
			if p.RingFrames == 0 {
				p.RingFrames = 2048
			}
			if p.RingFrames < 64 || p.RingFrames > 1<<16 || p.RingFrames&(p.RingFrames-1) != 0 {
				return bad(at("ring_frames"), "must be a power of two from 64 to 65536, not %d", p.RingFrames)
			}
			xdpFrames += p.Queues * p.RingFrames
		}
	}
	for i, p := range c.Ports {
		if p.Forward == "" {
			continue
		}
		j, ok := seen[p.Forward]
		switch {
		case p.Forward == p.Name:
			return bad(fmt.Sprintf("$.ports[%d].forward", i), "a port cannot forward to itself")
		case !ok:
			return bad(fmt.Sprintf("$.ports[%d].forward", i), "no port named %q is configured", p.Forward)
		case c.Ports[j].Mode != PortBypass:
			return bad(fmt.Sprintf("$.ports[%d].forward", i), "port %q is passive; forward to a bypass port", p.Forward)
		}
	}
	// Bypass ports keep their fill rings stocked from the pool; leave at
	// least as much again for frames in flight.
	if xdpFrames > 0 && c.Pool.Frames < 2*xdpFrames {
		return bad("$.pool.frames", "%d frames cannot back the bypass ports' rings (%d frames); want at least %d", c.Pool.Frames, xdpFrames, 2*xdpFrames)
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

// Marshal renders the effective configuration as YAML, its sections too.
func (c *Config) Marshal() ([]byte, error) {
	doc, err := newDocument(c.secs)
	if err != nil {
		return nil, err
	}
	return yaml.MarshalWithOptions(doc.value(c).Interface(), yaml.IndentSequence(true))
}
