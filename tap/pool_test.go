package tap

import (
	"encoding/binary"
	"math/rand/v2"
	"sync"
	"testing"
)

func newTestPool(t testing.TB, frames int) *Pool {
	t.Helper()
	p, err := NewPool(Config{Frames: frames})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

func TestPoolConfig(t *testing.T) {
	for _, c := range []Config{{FrameSize: 1000}, {FrameSize: 3000}, {FrameSize: 1 << 20}, {Frames: -1}} {
		if p, err := NewPool(c); err == nil {
			p.Close()
			t.Errorf("NewPool(%+v) succeeded", c)
		}
	}
	p := newTestPool(t, 8)
	if p.FrameSize() != DefaultFrameSize || p.Len() != 8 || len(p.Memory()) != 8*DefaultFrameSize {
		t.Fatalf("size %d len %d mem %d", p.FrameSize(), p.Len(), len(p.Memory()))
	}
	if p.Addr(3) != 3*2048 || p.FrameOf(3*2048+100) != 3 {
		t.Fatal("address mapping")
	}
	if uintptr(len(p.Memory())) == 0 || p.Fd() < 0 {
		t.Fatal("no memory or fd")
	}
}

func TestAllocExhaustAndReturn(t *testing.T) {
	p := newTestPool(t, 64)
	seen := map[FrameID]bool{}
	var ids []FrameID
	for i := 0; i < 64; i++ {
		id, err := p.Alloc(OwnerCore)
		if err != nil {
			t.Fatalf("alloc %d: %v", i, err)
		}
		if seen[id] {
			t.Fatalf("frame %d handed out twice", id)
		}
		seen[id] = true
		ids = append(ids, id)
		if p.Refs(id) != 1 || p.Owner(id) != OwnerCore {
			t.Fatalf("frame %d refs %d owner %d", id, p.Refs(id), p.Owner(id))
		}
	}
	if _, err := p.Alloc(OwnerCore); err != ErrEmpty {
		t.Fatalf("alloc from empty pool: %v", err)
	}
	if err := p.CheckFull(); err == nil {
		t.Fatal("CheckFull passed with every frame allocated")
	}
	p.Ref(ids[0])
	p.Unref(ids[0])
	if p.Refs(ids[0]) != 1 {
		t.Fatal("ref/unref")
	}
	for _, id := range ids {
		p.Unref(id)
	}
	if err := p.CheckFull(); err != nil {
		t.Fatal(err)
	}
	if p.FreeCount() != 64 {
		t.Fatal("free count")
	}
}

func TestDoubleFreePanics(t *testing.T) {
	p := newTestPool(t, 4)
	id, _ := p.Alloc(OwnerCore)
	p.Unref(id)
	defer func() {
		if recover() == nil {
			t.Fatal("second Unref did not panic")
		}
	}()
	p.Unref(id)
}

func TestRefOfFreePanics(t *testing.T) {
	p := newTestPool(t, 4)
	defer func() {
		if recover() == nil {
			t.Fatal("Ref of a free frame did not panic")
		}
	}()
	p.Ref(2)
}

func TestDataAndMeta(t *testing.T) {
	p := newTestPool(t, 4)
	id, _ := p.Alloc(OwnerCore)
	copy(p.Buffer(id)[10:], "hello")
	p.SetData(id, 10, 5, 60)
	p.SetMeta(id, 123, 7, 9)
	if string(p.Data(id)) != "hello" || p.WireLen(id) != 60 || cap(p.Data(id)) != 2048-10 {
		t.Fatalf("data %q wire %d cap %d", p.Data(id), p.WireLen(id), cap(p.Data(id)))
	}
	if ts, port, fl := p.Meta(id); ts != 123 || port != 7 || fl != 9 {
		t.Fatal("meta")
	}
	p.Unref(id)
	id2, _ := p.Alloc(OwnerCore)
	if id2 == id && (len(p.Data(id2)) != 0 || p.WireLen(id2) != 0) {
		t.Fatal("reallocated frame kept old metadata")
	}
	p.Unref(id2)
}

// TestOwnershipProperty runs random alloc/share/release sequences on many
// goroutines (run it with -race). Invariants: no frame is ever handed to two
// holders at once (each holder stamps the frame and checks the stamp while
// it holds a reference), reference counts never go negative (Unref panics),
// and every frame is back at the end.
func TestOwnershipProperty(t *testing.T) {
	const frames, workers, rounds = 512, 8, 3000
	p := newTestPool(t, frames)
	share := make(chan FrameID, 64)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			c := p.NewCache()
			defer c.Close()
			var held []FrameID
			stamp := func(id FrameID) { binary.LittleEndian.PutUint64(p.Buffer(id), uint64(id)<<32|uint64(w)) }
			for r := 0; r < rounds; r++ {
				switch rng.IntN(6) {
				case 0, 1: // allocate (from cache or pool) and stamp
					var id FrameID
					var err error
					if rng.IntN(2) == 0 {
						id, err = c.Alloc(Owner(w + 2))
					} else {
						id, err = p.Alloc(Owner(w + 2))
					}
					if err == ErrEmpty {
						continue
					}
					if p.Refs(id) != 1 || p.Owner(id) != Owner(w+2) {
						t.Errorf("fresh frame %d refs %d owner %d", id, p.Refs(id), p.Owner(id))
						return
					}
					stamp(id)
					held = append(held, id)
				case 2: // share a read-only reference with another worker
					if len(held) == 0 {
						continue
					}
					id := held[rng.IntN(len(held))]
					p.Ref(id)
					select {
					case share <- id:
					default:
						p.Unref(id)
					}
				case 3: // take a shared reference and drop it
					select {
					case id := <-share:
						if p.Refs(id) < 1 {
							t.Errorf("shared frame %d has %d refs", id, p.Refs(id))
						}
						if got := binary.LittleEndian.Uint64(p.Buffer(id)) >> 32; got != uint64(id) {
							t.Errorf("shared frame %d stamp %d: reused while referenced", id, got)
						}
						if rng.IntN(2) == 0 {
							c.Unref(id)
						} else {
							p.Unref(id)
						}
					default:
					}
				default: // release an owned frame, checking our stamp
					if len(held) == 0 {
						continue
					}
					i := rng.IntN(len(held))
					id := held[i]
					if got := binary.LittleEndian.Uint64(p.Buffer(id)); got != uint64(id)<<32|uint64(w) {
						t.Errorf("frame %d stamp %x changed while owned by %d", id, got, w)
					}
					held[i] = held[len(held)-1]
					held = held[:len(held)-1]
					c.Unref(id)
				}
			}
			for _, id := range held {
				c.Unref(id)
			}
		}(w)
	}
	wg.Wait()
	close(share)
	for id := range share {
		p.Unref(id)
	}
	if err := p.CheckFull(); err != nil {
		t.Fatal(err)
	}
	// And every frame can be allocated again exactly once.
	seen := map[FrameID]bool{}
	for i := 0; i < frames; i++ {
		id, err := p.Alloc(OwnerCore)
		if err != nil || seen[id] {
			t.Fatalf("realloc %d: %v (dup %v)", i, err, seen[id])
		}
		seen[id] = true
	}
	for id := range seen {
		p.Unref(id)
	}
}

