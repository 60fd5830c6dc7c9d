package drmon

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/wirebox/wirebox/rmon/stats"
)

type recSink struct {
	mu      sync.Mutex
	matches map[uint16]uint64
	pkts    []Captured
}

func (s *recSink) Matched(view int, counts []ChannelCount) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range counts {
		s.matches[c.Channel] += c.Count
	}
}

func (s *recSink) Buckets(view int, b []Bucket) {}

func (s *recSink) Captured(view int, pkts []Captured) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pkts = append(s.pkts, pkts...)
}

// TestChannelsPushed: a channel set on the proxy reaches both agents,
// which apply its filter to their own frames; the proxy adds their
// matches (a frame between the two counted once) and gets their captured
// frames back sorted by time across agents.
func TestChannelsPushed(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	proxy, pc := serveProxy(t, ctx, &wg, ProxyConfig{CaptureWindow: 300 * time.Millisecond})
	sink := &recSink{matches: map[uint16]uint64{}}
	proxy.SetSink(sink) // before any agent reports
	h1, h2, h4 := mac(1), mac(2), mac(4)
	start := func(m [6]byte, name string) *Agent {
		a := newTestAgent(t, pc, m, name)
		c := listen(t)
		wg.Add(1)
		go func() { defer wg.Done(); a.Serve(ctx, c) }()
		return a
	}
	a1, a2 := start(h1, "h1"), start(h2, "h2")
	eventually(t, "both agents known", func() bool { return len(proxy.Agents()) == 2 })
	// Channel 3: frames whose byte 14 is 0xaa, captured 20 bytes each.
	proxy.SetConfig(0, []Channel{{Index: 3, Accept: AcceptMatched, Capture: true, Slice: 20,
		Filters: []stats.Filter{{Offset: 14, Data: []byte{0xaa}}}}}, nil)
	eventually(t, "both agents apply the configuration", func() bool {
		n := 0
		for _, s := range proxy.Agents() {
			if s.ConfigGen != 0 && s.Version == Version {
				n++
			}
		}
		return n == 2
	})
	mk := func(dst, src [6]byte, b byte, seq byte) []byte {
		f := frame(dst, src, 100)
		f[14], f[15] = b, seq
		return f
	}
	see := func(a *Agent, tx bool, at time.Time, f []byte) {
		a.Count([]stats.Frame{{Data: f, WireLen: len(f), TX: tx}}, []int64{at.UnixNano()})
	}
	// Interleaved in time: h1->h4 at t0, t2, t4; h2->h4 at t1, t3, t5;
	// h1->h2 (both agents see it: counted and captured once) at t6; a
	// frame the filter rejects.
	t0 := time.Now()
	for i := range 3 {
		see(a1, true, t0.Add(time.Duration(2*i)*time.Millisecond), mk(h4, h1, 0xaa, byte(2*i)))
		see(a2, true, t0.Add(time.Duration(2*i+1)*time.Millisecond), mk(h4, h2, 0xaa, byte(2*i+1)))
	}
	both := mk(h2, h1, 0xaa, 6)
	see(a1, true, t0.Add(6*time.Millisecond), both)
	see(a2, false, t0.Add(6*time.Millisecond), both)
	see(a1, true, t0, mk(h4, h1, 0xbb, 9))
	eventually(t, "matches and captures", func() bool {
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return sink.matches[3] == 7 && len(sink.pkts) == 7
	})
	time.Sleep(200 * time.Millisecond) // more polls and flushes: nothing more
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if sink.matches[3] != 7 || len(sink.pkts) != 7 {
		t.Fatalf("matches %v, %d captured; want 7 and 7", sink.matches, len(sink.pkts))
	}
	for i, p := range sink.pkts {
		if len(p.Data) != 20 || p.WireLen != 100 || p.Data[15] != byte(i) {
			t.Errorf("captured #%d: seq %d len %d wire %d from %s; want seq %d, 20 bytes of 100", i, p.Data[15], len(p.Data), p.WireLen, p.Agent, i)
		}
		if i > 0 && p.Time < sink.pkts[i-1].Time {
			t.Errorf("captured #%d out of time order", i)
		}
	}
	// A restarted agent (a new boot) gets the channels again.
	gen := proxy.views[0].push.Gen
	a1b := start(h1, "h1")
	eventually(t, "the restarted agent applies the configuration", func() bool {
		pu := a1b.pushedBy(proxy.id)
		return pu != nil && pu.cfg.Gen == gen
	})
	// Removing the channel clears it on the agents.
	proxy.SetConfig(0, nil, nil)
	eventually(t, "the agents drop the channel", func() bool { return a1b.pushedBy(proxy.id) == nil && a2.pushedBy(proxy.id) == nil })
}
