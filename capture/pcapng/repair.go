package pcapng

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/klauspost/compress/zstd"
)

// A writer marks the file it is writing with an empty, locked marker file
// beside it (".NAME.writing"), created before the file and removed after it
// is closed. A marker left behind means the writer's process died with the
// file open; RepairDir finds those and cuts each file back to its last
// whole chunk: a SIGKILL that lands while the kernel copies a chunk's pages
// (it checks for fatal signals between pages) leaves a file that ends
// inside a block, which tshark and capinfos report as cut short.

const markerSuffix = ".writing"

// markerName is the marker of the capture file named name.
func markerName(name string) string { return "." + name + markerSuffix }

// markedName is the capture file a marker's name names, if it is one.
func markedName(marker string) (string, bool) {
	name, ok := strings.CutSuffix(strings.TrimPrefix(marker, "."), markerSuffix)
	return name, ok && name != "" && strings.HasPrefix(marker, ".")
}

// Repaired is what RepairDir or Repair did to one file.
type Repaired struct {
	Path string
	Size int64 // the file's size before
	Kept int64 // its size after: the end of its last whole block, zstd frame or gzip member
	// Salvaged is how many of the kept bytes are a compressed file's cut
	// last frame or member, decompressed as far as it goes and its whole
	// blocks compressed again (included in Kept).
	Salvaged int64
	Removed  bool // nothing whole was left, so the file was removed
}

// Changed reports whether the repair changed the file.
func (r Repaired) Changed() bool { return r.Kept != r.Size || r.Salvaged > 0 }

// RepairDir repairs every capture file below dir whose writer died with it
// open, and removes their markers. Markers a live writer holds (locked) are
// left alone, so it is safe while captures run. It returns what it cut or
// removed; errors of single files are joined and do not stop the walk.
func RepairDir(dir string) ([]Repaired, error) {
	var out []Repaired
	var errs []error
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return err
			}
			errs = append(errs, err)
			return nil
		}
		name, ok := markedName(d.Name())
		if d.IsDir() || !ok {
			return nil
		}
		r, done, err := repairMarked(p, filepath.Join(filepath.Dir(p), name))
		if err != nil {
			errs = append(errs, err)
		}
		if done && r.Changed() {
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		errs = append(errs, err)
	}
	return out, errors.Join(errs...)
}

// ErrBeingWritten is RepairFile's answer for a file a live writer holds.
var ErrBeingWritten = errors.New("a capture is still writing it")

// RepairFile repairs one capture file, whether or not a marker says its
// writer died (a file copied off a crashed system has none), and removes
// its marker; a file a live writer holds is refused with ErrBeingWritten.
func RepairFile(path string) (Repaired, error) {
	marker := filepath.Join(filepath.Dir(path), markerName(filepath.Base(path)))
	if _, err := os.Stat(marker); err != nil {
		return Repair(path)
	}
	r, done, err := repairMarked(marker, path)
	if err == nil && !done {
		err = fmt.Errorf("pcapng: repair %s: %w", path, ErrBeingWritten)
	}
	return r, err
}

// repairMarked repairs data unless a live writer holds its marker; done
// is false when it was left alone.
func repairMarked(marker, data string) (Repaired, bool, error) {
	m, err := os.OpenFile(marker, os.O_RDONLY|noFollow, 0)
	if err != nil {
		return Repaired{}, false, fmt.Errorf("pcapng: marker: %w", err)
	}
	defer m.Close()
	if held, err := markerHeld(m); err != nil || held {
		return Repaired{}, false, err
	}
	r, err := Repair(data)
	if errors.Is(err, fs.ErrNotExist) {
		err = nil // died before the file was made
	}
	if err != nil {
		return r, false, err
	}
	if err := os.Remove(marker); err != nil {
		return r, true, fmt.Errorf("pcapng: marker: %w", err)
	}
	return r, true, nil
}

