package drmon

import (
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirebox/wirebox/rmon/stats"
)

// pushed is one proxy's configuration as the agent applies it: its
// channels see every frame the agent counts (the same duplicate rule as
// the merge), count their matches and queue captured frames for the
// proxy.
type pushed struct {
	proxy     uint64 // the proxy's ID
	proxyBoot uint64
	to        net.Addr
	cfg       Config
	instr     map[[6]byte]bool
	matches   []atomic.Uint64 // by position in cfg.Channels

	// offset is the proxy's clock minus the agent's (100 ns), from the
	// Config's and then every Poll's header time and the latency.
	offset atomic.Int64

	mu      sync.Mutex
	pending []Packet
	octets  int
	// buckets are the histories' buckets (by position in cfg.Histories)
	// not yet known applied; sent the highest sample reported (p.mu).
	buckets []map[uint32]*stats.PairCounts
	late    uint64 // frames of buckets already reported
}

// bucketGrace is how long after a bucket's end (in the proxy's clock, as
// the agent estimates it) the agent still waits for frames stamped in it
// before reporting it: frames reach Count a little after their stamp.
const bucketGrace = uint64(500 * time.Millisecond / 100)

// maxPendingOctets bounds the captured frames an agent holds for one proxy
// between flushes; more are dropped and counted (Agent.CaptureDropped).
const maxPendingOctets = 4 << 20

// captureFlush is how often an agent sends its captured frames.
const captureFlush = 100 * time.Millisecond

// maxCaptureBody keeps a Capture message in one datagram.
const maxCaptureBody = MaxMessage - HeaderLen - MACLen - 64

// see runs a frame the agent counted through the channels (the agent
// skipped broadcast and multicast already). at is the frame's stamp in the
// agent's clock.
func (p *pushed) see(a *Agent, f stats.Frame, at uint64) {
	src := [6]byte(f.Data[6:12])
	if !a.own.has(f.Data[6:12]) && (!a.own.has(f.Data[0:6]) || p.instr[src]) {
		return // the sender's agent has it
	}
	if len(p.cfg.Histories) > 0 {
		p.countBuckets(f, at)
	}
	status := stats.PacketStatus(f.WireLen)
	for i := range p.cfg.Channels {
		c := &p.cfg.Channels[i]
		pass := false
		for j := range c.Filters {
			if c.Filters[j].Pass(f.Data, status) {
				pass = true
				break
			}
		}
		if pass != (c.Accept == AcceptMatched) {
			continue
		}
		p.matches[i].Add(1)
		if !c.Capture {
			continue
		}
		n := len(f.Data)
		if c.Slice > 0 {
			n = min(n, int(c.Slice))
		}
		n = min(n, maxCaptureBody-packetOverhead-64)
		p.mu.Lock()
		if p.octets+n > maxPendingOctets {
			p.mu.Unlock()
			a.CaptureDropped.Add(1)
			continue
		}
		p.pending = append(p.pending, Packet{Channel: c.Index, Time: at, WireLen: uint32(f.WireLen), Data: slices.Clone(f.Data[:n])})
		p.octets += n
		p.mu.Unlock()
	}
}

// countBuckets adds a frame to the histories' buckets by its stamp in the
// proxy's clock.
func (p *pushed) countBuckets(f stats.Frame, at uint64) {
	t := int64(at) + p.offset.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, h := range p.cfg.Histories {
		if t < int64(h.Start) {
			continue
		}
		n := uint32(uint64(t-int64(h.Start))/h.Interval) + 1
		b := p.buckets[i][n]
		if b == nil {
			if len(p.buckets[i]) >= maxBuckets {
				p.late++
				continue
			}
			b = &stats.PairCounts{}
			p.buckets[i][n] = b
		}
		b.CountFrame(f.Data, f.WireLen)
	}
}

// maxBuckets bounds the buckets an agent keeps per history while its
// proxy does not apply them.
const maxBuckets = 64

