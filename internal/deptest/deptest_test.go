package deptest

import (
	"bytes"
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// listModule runs `go list` over the whole module and returns its packages
// with their imports (not tests' imports: a test may use what it likes).
func listModule(t *testing.T) []Package {
	t.Helper()
	cmd := exec.Command("go", "list", "-e", "-json=ImportPath,Imports,Error", "./...")
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []Package
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Imports    []string
			Error      *struct{ Err string }
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Error != nil {
			t.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		pkgs = append(pkgs, Package{Path: p.ImportPath, Imports: p.Imports})
	}
	if len(pkgs) < 20 {
		t.Fatalf("go list found only %d packages; is the module root ../..?", len(pkgs))
	}
	return pkgs
}

// TestLayers fails with the reason for every import that crosses a layer.
func TestLayers(t *testing.T) {
	pkgs := listModule(t)
	for _, v := range Check(pkgs, Rules) {
		t.Error(v)
	}
	// The check saw the layers it guards.
	seen := map[Layer]bool{}
	for _, p := range pkgs {
		l, _ := Classify(p.Path)
		seen[l] = true
	}
	for _, l := range []Layer{Internal, Services, Core, Console, Contract, Subsystem, Daemon, CLI, Cmd} {
		if !seen[l] {
			t.Errorf("no package in layer %s: the classification no longer matches the tree", l)
		}
	}
}

// TestCheckerCatches feeds the checker a synthetic module with one
// violation of each rule and one allowed import of each kind, so the
// layer test cannot pass by checking nothing.
func TestCheckerCatches(t *testing.T) {
	m := func(p string) string { return Module + "/" + p }
	pkgs := []Package{
		// Violations, each with the words of the reason it must give.
		{m("capture/session"), []string{m("mirror/server")}}, // subsystem -> another subsystem
		{m("rmon/agent"), []string{m("tap/netmap")}},         // subsystem -> another subsystem
		{m("capture"), []string{m("capture/capturesvc")}},    // core -> subsystem
		{m("tap"), []string{m("daemon")}},                    // core -> daemon
		{m("services"), []string{m("capture")}},              // services -> core
		{m("internal/config"), []string{m("services")}},      // internal -> services
		{m("tui"), []string{m("capture/captureui")}},         // console -> subsystem panel
		{m("subsys"), []string{m("capture/capturesvc")}},     // contract -> subsystem
		{m("mirror"), []string{m("cli")}},                    // subsystem -> cli
		{m("qemu"), []string{m("daemon")}},                   // tool -> daemon
		{m("newthing"), nil},                                 // a folder with no layer
		// Allowed imports.
		{m("capture/capturesvc"), []string{m("capture"), m("capture/session"), m("services"), m("subsys"), m("internal/api"), "net/http"}},
		{m("capture/captureui"), []string{m("tui"), m("internal/api")}},
		{m("capture/coresvc"), []string{m("capture"), m("tap"), m("services"), m("internal/config")}},
		{m("daemon"), []string{m("capture/capturesys"), m("subsys"), m("services"), m("internal/config")}},
		{m("cli"), []string{m("daemon"), m("tui"), m("image")}},
		{m("cmd/wirebox"), []string{m("cli")}},
		{m("rmon"), []string{m("capture"), m("tap"), m("subsys")}},
		{m("mirror"), []string{m("tap/tapcore"), m("capture")}}, // tap/tapcore is core: in-process tap attachments
	}
	// from -> to: words of the reason the checker must give.
	want := parseWant(t, `
		capture/session -> mirror/server: never import each other
		rmon/agent -> tap/netmap: never import each other
		capture -> capture/capturesvc: core
		tap -> daemon: core
		tap -> daemon: only the command line imports it
		services -> capture: supervisor
		internal/config -> services: bottom floor
		tui -> capture/captureui: console framework
		subsys -> capture/capturesvc: contract
		mirror -> cli: a subsystem builds on
		mirror -> cli: only cmd/ imports it
		qemu -> daemon: only the command line imports it
		newthing -> : no layer`)
	got := Check(pkgs, Rules)
	for _, w := range want {
		found := false
		for _, v := range got {
			if short(v.From) == w.from && short(v.To) == w.to && strings.Contains(v.Reason, w.words) {
				found = true
			}
		}
		if !found {
			t.Errorf("the checker missed %s -> %s (%q)", w.from, w.to, w.words)
		}
	}
	if len(got) != len(want) {
		for _, v := range got {
			t.Log(v)
		}
		t.Errorf("%d violations, want exactly %d: an allowed import was flagged or a rule fired twice", len(got), len(want))
	}
}

type wantViolation struct{ from, to, words string }

func parseWant(t *testing.T, text string) []wantViolation {
	t.Helper()
	var out []wantViolation
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		edge, words, ok := strings.Cut(strings.TrimSpace(line), ": ")
		from, to, ok2 := strings.Cut(edge, " -> ")
		if !ok || !ok2 {
			t.Fatalf("bad want line %q", line)
		}
		out = append(out, wantViolation{strings.TrimSpace(from), strings.TrimSpace(to), words})
	}
	return out
}
