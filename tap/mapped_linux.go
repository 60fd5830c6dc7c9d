package tap

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Mapped is a pool region mapped by another process (a tap application)
// from the memfd the daemon passed it: the same frames and descriptors the
// daemon uses, so a FrameID names the same bytes in both.
type Mapped struct {
	Header RegionHeader
	mem    []byte
	frames []byte
	descs  []desc
	shift  uint
}

// MapRegion maps the pool region memfd fd, whose header is at hdrOff, and
// checks the header. The caller keeps fd.
func MapRegion(fd int, hdrOff int) (*Mapped, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, fmt.Errorf("tap: stat pool memfd: %w", err)
	}
	size := int(st.Size)
	if hdrOff < 0 || hdrOff+RegionHeaderSize > size {
		return nil, fmt.Errorf("tap: header offset %d outside the %d-byte region", hdrOff, size)
	}
	mem, err := unix.Mmap(fd, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("tap: mmap pool region: %w", err)
	}
	h, err := ParseRegionHeader(mem[hdrOff:], size)
	if err == nil && h.HeaderOffset != uint64(hdrOff) {
		err = fmt.Errorf("tap: header says it is at %d, not %d", h.HeaderOffset, hdrOff)
	}
	if err != nil {
		unix.Munmap(mem)
		return nil, err
	}
	m := &Mapped{Header: h, mem: mem}
	fb := int(h.FrameCount) * int(h.FrameSize)
	m.frames = mem[:fb:fb]
	m.descs = unsafe.Slice((*desc)(unsafe.Pointer(&mem[h.DescsOffset])), h.FrameCount)
	for s := h.FrameSize; s > 1; s >>= 1 {
		m.shift++
	}
	return m, nil
}

// Close unmaps the region.
func (m *Mapped) Close() error { return unix.Munmap(m.mem) }

// Len is the number of frames.
func (m *Mapped) Len() int { return len(m.descs) }

// FrameSize is the size of each frame.
func (m *Mapped) FrameSize() int { return int(m.Header.FrameSize) }

// Buffer is the whole frame id, or nil when id is out of range.
func (m *Mapped) Buffer(id FrameID) []byte {
	if int(id) >= len(m.descs) {
		return nil
	}
	o := int(id) << m.shift
	fs := int(m.Header.FrameSize)
	return m.frames[o : o+fs : o+fs]
}

// Data is the data a ring entry names (nil when it does not fit its frame).
func (m *Mapped) Data(d RingDesc) []byte {
	b := m.Buffer(FrameID(d.ID))
	if b == nil || uint64(d.Off)+uint64(d.Len) > uint64(len(b)) {
		return nil
	}
	return b[d.Off : d.Off+d.Len]
}

// Meta is what the descriptor of frame id says: receive stamp (ns on the
// daemon's clock), port index, flags and wire length.
func (m *Mapped) Meta(id FrameID) (ts int64, port uint32, flags uint32, wireLen int) {
	if int(id) >= len(m.descs) {
		return 0, 0, 0, 0
	}
	d := &m.descs[id]
	return atomic.LoadInt64(&d.ts), d.port, d.flags, int(d.wireLen)
}

// MapRings maps a ring memfd and checks its header.
func MapRings(fd int) ([]byte, RingsLayout, error) {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, RingsLayout{}, fmt.Errorf("tap: stat ring memfd: %w", err)
	}
	mem, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, RingsLayout{}, fmt.Errorf("tap: mmap rings: %w", err)
	}
	l, err := ParseRingsLayout(mem, len(mem))
	if err != nil {
		unix.Munmap(mem)
		return nil, l, err
	}
	return mem, l, nil
}

// NewRings creates a ring memfd of layout l, maps it and writes its header.
func NewRings(l RingsLayout) (fd int, mem []byte, err error) {
	fd, err = unix.MemfdCreate("wirebox-tap-rings", unix.MFD_CLOEXEC)
	if err != nil {
		return -1, nil, fmt.Errorf("tap: memfd_create rings: %w", err)
	}
	if err := unix.Ftruncate(fd, int64(l.Total)); err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("tap: size rings: %w", err)
	}
	mem, err = unix.Mmap(fd, 0, int(l.Total), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("tap: mmap rings: %w", err)
	}
	l.Write(mem)
	return fd, mem, nil
}

// UnmapRings unmaps what NewRings or MapRings mapped.
func UnmapRings(mem []byte) error { return unix.Munmap(mem) }
