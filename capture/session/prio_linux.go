package session

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// writerNice is the nice value of the writer threads. CFS gives a nice 5
// thread about a third of the CPU share of a nice 0 one when both want
// the CPU: enough to keep up on a quiet appliance, yielding to the engines
// under load. Measured on a saturated shared machine (load 5-10), nice 10
// starved the writer (50-80 % queue drops at 64 B) while nice 0 slowed the
// generator on veth by half; see docs/BENCHMARKS.md.
const writerNice = 5

// lowerPriority pins the calling goroutine to its thread and nices that
// thread, so disk writing yields the CPU to the engines and forwarding.
// The goroutine keeps the thread until it exits; the thread then dies.
func lowerPriority() {
	runtime.LockOSThread()
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), writerNice)
}
