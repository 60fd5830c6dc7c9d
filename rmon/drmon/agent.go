package drmon

import (
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirebox/wirebox/rmon/stats"
)

// AgentConfig configures an agent.
type AgentConfig struct {
	Key  []byte    // the pre-shared key
	Name string    // shown by the proxy (default: the host name)
	MACs [][6]byte // the host's own addresses: only their unicast traffic is counted
	// Proxy, if set, is sent a Hello every HelloInterval until it polls.
	// Proxies are more, in order of preference: while no proxy polls,
	// each HelloInterval the next one in turn is sent a Hello, so that a
	// standby proxy takes the agent over when its proxy stops answering.
	Proxy         *net.UDPAddr
	Proxies       []*net.UDPAddr
	HelloInterval time.Duration // default 5 s
	MaxPairs      int           // default 16384
	MaxConns      int           // TCP connections followed at once; default 65536
	Log           *slog.Logger
	// Source, if set, is reported instead of what Count counted (a
	// workgroup proxy reporting its merged view upstream); MACs may then
	// be empty. ID then names the agent (else it is derived from MACs).
	Source Source
	ID     uint64
}

// Source is what an agent reports: cumulative pairs and response rows,
// and the MAC addresses that are its own.
type Source interface {
	Pairs() map[stats.PairKey]stats.PairCounts
	Responses() map[RespKey]RespStats
	MACs() [][6]byte
}

// maxUnacked bounds the reports kept while the proxy has not applied them.
const maxUnacked = 64

// maxReportPairs keeps a report in one datagram; pairs left out go in the
// next report (the base of a report is exactly what it carried).
const maxReportPairs = 600

// sentState is what the proxy has once it applied a report.
type sentState struct {
	pairs map[stats.PairKey]stats.PairCounts
	resp  map[RespKey]RespStats
	// gen is the configuration (proxy boot, generation) the matches are of.
	gen     [2]uint64
	matches map[uint16]uint64
	// hist is the highest history sample reported, per history index.
	hist map[uint16]uint32
}

// proxyState is what one proxy has of this agent's counts.
type proxyState struct {
	sent     map[uint64]*sentState // by report seq, not yet known applied
	acked    *sentState
	ackedSeq uint64
}

// Agent counts its host's unicast traffic and answers a proxy's polls.
type Agent struct {
	cfg   AgentConfig
	id    uint64
	boot  uint64
	start time.Time
	seq   atomic.Uint64
	own   macSet
	pairs *stats.Pairs
	resp  *Tracker

	// sendMu keeps header seqs in the order messages leave.
	sendMu sync.Mutex

	mu      sync.Mutex
	proxies map[uint64]*proxyState // by proxy ID: each has its own base
	peers   map[uint64][2]uint64   // proxy ID -> (boot, seq) last accepted
	latency uint64
	polled  time.Time
	pollGap time.Duration // between the last two polls
	// configGen is the configuration (proxy boot, generation) each proxy
	// pushed last.
	configGen map[uint64][2]uint64

	// pushes are the proxies' configurations with channels (channels.go);
	// pushMu orders their replacement.
	pushMu sync.Mutex
	pushes atomic.Pointer[[]*pushed]

	// Dropped messages by reason, and messages handled.
	BadAuth, Replayed, Malformed, Polls, Reports, Configs atomic.Uint64
	// Captured frames sent, and dropped for want of room.
	CapturesSent, CaptureDropped atomic.Uint64
}

