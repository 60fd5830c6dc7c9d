package pkttest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"testing"
)

// NetNS creates a named network namespace with loopback up and removes it
// when the test ends. Without the privilege to do so the test skips, or
// fails when the CI environment variable is set.
func NetNS(tb testing.TB) string {
	tb.Helper()
	var b [4]byte
	rand.Read(b[:])
	name := "wbcap-" + hex.EncodeToString(b[:])
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatalf("ip netns add: %v: %s", err, out)
		}
		tb.Skipf("cannot create a network namespace (need root): %v: %s", err, out)
	}
	tb.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			tb.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	if out, err := exec.Command("ip", "-n", name, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		tb.Fatalf("lo up in %s: %v: %s", name, err, out)
	}
	return name
}

// InNS returns a command that runs argv inside the namespace.
func InNS(ns string, argv ...string) *exec.Cmd {
	return exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...)
}
