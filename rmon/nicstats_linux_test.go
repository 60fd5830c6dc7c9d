package rmon

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/wirebox/wirebox/internal/netns"
)

// TestReadNIC asks the kernel for a veth's RMON and MAC stats groups over
// ethtool netlink. veth has neither, which `ethtool -S --groups` shows
// too: the request must be accepted and read as "no NIC counters".
// Drivers that have them (mlx5, ice, enetc, …) are not on this machine.
func TestReadNIC(t *testing.T) {
	a, b := netns.New(t), netns.New(t)
	netns.Veth(t, a, "wb0", b, "peer0", netns.VethOptions{})
	raw, err := nicStatsReply(a.Path, "wb0")
	if err != nil {
		t.Fatal(err)
	}
	n, ok, err := parseNICStats(raw)
	if err != nil || ok || n != (nicErrors{}) {
		t.Errorf("veth: %+v ok %v err %v", n, ok, err)
	}
	if _, err := exec.LookPath("ethtool"); err != nil {
		t.Fatalf("ethtool not installed (Debian package ethtool): %v", err)
	}
	out, err := a.Command("ethtool", "-S", "wb0", "--groups", "rmon", "eth-mac").CombinedOutput()
	if err != nil {
		t.Fatalf("ethtool: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "rmon-") || strings.Contains(string(out), "eth-mac-") {
		t.Errorf("ethtool sees NIC counters we do not:\n%s", out)
	}
	if _, _, err := readNIC(a.Path, "nosuchif"); err == nil {
		t.Error("a missing interface read without error")
	}
}
