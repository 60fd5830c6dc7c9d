package tap

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// The shared-memory ABI (docs/TAP-ABI.md, tap/include/wirebox_tap.h). All
// integers are little endian; every offset is from the start of its memfd.

// ABIVersion is the version of the region header, ring layout and socket
// protocol. A change that an old reader would misread bumps it.
const ABIVersion = 1

// RegionMagic starts the pool region's header: "WBTPOOL1" as a
// little-endian uint64.
const RegionMagic uint64 = 0x314c4f4f50544257

// RingsMagic starts a ring memfd's header: "WBTRING1".
const RingsMagic uint64 = 0x31474e4952544257

// DescSize is the size of a frame descriptor in the region.
const DescSize = descSize

// RegionHeader is the pool region's header, at Pool.HeaderOffset (after the
// descriptor array, page aligned). The frame area stays at offset 0: it is
// the AF_XDP UMEM.
type RegionHeader struct {
	Magic        uint64 // RegionMagic
	ABIVersion   uint32 // ABIVersion
	HeaderSize   uint32 // bytes of this header (64)
	FrameSize    uint32
	FrameCount   uint32
	FramesOffset uint64 // 0
	DescsOffset  uint64 // FrameCount*FrameSize
	DescSize     uint32 // 64
	_            uint32
	HeaderOffset uint64 // where this header lies
	RegionSize   uint64 // bytes of the whole region
}

// RegionHeaderSize is the encoded size of RegionHeader.
const RegionHeaderSize = 64

func init() {
	if unsafe.Sizeof(RegionHeader{}) != RegionHeaderSize || unsafe.Sizeof(RingDesc{}) != RingDescSize {
		panic("tap: ABI struct size changed")
	}
}

func writeHeader(b []byte, frameSize, frames, descsOff, hdrOff, size int) {
	le := binary.LittleEndian
	le.PutUint64(b[0:], RegionMagic)
	le.PutUint32(b[8:], ABIVersion)
	le.PutUint32(b[12:], RegionHeaderSize)
	le.PutUint32(b[16:], uint32(frameSize))
	le.PutUint32(b[20:], uint32(frames))
	le.PutUint64(b[24:], 0)
	le.PutUint64(b[32:], uint64(descsOff))
	le.PutUint32(b[40:], descSize)
	le.PutUint64(b[48:], uint64(hdrOff))
	le.PutUint64(b[56:], uint64(size))
}

// ParseRegionHeader reads and checks the header of a mapped region of
// size bytes whose header is at b[0:] (b starts at the header).
func ParseRegionHeader(b []byte, size int) (RegionHeader, error) {
	var h RegionHeader
	if len(b) < RegionHeaderSize {
		return h, errors.New("tap: region header truncated")
	}
	le := binary.LittleEndian
	h.Magic = le.Uint64(b[0:])
	h.ABIVersion = le.Uint32(b[8:])
	h.HeaderSize = le.Uint32(b[12:])
	h.FrameSize = le.Uint32(b[16:])
	h.FrameCount = le.Uint32(b[20:])
	h.FramesOffset = le.Uint64(b[24:])
	h.DescsOffset = le.Uint64(b[32:])
	h.DescSize = le.Uint32(b[40:])
	h.HeaderOffset = le.Uint64(b[48:])
	h.RegionSize = le.Uint64(b[56:])
	switch {
	case h.Magic != RegionMagic:
		return h, fmt.Errorf("tap: region magic %#x, want %#x", h.Magic, RegionMagic)
	case h.ABIVersion != ABIVersion:
		return h, fmt.Errorf("tap: region ABI version %d, this build speaks %d", h.ABIVersion, ABIVersion)
	case h.HeaderSize < RegionHeaderSize || h.DescSize != descSize || h.FramesOffset != 0:
		return h, errors.New("tap: region header describes another layout")
	case h.FrameSize == 0 || h.FrameSize&(h.FrameSize-1) != 0 || h.FrameCount == 0 || h.FrameCount > MaxFrames:
		return h, errors.New("tap: region header has a bad frame size or count")
	case h.DescsOffset != uint64(h.FrameCount)*uint64(h.FrameSize),
		h.HeaderOffset < h.DescsOffset+uint64(h.FrameCount)*descSize,
		h.RegionSize != uint64(size), h.HeaderOffset+RegionHeaderSize > h.RegionSize:
		return h, errors.New("tap: region header offsets do not fit the region")
	}
	return h, nil
}

// Rings: one memfd per application holds a RingsHeader and four
// single-producer single-consumer rings of RingDesc.

// RingDesc is one ring entry: a frame and where its data lies.
type RingDesc struct {
	ID  uint32 // FrameID
	Off uint32 // data offset in the frame
	Len uint32 // data length
	Tap uint32 // tap handle (detour: the tap it came from; revert: where it goes)
}

