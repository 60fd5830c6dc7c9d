// Package session runs capture sessions on the capture core: each session
// subscribes read-only to one or more ports, keeps the frames its trigger
// picks (a tcpdump filter run by the engine, a payload regex that selects
// flows), and writes them to rotating pcapng files.
//
// A session writes frames from the pool's memory: a batch of up to 1024
// references goes to the file with writev (pcapng WritePackets) and is
// released once written, so a frame is never copied in user space.
//
// Writing runs below forwarding: frames wait in the core's bounded
// per-subscriber queue, the writer goroutines (the first few on OS threads
// of their own from a fixed pool, the rest unlocked, so many sessions do
// not multiply threads) run below the core's engine
// threads (nice 0 against the engines' -5), and
// when the disk or the CPU cannot keep up the queue
// overflows and the core drops and counts the frames (DroppedQueue). The
// engine and other subscribers are never slowed.
// How many sessions may run at once is bounded (Manager's max,
// capture.max_sessions); past it Start returns ErrLimit.
package session
