package tap

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// region is the memfd-backed shared mapping behind a pool.
type region struct {
	fd    int
	mem   []byte
	pages string // what backs it, for Pool.Pages
}

func pageSize() int { return unix.Getpagesize() }

// newRegion maps a memfd of at least size bytes (a hugetlbfs memfd is
// rounded up to its page size; the region header says the size).
//
// Huge pages matter on the receive path: every small frame lands in a
// pool frame of its own, so thousands of frames in flight touch thousands
// of 4 KiB pages, more than the TLB holds; in huge pages they are a few
// dozen (docs/BENCHMARKS.md, issue 9).
func newRegion(size int, mode PageMode) (*region, error) {
	if mode != PagesNormal {
		r, err := newHugeRegion(size)
		if err == nil || mode == PagesHuge {
			return r, err
		}
	}
	fd, err := unix.MemfdCreate("wirebox-pool", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("tap: memfd_create: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap: size pool to %d bytes: %w", size, err)
	}
	// Not pre-faulted: an idle pool costs no memory; a UMEM registration
	// pins (and faults in) the frame area anyway.
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap: mmap pool (%d bytes): %w", size, err)
	}
	r := &region{fd: fd, mem: mem, pages: "4 KiB pages"}
	if mode != PagesNormal {
		// Transparent huge pages, where the kernel gives them to shmem
		// (shmem_enabled "advise", or "always" that needs no advice).
		thp := shmemTHP()
		if unix.Madvise(mem, unix.MADV_HUGEPAGE) == nil && (thp == "advise" || thp == "always" || thp == "within_size" || thp == "force") {
			r.pages = "4 KiB pages, transparent huge pages advised (shmem_enabled " + thp + ")"
		} else {
			r.pages = "4 KiB pages (no huge pages reserved; shmem_enabled " + thp + ")"
		}
	}
	return r, nil
}

// newHugeRegion maps a hugetlbfs memfd. mmap fails (ENOMEM) when fewer
// huge pages than the region needs are free (vm.nr_hugepages).
func newHugeRegion(size int) (*region, error) {
	fd, err := unix.MemfdCreate("wirebox-pool", unix.MFD_CLOEXEC|unix.MFD_HUGETLB)
	if err != nil {
		return nil, fmt.Errorf("tap: memfd_create(MFD_HUGETLB): %w", err)
	}
	var st unix.Statfs_t
	if err := unix.Fstatfs(fd, &st); err != nil || st.Bsize <= 0 {
		unix.Close(fd)
		return nil, fmt.Errorf("tap: huge page size: %w", errors.Join(err, errors.New("unknown")))
	}
	hp := int(st.Bsize)
	size = (size + hp - 1) / hp * hp
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap: size pool to %d bytes of huge pages: %w", size, err)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("tap: mmap pool in %d huge pages of %d KiB (vm.nr_hugepages): %w", size/hp, hp>>10, err)
	}
	return &region{fd: fd, mem: mem, pages: fmt.Sprintf("%d huge pages of %d KiB", size/hp, hp>>10)}, nil
}

// shmemTHP is the kernel's transparent huge page mode for shmem (memfd).
func shmemTHP() string {
	b, err := os.ReadFile("/sys/kernel/mm/transparent_hugepage/shmem_enabled")
	if err != nil {
		return "unknown"
	}
	s := string(b)
	if i := strings.IndexByte(s, '['); i >= 0 {
		if j := strings.IndexByte(s[i:], ']'); j > 0 {
			return s[i+1 : i+j]
		}
	}
	return strings.TrimSpace(s)
}

func (r *region) close() error {
	err := unix.Munmap(r.mem)
	if cerr := unix.Close(r.fd); err == nil {
		err = cerr
	}
	return err
}
