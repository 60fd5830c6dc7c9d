package pcapng

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/klauspost/compress/zstd"
)

// Compression selects how files are compressed.
type Compression string

// Compression choices.
const (
	CompressNone Compression = "none"
	CompressGzip Compression = "gzip"
	CompressZstd Compression = "zstd"
)

// ParseCompression parses a --compress value ("" means none).
func ParseCompression(s string) (Compression, error) {
	switch Compression(s) {
	case "", CompressNone:
		return CompressNone, nil
	case CompressGzip, CompressZstd:
		return Compression(s), nil
	}
	return "", fmt.Errorf("unknown compression %q (want zstd, gzip or none)", s)
}

// Ext is the file name suffix of the compression.
func (c Compression) Ext() string {
	switch c {
	case CompressGzip:
		return ".gz"
	case CompressZstd:
		return ".zst"
	}
	return ""
}

// TimestampSource says which clock stamped a frame.
type TimestampSource uint8

// Timestamp sources, best first.
const (
	TSUnknown  TimestampSource = iota
	TSHardware                 // NIC hardware timestamp
	TSKernel                   // kernel receive time
	TSSoftware                 // the core's own clock read
	TSXDP                      // XDP metadata from the driver
	TSTransmit                 // when the frame was handed to the kernel to send
)

func (s TimestampSource) String() string {
	switch s {
	case TSHardware:
		return "hardware"
	case TSKernel:
		return "kernel"
	case TSSoftware:
		return "software"
	case TSXDP:
		return "xdp"
	case TSTransmit:
		return "transmit"
	}
	return "unknown"
}

// comment is the per-packet comment naming the source: a constant, so
// writing it costs no allocation.
func (s TimestampSource) comment() string {
	switch s {
	case TSHardware:
		return "timestamp source: hardware"
	case TSKernel:
		return "timestamp source: kernel"
	case TSSoftware:
		return "timestamp source: software"
	case TSXDP:
		return "timestamp source: xdp"
	case TSTransmit:
		return "timestamp source: transmit"
	}
	return "timestamp source: unknown"
}

// Direction of a frame relative to the port.
type Direction uint8

// Directions, as in the pcapng EPB flags word.
const (
	DirUnknown Direction = iota
	DirInbound
	DirOutbound
)

// Interface describes one port; each becomes one interface description block.
type Interface struct {
	Name        string
	Description string
	LinkType    layers.LinkType // 0 means Ethernet
	SnapLen     uint32          // 0 means unlimited
	Filter      string          // the capture filter, recorded in the file
	TSSource    TimestampSource // the port's usual timestamp source
}

// Options configure a Writer.
type Options struct {
	Dir string // output directory (created if missing)
	// DirRoot, if set, is Dir opened as an os.Root: files are created and
	// removed through it, so nothing (a symlink put in the directory) can
	// make the writer touch a file outside it. The writer closes it.
	// Dir then only names the files in Files and Stats.
	DirRoot *os.Root
	// Owner, if set, owns the files the writer creates (a user's own
	// directory, passed as a descriptor: the files are theirs).
	Owner      *Owner
	Prefix     string // file name prefix; default "capture"
	Interfaces []Interface
	Compress   Compression
	// RotateSize starts a new file once the current one holds this many
	// bytes on disk (compressed size when compressing). 0: no size limit.
	RotateSize int64
	// RotateTime starts a new file once the current one is this old. 0: none.
	RotateTime time.Duration
	// Keep is how many files to keep; older ones are removed. 0: keep all.
	Keep int
	// ChunkSize is how many bytes of whole blocks are gathered in memory
	// before one write to the file. Default 256 KiB.
	ChunkSize int
	// Application is recorded in the section header.
	Application string
	// Now is the clock used for rotation by age and file names; default time.Now.
	Now func() time.Time
}

// Packet is one frame to write.
type Packet struct {
	Interface int // index into Options.Interfaces
	Timestamp time.Time
	Data      []byte // the captured bytes (possibly cut by a snaplen)
	Length    int    // original length on the wire; 0 means len(Data)
	Direction Direction
	TSSource  TimestampSource // TSUnknown means the interface's source
}

// Block and option codes of the enhanced packet blocks we encode.
const (
	blockTypeEPB = 6
	optComment   = 1
	optEPBFlags  = 2
)

var zeros [4]byte

