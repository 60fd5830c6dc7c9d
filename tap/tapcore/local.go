package tapcore

import (
	"context"
	"errors"
	"fmt"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/tap"
)

// Local is an application inside the daemon: its side of the same four
// rings an outside application maps (it consumes detour and alloc,
// produces revert and dealloc), over the same pool memory, woken through
// channels where an outside application has eventfds. Every entry it
// writes passes the same checks.
type Local struct {
	a    *Attachment
	pool *tap.Pool
	core *capture.Core
	name string
	id   uint32 // its number among the core's in-process applications

	detour, revert, alloc, dealloc *tap.Ring
	detourBell, allocBell          chan struct{}
}

// ErrClosed is returned once the application is closed or disconnected.
var ErrClosed = errors.New("tapcore: application closed")

// Attach attaches an in-process application to the core (o.Shared and
// o.Wake are ignored: its rings are ordinary memory, its wake-ups
// channels). Close it when done; every frame it still holds then goes
// back to the pool.
func Attach(core *capture.Core, o Options) (*Local, error) {
	l := &Local{pool: core.Pool(), core: core, name: o.Name, detourBell: make(chan struct{}, 1), allocBell: make(chan struct{}, 1)}
	o.Shared, o.Wait = false, nil
	o.Wake = func(ring int) {
		b := l.detourBell
		if ring == tap.RingAlloc {
			b = l.allocBell
		}
		select {
		case b <- struct{}{}:
		default:
		}
	}
	a, err := New(core, o)
	if err != nil {
		return nil, err
	}
	l.a = a
	l.detour = tap.OpenRing(a.rings, a.layout, tap.RingDetour, false)
	l.revert = tap.OpenRing(a.rings, a.layout, tap.RingRevert, true)
	l.alloc = tap.OpenRing(a.rings, a.layout, tap.RingAlloc, false)
	l.dealloc = tap.OpenRing(a.rings, a.layout, tap.RingDealloc, true)
	register(core, l)
	return l, nil
}

// Attachment is the daemon's side (status, counters).
func (l *Local) Attachment() *Attachment { return l.a }

// Tap opens a tap of kind (tap.TapInput, TapOutput, TapBypass) on port;
// order places it among the port's owners of the hook, lowest first. The
// error wraps capture.ErrBusy when the hook is held.
func (l *Local) Tap(port string, kind uint8, order int32, o TapOptions) (uint32, error) {
	h, _, _, err := l.a.Tap(kind, order, port, o)
	if err != nil {
		return 0, fmt.Errorf("tap %s: %w", port, err)
	}
	return h, nil
}

// CloseTap removes tap h; frames of it the application holds stay its own.
func (l *Local) CloseTap(h uint32) error {
	if !l.a.CloseTap(h) {
		return fmt.Errorf("tapcore: no tap %d", h)
	}
	return nil
}

// Dropped counts the frames tap h missed (they went on as if reverted).
func (l *Local) Dropped(h uint32) uint64 { return l.a.Dropped(h) }

func take(r *tap.Ring, ds []tap.RingDesc) int {
	n, err := r.Peek(len(ds))
	if err != nil { // the daemon side is this process: cannot happen
		panic(err)
	}
	for i := 0; i < n; i++ {
		ds[i] = r.Entry(i)
	}
	r.Release(n)
	return n
}

// wait takes entries from r, sleeping on bell (NEED_WAKEUP set first, the
// ring checked again after it) until there is one, ctx ends or the
// application is closed.
func (l *Local) wait(ctx context.Context, r *tap.Ring, bell chan struct{}, ds []tap.RingDesc) (int, error) {
	for {
		if n := take(r, ds); n > 0 {
			return n, nil
		}
		if l.a.ctx.Err() != nil {
			return 0, ErrClosed
		}
		r.SetNeedWakeup()
		if n, _ := r.Peek(1); n > 0 {
			r.ClearNeedWakeup()
			continue
		}
		select {
		case <-bell:
		case <-ctx.Done():
			r.ClearNeedWakeup()
			return 0, ctx.Err()
		case <-l.a.ctx.Done():
		}
		r.ClearNeedWakeup()
	}
}

