package tap

import (
	"sync/atomic"
	"testing"
	"unsafe"
)

// TestRegionHeader: the header after the descriptors describes the pool,
// and a second mapping of the memfd sees the same frame bytes.
func TestRegionHeader(t *testing.T) {
	p, err := NewPool(Config{Frames: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if p.HeaderOffset()%pageSize() != 0 || p.HeaderOffset() < 1000*2048+1000*64 {
		t.Fatalf("header offset %d", p.HeaderOffset())
	}
	m, err := MapRegion(p.Fd(), p.HeaderOffset())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	h := m.Header
	if h.FrameCount != 1000 || h.FrameSize != 2048 || h.DescsOffset != 1000*2048 || h.RegionSize != uint64(p.RegionSize()) {
		t.Fatalf("header %+v", h)
	}
	id, _ := p.Alloc(5)
	copy(p.Buffer(id), "marker")
	p.SetData(id, 2, 4, 60)
	p.SetMeta(id, 1234, 7, 0)
	if string(m.Buffer(id)[:6]) != "marker" || string(m.Data(RingDesc{ID: uint32(id), Off: 2, Len: 4})) != "rker" {
		t.Fatal("second mapping does not see the frame")
	}
	if ts, port, _, wl := m.Meta(id); ts != 1234 || port != 7 || wl != 60 {
		t.Fatalf("meta %d %d %d", ts, port, wl)
	}
	if m.Buffer(1000) != nil || m.Data(RingDesc{ID: uint32(id), Off: 2000, Len: 100}) != nil {
		t.Fatal("out of range frame or data not refused")
	}
	p.Unref(id)
	// A damaged header is refused.
	b := unsafe.Slice((*byte)(unsafe.Pointer(&p.region.mem[p.HeaderOffset()])), RegionHeaderSize)
	b[8] = 9
	if _, err := MapRegion(p.Fd(), p.HeaderOffset()); err == nil {
		t.Fatal("wrong ABI version accepted")
	}
}

// TestRingSPSC: a producer and a consumer on two Ring views of one ring
// memfd pass a million entries in order; an impossible index written by
// the other side is reported, not followed.
func TestRingSPSC(t *testing.T) {
	l := NewRingsLayout(256)
	fd, mem, err := NewRings(l)
	if err != nil {
		t.Fatal(err)
	}
	defer UnmapRings(mem)
	mem2, l2, err := MapRings(fd)
	if err != nil {
		t.Fatal(err)
	}
	defer UnmapRings(mem2)
	prod, cons := OpenRing(mem, l, RingRevert, true), OpenRing(mem2, l2, RingRevert, false)
	const n = 1 << 20
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; {
			k, err := prod.Reserve(min(64, n-i))
			if err != nil {
				done <- err
				return
			}
			for j := 0; j < k; j++ {
				*prod.Slot(j) = RingDesc{ID: uint32(i + j), Len: uint32(i+j) * 3}
			}
			prod.Submit(k)
			i += k
		}
		done <- nil
	}()
	for i := 0; i < n; {
		k, err := cons.Peek(64)
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < k; j++ {
			if d := cons.Entry(j); d.ID != uint32(i+j) || d.Len != uint32(i+j)*3 {
				t.Fatalf("entry %d: %+v", i+j, d)
			}
		}
		cons.Release(k)
		i += k
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The consumer jumps ahead of the producer: the producer sees it.
	atomic.StoreUint32(cons.cons, atomic.LoadUint32(prod.prod)+5)
	prod.cachedCons = prod.cachedProd - l.Size // looks full: forces a reload
	if _, err := prod.Reserve(int(l.Size)); err != ErrRingCorrupt {
		t.Fatalf("reserve after a bad consumer index: %v", err)
	}
	atomic.StoreUint32(prod.prod, atomic.LoadUint32(cons.cons)+l.Size+1)
	if _, err := cons.Peek(1 << 30); err != ErrRingCorrupt {
		t.Fatalf("peek after a bad producer index: %v", err)
	}
	if _, err := ParseRingsLayout(mem[:32], 32); err == nil {
		t.Fatal("truncated rings header accepted")
	}
}
