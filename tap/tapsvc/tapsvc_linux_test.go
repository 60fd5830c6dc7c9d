package tapsvc

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/capture/capturetest"
	"github.com/wirebox/wirebox/internal/leakcheck"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/pkttest"
	"github.com/wirebox/wirebox/internal/testutil"
	"github.com/wirebox/wirebox/tap"
	"github.com/wirebox/wirebox/tap/tapcli"
	"github.com/wirebox/wirebox/tap/tapclient"
	"github.com/wirebox/wirebox/tap/tapcore"
	"github.com/wirebox/wirebox/tap/tapcore/taptest"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Run(m)) }

// fixedCore is the line's core as the service's CoreSource.
type fixedCore struct{ c *capture.Core }

func (f fixedCore) Core() *capture.Core { return f.c }

// serveTap runs the tap service in process on the line's core.
func serveTap(t *testing.T, core *capture.Core, quota int) *Service {
	t.Helper()
	s := New(fixedCore{core}, Config{Enabled: true, Socket: filepath.Join(t.TempDir(), "tap.sock"), Quota: quota, MaxTaps: 4})
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	ln, err := s.listen(log)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Go(t, func(ctx context.Context) error {
		go func() { <-ctx.Done(); ln.Close() }()
		var wg sync.WaitGroup
		defer wg.Wait()
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return nil
			}
			wg.Add(1)
			go func() { defer wg.Done(); s.serve(ctx, core, c, log) }()
		}
	})
	return s
}

// dial connects an application to s; it is closed when the test ends.
func dial(t *testing.T, s *Service, opts tapclient.Options) *tapclient.App {
	t.Helper()
	app, err := tapclient.Dial(s.Socket(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	return app
}

// tapOn opens a tap of kind on port for app and returns its handle.
func tapOn(t *testing.T, app *tapclient.App, port string, kind uint8, order int32) uint32 {
	t.Helper()
	h, err := app.Tap(port, kind, order)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(b)))
	return len(b), nil
}

// revertAll runs an application loop that reverts every frame it
// receives until ctx ends: on the tap it came from, unless route (if set,
// called on each frame first) names another.
func revertAll(ctx context.Context, app *tapclient.App, route func(*tap.RingDesc)) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ds := make([]tap.RingDesc, 64)
		for ctx.Err() == nil {
			n, err := app.Receive(ds, 50*time.Millisecond)
			if err != nil && !errors.Is(err, tapclient.ErrTimeout) {
				return
			}
			if route != nil {
				for i := range ds[:n] {
					route(&ds[i])
				}
			}
			for done := 0; done < n; {
				k, err := app.Revert(ds[done:n])
				if err != nil {
					return
				}
				done += k
			}
		}
	}()
	return &wg
}

