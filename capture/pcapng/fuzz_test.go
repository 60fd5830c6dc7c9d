package pcapng

import (
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/klauspost/compress/zstd"

	"github.com/wirebox/wirebox/internal/pkttest"
)

func FuzzReader(f *testing.F) {
	frame := pkttest.UDP(f, "10.0.0.1", "10.0.0.2", 1, 2, []byte("seed"))
	// Our pcapng, plain and compressed.
	for _, c := range []Compression{CompressNone, CompressGzip, CompressZstd} {
		dir := f.TempDir()
		w, err := NewWriter(Options{Dir: dir, Interfaces: twoPorts(), Compress: c})
		if err != nil {
			f.Fatal(err)
		}
		for i := 0; i < 3; i++ {
			w.WritePacket(Packet{Interface: i % 2, Timestamp: base, Data: frame, Direction: DirInbound})
		}
		w.Close()
		b, _ := os.ReadFile(w.Files()[0])
		f.Add(b)
	}
	// pcap, microsecond and nanosecond, both byte orders' magic.
	for _, nano := range []bool{false, true} {
		var buf bytes.Buffer
		var pw *pcapgo.Writer
		if nano {
			pw = pcapgo.NewWriterNanos(&buf)
		} else {
			pw = pcapgo.NewWriter(&buf)
		}
		pw.WriteFileHeader(65535, layers.LinkTypeEthernet)
		pw.WritePacket(ciFor(frame), frame)
		f.Add(buf.Bytes())
		var gz bytes.Buffer
		zw := gzip.NewWriter(&gz)
		zw.Write(buf.Bytes())
		zw.Close()
		f.Add(gz.Bytes())
		enc, _ := zstd.NewWriter(nil)
		f.Add(enc.EncodeAll(buf.Bytes(), nil))
	}
	f.Add([]byte{0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0})
	f.Add([]byte{0x0a, 0x0d, 0x0d, 0x0a, 0xff, 0xff, 0xff, 0x7f})
	// Any files committed under testdata (e.g. dumpcap captures) too.
	if ms, _ := filepath.Glob("testdata/*.pcap*"); len(ms) > 0 {
		for _, m := range ms {
			if b, err := os.ReadFile(m); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := NewReader(bytes.NewReader(in))
		if err != nil {
			return
		}
		defer r.Close()
		for i := 0; i < 1000; i++ {
			rec, err := r.Next()
			if err != nil {
				return
			}
			if rec.Length < len(rec.Data) {
				t.Fatalf("record length %d < captured %d", rec.Length, len(rec.Data))
			}
		}
	})
}

func ciFor(frame []byte) (ci gopacket.CaptureInfo) {
	ci.Timestamp = base.Add(time.Nanosecond)
	ci.CaptureLength, ci.Length = len(frame), len(frame)
	return ci
}
