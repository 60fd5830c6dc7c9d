package capture

import (
	"bytes"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/vishvananda/netlink"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/pkttest"
	"github.com/wirebox/wirebox/tap"
	"golang.org/x/sys/unix"
)

// TestInjectHost injects frames into a passive port: the host stack of the
// port's namespace must receive them (a bound UDP socket gets exactly the
// datagrams, an ICMP echo request is answered on the wire, seen by tcpdump
// on the peer) and a read-only subscriber sees each once as RX. Both ways
// of attaching the injector's program are covered: tcx and the clsact
// fallback that kernels before 6.6 use (there the first case takes the
// fallback too).
func TestInjectHost(t *testing.T) {
	for _, clsact := range []bool{false, true} {
		t.Run(map[bool]string{false: "tcx", true: "clsact"}[clsact], func(t *testing.T) {
			testInjectHost(t, clsact)
		})
	}
}

func testInjectHost(t *testing.T, clsact bool) {
	pkttest.Need(t, "tcpdump")
	p := netns.Pair(t, netns.PairOptions{VethOptions: netns.VethOptions{AddrA: "10.77.0.1/24", AddrB: "10.77.0.2/24"}})
	a, b, la, lb := p.Near, p.Far, p.NearLink, p.FarLink
	pool, err := tap.NewPool(tap.Config{Frames: 1024})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	core := NewCore(pool, nil)
	core.injectClsact = clsact
	port, err := core.OpenPort(PortConfig{Name: "wb0", NetNS: a.Path})
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			core.Close()
		}
	}()
	sub, err := port.Subscribe(SubscribeOptions{Name: "ro", Direction: Both, Match: func(d []byte) bool {
		return bytes.Contains(d, []byte("wb-inject-")) || isICMPEcho(d)
	}})
	if err != nil {
		t.Fatal(err)
	}
	conn := a.ListenUDP(t, "10.77.0.1:7777")

	inject := func(b []byte) {
		t.Helper()
		f, err := core.Alloc()
		if err != nil {
			t.Fatal(err)
		}
		copy(f.Buffer(), b)
		f.SetLen(len(b))
		if err := port.Inject(f); err != nil {
			t.Fatal(err)
		}
	}

	const n = 50
	for i := range n {
		inject(udpFrame(t, lb.MAC, la.MAC, fmt.Sprintf("wb-inject-%d", i)))
	}
	// The host stack: exactly the n datagrams, in order.
	buf := make([]byte, 2048)
	for i := range n {
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		m, _, err := conn.ReadFromUDP(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if got, want := string(buf[:m]), fmt.Sprintf("wb-inject-%d", i); got != want {
			t.Fatalf("datagram %d: %q, want %q", i, got, want)
		}
	}
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if m, _, err := conn.ReadFromUDP(buf); err == nil {
		t.Fatalf("extra datagram %q", buf[:m])
	}
	// The subscriber: each injected frame once, as RX, stamped by the kernel.
	got := 0
	drain(t, sub, n, func(f Frame) {
		want := fmt.Sprintf("wb-inject-%d", got)
		// Ethernet pads the 54-byte frame to 60 on its way in.
		if !bytes.Contains(f.Data(), []byte(want)) || f.Direction() != RX || f.Port() != port || f.TimestampSource() != TSKernel {
			t.Errorf("frame %d: dir %v src %v, data %q", got, f.Direction(), f.TimestampSource(), f.Data())
		}
		got++
	})
	frames := make([]Frame, 16)
	time.Sleep(300 * time.Millisecond)
	if k := sub.TryReceive(frames); k != 0 {
		ReleaseAll(frames[:k])
		t.Fatalf("%d extra frames after the %d injected", k, n)
	}
	if st := port.Stats(); st.RxPackets != n {
		t.Errorf("rx_packets %d, want %d", st.RxPackets, n)
	}

	port.injMu.RLock()
	viaTCX := port.inj != nil && port.inj.lnk != nil
	port.injMu.RUnlock()
	if want := !clsact && kernelAtLeast(t, 6, 6); viaTCX != want {
		t.Fatalf("attached through tcx: %v, want %v (tcx needs Linux 6.6)", viaTCX, want)
	}

	// The injector's program passes only the core's frames: whatever else
	// leaves the dummy (here a raw frame of our own) is dropped.
	inj := injectorName(la.Index)
	stray := netns.OpenRaw(t, a.Link(t, inj))
	// The program drops it: the kernel says so with ENOBUFS (one write:
	// Raw.Write would wait ENOBUFS out).
	if _, err := unix.Write(stray.FD, udpFrame(t, lb.MAC, la.MAC, "wb-inject-stray")); err != unix.ENOBUFS {
		t.Fatalf("unmarked frame: %v, want ENOBUFS (dropped)", err)
	}
	conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	if m, _, err := conn.ReadFromUDP(buf); err == nil {
		t.Fatalf("unmarked frame from %s reached the port: %q", inj, buf[:m])
	}

	// ICMP: the host answers an injected echo request on the wire.
	td := pkttest.Start(t, b.Command("tcpdump", "-i", "peer0", "-n", "-l", "-c", "1", "icmp and icmp[icmptype] == icmp-echoreply"), "listening on")
	inject(icmpEcho(t, lb.MAC, la.MAC, 0x4242, 7))
	if err := td.Wait(10 * time.Second); err != nil {
		t.Fatalf("no echo reply on the peer: tcpdump: %v", err)
	}
	if s := td.Stdout(); !strings.Contains(s, "10.77.0.1 > 10.77.0.2: ICMP echo reply, id 16962, seq 7") {
		t.Fatalf("tcpdump saw %q", s)
	}
	// The subscriber saw the request once (RX) and the reply (TX).
	seen := map[Direction]int{}
	for deadline := time.Now().Add(5 * time.Second); seen[RX]+seen[TX] < 2 && time.Now().Before(deadline); {
		k := sub.TryReceive(frames)
		for _, f := range frames[:k] {
			seen[f.Direction()]++
		}
		ReleaseAll(frames[:k])
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	k := sub.TryReceive(frames)
	for _, f := range frames[:k] {
		seen[f.Direction()]++
	}
	ReleaseAll(frames[:k])
	if seen[RX] != 1 || seen[TX] != 1 {
		t.Errorf("subscriber saw %d echo frames RX and %d TX, want 1 and 1", seen[RX], seen[TX])
	}

	// The injector goes with the port.
	if err := a.Do(func() error { _, err := netlink.LinkByName(inj); return err }); err != nil {
		t.Fatalf("%s missing while the port is open: %v", inj, err)
	}
	closed = true
	if err := core.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.Do(func() error { _, err := netlink.LinkByName(inj); return err }); err == nil {
		t.Fatalf("%s still there after the port closed", inj)
	}
	if err := pool.CheckFull(); err != nil {
		t.Fatal(err)
	}
}

// TestInjectClosed: injecting into a closed port fails and still gives up
// the frame.
func TestInjectClosed(t *testing.T) {
	tp := newTopo(t, 64)
	port := tp.wb0(t, PortConfig{})
	f, err := tp.core.Alloc()
	if err != nil {
		t.Fatal(err)
	}
	f.SetLen(60)
	if err := port.Close(); err != nil {
		t.Fatal(err)
	}
	if err := port.Inject(f); err != ErrClosed {
		t.Fatalf("inject after close: %v", err)
	}
}

// kernelAtLeast reports whether the running kernel is major.minor or later.
func kernelAtLeast(t *testing.T, major, minor int) bool {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	var ma, mi int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi); err != nil {
		t.Fatalf("kernel release %q: %v", u.Release[:], err)
	}
	return ma > major || ma == major && mi >= minor
}

