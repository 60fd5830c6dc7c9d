package session

import "runtime"

// writerThread gives the writer goroutine its own thread, so its disk
// writes never hold a thread the engines' goroutines need. The writer
// stays at nice 0: the capture core's engine threads run above it (nice
// -5, see capture/engine_linux.go), so under CPU pressure receiving and
// forwarding win and the writer, if starved or slowed by the disk, drops
// from its own bounded queue, counted; the engines never wait for it.
// Niced to 5 instead (the earlier design), the writer lost 28 % of 1514 B
// frames on average in bench/capture on the shared machine, where other
// jobs at nice 0 took its share; see docs/BENCHMARKS.md.
func writerThread() {
	runtime.LockOSThread()
}
