package kmod

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseModInfo(t *testing.T) {
	data := []byte("license=GPL\x00depends=net_failover,virtio\x00\x00\x00name=virtio_net\x00vermagic=6.1.0 SMP\x00garbage\x00")
	got := parseModInfo(data)
	want := map[string][]string{
		"license":  {"GPL"},
		"depends":  {"net_failover,virtio"},
		"name":     {"virtio_net"},
		"vermagic": {"6.1.0 SMP"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseModInfo = %v, want %v", got, want)
	}
}

func TestModInfoNotELF(t *testing.T) {
	if _, err := ModInfo(strings.NewReader("not an ELF file at all, sorry")); err == nil {
		t.Error("ModInfo accepted a non-ELF file")
	}
}

func TestLoadOrder(t *testing.T) {
	dep := "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko\n" +
		"kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko\n" +
		"kernel/net/core/failover.ko:\n" +
		"kernel/drivers/net/tun.ko:\n"
	deps, order, err := ParseModulesDep(strings.NewReader(dep))
	if err != nil {
		t.Fatal(err)
	}
	got, err := LoadOrder(deps, order)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"kernel/net/core/failover.ko", "kernel/drivers/net/net_failover.ko", "kernel/drivers/net/virtio_net.ko", "kernel/drivers/net/tun.ko"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("LoadOrder = %v, want %v", got, want)
	}
}

func TestParseModulesDepErrors(t *testing.T) {
	for _, in := range []string{
		"no colon here\n",
		": deps without a module\n",
		"a.ko:\na.ko: b.ko\n",
	} {
		if _, _, err := ParseModulesDep(strings.NewReader(in)); err == nil {
			t.Errorf("ParseModulesDep(%q) accepted bad input", in)
		}
	}
	deps, order, err := ParseModulesDep(strings.NewReader("a.ko: b.ko\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrder(deps, order); err == nil {
		t.Error("LoadOrder accepted a dependency modules.dep does not list")
	}
}

func TestWriteModulesDepFormat(t *testing.T) {
	// A synthetic tree: c uses b and a (in that symbol order), b uses a.
	a := &Module{Name: "a", Path: "kernel/a.ko"}
	b := &Module{Name: "b", Path: "kernel/b.ko", Depends: []string{"a"}, undefined: []string{"fa"}}
	c := &Module{Name: "c", Path: "kernel/c.ko", Depends: []string{"a", "b"}, undefined: []string{"fb", "fa"}}
	a.exports = []string{"fa"}
	b.exports = []string{"fb"}
	tr := &ModuleTree{Modules: []*Module{c, b, a}, byName: map[string]*Module{"a": a, "b": b, "c": c}}
	if err := tr.link(); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := tr.WriteModulesDep(&buf, tr.Modules); err != nil {
		t.Fatal(err)
	}
	want := "kernel/c.ko: kernel/b.ko kernel/a.ko\nkernel/b.ko: kernel/a.ko\nkernel/a.ko:\n"
	if buf.String() != want {
		t.Errorf("modules.dep =\n%q\nwant\n%q", buf.String(), want)
	}
	if _, err := tr.Closure([]string{"nope"}); !errors.Is(err, ErrUnknownModule) {
		t.Errorf("Closure(unknown) = %v, want ErrUnknownModule", err)
	}
	got, err := tr.Closure([]string{"b"})
	if err != nil || len(got) != 2 || got[0] != b || got[1] != a {
		t.Errorf("Closure(b) = %v, %v; want [b a]", got, err)
	}
}

func FuzzParseModulesDep(f *testing.F) {
	f.Add("kernel/a.ko: kernel/b.ko kernel/c.ko\nkernel/b.ko: kernel/c.ko\nkernel/c.ko:\n")
	f.Add("# comment\n\nx.ko:\n")
	f.Add("a.ko: a.ko\n")
	f.Add("a.ko: b.ko\nb.ko: a.ko\n")
	f.Fuzz(func(t *testing.T, s string) {
		deps, order, err := ParseModulesDep(strings.NewReader(s))
		if err != nil {
			return
		}
		load, err := LoadOrder(deps, order)
		if err != nil {
			return
		}
		// Every listed module is loaded exactly once.
		seen := map[string]bool{}
		for _, m := range load {
			if seen[m] {
				t.Fatalf("%s loaded twice", m)
			}
			seen[m] = true
		}
		for _, m := range order {
			if !seen[m] {
				t.Fatalf("%s never loaded", m)
			}
		}
	})
}
