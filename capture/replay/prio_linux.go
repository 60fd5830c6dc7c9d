package replay

import "golang.org/x/sys/unix"

// raisePriority lowers the nice value of the calling (locked) thread for
// the replay, so other work preempts the spinning scheduler less, and
// returns the function that restores it.
func raisePriority() func() {
	tid := unix.Gettid()
	old, err := unix.Getpriority(unix.PRIO_PROCESS, tid)
	if err != nil {
		return func() {}
	}
	// Getpriority returns 20 - nice on Linux.
	if unix.Setpriority(unix.PRIO_PROCESS, tid, -10) != nil {
		return func() {}
	}
	return func() { _ = unix.Setpriority(unix.PRIO_PROCESS, tid, 20-old) }
}
