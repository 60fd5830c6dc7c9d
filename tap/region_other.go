//go:build !linux

package tap

import (
	"errors"
	"os"
)

// region is plain memory where memfd does not exist; such a pool cannot be
// shared or used as a UMEM.
type region struct {
	fd    int
	mem   []byte
	pages string
}

func pageSize() int { return os.Getpagesize() }

func newRegion(size int, mode PageMode) (*region, error) {
	if mode == PagesHuge {
		return nil, errors.New("tap: huge pages need Linux")
	}
	return &region{fd: -1, mem: make([]byte, size), pages: "heap memory"}, nil
}

func (r *region) close() error { return nil }
