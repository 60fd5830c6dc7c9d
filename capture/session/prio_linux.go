package session

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// writerNice is the nice value of the writer threads. CFS gives a nice 5
// thread about a third of the CPU share of a nice 0 one when both want the
// CPU, so the writer yields to the engines under load. The trade-off is
// real: on the shared development machine under load (load average 4-10),
// nice 0 kept the writer lossless but slowed the veth generator, while
// nice 5 and 10 lost 50-80 % of 64 B frames to queue drops (counted); see
// docs/BENCHMARKS.md. Not yet measured on a quiet machine.
const writerNice = 5

// lowerPriority pins the calling goroutine to its thread and nices that
// thread, so disk writing yields the CPU to the engines and forwarding.
// The goroutine keeps the thread until it exits; the thread then dies.
func lowerPriority() {
	runtime.LockOSThread()
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), writerNice)
}
