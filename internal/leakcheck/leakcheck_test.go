package leakcheck

import (
	"os"
	"strings"
	"testing"
)

// The checker itself must catch what it is for (STYLE.md: test your test helpers).
func TestVerifyCatchesLeakedFD(t *testing.T) {
	before, err := Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	err = Verify(before)
	f.Close()
	if err == nil || !strings.Contains(err.Error(), "leaked file descriptors") || !strings.Contains(err.Error(), os.Args[0]) {
		t.Errorf("Verify with an open file = %v", err)
	}
	if err := Verify(before); err != nil {
		t.Errorf("Verify after closing = %v", err)
	}
}

func TestVerifyCatchesLeakedGoroutine(t *testing.T) {
	before, _ := Snapshot()
	stop := make(chan struct{})
	go func() { <-stop }()
	err := Verify(before)
	close(stop)
	if err == nil || !strings.Contains(err.Error(), "leaked goroutines") {
		t.Errorf("Verify with a blocked goroutine = %v", err)
	}
}

// TestVerifyCatchesLeakedPipe: pipes were all ignored, so leaked exec
// pipes were never reported.
func TestVerifyCatchesLeakedPipe(t *testing.T) {
	before, err := Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	err = Verify(before)
	r.Close()
	w.Close()
	if err == nil || !strings.Contains(err.Error(), "pipe:") {
		t.Errorf("Verify with an open pipe = %v", err)
	}
	if err := Verify(before); err != nil {
		t.Errorf("Verify after closing = %v", err)
	}
}
