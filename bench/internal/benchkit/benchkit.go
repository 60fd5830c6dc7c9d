package benchkit

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Sh runs a command; its error carries the command line and its output.
func Sh(args ...string) error {
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

// ShAll runs each command in turn and stops at the first that fails.
func ShAll(cmds [][]string) error {
	for _, c := range cmds {
		if err := Sh(c...); err != nil {
			return err
		}
	}
	return nil
}

// Require fails when one of tools is not on PATH.
func Require(tools ...string) error {
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not installed (scripts/deps.sh bench)", tool)
		}
	}
	return nil
}

// Namespaces adds one named network namespace per prefix, each named
// prefix+suffix with one random suffix for the run. The returned func
// deletes them; it is never nil, and on error the ones made are gone.
func Namespaces(prefixes ...string) ([]string, func(), error) {
	var b [4]byte
	_, _ = rand.Read(b[:])
	suffix := hex.EncodeToString(b[:])
	var names []string
	del := func() {
		for _, ns := range names {
			_ = Sh("ip", "netns", "del", ns)
		}
	}
	for _, p := range prefixes {
		ns := p + suffix
		if err := Sh("ip", "netns", "add", ns); err != nil {
			del()
			return nil, func() {}, err
		}
		names = append(names, ns)
	}
	return names, del, nil
}

// Veth links a in namespace na with b in namespace nb and sets both up.
func Veth(na, a, nb, b string) error {
	return ShAll([][]string{
		{"ip", "-n", na, "link", "add", a, "type", "veth", "peer", "name", b, "netns", nb},
		{"ip", "-n", na, "link", "set", a, "up"},
		{"ip", "-n", nb, "link", "set", b, "up"},
	})
}

// MAC is the hardware address of dev in namespace ns.
func MAC(ns, dev string) (net.HardwareAddr, error) {
	out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/sys/class/net/"+dev+"/address").Output()
	if err != nil {
		return nil, fmt.Errorf("address of %s in %s: %w", dev, ns, err)
	}
	return net.ParseMAC(strings.TrimSpace(string(out)))
}

// CPU is a process's user+system CPU time from /proc/PID/stat.
func CPU(pid int) (time.Duration, error) {
	u, s, err := CPUTimes(pid)
	return u + s, err
}

// CPUTimes is a process's user and system CPU time from /proc (10 ms
// resolution).
func CPUTimes(pid int) (user, sys time.Duration, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const tick = time.Second / 100 // USER_HZ 100
	return time.Duration(ut) * tick, time.Duration(st) * tick, nil
}