// TestInputAndOutputTapRevertAll: an input tap on wb0 and an output tap
// on wb1 whose applications revert every frame leave the core's bridge
// working: every ping comes back, tcpdump on the far side sees every
// echo request, and both applications saw each one.
func TestInputAndOutputTapRevertAll(t *testing.T) {
	l := taptest.NewLine(t, true)
	s := serveTap(t, l.Core, 1024)
	in := dial(t, s, tapclient.Options{Name: "in"})
	out := dial(t, s, tapclient.Options{Name: "out"})
	tapOn(t, in, "wb0", tapclient.Input, 0)
	tapOn(t, out, "wb1", tapclient.Output, 0)
	if _, err := in.Tap("nosuch", tapclient.Input, 0); err == nil {
		t.Fatal("a tap on a port that does not exist")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var echoIn, echoOut int
	var mu sync.Mutex
	isEcho := func(app *tapclient.App, n *int) func(*tap.RingDesc) {
		return func(d *tap.RingDesc) {
			b := app.Data(*d)
			if len(b) >= 35 && b[12] == 8 && b[13] == 0 && b[23] == 1 && b[34] == 8 {
				mu.Lock()
				*n++
				mu.Unlock()
			}
		}
	}
	wgIn := revertAll(ctx, in, isEcho(in, &echoIn))
	wgOut := revertAll(ctx, out, isEcho(out, &echoOut))
	const n = 10
	var ok bool
	seen := pkttest.CountEchoRequests(t, l.C.Command, "peer1", func() { ok = l.Ping(t, n) })
	cancel()
	wgIn.Wait()
	wgOut.Wait()
	if !ok {
		t.Error("ping through the tapped ports failed")
	}
	if seen != n {
		t.Errorf("tcpdump on peer1 saw %d echo requests, want %d", seen, n)
	}
	mu.Lock()
	if echoIn != n || echoOut != n {
		t.Errorf("the input tap saw %d echo requests, the output tap %d, want %d each", echoIn, echoOut, n)
	}
	mu.Unlock()
	st := s.Status()
	if len(st.Apps) != 2 || st.Violations != 0 {
		t.Fatalf("status %+v", st)
	}
	for _, a := range st.Apps {
		if a.Held != 0 || a.Detoured == 0 || a.Reverted != a.Detoured || a.PID != os.Getpid() {
			t.Errorf("app %+v", a)
		}
	}
}

// TestZeroCopyMarker: an output-tap application writes a marker into the
// last bytes of each detoured frame through its own mapping of the pool.
// Before it reverts, the daemon's pool shows the marker at the same place
// of the same frame (one memory, no copy); the frame then leaves wb1 with
// the same length and the marker where it was written.
func TestZeroCopyMarker(t *testing.T) {
	l := taptest.NewLine(t, true)
	s := serveTap(t, l.Core, 1024)
	app := dial(t, s, tapclient.Options{Name: "marker"})
	tapOn(t, app, "wb1", tapclient.Output, 0)
	// A raw socket on peer1 sees what leaves wb1.
	recv := netns.OpenRaw(t, l.C.Link(t, "peer1"))
	send := netns.OpenRaw(t, l.B.Link(t, "peer0"))
	marker := []byte("WIREBOX-ZEROCOPY")
	frame := make([]byte, 200)
	copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5})
	for i := 14; i < len(frame); i++ {
		frame[i] = byte(i)
	}
	if err := send.Write(frame); err != nil {
		t.Fatal(err)
	}
	ds := make([]tap.RingDesc, 8)
	var d tap.RingDesc
	for got := false; !got; {
		n, err := app.Receive(ds, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range ds[:n] {
			if b := app.Data(x); len(b) == len(frame) && b[12] == 0x88 && b[13] == 0xb5 {
				d, got = x, true
			} else if _, err := app.Revert([]tap.RingDesc{x}); err != nil {
				t.Fatal(err)
			}
		}
	}
	copy(app.Data(d)[len(frame)-len(marker):], marker)
	if daemon := l.Pool.Data(tap.FrameID(d.ID)); !bytes.Equal(daemon[len(frame)-len(marker):], marker) || len(daemon) != len(frame) {
		t.Fatal("the daemon's frame does not show what the application wrote: not the same memory")
	}
	if _, err := app.Revert([]tap.RingDesc{d}); err != nil {
		t.Fatal(err)
	}
	got := recv.Recv(t, func(b []byte) bool { return len(b) >= 14 && b[12] == 0x88 && b[13] == 0xb5 })
	want := append(append([]byte(nil), frame[:len(frame)-len(marker)]...), marker...)
	if !bytes.Equal(got, want) {
		t.Fatalf("frame left as\n%x\nwant\n%x", got, want)
	}
}