// Receive takes up to len(ds) detoured frames, waiting for the first.
// Each is the application's until it reverts or deallocates it. Only one
// goroutine at a time may call Receive (with TryReceive).
func (l *Local) Receive(ctx context.Context, ds []tap.RingDesc) (int, error) {
	return l.wait(ctx, l.detour, l.detourBell, ds)
}

// TryReceive takes up to len(ds) detoured frames without waiting.
func (l *Local) TryReceive(ds []tap.RingDesc) int { return take(l.detour, ds) }

// Alloc takes up to len(ds) free frames, waiting for the first (the
// daemon restocks the ring with Options.Alloc frames as they are used).
// Fill one with Buffer, then Revert it on a tap (sent, or injected for
// an input tap) or Dealloc it. One goroutine at a time.
func (l *Local) Alloc(ctx context.Context, ds []tap.RingDesc) (int, error) {
	return l.wait(ctx, l.alloc, l.allocBell, ds)
}

// TryAlloc takes up to len(ds) free frames without waiting.
func (l *Local) TryAlloc(ds []tap.RingDesc) int { return take(l.alloc, ds) }

func (l *Local) give(r *tap.Ring, ds []tap.RingDesc) (int, error) {
	if l.a.ctx.Err() != nil {
		return 0, ErrClosed
	}
	n, err := r.Reserve(len(ds))
	if err != nil {
		panic(err) // the daemon side is this process: cannot happen
	}
	for i := 0; i < n; i++ {
		*r.Slot(i) = ds[i]
	}
	r.Submit(n)
	if n > 0 && r.NeedWakeup() {
		l.a.Kick()
	}
	return n, nil
}

// Revert hands frames back: each continues on its way on the tap its Tap
// field names (input, output) or leaves that tap's port (bypass), with
// the data Off and Len say. It returns how many fit on the ring (all,
// within the quota). One goroutine at a time.
func (l *Local) Revert(ds []tap.RingDesc) (int, error) { return l.give(l.revert, ds) }

// Dealloc gives frames back to the pool. One goroutine at a time.
func (l *Local) Dealloc(ds []tap.RingDesc) (int, error) { return l.give(l.dealloc, ds) }

// Data is a ring entry's bytes in the pool (no copy).
func (l *Local) Data(d tap.RingDesc) []byte {
	b := l.pool.Buffer(tap.FrameID(d.ID))
	if uint64(d.Off)+uint64(d.Len) > uint64(len(b)) {
		return nil
	}
	return b[d.Off : d.Off+d.Len]
}

// Buffer is the whole frame id, to build a frame in an allocated one.
func (l *Local) Buffer(id uint32) []byte { return l.pool.Buffer(tap.FrameID(id)) }

// Meta is what the core recorded for a received frame: its stamp (ns on
// the core's clock), the stamp's source and its length on the wire.
func (l *Local) Meta(id uint32) (ts int64, src capture.TimestampSource, wireLen int) {
	ts, _, flags := l.pool.Meta(tap.FrameID(id))
	// Flags bits 12-15 are the stamp's source (docs/TAP-ABI.md, section 2).
	return ts, capture.TimestampSource(flags >> 12 & 0xf), l.pool.WireLen(tap.FrameID(id))
}

// Close ends the application: its taps go away and every frame it holds
// goes back to the pool (returned: how many references). Its rings stay
// valid memory, but nothing more moves on them. Stop (or exclude) the
// goroutines using the Local first: a frame one of them took is another
// consumer's once Close returned, and must not be written.
func (l *Local) Close() uint64 {
	unregister(l.core, l)
	return l.a.Close()
}
