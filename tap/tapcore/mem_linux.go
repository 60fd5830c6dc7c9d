package tapcore

import (
	"golang.org/x/sys/unix"

	"github.com/wirebox/wirebox/tap"
)

// newRings makes the ring memory: a memfd another process can map
// (shared), or ordinary Go memory for an in-process application (it stays
// valid while either side still holds a Ring over it).
func newRings(l tap.RingsLayout, shared bool) (fd int, mem []byte, free func(), err error) {
	if !shared {
		mem = make([]byte, l.Total)
		l.Write(mem)
		return -1, mem, func() {}, nil
	}
	fd, mem, err = tap.NewRings(l)
	if err != nil {
		return -1, nil, nil, err
	}
	return fd, mem, func() {
		_ = tap.UnmapRings(mem)
		_ = unix.Close(fd)
	}, nil
}