// TestBridgeBypass: an application with a bypass tap on each port
// forwards between them (the core does not): no ping before it runs,
// every ping while it runs, and frames flow again the core's default way
// (unclaimed, so no ping) once it is gone, with every frame back.
func TestBridgeBypass(t *testing.T) {
	l := taptest.NewLine(t, false)
	s := serveTap(t, l.Core, 1024)
	app, err := tapclient.Dial(s.Socket(), tapclient.Options{Name: "bridge"})
	if err != nil {
		t.Fatal(err)
	}
	ha := tapOn(t, app, "wb0", tapclient.Bypass, 0)
	hb := tapOn(t, app, "wb1", tapclient.Bypass, 0)
	other := dial(t, s, tapclient.Options{Name: "other"})
	if _, err := other.Tap("wb0", tapclient.Input, 0); err == nil {
		t.Fatal("a second owner on a bypass-tapped port")
	}
	ctx, cancel := context.WithCancel(context.Background())
	wg := revertAll(ctx, app, func(d *tap.RingDesc) { // each frame out of the other port
		if d.Tap == ha {
			d.Tap = hb
		} else {
			d.Tap = ha
		}
	})
	ok := l.Ping(t, 5)
	cancel()
	wg.Wait()
	if !ok {
		t.Fatal("ping through the tap bridge failed")
	}
	app.Close()
	testutil.WaitFor(t, "the bridge to be gone", func() bool { return len(s.Status().Apps) == 1 })
	if l.Ping(t, 1) {
		t.Error("ping works with no bridge: the core forwards by itself, so the test shows nothing")
	}
}

// TestHostileApps: applications that write a frame id out of range, one
// they do not hold, one twice, or an impossible ring index are each
// disconnected; a well-behaved application on the same port keeps
// working and every frame comes back.
func TestHostileApps(t *testing.T) {
	l := taptest.NewLine(t, true)
	s := serveTap(t, l.Core, 1024)
	good := dial(t, s, tapclient.Options{Name: "good"})
	tapOn(t, good, "wb0", tapclient.Input, 10)
	ctx, cancel := context.WithCancel(context.Background())
	wg := revertAll(ctx, good, nil)
	defer func() { cancel(); wg.Wait() }()

	send := netns.OpenRaw(t, l.B.Link(t, "peer0"))
	frame := make([]byte, 100)
	copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5})

	for _, c := range []struct {
		name  string
		abuse func(t *testing.T, app *tapclient.App, h uint32)
	}{
		{"out of range", func(t *testing.T, app *tapclient.App, h uint32) {
			app.Revert([]tap.RingDesc{{ID: 1 << 30, Len: 60, Tap: h}})
		}},
		{"not held", func(t *testing.T, app *tapclient.App, h uint32) {
			app.Dealloc([]tap.RingDesc{{ID: 5, Len: 60, Tap: h}})
		}},
		{"returned twice", func(t *testing.T, app *tapclient.App, h uint32) {
			d := receiveOne(t, app, send, frame)
			app.Revert([]tap.RingDesc{d, d})
		}},
		{"bad tap handle", func(t *testing.T, app *tapclient.App, h uint32) {
			d := receiveOne(t, app, send, frame)
			d.Tap = 99
			app.Revert([]tap.RingDesc{d})
		}},
		{"flooded revert ring", func(t *testing.T, app *tapclient.App, h uint32) {
			d := receiveOne(t, app, send, frame)
			ds := make([]tap.RingDesc, 5000)
			for i := range ds {
				ds[i] = d
			}
			for i := 0; i < 4; i++ {
				app.Revert(ds) // fills the ring; the daemon stops at the second copy
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := s.Status().Violations
			app := dial(t, s, tapclient.Options{Name: "hostile"})
			h := tapOn(t, app, "wb0", tapclient.Input, 1)
			c.abuse(t, app, h)
			testutil.WaitFor(t, "the hostile application to be disconnected", func() bool {
				return s.Status().Violations == before+1 && len(s.Status().Apps) == 1
			})
			if !l.Ping(t, 2) {
				t.Error("ping fails after a hostile application was disconnected")
			}
			if st := s.Status(); len(st.Apps) != 1 || st.Apps[0].Name != "good" || st.Apps[0].Reverted == 0 {
				t.Errorf("status %+v", st)
			}
		})
	}
}

// receiveOne sends frames until the application gets one on its detour
// ring, and returns it (held).
func receiveOne(t *testing.T, app *tapclient.App, send *netns.Raw, frame []byte) tap.RingDesc {
	t.Helper()
	ds := make([]tap.RingDesc, 1)
	for i := 0; i < 50; i++ {
		if err := send.Write(frame); err != nil {
			t.Fatal(err)
		}
		if n, _ := app.Receive(ds, 200*time.Millisecond); n == 1 {
			return ds[0]
		}
	}
	t.Fatal("the application got no frame")
	return tap.RingDesc{}
}

