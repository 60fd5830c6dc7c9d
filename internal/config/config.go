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
	"os/user"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/lexer"
	"github.com/goccy/go-yaml/parser"
	"github.com/goccy/go-yaml/token"
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
func (p PortConfig) NetnsPath() string { return NetnsPath(p.Netns) }

// NetnsPath is the file of a network namespace given by name (under
// /run/netns, as ip netns names them) or by path; "" is the daemon's own.
func NetnsPath(ns string) string {
	if ns == "" || strings.HasPrefix(ns, "/") {
		return ns
	}
	return "/run/netns/" + ns
}

// APIConfig configures the control API.
type APIConfig struct {
	// Socket is the unix socket path; the local API is always on.
	Socket string `yaml:"socket"`
	// SocketMode is the socket's permission bits, in octal.
	SocketMode string `yaml:"socket_mode"`
	// SocketGroup, if set, is the socket's group (a name or a number):
	// its members may use the API without being root.
	SocketGroup string `yaml:"socket_group,omitempty"`
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

// UnmarshalYAML decodes a duration from its node, so a bare number ("5":
// seconds? milliseconds?) is refused naming the key and the line.
func (d *Duration) UnmarshalYAML(n ast.Node) error {
	at := func(msg string) error {
		e := &Error{Path: n.GetPath(), Msg: msg}
		if tk := n.GetToken(); tk != nil && tk.Position != nil {
			e.Line = tk.Position.Line
		}
		return e
	}
	switch v := n.(type) {
	case *ast.StringNode:
		if err := d.UnmarshalText([]byte(v.Value)); err != nil {
			return at(err.Error())
		}
		return nil
	case *ast.IntegerNode, *ast.FloatNode:
		return at(fmt.Sprintf("%s is a bare number: give the unit, e.g. %ss or %sms", n.String(), n.String(), n.String()))
	}
	return at(fmt.Sprintf("want a duration such as 500ms, 10s or 2m, not %s", strings.TrimSpace(n.String())))
}

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

// ErrorList is every error found in one file, in the order of the file;
// Parse returns it when there is more than one. errors.As finds each
// *Error in it.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap returns the errors.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

// errorsOf returns the errors in err (one *Error, or an ErrorList).
func errorsOf(err error) []*Error {
	var l ErrorList
	if errors.As(err, &l) {
		return l
	}
	var e *Error
	if errors.As(err, &e) {
		return []*Error{e}
	}
	return nil
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
	for _, e := range errorsOf(err) {
		e.File = path
	}
	return c, err
}

// Parse decodes and validates YAML that may hold the sections secs. Keys
// absent from the document keep their defaults; unknown keys (a section
// not in secs too), unknown tags, wrong types and invalid values are
// errors naming the key and the line. Every error in the document is
// reported (an ErrorList when there are several), not only the first.
func Parse(b []byte, secs ...Section) (c *Config, err error) {
	defer func() {
		// The YAML library has panicked on odd input before (a tag where
		// a sequence was expected); a file must never crash the daemon.
		if r := recover(); r != nil {
			c, err = nil, &Error{Msg: fmt.Sprintf("cannot read this YAML (the parser failed: %v)", r)}
		}
	}()
	c = builtin()
	c.secs = secs
	doc, err := newDocument(secs)
	if err != nil {
		return nil, err
	}
	v := doc.value(c)
	var errs ErrorList
	if len(bytes.TrimSpace(b)) > 0 {
		if errs := checkTags(b); len(errs) > 0 {
			return nil, sortErrors(b, errs)
		}
		f, perr := parser.ParseBytes(b, 0)
		if perr != nil {
			return nil, decodeError(b, perr)
		}
		if len(f.Docs) > 1 {
			return nil, &Error{Line: 1, Msg: fmt.Sprintf("one YAML document expected, found %d", len(f.Docs))}
		}
		var body ast.Node
		if len(f.Docs) == 1 {
			body = f.Docs[0].Body
		}
		if body != nil {
			var whole bool
			v, errs, whole = decodeAll(b, body, doc, c, errs)
			if !whole {
				return nil, sortErrors(b, errs)
			}
		}
	}
	doc.store(v, c)
	// Keys that failed to decode were taken out and keep their (valid)
	// defaults, so validating the rest reports only errors of its own.
	errs = append(errs, errorsOf(c.validate())...)
	errs = append(errs, errorsOf(c.validateSections())...)
	if len(errs) == 0 {
		return c, nil
	}
	return nil, sortErrors(b, errs)
}

// sortErrors fills in lines, orders the errors by line, drops repeats (a
// bad tag is also a wrong type at the same key) and returns one *Error or
// the list.
func sortErrors(doc []byte, errs ErrorList) error {
	for _, e := range errs {
		if e.Line == 0 {
			e.Line = lineOf(doc, e.Path)
		}
	}
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
	out := errs[:0]
	for i, e := range errs {
		if i > 0 && e.Line == errs[i-1].Line && e.Path == errs[i-1].Path && e.Line > 0 {
			continue
		}
		out = append(out, e)
	}
	if len(out) == 1 {
		return out[0]
	}
	return out
}

// decodeAll decodes body strictly into a fresh document value; after each
// error it takes the offending key out of the tree and decodes again, so
// every bad key of the file is reported, not only the first. It gives up
// on an error it cannot take out (the document is not a mapping, say).
//
// whole reports whether the last decode succeeded (with the bad keys out).
func decodeAll(b []byte, body ast.Node, doc *document, c *Config, errs ErrorList) (v reflect.Value, _ ErrorList, whole bool) {
	for tries := 0; ; tries++ {
		v = doc.value(c)
		err := yaml.NodeToValue(body, v.Addr().Interface(), yaml.Strict())
		if err == nil {
			return v, errs, true
		}
		e, ok := decodeError(b, err).(*Error)
		if !ok {
			return v, append(errs, &Error{Msg: err.Error()}), false
		}
		errs = append(errs, e)
		if tries >= 100 || e.Path == "" || !removeKey(body, e.Path) {
			return v, errs, false
		}
	}
}

// removeKey deletes the mapping entry whose key or value is at path.
func removeKey(n ast.Node, path string) bool {
	switch m := n.(type) {
	case *ast.MappingNode:
		for i, mv := range m.Values {
			if mv.Key.GetPath() == path || mv.Value.GetPath() == path {
				m.Values = append(m.Values[:i:i], m.Values[i+1:]...)
				return true
			}
			if removeKey(mv.Value, path) {
				return true
			}
		}
	case *ast.MappingValueNode:
		if m.Key.GetPath() == path || m.Value.GetPath() == path {
			return false // a document of one key: nothing left to decode
		}
		return removeKey(m.Value, path)
	case *ast.SequenceNode:
		for _, it := range m.Values {
			if removeKey(it, path) {
				return true
			}
		}
	case *ast.TagNode:
		return removeKey(m.Value, path)
	case *ast.AnchorNode:
		return removeKey(m.Value, path)
	}
	return false
}

// checkTags refuses tags other than YAML's own (!!str, !!int, ...): a local
// tag such as "!x" means nothing to wirebox, and the YAML library drops
// the value it is on without a word, or panics ("ports: !x\n"). The
// tokens are read, not the tree, which a tag can keep from being built.
func checkTags(doc []byte) ErrorList {
	toks := lexer.Tokenize(string(doc) + "\n") // a tag at the very end is dropped without it
	var errs ErrorList
	var f *ast.File
	for i, tk := range toks {
		if tk.Type != token.TagType || strings.HasPrefix(tk.Value, "!!") || tk.Position == nil {
			continue
		}
		e := &Error{Line: tk.Position.Line, Msg: fmt.Sprintf("unknown YAML tag %s", tk.Value)}
		// The key before it on its line names it ("ports: !x").
		for j := i - 1; j > 0 && toks[j].Position != nil && toks[j].Position.Line == e.Line; j-- {
			if toks[j].Type != token.MappingValueType {
				continue
			}
			key := toks[j-1]
			e.Path = "$." + key.Value
			if f == nil {
				f = parseQuietly(doc)
			}
			if f != nil && key.Position != nil {
				if n := findNode(f, func(n ast.Node) bool {
					t := n.GetToken()
					return t != nil && t.Position != nil && t.Position.Line == key.Position.Line && t.Position.Column == key.Position.Column
				}); n != nil {
					e.Path = n.GetPath()
				}
			}
			break
		}
		errs = append(errs, e)
	}
	return errs
}

// parseQuietly parses doc for the paths of its nodes, or returns nil.
func parseQuietly(doc []byte) (f *ast.File) {
	defer func() {
		if recover() != nil {
			f = nil
		}
	}()
	f, err := parser.ParseBytes(doc, 0)
	if err != nil {
		return nil
	}
	return f
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
	var own *Error
	if errors.As(err, &own) {
		return own
	}
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

// validate checks the core's keys and reports every bad one (an
// ErrorList, or nil).
func (c *Config) validate() error {
	var errs ErrorList
	bad := func(path, format string, args ...any) {
		errs = append(errs, &Error{Path: path, Msg: fmt.Sprintf(format, args...)})
	}
	if strings.TrimSpace(c.Name) == "" {
		bad("$.name", "must not be empty")
	}
	if c.API.Socket == "" {
		bad("$.api.socket", "must not be empty: the local API is always on")
	}
	if _, err := c.API.Mode(); err != nil {
		bad("$.api.socket_mode", "%v", err)
	}
	// The group is looked up when the daemon starts (GID), not here: a
	// file is checked on machines (an image build) without the group.
	if g := c.API.SocketGroup; strings.ContainsAny(g, " :/\t\n") || strings.HasPrefix(g, "-") {
		bad("$.api.socket_group", "%q is not a group name or number", g)
	}
	if c.API.Listen != "" {
		if _, _, err := net.SplitHostPort(c.API.Listen); err != nil {
			bad("$.api.listen", "want host:port: %v", err)
		}
		for _, k := range []struct{ path, v string }{
			{"$.api.tls_cert", c.API.TLSCert}, {"$.api.tls_key", c.API.TLSKey}, {"$.api.token_file", c.API.TokenFile},
		} {
			if k.v == "" {
				bad("$.api.listen", "a remote API listener requires api.tls_cert, api.tls_key and api.token_file; %s is missing", strings.TrimPrefix(k.path, "$."))
				break
			}
		}
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("$.log.level", "must be debug, info, warn or error, not %q", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("$.log.format", "must be text or json, not %q", c.Log.Format)
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
			bad(d.path, "must be a positive duration")
		}
	}
	if s.BackoffMax < s.BackoffBase && s.BackoffBase > 0 {
		bad("$.supervisor.backoff_max", "must not be less than backoff_base (%v)", s.BackoffBase.D())
	}
	if s.MaxFailures < 1 {
		bad("$.supervisor.max_failures", "must be at least 1")
	}
	// Management stops at its first error; every other key is reported.
	_ = c.validateManagement(func(path, format string, args ...any) error {
		bad(path, format, args...)
		return nil
	})
	c.validatePorts(bad)
	if len(errs) == 0 {
		return nil
	}
	return errs
}

// validatePorts checks the pool and the ports, filling in port defaults.
func (c *Config) validatePorts(bad func(path, format string, args ...any)) {
	if c.Pool.FrameSize != 2048 && c.Pool.FrameSize != 4096 {
		bad("$.pool.frame_size", "must be 2048 or 4096, not %d", c.Pool.FrameSize)
	}
	if c.Pool.Frames < 1024 || c.Pool.Frames > 1<<22 {
		bad("$.pool.frames", "must be from 1024 to %d, not %d", 1<<22, c.Pool.Frames)
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
			bad(fmt.Sprintf("$.ports[%d]", i), "port needs a name (the network interface)")
			continue
		}
		if len(p.Name) > 15 || strings.ContainsAny(p.Name, "/ \t") {
			bad(at("name"), "%q is not a network interface name", p.Name)
		}
		if j, dup := seen[p.Name]; dup {
			bad(at("name"), "port %q is already configured as ports[%d]", p.Name, j)
		}
		seen[p.Name] = i
		if p.Mode == "" {
			bad(at("name"), "port %q needs a mode: passive or bypass", p.Name)
		} else if p.Mode != PortPassive && p.Mode != PortBypass {
			bad(at("mode"), "must be passive or bypass, not %q", p.Mode)
		}
		if p.Queues == 0 {
			p.Queues = 1
		}
		if p.Queues < 1 || p.Queues > 64 {
			bad(at("queues"), "must be from 1 to 64, not %d", p.Queues)
		}
		if p.Netns != "" && !strings.HasPrefix(p.Netns, "/") && strings.ContainsAny(p.Netns, "/ ") {
			bad(at("netns"), "want a namespace name or an absolute path, not %q", p.Netns)
		}
		switch p.Mode {
		case PortPassive:
			if p.Forward != "" {
				bad(at("forward"), "only bypass ports forward; a passive port's traffic stays with the host")
			}
			if p.RingFrames != 0 {
				bad(at("ring_frames"), "is for bypass ports; passive ports use ring_blocks and block_size")
			}
			if p.RingBlocks == 0 {
				p.RingBlocks = 64
			}
			if p.BlockSize == 0 {
				p.BlockSize = 1 << 20
			}
			if p.RingBlocks < 2 || p.RingBlocks > 4096 {
				bad(at("ring_blocks"), "must be from 2 to 4096, not %d", p.RingBlocks)
			}
			if p.BlockSize < 4096 || p.BlockSize > 1<<26 || p.BlockSize&(p.BlockSize-1) != 0 {
				bad(at("block_size"), "must be a power of two from 4096 to %d, not %d", 1<<26, p.BlockSize)
			}
		case PortBypass:
			if p.RingBlocks != 0 || p.BlockSize != 0 {
				bad(at("ring_blocks"), "ring_blocks and block_size are for passive ports; bypass ports use ring_frames")
			}
			if p.RingFrames == 0 {
				p.RingFrames = 2048
			}
			if p.RingFrames < 64 || p.RingFrames > 1<<16 || p.RingFrames&(p.RingFrames-1) != 0 {
				bad(at("ring_frames"), "must be a power of two from 64 to 65536, not %d", p.RingFrames)
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
			bad(fmt.Sprintf("$.ports[%d].forward", i), "a port cannot forward to itself")
		case !ok:
			bad(fmt.Sprintf("$.ports[%d].forward", i), "no port named %q is configured", p.Forward)
		case c.Ports[j].Mode != PortBypass:
			bad(fmt.Sprintf("$.ports[%d].forward", i), "port %q is passive; forward to a bypass port", p.Forward)
		}
	}
	// Bypass ports keep their fill rings stocked from the pool; leave at
	// least as much again for frames in flight.
	if xdpFrames > 0 && c.Pool.Frames < 2*xdpFrames {
		bad("$.pool.frames", "%d frames cannot back the bypass ports' rings (%d frames); want at least %d", c.Pool.Frames, xdpFrames, 2*xdpFrames)
	}
}

// GID returns the socket's group id, or -1 when no group is configured.
func (a APIConfig) GID() (int, error) {
	if a.SocketGroup == "" {
		return -1, nil
	}
	if n, err := strconv.Atoi(a.SocketGroup); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("group id %d is negative", n)
		}
		return n, nil
	}
	g, err := user.LookupGroup(a.SocketGroup)
	if err != nil {
		return 0, fmt.Errorf("api.socket_group: no group %q on this system", a.SocketGroup)
	}
	return strconv.Atoi(g.Gid)
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
