package session

import (
	"runtime"

	"golang.org/x/sys/unix"
)

// lowerPriority pins the calling goroutine to its thread and nices that
// thread, so disk writing yields the CPU to the engines and forwarding.
// The goroutine keeps the thread until it exits; the thread then dies.
func lowerPriority() {
	runtime.LockOSThread()
	_ = unix.Setpriority(unix.PRIO_PROCESS, unix.Gettid(), 10)
}