// TestSocketProtocol: requests out of order, malformed or of another
// version are refused; a malformed one disconnects.
func TestSocketProtocol(t *testing.T) {
	core := capturetest.Core(t, 1024)
	s := serveTap(t, core, 256)
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: s.Socket(), Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	call := func(b []byte) tap.Response {
		t.Helper()
		if _, err := c.Write(b); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, tap.MaxMessage)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		r, err := tap.DecodeResponse(buf[:n])
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := call(tap.Request{Type: tap.MsgTap, Seq: 1, Kind: tap.TapInput, Port: "wb0"}.Encode()); r.Status != tap.StatusState {
		t.Errorf("tap before hello: %+v", r)
	}
	v2 := tap.Request{Type: tap.MsgHello, Seq: 2}.Encode()
	v2[4] = 2
	if r := call(v2); r.Status != tap.StatusVersion {
		t.Errorf("version 2: %+v", r)
	}
	buf := make([]byte, 16)
	if n, err := c.Read(buf); err == nil || n != 0 {
		t.Errorf("connection open after a bad request: %d %v", n, err)
	}
	if st := s.Status(); len(st.Apps) != 0 {
		t.Errorf("apps %+v", st.Apps)
	}
	if err := core.Pool().CheckFull(); err != nil {
		t.Error(err)
	}
}