func TestReleaser(t *testing.T) {
	p := newTestPool(t, 16)
	var ids []FrameID
	for i := 0; i < 16; i++ {
		id, _ := p.Alloc(OwnerCore)
		ids = append(ids, id)
	}
	p.Ref(ids[0]) // still referenced elsewhere after the batch
	var r Releaser
	for _, id := range ids {
		r.Unref(p, id)
	}
	r.Flush(p)
	if p.Refs(ids[0]) != 1 || p.FreeCount() != 15 {
		t.Fatalf("refs %d free %d", p.Refs(ids[0]), p.FreeCount())
	}
	p.Unref(ids[0])
	seen := map[FrameID]bool{}
	for i := 0; i < 16; i++ {
		id, err := p.Alloc(OwnerCore)
		if err != nil || seen[id] {
			t.Fatalf("alloc %d after batch release: %v dup=%v", i, err, seen[id])
		}
		seen[id] = true
	}
	if _, err := p.Alloc(OwnerCore); err != ErrEmpty {
		t.Fatal("more frames than the pool has")
	}
}

func TestReclaim(t *testing.T) {
	p := newTestPool(t, 8)
	a, _ := p.Alloc(Owner(7))
	b, _ := p.Alloc(Owner(7))
	p.Ref(b) // a second reference the dead owner never dropped
	c, _ := p.Alloc(Owner(8))
	if got := p.Reclaim(7); got != 2 {
		t.Fatalf("reclaimed %d, want 2", got)
	}
	if p.Refs(a) != 0 || p.Refs(b) != 0 || p.Refs(c) != 1 || p.Owner(c) != 8 {
		t.Fatal("reclaim touched the wrong frames")
	}
	if p.Reclaim(OwnerCore) != 0 {
		t.Fatal("reclaimed core frames")
	}
	p.Unref(c)
	if err := p.CheckFull(); err != nil {
		t.Fatal(err)
	}
	seen := map[FrameID]bool{}
	for i := 0; i < 8; i++ {
		id, err := p.Alloc(OwnerCore)
		if err != nil || seen[id] {
			t.Fatalf("alloc after reclaim: %v dup=%v", err, seen[id])
		}
		seen[id] = true
	}
}

