package tapcore

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/internal/leakcheck"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/tap"
	"github.com/wirebox/wirebox/tap/tapcore/taptest"
)

func TestMain(m *testing.M) { os.Exit(leakcheck.Run(m)) }

type line struct{ *taptest.Line }

func newLine(t *testing.T, forward bool) line { return line{taptest.NewLine(t, forward)} }

// attach attaches an in-process application to the line's core.
func attach(t *testing.T, l line, o Options) *Local {
	t.Helper()
	lc, err := Attach(l.Core, o)
	if err != nil {
		t.Fatal(err)
	}
	return lc
}

// tapOn opens a tap of kind on port for lc and returns its handle.
func tapOn(t *testing.T, lc *Local, port string, kind uint8) uint32 {
	t.Helper()
	h, err := lc.Tap(port, kind, 0, TapOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// loop runs fn over every batch the Local receives until ctx ends.
func loop(ctx context.Context, t *testing.T, lc *Local, fn func(ds []tap.RingDesc)) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		ds := make([]tap.RingDesc, 64)
		for {
			n, err := lc.Receive(ctx, ds)
			if err != nil {
				if !errors.Is(err, context.Canceled) && !errors.Is(err, ErrClosed) {
					t.Error(err)
				}
				return
			}
			fn(ds[:n])
		}
	}()
	return &wg
}

// TestLocalBridge: an in-process application with two bypass taps (no
// socket, no file descriptors) bridges wb0 and wb1: pings pass, every frame
// crossed its rings as a frame id of the pool, and a second exclusive
// owner of a bridged port is refused.
func TestLocalBridge(t *testing.T) {
	l := newLine(t, false)
	lc := attach(t, l, Options{Name: "bridge", Quota: 1024})
	defer lc.Close()
	ha := tapOn(t, lc, "wb0", tap.TapBypass)
	hb := tapOn(t, lc, "wb1", tap.TapBypass)
	other := attach(t, l, Options{Name: "other"})
	if _, err := other.Tap("wb0", tap.TapBypass, 0, TapOptions{}); !errors.Is(err, capture.ErrBusy) {
		t.Errorf("second bypass tap on wb0: %v, want capture.ErrBusy", err)
	}
	other.Close()
	poolMem := unsafe.Slice(unsafe.SliceData(l.Pool.Buffer(0)), l.Pool.Len()*l.Pool.FrameSize())
	var frames, outside atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	wg := loop(ctx, t, lc, func(ds []tap.RingDesc) {
		for i := range ds {
			// Zero copy: the bytes the application sees lie in the pool.
			b := lc.Data(ds[i])
			p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
			if base := uintptr(unsafe.Pointer(&poolMem[0])); p < base || p >= base+uintptr(len(poolMem)) {
				outside.Add(1)
			}
			if ds[i].Tap == ha {
				ds[i].Tap = hb
			} else {
				ds[i].Tap = ha
			}
		}
		frames.Add(int64(len(ds)))
		if n, err := lc.Revert(ds); err != nil || n != len(ds) {
			t.Errorf("revert: %d of %d: %v", n, len(ds), err)
		}
	})
	ok := l.Ping(t, 5)
	cancel()
	wg.Wait()
	if !ok {
		t.Error("ping through the in-process bridge failed")
	}
	if frames.Load() < 10 {
		t.Errorf("the bridge moved %d frames, want at least the 5 echoes and replies", frames.Load())
	}
	if outside.Load() != 0 {
		t.Errorf("%d frames' data outside the pool", outside.Load())
	}
	st := lc.Attachment().Status()
	if st.Detoured < uint64(frames.Load()) || st.Reverted != uint64(frames.Load()) || len(st.Taps) != 2 {
		t.Errorf("status %+v after %d frames", st, frames.Load())
	}
}

