package stats

import (
	"fmt"
	"net/netip"
	"slices"
	"testing"
)

// TestTablesBounded: full tables delete their least recently used
// entries to make room, count the inserts and deletes, keep
// hostCreationOrder contiguous, and never count into a deleted entry.
func TestTablesBounded(t *testing.T) {
	p := NewPort(4, 3)
	ip := func(src, dst byte) Frame {
		return ipFrame(src, dst, fmt.Sprintf("10.0.0.%d", src), fmt.Sprintf("10.0.0.%d", dst), 6, 100)
	}
	// Hosts 1..4 fill the host tables (pairs 1->2, 3->4 and 2->1).
	p.Count([]Frame{ip(1, 2), ip(3, 4), ip(2, 1)})
	// 1 is used again, then 5 and 6 come: 3 and 4 are the least recently
	// used (2 was used after them, as 1's peer).
	p.Count([]Frame{ip(1, 2)})
	p.Count([]Frame{ip(5, 6)})
	s, n := p.Snapshot(), p.NetSnapshot()
	var macs []byte
	for i, h := range s.Hosts {
		if h.Order != i+1 {
			t.Errorf("host %d has hostCreationOrder %d", i, h.Order)
		}
		macs = append(macs, h.MAC[0])
	}
	if !slices.Equal(macs, []byte{1, 2, 5, 6}) {
		t.Errorf("hosts by creation %v, want [1 2 5 6]", macs)
	}
	if s.HostTable.Inserts != 6 || s.HostTable.Deletes != 2 || s.HostTable.LastDelete == 0 || s.HostTable.Dropped != 0 {
		t.Errorf("host table %+v", s.HostTable)
	}
	if h := s.Hosts[0]; h.OutPkts != 2 || h.InPkts != 1 {
		t.Errorf("host 1 %+v", h)
	}
	var addrs []string
	for _, h := range n.Hosts {
		addrs = append(addrs, h.Addr.String())
	}
	if !slices.Equal(addrs, []string{"10.0.0.6", "10.0.0.5", "10.0.0.2", "10.0.0.1"}) {
		t.Errorf("nl hosts by recency %v", addrs)
	}
	// 3 and 4 each had ip and tcp; 3 was a source (an addressMap entry).
	if n.HostTable.Inserts != 6 || n.HostTable.Deletes != 2 || n.AlHostTable.Inserts != 12 || n.AlHostTable.Deletes != 4 || n.MACDeletes != 1 {
		t.Errorf("nl host tables %+v %+v, %d mappings deleted", n.HostTable, n.AlHostTable, n.MACDeletes)
	}
	// Pairs (3 at most): 3->4 went for 5->6.
	if len(s.Pairs) != 3 || s.PairTable.Inserts != 4 || s.PairTable.Deletes != 1 {
		t.Errorf("matrix %+v %+v", s.Pairs, s.PairTable)
	}
	if len(n.Pairs) != 3 || n.Pairs[0].Src != netip.MustParseAddr("10.0.0.5") || n.PairTable.Inserts != 4 || n.PairTable.Deletes != 1 ||
		n.AlPairTable.Inserts != 8 || n.AlPairTable.Deletes != 2 {
		t.Errorf("nl matrix %+v %+v %+v", n.Pairs, n.PairTable, n.AlPairTable)
	}
}

// TestTablesBoundedCache: the entries a frame used last are tried first
// for the next; one deleted since is not counted into.
func TestTablesBoundedCache(t *testing.T) {
	p := NewPort(1, 1)
	// Each frame's destination pushes out its source.
	p.Count([]Frame{ipFrame(2, 4, "10.0.0.2", "10.0.0.4", 6, 100), ipFrame(2, 4, "10.0.0.2", "10.0.0.4", 6, 100)})
	s, n := p.Snapshot(), p.NetSnapshot()
	if len(s.Hosts) != 1 || s.Hosts[0].MAC[0] != 4 || s.Hosts[0].InPkts != 1 || s.HostTable.Inserts != 4 || s.HostTable.Deletes != 3 {
		t.Errorf("hosts %+v, table %+v", s.Hosts, s.HostTable)
	}
	if len(n.Hosts) != 1 || n.Hosts[0].InPkts != 1 || n.HostTable.Inserts != 4 || n.HostTable.Deletes != 3 {
		t.Errorf("nl hosts %+v, table %+v", n.Hosts, n.HostTable)
	}
	if len(s.Pairs) != 1 || s.Pairs[0].Pkts != 2 || s.PairTable.Inserts != 1 {
		t.Errorf("matrix %+v %+v", s.Pairs, s.PairTable)
	}
}

// TestTablesBoundedZero: a limit of 0 holds nothing and counts the
// frames it could not.
func TestTablesBoundedZero(t *testing.T) {
	p := NewPort(0, 0)
	p.Count([]Frame{ipFrame(1, 2, "10.0.0.1", "10.0.0.2", 6, 100)})
	s, n := p.Snapshot(), p.NetSnapshot()
	if len(s.Hosts)+len(s.Pairs)+len(n.Hosts)+len(n.Pairs) != 0 || s.HostTable.Dropped != 2 || s.PairTable.Dropped != 1 ||
		n.HostTable.Dropped != 2 || n.PairTable.Dropped != 1 {
		t.Errorf("%+v %+v", s, n)
	}
}

// BenchmarkCountChurn counts frames from ever new addresses into full
// tables: every frame deletes entries.
func BenchmarkCountChurn(b *testing.B) {
	p := NewPort(1024, 1024)
	batch := make([]Frame, 256)
	for i := range batch {
		batch[i] = ipFrame(byte(i), byte(i+1), fmt.Sprintf("10.0.%d.%d", i/200, i%200), "10.1.0.1", 6, 100)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j := range batch {
			batch[j].Data[14+14] = byte(i) // a new /24 each round
		}
		p.Count(batch)
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "frames/s")
}

// TestTablesBoundedSlack: in a larger table an entry used again goes
// back to the front once it has drifted more than a sixteenth of the
// table from it; the next deleted is the least recently used.
func TestTablesBoundedSlack(t *testing.T) {
	p := NewPort(64, 64)
	var fs []Frame
	for i := range 64 {
		fs = append(fs, frame(2, byte(2*i+2), 64)) // hosts 2, 4, ..., 128 sending to 2
	}
	p.Count(fs)
	p.Count([]Frame{frame(2, 4, 64), frame(2, 200, 64)}) // 4 used again, then a new host
	var gone []byte
	have := map[byte]bool{}
	for _, h := range p.Snapshot().Hosts {
		have[h.MAC[0]] = true
	}
	for i := range 64 {
		if m := byte(2*i + 2); !have[m] {
			gone = append(gone, m)
		}
	}
	if !slices.Equal(gone, []byte{6}) || !have[200] {
		t.Errorf("deleted %v, want [6] (4 was used again, 2 is every frame's destination)", gone)
	}
}
