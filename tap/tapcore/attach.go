package tapcore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/bpf"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/tap"
)

// Options describe one application's attachment.
type Options struct {
	// Name names the application's consumer of the core (logs, ports).
	Name string
	// Quota is the most frames the application may hold, frames on its
	// detour and alloc rings included (default 4096).
	Quota int
	// Alloc is how many free frames to keep on the alloc ring (at most
	// half the quota; 0 none).
	Alloc int
	// RingSize is the entries per ring wanted; the rings hold at least
	// the quota (rounded up to a power of two).
	RingSize int
	// MaxTaps bounds the taps (default 16).
	MaxTaps int
	// Queue is each tap's subscription queue in the core (default 4096).
	Queue int
	// Shared puts the rings in a memfd (RingsFd) for another process;
	// otherwise they are ordinary memory of this process.
	Shared bool
	// Wake signals the application after the daemon submitted entries on
	// ring (tap.RingDetour or tap.RingAlloc) whose consumer set
	// NEED_WAKEUP. Attach sets it for a Local.
	Wake func(ring int)
	// Wait sleeps until the application signals the daemon (it put
	// entries on revert or dealloc) or timeout passes. nil: Kick wakes it.
	Wait func(timeout time.Duration)
	// OnViolation is called once when the application breaks a ring rule
	// (before it is disconnected).
	OnViolation func(error)
	// Log is the logger (default slog.Default()).
	Log *slog.Logger
}

// Defaults.
const (
	DefaultQuota   = 4096
	DefaultMaxTaps = 16
	DefaultQueue   = 4096
)

// TapOptions are what an in-process application may add to a tap: the
// core runs Match (and Filter, classic BPF) on every frame before it is
// detoured; frames that do not match pass the tap as if reverted.
type TapOptions struct {
	Match  func(data []byte) bool
	Filter []bpf.RawInstruction
}

// Attachment is the daemon's side of one application: its consumer of
// the core (which holds every frame in the application's hands), its
// rings and its taps. Its goroutines pump each tap's frames to the
// detour ring and consume revert and dealloc, checking every entry.
type Attachment struct {
	o     Options
	core  *capture.Core
	pool  *tap.Pool
	k     *capture.Consumer
	quota int64
	alloc int

	ringsFd                   int
	rings                     []byte
	freeRings                 func()
	layout                    tap.RingsLayout
	detour, revert, aring, dr *tap.Ring

	bell    chan struct{}   // Kick → returns, when Options.Wait is nil
	reverts []capture.Frame // returns' batch of input-tap reverts
	frees   []capture.Frame // returns' batch of deallocated frames

	// held is the frames in the application's hands (detour and alloc
	// rings, and what it took from them); origin records per frame the
	// tap that detoured it (0: allocated).
	held   atomic.Int64
	origin []atomic.Uint32 // atomic: the application may return a frame while it is being detoured

	detourMu sync.Mutex // tap pumps share the detour ring's producer side

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu         sync.Mutex
	taps       map[uint32]*tapEntry
	nextHandle uint32

	detoured, reverted, allocated, deallocated atomic.Uint64
	failOnce                                   sync.Once
	closeOnce                                  sync.Once
	reasonMu                                   sync.Mutex
	why                                        string
	reclaimed                                  uint64
}

type tapEntry struct {
	handle   uint32
	kind     uint8
	order    int
	port     *capture.Port
	sub      *capture.Subscription
	cancel   context.CancelFunc
	done     chan struct{}
	detoured atomic.Uint64
	passed   atomic.Uint64 // frames it missed at the quota
}

// New attaches an application to the core: a consumer, four rings, and
// the goroutine that consumes revert and dealloc. Close it when the
// application is gone.
func New(core *capture.Core, o Options) (*Attachment, error) {
	if o.Quota <= 0 {
		o.Quota = DefaultQuota
	}
	if o.MaxTaps <= 0 {
		o.MaxTaps = DefaultMaxTaps
	}
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	a := &Attachment{
		o: o, core: core, pool: core.Pool(), quota: int64(o.Quota), alloc: max(0, min(o.Alloc, o.Quota/2)),
		origin: make([]atomic.Uint32, core.Pool().Len()), taps: map[uint32]*tapEntry{},
		bell: make(chan struct{}, 1),
	}
	// Rings hold at least the quota: a frame on a ring is a frame held, so
	// the daemon's rings never fill while the application is within it.
	a.layout = tap.NewRingsLayout(max(o.RingSize, o.Quota))
	var err error
	if a.ringsFd, a.rings, a.freeRings, err = newRings(a.layout, o.Shared); err != nil {
		return nil, err
	}
	a.detour = tap.OpenRing(a.rings, a.layout, tap.RingDetour, true)
	a.revert = tap.OpenRing(a.rings, a.layout, tap.RingRevert, false)
	a.aring = tap.OpenRing(a.rings, a.layout, tap.RingAlloc, true)
	a.dr = tap.OpenRing(a.rings, a.layout, tap.RingDealloc, false)
	a.k = core.NewConsumer(o.Name)
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.wg.Add(1)
	go a.returns()
	return a, nil
}

