//go:build !linux

package pcapng

import (
	"errors"
	"os"
)

const directFlag = 0

func newStaging(*os.File, int) (*staging, error) {
	return nil, errors.New("direct I/O is Linux only")
}

func clearDirect(*os.File) error { return nil }
