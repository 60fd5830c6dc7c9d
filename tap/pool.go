package tap

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"unsafe"
)

// DefaultFrameSize is the frame size used when none is configured.
const DefaultFrameSize = 2048

// DefaultFrames is the number of frames used when none is configured.
const DefaultFrames = 16384

// FrameID names one frame of a pool. It is an index, the same in every
// process that maps the pool.
type FrameID uint32

// NoFrame is the FrameID of no frame.
const NoFrame FrameID = ^FrameID(0)

// MaxFrames is the largest pool: FrameIDs fit in 31 bits, leaving one bit
// for queue entries to carry a flag.
const MaxFrames = 1<<31 - 1

// Owner identifies who owns a frame: the core, a subscriber, a process.
type Owner uint32

const (
	// OwnerNone marks a free frame.
	OwnerNone Owner = 0
	// OwnerCore is the capture core itself (engines, fan-out).
	OwnerCore Owner = 1
)

// Frame flags kept in the descriptor; the capture core defines their meaning
// above FlagUser.
const FlagUser = 1 << 8

// desc is a frame descriptor. It lives in the shared region; its layout is
// part of the shared-memory ABI (64 bytes, little endian, one cache line so
// reference counts of neighbouring frames do not share a line).
type desc struct {
	ref     int32  // reference count; 0 = free
	owner   uint32 // Owner
	next    uint32 // free-list link
	off     uint32 // data offset within the frame
	len     uint32 // bytes of data
	wireLen uint32 // original length on the wire
	ts      int64  // nanoseconds, the capture core's clock
	port    uint32 // port index
	flags   uint32 // direction, timestamp source, ...
	txTS    int64  // when the frame was last handed to the kernel to send
	txPort  uint32 // the port it was sent on
	_       [12]byte
}

const descSize = 64

func init() {
	if unsafe.Sizeof(desc{}) != descSize {
		panic("tap: descriptor size changed; it is part of the shared ABI")
	}
	if unsafe.Offsetof(desc{}.ref) != 0 || unsafe.Offsetof(desc{}.owner) != 4 {
		panic("tap: take sets ref and owner as one 8-byte word")
	}
}

// Config sizes a pool.
type Config struct {
	// Frames is the number of frames (default DefaultFrames).
	Frames int
	// FrameSize is the size of each frame in bytes: a power of two from
	// 2048 to the page size (the AF_XDP chunk rule). Default 2048.
	FrameSize int
	// Pages says what memory backs the region (default PagesAuto).
	Pages PageMode
}

// PageMode chooses the pages behind a pool's region.
type PageMode int

const (
	// PagesAuto uses huge pages (a hugetlbfs memfd) when enough are
	// reserved (vm.nr_hugepages), else 4 KiB pages with transparent huge
	// pages advised (they take effect where shmem_enabled allows).
	PagesAuto PageMode = iota
	// PagesNormal uses 4 KiB pages only.
	PagesNormal
	// PagesHuge uses huge pages or fails.
	PagesHuge
)

// Pool is the buffer region. All methods are safe for concurrent use.
type Pool struct {
	region    *region
	frames    []byte // frame area, FrameCount*FrameSize bytes
	descs     []desc
	frameSize int
	shift     uint
	n         int
	hdrOff    int

	// head is the free list: low 32 bits the top FrameID (NoFrame when
	// empty), high 32 bits a tag bumped on every change (ABA protection).
	head atomic.Uint64
	_    [56]byte

	// Free frames also travel in magazines: arrays of cacheBatch ids that
	// caches and releasers hand over whole. Taking a magazine touches no
	// descriptor, where popping a chain of the free list follows one
	// descriptor's next link after another: a dependent cache miss per
	// frame when the frames were released on another core.
	magMu sync.Mutex
	mags  []*magazine
	spare []*magazine
	// pend are magazines of references given up with Releaser.Drop whose
	// counts have not been dropped yet: whoever next needs free frames
	// (a cache refill, Alloc) drops them, on its own core.
	pend  []*magazine
	npend atomic.Int32
}

type magazine struct {
	ids [cacheBatch]FrameID
	n   int
}

