package pcapng

import (
	"os"

	"golang.org/x/sys/unix"
)

// directFlag opens a file for direct I/O.
const directFlag = unix.O_DIRECT

// newStaging allocates the aligned buffer for writes to f, chunk bytes of
// blocks at a time: the file system's direct-I/O alignment (statx), else
// 4096; page-aligned memory (mmap) satisfies any memory alignment.
func newStaging(f *os.File, chunk int) (*staging, error) {
	align := 4096
	var st unix.Statx_t
	if unix.Statx(int(f.Fd()), "", unix.AT_EMPTY_PATH, unix.STATX_DIOALIGN, &st) == nil &&
		st.Mask&unix.STATX_DIOALIGN != 0 && st.Dio_offset_align > 0 {
		align = int(st.Dio_offset_align)
	}
	size := (chunk + 2*align + 4095) &^ 4095
	buf, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, err
	}
	return &staging{align: align, buf: buf, free: func() { _ = unix.Munmap(buf) }}, nil
}

// clearDirect turns direct I/O off on f (a file system that opened it
// but refuses the writes).
func clearDirect(f *os.File) error {
	fd := int(f.Fd())
	fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0)
	if err != nil {
		return err
	}
	_, err = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_DIRECT)
	return err
}