func TestQueue(t *testing.T) {
	q := NewQueue(5)
	if q.Cap() != 8 {
		t.Fatalf("cap %d", q.Cap())
	}
	for i := 0; i < 8; i++ {
		if !q.Push(FrameID(i)) {
			t.Fatalf("push %d", i)
		}
	}
	if q.Push(99) {
		t.Fatal("push into full queue")
	}
	for i := 0; i < 8; i++ {
		if id, ok := q.Pop(); !ok || id != FrameID(i) {
			t.Fatalf("pop %d: %d %v", i, id, ok)
		}
	}
	if _, ok := q.Pop(); ok {
		t.Fatal("pop from empty queue")
	}
}

// TestQueueConcurrent: every pushed id is popped exactly once.
func TestQueueConcurrent(t *testing.T) {
	q := NewQueue(128)
	everyIDOnce(t, q, 4, 20000, func(_ int, seen map[FrameID]int) bool {
		id, ok := q.Pop()
		if ok {
			seen[id]++
		}
		return ok
	})
}

// everyIDOnce has producers push producers*per ids into q while two
// consumers take them with take (which counts what it took in seen and
// reports whether it took any), and fails unless every id came out once.
func everyIDOnce(t *testing.T, q *Queue, producers, per int, take func(consumer int, seen map[FrameID]int) bool) {
	t.Helper()
	got := make([]int32, producers*per)
	var mu sync.Mutex
	var pw, cw sync.WaitGroup
	done := make(chan struct{})
	for c := 0; c < 2; c++ {
		cw.Go(func() {
			local := map[FrameID]int{}
			for {
				if take(c, local) {
					continue
				}
				select {
				case <-done:
					if q.Len() == 0 {
						mu.Lock()
						for id, n := range local {
							got[id] += int32(n)
						}
						mu.Unlock()
						return
					}
				default:
				}
			}
		})
	}
	for pr := 0; pr < producers; pr++ {
		pw.Go(func() {
			for i := 0; i < per; i++ {
				for !q.Push(FrameID(pr*per + i)) {
				}
			}
		})
	}
	pw.Wait()
	close(done)
	cw.Wait()
	for id, n := range got {
		if n != 1 {
			t.Fatalf("id %d popped %d times", id, n)
		}
	}
}