// pushMag hands ids (at most cacheBatch, already free) over as one
// magazine.
func (p *Pool) pushMag(ids []FrameID) {
	p.magMu.Lock()
	p.mags = append(p.mags, p.magOf(ids))
	p.magMu.Unlock()
}

// pushPend hands ids (at most cacheBatch) over as one magazine of
// references still to drop.
func (p *Pool) pushPend(ids []FrameID) {
	p.magMu.Lock()
	p.pend = append(p.pend, p.magOf(ids))
	p.npend.Add(1)
	p.magMu.Unlock()
}

// magOf fills a spare (or new) magazine with ids; the caller holds magMu.
func (p *Pool) magOf(ids []FrameID) *magazine {
	var m *magazine
	if k := len(p.spare); k > 0 {
		m, p.spare = p.spare[k-1], p.spare[:k-1]
	} else {
		m = new(magazine)
	}
	m.n = copy(m.ids[:], ids)
	return m
}

// popPend drops the references of one pending magazine and copies the
// frames that became free into dst (room for cacheBatch); ok is false when
// there was none.
func (p *Pool) popPend(dst []FrameID) (n int, ok bool) {
	if p.npend.Load() == 0 {
		return 0, false
	}
	p.magMu.Lock()
	k := len(p.pend)
	if k == 0 {
		p.magMu.Unlock()
		return 0, false
	}
	m := p.pend[k-1]
	p.pend = p.pend[:k-1]
	p.npend.Add(-1)
	var ids [cacheBatch]FrameID
	c := copy(ids[:], m.ids[:m.n])
	p.spare = append(p.spare, m)
	p.magMu.Unlock()
	for _, id := range ids[:c] {
		d := &p.descs[id]
		switch v := atomic.AddInt32(&d.ref, -1); {
		case v == 0:
			atomic.StoreUint32(&d.owner, uint32(OwnerNone))
			dst[n] = id
			n++
		case v < 0:
			panic(fmt.Sprintf("tap: Unref of free frame %d", id))
		}
	}
	return n, true
}

// settle drops every pending reference (Releaser.Drop), so that counts
// and the free list are exact.
func (p *Pool) settle() {
	var ids [cacheBatch]FrameID
	for {
		n, ok := p.popPend(ids[:])
		if !ok {
			return
		}
		if n > 0 {
			p.pushMag(ids[:n])
		}
	}
}

// popMag copies a magazine's ids into dst (room for cacheBatch) and
// returns how many; 0 when there is none.
func (p *Pool) popMag(dst []FrameID) int {
	p.magMu.Lock()
	defer p.magMu.Unlock()
	k := len(p.mags)
	if k == 0 {
		return 0
	}
	m := p.mags[k-1]
	p.mags = p.mags[:k-1]
	n := copy(dst, m.ids[:m.n])
	p.spare = append(p.spare, m)
	return n
}

// ErrEmpty is returned when the pool has no free frame.
var ErrEmpty = errors.New("tap: pool exhausted")

// NewPool creates a pool. Close releases it.
func NewPool(cfg Config) (*Pool, error) {
	if cfg.Frames == 0 {
		cfg.Frames = DefaultFrames
	}
	if cfg.FrameSize == 0 {
		cfg.FrameSize = DefaultFrameSize
	}
	page := pageSize()
	if cfg.FrameSize < 2048 || cfg.FrameSize > page || cfg.FrameSize&(cfg.FrameSize-1) != 0 {
		return nil, fmt.Errorf("tap: frame size %d: must be a power of two from 2048 to %d", cfg.FrameSize, page)
	}
	if cfg.Frames < 1 || cfg.Frames > MaxFrames {
		return nil, fmt.Errorf("tap: frame count %d out of range", cfg.Frames)
	}
	frameBytes := cfg.Frames * cfg.FrameSize
	descBytes := (cfg.Frames*descSize + page - 1) / page * page
	hdrOff := frameBytes + descBytes
	r, err := newRegion(hdrOff+page, cfg.Pages)
	if err != nil {
		return nil, err
	}
	p := &Pool{
		region:    r,
		frames:    r.mem[:frameBytes:frameBytes],
		descs:     unsafe.Slice((*desc)(unsafe.Pointer(&r.mem[frameBytes])), cfg.Frames),
		frameSize: cfg.FrameSize,
		n:         cfg.Frames,
		hdrOff:    hdrOff,
	}
	writeHeader(r.mem[hdrOff:], cfg.FrameSize, cfg.Frames, frameBytes, hdrOff, len(r.mem))
	for s := cfg.FrameSize; s > 1; s >>= 1 {
		p.shift++
	}
	// Chain every frame into the free list, lowest index on top.
	for i := range p.descs {
		p.descs[i].next = uint32(i + 1)
	}
	p.descs[cfg.Frames-1].next = uint32(NoFrame)
	p.head.Store(0)
	return p, nil
}