// NewAgent makes an agent. Its ID is derived from its MACs, so a restarted
// agent is the same agent to the proxy (with a new boot).
func NewAgent(cfg AgentConfig) (*Agent, error) {
	if len(cfg.Key) < 16 {
		return nil, errors.New("drmon: the key must be at least 16 bytes")
	}
	if cfg.Proxy != nil {
		cfg.Proxies = append([]*net.UDPAddr{cfg.Proxy}, cfg.Proxies...)
	}
	if len(cfg.MACs) == 0 && cfg.Source == nil {
		return nil, errors.New("drmon: the agent needs its host's MAC addresses")
	}
	if cfg.HelloInterval <= 0 {
		cfg.HelloInterval = 5 * time.Second
	}
	if cfg.MaxPairs <= 0 {
		cfg.MaxPairs = 16384
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 65536
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	h := fnv.New64a()
	macs := slices.Clone(cfg.MACs)
	slices.SortFunc(macs, func(a, b [6]byte) int { return slices.Compare(a[:], b[:]) })
	var own macSet
	for _, m := range macs {
		h.Write(m[:])
		own = append(own, macKey(m[:]))
	}
	id := h.Sum64()
	if cfg.ID != 0 {
		id = cfg.ID
	}
	now := time.Now()
	return &Agent{cfg: cfg, id: id, boot: uint64(now.UnixNano()), start: now, own: own,
		pairs: stats.NewPairs(cfg.MaxPairs), resp: NewTracker(cfg.MaxConns),
		proxies: map[uint64]*proxyState{}, peers: map[uint64][2]uint64{}, configGen: map[uint64][2]uint64{}}, nil
}

// ID is the agent's ID.
func (a *Agent) ID() uint64 { return a.id }

// Count adds frames the host sent or received. Broadcast and multicast
// are left to the proxy, and frames not to or from the host's own
// addresses (flooded unicast) are not counted. ts are the frames' stamps
// in nanoseconds (for response times); data is the whole frame. Count
// uses frames as its scratch: the ones it counts are moved to the front.
func (a *Agent) Count(frames []stats.Frame, ts []int64) {
	// Kept in place: no allocation per batch (bench/drmon: a new slice per
	// batch was 94 bytes and a third of the agent's time per frame).
	keep := frames[:0]
	var pushes []*pushed
	if l := a.pushes.Load(); l != nil {
		pushes = *l
	}
	start := a.start.UnixNano()
	for i, f := range frames {
		if len(f.Data) < 12 || f.Data[0]&1 != 0 {
			continue
		}
		if !a.own.has(f.Data[0:6]) && !a.own.has(f.Data[6:12]) {
			continue
		}
		if len(keep) != i {
			frames[len(keep)] = f
		}
		keep = keep[:len(keep)+1]
		a.resp.See(f.Data, ts[i], f.TX)
		for _, p := range pushes {
			p.see(a, f, uint64(max(ts[i]-start, 0)/100))
		}
	}
	a.pairs.Count(keep)
}

// Pairs and Responses are the agent's cumulative counts, MACs its own
// addresses (from its Source when it has one).
func (a *Agent) Pairs() map[stats.PairKey]stats.PairCounts {
	if a.cfg.Source != nil {
		return a.cfg.Source.Pairs()
	}
	return a.pairs.Snapshot()
}

func (a *Agent) Responses() map[RespKey]RespStats {
	if a.cfg.Source != nil {
		return a.cfg.Source.Responses()
	}
	return a.resp.Snapshot()
}

func (a *Agent) MACs() [][6]byte {
	if a.cfg.Source != nil {
		return a.cfg.Source.MACs()
	}
	return a.cfg.MACs
}

// uptime is the agent's clock: 100 ns units since its start.
func (a *Agent) uptime() uint64 { return uint64(time.Since(a.start) / 100) }

func (a *Agent) header(typ uint8) Header {
	return Header{Type: typ, Sender: a.id, Boot: a.boot, Seq: a.seq.Add(1), Time: a.uptime()}
}

// Serve answers discovery and polls on conn until ctx ends.
func (a *Agent) Serve(ctx context.Context, conn net.PacketConn) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { <-ctx.Done(); conn.Close() }()
	if len(a.cfg.Proxies) > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.helloLoop(ctx, conn)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.flushCaptures(ctx.Done(), conn)
	}()
	return readLoop(ctx, conn, 65536, func(b []byte, from net.Addr) {
		a.handle(ctx, conn, append([]byte(nil), b...), from, &wg)
	})
}

// readLoop hands each datagram read from conn to handle until ctx ends
// (nil) or a read fails. The buffer is reused: handle copies what it keeps.
func readLoop(ctx context.Context, conn net.PacketConn, size int, handle func(b []byte, from net.Addr)) error {
	buf := make([]byte, size)
	for {
		n, from, err := conn.ReadFrom(buf)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		handle(buf[:n], from)
	}
}

// helloTries is how many announcements a proxy gets before the agent
// tries the next of its list: one lost Hello or a slow first poll does not
// move it to a standby.
const helloTries = 3

