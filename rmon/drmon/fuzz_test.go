package drmon

import (
	"context"
	"net"
	"net/netip"
	"sync"
	"testing"

	"github.com/wirebox/wirebox/rmon/stats"
)

// FuzzDecode feeds the proxy's and agent's decoder: framing, HMAC and
// every body type. The corpus is messages as agents and proxies send them:
// f.Add below, and testdata/fuzz/FuzzDecode: datagrams captured with
// tcpdump on loopback while TestMergeLoopback and TestHierarchy ran, and
// (v2-type*) while TestChannelsPushed ran: version-2 Hellos, Polls,
// Reports with matches, Configs and Captures.
func FuzzDecode(f *testing.F) {
	c := stats.PairCounts{}
	c.CountFrame(frame(mac(2), mac(1), 100), 100)
	f.Add(Encode(testKey, Header{Type: TypeDiscover, Sender: 1, Boot: 2, Seq: 3, Time: 4}, EncodeDiscover(Discover{MaxDelayMs: 1000})))
	f.Add(Encode(testKey, Header{Type: TypeHello, Sender: 5, Boot: 6, Seq: 1, Time: 9}, EncodeHello(Hello{Name: "h1", MACs: [][6]byte{mac(1), mac(3)}})))
	f.Add(Encode(testKey, Header{Type: TypePoll, Sender: 1, Boot: 2, Seq: 4, Time: 50000000}, EncodePoll(Poll{AckBoot: 6, AckSeq: 2, RTT: 1234, MaxDelayMs: 1000})))
	f.Add(Encode(testKey, Header{Type: TypeReport, Sender: 5, Boot: 6, Seq: 3, Time: 51000000}, EncodeReport(Report{PollBoot: 2, PollSeq: 4, PollTime: 50000000,
		Hold: 3000, Latency: 600, BaseSeq: 2, Name: "h1", MACs: [][6]byte{mac(1)},
		Pairs:     []PairDelta{{Src: mac(1), Dst: mac(2), C: c}},
		Responses: []Response{{Server: netip.MustParseAddrPort("10.0.0.2:80"), Client: netip.MustParseAddr("10.0.0.1"), Observer: ObserverClient, RespCount: 1, RespSum: 200000}}})))
	f.Add(Encode(testKey, Header{Type: TypeConfig, Sender: 1, Boot: 2, Seq: 5, Time: 50000100}, EncodeConfig(Config{Gen: 1, Instrumented: [][6]byte{mac(1), mac(2)},
		Channels: []Channel{{Index: 1, Accept: AcceptMatched, Capture: true, Slice: 64, Filters: []stats.Filter{
			{Offset: 12, Data: []byte{8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, Mask: []byte{0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff}}}}},
		Histories: []History{{Index: 1, Interval: 10_000_000, Start: 49000000}}})))
	f.Add(Encode(testKey, Header{Type: TypeReport, Sender: 5, Boot: 6, Seq: 7, Time: 61000000}, EncodeReport(Report{PollBoot: 2, PollSeq: 6, PollTime: 60000000,
		Name: "h1", MACs: [][6]byte{mac(1)}, ConfigGen: 1, Matches: []ChannelCount{{Channel: 1, Count: 3}},
		Buckets: []Bucket{{History: 1, Sample: 1, C: c}}})))
	f.Add(Encode(testKey, Header{Type: TypeCapture, Sender: 5, Boot: 6, Seq: 4, Time: 51000100}, EncodeCapture(Capture{ProxyBoot: 2, Gen: 1,
		Packets: []Packet{{Channel: 1, Time: 50999000, WireLen: 98, Data: frame(mac(2), mac(1), 64)}}})))
	sink, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	defer sink.Close()
	from := sink.LocalAddr()
	f.Fuzz(func(t *testing.T, b []byte) {
		h, body, err := Decode(testKey, b)
		if err != nil {
			// An unauthenticated message: the body parsers still must not
			// panic on whatever it holds.
			if len(b) > HeaderLen {
				body = b[HeaderLen:]
			}
		}
		DecodeDiscover(body)
		DecodeHello(body)
		DecodePoll(body)
		if c, err := DecodeConfig(body); err == nil {
			if again, err := DecodeConfig(EncodeConfig(c)); err != nil || len(again.Channels) != len(c.Channels) {
				t.Fatalf("config re-encoding: %v", err)
			}
		}
		if c, err := DecodeCapture(body); err == nil {
			if again, err := DecodeCapture(EncodeCapture(c)); err != nil || len(again.Packets) != len(c.Packets) {
				t.Fatalf("capture re-encoding: %v", err)
			}
			causalOrder(capturedOf(c))
		}
		rep, rerr := DecodeReport(body)
		if err == nil && h.Type == TypeReport && rerr == nil {
			// What decodes re-encodes to a body that decodes the same.
			again, err := DecodeReport(EncodeReport(rep))
			if err != nil || len(again.Pairs) != len(rep.Pairs) || len(again.Responses) != len(rep.Responses) {
				t.Fatalf("re-encoding: %v", err)
			}
		}
		p, _ := NewProxy(ProxyConfig{Key: testKey})
		p.conn = sink
		p.Handle(b, from)
		// And the agent's handling (a Config it applies).
		a, _ := NewAgent(AgentConfig{Key: testKey, MACs: [][6]byte{mac(1)}})
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // answers are not sent
		var wg sync.WaitGroup
		a.handle(ctx, sink, b, from, &wg)
		wg.Wait()
		if pu := a.pushedBy(h.Sender); pu != nil {
			a.Count([]stats.Frame{{Data: frame(mac(2), mac(1), 100), WireLen: 100}}, []int64{1})
		}
	})
}

// capturedOf is a Capture's frames as the proxy sorts them.
func capturedOf(c Capture) []Captured {
	var out []Captured
	for i, k := range c.Packets {
		out = append(out, Captured{Agent: string(rune('a' + i%2)), Time: int64(k.Time), Data: k.Data})
	}
	return out
}
