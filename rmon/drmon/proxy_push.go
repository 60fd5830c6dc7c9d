package drmon

import (
	"net"
	"slices"
	"time"
)

// ChannelSink receives what the agents' channels found: the RMON probe's
// channel and capture tables. Calls come from the proxy's goroutines
// without the proxy's lock held.
type ChannelSink interface {
	// Matched adds agents' match counts to the view's channels.
	Matched(view int, counts []ChannelCount)
	// Captured hands over captured frames of the view, sorted by time.
	Captured(view int, pkts []Captured)
	// Buckets adds an agent's closed history buckets to the view's rows.
	Buckets(view int, b []Bucket)
}

// Captured is a frame an agent captured, stamped in the proxy's clock.
type Captured struct {
	Channel uint16
	Agent   string
	// Time is when the agent stamped it, translated to the proxy's clock
	// by the agent's clock offset (estimated at each report from the poll
	// exchange), as Unix nanoseconds.
	Time    int64
	WireLen int
	Data    []byte
}

// SetSink sets (nil: clears) where the agents' channel results go.
func (p *Proxy) SetSink(s ChannelSink) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sink = s
}

// SetConfig sets the channels and history rows of a view (the rows
// managers made on its interface). When they differ from what its agents
// have, the view gets a new configuration generation, pushed to its
// agents at once and with every poll until they report applying it.
func (p *Proxy) SetConfig(view int, chans []Channel, hists []History) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if view < 0 || view >= len(p.views) {
		return
	}
	v := p.views[view]
	if channelsEqual(v.channels, chans) && slices.Equal(v.histories, hists) {
		return
	}
	v.channels, v.histories = chans, hists
	p.rebuildPush(view)
}

// BucketDelay is how long after a history bucket's end its agents may
// still report it: the agent waits half a second, then the next poll
// (a poll interval and the answer's delay) carries it.
func (p *Proxy) BucketDelay() time.Duration {
	return 2*p.cfg.PollInterval + p.cfg.MaxDelay + time.Second
}

// UptimeAt is the proxy's clock (100 ns since its start) at t.
func (p *Proxy) UptimeAt(t time.Time) uint64 { return uint64(max(t.Sub(p.start), 0) / 100) }

func channelsEqual(a, b []Channel) bool {
	return slices.EqualFunc(a, b, func(x, y Channel) bool {
		return x.Index == y.Index && x.Accept == y.Accept && x.Capture == y.Capture && x.Slice == y.Slice &&
			string(EncodeConfig(Config{Channels: []Channel{x}})) == string(EncodeConfig(Config{Channels: []Channel{y}}))
	})
}

// rebuildPush makes the view's configuration anew from its channels and
// agents and pushes it to them (p.mu held).
func (p *Proxy) rebuildPush(view int) {
	v := p.views[view]
	if len(v.channels) == 0 && len(v.histories) == 0 && len(v.push.Channels) == 0 && len(v.push.Histories) == 0 {
		return // nothing pushed, nothing to push (every Hello and Report comes here)
	}
	var instr [][6]byte
	for m, a := range p.owner {
		if a.view == view {
			instr = append(instr, m)
		}
	}
	slices.SortFunc(instr, func(x, y [6]byte) int { return slices.Compare(x[:], y[:]) })
	if v.push.Gen != 0 && slices.Equal(instr, v.push.Instrumented) && channelsEqual(v.channels, v.push.Channels) && slices.Equal(v.histories, v.push.Histories) {
		return
	}
	p.gen++
	v.push = Config{Gen: p.gen, Instrumented: instr, Channels: v.channels, Histories: v.histories}
	v.pending = nil // frames of the old configuration
	p.cfg.Log.Info("drmon: configuration for the view's agents", "view", v.Name, "gen", p.gen, "channels", len(v.channels), "histories", len(v.histories))
	for _, a := range p.agents {
		if a.view == view {
			p.pushTo(a)
		}
	}
}

// pushTo sends the agent its view's configuration unless it has it (p.mu
// held). Version-1 agents get none: they do not know the message.
func (p *Proxy) pushTo(a *agentState) {
	if a.view < 0 || a.version < 2 || a.addr == nil {
		return
	}
	c := p.views[a.view].push
	if c.Gen == 0 || a.configGen == c.Gen {
		return
	}
	if _, err := p.send(a.addr, TypeConfig, EncodeConfig(c)); err != nil {
		p.cfg.Log.Debug("drmon proxy: config", "agent", a.name, "err", err)
	}
}

// handleCapture queues an agent's captured frames for sorting (the
// message is authenticated; its freshness is checked here).
func (p *Proxy) handleCapture(h Header, c Capture, from net.Addr) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.agents[h.Sender]
	if a == nil || h.Boot < a.boot || h.Boot == a.boot && h.Seq <= a.hw || c.ProxyBoot != p.boot {
		// Unknown, old, or captured under another run of this proxy.
		p.Replayed.Add(1)
		return
	}
	if !a.sameCert(from) {
		p.BadAuth.Add(1)
		return
	}
	if h.Boot != a.boot {
		a.boot, a.applied, a.configGen = h.Boot, 0, 0 // a new run of the agent has nothing pushed
	}
	a.hw = h.Seq
	if a.view < 0 || c.Gen != p.views[a.view].push.Gen {
		p.CaptureStale.Add(uint64(len(c.Packets)))
		return
	}
	offset := a.offset
	if !a.haveOffset {
		// No report yet: the message's own stamp, latency unknown.
		offset = int64(p.uptime()) - int64(h.Time)
	}
	v := p.views[a.view]
	base := p.start.UnixNano()
	for _, k := range c.Packets {
		v.pending = append(v.pending, Captured{Channel: k.Channel, Agent: a.name, Time: base + (int64(k.Time)+offset)*100,
			WireLen: int(k.WireLen), Data: k.Data})
	}
	a.captured += uint64(len(c.Packets))
	p.Captured.Add(uint64(len(c.Packets)))
}

// flushCaptured hands the frames older than the capture window (all with
// force) to the sink, sorted by time: frames of different agents arrive
// in batches, each agent's in its own order.
func (p *Proxy) flushCaptured(force bool) {
	type out struct {
		view int
		pkts []Captured
	}
	var ready []out
	p.mu.Lock()
	sink := p.sink
	cut := time.Now().Add(-p.cfg.CaptureWindow).UnixNano()
	for i, v := range p.views {
		if len(v.pending) == 0 {
			continue
		}
		slices.SortStableFunc(v.pending, func(x, y Captured) int {
			switch {
			case x.Time < y.Time:
				return -1
			case x.Time > y.Time:
				return 1
			}
			return 0
		})
		n := len(v.pending)
		if !force {
			n, _ = slices.BinarySearchFunc(v.pending, cut, func(x Captured, t int64) int {
				if x.Time <= t {
					return -1
				}
				return 1
			})
		}
		if n > 0 {
			batch := slices.Clone(v.pending[:n])
			p.Reordered.Add(uint64(causalOrder(batch)))
			ready = append(ready, out{i, batch})
			v.pending = slices.Delete(v.pending, 0, n)
		}
	}
	p.mu.Unlock()
	if sink == nil {
		return
	}
	for _, o := range ready {
		sink.Captured(o.view, o.pkts)
	}
}
