//go:build !linux

package tapcore

import (
	"errors"

	"github.com/wirebox/wirebox/tap"
)

func newRings(l tap.RingsLayout, shared bool) (fd int, mem []byte, free func(), err error) {
	if shared {
		return -1, nil, nil, errors.New("tapcore: shared rings need Linux (memfd)")
	}
	mem = make([]byte, l.Total)
	l.Write(mem)
	return -1, mem, func() {}, nil
}