// pad4 is the padding that brings n to a multiple of 4.
func pad4(n int) int { return (4 - n&3) & 3 }

// Stats are the writer's counters.
type Stats struct {
	Packets     uint64 // packets written
	Bytes       uint64 // captured bytes written (packet data)
	Files       uint64 // files opened so far
	CurrentFile string
}

// Writer writes rotating pcapng files. It is not safe for concurrent use.
type Writer struct {
	opt   Options
	now   func() time.Time
	seq   int
	files []string // files still on disk, oldest first

	f      *os.File
	mark   *os.File // the locked marker beside f (repair.go)
	name   string
	opened time.Time
	onDisk int64 // bytes written to the current file
	ng     *pcapgo.NgWriter
	// bw gathers whole blocks; it is flushed (one chunk, one write(2))
	// only before a block that would not fit, so it never splits one.
	bw        *bufio.Writer
	enc       *chunkEncoder // nil: uncompressed
	stats     Stats
	closedErr error
	// packets written before the current file: an empty file is not rotated
	packetsAtOpen uint64
	fileTS        []TimestampSource // sources in the current file's IDBs
	g             gather            // WritePackets' batch
	iov           iovecs            // writev's segments (Linux)
}

// Owner is a file owner: user and group ids.
type Owner struct{ UID, GID int }

// Permissions of what the writer creates: captures hold other people's
// traffic, so no world access (the group can be the API socket's).
const (
	FileMode os.FileMode = 0o640
	DirMode  os.FileMode = 0o750
)

// NewWriter creates the directory if needed and opens the first file.
// It closes opt.DirRoot if it fails.
func NewWriter(opt Options) (*Writer, error) {
	w, err := newWriter(opt)
	if err != nil && opt.DirRoot != nil {
		opt.DirRoot.Close()
	}
	return w, err
}

func newWriter(opt Options) (*Writer, error) {
	if opt.Dir == "" {
		return nil, errors.New("pcapng: no output directory")
	}
	if len(opt.Interfaces) == 0 {
		return nil, errors.New("pcapng: no interfaces")
	}
	if _, err := ParseCompression(string(opt.Compress)); err != nil {
		return nil, err
	}
	if opt.Compress == "" {
		opt.Compress = CompressNone
	}
	if opt.Prefix == "" {
		opt.Prefix = "capture"
	}
	if strings.ContainsRune(opt.Prefix, '/') {
		return nil, fmt.Errorf("pcapng: prefix %q contains a slash", opt.Prefix)
	}
	if opt.ChunkSize <= 0 {
		opt.ChunkSize = 256 << 10
	}
	if opt.ChunkSize < 4096 {
		opt.ChunkSize = 4096 // pcapgo must see bufio's "large enough" writer
	}
	if opt.Keep < 0 || opt.RotateSize < 0 || opt.RotateTime < 0 {
		return nil, errors.New("pcapng: negative rotation setting")
	}
	if opt.Application == "" {
		opt.Application = "wirebox"
	}
	opt.Interfaces = append([]Interface(nil), opt.Interfaces...)
	w := &Writer{opt: opt, now: opt.Now}
	if w.now == nil {
		w.now = time.Now
	}
	if opt.DirRoot == nil {
		if err := os.MkdirAll(opt.Dir, DirMode); err != nil {
			return nil, fmt.Errorf("pcapng: %w", err)
		}
	}
	if opt.Compress != CompressNone {
		enc, err := newChunkEncoder(opt.Compress)
		if err != nil {
			return nil, err
		}
		w.enc = enc
	}
	if err := w.openFile(); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *Writer) openFile() error {
	w.seq++
	now := w.now().UTC()
	name := fmt.Sprintf("%s-%05d-%s.pcapng%s", w.opt.Prefix, w.seq, now.Format("20060102T150405.000000000Z"), w.opt.Compress.Ext())
	path := filepath.Join(w.opt.Dir, name)
	mark, err := w.create(markerName(name))
	if err != nil {
		return err
	}
	if err := lockMarker(mark); err != nil {
		w.dropMarker(mark, markerName(name))
		return err
	}
	f, err := w.create(name)
	if err != nil {
		w.dropMarker(mark, markerName(name))
		return err
	}
	w.f, w.mark, w.name, w.opened, w.onDisk = f, mark, path, now, 0
	w.files = append(w.files, path)
	w.stats.Files++
	w.stats.CurrentFile = path
	w.packetsAtOpen = w.stats.Packets
	w.fileTS = w.fileTS[:0]
	for _, in := range w.opt.Interfaces {
		w.fileTS = append(w.fileTS, in.TSSource)
	}
	if w.bw == nil {
		w.bw = bufio.NewWriterSize(chunkSink{w}, w.opt.ChunkSize)
	} else {
		w.bw.Reset(chunkSink{w})
	}

	first, err := w.ngInterface(0)
	if err != nil {
		return err
	}
	// pcapgo wraps its writer in a bufio.Writer, which returns bw itself
	// (it is large enough), so blocks go straight into our chunk buffer.
	ng, err := pcapgo.NewNgWriterInterface(w.bw, first, pcapgo.NgWriterOptions{
		SectionInfo: pcapgo.NgSectionInfo{Application: w.opt.Application, OS: "Linux"},
	})
	if err != nil {
		return fmt.Errorf("pcapng: header: %w", err)
	}
	for i := 1; i < len(w.opt.Interfaces); i++ {
		intf, err := w.ngInterface(i)
		if err != nil {
			return err
		}
		if _, err := ng.AddInterface(intf); err != nil {
			return fmt.Errorf("pcapng: interface %d: %w", i, err)
		}
	}
	if err := ng.Flush(); err != nil {
		return fmt.Errorf("pcapng: header: %w", err)
	}
	w.ng = ng
	// Write the header right away, so even an empty file opens in tshark.
	if err := w.bw.Flush(); err != nil {
		return err
	}
	return w.prune()
}

