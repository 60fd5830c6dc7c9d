//go:build !linux

package replay

import "time"

func raisePriority() (undo, demote func()) { return func() {}, func() {} }

func preciseSleep(d time.Duration) { time.Sleep(d) }

// Without a precise sleep the runtime's timers can wake a millisecond late.
const preciseSpin = 2 * time.Millisecond
