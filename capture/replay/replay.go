package replay

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"time"

	"github.com/gopacket/gopacket/layers"

	"github.com/wirebox/wirebox/capture/pcapng"
)

// Sender transmits one frame. The frame slice is only valid during the call.
type Sender interface {
	Send(frame []byte) error
}

// SenderFunc adapts a function to Sender.
type SenderFunc func([]byte) error

// Send calls f.
func (f SenderFunc) Send(b []byte) error { return f(b) }

// Source yields records in file order; io.EOF ends it.
type Source interface {
	Next() (pcapng.Record, error)
}

// Clock is the monotonic time base of the scheduler, in nanoseconds.
type Clock interface {
	Now() int64
	// SleepUntil returns at or after t, or early when ctx is done.
	SleepUntil(ctx context.Context, t int64)
}

// Options control a replay.
type Options struct {
	// Speed: 1 = captured pace (0 too), 2 = twice as fast; from MinSpeed
	// to MaxSpeed, else Run refuses it.
	Speed float64
	// Loop is how many times to send the file: 0 is once, LoopForever
	// sends it until ctx ends (as tcpreplay's --loop 0).
	Loop int
	// MaxWait bounds the wait for one frame (its gap to the previous one,
	// after Speed): a file whose timestamps jump by more ends the replay
	// with an error naming the frame, instead of waiting for years.
	// Default DefaultMaxWait.
	MaxWait time.Duration
	// Lead is the delay from Run's call to the first frame's due time,
	// giving the sender time to warm up. Default 1 ms.
	Lead time.Duration
	// LateAfter: a frame sent this long after its due time counts as late.
	// Default 2 µs.
	LateAfter time.Duration
	NoPad     bool  // send truncated frames as captured
	Clock     Clock // default: the monotonic clock with sleep-then-spin
}

// Report is the outcome of a replay.
type Report struct {
	Sent       uint64        `json:"sent"`
	Bytes      uint64        `json:"bytes"`
	Padded     uint64        `json:"padded"`
	Late       uint64        `json:"late"`
	WorstLate  time.Duration `json:"worst_late_ns"`
	Errors     uint64        `json:"errors"`
	FirstError string        `json:"first_error,omitempty"`
	Duration   time.Duration `json:"duration_ns"` // first due to last send
}

// PadPattern fills the missing tail of truncated frames.
var PadPattern = []byte("wirebox-pad!")

// Pad extends frame (captured bytes) to wireLen with PadPattern, reusing
// buf. The pattern is aligned to the frame offset, so the padding is
// recognisable wherever it starts.
func Pad(buf, frame []byte, wireLen int) []byte {
	buf = append(buf[:0], frame...)
	for i := len(frame); i < wireLen; i++ {
		buf = append(buf, PadPattern[i%len(PadPattern)])
	}
	return buf
}

// Bounds of Options.
const (
	MinSpeed       = 1e-3
	MaxSpeed       = 1e6
	LoopForever    = -1
	DefaultMaxWait = time.Hour
)

// maxFrame bounds padding: a corrupt original length must not make us
// allocate and send megabytes.
const maxFrame = 65535 + 18

