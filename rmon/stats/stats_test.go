package stats

import "testing"

func frame(dst, src byte, size int) Frame {
	d := make([]byte, size)
	for i := 0; i < 6; i++ {
		d[i], d[6+i] = dst, src
	}
	d[0] &^= 0 // keep dst as given
	return Frame{Data: d, WireLen: size}
}

func TestCount(t *testing.T) {
	p := NewPort(10, 10)
	p.Count([]Frame{
		frame(0x02, 0x04, 60), frame(0x02, 0x04, 100), frame(0xff, 0x04, 60), frame(0x01, 0x06, 1514),
		frame(0x02, 0x04, 40), frame(0x02, 0x06, 2000),
	})
	s := p.Snapshot()
	e := s.Ether
	want := Ether{Pkts: 6, Octets: 64 + 104 + 64 + 1518 + 44 + 2004, Broadcast: 1, Multicast: 1, Undersize: 1, Oversize: 1,
		Pkts64: 2, Pkts65to127: 1, Pkts1024to1518: 1}
	if e != want {
		t.Errorf("ether %+v\nwant  %+v", e, want)
	}
	if len(s.Hosts) != 5 || s.Hosts[0].MAC[0] != 0x04 || s.Hosts[0].OutPkts != 4 || s.Hosts[0].OutErrors != 1 {
		t.Errorf("hosts %+v", s.Hosts)
	}
	if len(s.Pairs) != 3 {
		t.Errorf("pairs %+v", s.Pairs)
	}
}

func BenchmarkCount(b *testing.B) {
	p := NewPort(4096, 16384)
	batch := make([]Frame, 256)
	for i := range batch {
		batch[i] = frame(byte(2+i%8), byte(2+i%3), 60)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Count(batch)
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "frames/s")
}

func TestProtocols(t *testing.T) {
	p := NewPort(10, 10)
	tcp4 := frame(2, 4, 60)
	tcp4.Data[12], tcp4.Data[13], tcp4.Data[14+9] = 0x08, 0x00, 6
	udp6 := frame(2, 4, 100)
	udp6.Data[12], udp6.Data[13], udp6.Data[14+6] = 0x86, 0xdd, 17
	arp := frame(0xff, 4, 60)
	arp.Data[12], arp.Data[13] = 0x08, 0x06
	short := frame(2, 4, 40) // undersize: not counted
	short.Data[12], short.Data[13] = 0x08, 0x00
	p.Count([]Frame{tcp4, tcp4, udp6, arp, short})
	got := p.Protocols()
	want := map[int]Counter{ProtoEther2: {4, 64*3 + 104}, ProtoIP: {2, 128}, ProtoIPTCP: {2, 128}, ProtoIPv6: {1, 104},
		ProtoIPv6UDP: {1, 104}, ProtoARP: {1, 64}}
	for i := 0; i < NumProtos; i++ {
		if got[i] != want[i] {
			t.Errorf("protocol %d: %+v, want %+v", i, got[i], want[i])
		}
	}
}

// BenchmarkCountIP counts TCP/IPv4 frames among 8 hosts: the
// etherStats, host, matrix and protocol counters and (since issue 13's
// RMON2 tables) the network-layer ones.
func BenchmarkCountIP(b *testing.B) {
	p := NewPort(4096, 16384)
	batch := make([]Frame, 256)
	for i := range batch {
		f := frame(byte(2+i%8), byte(2+i%3), 60)
		f.Data[12], f.Data[13], f.Data[14], f.Data[14+9] = 0x08, 0x00, 0x45, 6
		f.Data[14+15], f.Data[14+19] = byte(2+i%3), byte(2+i%8) // 0.0.0.x addresses
		batch[i] = f
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p.Count(batch)
	}
	b.ReportMetric(float64(b.N*len(batch))/b.Elapsed().Seconds(), "frames/s")
}