// Close unmaps the region. Frames must no longer be used.
func (p *Pool) Close() error { return p.region.close() }

// FrameSize is the size of every frame.
func (p *Pool) FrameSize() int { return p.frameSize }

// Len is the number of frames.
func (p *Pool) Len() int { return p.n }

// Memory is the frame area, for registering as an AF_XDP UMEM. Frame id
// starts at byte id*FrameSize.
func (p *Pool) Memory() []byte { return p.frames }

// Fd is the memfd of the whole region (frames, descriptors, header), for
// other processes to map. It stays owned by the pool.
func (p *Pool) Fd() int { return p.region.fd }

// Pages says what memory backs the region ("16 huge pages of 2048 KiB",
// "4 KiB pages ..."), for the log.
func (p *Pool) Pages() string { return p.region.pages }

// RegionSize is the size of the whole region Fd maps.
func (p *Pool) RegionSize() int { return len(p.region.mem) }

// HeaderOffset is where the region's RegionHeader lies (after the
// descriptors, page aligned).
func (p *Pool) HeaderOffset() int { return p.hdrOff }

// Addr is the UMEM address of the start of frame id.
func (p *Pool) Addr(id FrameID) uint64 { return uint64(id) << p.shift }

// FrameOf is the frame holding UMEM address addr.
func (p *Pool) FrameOf(addr uint64) FrameID { return FrameID(addr >> p.shift) }

// Buffer is the whole frame, FrameSize bytes.
func (p *Pool) Buffer(id FrameID) []byte {
	o := int(id) << p.shift
	return p.frames[o : o+p.frameSize : o+p.frameSize]
}

// Data is the frame's data: Len bytes from its offset.
func (p *Pool) Data(id FrameID) []byte {
	d := &p.descs[id]
	base := int(id) << p.shift
	o := base + int(d.off)
	return p.frames[o : o+int(d.len) : base+p.frameSize]
}

// SetData records where the data lies in the frame and the wire length.
func (p *Pool) SetData(id FrameID, off, n, wireLen int) {
	d := &p.descs[id]
	d.off, d.len, d.wireLen = uint32(off), uint32(n), uint32(wireLen)
}

// Span is where the frame's data lies: offset in the frame and length.
func (p *Pool) Span(id FrameID) (off, n int) {
	d := &p.descs[id]
	return int(d.off), int(d.len)
}

// WireLen is the frame's original length on the wire.
func (p *Pool) WireLen(id FrameID) int { return int(p.descs[id].wireLen) }

// SetMeta records timestamp, port and flags.
func (p *Pool) SetMeta(id FrameID, ts int64, port uint32, flags uint32) {
	d := &p.descs[id]
	d.ts, d.port, d.flags = ts, port, flags
}

// Meta returns timestamp, port and flags.
func (p *Pool) Meta(id FrameID) (ts int64, port uint32, flags uint32) {
	d := &p.descs[id]
	return d.ts, d.port, d.flags
}

// SetTx records when and on which port the frame was handed to the kernel
// for sending. It is kept apart from the receive stamp, which readers of
// the received frame may still be looking at.
func (p *Pool) SetTx(id FrameID, ts int64, port uint32) {
	d := &p.descs[id]
	atomic.StoreInt64(&d.txTS, ts)
	atomic.StoreUint32(&d.txPort, port)
}

// Tx returns what SetTx recorded (ts 0: never sent).
func (p *Pool) Tx(id FrameID) (ts int64, port uint32) {
	d := &p.descs[id]
	return atomic.LoadInt64(&d.txTS), atomic.LoadUint32(&d.txPort)
}