// Repair cuts a capture file (pcapng, plain, zstd or gzip) back to the end
// of its last whole block, zstd frame or gzip member, and removes it if
// nothing whole is left. A complete file is left as it is.
func Repair(path string) (Repaired, error) {
	r := Repaired{Path: path}
	// Not through a symbolic link: the daemon repairs as root.
	f, err := os.OpenFile(path, os.O_RDWR|noFollow, 0)
	if err != nil {
		return r, fmt.Errorf("pcapng: repair: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return r, fmt.Errorf("pcapng: repair: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return r, fmt.Errorf("pcapng: repair %s: not a regular file", path)
	}
	r.Size = fi.Size()
	var c Compression
	if r.Kept, c, err = wholeLength(bufio.NewReaderSize(f, 1<<16)); err != nil {
		return r, fmt.Errorf("pcapng: repair %s: %w", path, err)
	}
	if r.Kept < r.Size && c != CompressNone {
		if r.Salvaged, err = salvage(f, r.Kept, c); err != nil {
			return r, fmt.Errorf("pcapng: repair %s: %w", path, err)
		}
		r.Kept += r.Salvaged
	}
	switch {
	case r.Kept == r.Size && r.Salvaged == 0:
		return r, nil
	case r.Kept == 0:
		r.Removed = true
		if err := os.Remove(path); err != nil {
			return r, fmt.Errorf("pcapng: repair: %w", err)
		}
		return r, nil
	}
	if r.Salvaged == 0 {
		if err := f.Truncate(r.Kept); err != nil {
			return r, fmt.Errorf("pcapng: repair: %w", err)
		}
	}
	if err := f.Sync(); err != nil {
		return r, fmt.Errorf("pcapng: repair: %w", err)
	}
	return r, nil
}

// WholeLength returns how many bytes at the start of a capture file's
// contents form whole units: pcapng blocks (uncompressed), zstd frames or
// gzip members. It reads r to its end (or to the first unit that is cut
// short or malformed). Only what a file starts with decides its format;
// an unknown start is an error.
func WholeLength(r *bufio.Reader) (int64, error) {
	n, _, err := wholeLength(r)
	return n, err
}

// wholeLength is WholeLength that also says the file's compression.
func wholeLength(r *bufio.Reader) (int64, Compression, error) {
	head, _ := r.Peek(4)
	switch c := compressionOf(head); {
	case c == CompressZstd:
		return zstdWhole(r), c, nil
	case c == CompressGzip:
		return gzipWhole(r), c, nil
	case bytes.HasPrefix(head, magicPcapNG):
		return pcapngWhole(r), c, nil
	case len(head) < 4 && (bytes.HasPrefix(magicZstd, head) || bytes.HasPrefix(magicGzip, head) || bytes.HasPrefix(magicPcapNG, head)):
		return 0, c, nil // empty, or cut inside the first magic
	}
	return 0, CompressNone, fmt.Errorf("not a pcapng file (starts with % x)", head)
}

// pcapngWhole walks pcapng blocks: each has its length before and after
// it; the byte order is the section header's.
func pcapngWhole(r *bufio.Reader) int64 { return blocksWhole(r, true) }

// blocksWhole walks pcapng blocks; with section false the bytes may start
// at any block (the inside of a compressed chunk), little-endian as our
// writer writes them, until a section header says otherwise.
func blocksWhole(r *bufio.Reader, section bool) int64 {
	var (
		good, off int64
		order     binary.ByteOrder = binary.LittleEndian
		hdr       [12]byte
	)
	for {
		if _, err := io.ReadFull(r, hdr[:8]); err != nil {
			return good
		}
		read := int64(8)
		if binary.LittleEndian.Uint32(hdr[:4]) == 0x0a0d0d0a { // a section header: its byte-order magic
			read = 12
			if _, err := io.ReadFull(r, hdr[8:12]); err != nil {
				return good
			}
			switch binary.LittleEndian.Uint32(hdr[8:12]) {
			case 0x1a2b3c4d:
				order = binary.LittleEndian
			case 0x4d3c2b1a:
				order = binary.BigEndian
			default:
				return good
			}
		} else if off == 0 && section {
			return 0
		}
		n := int64(order.Uint32(hdr[4:8]))
		if n < 12 || n%4 != 0 || n < read {
			return good
		}
		if _, err := r.Discard(int(n - read - 4)); err != nil {
			return good
		}
		var tail [4]byte
		if _, err := io.ReadFull(r, tail[:]); err != nil || int64(order.Uint32(tail[:])) != n {
			return good
		}
		off += n
		good = off
	}
}

// zstdWhole walks zstd frames by their headers and block headers (RFC
// 8878), without decompressing; skippable frames count as whole.
func zstdWhole(r *bufio.Reader) int64 {
	var good, off int64
	skip := func(n int64) bool {
		if n < 0 {
			return false
		}
		d, err := r.Discard(int(n))
		off += int64(d)
		return err == nil
	}
	var b [8]byte
	for {
		if _, err := io.ReadFull(r, b[:4]); err != nil {
			return good
		}
		off += 4
		magic := binary.LittleEndian.Uint32(b[:4])
		if magic&0xfffffff0 == 0x184d2a50 { // skippable
			if _, err := io.ReadFull(r, b[:4]); err != nil {
				return good
			}
			off += 4
			if !skip(int64(binary.LittleEndian.Uint32(b[:4]))) {
				return good
			}
			good = off
			continue
		}
		if magic != 0xfd2fb528 {
			return good
		}
		fhd, err := r.ReadByte()
		if err != nil {
			return good
		}
		off++
		single := fhd>>5&1 == 1
		if fhd>>3&1 == 1 { // reserved bit
			return good
		}
		n := int64([]int{0, 1, 2, 4}[fhd&3]) // dictionary id
		if !single {
			n++ // window descriptor
		}
		switch fhd >> 6 { // frame content size
		case 0:
			if single {
				n++
			}
		case 1:
			n += 2
		case 2:
			n += 4
		case 3:
			n += 8
		}
		if !skip(n) {
			return good
		}
		for last := false; !last; {
			if _, err := io.ReadFull(r, b[:3]); err != nil {
				return good
			}
			off += 3
			h := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16
			last = h&1 == 1
			size := int64(h >> 3)
			switch h >> 1 & 3 {
			case 1: // RLE: one byte repeated size times
				size = 1
			case 3:
				return good
			}
			if !skip(size) {
				return good
			}
		}
		if fhd>>2&1 == 1 && !skip(4) { // content checksum
			return good
		}
		good = off
	}
}

// gzipWhole inflates member after member; a member is whole when its
// trailer (CRC and size) was read and checked.
func gzipWhole(r *bufio.Reader) int64 {
	cr := &countingReader{r: r}
	var good int64
	var z *gzip.Reader
	for {
		var err error
		if z == nil {
			z, err = gzip.NewReader(cr)
		} else {
			err = z.Reset(cr)
		}
		if err != nil {
			return good
		}
		z.Multistream(false)
		if _, err := io.Copy(io.Discard, z); err != nil {
			return good
		}
		good = cr.n
	}
}

// countingReader counts what the decompressor consumed; it is an
// io.ByteReader, so gzip reads exactly to a member's end.
type countingReader struct {
	r *bufio.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (c *countingReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.n++
	}
	return b, err
}

// salvage decompresses the cut unit of a file compressed with c that
// starts at off as far as it goes and writes its whole pcapng blocks back
// there as one new zstd frame or gzip member, as the writer makes them,
// cutting the file behind it. It returns the new unit's size (0: nothing
// whole in it, nothing written).
func salvage(f *os.File, off int64, c Compression) (int64, error) {
	var dec io.Reader
	tail := io.NewSectionReader(f, off, 1<<62)
	switch c {
	case CompressZstd:
		zr, err := zstd.NewReader(tail, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return 0, nil
		}
		defer zr.Close()
		dec = zr
	case CompressGzip:
		gr, err := gzip.NewReader(tail)
		if err != nil {
			return 0, nil
		}
		gr.Multistream(false)
		dec = gr
	default:
		return 0, nil // plain pcapng: the last whole block is all there is
	}
	var plain bytes.Buffer
	io.Copy(&plain, io.LimitReader(dec, 1<<30)) // up to the cut: the error is expected
	n := blocksWhole(bufio.NewReader(bytes.NewReader(plain.Bytes())), false)
	if n == 0 {
		return 0, nil
	}
	enc, err := newChunkEncoder(c)
	if err != nil {
		return 0, err
	}
	defer enc.close()
	unit, err := enc.encode(plain.Bytes()[:n])
	if err != nil {
		return 0, err
	}
	if _, err := f.WriteAt(unit, off); err != nil {
		return 0, err
	}
	if err := f.Truncate(off + int64(len(unit))); err != nil {
		return 0, err
	}
	return int64(len(unit)), nil
}
