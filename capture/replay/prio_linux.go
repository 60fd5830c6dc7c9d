package replay

import (
	"time"

	"golang.org/x/sys/unix"
)

// raisePriority prepares the calling (locked) thread for the replay and
// returns the function that undoes it:
//   - timer slack 1 ns: the kernel's default of 50 µs lets a sleep end up
//     to 50 µs late, which a 100 µs spacing cannot absorb;
//   - nice -10, so other work preempts the scheduler less;
//   - SCHED_FIFO (priority 1) while the replay sleeps between frames: a
//     woken real-time thread runs at once instead of queueing behind the
//     machine's other work. A thread that never sleeps must not keep it
//     (it would starve the CPU until the kernel's real-time throttling
//     stops it for 50 ms, as an earlier always-spinning attempt did), so
//     the clock gives it up (demote) after spinning without a sleep for
//     maxSpinRT.
func raisePriority() (undo func(), demote func()) {
	tid := unix.Gettid()
	var undos []func()
	if old, err := unix.PrctlRetInt(unix.PR_GET_TIMERSLACK, 0, 0, 0, 0); err == nil {
		if unix.Prctl(unix.PR_SET_TIMERSLACK, 1, 0, 0, 0) == nil {
			undos = append(undos, func() { _ = unix.Prctl(unix.PR_SET_TIMERSLACK, uintptr(old), 0, 0, 0) })
		}
	}
	// Getpriority returns 20 - nice on Linux.
	if old, err := unix.Getpriority(unix.PRIO_PROCESS, tid); err == nil && unix.Setpriority(unix.PRIO_PROCESS, tid, -10) == nil {
		undos = append(undos, func() { _ = unix.Setpriority(unix.PRIO_PROCESS, tid, 20-old) })
	}
	demote = func() {}
	if old, err := unix.SchedGetAttr(0, 0); err == nil && old.Policy == unix.SCHED_NORMAL {
		rt := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 1}
		if unix.SchedSetAttr(0, &rt, 0) == nil {
			normal := *old
			normal.Size = unix.SizeofSchedAttr
			done := false
			demote = func() {
				if !done {
					done = true
					_ = unix.SchedSetAttr(0, &normal, 0)
				}
			}
			undos = append(undos, demote)
		}
	}
	return func() {
		for i := len(undos) - 1; i >= 0; i-- {
			undos[i]()
		}
	}, demote
}

// preciseSleep blocks the calling thread in nanosleep(2) for d: with the
// timer slack set by raisePriority it wakes within microseconds, where
// the runtime's timers (woken through the netpoller) can be a millisecond
// late.
func preciseSleep(d time.Duration) {
	ts := unix.NsecToTimespec(int64(d))
	_ = unix.ClockNanosleep(unix.CLOCK_MONOTONIC, 0, &ts, nil)
}

// preciseSpin is how long before a deadline the scheduler stops sleeping
// and spins, when preciseSleep is available.
const preciseSpin = 50 * time.Microsecond