// Owner is the frame's current owner.
func (p *Pool) Owner(id FrameID) Owner {
	return Owner(atomic.LoadUint32(&p.descs[id].owner))
}

// SetOwner hands the frame to a new owner.
func (p *Pool) SetOwner(id FrameID, o Owner) {
	atomic.StoreUint32(&p.descs[id].owner, uint32(o))
}

// Refs is the frame's reference count, references given up with
// Releaser.Drop included until the pool drops them (FreeCount, Leaks or an
// allocation that needs them).
func (p *Pool) Refs(id FrameID) int { return int(atomic.LoadInt32(&p.descs[id].ref)) }

// Ref adds a reference to a frame that has at least one already.
func (p *Pool) Ref(id FrameID) {
	if atomic.AddInt32(&p.descs[id].ref, 1) <= 1 {
		panic(fmt.Sprintf("tap: Ref of free frame %d", id))
	}
}

// RefN adds n references at once.
func (p *Pool) RefN(id FrameID, n int) {
	if atomic.AddInt32(&p.descs[id].ref, int32(n)) <= int32(n) {
		panic(fmt.Sprintf("tap: Ref of free frame %d", id))
	}
}

// Unref drops a reference; the last one returns the frame to the pool.
func (p *Pool) Unref(id FrameID) {
	switch r := atomic.AddInt32(&p.descs[id].ref, -1); {
	case r == 0:
		atomic.StoreUint32(&p.descs[id].owner, uint32(OwnerNone))
		p.push(id, id)
	case r < 0:
		panic(fmt.Sprintf("tap: Unref of free frame %d", id))
	}
}

// Alloc takes a frame from the shared free list with one reference, owned
// by o. Hot paths use a Cache instead.
func (p *Pool) Alloc(o Owner) (FrameID, error) {
	id, _ := p.popChain(1)
	if id == NoFrame {
		p.settle()
		// The free frames may all be in magazines.
		var ids [cacheBatch]FrameID
		n := p.popMag(ids[:])
		if n == 0 {
			return NoFrame, ErrEmpty
		}
		if id = ids[0]; n > 1 {
			p.pushMag(ids[1:n])
		}
	}
	p.take(id, o)
	return id, nil
}

func (p *Pool) take(id FrameID, o Owner) {
	d := &p.descs[id]
	// ref and owner are the descriptor's first 8 bytes (little endian):
	// a free frame has both 0, and one compare-and-swap sets both. Each
	// atomic write is a full fence on amd64, so one instead of three per
	// frame matters on the receive path. Nobody else holds the frame yet,
	// so the rest are plain stores, published with the frame's hand-off.
	if !atomic.CompareAndSwapUint64((*uint64)(unsafe.Pointer(d)), 0, 1|uint64(o)<<32) {
		panic(fmt.Sprintf("tap: free list held frame %d with references", id))
	}
	d.off, d.len, d.wireLen, d.ts, d.port, d.flags = 0, 0, 0, 0, 0, 0
	d.txTS = 0
}

// push puts the chain first..last (already linked through next) on the free list.
func (p *Pool) push(first, last FrameID) {
	for {
		h := p.head.Load()
		atomic.StoreUint32(&p.descs[last].next, uint32(h))
		if p.head.CompareAndSwap(h, (h>>32+1)<<32|uint64(first)) {
			return
		}
	}
}

// popChain pops up to n frames in one step and returns the first and the
// count; the frames stay linked through next.
func (p *Pool) popChain(n int) (FrameID, int) {
	for {
		h := p.head.Load()
		first := FrameID(uint32(h))
		if first == NoFrame {
			return NoFrame, 0
		}
		// Walk up to n links; they may change under us, in which case the
		// tag check below fails and we start over.
		last, k := first, 1
		for k < n {
			nx := FrameID(atomic.LoadUint32(&p.descs[last].next))
			if nx == NoFrame || int(nx) >= p.n {
				break
			}
			last, k = nx, k+1
		}
		rest := atomic.LoadUint32(&p.descs[last].next)
		if p.head.CompareAndSwap(h, (h>>32+1)<<32|uint64(rest)) {
			return first, k
		}
	}
}

