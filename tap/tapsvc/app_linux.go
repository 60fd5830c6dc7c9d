package tapsvc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/tap"
)

func itoa(i int) string { return strconv.Itoa(i) }

// app is one connected application: its consumer (which holds every
// frame in its hands), its rings and eventfds, its taps.
type app struct {
	s    *Service
	id   uint32
	pid  int
	uid  int
	comm string
	name string
	log  *slog.Logger

	core  *capture.Core
	pool  *tap.Pool
	k     *capture.Consumer
	quota int64
	alloc int // frames to keep on the alloc ring

	ringsFd                   int
	rings                     []byte
	layout                    tap.RingsLayout
	detour, revert, aring, dr *tap.Ring
	appEfd                    int      // the daemon signals the application here
	daemonEv                  *os.File // the application signals the daemon here
	daemonEfd                 int      // a dup of daemonEv's fd, handed over

	// held is the frames in the application's hands (detour and alloc
	// rings, and what it took from them); origin records per frame the
	// tap that detoured it (0: allocated).
	held   atomic.Int64
	origin []atomic.Uint32 // atomic: the application may return a frame while it is being detoured
	room   chan struct{}   // a return made room under the quota

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
}

// setReason records why the application ends (the first reason wins).
func (a *app) setReason(r string) {
	a.reasonMu.Lock()
	if a.why == "" {
		a.why = r
	}
	a.reasonMu.Unlock()
}

func (a *app) reason() string {
	a.reasonMu.Lock()
	defer a.reasonMu.Unlock()
	if a.why == "" {
		return "service stopped"
	}
	return a.why
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

func newApp(s *Service, core *capture.Core, id uint32, pid, uid int, name string, alloc, ringSize int, log *slog.Logger) (*app, error) {
	quota := s.cfg.Quota
	alloc = min(alloc, quota/2)
	a := &app{
		s: s, id: id, pid: pid, uid: uid, name: name, comm: readComm(pid),
		core: core, pool: core.Pool(), quota: int64(quota), alloc: alloc,
		origin: make([]atomic.Uint32, core.Pool().Len()), room: make(chan struct{}, 1),
		taps: map[uint32]*tapEntry{}, appEfd: -1, daemonEfd: -1, ringsFd: -1,
	}
	a.log = log.With("app", id, "pid", pid, "command", a.comm, "name", name)
	// Rings hold at least the quota: a frame on a ring is a frame held, so
	// the daemon's rings never fill while the application is within it.
	a.layout = tap.NewRingsLayout(max(ringSize, quota))
	var err error
	if a.ringsFd, a.rings, err = tap.NewRings(a.layout); err != nil {
		return nil, err
	}
	a.detour = tap.OpenRing(a.rings, a.layout, tap.RingDetour, true)
	a.revert = tap.OpenRing(a.rings, a.layout, tap.RingRevert, false)
	a.aring = tap.OpenRing(a.rings, a.layout, tap.RingAlloc, true)
	a.dr = tap.OpenRing(a.rings, a.layout, tap.RingDealloc, false)
	if a.appEfd, err = unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err != nil {
		a.release()
		return nil, fmt.Errorf("tap: eventfd: %w", err)
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		a.release()
		return nil, fmt.Errorf("tap: eventfd: %w", err)
	}
	if a.daemonEfd, err = unix.FcntlInt(uintptr(efd), unix.F_DUPFD_CLOEXEC, 0); err != nil {
		unix.Close(efd)
		a.release()
		return nil, fmt.Errorf("tap: dup eventfd: %w", err)
	}
	a.daemonEv = os.NewFile(uintptr(efd), "tap-daemon-eventfd") // non-blocking: the runtime poller waits on it
	a.k = core.NewConsumer(fmt.Sprintf("tap app %d (%s, pid %d)", id, a.comm, pid))
	a.ctx, a.cancel = context.WithCancel(context.Background())
	a.wg.Add(1)
	go a.returns()
	return a, nil
}

func readComm(pid int) string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return "?"
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return string(b)
}

// fds are what the hello response passes: pool memfd, ring memfd,
// application eventfd, daemon eventfd.
func (a *app) fds() []int { return []int{a.pool.Fd(), a.ringsFd, a.appEfd, a.daemonEfd} }

