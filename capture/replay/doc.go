// Package replay sends the frames of a capture file at their captured
// relative times.
//
// Every frame's send time is computed from one absolute start time:
// due(i) = start + (ts(i) - ts(0)) / speed, plus a loop offset. A frame sent
// late does not push the following ones back, so error never accumulates
// (tcpreplay's long-standing drift came from sleeping for each gap in turn).
// The scheduler sleeps (nanosleep with 1 ns timer slack, on a SCHED_FIFO
// thread while it can sleep between frames) until 50 µs before a frame is
// due and spins on the monotonic clock for the rest.
//
// Frames cut short by a snaplen are padded back to their original length
// with a recognisable pattern ("wirebox-pad!" repeated). The report counts
// frames sent, late (with the worst lateness) and send errors.
//
// Frames go out through a Sender: the capture core's transmit (onto the
// wire) or inject-as-received (into the host) path. Replay never opens a
// socket itself.
package replay
