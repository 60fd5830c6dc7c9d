// Package capture is the appliance's capture/timestamp core: port engines
// that move frames between the network interfaces and the one buffer pool
// (tap.Pool), stamp each frame once, and fan references out to subscribers.
// Every subsystem (capture sessions, RMON, mirror, HA, tap applications)
// consumes ports through this API and never opens its own packet socket.
//
// # Core, ports, engines
//
// A [Core] owns the pool, the clock and the ports. [Core.OpenPort] opens a
// port from a [PortConfig]:
//
//   - [Passive] mode: AF_PACKET TPACKET_V3 mmap rings (one per queue, joined
//     in a fanout group when Queues > 1). The host stack keeps seeing the
//     traffic; each received frame is copied once into the pool. Frames the
//     host sends on the interface appear with direction [TX].
//   - [Bypass] mode: AF_XDP sockets on the port's queues with an XDP program
//     (loaded through cilium/ebpf, attached through a link that goes away
//     with the process) redirecting every frame into the XSKMAP. The pool's
//     frame area is the UMEM: no copy in zero-copy mode (copy mode on veth,
//     whose driver has native XDP but no AF_XDP zero-copy), need_wakeup on,
//     busy polling on request ([PortConfig.BusyPoll]). The host stack no
//     longer sees the port's traffic.
//
// The passive engine waits for its socket on the Go runtime's netpoller,
// not in a poll system call (a thread blocked in a system call holds its
// P and keeps the runtime's sysmon thread waking to retake it); the bypass
// engine polls on its own thread, which wakes sooner, since AF_XDP has no
// backpressure and a late wake-up loses frames.
//
// All AF_XDP sockets of a core share the pool as one UMEM, so a frame
// received on one bypass port leaves through another without a copy
// ([PortConfig.Forward] does that for every frame no owner took).
//
// Transmit works in both modes ([Port.Transmit]): AF_XDP TX ring, or an
// AF_PACKET socket's PACKET_TX_RING (sendmmsg where the ring cannot be had,
// or with [PortConfig.TxSendmmsg]). The time the frame is handed to the kernel is recorded
// in the frame, and subscribers asking for [TX] see transmitted frames. On
// a passive port TX frames come from the ring (the kernel shows every
// outgoing frame, the host's and ours, stamped by the kernel), and the
// port's tx counters count those; on a bypass port they are the frames
// transmitted through the port, stamped at hand-over.
//
// # Frames and ownership
//
// A [Frame] is a small value naming one pool frame: Data (a slice into the
// pool, never a copy), WireLen, Timestamp and TimestampSource, Port,
// Direction. Whoever holds a Frame holds one reference and must give it up
// exactly once:
//
//   - read-only holders call [Frame.Release] (or [ReleaseAll] for a batch:
//     one step on the pool instead of one per frame, and the frames'
//     descriptors are left for the allocating engine to update on its own
//     core, see [tap.Releaser.Drop]);
//   - owners (see below) call [Port.Transmit] (on any port; ownership passes
//     to the port), [Frame.Revert] (give the frame back: it continues to the
//     next owner subscriber of its port, else to the port's default action),
//     or [Frame.Release] (free it).
//
// A Frame must not be used after it was given up. Copying the Frame value
// does not add a reference; [Frame.Ref] does (for a holder that hands the
// same frame to two places).
//
// A reference is about one event of the frame: [Frame.Direction],
// [Frame.Port] and [Frame.Timestamp] answer for that event. A forwarded
// frame is one pool frame, seen as RX (receive stamp, ingress port) by the
// ingress port's subscribers and as TX (transmit stamp, egress port) by
// the egress port's.
//
// # Subscriptions and fan-out
//
// [Port.Subscribe] takes [SubscribeOptions]: a name, a [Kind], the
// directions wanted, a bounded queue length, and optional filters (a classic
// BPF program run by the engine, and a Go predicate; both must accept the
// frame). Each received or transmitted frame goes, in this order:
//
//  1. to every matching [ReadOnly] subscriber (capture, RMON): each gets a
//     reference in its queue. If its queue is full the frame is not queued
//     and the subscriber's Dropped counter rises by one: a slow reader loses
//     frames, counted exactly, and never blocks the engine or anyone else.
//  2. to the first matching [Owner] subscriber (mirror, HA, tap
//     applications), in subscription order, which takes the frame. An owner
//     whose queue is full loses the frame (counted in its Dropped) and the
//     frame takes the port's default action. Owners only see [RX] frames.
//  3. if no owner took it, the port's default action: in passive mode the
//     host already has the frame, so the core releases it; in bypass mode it
//     is transmitted on the port's Forward port if one is configured
//     (counted in that port's tx), else dropped (counted in Unclaimed).
//
// [Subscription.Receive] fills a caller slice with frames and blocks until
// at least one is there or ctx is done; it does not allocate. Engines wake
// blocked readers once per receive batch (a TPACKET block, an AF_XDP ring
// batch), not per frame. A subscription's queue may be read by several
// goroutines.
// [Subscription.TryReceive] never blocks. [Subscription.Close] releases
// every frame still queued; frames already received stay with the caller.
//
// Inject-as-received ([Port.Inject]) puts an owned frame into the port as
// if it had arrived (replay --to host). On a passive port it enters the
// interface's kernel receive path: the port's injector, a veth
// "wbinj<ifindex>" made in the port's namespace on first use and removed
// with the port, carries a tc program (tcx, or clsact with a BPF filter on
// kernels before 6.6) that redirects the core's frames into the port's
// ingress. The host stack processes them and the engine receives them like
// any other frame: each subscriber sees it once as RX, stamped by the
// kernel. A bypass port's traffic never reaches the host stack, so there
// the frame goes to the port's fan-out directly, stamped by the engine.
//
// # Timestamps
//
// One [Clock] for the appliance: nanoseconds of CLOCK_REALTIME, with
// [Clock.Mapping] relating it to CLOCK_MONOTONIC. Each frame records where
// its stamp came from ([TimestampSource]): NIC hardware (SO_TIMESTAMPING
// raw hardware, where the NIC supports it), the kernel's receive time
// (TPACKET), XDP metadata where the driver provides it, else the engine's
// clock read at dequeue. Transmitted frames are stamped when handed to the
// kernel ([TSTransmit]).
//
// # Statistics
//
// [Port.Stats] reports rx/tx packets and bytes, rx_dropped_kernel (from
// PACKET_STATISTICS or XDP socket statistics), rx_dropped_pool (no free
// frame; on bypass ports an empty pool leaves the fill ring dry and the
// kernel's count covers those frames), the timestamp source, link state,
// and per subscriber delivered and dropped counts.
//
// # Closing
//
// [Port.Close] and [Core.Close] stop the engines and release every frame
// the core holds; after the consumers have released theirs, the pool is full
// again ([tap.Pool.CheckFull]).
package capture
