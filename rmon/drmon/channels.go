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

	mu      sync.Mutex
	pending []Packet
	octets  int
}

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
func (a *Agent) configure(proxy, proxyBoot uint64, to net.Addr, cfg Config) {
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
	if len(cfg.Channels) > 0 {
		p := &pushed{proxy: proxy, proxyBoot: proxyBoot, to: to, cfg: cfg, instr: map[[6]byte]bool{}, matches: make([]atomic.Uint64, len(cfg.Channels))}
		for _, m := range cfg.Instrumented {
			p.instr[m] = true
		}
		list = append(list, p)
	}
	a.mu.Lock()
	a.configGen[proxy] = [2]uint64{proxyBoot, cfg.Gen}
	a.mu.Unlock()
	a.pushes.Store(&list)
	a.cfg.Log.Info("drmon agent: configuration applied", "proxy", proxy, "gen", cfg.Gen, "channels", len(cfg.Channels))
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