// release frees the app's memory and fds (after its goroutines ended).
func (a *app) release() {
	if a.rings != nil {
		tap.UnmapRings(a.rings)
		a.rings = nil
	}
	for _, fd := range []*int{&a.ringsFd, &a.appEfd, &a.daemonEfd} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
	if a.daemonEv != nil {
		a.daemonEv.Close()
	}
}

// errViolation marks an application's broken promise.
var errViolation = errors.New("tap application broke the ring rules")

// fail disconnects the application for a violation.
func (a *app) fail(err error) {
	a.failOnce.Do(func() {
		a.s.violations.Add(1)
		a.setReason("violation: " + err.Error())
		a.log.Warn("disconnecting tap application", "err", err)
	})
	a.cancel()
}

// close ends the application: its pumps stop, its consumer closes (every
// frame it holds goes back, its taps' queued frames continue as if
// reverted), its memory is freed. Safe to call more than once.
func (a *app) close(reason string) {
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
		a.k.Close()
		a.s.reclaimed.Add(a.k.Reclaimed())
		a.s.closed.Add(1)
		a.release()
		a.log.Info("tap application gone; its frames are back in the pool", "reason", reason, "frames", held, "reclaimed", a.k.Reclaimed())
	})
}

// signal wakes the application (its eventfd).
func (a *app) signal() {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], 1)
	_, _ = unix.Write(a.appEfd, b[:])
}

// addTap subscribes the application's consumer on a port.
func (a *app) addTap(kind uint8, order int32, portName string) (*tapEntry, uint32, error) {
	p := a.core.Port(portName)
	if p == nil {
		return nil, tap.StatusNoPort, fmt.Errorf("no port %q", portName)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.taps == nil {
		return nil, tap.StatusState, errors.New("application closing")
	}
	if len(a.taps) >= a.s.cfg.MaxTaps {
		return nil, tap.StatusLimit, fmt.Errorf("at most %d taps", a.s.cfg.MaxTaps)
	}
	hook := capture.Ingress
	if kind == tap.TapOutput {
		hook = capture.Egress
	}
	for _, t := range a.taps {
		// Its own owner id places a reverted frame in the chain: one tap
		// per hook and port.
		if t.port == p && (t.kind == tap.TapOutput) == (kind == tap.TapOutput) {
			return nil, tap.StatusBusy, fmt.Errorf("the application already taps the %s of %s", hook, portName)
		}
	}
	a.nextHandle++
	h := a.nextHandle
	sub, err := a.k.Subscribe(p, capture.SubscribeOptions{
		Name: fmt.Sprintf("tap %d.%d %s", a.id, h, tap.TapKindNames[kind]), Kind: capture.Owner,
		Hook: hook, Exclusive: kind == tap.TapBypass, Order: int(order), Queue: 4096,
	})
	if errors.Is(err, capture.ErrBusy) {
		return nil, tap.StatusBusy, err
	}
	if err != nil {
		return nil, tap.StatusInternal, err
	}
	ctx, cancel := context.WithCancel(a.ctx)
	t := &tapEntry{handle: h, kind: kind, order: int(order), port: p, sub: sub, cancel: cancel, done: make(chan struct{})}
	a.taps[h] = t
	go a.pump(ctx, t)
	return t, 0, nil
}

// closeTap removes a tap; frames of it the application holds stay its own.
func (a *app) closeTap(h uint32) bool {
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

func (a *app) tap(h uint32) *tapEntry {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.taps[h]
}

const batch = 64

// pump moves a tap's frames to the detour ring, within the quota.
func (a *app) pump(ctx context.Context, t *tapEntry) {
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
			a.fail(fmt.Errorf("%w: detour ring: %v", errViolation, err))
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
			a.signal()
		}
	}
}

// returns consumes the revert and dealloc rings and keeps the alloc ring
// stocked, sleeping on the daemon eventfd when there is nothing to do.
func (a *app) returns() {
	defer a.wg.Done()
	sends := map[*capture.Port][]capture.Frame{}
	for a.ctx.Err() == nil {
		n, err := a.drainRevert(sends)
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
			select {
			case a.room <- struct{}{}:
			default:
			}
			continue
		}
		a.revert.SetNeedWakeup()
		a.dr.SetNeedWakeup()
		r, _ := a.revert.Peek(1)
		d, _ := a.dr.Peek(1)
		if r == 0 && d == 0 {
			var b [8]byte
			_ = a.daemonEv.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			_, _ = a.daemonEv.Read(b[:])
		}
		a.revert.ClearNeedWakeup()
		a.dr.ClearNeedWakeup()
	}
}

