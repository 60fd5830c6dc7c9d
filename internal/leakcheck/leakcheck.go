// Package leakcheck fails a package's tests when they leak goroutines or
// file descriptors, as cilium/ebpf's testmain and tailscale's ResourceCheck do.
// Long-running loops (capture, mirror, the supervisor) are where such leaks
// hide, and they only show after hours on an appliance.
//
// Use it from TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(leakcheck.Run(m)) }
package leakcheck

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// ExitLeak is the exit status of a test binary whose tests passed but leaked.
const ExitLeak = 99

// Run runs the tests and then checks for leaks. It returns the exit status.
func Run(m *testing.M, opts ...goleak.Option) int {
	before, err := openFDs()
	if err != nil {
		fmt.Fprintln(os.Stderr, "leakcheck:", err)
		return 1
	}
	code := m.Run()
	if code != 0 {
		return code
	}
	if err := Verify(before, opts...); err != nil {
		fmt.Fprintln(os.Stderr, "leakcheck:", err)
		return ExitLeak
	}
	return code
}

// Snapshot records the open descriptors, for Verify.
func Snapshot() (map[string]string, error) { return openFDs() }

// Verify reports goroutines other than the caller's and descriptors not in
// before, after giving finishing goroutines a moment.
func Verify(before map[string]string, opts ...goleak.Option) error {
	if err := goleak.Find(opts...); err != nil {
		return fmt.Errorf("leaked goroutines: %w", err)
	}
	var leaked []string
	// Descriptors may be closed by goroutines just finishing.
	for range 50 {
		after, err := openFDs()
		if err != nil {
			return err
		}
		leaked = leaked[:0]
		for fd, target := range after {
			if _, ok := before[fd]; ok || runtimeFD(target) {
				continue
			}
			leaked = append(leaked, fmt.Sprintf("fd %s -> %s", fd, target))
		}
		if len(leaked) == 0 {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	sort.Strings(leaked)
	return fmt.Errorf("leaked file descriptors:\n  %s", strings.Join(leaked, "\n  "))
}

// runtimeFD reports descriptors the Go runtime opens lazily and keeps for
// the life of the process: the netpoller's epoll and its wake-up eventfd
// (a pipe before Go 1.21; not any more, so a pipe is a leak: an exec'd
// command's stdout never closed, say).
func runtimeFD(target string) bool {
	return target == "anon_inode:[eventpoll]" || target == "anon_inode:[eventfd]"
}

func openFDs() (map[string]string, error) {
	dir := "/proc/self/fd"
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("listing open descriptors: %w", err)
	}
	m := make(map[string]string, len(ents))
	for _, e := range ents {
		t, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // the descriptor ReadDir itself used, now closed
		}
		m[e.Name()] = t
	}
	return m, nil
}