func TestQueuePushN(t *testing.T) {
	q := NewQueue(8)
	if n := q.PushN([]FrameID{1, 2, 3}); n != 3 {
		t.Fatalf("PushN 3: %d", n)
	}
	if n := q.PushN([]FrameID{4, 5, 6, 7, 8, 9, 10}); n != 5 {
		t.Fatalf("PushN into 5 free slots: %d", n)
	}
	if n := q.PushN([]FrameID{11}); n != 0 || q.PushN(nil) != 0 {
		t.Fatalf("PushN into a full queue: %d", n)
	}
	for want := FrameID(1); want <= 8; want++ {
		if id, ok := q.Pop(); !ok || id != want {
			t.Fatalf("pop: %d %v, want %d", id, ok, want)
		}
	}
	if _, ok := q.Pop(); ok {
		t.Fatal("pop from empty queue")
	}
}

// TestQueuePushNConcurrent: producers pushing runs of ids with PushN and
// Push into a small queue; one consumer sees every id exactly once and
// each producer's ids in order.
func TestQueuePushNConcurrent(t *testing.T) {
	const producers, per = 4, 30000
	q := NewQueue(64)
	var pw sync.WaitGroup
	for pr := 0; pr < producers; pr++ {
		pw.Add(1)
		go func(pr int) {
			defer pw.Done()
			ids := make([]FrameID, 0, 37)
			next := 0
			for next < per {
				if next%5 == 0 {
					if q.Push(FrameID(pr<<20 | next)) {
						next++
					}
					continue
				}
				ids = ids[:0]
				for i := next; i < per && len(ids) < 1+next%37; i++ {
					ids = append(ids, FrameID(pr<<20|i))
				}
				next += q.PushN(ids)
			}
		}(pr)
	}
	done := make(chan struct{})
	go func() { pw.Wait(); close(done) }()
	last := make([]int, producers)
	for i := range last {
		last[i] = -1
	}
	total := 0
	for total < producers*per {
		id, ok := q.Pop()
		if !ok {
			select {
			case <-done:
				if q.Len() == 0 {
					t.Fatalf("producers done, %d of %d ids popped", total, producers*per)
				}
			default:
			}
			continue
		}
		pr, i := int(id>>20), int(id&(1<<20-1))
		if i != last[pr]+1 {
			t.Fatalf("producer %d: id %d after %d", pr, i, last[pr])
		}
		last[pr] = i
		total++
	}
}

func BenchmarkCacheAllocFree(b *testing.B) {
	p := newTestPool(b, 4096)
	c := p.NewCache()
	defer c.Close()
	b.ReportAllocs()
	for b.Loop() {
		id, err := c.Alloc(OwnerCore)
		if err != nil {
			b.Fatal(err)
		}
		c.Unref(id)
	}
}

func BenchmarkPoolAllocFreeParallel(b *testing.B) {
	p := newTestPool(b, 1<<16)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		c := p.NewCache()
		defer c.Close()
		var ids [32]FrameID
		for pb.Next() {
			for i := range ids {
				ids[i], _ = c.Alloc(OwnerCore)
			}
			for _, id := range ids {
				p.Ref(id)
				p.Unref(id) // a reader dropping its reference elsewhere
				c.Unref(id)
			}
		}
	})
}

func BenchmarkQueuePushPop(b *testing.B) {
	q := NewQueue(1024)
	b.ReportAllocs()
	for b.Loop() {
		q.Push(1)
		q.Pop()
	}
}

