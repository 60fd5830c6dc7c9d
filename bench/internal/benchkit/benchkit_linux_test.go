package benchkit

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/wirebox/wirebox/internal/netns"
)

func TestShError(t *testing.T) {
	err := Sh("sh", "-c", "echo boom >&2; exit 3")
	if err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "sh -c") {
		t.Fatalf("Sh error %v: want the command line and its output", err)
	}
	if err := ShAll([][]string{{"true"}, {"false"}, {"sh", "-c", "exit 9"}}); err == nil || !strings.HasPrefix(err.Error(), "false:") {
		t.Fatalf("ShAll: %v, want the first failure (false)", err)
	}
	if err := Require("sh", "no-such-tool-wirebox"); err == nil || !strings.Contains(err.Error(), "no-such-tool-wirebox") {
		t.Fatalf("Require: %v", err)
	}
}

func TestCPU(t *testing.T) {
	cmd := exec.Command("sh", "-c", "i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; sleep 5")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	for {
		d, err := CPU(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if d > 0 {
			break
		}
	}
	if _, err := CPU(1 << 30); err == nil {
		t.Fatal("CPU of a missing pid: no error")
	}
}

func TestNamespacesVethMAC(t *testing.T) {
	netns.Require(t)
	names, del, err := Namespaces("wbkta-", "wbktb-")
	if err != nil {
		t.Fatal(err)
	}
	defer del()
	if len(names) != 2 || names[0][6:] != names[1][6:] {
		t.Fatalf("names %q: want two with one suffix", names)
	}
	if err := Veth(names[0], "a0", names[1], "b0"); err != nil {
		t.Fatal(err)
	}
	mac, err := MAC(names[1], "b0")
	if err != nil || len(mac) != 6 {
		t.Fatalf("MAC: %v %v", mac, err)
	}
	del()
	for _, ns := range names {
		if _, err := os.Stat("/run/netns/" + ns); !os.IsNotExist(err) {
			t.Fatalf("%s still there after delete: %v", ns, err)
		}
	}
}