func (a *Agent) helloLoop(ctx context.Context, conn net.PacketConn) {
	t := time.NewTicker(a.cfg.HelloInterval)
	defer t.Stop()
	next := 0
	for {
		a.mu.Lock()
		// Announce again only when the proxy has gone quiet: three of its
		// poll intervals without a poll. Each time still quiet, the next
		// proxy of the list is tried: a standby takes over.
		quiet := time.Since(a.polled) > max(2*a.cfg.HelloInterval, 3*a.pollGap)
		a.mu.Unlock()
		if quiet {
			// Each proxy gets helloTries announcements before the next.
			to := a.cfg.Proxies[next/helloTries%len(a.cfg.Proxies)]
			next++
			a.send(conn, to, TypeHello, EncodeHello(Hello{Name: a.cfg.Name, MACs: a.MACs()}))
		} else {
			next = 0 // the preferred proxy first, when it next goes quiet
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (a *Agent) send(conn net.PacketConn, to net.Addr, typ uint8, body []byte) {
	a.sendMu.Lock()
	defer a.sendMu.Unlock()
	if _, err := conn.WriteTo(Encode(a.cfg.Key, a.header(typ), body), to); err != nil {
		a.cfg.Log.Debug("drmon agent: send", "to", to, "err", err)
	}
}

// accept checks a proxy message's freshness: (boot, seq) must grow.
func (a *Agent) accept(h Header) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	last, ok := a.peers[h.Sender]
	if ok && (h.Boot < last[0] || h.Boot == last[0] && h.Seq <= last[1]) {
		return false
	}
	a.peers[h.Sender] = [2]uint64{h.Boot, h.Seq}
	return true
}

func randDelay(maxMs uint32) time.Duration {
	if maxMs == 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(maxMs) * int64(time.Millisecond)))
}

func (a *Agent) handle(ctx context.Context, conn net.PacketConn, b []byte, from net.Addr, wg *sync.WaitGroup) {
	h, body, err := Decode(a.cfg.Key, b)
	if err != nil {
		if errors.Is(err, ErrAuth) {
			a.BadAuth.Add(1)
		} else {
			a.Malformed.Add(1)
		}
		return
	}
	received := a.uptime()
	switch h.Type {
	case TypeDiscover:
		m, err := DecodeDiscover(body)
		if !a.usable(h, err) {
			return
		}
		a.later(ctx, wg, randDelay(m.MaxDelayMs), func() {
			a.send(conn, from, TypeHello, EncodeHello(Hello{Name: a.cfg.Name, MACs: a.MACs()}))
		})
	case TypePoll:
		m, err := DecodePoll(body)
		if !a.usable(h, err) {
			return
		}
		a.Polls.Add(1)
		a.mu.Lock()
		g, pushedBefore := a.configGen[h.Sender]
		a.mu.Unlock()
		if pushedBefore && g[0] != h.Boot {
			// The proxy restarted: what it pushed before is void.
			a.configure(h.Sender, h.Boot, from, Config{}, h.Time, received)
		}
		if pu := a.pushedBy(h.Sender); pu != nil {
			// Time synchronisation: the proxy's clock was the poll's
			// header time a latency ago.
			pu.offset.Store(int64(h.Time+m.RTT/2) - int64(received))
		}
		a.mu.Lock()
		if now := time.Now(); !a.polled.IsZero() {
			a.pollGap = now.Sub(a.polled)
			a.polled = now
		} else {
			a.polled = now
		}
		if m.RTT != 0 {
			a.latency = m.RTT / 2
		}
		a.mu.Unlock()
		a.later(ctx, wg, randDelay(m.MaxDelayMs), func() {
			a.sendMu.Lock()
			defer a.sendMu.Unlock()
			rep := a.report(h.Sender, m)
			rep.PollBoot, rep.PollSeq, rep.PollTime = h.Boot, h.Seq, h.Time
			rep.Hold = a.uptime() - received
			a.Reports.Add(1)
			a.sendReport(conn, from, rep)
		})
	case TypeConfig:
		m, err := DecodeConfig(body)
		if !a.usable(h, err) {
			return
		}
		a.Configs.Add(1)
		a.configure(h.Sender, h.Boot, from, m, h.Time, received)
	default:
		a.Malformed.Add(1)
	}
}

// usable counts a message the agent cannot use (its body malformed, or not
// fresh) and reports whether it can.
func (a *Agent) usable(h Header, err error) bool {
	if err != nil {
		a.Malformed.Add(1)
		return false
	}
	if !a.accept(h) {
		a.Replayed.Add(1)
		return false
	}
	return true
}

func (a *Agent) later(ctx context.Context, wg *sync.WaitGroup, d time.Duration, f func()) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		select {
		case <-ctx.Done():
		case <-time.After(d):
			f()
		}
	}()
}

