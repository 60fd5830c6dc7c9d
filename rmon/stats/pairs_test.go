package stats

import (
	"slices"
	"testing"
)

// TestPairsMerge: counting frames per pair and merging the pairs into a
// port gives the same counters as counting the frames on the port.
func TestPairsMerge(t *testing.T) {
	frames := []Frame{
		frame(0x02, 0x04, 60), frame(0x02, 0x04, 100), frame(0xff, 0x04, 60), frame(0x01, 0x06, 1514),
		frame(0x02, 0x04, 40), frame(0x02, 0x06, 2000), frame(0x04, 0x02, 300), frame(0x08, 0x02, 700),
	}
	frames[1].Data[12], frames[1].Data[13], frames[1].Data[23] = 0x08, 0x00, 6 // TCP/IPv4
	direct := NewPort(10, 10)
	direct.Count(frames)
	pairs := NewPairs(10)
	pairs.Count(frames)
	merged := NewPort(10, 10)
	// Pairs with good frames first: bad frames create no host, as when
	// counted one by one after the good ones that created it.
	for _, goodPass := range []bool{true, false} {
		for k, c := range pairs.Snapshot() {
			if (c.Bad() < c.Pkts) == goodPass {
				merged.AddPair(k.Src, k.Dst, &c)
			}
		}
	}
	a, b := direct.Snapshot(), merged.Snapshot()
	if a.Ether != b.Ether {
		t.Errorf("ether\n%+v\n%+v", a.Ether, b.Ether)
	}
	if direct.Protocols() != merged.Protocols() {
		t.Errorf("protocols\n%+v\n%+v", direct.Protocols(), merged.Protocols())
	}
	norm := func(s Snapshot) ([]Host, []Pair) {
		hs := append([]Host(nil), s.Hosts...)
		for i := range hs {
			hs[i].Order, hs[i].Created = 0, hs[i].Created.Truncate(1<<62)
		}
		slices.SortFunc(hs, func(x, y Host) int { return int(macKey(x.MAC)) - int(macKey(y.MAC)) })
		ps := append([]Pair(nil), s.Pairs...)
		slices.SortFunc(ps, func(x, y Pair) int {
			if c := int(macKey(x.Src)) - int(macKey(y.Src)); c != 0 {
				return c
			}
			return int(macKey(x.Dst)) - int(macKey(y.Dst))
		})
		return hs, ps
	}
	ha, pa := norm(a)
	hb, pb := norm(b)
	if !slices.Equal(ha, hb) {
		t.Errorf("hosts\n%+v\n%+v", ha, hb)
	}
	if !slices.Equal(pa, pb) {
		t.Errorf("pairs\n%+v\n%+v", pa, pb)
	}
	var sum PairCounts
	for _, c := range pairs.Snapshot() {
		sum.Add(&c)
	}
	if d := sum.Sub(&sum); d != (PairCounts{}) {
		t.Errorf("sub: %+v", d)
	}
	if sum.Pkts != uint64(len(frames)) {
		t.Errorf("sum %d", sum.Pkts)
	}
}
