package pcapng

import (
	"fmt"
	"testing"
)

func BenchmarkWritePacket(b *testing.B) {
	for _, size := range []int{64, 1514} {
		for _, comp := range []Compression{CompressNone, CompressZstd, CompressGzip} {
			b.Run(fmt.Sprintf("%d/%s", size, comp), func(b *testing.B) {
				w, err := NewWriter(Options{Dir: b.TempDir(), Interfaces: twoPorts()[:1], Compress: comp})
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				data := benchFrame(size)
				ts := base
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					ts = ts.Add(100)
					if err := w.WritePacket(Packet{Timestamp: ts, Data: data, Direction: DirInbound, TSSource: TSKernel}); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkWritePackets writes batches of 1024 frames that lie 2 KiB
// apart, as in the pool, through WritePackets (writev of references
// when uncompressed).
func BenchmarkWritePackets(b *testing.B) {
	const batch, stride = 1024, 2048
	for _, size := range []int{64, 1514} {
		for _, comp := range []Compression{CompressNone, CompressZstd, CompressGzip} {
			b.Run(fmt.Sprintf("%d/%s", size, comp), func(b *testing.B) {
				w, err := NewWriter(Options{Dir: b.TempDir(), Interfaces: twoPorts()[:1], Compress: comp, RotateSize: 1 << 30})
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				pool := make([]byte, batch*stride)
				frame := benchFrame(size)
				ps := make([]Packet, batch)
				ts := base
				for i := range ps {
					copy(pool[i*stride:], frame)
					ps[i] = Packet{Data: pool[i*stride : i*stride+size], Direction: DirInbound, TSSource: TSKernel}
				}
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for i := 0; i < b.N; i += batch {
					k := min(batch, b.N-i)
					for j := range ps[:k] {
						ts = ts.Add(100)
						ps[j].Timestamp = ts
					}
					if _, err := w.WritePackets(ps[:k]); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// benchFrame is a frame of size bytes that compresses like traffic with
// varied payloads rather than zeros.
func benchFrame(size int) []byte {
	data := make([]byte, size)
	x := uint32(2463534242)
	for i := range data {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		data[i] = byte(x)
		if i%4 == 0 {
			data[i] = 0 // some redundancy, as in headers
		}
	}
	return data
}
