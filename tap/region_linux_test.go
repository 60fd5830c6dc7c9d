package tap

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

const nrHugepages = "/proc/sys/vm/nr_hugepages"

// meminfo reads one HugePages_ field of /proc/meminfo.
func meminfo(t *testing.T, field string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == field+":" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/meminfo", field)
	return 0
}

// reserveHugePages raises vm.nr_hugepages by n for the test and puts the
// old value back at its end; it fails under CI when it cannot (not root).
func reserveHugePages(t *testing.T, n int) {
	t.Helper()
	b, err := os.ReadFile(nrHugepages)
	if err != nil {
		t.Fatal(err)
	}
	old := strings.TrimSpace(string(b))
	cur, err := strconv.Atoi(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(nrHugepages, []byte(strconv.Itoa(cur+n)), 0); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("cannot reserve huge pages (CI is set): %v", err)
		}
		t.Skipf("cannot reserve huge pages: %v", err)
	}
	t.Cleanup(func() {
		if err := os.WriteFile(nrHugepages, []byte(old), 0); err != nil {
			t.Errorf("restore %s to %s: %v", nrHugepages, old, err)
		}
	})
}

// TestHugePagePool: with huge pages reserved the region is a hugetlbfs
// memfd, sized to whole huge pages, that another mapping of the memfd (a
// tap application's) reads like any other; frames go out and come back.
func TestHugePagePool(t *testing.T) {
	const frames = 4096 // 8 MiB of frames: 5 huge pages of 2 MiB with the descriptors
	var p *Pool
	var err error
	// Another test process may take freshly reserved pages first (its
	// pools use PagesAuto): reserve more and try again.
	for try := 0; try < 5 && p == nil; try++ {
		reserveHugePages(t, 8)
		p, err = NewPool(Config{Frames: frames, Pages: PagesHuge})
	}
	if err != nil {
		t.Fatalf("huge page pool with huge pages reserved: %v", err)
	}
	defer func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	}()
	hp := meminfo(t, "Hugepagesize") << 10
	if !strings.Contains(p.Pages(), "huge pages") {
		t.Fatalf("Pages() = %q", p.Pages())
	}
	if p.RegionSize()%hp != 0 || p.RegionSize() < p.HeaderOffset()+RegionHeaderSize {
		t.Fatalf("region %d bytes, huge page %d, header at %d", p.RegionSize(), hp, p.HeaderOffset())
	}
	m, err := MapRegion(p.Fd(), p.HeaderOffset())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Header.RegionSize != uint64(p.RegionSize()) || m.Len() != frames {
		t.Fatalf("mapped header %+v", m.Header)
	}
	c := p.NewCache()
	ids := make([]FrameID, frames)
	if n := c.AllocN(OwnerCore, ids); n != frames {
		t.Fatalf("allocated %d of %d frames", n, frames)
	}
	for i, id := range ids {
		b := p.Buffer(id)
		b[0], b[len(b)-1] = byte(i), byte(i>>8)
	}
	for i, id := range ids {
		if b := m.Buffer(id); b[0] != byte(i) || b[len(b)-1] != byte(i>>8) {
			t.Fatalf("frame %d: the second mapping reads %d, %d", id, b[0], b[len(b)-1])
		}
	}
	var r Releaser
	for _, id := range ids {
		r.Unref(p, id)
	}
	r.Flush(p)
	c.Close()
	if err := p.CheckFull(); err != nil {
		t.Fatal(err)
	}
}

// TestHugePagesFallback: with fewer huge pages free than a region needs,
// PagesAuto maps 4 KiB pages and says so, and PagesHuge fails.
func TestHugePagesFallback(t *testing.T) {
	// A pool one huge page larger than every free huge page (2 MiB holds
	// 1024 frames): the memfd is not touched beyond its descriptors.
	frames := (meminfo(t, "HugePages_Free") + 2) * 1024
	p, err := NewPool(Config{Frames: frames})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	if !strings.HasPrefix(p.Pages(), "4 KiB pages") {
		t.Fatalf("Pages() = %q with too few huge pages free", p.Pages())
	}
	if p.RegionSize() != p.HeaderOffset()+pageSize() {
		t.Fatalf("4 KiB page region of %d bytes, header at %d", p.RegionSize(), p.HeaderOffset())
	}
	if q, err := NewPool(Config{Frames: frames, Pages: PagesHuge}); err == nil {
		q.Close()
		t.Fatal("PagesHuge succeeded without enough huge pages")
	} else if !strings.Contains(err.Error(), "nr_hugepages") {
		t.Fatalf("PagesHuge error does not say what to reserve: %v", err)
	}
	n, err := NewPool(Config{Frames: 1024, Pages: PagesNormal})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if n.Pages() != "4 KiB pages" {
		t.Fatalf("PagesNormal: Pages() = %q", n.Pages())
	}
}
