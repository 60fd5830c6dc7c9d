package kmod

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// ErrUnknownModule reports a module name not found in the kernel's module tree.
var ErrUnknownModule = errors.New("unknown kernel module")

// Module is one .ko file of a kernel module tree.
type Module struct {
	Name    string   // modinfo name, underscores (e.g. "virtio_net")
	Path    string   // relative to the module tree root, e.g. "kernel/drivers/net/virtio_net.ko"
	Depends []string // direct dependencies (modinfo "depends=") in file order

	exports   []string // symbols the module exports (__ksymtab_strings)
	undefined []string // symbols it uses, in symbol table order
	deps      []*Module

	users   int // how many modules depend on this one
	sortIdx int // position in the topological order (as depmod's dep_sort_idx)
}

// ModuleTree is a kernel's module directory (/lib/modules/VERSION) read the
// way depmod reads it, so the modules.dep we write is what depmod writes.
type ModuleTree struct {
	Root    string
	Modules []*Module // in modules.order order, then path order
	byName  map[string]*Module
}

// ModInfo reads the key=value pairs of a module's .modinfo ELF section.
func ModInfo(r io.ReaderAt) (map[string][]string, error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, fmt.Errorf("read ELF: %w", err)
	}
	defer f.Close()
	sec := f.Section(".modinfo")
	if sec == nil {
		return nil, errors.New("no .modinfo section")
	}
	data, err := sec.Data()
	if err != nil {
		return nil, fmt.Errorf("read .modinfo: %w", err)
	}
	return parseModInfo(data), nil
}

// parseModInfo splits NUL-separated key=value strings; entries without '='
// (padding) are skipped.
func parseModInfo(data []byte) map[string][]string {
	info := map[string][]string{}
	for _, kv := range bytes.Split(data, []byte{0}) {
		k, v, ok := bytes.Cut(kv, []byte{'='})
		if !ok || len(k) == 0 {
			continue
		}
		info[string(k)] = append(info[string(k)], string(v))
	}
	return info
}

// normalize maps a module or file name to the kernel's canonical form.
func normalize(name string) string {
	name = strings.TrimSuffix(filepath.Base(name), ".ko")
	return strings.ReplaceAll(name, "-", "_")
}

// ReadModuleTree reads every .ko under root (a /lib/modules/VERSION
// directory) and orders the modules as depmod does: by modules.order when
// present, the rest by path.
func ReadModuleTree(root string) (*ModuleTree, error) {
	t := &ModuleTree{Root: root, byName: map[string]*Module{}}
	var paths []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && strings.HasSuffix(p, ".ko") {
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			paths = append(paths, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk module tree %s: %w", root, err)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no .ko files under %s (compressed modules are not supported)", root)
	}
	order := map[string]int{}
	if b, err := os.ReadFile(filepath.Join(root, "modules.order")); err == nil {
		for i, l := range strings.Split(string(b), "\n") {
			l = strings.TrimSpace(l)
			if l != "" {
				order[l] = i
			}
		}
	}
	sort.SliceStable(paths, func(i, j int) bool {
		oi, iok := order[paths[i]]
		oj, jok := order[paths[j]]
		switch {
		case iok && jok:
			return oi < oj
		case iok != jok:
			return iok
		default:
			return paths[i] < paths[j]
		}
	})
	for _, p := range paths {
		m, err := readModule(root, p)
		if err != nil {
			return nil, err
		}
		if _, dup := t.byName[m.Name]; dup {
			continue // depmod keeps the first by priority; we keep the first in order
		}
		t.byName[m.Name] = m
		t.Modules = append(t.Modules, m)
	}
	if err := t.link(); err != nil {
		return nil, err
	}
	return t, nil
}

// link resolves each module's dependencies (in depmod's symbol order),
// counts users and sorts the tree topologically.
func (t *ModuleTree) link() error {
	owner := map[string]*Module{}
	for _, m := range t.Modules {
		for _, s := range m.exports {
			if _, ok := owner[s]; !ok {
				owner[s] = m
			}
		}
	}
	for _, m := range t.Modules {
		// depmod orders a module's direct dependencies by the first use of
		// one of their symbols in the module's symbol table; that order
		// decides ties in the topological sort, so we keep it.
		seen := map[*Module]bool{}
		for _, s := range m.undefined {
			if o := owner[s]; o != nil && o != m && !seen[o] {
				seen[o] = true
				m.deps = append(m.deps, o)
			}
		}
		for _, d := range m.Depends {
			dm, ok := t.byName[d]
			if !ok {
				return fmt.Errorf("%s depends on %q: %w", m.Path, d, ErrUnknownModule)
			}
			if !seen[dm] { // modinfo knows a dependency the symbols did not show
				seen[dm] = true
				m.deps = append(m.deps, dm)
			}
		}
		for _, dm := range m.deps {
			dm.users++
		}
	}
	t.sortTopological()
	return nil
}

func readModule(root, rel string) (m *Module, err error) {
	f, err := os.Open(filepath.Join(root, rel))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := ModInfo(f)
	if err != nil {
		return nil, fmt.Errorf("module %s: %w", rel, err)
	}
	m = &Module{Path: rel, Name: normalize(rel)}
	if n := info["name"]; len(n) > 0 && n[0] != "" {
		m.Name = normalize(n[0])
	}
	if m.exports, m.undefined, err = symbols(f); err != nil {
		return nil, fmt.Errorf("module %s: %w", rel, err)
	}
	for _, d := range info["depends"] {
		for _, name := range strings.Split(d, ",") {
			if name = strings.TrimSpace(name); name != "" {
				m.Depends = append(m.Depends, normalize(name))
			}
		}
	}
	return m, nil
}