// create makes a new file in the output directory, owned as configured.
func (w *Writer) create(name string) (*os.File, error) {
	var f *os.File
	var err error
	if w.opt.DirRoot != nil {
		f, err = w.opt.DirRoot.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, FileMode)
	} else {
		f, err = os.OpenFile(filepath.Join(w.opt.Dir, name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, FileMode)
	}
	if err != nil {
		return nil, fmt.Errorf("pcapng: open: %w", err)
	}
	if o := w.opt.Owner; o != nil {
		if err := f.Chown(o.UID, o.GID); err != nil {
			f.Close()
			return nil, fmt.Errorf("pcapng: owner of %s: %w", filepath.Join(w.opt.Dir, name), err)
		}
	}
	return f, nil
}

// remove removes a file of the output directory.
func (w *Writer) remove(name string) error {
	if w.opt.DirRoot != nil {
		return w.opt.DirRoot.Remove(name)
	}
	return os.Remove(filepath.Join(w.opt.Dir, name))
}

// dropMarker removes a file's marker once the file is closed (or was never
// made), then lets go of its lock.
func (w *Writer) dropMarker(mark *os.File, name string) error {
	err := w.remove(name)
	mark.Close()
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("pcapng: marker: %w", err)
	}
	return nil
}

func (w *Writer) ngInterface(i int) (pcapgo.NgInterface, error) {
	in := w.opt.Interfaces[i]
	if in.Name == "" {
		return pcapgo.NgInterface{}, fmt.Errorf("pcapng: interface %d has no name", i)
	}
	lt := in.LinkType
	if lt == 0 {
		lt = layers.LinkTypeEthernet
	}
	return pcapgo.NgInterface{
		Name:        in.Name,
		Description: in.Description,
		// The timestamp source has no standard IDB option; a comment is
		// what tshark/Wireshark show (frame.comment / "Interface comment").
		Comment:             "timestamp source: " + in.TSSource.String(),
		Filter:              in.Filter,
		OS:                  "Linux",
		LinkType:            lt,
		SnapLength:          in.SnapLen,
		TimestampResolution: 9,
	}, nil
}

// WritePacket appends one packet. It rotates first when a limit is reached.
func (w *Writer) WritePacket(p Packet) error {
	if w.closedErr != nil {
		return w.closedErr
	}
	if p.Interface < 0 || p.Interface >= len(w.opt.Interfaces) {
		return fmt.Errorf("pcapng: interface %d out of range", p.Interface)
	}
	if err := w.maybeRotate(); err != nil {
		return err
	}
	blockLen := w.epbLen(p)
	if blockLen > w.opt.ChunkSize {
		return fmt.Errorf("pcapng: packet of %d bytes exceeds the chunk size", len(p.Data))
	}
	if w.bw.Available() < blockLen {
		if err := w.bw.Flush(); err != nil {
			return fmt.Errorf("pcapng: write: %w", err)
		}
	}
	b := w.appendEPBHead(w.bw.AvailableBuffer(), p, blockLen)
	b = append(b, p.Data...)
	b = w.appendEPBTail(b, p, blockLen)
	if _, err := w.bw.Write(b); err != nil {
		return fmt.Errorf("pcapng: write: %w", err)
	}
	w.stats.Packets++
	w.stats.Bytes += uint64(len(p.Data))
	return nil
}

