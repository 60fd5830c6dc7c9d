// Package tapcore is the daemon's side of NetTap's rings: an [Attachment]
// is one application's consumer of the core, its four rings (detour,
// revert, alloc, dealloc, the [tap.Ring] layout of docs/TAP-ABI.md), its
// taps on ports (input, output, bypass owners) and the checks on every
// frame id it hands back (capture.Consumer.Adopt).
//
// It serves two kinds of application with the same code and the same
// rings over the same pool memory:
//
//   - processes outside the daemon: tap/tapsvc creates the Attachment with
//     Shared rings (a memfd), passes that memfd, the pool's memfd and two
//     eventfds by SCM_RIGHTS and plugs the eventfds in as Wake and Wait;
//   - services inside the daemon (mirror, HA): [Attach] returns a [Local],
//     the application's side of the same rings in ordinary memory, with
//     channels instead of eventfds: no socket, no file descriptors, no
//     system call per batch.
//
// A Local is used like tapclient.App: Tap, Receive (detour), Alloc, Revert,
// Dealloc, Close. Frames are pool frame ids; their bytes are the pool's
// (Data, Buffer), never copied. Its four rings are single-producer
// single-consumer: detour and dealloc may be used by one goroutine, alloc
// and revert by another, at the same time.
//
// tapcore is part of the core layer (it imports capture and tap only), so
// any subsystem may attach in process.
package tapcore