// Quota is the most frames the application may hold.
func (a *Attachment) Quota() int { return int(a.quota) }

// AllocFrames is how many free frames the alloc ring is kept stocked with.
func (a *Attachment) AllocFrames() int { return a.alloc }

// Layout is the rings' layout.
func (a *Attachment) Layout() tap.RingsLayout { return a.layout }

// RingsFd is the rings' memfd (Shared), -1 otherwise; the Attachment
// closes it.
func (a *Attachment) RingsFd() int { return a.ringsFd }

// Consumer is the application's consumer of the core.
func (a *Attachment) Consumer() *capture.Consumer { return a.k }

// Done is closed when the application is disconnected (a violation, or
// Disconnect) or closed.
func (a *Attachment) Done() <-chan struct{} { return a.ctx.Done() }

// Kick tells the daemon side that the application put entries on revert
// or dealloc (for Options.Wait nil).
func (a *Attachment) Kick() {
	select {
	case a.bell <- struct{}{}:
	default:
	}
}

// SetReason records why the application ends (the first reason wins).
func (a *Attachment) SetReason(r string) {
	a.reasonMu.Lock()
	if a.why == "" {
		a.why = r
	}
	a.reasonMu.Unlock()
}

// Reason is why the application ended ("service stopped" if none was set).
func (a *Attachment) Reason() string {
	a.reasonMu.Lock()
	defer a.reasonMu.Unlock()
	if a.why == "" {
		return "service stopped"
	}
	return a.why
}

// Disconnect stops the application's pumps with a reason (its process
// exited, its socket closed); Close then reclaims.
func (a *Attachment) Disconnect(reason string) {
	a.SetReason(reason)
	a.cancel()
}

// ErrViolation marks an application's broken promise.
var ErrViolation = errors.New("tap application broke the ring rules")

// fail disconnects the application for a violation.
func (a *Attachment) fail(err error) {
	a.failOnce.Do(func() {
		a.SetReason("violation: " + err.Error())
		a.o.Log.Warn("disconnecting tap application", "err", err)
		if a.o.OnViolation != nil {
			a.o.OnViolation(err)
		}
	})
	a.cancel()
}

// Close ends the application: its pumps stop, its consumer closes (every
// frame it holds goes back, its taps' queued frames continue as if
// reverted), its rings are freed. It returns how many frame references
// came back. Safe to call more than once.
func (a *Attachment) Close() uint64 {
	a.closeOnce.Do(func() {
		a.cancel()
		a.wg.Wait()
		a.mu.Lock()
		for _, t := range a.taps {
			t.cancel()
			<-t.done
		}
		a.taps = nil
		a.mu.Unlock()
		held := a.k.Held()
		_ = a.k.Close()
		a.reclaimed = a.k.Reclaimed()
		a.freeRings()
		a.o.Log.Info("tap application gone; its frames are back in the pool", "reason", a.Reason(), "frames", held, "reclaimed", a.reclaimed)
	})
	return a.reclaimed
}

// wake signals the application about ring.
func (a *Attachment) wake(ring int) {
	if a.o.Wake != nil {
		a.o.Wake(ring)
	}
}

