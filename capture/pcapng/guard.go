package pcapng

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Limits the reader applies before it allocates: pcapgo sizes its buffer
// from a record's length field, so a file (1 MB of gzip) that claims a
// 1 GiB record made it read a gigabyte before our check could run. The
// guard below sits under pcapgo and refuses such a length as soon as the
// record's header is read.
const (
	// maxSnapLen is the largest snap length a pcap file may declare.
	// libpcap's own maximum is 256 KiB for Ethernet (a few link types go
	// to 1 MiB); 0xFFFFFFFF is a corrupt or hostile header.
	maxSnapLen = 1 << 20
	// maxBlock bounds a pcapng block: one record plus its options.
	maxBlock = maxRecord + 64<<10
)

// ErrTooLarge is returned for a record or block whose length field is
// beyond the reader's limits.
var ErrTooLarge = errors.New("record too large")

// guard passes a pcap or pcapng stream through, checking each record's or
// block's length field before the bytes behind it are asked for.
type guard struct {
	r     io.Reader
	ng    bool
	order binary.ByteOrder
	n     int    // headers read so far (0: the file header is next)
	hdr   []byte // header bytes read, not yet passed on (in buf)
	buf   [24]byte
	body  int64 // bytes to pass on before the next header
	err   error
}

func newGuard(r io.Reader, ng bool) *guard { return &guard{r: r, ng: ng} }

func (g *guard) Read(p []byte) (int, error) {
	for len(g.hdr) == 0 && g.body == 0 {
		if g.err != nil {
			return 0, g.err
		}
		g.err = g.next()
	}
	if len(g.hdr) > 0 {
		n := copy(p, g.hdr)
		g.hdr = g.hdr[n:]
		return n, nil
	}
	if int64(len(p)) > g.body {
		p = p[:g.body]
	}
	n, err := g.r.Read(p)
	g.body -= int64(n)
	if err == io.EOF && g.body > 0 {
		g.body = 0 // pcapgo sees the record cut short
	}
	return n, err
}

// readHeader reads n bytes into g.hdr; a short read leaves what was read
// there to be passed on (pcapgo then reports the truncation itself).
func (g *guard) readHeader(n int) error {
	k, err := io.ReadFull(g.r, g.buf[:n])
	g.hdr = g.buf[:k]
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	return err
}

func (g *guard) next() error {
	defer func() { g.n++ }()
	if !g.ng {
		return g.nextPcap()
	}
	return g.nextNG()
}

func (g *guard) nextPcap() error {
	if g.n == 0 {
		if err := g.readHeader(24); err != nil {
			return err
		}
		switch binary.LittleEndian.Uint32(g.hdr) {
		case 0xa1b2c3d4, 0xa1b23c4d:
			g.order = binary.LittleEndian
		default:
			g.order = binary.BigEndian
		}
		if snap := g.order.Uint32(g.hdr[16:]); snap > maxSnapLen {
			g.hdr = nil
			return fmt.Errorf("%w: the pcap header's snap length %d is beyond %d; the file is corrupt", ErrTooLarge, snap, maxSnapLen)
		}
		return nil
	}
	if err := g.readHeader(16); err != nil {
		return err
	}
	incl := g.order.Uint32(g.hdr[8:])
	if incl > maxRecord {
		g.hdr = nil
		return fmt.Errorf("%w: record %d claims %d bytes, beyond the %d byte limit", ErrTooLarge, g.n, incl, maxRecord)
	}
	g.body = int64(incl)
	return nil
}

func (g *guard) nextNG() error {
	// Every block: type, total length, body, total length again. A
	// section header block says the byte order (at offset 8) of its
	// section.
	if err := g.readHeader(8); err != nil {
		return err
	}
	if binary.LittleEndian.Uint32(g.hdr) == 0x0a0d0d0a {
		more := g.buf[8:12]
		k, err := io.ReadFull(g.r, more)
		g.hdr = g.buf[:8+k]
		if err != nil {
			return io.EOF
		}
		if binary.LittleEndian.Uint32(more) == 0x1a2b3c4d {
			g.order = binary.LittleEndian
		} else {
			g.order = binary.BigEndian
		}
	}
	if g.order == nil {
		g.order = binary.LittleEndian // pcapgo refuses the file first
	}
	total := g.order.Uint32(g.hdr[4:])
	if total > maxBlock {
		g.hdr = nil
		return fmt.Errorf("%w: block %d claims %d bytes, beyond the %d byte limit", ErrTooLarge, g.n+1, total, maxBlock)
	}
	if total < uint32(len(g.hdr)) {
		g.body = 0 // pcapgo refuses the length itself
		return nil
	}
	g.body = int64(total) - int64(len(g.hdr))
	return nil
}
