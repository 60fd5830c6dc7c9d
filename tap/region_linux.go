package tap

import (
	"fmt"

	"golang.org/x/sys/unix"
)

// region is the memfd-backed shared mapping behind a pool.
type region struct {
	fd  int
	mem []byte
}

func pageSize() int { return unix.Getpagesize() }

func newRegion(size int) (*region, error) {
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
	return &region{fd: fd, mem: mem}, nil
}

func (r *region) close() error {
	err := unix.Munmap(r.mem)
	if cerr := unix.Close(r.fd); err == nil {
		err = cerr
	}
	return err
}