// RingDescSize is the size of a ring entry.
const RingDescSize = 16

// The rings of an application, in the order of RingsHeader.Offsets.
const (
	RingDetour  = iota // daemon → application: frames from its taps
	RingRevert         // application → daemon: frames to continue (or send)
	RingAlloc          // daemon → application: free frames it may fill
	RingDealloc        // application → daemon: frames it is done with
	NumRings
)

// RingNames name the rings for messages.
var RingNames = [NumRings]string{"detour", "revert", "alloc", "dealloc"}

// Offsets within a ring: producer index, consumer index and flags on
// their own cache lines, then the entries.
const (
	ringProducer = 0
	ringConsumer = 64
	ringFlags    = 128
	ringEntries  = 256
)

// RingNeedWakeup in a ring's flags: its consumer sleeps on its eventfd and
// wants the producer to signal it after submitting.
const RingNeedWakeup = 1

// RingsHeaderSize is the encoded size of a RingsHeader; the first ring
// starts at RingsHeaderSize rounded to 256.
const RingsHeaderSize = 64

// RingsLayout is the header of a ring memfd.
type RingsLayout struct {
	Size    uint32           // entries per ring, a power of two
	Offsets [NumRings]uint64 // start of each ring
	Total   uint64           // bytes of the memfd
}

// NewRingsLayout lays out four rings of size entries (rounded up to a
// power of two).
func NewRingsLayout(size int) RingsLayout {
	n := 64
	for n < size {
		n <<= 1
	}
	l := RingsLayout{Size: uint32(n)}
	off := uint64(256)
	for i := range l.Offsets {
		l.Offsets[i] = off
		off += ringEntries + uint64(n)*RingDescSize
	}
	l.Total = (off + 4095) &^ 4095
	return l
}

// Write encodes the header into b.
func (l RingsLayout) Write(b []byte) {
	le := binary.LittleEndian
	le.PutUint64(b[0:], RingsMagic)
	le.PutUint32(b[8:], ABIVersion)
	le.PutUint32(b[12:], NumRings)
	le.PutUint32(b[16:], l.Size)
	le.PutUint32(b[20:], RingDescSize)
	for i, o := range l.Offsets {
		le.PutUint64(b[24+8*i:], o)
	}
	le.PutUint64(b[56:], l.Total)
}

// ParseRingsLayout reads and checks a ring memfd's header; size is the
// memfd's size.
func ParseRingsLayout(b []byte, size int) (RingsLayout, error) {
	var l RingsLayout
	if len(b) < RingsHeaderSize {
		return l, errors.New("tap: rings header truncated")
	}
	le := binary.LittleEndian
	if m := le.Uint64(b[0:]); m != RingsMagic {
		return l, fmt.Errorf("tap: rings magic %#x, want %#x", m, RingsMagic)
	}
	if v := le.Uint32(b[8:]); v != ABIVersion {
		return l, fmt.Errorf("tap: rings ABI version %d, this build speaks %d", v, ABIVersion)
	}
	if le.Uint32(b[12:]) != NumRings || le.Uint32(b[20:]) != RingDescSize {
		return l, errors.New("tap: rings header describes another layout")
	}
	l.Size = le.Uint32(b[16:])
	if l.Size == 0 || l.Size&(l.Size-1) != 0 || l.Size > 1<<24 {
		return l, fmt.Errorf("tap: ring size %d is not a power of two", l.Size)
	}
	for i := range l.Offsets {
		l.Offsets[i] = le.Uint64(b[24+8*i:])
		end := l.Offsets[i] + ringEntries + uint64(l.Size)*RingDescSize
		if l.Offsets[i]%64 != 0 || l.Offsets[i] < RingsHeaderSize || end > uint64(size) {
			return l, fmt.Errorf("tap: %s ring outside the memfd", RingNames[i])
		}
	}
	l.Total = le.Uint64(b[56:])
	if l.Total != uint64(size) {
		return l, errors.New("tap: rings header size does not match the memfd")
	}
	return l, nil
}

// Ring is one side (producer or consumer) of a shared SPSC ring, after
// the AF_XDP rings (xsk.h): free-running uint32 indices, a cached copy of
// the other side's index so most calls touch no shared cache line, and
// batches (Reserve/Submit, Peek/Release). A Ring is used by one goroutine.
// The other side may be another process that cannot be trusted: indices
// it writes are checked (Corrupt).
type Ring struct {
	prod, cons, flags *uint32
	descs             []RingDesc
	mask, size        uint32
	cachedProd        uint32
	cachedCons        uint32
	producerSide      bool
}