// TestReleaserDrop: references given up with Drop leave the descriptors
// alone until the pool needs the frames; then every count is exact, a
// frame still referenced elsewhere stays out, and every other frame is
// allocated again exactly once.
func TestReleaserDrop(t *testing.T) {
	p := newTestPool(t, 200)
	c := p.NewCache()
	ids := make([]FrameID, 200)
	if n := c.AllocN(OwnerCore, ids); n != 200 {
		t.Fatalf("AllocN took %d of 200", n)
	}
	for _, id := range ids {
		if p.Refs(id) != 1 || p.Owner(id) != OwnerCore {
			t.Fatalf("frame %d: refs %d owner %d", id, p.Refs(id), p.Owner(id))
		}
	}
	if c.AllocN(OwnerCore, ids[:1]) != 0 {
		t.Fatal("AllocN from an empty pool")
	}
	p.Ref(ids[7]) // a second holder
	var r Releaser
	for _, id := range ids {
		r.Drop(p, id)
	}
	r.Flush(p)
	if p.Refs(ids[0]) != 1 {
		t.Fatalf("Drop touched the descriptor: refs %d", p.Refs(ids[0]))
	}
	// The cache takes the dropped frames back; the one still held stays out.
	got := make([]FrameID, 200)
	if n := c.AllocN(Owner(9), got); n != 199 {
		t.Fatalf("AllocN after Drop took %d, want 199", n)
	}
	seen := map[FrameID]bool{}
	for _, id := range got[:199] {
		if seen[id] || id == ids[7] || p.Owner(id) != 9 {
			t.Fatalf("frame %d: seen %v, owner %d", id, seen[id], p.Owner(id))
		}
		seen[id] = true
	}
	if p.Refs(ids[7]) != 1 {
		t.Fatalf("held frame refs %d, want 1", p.Refs(ids[7]))
	}
	for _, id := range got[:199] {
		r.Drop(p, id)
	}
	r.Drop(p, ids[7])
	r.Flush(p)
	c.Close()
	if free := p.FreeCount(); free != 200 { // settles the pending drops
		t.Fatalf("free %d after dropping everything", free)
	}
	if err := p.CheckFull(); err != nil {
		t.Fatal(err)
	}
}

// TestReclaimSettlesDrops: a dropped reference to a frame Reclaim frees
// is dropped first, not after (which would hit a free frame).
func TestReclaimSettlesDrops(t *testing.T) {
	p := newTestPool(t, 4)
	a, _ := p.Alloc(Owner(7))
	p.Ref(a)
	var r Releaser
	r.Drop(p, a)
	r.Flush(p)
	if got := p.Reclaim(7); got != 1 {
		t.Fatalf("reclaimed %d, want 1", got)
	}
	if err := p.CheckFull(); err != nil {
		t.Fatal(err)
	}
}

func TestQueuePopN(t *testing.T) {
	q := NewQueue(8)
	dst := make([]FrameID, 5)
	if q.PopN(dst) != 0 {
		t.Fatal("PopN from an empty queue")
	}
	q.PushN([]FrameID{1, 2, 3, 4, 5, 6, 7})
	if n := q.PopN(dst); n != 5 || dst[0] != 1 || dst[4] != 5 {
		t.Fatalf("PopN: %d %v", n, dst)
	}
	q.PushN([]FrameID{8, 9, 10, 11}) // wraps around
	if n := q.PopN(dst); n != 5 || dst[0] != 6 || dst[4] != 10 {
		t.Fatalf("PopN across the wrap: %d %v", n, dst)
	}
	if n := q.PopN(dst); n != 1 || dst[0] != 11 || q.Len() != 0 {
		t.Fatalf("PopN of the rest: %d %v", n, dst[:n])
	}
}

// TestQueuePopNConcurrent: two consumers taking runs with PopN while
// producers push; every id comes out exactly once.
func TestQueuePopNConcurrent(t *testing.T) {
	q := NewQueue(64)
	dst := [][]FrameID{make([]FrameID, 1), make([]FrameID, 17)}
	everyIDOnce(t, q, 3, 20000, func(c int, seen map[FrameID]int) bool {
		n := q.PopN(dst[c])
		for _, id := range dst[c][:n] {
			seen[id]++
		}
		return n > 0
	})
}
