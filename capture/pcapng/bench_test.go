package pcapng

import (
	"testing"
	"time"
)

func BenchmarkWritePacket(b *testing.B) {
	for _, size := range []int{64, 1514} {
		b.Run(time.Duration(size).String(), func(b *testing.B) {
			w, err := NewWriter(Options{Dir: b.TempDir(), Interfaces: twoPorts()[:1]})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			data := make([]byte, size)
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