// The enhanced packet block is encoded by hand: pcapgo's
// WritePacketWithOptions builds an option slice and boxes each option per
// packet (two allocations, about 200 ns), which was most of the writer's
// cost at 64 B. The bytes are what pcapgo writes: header, data, padding,
// options (comment, then flags), end of options, trailing length. It is
// split around the data so that WritePackets can leave the data where it
// lies.

// comment is the per-packet comment of p: only frames whose clock differs
// from the interface's say so.
func (w *Writer) comment(p *Packet) string {
	if p.TSSource != TSUnknown && p.TSSource != w.fileTS[p.Interface] {
		return p.TSSource.comment()
	}
	return ""
}

// epbLen is the length of p's enhanced packet block.
func (w *Writer) epbLen(p Packet) int {
	optLen := 0
	if c := w.comment(&p); c != "" {
		optLen += 4 + len(c) + pad4(len(c))
	}
	if p.Direction != DirUnknown {
		optLen += 8
	}
	if optLen > 0 {
		optLen += 4 // opt_endofopt
	}
	return 28 + len(p.Data) + pad4(len(p.Data)) + optLen + 4
}

// appendEPBHead appends the block's fixed header, up to the data.
func (w *Writer) appendEPBHead(b []byte, p Packet, blockLen int) []byte {
	length := max(p.Length, len(p.Data))
	ts := p.Timestamp.UnixNano() // the IDBs say nanosecond resolution
	le := binary.LittleEndian
	b = le.AppendUint32(b, blockTypeEPB)
	b = le.AppendUint32(b, uint32(blockLen))
	b = le.AppendUint32(b, uint32(p.Interface))
	b = le.AppendUint32(b, uint32(uint64(ts)>>32))
	b = le.AppendUint32(b, uint32(ts))
	b = le.AppendUint32(b, uint32(len(p.Data)))
	return le.AppendUint32(b, uint32(length))
}

// appendEPBTail appends what follows the data: padding, options and the
// trailing length.
func (w *Writer) appendEPBTail(b []byte, p Packet, blockLen int) []byte {
	le := binary.LittleEndian
	b = append(b, zeros[:pad4(len(p.Data))]...)
	comment := w.comment(&p)
	if comment != "" {
		b = le.AppendUint16(b, optComment)
		b = le.AppendUint16(b, uint16(len(comment)))
		b = append(b, comment...)
		b = append(b, zeros[:pad4(len(comment))]...)
	}
	if p.Direction != DirUnknown {
		b = le.AppendUint16(b, optEPBFlags)
		b = le.AppendUint16(b, 4)
		b = le.AppendUint32(b, uint32(p.Direction)&3)
	}
	if comment != "" || p.Direction != DirUnknown {
		b = le.AppendUint32(b, 0) // opt_endofopt
	}
	return le.AppendUint32(b, uint32(blockLen))
}

// Tick flushes and starts a new file if the current one has reached its
// age limit, so time rotation happens on quiet links too. Call it
// periodically (about once a second).
func (w *Writer) Tick() error {
	if w.closedErr != nil {
		return w.closedErr
	}
	if w.opt.RotateTime > 0 && w.now().Sub(w.opened) >= w.opt.RotateTime && w.stats.Packets > w.packetsAtOpen {
		return w.Rotate()
	}
	return w.flushChunk()
}

// Flush writes the whole blocks gathered so far to the file. Call it
// periodically (the FlushInterval of the caller) to bound what a crash loses.
func (w *Writer) Flush() error {
	if w.closedErr != nil {
		return w.closedErr
	}
	return w.flushChunk()
}

func (w *Writer) flushChunk() error {
	if err := w.bw.Flush(); err != nil {
		return fmt.Errorf("pcapng: write %s: %w", w.name, err)
	}
	return nil
}

