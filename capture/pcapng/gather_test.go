package pcapng

import (
	"bytes"
	"fmt"
	"os"
	"testing"
	"time"
)

// gatherSample is n packets of every size class WritePackets treats
// differently (copied below copyBelow, referenced from it up, each
// padding), from both ports, with and without direction and comment,
// laid out 2 KiB apart in one buffer as in the pool.
func gatherSample(n int) (pool []byte, ps []Packet) {
	const stride = 2048
	pool = make([]byte, n*stride)
	sizes := []int{0, 1, 60, 64, copyBelow - 1, copyBelow, copyBelow + 1, 1023, 1514, 2000}
	for i := 0; i < n; i++ {
		size := sizes[i%len(sizes)]
		data := pool[i*stride : i*stride+size]
		for j := range data {
			data[j] = byte(i*7 + j)
		}
		p := Packet{Interface: i % 2, Timestamp: base.Add(time.Duration(i) * 997), Data: data, Length: size + i%3, Direction: Direction(i % 3)}
		if i%5 != 4 {
			p.TSSource = TSSoftware // a comment while the ports' IDBs name other clocks
		}
		ps = append(ps, p)
	}
	return pool, ps
}

// TestWritePacketsMatchesWritePacket: the writev path writes the same
// bytes as the chunked one, file for file, across batch sizes that split
// at the chunk size, at IOV_MAX and at size rotation; and the data may
// be overwritten as soon as WritePackets returns (the frames go back to
// the pool).
func TestWritePacketsMatchesWritePacket(t *testing.T) {
	const n = 3000
	for _, tc := range []struct {
		batch, chunk int
		rotate       int64
	}{
		{batch: 1, chunk: 0},
		{batch: 1024, chunk: 8 << 20}, // one batch spans IOV_MAX
		{batch: 700, chunk: 16 << 10},
		{batch: 333, chunk: 64 << 10, rotate: 200 << 10},
	} {
		t.Run(fmt.Sprintf("batch%d-chunk%d-rotate%d", tc.batch, tc.chunk, tc.rotate), func(t *testing.T) {
			write := func(dir string, gather bool) [][]byte {
				_, ps := gatherSample(n)
				clock := base
				w, err := NewWriter(Options{Dir: dir, Prefix: "g", Interfaces: twoPorts(), ChunkSize: tc.chunk, RotateSize: tc.rotate,
					Now: func() time.Time { clock = clock.Add(time.Millisecond); return clock }})
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < n; i += tc.batch {
					if i >= n/2 && i < n/2+tc.batch {
						// The port's clock becomes known: files opened
						// from now on name it, and its packets lose the
						// comment (the block length changes at rotation).
						w.SetTSSource(0, TSSoftware)
						w.SetTSSource(1, TSSoftware)
					}
					batch := ps[i:min(i+tc.batch, n)]
					if gather {
						if k, err := w.WritePackets(batch); err != nil || k != len(batch) {
							t.Fatalf("WritePackets: %d of %d: %v", k, len(batch), err)
						}
						// The pool reuses the frames now.
						for _, p := range batch {
							for j := range p.Data {
								p.Data[j] = 0xee
							}
						}
					} else {
						for _, p := range batch {
							if err := w.WritePacket(p); err != nil {
								t.Fatal(err)
							}
						}
					}
				}
				if err := w.Close(); err != nil {
					t.Fatal(err)
				}
				if st := w.Stats(); st.Packets != n {
					t.Fatalf("stats: %+v", st)
				}
				var out [][]byte
				for _, f := range w.Files() {
					b, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					out = append(out, b)
				}
				return out
			}
			want := write(t.TempDir(), false)
			got := write(t.TempDir(), true)
			if len(got) != len(want) {
				t.Fatalf("WritePackets made %d files, WritePacket %d", len(got), len(want))
			}
			for i := range want {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("file %d differs: %d bytes against %d", i, len(got[i]), len(want[i]))
				}
			}
			t.Logf("%d files, identical", len(got))
		})
	}
}