// sortTopological assigns sortIdx with depmod's algorithm: a stack of
// modules nobody depends on, seeded in tree order; popping one gives it the
// next index and releases its dependencies. Users therefore sort before
// what they use.
func (t *ModuleTree) sortTopological() {
	users := make(map[*Module]int, len(t.Modules))
	var stack []*Module
	for _, m := range t.Modules {
		users[m] = m.users
		if m.users == 0 {
			stack = append(stack, m)
		}
	}
	n := 0
	for len(stack) > 0 {
		m := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		m.sortIdx = n
		n++
		for _, dm := range m.deps {
			users[dm]--
			if users[dm] == 0 {
				stack = append(stack, dm)
			}
		}
	}
}

// Lookup returns a module by name ('-' and '_' are equivalent).
func (t *ModuleTree) Lookup(name string) (*Module, bool) {
	m, ok := t.byName[normalize(name)]
	return m, ok
}

// AllDeps returns every module m needs, directly or not, in modules.dep
// order (closest users first; modprobe loads the list from the end).
func (t *ModuleTree) AllDeps(m *Module) []*Module {
	seen := map[*Module]bool{}
	var out []*Module
	var walk func(*Module)
	walk = func(x *Module) {
		for _, dm := range x.deps {
			if !seen[dm] {
				seen[dm] = true
				out = append(out, dm)
				walk(dm)
			}
		}
	}
	walk(m)
	sort.SliceStable(out, func(i, j int) bool { return out[i].sortIdx < out[j].sortIdx })
	return out
}

// Closure returns the named modules plus everything they depend on, in
// tree order. Unknown names are an error wrapping ErrUnknownModule.
func (t *ModuleTree) Closure(names []string) ([]*Module, error) {
	want := map[*Module]bool{}
	for _, n := range names {
		m, ok := t.Lookup(n)
		if !ok {
			return nil, fmt.Errorf("%q in %s: %w", n, t.Root, ErrUnknownModule)
		}
		want[m] = true
		for _, d := range t.AllDeps(m) {
			want[d] = true
		}
	}
	var out []*Module
	for _, m := range t.Modules {
		if want[m] {
			out = append(out, m)
		}
	}
	return out, nil
}

// WriteModulesDep writes the modules.dep lines of mods exactly as depmod
// formats them: "path: dep dep" and "path:" (no trailing space) for a
// module without dependencies, in tree order.
func (t *ModuleTree) WriteModulesDep(w io.Writer, mods []*Module) error {
	bw := bufio.NewWriter(w)
	for _, m := range mods {
		bw.WriteString(m.Path)
		bw.WriteByte(':')
		for _, d := range t.AllDeps(m) {
			bw.WriteByte(' ')
			bw.WriteString(d.Path)
		}
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// ParseModulesDep parses modules.dep text into module path -> dependency
// paths (in file order). It rejects lines without a colon.
func ParseModulesDep(r io.Reader) (map[string][]string, []string, error) {
	deps := map[string][]string{}
	var order []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for line := 1; sc.Scan(); line++ {
		l := sc.Text()
		if strings.TrimSpace(l) == "" || strings.HasPrefix(l, "#") {
			continue
		}
		mod, rest, ok := strings.Cut(l, ":")
		if !ok || strings.TrimSpace(mod) == "" {
			return nil, nil, fmt.Errorf("modules.dep line %d: %q: want \"path: deps\"", line, l)
		}
		mod = strings.TrimSpace(mod)
		if _, dup := deps[mod]; dup {
			return nil, nil, fmt.Errorf("modules.dep line %d: %s listed twice", line, mod)
		}
		deps[mod] = strings.Fields(rest)
		order = append(order, mod)
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("read modules.dep: %w", err)
	}
	return deps, order, nil
}

// LoadOrder returns module paths so that each comes after all it depends
// on, following modprobe: a module's dependency list is loaded from its end.
// Dependencies missing from deps are an error.
func LoadOrder(deps map[string][]string, order []string) ([]string, error) {
	done := map[string]bool{}
	var out []string
	for _, m := range order {
		list := deps[m]
		for i := len(list) - 1; i >= 0; i-- {
			d := list[i]
			if _, ok := deps[d]; !ok {
				return nil, fmt.Errorf("%s needs %s, which modules.dep does not list", m, d)
			}
			if !done[d] {
				done[d] = true
				out = append(out, d)
			}
		}
		if !done[m] {
			done[m] = true
			out = append(out, m)
		}
	}
	return out, nil
}

// symbols returns a module's exported symbol names and the names of the
// undefined symbols it uses, in symbol table order.
func symbols(r io.ReaderAt) (exports, undefined []string, err error) {
	f, err := elf.NewFile(r)
	if err != nil {
		return nil, nil, fmt.Errorf("read ELF: %w", err)
	}
	defer f.Close()
	if sec := f.Section("__ksymtab_strings"); sec != nil {
		data, err := sec.Data()
		if err != nil {
			return nil, nil, fmt.Errorf("read __ksymtab_strings: %w", err)
		}
		for _, s := range bytes.Split(data, []byte{0}) {
			if len(s) > 0 {
				exports = append(exports, string(s))
			}
		}
	}
	syms, err := f.Symbols()
	if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
		return nil, nil, fmt.Errorf("read symbols: %w", err)
	}
	for _, s := range syms {
		if s.Section == elf.SHN_UNDEF && s.Name != "" {
			undefined = append(undefined, s.Name)
		}
	}
	return exports, undefined, nil
}