// Tap subscribes the application's consumer on a port: kind is
// tap.TapInput, TapOutput or TapBypass; order places it among the port's
// owners of the hook. It returns the tap's handle, or a tap.Status* code
// and an error (capture.ErrBusy wrapped when the hook is held).
func (a *Attachment) Tap(kind uint8, order int32, portName string, o TapOptions) (uint32, *capture.Port, uint32, error) {
	if kind < tap.TapInput || kind > tap.TapBypass {
		return 0, nil, tap.StatusBadRequest, fmt.Errorf("no tap kind %d", kind)
	}
	p := a.core.Port(portName)
	if p == nil {
		return 0, nil, tap.StatusNoPort, fmt.Errorf("no port %q", portName)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.taps == nil || a.ctx.Err() != nil {
		return 0, nil, tap.StatusState, errors.New("application closing")
	}
	if len(a.taps) >= a.o.MaxTaps {
		return 0, nil, tap.StatusLimit, fmt.Errorf("at most %d taps", a.o.MaxTaps)
	}
	hook := capture.Ingress
	if kind == tap.TapOutput {
		hook = capture.Egress
	}
	for _, t := range a.taps {
		// Its own owner id places a reverted frame in the chain: one tap
		// per hook and port.
		if t.port == p && (t.kind == tap.TapOutput) == (kind == tap.TapOutput) {
			return 0, nil, tap.StatusBusy, fmt.Errorf("the application already taps the %s of %s", hook, portName)
		}
	}
	a.nextHandle++
	h := a.nextHandle
	sub, err := a.k.Subscribe(p, capture.SubscribeOptions{
		Name: fmt.Sprintf("%s tap %d %s", a.o.Name, h, tap.TapKindNames[kind]), Kind: capture.Owner,
		Hook: hook, Exclusive: kind == tap.TapBypass, Order: int(order), Queue: a.o.Queue,
		Match: o.Match, Filter: o.Filter,
	})
	if errors.Is(err, capture.ErrBusy) {
		return 0, nil, tap.StatusBusy, err
	}
	if err != nil {
		return 0, nil, tap.StatusInternal, err
	}
	ctx, cancel := context.WithCancel(a.ctx)
	t := &tapEntry{handle: h, kind: kind, order: int(order), port: p, sub: sub, cancel: cancel, done: make(chan struct{})}
	a.taps[h] = t
	go a.pump(ctx, t)
	return h, p, 0, nil
}

// CloseTap removes a tap; frames of it the application holds stay its own.
func (a *Attachment) CloseTap(h uint32) bool {
	a.mu.Lock()
	t := a.taps[h]
	delete(a.taps, h)
	a.mu.Unlock()
	if t == nil {
		return false
	}
	t.cancel()
	<-t.done
	t.sub.Close()
	return true
}

func (a *Attachment) tap(h uint32) *tapEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.taps[h]
}

// batch is the most frames a pump moves per detour submit: the core's
// queue is drained in large steps, so the application is woken (when it
// sleeps) once per batch, not per frame.
const batch = 256

// pump moves a tap's frames to the detour ring, within the quota.
func (a *Attachment) pump(ctx context.Context, t *tapEntry) {
	defer close(t.done)
	buf := make([]capture.Frame, batch)
	for {
		room := a.quota - a.held.Load()
		if room <= 0 {
			// At its quota the application misses frames: they go on as if
			// it had reverted them (counted), so a stalled application does
			// not stop the port's traffic.
			wctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
			n, _ := t.sub.Receive(wctx, buf)
			cancel()
			for _, f := range buf[:n] {
				f.Revert()
			}
			t.passed.Add(uint64(n))
			if ctx.Err() != nil {
				return
			}
			continue
		}
		n, err := t.sub.Receive(ctx, buf[:min(int64(batch), room)])
		if err != nil {
			return
		}
		a.detourMu.Lock()
		err = a.detour.Check() // the application owns the consumer index
		got := 0
		if err == nil {
			got, err = a.detour.Reserve(n)
		}
		if err != nil {
			a.detourMu.Unlock()
			for _, f := range buf[:n] {
				f.Revert()
			}
			a.fail(fmt.Errorf("%w: detour ring: %v", ErrViolation, err))
			return
		}
		for i, f := range buf[:got] {
			id := f.ID()
			off, ln := a.pool.Span(id)
			*a.detour.Slot(i) = tap.RingDesc{ID: uint32(id), Off: uint32(off), Len: uint32(ln), Tap: t.handle}
			a.origin[id].Store(t.handle)
		}
		a.held.Add(int64(got))
		a.detour.Submit(got)
		wake := a.detour.NeedWakeup()
		a.detourMu.Unlock()
		for _, f := range buf[got:n] {
			f.Revert() // cannot happen within the quota; pass them on
		}
		t.detoured.Add(uint64(got))
		a.detoured.Add(uint64(got))
		if wake {
			a.wake(tap.RingDetour)
		}
	}
}

