package drmon

import (
	"testing"

	"github.com/wirebox/wirebox/rmon/stats"
)

// BenchmarkCount: the agent's per-frame work on bench/drmon's traffic
// (64-byte IPv4/UDP frames to the host), in batches as the core hands
// them over.
func BenchmarkCount(b *testing.B) {
	a, err := NewAgent(AgentConfig{Key: testKey, MACs: [][6]byte{mac(1)}})
	if err != nil {
		b.Fatal(err)
	}
	f := frame(mac(1), mac(2), 60)
	f[12], f[13], f[14], f[23] = 0x08, 0x00, 0x45, 17
	f[16], f[17] = 0, 46
	batch := make([]stats.Frame, 256)
	ts := make([]int64, 256)
	for i := range batch {
		batch[i] = stats.Frame{Data: f, WireLen: 60}
		ts[i] = int64(i)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i += len(batch) {
		a.Count(batch, ts)
	}
}
