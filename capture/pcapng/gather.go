package pcapng

import "fmt"

// copyBelow is the data length under which WritePackets copies a packet
// into the header buffer instead of giving writev a segment for it: a
// segment costs the kernel about as much as copying a few hundred bytes,
// and 64-byte frames would otherwise take 2 of the 1024 segments each.
const copyBelow = 512

// maxSegs is IOV_MAX on Linux: the most segments one writev takes.
const maxSegs = 1024

// gather is the batch WritePackets is building: block headers, trailers
// and small packets in hdr, segments of hdr interleaved with packet data
// in segs.
type gather struct {
	hdr  []byte
	segs [][]byte
	open int // start in hdr of the segment being built
	size int // bytes in segs and the open segment
	// packets and data bytes in the batch, counted once written
	packets int
	data    uint64
}

// WritePackets writes a batch of packets. Uncompressed, the data is
// written from where it lies (the pool's memory), not copied: block
// headers and trailers are encoded into a small buffer and each writev(2)
// interleaves them with the packets' data; data shorter than copyBelow is
// copied into that buffer, where a segment of its own would cost more. A
// writev carries whole blocks only and at most ChunkSize bytes, so a
// killed process leaves files that end on a block boundary, as the
// chunked path does. When WritePackets returns nothing of the batch is
// held: the caller may release or reuse the data. Compressed output
// needs the bytes in one piece for the compressor and takes WritePacket's
// chunks.
//
// It returns how many packets were written: all of them, or those before
// the first error.
func (w *Writer) WritePackets(ps []Packet) (int, error) {
	if w.closedErr != nil {
		return 0, w.closedErr
	}
	if w.opt.Compress != CompressNone {
		for i, p := range ps {
			if err := w.WritePacket(p); err != nil {
				return i, err
			}
		}
		return len(ps), nil
	}
	written := 0
	g := &w.g
	fail := func(err error) (int, error) {
		g.reset()
		return written, err
	}
	for i := range ps {
		p := &ps[i]
		if p.Interface < 0 || p.Interface >= len(w.opt.Interfaces) {
			return fail(fmt.Errorf("pcapng: interface %d out of range", p.Interface))
		}
		if w.rotateDue(int64(g.size)) {
			if err := w.flushGather(); err != nil {
				return fail(err)
			}
			written = i
			if err := w.Rotate(); err != nil {
				return fail(err)
			}
		}
		// After a rotation: the new file's IDBs may name another clock,
		// which changes whether the block carries a comment.
		blockLen := w.epbLen(*p)
		if blockLen > w.opt.ChunkSize {
			return fail(fmt.Errorf("pcapng: packet of %d bytes exceeds the chunk size", len(p.Data)))
		}
		if g.size+blockLen > w.opt.ChunkSize || len(g.segs)+3 > maxSegs {
			if err := w.flushGather(); err != nil {
				return fail(err)
			}
			written = i
		}
		g.hdr = w.appendEPBHead(g.hdr, *p, blockLen)
		if len(p.Data) < copyBelow {
			g.hdr = append(g.hdr, p.Data...)
		} else {
			g.segs = append(g.segs, g.hdr[g.open:], p.Data)
			g.open = len(g.hdr)
		}
		g.hdr = w.appendEPBTail(g.hdr, *p, blockLen)
		g.size += blockLen
		g.packets++
		g.data += uint64(len(p.Data))
	}
	if err := w.flushGather(); err != nil {
		return fail(err)
	}
	return len(ps), nil
}

func (g *gather) reset() {
	clear(g.segs) // no references to the caller's data stay behind
	g.hdr, g.segs, g.open, g.size, g.packets, g.data = g.hdr[:0], g.segs[:0], 0, 0, 0, 0
}

// flushGather writes the batch gathered so far with writev.
func (w *Writer) flushGather() error {
	g := &w.g
	if g.size == 0 {
		return nil
	}
	if len(g.hdr) > g.open {
		g.segs = append(g.segs, g.hdr[g.open:])
	}
	// Blocks WritePacket left in the chunk buffer go first.
	if err := w.flushChunk(); err != nil {
		return err
	}
	if err := w.writeSegs(g.segs, g.size); err != nil {
		return fmt.Errorf("pcapng: write %s: %w", w.name, err)
	}
	w.stats.Packets += uint64(g.packets)
	w.stats.Bytes += g.data
	g.reset()
	return nil
}

// rotateDue reports whether the current file must be rotated before more
// is written, pending bytes not yet in it.
func (w *Writer) rotateDue(pending int64) bool {
	pending += int64(w.bw.Buffered()) // uncompressed: an upper bound
	sizeHit := w.opt.RotateSize > 0 && w.onDisk+pending >= w.opt.RotateSize && w.stats.Packets > 0
	timeHit := w.opt.RotateTime > 0 && w.now().Sub(w.opened) >= w.opt.RotateTime
	return sizeHit || timeHit
}