// rawHello connects without tapclient and returns the connection, the
// hello response and the mapped rings: for applications that write
// impossible ring indices.
func rawHello(t *testing.T, socket string) (*net.UnixConn, tap.Response, []byte, tap.RingsLayout) {
	t.Helper()
	c, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: socket, Net: "unixpacket"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write(tap.Request{Type: tap.MsgHello, Seq: 1, Name: "raw"}.Encode()); err != nil {
		t.Fatal(err)
	}
	buf, oob := make([]byte, tap.MaxMessage), make([]byte, unix.CmsgSpace(16))
	n, oobn, _, _, err := c.ReadMsgUnix(buf, oob)
	if err != nil {
		t.Fatal(err)
	}
	r, err := tap.DecodeResponse(buf[:n])
	if err != nil || r.Status != tap.StatusOK {
		t.Fatalf("hello: %+v %v", r, err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("control messages: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 4 {
		t.Fatalf("fds %v: %v", fds, err)
	}
	mem, l, err := tap.MapRings(fds[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, fd := range fds {
		unix.Close(fd)
	}
	t.Cleanup(func() { tap.UnmapRings(mem) })
	return c, r, mem, l
}

// TestImpossibleRingIndex: an application that moves the revert ring's
// producer index past the ring's size, or the detour ring's consumer
// index past the producer, is disconnected.
func TestImpossibleRingIndex(t *testing.T) {
	l := taptest.NewLine(t, true)
	s := serveTap(t, l.Core, 256)
	for i, ring := range []int{tap.RingRevert, tap.RingDealloc} {
		_, _, mem, lay := rawHello(t, s.Socket())
		prod := (*uint32)(unsafe.Pointer(&mem[lay.Offsets[ring]]))
		atomic.StoreUint32(prod, lay.Size*3+7) // more entries than the ring holds
		testutil.WaitFor(t, "the application to be disconnected", func() bool { st := s.Status(); return st.Violations == uint64(i+1) && len(st.Apps) == 0 })
	}
	c, _, mem, lay := rawHello(t, s.Socket())
	tapReq := tap.Request{Type: tap.MsgTap, Seq: 2, Kind: tap.TapInput, Port: "wb0"}.Encode()
	if _, err := c.Write(tapReq); err != nil {
		t.Fatal(err)
	}
	cons := (*uint32)(unsafe.Pointer(&mem[lay.Offsets[tap.RingDetour]+64]))
	atomic.StoreUint32(cons, 12345) // consumed frames never produced
	l.Ping(t, 1)                    // the first frames go to the application and find it broken
	testutil.WaitFor(t, "the application to be disconnected", func() bool { st := s.Status(); return st.Violations == 3 && len(st.Apps) == 0 })
	if !l.Ping(t, 2) {
		t.Error("ping failed after the broken application was disconnected")
	}
}

// TestAllocSendDealloc: an application takes free frames from its alloc
// ring, builds a frame in one and reverts it on a bypass tap (it leaves
// that port), deallocates another; the daemon keeps the alloc ring
// stocked, and its counters and the pool agree.
func TestAllocSendDealloc(t *testing.T) {
	l := taptest.NewLine(t, false)
	s := serveTap(t, l.Core, 256)
	app := dial(t, s, tapclient.Options{Name: "alloc", Alloc: 32})
	h := tapOn(t, app, "wb0", tapclient.Bypass, 0)
	recv := netns.OpenRaw(t, l.B.Link(t, "peer0"))
	ds := make([]tap.RingDesc, 2)
	got := 0
	for got < 2 {
		n, err := app.Alloc(ds[got:], time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got += n
	}
	frame := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 9, 0x88, 0xb5}
	frame = append(frame, []byte("built in an allocated frame by the application")...)
	copy(app.Buffer(ds[0].ID), frame)
	ds[0].Off, ds[0].Len, ds[0].Tap = 0, uint32(len(frame)), h
	if _, err := app.Revert(ds[:1]); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Dealloc(ds[1:2]); err != nil {
		t.Fatal(err)
	}
	out := recv.Recv(t, func(b []byte) bool { return len(b) >= 14 && b[11] == 9 && b[12] == 0x88 })
	if !bytes.Equal(out, frame) {
		t.Fatalf("sent %x\nwant %x", out, frame)
	}
	testutil.WaitFor(t, "the alloc ring to be stocked again", func() bool {
		a := s.Status().Apps[0]
		return a.Allocated == 34 && a.Deallocated == 1 && a.Reverted == 1 && a.Held == 32
	})
	if st := l.WB0.Stats(); st.TxPackets == 0 {
		t.Errorf("wb0 sent nothing: %+v", st)
	}
}

// TestInProcessAppsListed: an application inside the daemon (as a mirror
// client's exclusive channel) is listed after the socket's, with its
// taps and the daemon's PID, in /v1/taps and `wirebox taps`, until it
// closes.
func TestInProcessAppsListed(t *testing.T) {
	l := taptest.NewLine(t, false)
	s := serveTap(t, l.Core, 1024)
	outside := dial(t, s, tapclient.Options{Name: "outside"})
	tapOn(t, outside, "wb1", tapclient.Input, 0)
	lc, err := tapcore.Attach(l.Core, tapcore.Options{Name: "mirror wb0 10.9.9.9:4711"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lc.Tap("wb0", tap.TapBypass, 0, tapcore.TapOptions{}); err != nil {
		t.Fatal(err)
	}
	st := s.Status()
	if len(st.Apps) != 2 || st.Apps[0].Name != "outside" || st.Apps[0].InProcess {
		t.Fatalf("apps %+v, want the socket's first", st.Apps)
	}
	in := st.Apps[1]
	if !in.InProcess || in.Name != "mirror wb0 10.9.9.9:4711" || in.PID != os.Getpid() || len(in.Taps) != 1 || in.Taps[0].Port != "wb0" || in.Taps[0].Kind != "bypass" {
		t.Fatalf("in-process app %+v", in)
	}
	var out strings.Builder
	if err := tapcli.Print(&out, st); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "daemon: mirror wb0 10.9.9.9:4711") || !strings.Contains(out.String(), "wb0:bypass") {
		t.Fatalf("wirebox taps:\n%s", out.String())
	}
	lc.Close()
	if st := s.Status(); len(st.Apps) != 1 || st.Apps[0].InProcess {
		t.Fatalf("after Close: %+v", st.Apps)
	}
}