// chunkEncoder makes a chunk of whole blocks one self-contained zstd frame
// or gzip member: the writer's chunks, and the repair's salvaged tail.
type chunkEncoder struct {
	c    Compression
	zenc *zstd.Encoder
	gz   *gzip.Writer
	buf  bytes.Buffer // gzip scratch
	zbuf []byte       // zstd scratch
}

func newChunkEncoder(c Compression) (*chunkEncoder, error) {
	e := &chunkEncoder{c: c}
	var err error
	switch c {
	case CompressZstd:
		if e.zenc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1)); err != nil {
			return nil, fmt.Errorf("pcapng: zstd: %w", err)
		}
	case CompressGzip:
		if e.gz, err = gzip.NewWriterLevel(io.Discard, gzip.BestSpeed); err != nil {
			return nil, fmt.Errorf("pcapng: gzip: %w", err)
		}
	default:
		return nil, fmt.Errorf("pcapng: no chunk encoder for %q", c)
	}
	return e, nil
}

// encode returns p compressed; the result is valid until the next call.
func (e *chunkEncoder) encode(p []byte) ([]byte, error) {
	if e.zenc != nil {
		e.zbuf = e.zenc.EncodeAll(p, e.zbuf[:0])
		return e.zbuf, nil
	}
	e.buf.Reset()
	e.gz.Reset(&e.buf)
	if _, err := e.gz.Write(p); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := e.gz.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return e.buf.Bytes(), nil
}

func (e *chunkEncoder) close() {
	if e.zenc != nil {
		e.zenc.Close()
	}
}

// chunkSink receives whole-block chunks from bw and writes each with one
// write(2): raw, or as one self-contained zstd frame or gzip member.
type chunkSink struct{ w *Writer }

func (c chunkSink) Write(p []byte) (int, error) {
	w := c.w
	out := p
	if w.enc != nil {
		var err error
		if out, err = w.enc.encode(p); err != nil {
			return 0, err
		}
	}
	n, err := w.f.Write(out)
	w.onDisk += int64(n)
	if err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *Writer) maybeRotate() error {
	if !w.rotateDue(0) {
		return nil
	}
	return w.Rotate()
}

// Rotate closes the current file and opens the next one.
func (w *Writer) Rotate() error {
	if err := w.closeFile(); err != nil {
		return err
	}
	return w.openFile()
}

func (w *Writer) closeFile() error {
	err := w.flushChunk()
	if cerr := w.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("pcapng: close %s: %w", w.name, cerr)
	}
	if merr := w.dropMarker(w.mark, markerName(filepath.Base(w.name))); err == nil {
		err = merr
	}
	return err
}

// prune removes the oldest files beyond the keep count.
func (w *Writer) prune() error {
	if w.opt.Keep <= 0 {
		return nil
	}
	for len(w.files) > w.opt.Keep {
		if err := w.remove(filepath.Base(w.files[0])); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("pcapng: keep: %w", err)
		}
		w.files = w.files[1:]
	}
	return nil
}

// SetTSSource changes the timestamp source recorded for interface i in the
// files opened from now on (a port's source may only be known once frames
// flow). Until then packets whose source differs carry it in a comment.
func (w *Writer) SetTSSource(i int, src TimestampSource) {
	if i >= 0 && i < len(w.opt.Interfaces) {
		w.opt.Interfaces[i].TSSource = src
	}
}

// Stats returns the counters.
func (w *Writer) Stats() Stats { return w.stats }

// Files returns the files this writer made that are still on disk, oldest first.
func (w *Writer) Files() []string { return append([]string(nil), w.files...) }

// Close writes what is pending and closes the current file.
func (w *Writer) Close() error {
	if w.closedErr != nil {
		return nil
	}
	w.closedErr = errors.New("pcapng: writer closed")
	err := w.closeFile()
	if w.enc != nil {
		w.enc.close()
	}
	if w.opt.DirRoot != nil {
		w.opt.DirRoot.Close()
	}
	return err
}

// ListFiles returns the capture files with the prefix in dir, in name
// (therefore sequence) order.
func ListFiles(dir, prefix string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if !e.IsDir() && strings.HasPrefix(e.Name(), prefix+"-") && strings.Contains(e.Name(), ".pcapng") {
			out = append(out, filepath.Join(dir, e.Name()))
		}
	}
	sort.Strings(out)
	return out, nil
}
