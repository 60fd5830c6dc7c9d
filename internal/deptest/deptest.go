// Package deptest checks wirebox's layers, in the spirit of tailscale's
// tstest/deptest: every package is put in a layer by its path, and a table
// of rules, each with its reason, says which layers a layer may import.
// The test in this package runs the check over `go list` of the whole
// module, so `make test` fails when an import crosses a layer.
package deptest

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// Module is wirebox's module path.
const Module = "github.com/wirebox/wirebox"

// Layer is what a package is, architecturally.
type Layer string

// The layers, bottom up.
const (
	Internal  Layer = "internal"  // internal/*: api, config, buildinfo, test helpers
	Services  Layer = "services"  // services/: the supervisor and its contract
	Core      Layer = "core"      // capture and tap root packages, capture/coresvc, tap/tapcore (and the fixtures capturetest, taptest): the one pool and core
	Console   Layer = "console"   // tui/: the console framework and the core's panels
	Contract  Layer = "subsys"    // subsys/: what a subsystem hands the daemon
	Subsystem Layer = "subsystem" // capture/*, tap/*, mirror/*, rmon/*, ha/*: one subsystem each
	Daemon    Layer = "daemon"    // daemon/: the wiring, the table of subsystems
	CLI       Layer = "cli"       // cli/: the command line
	Cmd       Layer = "cmd"       // cmd/*: mains
	Tool      Layer = "tool"      // image/, qemu/, bench/: image building, QEMU, benchmarks
	Unknown   Layer = "unknown"
)

// Package is one package of the module as the check sees it.
type Package struct {
	Path    string // import path
	Imports []string
}

// Classify returns the layer of an import path of the module and, for a
// subsystem, its name (the folder that holds it).
func Classify(path string) (Layer, string) {
	rel, ok := strings.CutPrefix(path, Module)
	if !ok {
		return "", "" // not ours
	}
	rel = strings.TrimPrefix(rel, "/")
	top, rest, _ := strings.Cut(rel, "/")
	switch top {
	case "internal":
		return Internal, ""
	case "services":
		return Services, ""
	case "subsys":
		return Contract, ""
	case "tui":
		return Console, ""
	case "daemon":
		return Daemon, ""
	case "cli":
		return CLI, ""
	case "cmd":
		return Cmd, ""
	case "image", "qemu", "bench":
		return Tool, ""
	case "capture":
		if rest == "" || rest == "coresvc" || rest == "capturetest" { // capturetest: the core's test fixture
			return Core, ""
		}
		return Subsystem, "capture"
	case "tap":
		if rest == "" || rest == "tapcore" || strings.HasPrefix(rest, "tapcore/") {
			return Core, ""
		}
		return Subsystem, "tap"
	case "mirror", "rmon", "ha":
		return Subsystem, top
	}
	return Unknown, ""
}

// Rule constrains the imports of one layer (From) or into one (To).
type Rule struct {
	// From: the importing layer; Only lists what it may import.
	From Layer
	Only []Layer
	// OtherSubsystem: From (a subsystem) must not import a different subsystem.
	OtherSubsystem bool
	// To: the imported layer; OnlyFrom lists who may import it.
	To       Layer
	OnlyFrom []Layer
	Reason   string
}

// Rules is the layering of wirebox. Each import between two packages of
// the module must pass every rule.
var Rules = []Rule{
	{From: Internal, Only: []Layer{Internal},
		Reason: "internal/ is the bottom floor (api types and client, config, test helpers): it imports nothing of wirebox outside internal/"},
	{From: Services, Only: []Layer{Internal, Services},
		Reason: "services/ is the supervisor: it knows the Service contract and internal/ only, never what it supervises"},
	{From: Core, Only: []Layer{Internal, Services, Core},
		Reason: "the core (capture, tap, capture/coresvc) sits below every subsystem: it must not import a subsystem, subsys, the console, the daemon or the CLI"},
	{From: Console, Only: []Layer{Internal, Console},
		Reason: "the console framework (tui) knows the API only: subsystems' panels import it, it never imports them"},
	{From: Contract, Only: []Layer{Internal, Services, Core, Console, Contract},
		Reason: "subsys is the contract subsystems import: it sits on the core and must not import a subsystem, the daemon or the CLI"},
	{From: Subsystem, Only: []Layer{Internal, Services, Core, Console, Contract, Subsystem},
		Reason: "a subsystem builds on the core, services, subsys, the console framework and internal/ only; the daemon wires it"},
	{From: Subsystem, OtherSubsystem: true,
		Reason: "subsystems never import each other: they share frames through the core and meet only in the daemon's table"},
	{To: CLI, OnlyFrom: []Layer{Cmd, CLI},
		Reason: "the command line is the top floor: only cmd/ imports it"},
	{To: Daemon, OnlyFrom: []Layer{CLI, Daemon},
		Reason: "the daemon's wiring sits above every subsystem: only the command line imports it"},
}

// Violation is one import that breaks a rule (or a package no rule knows).
type Violation struct {
	From, To string
	Reason   string
}

func (v Violation) String() string {
	if v.To == "" {
		return fmt.Sprintf("%s: %s", short(v.From), v.Reason)
	}
	return fmt.Sprintf("%s imports %s: %s", short(v.From), short(v.To), v.Reason)
}

func short(p string) string {
	if r := strings.TrimPrefix(strings.TrimPrefix(p, Module), "/"); r != "" {
		return r
	}
	return p
}

// Check returns every violation of rules among pkgs, sorted.
func Check(pkgs []Package, rules []Rule) []Violation {
	var out []Violation
	for _, p := range pkgs {
		fl, fsub := Classify(p.Path)
		if fl == Unknown {
			out = append(out, Violation{From: p.Path, Reason: "no layer: add its folder to deptest.Classify"})
			continue
		}
		for _, imp := range p.Imports {
			tl, tsub := Classify(imp)
			if tl == "" {
				continue // the standard library or another module
			}
			for _, r := range rules {
				if broken(r, fl, fsub, tl, tsub) {
					out = append(out, Violation{From: p.Path, To: imp, Reason: r.Reason})
				}
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func broken(r Rule, fl Layer, fsub string, tl Layer, tsub string) bool {
	switch {
	case r.OtherSubsystem:
		return fl == r.From && tl == Subsystem && tsub != fsub
	case r.To != "":
		return tl == r.To && !slices.Contains(r.OnlyFrom, fl)
	default:
		return fl == r.From && !slices.Contains(r.Only, tl)
	}
}