// Run replays what open returns; open is called once per loop. It returns
// the report and the first fatal error (a read error, or ctx ending early;
// send errors are counted, not fatal).
func Run(ctx context.Context, open func() (Source, error), snd Sender, opt Options) (Report, error) {
	if opt.Speed == 0 {
		opt.Speed = 1
	}
	// Not a comparison that NaN passes: it must be refused too.
	if !(opt.Speed >= MinSpeed && opt.Speed <= MaxSpeed) {
		return Report{}, fmt.Errorf("replay: speed %g: want from %g to %g", opt.Speed, MinSpeed, MaxSpeed)
	}
	if opt.Loop == 0 {
		opt.Loop = 1
	}
	forever := opt.Loop == LoopForever
	if opt.Loop < 0 && !forever {
		return Report{}, fmt.Errorf("replay: loop %d: want a count, or %d for until stopped", opt.Loop, LoopForever)
	}
	if opt.MaxWait <= 0 {
		opt.MaxWait = DefaultMaxWait
	}
	if opt.Lead == 0 {
		opt.Lead = time.Millisecond
	}
	if opt.LateAfter == 0 {
		opt.LateAfter = 2 * time.Microsecond
	}
	clk := opt.Clock
	var mc *monoClock
	if clk == nil {
		runtime.LockOSThread() // priority and timer slack are per thread
		defer runtime.UnlockOSThread()
		undo, demote := raisePriority()
		defer undo()
		mc = newMonoClock()
		mc.demote = demote
		clk = mc
	}
	var rep Report
	// Open the file and read the first frame before the clock starts: the
	// first open (and decompressor set-up) must not make frame 1 late.
	src, err := open()
	if err != nil {
		return rep, fmt.Errorf("replay: open: %w", err)
	}
	first, firstErr := src.Next()
	pending := true
	s := &sched{start: clk.Now() + int64(opt.Lead), speed: opt.Speed}
	var buf []byte
	var lastSent int64
	prevDue := s.start
	for loop := 0; forever || loop < opt.Loop; loop++ {
		if loop > 0 {
			if src, err = open(); err != nil {
				return rep, fmt.Errorf("replay: open (loop %d): %w", loop+1, err)
			}
		}
		s.beginLoop()
		frames := 0
		for {
			var rec pcapng.Record
			var err error
			if pending {
				rec, err, pending = first, firstErr, false
			} else {
				rec, err = src.Next()
			}
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				closeSource(src)
				return rep, fmt.Errorf("replay: read frame %d: %w", rep.Sent+rep.Errors+1, err)
			}
			n := rep.Sent + rep.Errors + 1
			frames++
			if rec.LinkType != layers.LinkTypeEthernet {
				closeSource(src)
				return rep, fmt.Errorf("replay: frame %d has link type %s: %w", n, rec.LinkType, ErrLinkType)
			}
			due := s.due(rec.Timestamp.UnixNano())
			if wait := time.Duration(due - prevDue); wait > opt.MaxWait {
				closeSource(src)
				return rep, fmt.Errorf("replay: frame %d is due %v after the one before it, more than the %v a replay waits; the file's timestamps jump (fix them with editcap -t, or raise the speed)", n, wait, opt.MaxWait)
			}
			prevDue = max(prevDue, due)
			frame := rec.Data
			if !opt.NoPad && rec.Length > len(frame) {
				if rec.Length > maxFrame {
					closeSource(src)
					return rep, fmt.Errorf("replay: frame %d claims %d bytes on the wire", rep.Sent+rep.Errors+1, rec.Length)
				}
				buf = Pad(buf, frame, rec.Length)
				frame = buf
				rep.Padded++
			}
			if clk.Now() < due {
				clk.SleepUntil(ctx, due)
			} else if mc != nil {
				mc.behind() // sending late frames back to back is spinning too
			}
			if ctx.Err() != nil {
				closeSource(src)
				return rep, ctx.Err()
			}
			now := clk.Now()
			if late := time.Duration(now - due); late > opt.LateAfter {
				rep.Late++
				if late > rep.WorstLate {
					rep.WorstLate = late
				}
			}
			if err := snd.Send(frame); err != nil {
				rep.Errors++
				if rep.FirstError == "" {
					rep.FirstError = err.Error()
				}
				continue
			}
			lastSent = now
			rep.Sent++
			rep.Bytes += uint64(len(frame))
		}
		closeSource(src)
		if frames == 0 {
			break // an empty file: nothing to loop over
		}
	}
	if lastSent > 0 {
		rep.Duration = time.Duration(lastSent - s.start)
	}
	return rep, nil
}

// ErrLinkType is returned for a frame that is not Ethernet: a port sends
// Ethernet frames, and an IP packet captured without its link header
// (raw IP, Linux cooked capture) would go out with its first bytes taken
// for MAC addresses.
var ErrLinkType = errors.New("replay sends Ethernet frames only; give the packets an Ethernet header first (tcprewrite --dlt=enet)")

