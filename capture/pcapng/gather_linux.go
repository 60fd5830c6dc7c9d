package pcapng

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// writeSegs writes segs (size bytes in all) at the end of the current
// file with writev(2), continuing after a short write. If it fails the
// file is cut back to where it ended before, on a block boundary, so a
// full disk does not leave half a block for the next write to follow.
func (w *Writer) writeSegs(segs [][]byte, size int) error {
	iov := w.iov[:0]
	for _, s := range segs {
		if len(s) > 0 {
			v := unix.Iovec{Base: &s[0]}
			v.SetLen(len(s))
			iov = append(iov, v)
		}
	}
	w.iov = iov
	rc, err := w.f.SyscallConn()
	if err != nil {
		return err
	}
	start, done := w.onDisk, 0
	var werr error
	cerr := rc.Write(func(fd uintptr) bool {
		for len(iov) > 0 {
			n, _, e := unix.Syscall(unix.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(len(iov)))
			if e == unix.EINTR {
				continue
			}
			if e != 0 {
				werr = e
				return true
			}
			if n == 0 {
				werr = errors.New("writev wrote nothing")
				return true
			}
			done += int(n)
			iov = advance(iov, int(n))
		}
		return true
	})
	if werr == nil {
		werr = cerr
	}
	if werr == nil && done != size {
		werr = fmt.Errorf("writev wrote %d of %d bytes", done, size)
	}
	w.onDisk = start + int64(done)
	if werr != nil && done > 0 {
		if terr := w.f.Truncate(start); terr == nil {
			w.onDisk = start
		}
	}
	clear(w.iov[:cap(w.iov)]) // no pointers into the caller's data stay behind
	return werr
}

// advance drops the first n bytes from iov.
func advance(iov []unix.Iovec, n int) []unix.Iovec {
	for n > 0 && len(iov) > 0 {
		if l := int(iov[0].Len); n >= l {
			n -= l
			iov = iov[1:]
			continue
		}
		iov[0].Base = (*byte)(unsafe.Add(unsafe.Pointer(iov[0].Base), n))
		iov[0].SetLen(int(iov[0].Len) - n)
		n = 0
	}
	return iov
}

type iovecs = []unix.Iovec
