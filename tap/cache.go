package tap

import "sync/atomic"

const (
	cacheSize  = 256
	cacheBatch = 64
)

// Cache is a per-goroutine stash of free frames: Alloc and Free touch the
// shared free list only once per batch. A Cache must be used by one
// goroutine at a time; Close returns its frames.
type Cache struct {
	p   *Pool
	n   int
	ids [cacheSize]FrameID
}

// NewCache returns a cache on the pool.
func (p *Pool) NewCache() *Cache { return &Cache{p: p} }

// Alloc takes a frame with one reference owned by o.
func (c *Cache) Alloc(o Owner) (FrameID, error) {
	if c.n == 0 && !c.refill() {
		return NoFrame, ErrEmpty
	}
	c.n--
	id := c.ids[c.n]
	c.p.take(id, o)
	return id, nil
}

// AllocN takes up to len(dst) frames, each with one reference owned by o,
// and returns how many (fewer when the pool runs dry). Their descriptors
// are claimed together, before the caller fills any frame: claiming a
// descriptor takes atomic instructions, which are full fences on amd64
// and would otherwise wait, frame after frame, for the stores still
// pending from filling the previous frame.
func (c *Cache) AllocN(o Owner, dst []FrameID) int {
	n := 0
	for n < len(dst) {
		if c.n == 0 && !c.refill() {
			break
		}
		for c.n > 0 && n < len(dst) {
			c.n--
			dst[n] = c.ids[c.n]
			n++
		}
	}
	for _, id := range dst[:n] {
		c.p.take(id, o)
	}
	return n
}

func (c *Cache) refill() bool {
	// References readers dropped come first: their descriptors are the
	// ones this core wrote last.
	for {
		k, ok := c.p.popPend(c.ids[c.n : c.n+cacheBatch])
		if !ok {
			break
		}
		if c.n += k; k > 0 {
			return true
		}
	}
	if k := c.p.popMag(c.ids[c.n : c.n+cacheBatch]); k > 0 {
		c.n += k
		return true
	}
	first, k := c.p.popChain(cacheBatch)
	for i, id := 0, first; i < k; i++ {
		c.ids[c.n] = id
		c.n++
		id = FrameID(atomic.LoadUint32(&c.p.descs[id].next))
	}
	return k > 0
}

// Unref drops a reference like Pool.Unref, keeping the frame in the cache
// when it was the last one.
func (c *Cache) Unref(id FrameID) {
	d := &c.p.descs[id]
	switch r := atomic.AddInt32(&d.ref, -1); {
	case r == 0:
		atomic.StoreUint32(&d.owner, uint32(OwnerNone))
		if c.n == cacheSize {
			c.flush(cacheBatch)
		}
		c.ids[c.n] = id
		c.n++
	case r < 0:
		panic("tap: Unref of free frame")
	}
}

// flush returns k cached frames to the shared free list in one step.
func (c *Cache) flush(k int) {
	if k > c.n {
		k = c.n
	}
	if k == 0 {
		return
	}
	lo := c.n - k
	for lo < c.n {
		m := min(cacheBatch, c.n-lo)
		c.p.pushMag(c.ids[c.n-m : c.n])
		c.n -= m
	}
	c.n = lo
}

// Close returns every cached frame to the pool.
func (c *Cache) Close() { c.flush(c.n) }