func closeSource(s Source) {
	if c, ok := s.(io.Closer); ok {
		c.Close()
	}
}

// sched turns capture timestamps into due times against one start.
type sched struct {
	start      int64
	speed      float64
	loopOffset int64 // capture-time offset of the current loop
	first      int64 // first timestamp of the file (set on loop 1)
	haveFirst  bool
	last       int64 // latest relative capture time seen in this loop
	count      int64
}

func (s *sched) beginLoop() {
	if s.count > 0 {
		// The next loop starts one mean gap after the end of this one, so
		// back-to-back loops keep the file's rhythm.
		gap := int64(0)
		if s.count > 1 {
			gap = s.last / (s.count - 1)
		}
		s.loopOffset += s.last + gap
	}
	s.last, s.count = 0, 0
}

// due is the absolute send time of a frame captured at ts (ns).
func (s *sched) due(ts int64) int64 {
	if !s.haveFirst {
		s.first, s.haveFirst = ts, true
	}
	rel := ts - s.first
	if rel < 0 { // out of order in the file: send at once
		rel = 0
	}
	if rel > s.last {
		s.last = rel
	}
	s.count++
	at := s.loopOffset + rel
	// Clamp far-future times (a timestamp jump, a slow speed) instead of
	// overflowing into the past: Run refuses a wait that long anyway.
	const far = int64(1) << 61
	if s.speed != 1 {
		f := float64(at) / s.speed
		if f > float64(far) {
			f = float64(far)
		}
		at = int64(f)
	}
	if at > far || at < 0 {
		at = far
	}
	return s.start + at
}

// FileSource opens a capture file for Run.
func FileSource(path string) func() (Source, error) {
	return func() (Source, error) {
		r, err := pcapng.Open(path)
		if err != nil {
			return nil, err
		}
		return r, nil
	}
}

// monoClock sleeps until spin before the deadline and busy-waits on the
// monotonic clock for the rest. The sleep is nanosleep(2) on the locked
// replay thread (preciseSleep), not a runtime timer: those are woken
// through the netpoller and can be a millisecond late, so the scheduler
// had to spin for the last 2 ms of every wait, which at 100 µs spacing
// meant spinning all the time, and a thread that never sleeps is the one
// the kernel preempts under load (p99 gap error 49 µs against
// tcpreplay's 18 µs; docs/BENCHMARKS.md, issue 17).
type monoClock struct {
	base time.Time
	spin time.Duration
	// demote, if set, gives up the real-time priority raisePriority took;
	// called once the clock has spun maxSpinRT without sleeping.
	demote    func()
	lastSleep int64
}

// maxSpinRT is how long the scheduler may spin without sleeping and keep
// SCHED_FIFO: at spacings too short to sleep in, it spins at nice -10.
const maxSpinRT = 2 * time.Millisecond

// NewMonotonicClock returns the default clock; see monoClock.
func NewMonotonicClock() Clock { return newMonoClock() }

func newMonoClock() *monoClock { return &monoClock{base: time.Now(), spin: preciseSpin} }

func (c *monoClock) Now() int64 { return int64(time.Since(c.base)) }

// maxSleep bounds one sleep so that a cancelled ctx is noticed soon.
const maxSleep = 10 * time.Millisecond

// behind notes that the scheduler did not sleep before a frame: after
// maxSpinRT of that it gives up SCHED_FIFO.
func (c *monoClock) behind() {
	if c.demote != nil && c.Now()-c.lastSleep > int64(maxSpinRT) {
		c.demote()
		c.demote = nil
	}
}

func (c *monoClock) SleepUntil(ctx context.Context, t int64) {
	for {
		d := time.Duration(t-c.Now()) - c.spin
		if d <= 0 {
			c.behind()
			break
		}
		if ctx.Err() != nil {
			return
		}
		preciseSleep(min(d, maxSleep))
		c.lastSleep = c.Now()
	}
	for c.Now() < t {
		if ctx.Err() != nil {
			return
		}
	}
}
