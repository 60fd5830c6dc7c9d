package nsrun

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/internal/netns"
)

func netnsIno() (uint64, error) {
	var st unix.Stat_t
	err := unix.Stat("/proc/thread-self/ns/net", &st)
	return st.Ino, err
}

func TestRun(t *testing.T) {
	netns.Require(t)
	ns := netns.New(t)
	var want, here, there uint64
	if err := ns.Do(func() (err error) { want, err = netnsIno(); return err }); err != nil {
		t.Fatal(err)
	}
	if err := Run(ns.Path, func() (err error) { there, err = netnsIno(); return err }); err != nil {
		t.Fatal(err)
	}
	if there != want {
		t.Fatalf("Run(%s) ran in netns %d, want %d", ns.Path, there, want)
	}
	if err := Run("", func() (err error) { here, err = netnsIno(); return err }); err != nil {
		t.Fatal(err)
	}
	if here == want {
		t.Fatalf(`Run("") ran in the test's namespace %d`, here)
	}
	sentinel := errors.New("from fn")
	if err := Run(ns.Path, func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Fatalf("Run returned %v, want fn's error", err)
	}
	if err := Run("/nonexistent/netns", func() error { t.Error("fn ran"); return nil }); err == nil {
		t.Fatal("Run with a missing namespace: no error")
	}
}
