//go:build unix

package api

import (
	"errors"
	"net"
	"syscall"
	"testing"
)

// TestFDConnReadNeverNegative: a read that recvmsg fails (here the peer
// closed with our bytes unread: ECONNRESET) reports no negative count,
// which bufio (net/http's reader) panics on.
func TestFDConnReadNeverNegative(t *testing.T) {
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: t.TempDir() + "/s", Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cl, err := net.DialUnix("unix", nil, l.Addr().(*net.UnixAddr))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := l.AcceptUnix()
	if err != nil {
		t.Fatal(err)
	}
	c := newFDConn(srv)
	defer c.Close()
	if _, err := c.Write([]byte("unread")); err != nil {
		t.Fatal(err)
	}
	cl.Close()
	n, err := c.Read(make([]byte, 16))
	if n < 0 || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("Read = %d, %v; want 0 and ECONNRESET", n, err)
	}
}
