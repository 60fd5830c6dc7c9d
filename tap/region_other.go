//go:build !linux

package tap

import "os"

// region is plain memory where memfd does not exist; such a pool cannot be
// shared or used as a UMEM.
type region struct {
	fd  int
	mem []byte
}

func pageSize() int { return os.Getpagesize() }

func newRegion(size int) (*region, error) {
	return &region{fd: -1, mem: make([]byte, size)}, nil
}

func (r *region) close() error { return nil }
