package pcapng

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
)

// bomb is a gzip file: a pcap (or pcapng) header, one record claiming 1
// GiB, and 16 MiB of zeros behind it (16 KB compressed).
func bomb(t *testing.T, ng bool, snap uint32) []byte {
	t.Helper()
	var raw bytes.Buffer
	le := binary.LittleEndian
	if ng {
		// Section header block (28 bytes), interface description (20).
		for _, v := range []uint32{0x0a0d0d0a, 28, 0x1a2b3c4d, 1, 0xffffffff, 0xffffffff, 28} {
			binary.Write(&raw, le, v)
		}
		for _, v := range []uint32{1, 20, 1, snap, 20} {
			binary.Write(&raw, le, v)
		}
		// Enhanced packet block claiming 1 GiB.
		for _, v := range []uint32{6, 1 << 30, 0, 0, 0, 1<<30 - 32, 1<<30 - 32} {
			binary.Write(&raw, le, v)
		}
	} else {
		for _, v := range []any{uint32(0xa1b2c3d4), uint16(2), uint16(4), int32(0), uint32(0), snap, uint32(1)} {
			binary.Write(&raw, le, v)
		}
		for _, v := range []uint32{1700000000, 0, 1 << 30, 1 << 30} {
			binary.Write(&raw, le, v)
		}
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(raw.Bytes())
	zw.Write(make([]byte, 16<<20))
	zw.Close()
	return gz.Bytes()
}

// TestLengthsCheckedBeforeAllocating: a record or block claiming 1 GiB,
// or a snap length of 0xFFFFFFFF, is refused with ErrTooLarge before the
// reader allocates for it (it used to read the whole claimed length first:
// 4 GB of RSS for a 1 MB file).
func TestLengthsCheckedBeforeAllocating(t *testing.T) {
	for _, c := range []struct {
		name string
		ng   bool
		snap uint32
	}{
		{"pcap snaplen 0xFFFFFFFF", false, 0xffffffff},
		{"pcap 1 GiB record", false, 262144},
		{"pcapng 1 GiB block", true, 0},
		{"pcapng 1 GiB block, snaplen 0xFFFFFFFF", true, 0xffffffff},
	} {
		b := bomb(t, c.ng, c.snap)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		r, err := NewReader(bytes.NewReader(b))
		if err == nil {
			_, err = r.Next()
			r.Close()
		}
		runtime.ReadMemStats(&after)
		if !errors.Is(err, ErrTooLarge) {
			t.Errorf("%s (%d bytes of gzip): %v, want ErrTooLarge", c.name, len(b), err)
		}
		// The decompressors' windows and buffers, not the claimed length.
		if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
			t.Errorf("%s: %d MB allocated", c.name, alloc>>20)
		}
		t.Logf("%s: %v", c.name, err)
	}
}

// TestGuardPassesRealFiles: the guard hands our own files through
// unchanged, record after record, to the end.
func TestGuardPassesRealFiles(t *testing.T) {
	for _, c := range []Compression{CompressNone, CompressGzip} {
		dir := t.TempDir()
		w, err := NewWriter(Options{Dir: dir, Interfaces: twoPorts(), Compress: c})
		if err != nil {
			t.Fatal(err)
		}
		frame := make([]byte, 9000)
		for i := 0; i < 500; i++ {
			frame[0] = byte(i)
			if err := w.WritePacket(Packet{Interface: i % 2, Timestamp: base, Data: frame[:60+i*17], Direction: DirInbound}); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		r, err := Open(w.Files()[0])
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for ; ; n++ {
			rec, err := r.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("record %d: %v", n, err)
			}
			if len(rec.Data) != 60+n*17 || rec.Data[0] != byte(n) {
				t.Fatalf("record %d: %d bytes", n, len(rec.Data))
			}
		}
		r.Close()
		if n != 500 {
			t.Fatalf("%d records", n)
		}
	}
}