// adopt checks one entry the application wrote: in range, held by its
// consumer, data inside the frame.
func (a *app) adopt(ring string, d tap.RingDesc, dir capture.Direction) (capture.Frame, error) {
	f, err := a.k.Adopt(tap.FrameID(d.ID), dir)
	if err != nil {
		return f, fmt.Errorf("%w: %s ring: %v", errViolation, ring, err)
	}
	return f, nil
}

func (a *app) drainRevert(sends map[*capture.Port][]capture.Frame) (int, error) {
	n, err := a.revert.Peek(256)
	if err != nil {
		return 0, fmt.Errorf("%w: revert ring: %v", errViolation, err)
	}
	if n == 0 {
		return 0, nil
	}
	fs := a.pool.FrameSize()
	var verr error
	done := 0
	for i := 0; i < n; i++ {
		d := a.revert.Entry(i)
		t := a.tap(d.Tap)
		if t == nil {
			verr = fmt.Errorf("%w: revert ring: tap handle %d is not open", errViolation, d.Tap)
			break
		}
		if uint64(d.Off)+uint64(d.Len) > uint64(fs) || d.Len < 14 {
			verr = fmt.Errorf("%w: revert ring: frame %d data %d+%d outside its %d bytes", errViolation, d.ID, d.Off, d.Len, fs)
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
		if off, ln := a.pool.Span(id); off != int(d.Off) || ln != int(d.Len) {
			a.pool.SetData(id, int(d.Off), int(d.Len), int(d.Len))
		}
		mine := a.origin[id].Load() == t.handle
		a.held.Add(-1)
		done++
		switch {
		case t.kind == tap.TapInput && mine:
			f.Revert() // on along the port's chain of owners
		case t.kind == tap.TapInput:
			_ = t.port.Inject(f) // a new frame: as if received
		case t.kind == tap.TapOutput && mine:
			if g, err := a.k.AdoptEgress(id, t.port); err == nil {
				g.Revert()
			}
		default: // bypass, or a new frame on an output tap: leaves the port
			sends[t.port] = append(sends[t.port], f)
		}
	}
	a.revert.Release(done)
	a.reverted.Add(uint64(done))
	for p, l := range sends {
		if len(l) > 0 {
			_, _ = p.Send(l) // errors counted in the port's tx_errors
			clear(l)
			sends[p] = l[:0]
		}
	}
	return done, verr
}

func (a *app) drainDealloc() (int, error) {
	n, err := a.dr.Peek(256)
	if err != nil {
		return 0, fmt.Errorf("%w: dealloc ring: %v", errViolation, err)
	}
	k := 0
	var verr error
	for i := 0; i < n; i++ {
		f, err := a.adopt("dealloc", a.dr.Entry(i), capture.RX)
		if err != nil {
			verr = err
			break
		}
		// Released at once: a second entry for the same frame in this
		// batch must fail the check.
		f.Release()
		k++
	}
	a.dr.Release(k)
	a.held.Add(-int64(k))
	a.deallocated.Add(uint64(k))
	return k, verr
}

// refill keeps up to a.alloc frames on the alloc ring, within the quota.
func (a *app) refill() error {
	want := a.alloc - a.aring.Queued()
	if room := int(a.quota - a.held.Load()); want > room {
		want = room
	}
	if want <= 0 {
		return nil
	}
	n, err := a.aring.Reserve(want)
	if err != nil {
		return fmt.Errorf("%w: alloc ring: %v", errViolation, err)
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
		a.signal()
	}
	return nil
}

func (a *app) status() api.TapApp {
	st := api.TapApp{ID: a.id, PID: a.pid, UID: a.uid, Command: a.comm, Name: a.name, Taps: []api.Tap{},
		Held: a.held.Load(), Detoured: a.detoured.Load(), Reverted: a.reverted.Load(),
		Allocated: a.allocated.Load(), Deallocated: a.deallocated.Load()}
	a.mu.Lock()
	for _, t := range a.taps {
		ss := t.sub.Stats()
		st.Taps = append(st.Taps, api.Tap{Handle: t.handle, Port: t.port.Name(), Kind: tap.TapKindNames[t.kind],
			Order: t.order, Detoured: t.detoured.Load(), Dropped: ss.Dropped + t.passed.Load()})
		st.Dropped += ss.Dropped + t.passed.Load()
	}
	a.mu.Unlock()
	return st
}