// closedBuckets are the buckets ended (with grace) by now, in the proxy's
// clock, above the samples already applied; they are forgotten up to
// those samples.
func (p *pushed) closedBuckets(now uint64, applied map[uint16]uint32) []Bucket {
	t := int64(now) + p.offset.Load()
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []Bucket
	for i, h := range p.cfg.Histories {
		for n, c := range p.buckets[i] {
			if n <= applied[h.Index] {
				delete(p.buckets[i], n)
				continue
			}
			if end := int64(h.Start + uint64(n)*h.Interval + bucketGrace); t >= end {
				out = append(out, Bucket{History: h.Index, Sample: n, C: *c})
			}
		}
	}
	slices.SortFunc(out, func(x, y Bucket) int {
		if x.History != y.History {
			return int(x.History) - int(y.History)
		}
		return int(x.Sample) - int(y.Sample)
	})
	return out
}

// counts are the channels' cumulative matches under the configuration.
func (p *pushed) counts() map[uint16]uint64 {
	out := make(map[uint16]uint64, len(p.cfg.Channels))
	for i, c := range p.cfg.Channels {
		out[c.Index] = p.matches[i].Load()
	}
	return out
}

// take removes the pending captured frames.
func (p *pushed) take() []Packet {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.pending
	p.pending, p.octets = nil, 0
	return out
}

// configure applies a proxy's configuration (replacing the one it pushed
// before; a new generation counts its matches from zero).
// proxyTime is the proxy's clock (its header time) when the agent received
// the message at its own time received: the offset between the clocks.
func (a *Agent) configure(proxy, proxyBoot uint64, to net.Addr, cfg Config, proxyTime, received uint64) {
	a.pushMu.Lock()
	defer a.pushMu.Unlock()
	var list []*pushed
	if old := a.pushes.Load(); old != nil {
		for _, p := range *old {
			if p.proxy == proxy {
				if p.proxyBoot == proxyBoot && p.cfg.Gen == cfg.Gen {
					return // the same configuration sent again
				}
				continue
			}
			list = append(list, p)
		}
	}
	if len(cfg.Channels) > 0 || len(cfg.Histories) > 0 {
		p := &pushed{proxy: proxy, proxyBoot: proxyBoot, to: to, cfg: cfg, instr: map[[6]byte]bool{}, matches: make([]atomic.Uint64, len(cfg.Channels))}
		for _, m := range cfg.Instrumented {
			p.instr[m] = true
		}
		for range cfg.Histories {
			p.buckets = append(p.buckets, map[uint32]*stats.PairCounts{})
		}
		a.mu.Lock()
		lat := a.latency
		a.mu.Unlock()
		p.offset.Store(int64(proxyTime+lat) - int64(received))
		list = append(list, p)
	}
	a.mu.Lock()
	a.configGen[proxy] = [2]uint64{proxyBoot, cfg.Gen}
	a.mu.Unlock()
	a.pushes.Store(&list)
	a.cfg.Log.Info("drmon agent: configuration applied", "proxy", proxy, "gen", cfg.Gen, "channels", len(cfg.Channels), "histories", len(cfg.Histories))
}

// pushedBy is the configuration a proxy pushed, nil if none with channels.
func (a *Agent) pushedBy(proxy uint64) *pushed {
	if l := a.pushes.Load(); l != nil {
		for _, p := range *l {
			if p.proxy == proxy {
				return p
			}
		}
	}
	return nil
}

// flushCaptures sends the captured frames every captureFlush until ctx
// ends.
func (a *Agent) flushCaptures(done <-chan struct{}, conn net.PacketConn) {
	t := time.NewTicker(captureFlush)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
		}
		l := a.pushes.Load()
		if l == nil {
			continue
		}
		for _, p := range *l {
			pkts := p.take()
			for len(pkts) > 0 {
				n, size := 0, 0
				for n < len(pkts) && size+packetOverhead+len(pkts[n].Data) <= maxCaptureBody {
					size += packetOverhead + len(pkts[n].Data)
					n++
				}
				a.send(conn, p.to, TypeCapture, EncodeCapture(Capture{ProxyBoot: p.proxyBoot, Gen: p.cfg.Gen, Packets: pkts[:n]}))
				a.CapturesSent.Add(uint64(n))
				pkts = pkts[n:]
			}
		}
	}
}
