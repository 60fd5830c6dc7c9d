package capture

import (
	"time"

	"golang.org/x/sys/unix"
)

// Clock is the appliance's one clock: nanoseconds of CLOCK_REALTIME, the
// clock the kernel stamps packets with. Mapping relates it to
// CLOCK_MONOTONIC, sampled when the clock was made, so intervals can be
// measured without wall-clock steps.
type Clock struct {
	mono, real int64
}

// NewClock samples the realtime/monotonic mapping.
func NewClock() *Clock {
	var m, r unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &m)
	_ = unix.ClockGettime(unix.CLOCK_REALTIME, &r)
	return &Clock{mono: m.Nano(), real: r.Nano()}
}

// Now is the current time in nanoseconds since the Unix epoch.
func (c *Clock) Now() int64 { return time.Now().UnixNano() }

// Mapping returns a CLOCK_MONOTONIC reading and the CLOCK_REALTIME reading
// taken with it.
func (c *Clock) Mapping() (mono, real int64) { return c.mono, c.real }
