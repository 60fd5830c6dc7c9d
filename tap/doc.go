// Package tap holds the appliance's one buffer pool (NetTap's buffer
// region) and the ABI of NetTap's rings built on it (docs/TAP-ABI.md):
// the region header, the shared single-producer single-consumer rings
// ([Ring], [RingsLayout]), the tap socket's messages ([Request],
// [Response]) and [MapRegion] for a process that maps the pool. The
// daemon's side of the rings (taps on ports, checks, quota) is
// tap/tapcore, which services inside the daemon also attach to directly
// (tapcore.Attach: the same rings in ordinary memory, no socket); the tap
// service tap/tapsvc serves it to other processes, which use
// tap/tapclient (Go) or tap/include/wirebox_tap.h (C).
//
// A [Pool] is a single memfd-backed, mmap'ed, page-aligned region of
// fixed-size frames (2 KiB by default). The frame area can be registered as
// an AF_XDP UMEM as it is, and the memfd can be handed to another process
// which maps the same frames. Each frame has a descriptor in the same region
// (after the frames) with its owner, reference count, data offset and
// length, wire length, timestamp, port and flags, so a frame reference is
// just a [FrameID] that means the same thing in every process mapping the
// region. [Config.Pages] chooses its pages: by default huge pages (a
// hugetlbfs memfd, its size rounded up to whole huge pages) when enough
// are reserved (vm.nr_hugepages), else 4 KiB pages with transparent huge
// pages advised; [Pool.Pages] says which. Small frames in flight each
// touch a page of their own, so huge pages spare the TLB.
//
// Frames are allocated and freed without locks: a global free list (a
// tagged Treiber stack over the descriptors) plus per-goroutine [Cache]s that
// move frames to and from it in batches. Nothing on the hot path allocates
// on the Go heap.
//
// Ownership and references: [Pool.Alloc] hands out a frame with reference
// count 1 and the caller's [Owner]. [Pool.Ref] adds a reference (a read-only
// consumer), [Pool.Unref] drops one; the frame returns to the pool when the
// count reaches zero. A count going below zero is a bug and panics. The
// owner is who must eventually send, revert or free the frame; read-only
// holders only ever Unref. A [Releaser] drops a batch of references and
// returns the freed frames in one step; its Drop hands references back
// without touching the descriptors at all, and the pool drops the counts
// when it next needs free frames ([Cache] refills, Alloc, FreeCount),
// on the allocating goroutine's core. [Pool.Reclaim] frees every frame
// of an owner that is gone (for NetTap, a process that died). [Pool.Leaks]
// and [Pool.CheckFull] list frames not yet returned, for tests that assert
// the pool is full again.
//
// After the descriptors, page aligned, a versioned [RegionHeader] (magic,
// ABI version, frame size and count, offsets) lets another process check
// what it mapped; the frame area stays at offset 0 (the AF_XDP UMEM).
//
// [Queue] is a bounded lock-free multi-producer multi-consumer queue of
// FrameIDs for in-process subscriber queues; NetTap's detour, revert,
// alloc and dealloc rings for other processes are [Ring]s in a memfd of
// their own, one set per application.
package tap