// returns consumes the revert and dealloc rings and keeps the alloc ring
// stocked, sleeping until the application signals when there is nothing
// to do.
func (a *Attachment) returns() {
	defer a.wg.Done()
	var sends []sendBatch
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for a.ctx.Err() == nil {
		var n int
		var err error
		sends, n, err = a.drainRevert(sends)
		if err == nil {
			var m int
			m, err = a.drainDealloc()
			n += m
		}
		if err == nil {
			err = a.refill()
		}
		if err != nil {
			a.fail(err)
			return
		}
		if n > 0 {
			continue
		}
		a.revert.SetNeedWakeup()
		a.dr.SetNeedWakeup()
		r, _ := a.revert.Peek(1)
		d, _ := a.dr.Peek(1)
		if r == 0 && d == 0 {
			a.sleep(timer, 100*time.Millisecond)
		}
		a.revert.ClearNeedWakeup()
		a.dr.ClearNeedWakeup()
	}
}

func (a *Attachment) sleep(timer *time.Timer, d time.Duration) {
	if a.o.Wait != nil {
		a.o.Wait(d)
		return
	}
	timer.Reset(d)
	select {
	case <-a.bell:
	case <-timer.C:
	case <-a.ctx.Done():
	}
	timer.Stop()
}

// adopt checks one entry the application wrote: in range, held by its
// consumer.
func (a *Attachment) adopt(ring string, d tap.RingDesc, dir capture.Direction) (capture.Frame, error) {
	f, err := a.k.Adopt(tap.FrameID(d.ID), dir)
	if err != nil {
		return f, fmt.Errorf("%w: %s ring: %v", ErrViolation, ring, err)
	}
	return f, nil
}

// inBatch in origin marks a frame of the revert batch that goes on at the
// batch's end (sent, or reverted with capture.RevertAll); never a tap
// handle: handles count up from 1.
const inBatch = ^uint32(0)

// sendBatch is the frames of one revert batch to send out of one port.
type sendBatch struct {
	port   *capture.Port
	frames []capture.Frame
}

// add appends f to p's batch (a few ports at most: a linear search).
func addSend(sends []sendBatch, p *capture.Port, f capture.Frame) []sendBatch {
	for i := range sends {
		if sends[i].port == p {
			sends[i].frames = append(sends[i].frames, f)
			return sends
		}
	}
	return append(sends, sendBatch{port: p, frames: append(make([]capture.Frame, 0, 256), f)})
}

func (a *Attachment) drainRevert(sends []sendBatch) ([]sendBatch, int, error) {
	n, err := a.revert.Peek(256)
	if err != nil {
		return sends, 0, fmt.Errorf("%w: revert ring: %v", ErrViolation, err)
	}
	if n == 0 {
		return sends, 0, nil
	}
	fs := a.pool.FrameSize()
	var verr error
	done := 0
	reverts := a.reverts[:0]
	var t *tapEntry // the last entry's tap: a batch is mostly one or two
	for i := 0; i < n; i++ {
		d := a.revert.Entry(i)
		if t == nil || t.handle != d.Tap {
			t = a.tap(d.Tap)
		}
		if t == nil {
			verr = fmt.Errorf("%w: revert ring: tap handle %d is not open", ErrViolation, d.Tap)
			break
		}
		if uint64(d.Off)+uint64(d.Len) > uint64(fs) || d.Len < 14 {
			verr = fmt.Errorf("%w: revert ring: frame %d data %d+%d outside its %d bytes", ErrViolation, d.ID, d.Off, d.Len, fs)
			break
		}
		dir := capture.RX
		if t.kind == tap.TapOutput {
			dir = capture.TX
		}
		f, err := a.adopt("revert", d, dir)
		if err != nil {
			verr = err
			break
		}
		id := f.ID()
		o := a.origin[id].Load()
		if o == inBatch {
			// Still the application's until the batch is sent: the
			// consumer's count cannot tell a second return yet.
			verr = fmt.Errorf("%w: revert ring: frame %d returned twice", ErrViolation, id)
			break
		}
		if off, ln := a.pool.Span(id); off != int(d.Off) || ln != int(d.Len) {
			a.pool.SetData(id, int(d.Off), int(d.Len), int(d.Len))
		}
		mine := o == t.handle
		done++
		switch {
		case t.kind == tap.TapInput && mine:
			a.origin[id].Store(inBatch)
			reverts = append(reverts, f) // on along the port's chain of owners
		case t.kind == tap.TapInput:
			_ = t.port.Inject(f) // a new frame: as if received
		case t.kind == tap.TapOutput && mine:
			if g, err := a.k.AdoptEgress(id, t.port); err == nil {
				g.Revert()
			}
		default: // bypass, or a new frame on an output tap: leaves the port
			a.origin[id].Store(inBatch)
			sends = addSend(sends, t.port, f)
		}
	}
	a.revert.Release(done)
	a.held.Add(-int64(done))
	a.reverted.Add(uint64(done))
	if len(reverts) > 0 {
		capture.RevertAll(reverts)
		clear(reverts)
		a.reverts = reverts[:0]
	}
	for i := range sends {
		if l := sends[i].frames; len(l) > 0 {
			_, _ = sends[i].port.Send(l) // errors counted in the port's tx_errors
			clear(l)
			sends[i].frames = l[:0]
		}
	}
	return sends, done, verr
}