// TestLocalCloseReclaims: an input tap on a forwarding port whose
// application keeps every frame: Close gives each one back (the pool is
// full again, checked by newLine's cleanup) and the port forwards again.
func TestLocalCloseReclaims(t *testing.T) {
	l := newLine(t, true)
	lc := attach(t, l, Options{Name: "hoarder", Quota: 256, Alloc: 64})
	tapOn(t, lc, "wb0", tap.TapInput)
	var kept atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	wg := loop(ctx, t, lc, func(ds []tap.RingDesc) { kept.Add(int64(len(ds))) })
	if out, err := l.B.Command("ping", "-c", "3", "-i", "0.2", "-W", "1", taptest.Peer1).CombinedOutput(); err == nil {
		t.Errorf("ping passed an input tap that keeps every frame:\n%s", out)
	}
	cancel()
	wg.Wait()
	held := lc.Attachment().Status().Held
	if kept.Load() == 0 || held < kept.Load()+64 {
		t.Errorf("held %d, kept %d (+64 on the alloc ring)", held, kept.Load())
	}
	if got := lc.Close(); int64(got) != held {
		t.Errorf("Close gave back %d frames, the application held %d", got, held)
	}
	if !l.Ping(t, 3) {
		t.Error("the port does not forward after the tap went away")
	}
}

// disconnected waits for lc to be disconnected for what it did, counted
// once in violations.
func disconnected(t *testing.T, lc *Local, violations *atomic.Int64, what string) {
	t.Helper()
	select {
	case <-lc.Attachment().Done():
	case <-time.After(20 * time.Second):
		t.Fatal("not disconnected after " + what)
	}
	if n := violations.Load(); n != 1 {
		t.Errorf("%d violations counted after %s, want 1", n, what)
	}
}

// TestLocalViolation: an in-process application that returns a frame it
// does not hold is disconnected like an outside one; the port it tapped
// passes traffic again.
func TestLocalViolation(t *testing.T) {
	l := newLine(t, true)
	var violations atomic.Int64
	lc := attach(t, l, Options{Name: "buggy", OnViolation: func(error) { violations.Add(1) }})
	defer lc.Close()
	h := tapOn(t, lc, "wb0", tap.TapInput)
	if _, err := lc.Dealloc([]tap.RingDesc{{ID: 3, Tap: h}}); err != nil {
		t.Fatal(err)
	}
	disconnected(t, lc, &violations, "returning a frame it does not hold")
	for _, a := range LocalStatus(l.Core) {
		if a.Name == "buggy" {
			t.Errorf("a disconnected application is still listed: %+v", a)
		}
	}
	if _, err := lc.Receive(context.Background(), make([]tap.RingDesc, 1)); !errors.Is(err, ErrClosed) {
		t.Errorf("Receive after the disconnect: %v, want ErrClosed", err)
	}
	lc.Close()
	if !l.Ping(t, 3) {
		t.Error("the port does not forward after the application was disconnected")
	}
}

// TestReturnedTwiceInOneBatch: a frame written twice into one batch (of
// a bypass tap's reverts, both of which would be sent at the batch's end;
// of an input tap's reverts, reverted together; of deallocs, released
// together) disconnects the application before the second copy is used;
// the pool stays whole (checked by the line's cleanup).
func TestReturnedTwiceInOneBatch(t *testing.T) {
	l := newLine(t, false)
	send := netns.OpenRaw(t, l.B.Link(t, "peer0"))
	frame := make([]byte, 100)
	copy(frame, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x88, 0xb5})
	for _, c := range []struct {
		name     string
		kind     uint8
		dealloc  bool
		reverted uint64
	}{
		{"bypass revert", tap.TapBypass, false, 1},
		{"input revert", tap.TapInput, false, 1},
		{"dealloc", tap.TapInput, true, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			var violations atomic.Int64
			lc := attach(t, l, Options{Name: "twice", OnViolation: func(error) { violations.Add(1) }})
			defer lc.Close()
			tapOn(t, lc, "wb0", c.kind)
			ds := make([]tap.RingDesc, 1)
			for {
				send.Send(t, frame)
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				n, err := lc.Receive(ctx, ds)
				cancel()
				if n > 0 {
					break
				}
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Fatal(err)
				}
			}
			twice := []tap.RingDesc{ds[0], ds[0]}
			var err error
			if c.dealloc {
				_, err = lc.Dealloc(twice)
			} else {
				_, err = lc.Revert(twice)
			}
			if err != nil {
				t.Fatal(err)
			}
			disconnected(t, lc, &violations, "returning a frame twice in one batch")
			st := lc.Attachment().Status()
			if st.Reverted != c.reverted || st.Deallocated+st.Reverted != 1 {
				t.Errorf("reverted %d, deallocated %d: want the first copy only", st.Reverted, st.Deallocated)
			}
		})
	}
}
