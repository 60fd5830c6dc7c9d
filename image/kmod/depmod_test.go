package kmod_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/image"
	"github.com/wirebox/wirebox/image/kmod"
)

// TestAgainstDepmod writes modules.dep for every module of Debian's cloud
// kernel and compares it, line by line, with what the real depmod writes
// for the same tree.
func TestAgainstDepmod(t *testing.T) {
	need := func(err error) {
		t.Helper()
		if os.Getenv("CI") != "" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if testing.Short() && os.Getenv("CI") == "" {
		t.Skip("-short: needs the kernel package") // under CI it runs anyway
	}
	if _, err := exec.LookPath("depmod"); err != nil {
		need(err) // apt-get install -y kmod
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	k, err := image.FetchKernel(ctx, "", filepath.Join(cache, "wirebox", "kernel"))
	if err != nil {
		need(err)
	}
	// depmod writes into the tree: give it a hard-linked copy.
	base := t.TempDir()
	dst := filepath.Join(base, "lib", "modules", k.Version)
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("cp", "-al", k.ModulesDir, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	for _, f := range []string{"modules.dep", "modules.dep.bin"} {
		os.Remove(filepath.Join(dst, f))
	}
	if out, err := exec.Command("depmod", "-b", base, k.Version).CombinedOutput(); err != nil {
		t.Fatalf("depmod: %v\n%s", err, out)
	}
	want, err := os.ReadFile(filepath.Join(dst, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	tree, err := kmod.ReadModuleTree(k.ModulesDir)
	if err != nil {
		t.Fatal(err)
	}
	var got bytes.Buffer
	if err := tree.WriteModulesDep(&got, tree.Modules); err != nil {
		t.Fatal(err)
	}
	wantLine := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(want)), "\n") {
		mod, _, _ := strings.Cut(l, ":")
		wantLine[mod] = l
	}
	gotLines := strings.Split(strings.TrimSpace(got.String()), "\n")
	if len(gotLines) != len(wantLine) {
		t.Errorf("%d modules, depmod lists %d", len(gotLines), len(wantLine))
	}
	bad := 0
	for _, l := range gotLines {
		mod, _, _ := strings.Cut(l, ":")
		if wantLine[mod] != l {
			bad++
			if bad <= 5 {
				t.Errorf("got  %q\nwant %q", l, wantLine[mod])
			}
		}
	}
	t.Logf("%s: %d modules, %d lines differ from depmod", k.Version, len(gotLines), bad)

	// The image's subset must be closed under dependencies.
	mods, err := tree.Closure(image.DefaultModules)
	if err != nil {
		t.Fatal(err)
	}
	var sub bytes.Buffer
	if err := tree.WriteModulesDep(&sub, mods); err != nil {
		t.Fatal(err)
	}
	deps, order, err := kmod.ParseModulesDep(&sub)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kmod.LoadOrder(deps, order); err != nil {
		t.Errorf("image subset: %v", err)
	}
}
