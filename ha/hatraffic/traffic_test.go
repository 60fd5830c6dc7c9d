package hatraffic

import (
	"net"
	"net/netip"
	"os/exec"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/pkttest"
)

func freeAddr(t *testing.T) netip.AddrPort {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).AddrPort()
}

// TestTraffic: on loopback, a stream and idle connections to the echo
// servers work; once the servers stop, the stream reports the failure
// and every idle connection is reported dead.
func TestTraffic(t *testing.T) {
	backend := freeAddr(t)
	stop, err := Servers("", []netip.AddrPort{backend}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	c, err := Dial("", "tcp", backend.String())
	if err != nil {
		t.Fatal(err)
	}
	s := StartStream(c, StreamOptions{Chunk: 4096, Every: time.Millisecond})
	defer s.End()
	idle, err := Idle("", backend.String(), 5)
	if err != nil {
		t.Fatal(err)
	}
	if dead, err := PingAll(idle, "hello", 10*time.Second); err != nil || len(dead) != 0 {
		t.Fatalf("ping: %v %v", dead, err)
	}
	if err := s.Progress(1<<20, 20*time.Second); err != nil {
		t.Fatal(err)
	}
	u, err := Dial("", "udp", backend.String())
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	u.Write([]byte("datagram"))
	buf := make([]byte, 128)
	u.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := u.Read(buf); err != nil || string(buf[:n]) != backend.String()+" datagram" {
		t.Fatalf("udp echo %q %v", buf[:n], err)
	}

	stop() // closes the servers' side of every connection
	if err := s.Progress(1<<30, 20*time.Second); err == nil || s.Err() == nil {
		t.Fatalf("the stream did not notice its server was gone: %v", err)
	}
	if dead, _ := PingAll(idle, "after", 5*time.Second); len(dead) != len(idle) {
		t.Fatalf("%d of %d idle connections reported dead, want all", len(dead), len(idle))
	}
}

// TestRSTWatch: a connection to a closed port on loopback is refused
// with a reset, and the watch counts it.
func TestRSTWatch(t *testing.T) {
	pkttest.Need(t, "tcpdump")
	args := RSTArgs("lo")
	w, err := StartRSTWatch(exec.Command(args[0], args[1:]...))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	closed := freeAddr(t)
	if _, err := net.DialTimeout("tcp", closed.String(), 5*time.Second); err == nil {
		t.Fatalf("%v accepted a connection", closed)
	}
	if err := WaitFor(20*time.Second, func() bool { return w.Count() >= 1 }); err != nil {
		t.Fatalf("no reset counted: %v", err)
	}
	t.Logf("resets: %s", w.Lines())
}