func (a *Attachment) drainDealloc() (int, error) {
	n, err := a.dr.Peek(256)
	if err != nil {
		return 0, fmt.Errorf("%w: dealloc ring: %v", ErrViolation, err)
	}
	if n == 0 {
		return 0, nil
	}
	fs := a.frees[:0]
	var verr error
	for i := 0; i < n; i++ {
		f, err := a.adopt("dealloc", a.dr.Entry(i), capture.RX)
		if err == nil && a.origin[f.ID()].Swap(inBatch) == inBatch {
			// Still held until the batch is released.
			err = fmt.Errorf("%w: dealloc ring: frame %d returned twice", ErrViolation, f.ID())
		}
		if err != nil {
			verr = err
			break
		}
		fs = append(fs, f)
	}
	k := len(fs)
	capture.ReleaseAll(fs) // one step back to the pool for the batch
	clear(fs)
	a.frees = fs[:0]
	a.dr.Release(k)
	a.held.Add(-int64(k))
	a.deallocated.Add(uint64(k))
	return k, verr
}

// refill keeps up to a.alloc frames on the alloc ring, within the quota.
func (a *Attachment) refill() error {
	want := a.alloc - a.aring.Queued()
	if room := int(a.quota - a.held.Load()); want > room {
		want = room
	}
	if want <= 0 {
		return nil
	}
	n, err := a.aring.Reserve(want)
	if err != nil {
		return fmt.Errorf("%w: alloc ring: %v", ErrViolation, err)
	}
	var fs [256]capture.Frame
	n = a.k.Alloc(fs[:min(n, len(fs))])
	for i, f := range fs[:n] {
		id := f.ID()
		a.origin[id].Store(0)
		*a.aring.Slot(i) = tap.RingDesc{ID: uint32(id), Len: uint32(a.pool.FrameSize())}
	}
	a.held.Add(int64(n))
	a.aring.Submit(n)
	a.allocated.Add(uint64(n))
	if n > 0 && a.aring.NeedWakeup() {
		a.wake(tap.RingAlloc)
	}
	return nil
}

// Status is the application's counters and taps (ID, PID, UID and
// Command are the caller's to fill).
func (a *Attachment) Status() api.TapApp {
	st := api.TapApp{Taps: []api.Tap{},
		Held: a.held.Load(), Detoured: a.detoured.Load(), Reverted: a.reverted.Load(),
		Allocated: a.allocated.Load(), Deallocated: a.deallocated.Load()}
	a.mu.Lock()
	for _, t := range a.taps {
		d := t.dropped()
		st.Taps = append(st.Taps, api.Tap{Handle: t.handle, Port: t.port.Name(), Kind: tap.TapKindNames[t.kind],
			Order: t.order, Detoured: t.detoured.Load(), Dropped: d})
		st.Dropped += d
	}
	a.mu.Unlock()
	return st
}

func (t *tapEntry) dropped() uint64 { return t.sub.Stats().Dropped + t.passed.Load() }

// Dropped is how many frames tap h missed (its queue in the core was
// full, or the application was at its quota): they went on as if
// reverted. 0 for a tap that is not open.
func (a *Attachment) Dropped(h uint32) uint64 {
	if t := a.tap(h); t != nil {
		return t.dropped()
	}
	return 0
}