// report builds the statistics since the report the proxy acknowledged.
func (a *Agent) report(proxy uint64, p Poll) Report {
	pairs, resp, macs := a.Pairs(), a.Responses(), a.MACs()
	var matches map[uint16]uint64
	pu := a.pushedBy(proxy)
	if pu != nil {
		matches = pu.counts()
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	gen := a.configGen[proxy]
	ps := a.proxies[proxy]
	if ps == nil {
		ps = &proxyState{sent: map[uint64]*sentState{}, acked: &sentState{}}
		a.proxies[proxy] = ps
	}
	switch {
	case p.AckBoot != a.boot || p.AckSeq == 0:
		// The proxy has nothing of this boot.
		ps.acked, ps.ackedSeq = &sentState{}, 0
	case p.AckSeq != ps.ackedSeq:
		if s := ps.sent[p.AckSeq]; s != nil {
			ps.acked, ps.ackedSeq = s, p.AckSeq
		} else {
			a.cfg.Log.Warn("drmon agent: the proxy acknowledged a report no longer kept; resending from the boot", "seq", p.AckSeq)
			ps.acked, ps.ackedSeq = &sentState{}, 0
		}
	}
	for s := range ps.sent {
		if s <= ps.ackedSeq {
			delete(ps.sent, s)
		}
	}
	rep := Report{BaseSeq: ps.ackedSeq, Latency: a.latency, Name: a.cfg.Name, MACs: macs, ConfigGen: gen[1]}
	next := &sentState{pairs: make(map[stats.PairKey]stats.PairCounts, len(ps.acked.pairs)), resp: make(map[RespKey]RespStats, len(ps.acked.resp)),
		gen: gen, matches: matches}
	// Matches are deltas like the pairs, within one configuration: a new
	// one counts from zero.
	for _, idx := range slices.Sorted(maps.Keys(matches)) {
		old := uint64(0)
		if ps.acked.gen == gen {
			old = ps.acked.matches[idx]
		}
		if d := matches[idx] - old; d > 0 {
			rep.Matches = append(rep.Matches, ChannelCount{Channel: idx, Count: d})
		}
	}
	// History buckets: the closed ones above what the proxy applied.
	if pu != nil && len(pu.cfg.Histories) > 0 {
		applied := map[uint16]uint32{}
		if ps.acked.gen == gen {
			applied = ps.acked.hist
		}
		rep.Buckets = pu.closedBuckets(a.uptime(), applied)
		next.hist = maps.Clone(applied)
		if next.hist == nil {
			next.hist = map[uint16]uint32{}
		}
		for _, b := range rep.Buckets {
			next.hist[b.History] = max(next.hist[b.History], b.Sample)
		}
	}
	for k, c := range ps.acked.pairs {
		next.pairs[k] = c
	}
	for k, c := range ps.acked.resp {
		next.resp[k] = c
	}
	for k, c := range pairs {
		old := ps.acked.pairs[k]
		if c == old {
			continue
		}
		if len(rep.Pairs) >= maxReportPairs {
			continue // in a later report
		}
		rep.Pairs = append(rep.Pairs, PairDelta{Src: k.Src, Dst: k.Dst, C: c.Sub(&old)})
		next.pairs[k] = c
	}
	for k, s := range resp {
		old := ps.acked.resp[k]
		if s == old {
			continue
		}
		rep.Responses = append(rep.Responses, Response{Server: k.Server, Client: k.Client, Observer: k.Observer,
			SetupCount: s.SetupCount - old.SetupCount, SetupSum: s.SetupSum - old.SetupSum, SetupMin: s.SetupMin, SetupMax: s.SetupMax,
			RespCount: s.RespCount - old.RespCount, RespSum: s.RespSum - old.RespSum, RespMin: s.RespMin, RespMax: s.RespMax})
		next.resp[k] = s
	}
	// The seq this report goes out with is the next header seq: take it
	// now and keep the state under it.
	seq := a.seq.Add(1)
	ps.sent[seq] = next
	if len(ps.sent) > maxUnacked {
		oldest := seq
		for s := range ps.sent {
			oldest = min(oldest, s)
		}
		delete(ps.sent, oldest)
	}
	rep.seq = seq
	return rep
}

func (a *Agent) sendReport(conn net.PacketConn, to net.Addr, rep Report) {
	h := Header{Type: TypeReport, Sender: a.id, Boot: a.boot, Seq: rep.seq, Time: a.uptime()}
	if _, err := conn.WriteTo(Encode(a.cfg.Key, h, EncodeReport(rep)), to); err != nil {
		a.cfg.Log.Debug("drmon agent: report", "to", to, "err", err)
	}
}

// macSet is a host's own MAC addresses, as 48-bit integers: a host has
// one or a few, and comparing them beats hashing a map key per frame.
type macSet []uint64

func macKey(b []byte) uint64 {
	return uint64(b[0])<<40 | uint64(b[1])<<32 | uint64(b[2])<<24 | uint64(b[3])<<16 | uint64(b[4])<<8 | uint64(b[5])
}

func (s macSet) has(b []byte) bool {
	k := macKey(b)
	for _, m := range s {
		if m == k {
			return true
		}
	}
	return false
}