// FreeCount counts frames with no references (in the free list or in a
// cache). It scans every descriptor; for statistics and tests.
func (p *Pool) FreeCount() int {
	p.settle()
	n := 0
	for i := range p.descs {
		if atomic.LoadInt32(&p.descs[i].ref) == 0 {
			n++
		}
	}
	return n
}

// Leak is a frame still referenced.
type Leak struct {
	ID    FrameID
	Owner Owner
	Refs  int
}

// Leaks lists frames that are not free; empty when everything is back.
func (p *Pool) Leaks() []Leak {
	p.settle()
	var l []Leak
	for i := range p.descs {
		if r := atomic.LoadInt32(&p.descs[i].ref); r != 0 {
			l = append(l, Leak{FrameID(i), Owner(atomic.LoadUint32(&p.descs[i].owner)), int(r)})
		}
	}
	return l
}

// CheckFull returns an error naming the first leaked frames unless every
// frame is back in the pool. Tests call it after closing everything.
func (p *Pool) CheckFull() error {
	l := p.Leaks()
	if len(l) == 0 {
		return nil
	}
	if len(l) > 5 {
		return fmt.Errorf("tap: %d of %d frames not returned to the pool, first: %+v", len(l), p.n, l[:5])
	}
	return fmt.Errorf("tap: %d of %d frames not returned to the pool: %+v", len(l), p.n, l)
}

// Releaser drops references in bulk: frames whose last reference goes are
// gathered locally and returned to the pool as one magazine per cacheBatch
// frames, so a reader releasing a batch touches the shared state once, not
// per frame. The zero Releaser is ready; it must be flushed before it goes
// away.
type Releaser struct {
	ids [cacheBatch]FrameID
	n   int
	// dropped are ids given up with Drop, handed over unchanged.
	dropped [cacheBatch]FrameID
	nd      int
}

// Drop gives up a reference to id without touching the frame's
// descriptor: the pool drops the count when it next needs free frames
// (the allocating engine's cache refill, on the engine's core), so a
// reader on another core never writes the descriptor line the engine
// writes next. The reference must not be used after Drop.
func (r *Releaser) Drop(p *Pool, id FrameID) {
	r.dropped[r.nd] = id
	r.nd++
	if r.nd == cacheBatch {
		p.pushPend(r.dropped[:])
		r.nd = 0
	}
}

// Unref drops a reference to id, keeping the frame for Flush if it was the last.
func (r *Releaser) Unref(p *Pool, id FrameID) {
	d := &p.descs[id]
	switch v := atomic.AddInt32(&d.ref, -1); {
	case v == 0:
		atomic.StoreUint32(&d.owner, uint32(OwnerNone))
		r.ids[r.n] = id
		r.n++
		if r.n == cacheBatch {
			p.pushMag(r.ids[:])
			r.n = 0
		}
	case v < 0:
		panic(fmt.Sprintf("tap: Unref of free frame %d", id))
	}
}

// Flush returns the collected frames to the pool.
func (r *Releaser) Flush(p *Pool) {
	if r.n > 0 {
		p.pushMag(r.ids[:r.n])
		r.n = 0
	}
	if r.nd > 0 {
		p.pushPend(r.dropped[:r.nd])
		r.nd = 0
	}
}

// Reclaim frees every frame owned by o, whatever its reference count: for
// an owner that is gone (a process that died holding frames). Read-only
// references other holders still have become invalid, so call it only for
// frames nobody else can hold (an owner's frames are its alone until it
// sends, reverts or frees them). It returns how many frames it freed.
func (p *Pool) Reclaim(o Owner) int {
	if o == OwnerNone || o == OwnerCore {
		return 0
	}
	p.settle() // else a pending drop would hit a frame freed here
	n := 0
	for i := range p.descs {
		d := &p.descs[i]
		if Owner(atomic.LoadUint32(&d.owner)) != o {
			continue
		}
		if !atomic.CompareAndSwapUint32(&d.owner, uint32(o), uint32(OwnerNone)) {
			continue
		}
		if atomic.SwapInt32(&d.ref, 0) > 0 {
			p.push(FrameID(i), FrameID(i))
			n++
		}
	}
	return n
}
