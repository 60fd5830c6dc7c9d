package netns

import (
	"errors"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// VethPair is the common test topology: two namespaces joined by a veth.
// Near holds the link under test (a port of the core, a daemon's
// interface); Far holds the peer that sends and receives frames.
type VethPair struct {
	Near, Far         *NS
	NearLink, FarLink Link
}

// PairOptions configures [Pair].
type PairOptions struct {
	// Near and Far name the two ends (default "wb0" and "peer0").
	Near, Far string
	// Addresses, MTU and queues of the ends, as for [Veth] (AddrA is Near's).
	VethOptions
}

// Pair makes two new namespaces joined by a veth (Require first: without
// the privilege the test skips, or fails under CI).
func Pair(tb testing.TB, opts ...PairOptions) *VethPair {
	tb.Helper()
	Require(tb)
	var o PairOptions
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Near == "" {
		o.Near = "wb0"
	}
	if o.Far == "" {
		o.Far = "peer0"
	}
	p := &VethPair{Near: New(tb), Far: New(tb)}
	p.NearLink, p.FarLink = Veth(tb, p.Near, o.Near, p.Far, o.Far, o.VethOptions)
	return p
}

// Sender opens a raw socket on the far end, for frames into the near link.
func (p *VethPair) Sender(tb testing.TB) *Raw { tb.Helper(); return OpenRaw(tb, p.FarLink) }

// Receiver opens a raw socket on the far end that sees every frame the
// near link sends from now on.
func (p *VethPair) Receiver(tb testing.TB) *Raw { tb.Helper(); return OpenRaw(tb, p.FarLink) }

// Backpressure makes veth ends lossless under a sender faster than the
// receiver: with NAPI (GRO on) and a qdisc, a full veth ring stops the
// sender's queue instead of dropping (Linux 6.16+). Count tests need it.
func Backpressure(tb testing.TB, ends ...Link) {
	tb.Helper()
	for _, l := range ends {
		l.Ethtool(tb, "gro", "on")
		l.NS.Run(tb, "tc", "qdisc", "replace", "dev", l.Name, "root", "pfifo", "limit", "10000")
	}
}

// Raw is an AF_PACKET socket bound to one link: whole Ethernet frames in
// and out below the namespace's stack. It is closed when the test ends.
type Raw struct {
	Link Link
	FD   int
}

// OpenRaw opens a raw socket on l, in l's namespace.
func OpenRaw(tb testing.TB, l Link) *Raw {
	tb.Helper()
	r := &Raw{Link: l, FD: -1}
	err := l.NS.Do(func() error {
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			return err
		}
		r.FD = fd
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: l.Index})
	})
	if err != nil {
		if r.FD >= 0 {
			unix.Close(r.FD)
		}
		tb.Fatalf("netns %s: raw socket on %s: %v", l.NS.Name, l.Name, err)
	}
	tb.Cleanup(func() { unix.Close(r.FD) })
	return r
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// Write sends one frame, waiting out a full device queue (ENOBUFS).
func (r *Raw) Write(frame []byte) error {
	for {
		_, err := unix.Write(r.FD, frame)
		if errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EINTR) {
			time.Sleep(time.Millisecond)
			continue
		}
		return err
	}
}

// Send sends each frame, failing the test on an error.
func (r *Raw) Send(tb testing.TB, frames ...[]byte) {
	tb.Helper()
	for i, f := range frames {
		if err := r.Write(f); err != nil {
			tb.Fatalf("send frame %d on %s: %v", i, r.Link.Name, err)
		}
	}
}

// SendTo sets the destination MAC of frame to dst and sends it n times.
func (r *Raw) SendTo(tb testing.TB, dst net.HardwareAddr, frame []byte, n int) {
	tb.Helper()
	f := append([]byte(nil), frame...)
	copy(f, dst)
	for i := range n {
		if err := r.Write(f); err != nil {
			tb.Fatalf("send frame %d on %s: %v", i, r.Link.Name, err)
		}
	}
}

// Recv returns the next frame that match accepts (nil: any), failing the
// test when none arrives within 10 s. Frames the socket sent itself are
// skipped.
func (r *Raw) Recv(tb testing.TB, match func([]byte) bool) []byte {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	buf := make([]byte, 65536)
	for time.Now().Before(deadline) {
		tv := unix.NsecToTimeval(int64(100 * time.Millisecond))
		if err := unix.SetsockoptTimeval(r.FD, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
			tb.Fatal(err)
		}
		n, from, err := unix.Recvfrom(r.FD, buf, 0)
		if errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			tb.Fatalf("receive on %s: %v", r.Link.Name, err)
		}
		if ll, ok := from.(*unix.SockaddrLinklayer); ok && ll.Pkttype == unix.PACKET_OUTGOING {
			continue
		}
		if match == nil || match(buf[:n]) {
			return append([]byte(nil), buf[:n]...)
		}
	}
	tb.Fatalf("no matching frame on %s within 10s", r.Link.Name)
	return nil
}

// Link looks up the link name in ns, for links the test did not make with
// Veth or Tap.
func (ns *NS) Link(tb testing.TB, name string) Link {
	tb.Helper()
	var l Link
	err := ns.Do(func() error {
		ifi, err := net.InterfaceByName(name)
		if err != nil {
			return err
		}
		l = Link{NS: ns, Name: name, Index: ifi.Index, MAC: ifi.HardwareAddr}
		return nil
	})
	if err != nil {
		tb.Fatalf("netns %s: link %s: %v", ns.Name, name, err)
	}
	return l
}
