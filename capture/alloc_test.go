package capture

import (
	"context"
	"testing"

	"github.com/wirebox/wirebox/tap"
	"golang.org/x/net/bpf"
)

// enginelessPort is a port with subscribers but no engine, to exercise the
// fan-out alone.
func enginelessPort(t testing.TB) (*Core, *Port) {
	pool, err := tap.NewPool(tap.Config{Frames: 1024})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Close() })
	c := NewCore(pool, nil)
	p := &Port{c: c, cfg: PortConfig{Name: "x", Mode: Passive}, deferred: tap.NewQueue(16)}
	p.subs.Store(&subList{})
	c.ports.Store(&[]*Port{p})
	return c, p
}

// TestHotPathAllocatesNothing: receiving a frame, fanning it out to a
// Go-filtered, a BPF-filtered and an unfiltered reader and an owner, and receiving and
// releasing it allocate nothing on the Go heap.
func TestHotPathAllocatesNothing(t *testing.T) {
	c, p := enginelessPort(t)
	a, _ := p.Subscribe(SubscribeOptions{Name: "a"})
	b, _ := p.Subscribe(SubscribeOptions{Name: "b", Match: func(d []byte) bool { return len(d) > 10 }})
	prog, err := bpf.Assemble([]bpf.Instruction{bpf.LoadAbsolute{Off: 12, Size: 2}, bpf.RetConstant{Val: 0xffff}})
	if err != nil {
		t.Fatal(err)
	}
	f, _ := p.Subscribe(SubscribeOptions{Name: "f", Filter: prog})
	o, _ := p.Subscribe(SubscribeOptions{Name: "o", Kind: Owner})
	cache := c.pool.NewCache()
	defer cache.Close()
	buf := make([]Frame, 8)
	ctx := context.Background()
	st := newStage() // as the engines batch
	allocs := testing.AllocsPerRun(1000, func() {
		id, err := cache.Alloc(tap.OwnerCore)
		if err != nil {
			t.Fatal(err)
		}
		c.pool.SetData(id, 0, 60, 60)
		p.stamp(id, c.clock.Now(), TSEngine, RX)
		bt := batch{stage: st}
		p.dispatch.RLock()
		p.receivedBatch(id, RX, TSEngine, &bt)
		p.commit(&bt)
		p.wakeSubscribers()
		p.dispatch.RUnlock()
		for i, s := range []*Subscription{a, b, f, o} {
			n, err := s.Receive(ctx, buf)
			if err != nil || n != 1 {
				t.Fatalf("%s: %d %v", s.Name(), n, err)
			}
			if i%2 == 0 {
				buf[0].Release()
			} else {
				ReleaseAll(buf[:n])
			}
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame", allocs)
	}
	for _, s := range []*Subscription{a, b, f, o} {
		s.Close()
	}
	// Frames still in the cache are free (no references).
	if err := c.pool.CheckFull(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkFanOut(b *testing.B) {
	c, p := enginelessPort(b)
	s, _ := p.Subscribe(SubscribeOptions{Name: "reader"})
	cache := c.pool.NewCache()
	defer cache.Close()
	buf := make([]Frame, 1)
	b.ReportAllocs()
	for b.Loop() {
		id, _ := cache.Alloc(tap.OwnerCore)
		c.pool.SetData(id, 0, 60, 60)
		var bt batch
		p.receivedBatch(id, RX, TSEngine, &bt)
		p.commit(&bt)
		s.TryReceive(buf)
		buf[0].Release()
	}
}

// TestStagedDrops: a receive batch larger than the readers' queues
// delivers what fits in each queue, counts the rest as dropped and leaks no
// reference, with the engine's reference handed over (one reader) and
// with a new one per reader (two).
func TestStagedDrops(t *testing.T) {
	for _, readers := range []int{1, 2} {
		c, p := enginelessPort(t)
		var subs []*Subscription
		for i := 0; i < readers; i++ {
			s, _ := p.Subscribe(SubscribeOptions{Name: "r", Queue: 4, Direction: Both})
			subs = append(subs, s)
		}
		cache := c.pool.NewCache()
		bt := batch{stage: newStage()}
		p.dispatch.RLock()
		for i := 0; i < 10+stageSize; i++ { // one early push on the way
			id, err := cache.Alloc(tap.OwnerCore)
			if err != nil {
				t.Fatal(err)
			}
			c.pool.SetData(id, 0, 60, 60)
			dir := RX
			if i%3 == 0 {
				dir = TX
			}
			p.stamp(id, c.clock.Now(), TSKernel, dir)
			p.receivedBatch(id, dir, TSKernel, &bt)
		}
		p.commit(&bt)
		p.dispatch.RUnlock()
		cache.Close()
		buf := make([]Frame, 16)
		for _, s := range subs {
			st := s.Stats()
			if st.Delivered != 4 || st.Dropped != 6+stageSize || st.Queued != 4 {
				t.Fatalf("%d readers: %+v", readers, st)
			}
			n := s.TryReceive(buf)
			if n != 4 || buf[0].Direction() != TX || buf[1].Direction() != RX {
				t.Fatalf("%d readers: received %d frames, first %v %v", readers, n, buf[0].Direction(), buf[1].Direction())
			}
			ReleaseAll(buf[:n])
		}
		if got := p.rxPackets.Load() + p.txPackets.Load(); got != 10+stageSize {
			t.Fatalf("port counted %d frames", got)
		}
		if err := c.pool.CheckFull(); err != nil {
			t.Fatalf("%d readers: %v", readers, err)
		}
	}
}

func TestSubscribeOptions(t *testing.T) {
	_, p := enginelessPort(t)
	if _, err := p.Subscribe(SubscribeOptions{Name: "o", Kind: Owner, Direction: TX}); err == nil {
		t.Error("an owner of transmitted frames was accepted")
	}
	// A jump past the end of the program is invalid.
	bad := []bpf.RawInstruction{{Op: 0x05, K: 10}, {Op: 0x06, K: 0}}
	if _, err := p.Subscribe(SubscribeOptions{Name: "f", Filter: bad}); err == nil {
		t.Error("an invalid BPF program was accepted")
	}
	s, err := p.Subscribe(SubscribeOptions{Name: "both", Direction: Both, Queue: 3})
	if err != nil {
		t.Fatal(err)
	}
	if s.q.Cap() != 4 || s.dir != Both {
		t.Fatalf("queue %d dir %v", s.q.Cap(), s.dir)
	}
	if l := p.subs.Load(); len(l.readOnly) != 1 || l.readOnly[0] != s {
		t.Fatalf("subscribers %+v", l)
	}
	s.Close()
	if l := p.subs.Load(); len(l.readOnly) != 0 {
		t.Fatalf("closed subscriber still listed: %+v", l)
	}
}