// ErrRingCorrupt is returned when the other side's index is impossible.
var ErrRingCorrupt = errors.New("tap: ring index out of range (the other side is broken or hostile)")

// OpenRing makes a Ring over ring i of a mapped ring memfd, for its
// producer or its consumer. A side never reads its own index back from
// shared memory (the other side might have overwritten it).
func OpenRing(mem []byte, l RingsLayout, i int, producer bool) *Ring {
	base := l.Offsets[i]
	b := mem[base : base+ringEntries+uint64(l.Size)*RingDescSize]
	r := &Ring{
		prod:  (*uint32)(unsafe.Pointer(&b[ringProducer])),
		cons:  (*uint32)(unsafe.Pointer(&b[ringConsumer])),
		flags: (*uint32)(unsafe.Pointer(&b[ringFlags])),
		descs: unsafe.Slice((*RingDesc)(unsafe.Pointer(&b[ringEntries])), l.Size),
		mask:  l.Size - 1,
		size:  l.Size,

		producerSide: producer,
	}
	r.cachedProd = atomic.LoadUint32(r.prod)
	r.cachedCons = atomic.LoadUint32(r.cons)
	return r
}

// cachedProd2 refreshes whichever index this side does not own; the
// owner's own index in shared memory is never read back (it may have been
// overwritten by the other side).
func (r *Ring) cachedProd2() {
	if r.producerSide {
		r.cachedCons = atomic.LoadUint32(r.cons)
	} else {
		r.cachedProd = atomic.LoadUint32(r.prod)
	}
}

// Size is the ring's capacity.
func (r *Ring) Size() int { return int(r.size) }

// Reserve (producer) returns how many of n entries can be written, at
// least 0; the caller fills At(i) for i in [0, got) and calls Submit(got).
func (r *Ring) Reserve(n int) (int, error) {
	free := r.size - (r.cachedProd - r.cachedCons)
	if int(free) < n {
		r.cachedCons = atomic.LoadUint32(r.cons)
		used := r.cachedProd - r.cachedCons
		if used > r.size {
			return 0, ErrRingCorrupt
		}
		free = r.size - used
	}
	return min(n, int(free)), nil
}

// Check reloads the other side's index and reports whether it is
// possible. Reserve and Peek reload it only when their cached copy runs
// short; a side that cannot trust the other calls Check once per batch.
func (r *Ring) Check() error {
	r.cachedProd2()
	if r.cachedProd-r.cachedCons > r.size {
		return ErrRingCorrupt
	}
	return nil
}

// Slot is the i-th entry after the producer's index (producer side).
func (r *Ring) Slot(i int) *RingDesc { return &r.descs[(r.cachedProd+uint32(i))&r.mask] }

// Submit (producer) publishes n reserved entries.
func (r *Ring) Submit(n int) {
	r.cachedProd += uint32(n)
	atomic.StoreUint32(r.prod, r.cachedProd)
}

// Peek (consumer) returns how many entries, up to n, are ready to read
// with Entry(i).
func (r *Ring) Peek(n int) (int, error) {
	avail := r.cachedProd - r.cachedCons
	if int(avail) < n {
		r.cachedProd = atomic.LoadUint32(r.prod)
		avail = r.cachedProd - r.cachedCons
		if avail > r.size {
			return 0, ErrRingCorrupt
		}
	}
	return min(n, int(avail)), nil
}

// Entry is the i-th ready entry (consumer side), copied out: the other
// side cannot change it after it was read.
func (r *Ring) Entry(i int) RingDesc { return r.descs[(r.cachedCons+uint32(i))&r.mask] }

// Release (consumer) gives n read entries back to the producer.
func (r *Ring) Release(n int) {
	r.cachedCons += uint32(n)
	atomic.StoreUint32(r.cons, r.cachedCons)
}

// Queued is the number of entries in the ring as this side last saw it
// after reloading both indices (statistics).
func (r *Ring) Queued() int {
	n := atomic.LoadUint32(r.prod) - atomic.LoadUint32(r.cons)
	if n > r.size {
		return int(r.size)
	}
	return int(n)
}

// SetNeedWakeup (consumer) asks the producer to signal the consumer's
// eventfd after its next Submit; the consumer then checks Peek once more
// before it sleeps (the store and that load are ordered: both atomic).
func (r *Ring) SetNeedWakeup() { atomic.StoreUint32(r.flags, RingNeedWakeup) }

// ClearNeedWakeup (consumer) after waking.
func (r *Ring) ClearNeedWakeup() { atomic.StoreUint32(r.flags, 0) }

// NeedWakeup (producer) reports whether the consumer asked for a signal.
func (r *Ring) NeedWakeup() bool { return atomic.LoadUint32(r.flags)&RingNeedWakeup != 0 }
