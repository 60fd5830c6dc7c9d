package tap

import (
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
		r, err := mapMemfd(size, true)
		if err == nil || mode == PagesHuge {
			return r, err
		}
	}
	r, err := mapMemfd(size, false)
	if err != nil || mode == PagesNormal {
		return r, err
	}
	// Transparent huge pages, where the kernel gives them to shmem
	// (shmem_enabled "advise", or "always" that needs no advice).
	thp := shmemTHP()
	if unix.Madvise(r.mem, unix.MADV_HUGEPAGE) == nil && (thp == "advise" || thp == "always" || thp == "within_size" || thp == "force") {
		r.pages += ", transparent huge pages advised (shmem_enabled " + thp + ")"
	} else {
		r.pages += " (no huge pages reserved; shmem_enabled " + thp + ")"
	}
	return r, nil
}

// mapMemfd maps a new memfd of at least size bytes: of 4 KiB pages, or
// with huge a hugetlbfs one, whose mmap fails (ENOMEM) when fewer huge
// pages than it needs are free (vm.nr_hugepages). Not pre-faulted: an
// idle pool costs no memory beyond the reservation; a UMEM registration
// pins (and faults in) the frame area anyway.
func mapMemfd(size int, huge bool) (*region, error) {
	flags, what := unix.MFD_CLOEXEC, "pool"
	if huge {
		flags |= unix.MFD_HUGETLB
		what = "huge page pool (vm.nr_hugepages)"
	}
	fd, err := unix.MemfdCreate("wirebox-pool", flags)
	if err != nil {
		return nil, fmt.Errorf("tap: memfd_create for the %s: %w", what, err)
	}
	fail := func(err error) (*region, error) {
		unix.Close(fd)
		return nil, fmt.Errorf("tap: %s of %d bytes: %w", what, size, err)
	}
	ps := pageSize()
	if huge {
		var st unix.Statfs_t
		if err := unix.Fstatfs(fd, &st); err != nil {
			return fail(err)
		}
		ps = int(st.Bsize)
	}
	size = (size + ps - 1) / ps * ps
	if err := unix.Ftruncate(fd, int64(size)); err != nil {
		return fail(err)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail(err)
	}
	r := &region{fd: fd, mem: mem, pages: fmt.Sprintf("%d KiB pages", ps>>10)}
	if huge {
		r.pages = fmt.Sprintf("%d huge pages of %d KiB", size/ps, ps>>10)
	}
	return r, nil
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