func udpFrame(t *testing.T, src, dst net.HardwareAddr, payload string) []byte {
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: net.IPv4(10, 77, 0, 2).To4(), DstIP: net.IPv4(10, 77, 0, 1).To4()}
	udp := &layers.UDP{SrcPort: 5555, DstPort: 7777}
	if err := udp.SetNetworkLayerForChecksum(ip); err != nil {
		t.Fatal(err)
	}
	return pkttest.Serialize(t, eth, ip, udp, gopacket.Payload(payload))
}

func icmpEcho(t *testing.T, src, dst net.HardwareAddr, id, seq uint16) []byte {
	eth := &layers.Ethernet{SrcMAC: src, DstMAC: dst, EthernetType: layers.EthernetTypeIPv4}
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolICMPv4, SrcIP: net.IPv4(10, 77, 0, 2).To4(), DstIP: net.IPv4(10, 77, 0, 1).To4()}
	icmp := &layers.ICMPv4{TypeCode: layers.CreateICMPv4TypeCode(layers.ICMPv4TypeEchoRequest, 0), Id: id, Seq: seq}
	return pkttest.Serialize(t, eth, ip, icmp, gopacket.Payload("wb-ping-payload!"))
}

// isICMPEcho matches IPv4 ICMP echo requests and replies.
func isICMPEcho(d []byte) bool {
	return len(d) >= 35 && d[12] == 0x08 && d[13] == 0 && d[23] == 1 && (d[34] == 0 || d[34] == 8)
}

// TestInjectWhileClosing: injections racing with Close either go through
// or fail with ErrClosed; every frame is given up exactly once (newTopo's
// cleanup checks the pool is full) and no injector outlives the port.
func TestInjectWhileClosing(t *testing.T) {
	tp := newTopo(t, 1024)
	port := tp.wb0(t, PortConfig{})
	if _, err := port.Subscribe(SubscribeOptions{Name: "rx", Queue: 16}); err != nil {
		t.Fatal(err)
	}
	frame := testFrame(tp.la.MAC, 60, 0)
	errc := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			for i := 0; ; i++ {
				f, err := tp.core.Alloc()
				if err != nil {
					errc <- err
					return
				}
				f.SetLen(copy(f.Buffer(), frame))
				if err := port.Inject(f); err != nil {
					if err == ErrClosed {
						err = nil
					}
					errc <- err
					return
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	if err := port.Close(); err != nil {
		t.Fatal(err)
	}
	for g := 0; g < 4; g++ {
		if err := <-errc; err != nil {
			t.Error(err)
		}
	}
	if err := tp.a.Do(func() error { _, err := netlink.LinkByName(injectorName(tp.la.Index)); return err }); err == nil {
		t.Fatal("injector still there after the port closed")
	}
}
