package pcapng

import (
	"encoding/binary"
	"errors"
	"fmt"
	"syscall"
)

// padBlockType is the block that brings a direct write to the file's
// alignment: a type for local use (the high bit set), which readers skip
// by its length (tshark 4.0, capinfos, pcapgo and our reader do).
const padBlockType = 0x80000BAD

// minPad is the smallest block: type, length, trailing length.
const minPad = 12

// staging is the direct (O_DIRECT) mode's buffer: whole blocks are copied
// into aligned memory and written in ChunkSize pieces padded to the file
// system's alignment. The page cache is bypassed: the kernel's copy into
// it (most of the writer's CPU at 1514 B) and the flusher's work are not
// paid on the capture's CPUs; the device reads the buffer itself.
type staging struct {
	align int    // offset and length alignment of a write
	buf   []byte // aligned memory, ChunkSize + 2 aligns
	n     int    // bytes staged
	free  func() // unmaps buf
}

// room reports whether n more bytes fit with the padding a flush may add.
func (s *staging) room(n int) bool { return s.n+n+s.align+minPad <= len(s.buf) }

// stage copies b in; the caller checked room.
func (s *staging) stage(b []byte) { s.n += copy(s.buf[s.n:], b) }

// pad appends the padding block that makes the staged length a multiple
// of align.
func (s *staging) pad() {
	if s.n%s.align == 0 {
		return
	}
	gap := s.align - s.n%s.align
	if gap < minPad {
		gap += s.align
	}
	le := binary.LittleEndian
	b := s.buf[s.n : s.n+gap]
	le.PutUint32(b, padBlockType)
	le.PutUint32(b[4:], uint32(gap))
	clear(b[8 : gap-4])
	le.PutUint32(b[gap-4:], uint32(gap))
	s.n += gap
}

// flushStage writes what is staged, padded, with one write(2).
func (w *Writer) flushStage() error {
	s := w.st
	if s == nil || s.n == 0 {
		return nil
	}
	s.pad()
	n, err := w.f.Write(s.buf[:s.n])
	if n == 0 && errors.Is(err, syscall.EINVAL) && !w.noDirect {
		// Opened for direct I/O but refused: write through the page cache.
		w.noDirect = true
		if clearDirect(w.f) == nil {
			n, err = w.f.Write(s.buf[:s.n])
		}
	}
	w.onDisk += int64(n)
	s.n = 0
	if err != nil {
		return fmt.Errorf("pcapng: write %s: %w", w.name, err)
	}
	return nil
}

// stagePackets is WritePackets in direct mode: each block is encoded
// straight into the aligned buffer.
func (w *Writer) stagePackets(ps []Packet) (int, error) {
	s := w.st
	if w.bw.Buffered() > 0 { // blocks WritePacket left go first
		if err := w.flushChunk(); err != nil {
			return 0, err
		}
	}
	for i := range ps {
		p := &ps[i]
		if p.Interface < 0 || p.Interface >= len(w.opt.Interfaces) {
			return i, fmt.Errorf("pcapng: interface %d out of range", p.Interface)
		}
		if err := w.maybeRotate(); err != nil {
			return i, err
		}
		blockLen := w.epbLen(*p)
		if blockLen > w.opt.ChunkSize {
			return i, fmt.Errorf("pcapng: packet of %d bytes exceeds the chunk size", len(p.Data))
		}
		if s.n+blockLen > w.opt.ChunkSize {
			if err := w.flushStage(); err != nil {
				return i, err
			}
		}
		b := w.appendEPBHead(s.buf[s.n:s.n], *p, blockLen)
		b = append(b, p.Data...)
		b = w.appendEPBTail(b, *p, blockLen)
		s.n += len(b)
		w.stats.Packets++
		w.stats.Bytes += uint64(len(p.Data))
	}
	return len(ps), nil
}
