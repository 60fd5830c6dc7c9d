package filter

import (
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestKernelAcceptsPrograms attaches every compiled table expression to a
// socket: the kernel's classic BPF checker must accept it. (No traffic:
// a UDP socket that is never bound receives nothing.)
func TestKernelAcceptsPrograms(t *testing.T) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	// 100 hosts is about 1300 instructions with trampolines; far longer
	// programs hit the socket memory limit (net.core.optmem_max), not the
	// checker, and the engine then filters with Match instead.
	exprs := append([]string{longExpr(100)}, verdictExprs...)
	for _, e := range exprs {
		p, err := Compile(e, 0)
		if err != nil {
			t.Fatalf("%q: %v", e, err)
		}
		raw := p.Raw()
		prog := unix.SockFprog{Len: uint16(len(raw)), Filter: (*unix.SockFilter)(unsafe.Pointer(&raw[0]))}
		if err := unix.SetsockoptSockFprog(fd, unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &prog); err != nil {
			t.Fatalf("kernel rejects %q (%d instructions): %v", e, len(raw), err)
		}
	}
}
