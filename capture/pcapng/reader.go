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
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/klauspost/compress/zstd"
)

// Format is the container format of a file.
type Format string

// Formats the reader understands.
const (
	FormatPcap   Format = "pcap"
	FormatPcapNG Format = "pcapng"
)

// Record is one packet read from a file.
type Record struct {
	Timestamp time.Time
	Data      []byte // valid until the next Next call
	Length    int    // original length on the wire (>= len(Data))
	Interface int
	LinkType  layers.LinkType
	Direction Direction
}

// Reader reads packets from pcap or pcapng, plain or compressed.
type Reader struct {
	Format      Format
	Compression Compression
	// Nanosecond is true when the file's timestamps are nanosecond (pcap
	// with the nanosecond magic, or pcapng with if_tsresol 9); for pcapng
	// it is known once the first packet has been read.
	Nanosecond bool

	pcap   *pcapgo.Reader
	ng     *pcapgo.NgReader
	closer []io.Closer
}

// maxRecord caps a single record; pcapgo itself trusts the file's length.
const maxRecord = 256 << 10

var (
	magicGzip   = []byte{0x1f, 0x8b}
	magicZstd   = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicPcapNG = []byte{0x0a, 0x0d, 0x0d, 0x0a}
)

// ErrFormat is returned for input that is neither pcap nor pcapng.
var ErrFormat = errors.New("not a pcap or pcapng file")

// Open opens a capture file.
func Open(path string) (*Reader, error) {
	f, err := os.Open(path)
	return fileReader(path, f, err)
}

// OpenIn opens the capture file name inside root: a path or symlink
// that leads out of root is refused (os.Root).
func OpenIn(root *os.Root, name string) (*Reader, error) {
	f, err := root.Open(name)
	return fileReader(name, f, err)
}

// fileReader reads the file that opening name gave (f, err); the Reader
// closes it, and so does a failure here.
func fileReader(name string, f *os.File, err error) (*Reader, error) {
	if err != nil {
		return nil, err
	}
	r, err := NewReader(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r.closer = append(r.closer, f)
	return r, nil
}

// compressionOf is the compression a file's first bytes show
// (CompressNone for anything else).
func compressionOf(head []byte) Compression {
	switch {
	case bytes.HasPrefix(head, magicGzip):
		return CompressGzip
	case bytes.HasPrefix(head, magicZstd):
		return CompressZstd
	}
	return CompressNone
}

// NewReader detects compression and format from the first bytes of r.
func NewReader(r io.Reader) (*Reader, error) {
	out := &Reader{Compression: CompressNone}
	br := bufio.NewReaderSize(r, 64<<10)
	head, _ := br.Peek(4)
	var src io.Reader = br
	switch compressionOf(head) {
	case CompressGzip:
		gz, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("gzip: %w", err)
		}
		out.Compression, src = CompressGzip, gz
		out.closer = append(out.closer, gz)
	case CompressZstd:
		zd, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return nil, fmt.Errorf("zstd: %w", err)
		}
		out.Compression, src = CompressZstd, zd
		out.closer = append(out.closer, closerFunc(func() error { zd.Close(); return nil }))
	}
	ib := bufio.NewReaderSize(src, 64<<10)
	head, err := ib.Peek(4)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	switch {
	case bytes.Equal(head, magicPcapNG):
		ng, err := pcapgo.NewNgReader(newGuard(ib, true), pcapgo.NgReaderOptions{WantMixedLinkType: true, SkipUnknownVersion: true})
		if err != nil {
			return nil, fmt.Errorf("pcapng: %w", err)
		}
		out.Format, out.ng = FormatPcapNG, ng

	default:
		magic := binary.LittleEndian.Uint32(head)
		switch magic {
		case 0xa1b2c3d4, 0xd4c3b2a1:
		case 0xa1b23c4d, 0x4d3cb2a1:
			out.Nanosecond = true
		default:
			return nil, fmt.Errorf("%w (magic %#08x)", ErrFormat, magic)
		}
		p, err := pcapgo.NewReader(newGuard(ib, false))
		if err != nil {
			return nil, fmt.Errorf("pcap: %w", err)
		}
		out.Format, out.pcap = FormatPcap, p
	}
	return out, nil
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// LinkType is the link type of the first interface.
func (r *Reader) LinkType() layers.LinkType {
	if r.ng != nil {
		return r.ng.LinkType()
	}
	return r.pcap.LinkType()
}

// InterfaceName returns the name of pcapng interface i ("" if unknown).
func (r *Reader) InterfaceName(i int) string {
	if r.ng == nil {
		return ""
	}
	in, err := r.ng.Interface(i)
	if err != nil {
		return ""
	}
	return in.Name
}

// Next returns the next packet, or io.EOF at the end. A file cut short in
// the middle of a record returns io.ErrUnexpectedEOF.
func (r *Reader) Next() (Record, error) {
	var (
		data []byte
		ci   gopacket.CaptureInfo
		err  error
		rec  Record
	)
	if r.ng != nil {
		var opts pcapgo.NgPacketOptions
		data, ci, opts, err = r.ng.ZeroCopyReadPacketDataWithOptions()
		if err == nil && opts.Flags != nil {
			rec.Direction = Direction(opts.Flags.Direction & pcapgo.NgEpbFlagDirectionMask)
		}
		if err == nil {
			if in, ierr := r.ng.Interface(ci.InterfaceIndex); ierr == nil {
				r.Nanosecond = in.Resolution() == gopacket.TimestampResolutionNanosecond
			}
			rec.LinkType = r.ng.LinkType()
			if len(ci.AncillaryData) > 0 {
				if lt, ok := ci.AncillaryData[0].(layers.LinkType); ok {
					rec.LinkType = lt
				}
			}
		}
	} else {
		data, ci, err = r.pcap.ZeroCopyReadPacketData()
		rec.LinkType = r.pcap.LinkType()
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return Record{}, io.EOF
		}
		return Record{}, err
	}
	if len(data) > maxRecord || ci.Length < 0 {
		return Record{}, fmt.Errorf("record of %d bytes exceeds the %d byte limit", len(data), maxRecord)
	}
	rec.Timestamp, rec.Data, rec.Interface = ci.Timestamp, data, ci.InterfaceIndex
	rec.Length = ci.Length
	if rec.Length < len(data) {
		rec.Length = len(data)
	}
	return rec, nil
}

// Close releases the file and decompressors.
func (r *Reader) Close() error {
	var err error
	for i := len(r.closer) - 1; i >= 0; i-- {
		if e := r.closer[i].Close(); err == nil {
			err = e
		}
	}
	r.closer = nil
	return err
}
