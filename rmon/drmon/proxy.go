package drmon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirebox/wirebox/rmon/stats"
)

// ViewConfig groups agents into one merged RMON interface.
type ViewConfig struct {
	Name string
	// Agents are agent names; empty: every agent no other view lists.
	Agents []string
	// Port is the appliance's own port in the view's broadcast domain: its
	// broadcast and multicast frames are counted into the view (agents
	// never report them). Empty: the view counts no broadcast or multicast.
	Port string
}

// ProxyConfig configures a proxy.
type ProxyConfig struct {
	Key []byte
	// Group is the discovery multicast address (nil: no discovery; agents
	// must be given the proxy's address).
	Group             *net.UDPAddr
	PollInterval      time.Duration // default 5 s
	DiscoveryInterval time.Duration // default 30 s
	// MaxDelay is the window agents spread their answers over (default a
	// fifth of the poll interval).
	MaxDelay           time.Duration
	Views              []ViewConfig // default: one view "drmon" of every agent
	MaxHosts, MaxPairs int
	// CaptureWindow is how long captured frames wait at the proxy to be
	// sorted by time with other agents' frames before they go into the
	// capture buffers (default 1 s: agents send theirs every 100 ms).
	CaptureWindow time.Duration
	Log           *slog.Logger
}

// View is one merged interface.
type View struct {
	Name string
	Port string
	St   *stats.Port
	cfg  ViewConfig
	// merged are the pairs applied so far (p.mu), what the view reports
	// upstream.
	merged map[stats.PairKey]*stats.PairCounts
	// push is the configuration pushed to the view's agents (p.mu);
	// channels what it was made of; pending the captured frames waiting
	// to be sorted.
	push      Config
	channels  []Channel
	histories []History
	pending   []Captured
	// Shared counts the view's broadcast and multicast frames alone (the
	// proxy's own part of the view's history buckets).
	Shared *stats.Port
	// fromRecv are pairs counted from their receiver's agent (the sender
	// had none), for reconcile (p.mu).
	fromRecv map[stats.PairKey]*recvCounts
}

type recvCounts struct {
	c    stats.PairCounts
	last time.Time // when counts were last added
}

// reconcile takes out of a pair's delta from its sender's agent what the
// view already counted of the pair from its receiver's agent while the
// sender's agent ran (its boot, Unix ns, before that): frames both
// agents saw, the receiver's reported first because the sender's agent
// became known to this proxy later (a proxy that started or took over
// while both agents ran, and the receiver's report came in first). A
// sender's agent that started after the receiver's counts is new: those
// frames were before it, and nothing is taken.
func (v *View) reconcile(k stats.PairKey, d *stats.PairCounts, boot uint64) {
	r := v.fromRecv[k]
	if r == nil {
		return
	}
	if int64(boot) <= r.last.UnixNano() {
		df, rf := pairFields(d), pairFields(&r.c)
		for i := range df {
			n := min(*df[i], *rf[i])
			*df[i] -= n
		}
	}
	delete(v.fromRecv, k) // from now on the sender's agent reports the pair
}

// CountShared counts the broadcast and multicast frames among frames (from
// the view's own port) into the view.
func (v *View) CountShared(frames []stats.Frame) {
	var keep []stats.Frame
	for _, f := range frames {
		if len(f.Data) >= 6 && f.Data[0]&1 != 0 {
			keep = append(keep, f)
		}
	}
	if len(keep) > 0 {
		v.St.Count(keep)
		if v.Shared != nil {
			v.Shared.Count(keep)
		}
	}
}

// SharedEther is what the view counted of its broadcast and multicast
// (zero for a view made without NewProxy).
func (v *View) SharedEther() stats.Ether {
	if v.Shared == nil {
		return stats.Ether{}
	}
	e, _, _ := v.Shared.EtherSnapshot()
	return e
}

type agentState struct {
	id         uint64
	name       string
	addr       net.Addr
	boot, hw   uint64 // last accepted (boot, seq)
	applied    uint64 // last report applied in this boot
	macs       [][6]byte
	view       int
	lastReport time.Time
	rtt        uint64
	latency    uint64
	reports    uint64
	polls      []uint64 // seqs of the last polls sent to it
	version    uint8    // the highest protocol version it speaks
	configGen  uint64   // the configuration it last reported applying
	// offset is the proxy's clock minus the agent's (100 ns), estimated
	// from the last report.
	offset     int64
	haveOffset bool
	captured   uint64
	// cert is the certificate name of an agent that came over TLS: its
	// ID is then bound to it.
	cert string
}

// sameCert reports whether a message from may speak for the agent: once
// an agent came over TLS, only connections with its certificate's name.
func (a *agentState) sameCert(from net.Addr) bool {
	if a.cert == "" {
		return true
	}
	sa, ok := from.(*StreamAddr)
	return ok && sa.PeerName() == a.cert
}

// RespRow is one merged response-time row.
type RespRow struct {
	Key   RespKey
	Agent string
	RespStats
}

// Proxy merges agents' reports into its views.
type Proxy struct {
	cfg   ProxyConfig
	id    uint64
	boot  uint64
	start time.Time
	seq   atomic.Uint64
	views []*View

	mu     sync.Mutex
	agents map[uint64]*agentState
	owner  map[[6]byte]*agentState
	resp   map[RespKey]*RespRow
	conn   net.PacketConn
	gen    uint64 // the last configuration generation made
	sink   ChannelSink

	// Dropped messages by reason, and reports applied.
	BadAuth, Replayed, Malformed, OutOfSequence, Applied atomic.Uint64
	// Captured frames received, dropped as of another configuration, and
	// moved after the frame they answer (order.go).
	Captured, CaptureStale, Reordered atomic.Uint64
}

// NewProxy makes a proxy and its views' tables.
func NewProxy(cfg ProxyConfig) (*Proxy, error) {
	if len(cfg.Key) < 16 {
		return nil, errors.New("drmon: the key must be at least 16 bytes")
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if cfg.DiscoveryInterval <= 0 {
		cfg.DiscoveryInterval = 30 * time.Second
	}
	if cfg.MaxDelay <= 0 {
		cfg.MaxDelay = cfg.PollInterval / 5
	}
	if len(cfg.Views) == 0 {
		cfg.Views = []ViewConfig{{Name: "drmon"}}
	}
	if cfg.MaxHosts <= 0 {
		cfg.MaxHosts = 4096
	}
	if cfg.MaxPairs <= 0 {
		cfg.MaxPairs = 16384
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.CaptureWindow <= 0 {
		cfg.CaptureWindow = time.Second
	}
	now := time.Now()
	p := &Proxy{cfg: cfg, id: uint64(now.UnixNano()) ^ 0x5052_4f58_5900_0000, boot: uint64(now.UnixNano()), start: now,
		agents: map[uint64]*agentState{}, owner: map[[6]byte]*agentState{}, resp: map[RespKey]*RespRow{}}
	for _, v := range cfg.Views {
		p.views = append(p.views, &View{Name: v.Name, Port: v.Port, St: stats.NewPort(cfg.MaxHosts, cfg.MaxPairs), Shared: stats.NewPort(64, 64), cfg: v,
			merged: map[stats.PairKey]*stats.PairCounts{}, fromRecv: map[stats.PairKey]*recvCounts{}})
	}
	return p, nil
}

// Views are the merged interfaces, in configuration order.
func (p *Proxy) Views() []*View { return p.views }

func (p *Proxy) uptime() uint64 { return uint64(time.Since(p.start) / 100) }

func (p *Proxy) send(to net.Addr, typ uint8, body []byte) (uint64, error) {
	h := Header{Type: typ, Sender: p.id, Boot: p.boot, Seq: p.seq.Add(1), Time: p.uptime()}
	msg := Encode(p.cfg.Key, h, body)
	if sa, ok := to.(*StreamAddr); ok {
		// An agent connected over TLS: its connection.
		if err := sa.write(msg); err != nil {
			sa.c.Close()
			return h.Seq, err
		}
		return h.Seq, nil
	}
	_, err := p.conn.WriteTo(msg, to)
	return h.Seq, err
}

// ServeTLS merges the reports of agents connected over TLS (ListenTLS)
// until ctx ends; Serve must run too (it polls every agent).
func (p *Proxy) ServeTLS(ctx context.Context, conn net.PacketConn) error {
	go func() { <-ctx.Done(); conn.Close() }()
	if err := readLoop(ctx, conn, MaxMessage, p.Handle); err != nil {
		return fmt.Errorf("drmon proxy: tls: %w", err)
	}
	return nil
}

// Serve polls agents and merges their reports on conn until ctx ends.
func (p *Proxy) Serve(ctx context.Context, conn net.PacketConn) error {
	p.mu.Lock()
	p.conn = conn
	p.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Add(1)
	go func() {
		defer wg.Done()
		p.tick(ctx)
	}()
	go func() { <-ctx.Done(); conn.SetReadDeadline(time.Now()) }()
	if err := readLoop(ctx, conn, 65536, p.Handle); err != nil {
		return fmt.Errorf("drmon proxy: %w", err)
	}
	return nil
}

func (p *Proxy) tick(ctx context.Context) {
	poll := time.NewTicker(p.cfg.PollInterval)
	defer poll.Stop()
	disc := time.NewTicker(p.cfg.DiscoveryInterval)
	defer disc.Stop()
	sorted := time.NewTicker(captureFlush)
	defer sorted.Stop()
	p.discover()
	for {
		select {
		case <-ctx.Done():
			return
		case <-sorted.C:
			p.flushCaptured(false)
		case <-disc.C:
			p.discover()
		case <-poll.C:
			p.mu.Lock()
			for _, a := range p.agents {
				p.poll(a)
			}
			p.mu.Unlock()
		}
	}
}

func (p *Proxy) discover() {
	if p.cfg.Group == nil {
		return
	}
	if _, err := p.send(p.cfg.Group, TypeDiscover, EncodeDiscover(Discover{MaxDelayMs: uint32(p.cfg.MaxDelay / time.Millisecond)})); err != nil {
		p.cfg.Log.Warn("drmon proxy: discovery", "group", p.cfg.Group, "err", err)
	}
}

// poll sends a an acknowledgement, the last round trip and a poll (p.mu
// held), after the view's configuration while the agent has not applied
// it.
func (p *Proxy) poll(a *agentState) {
	p.pushTo(a)
	seq, err := p.send(a.addr, TypePoll, EncodePoll(Poll{AckBoot: a.boot, AckSeq: a.applied, RTT: a.rtt,
		MaxDelayMs: uint32(p.cfg.MaxDelay / time.Millisecond)}))
	if err != nil {
		p.cfg.Log.Debug("drmon proxy: poll", "agent", a.name, "err", err)
		return
	}
	a.polls = append(a.polls, seq)
	if len(a.polls) > 4 {
		a.polls = a.polls[1:]
	}
}

// Handle processes one datagram.
func (p *Proxy) Handle(b []byte, from net.Addr) {
	h, body, err := Decode(p.cfg.Key, b)
	if err != nil {
		if errors.Is(err, ErrAuth) {
			p.BadAuth.Add(1)
		} else {
			p.Malformed.Add(1)
		}
		return
	}
	var hello Hello
	var rep Report
	switch h.Type {
	case TypeHello:
		hello, err = DecodeHello(body)
	case TypeReport:
		rep, err = DecodeReport(body)
		hello = Hello{Name: rep.Name, MACs: rep.MACs, Version: rep.Version}
	case TypeCapture:
		var c Capture
		if c, err = DecodeCapture(body); err == nil {
			p.handleCapture(h, c, from)
			return
		}
	default:
		err = ErrFormat // a proxy's own discovery looped back, or another proxy's
	}
	if err != nil {
		p.Malformed.Add(1)
		return
	}
	if sa, ok := from.(*StreamAddr); ok && hello.Name != sa.PeerName() {
		// Over TLS an agent is who its certificate says.
		p.BadAuth.Add(1)
		p.cfg.Log.Warn("drmon: an agent's name is not its certificate's", "name", hello.Name, "certificate", sa.PeerName())
		return
	}
	// The sink is called after the lock is released: it takes the
	// probe's.
	var after func()
	defer func() {
		if after != nil {
			after()
		}
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	a := p.agents[h.Sender]
	if a != nil && (h.Boot < a.boot || h.Boot == a.boot && h.Seq <= a.hw) {
		p.Replayed.Add(1)
		return
	}
	if a != nil && !a.sameCert(from) {
		p.BadAuth.Add(1)
		return
	}
	if h.Type == TypeReport && (a == nil || rep.PollBoot != p.boot || !slices.Contains(a.polls, rep.PollSeq)) {
		// Not an answer to one of our recent polls: a replay from before
		// this proxy started, or an answer too late to use.
		p.Replayed.Add(1)
		return
	}
	isNew := a == nil
	if isNew {
		a = &agentState{id: h.Sender, view: -1}
		p.agents[h.Sender] = a
	}
	fresh := isNew || h.Boot != a.boot
	if h.Boot != a.boot {
		a.boot, a.applied, a.configGen = h.Boot, 0, 0 // a new run of the agent has nothing pushed
	}
	a.hw = h.Seq
	a.addr = from
	if sa, ok := from.(*StreamAddr); ok {
		a.cert = sa.PeerName()
	}
	a.version = hello.Version
	p.identify(a, hello)
	if h.Type == TypeHello {
		if isNew {
			p.cfg.Log.Info("drmon: agent", "name", a.name, "addr", from.String())
		}
		if fresh {
			p.poll(a) // a new agent or a new boot: no need to wait for the next round
		}
		return
	}
	if rep.BaseSeq != a.applied {
		p.OutOfSequence.Add(1)
		return
	}
	p.apply(a, &rep)
	a.applied = h.Seq
	a.lastReport = time.Now()
	a.reports++
	a.latency = rep.Latency
	if now := p.uptime(); now > rep.PollTime+rep.Hold {
		a.rtt = now - rep.PollTime - rep.Hold
		// The agent sent the report (its clock: the header time) half a
		// round trip ago.
		a.offset, a.haveOffset = int64(now-a.rtt/2)-int64(h.Time), true
	}
	a.configGen = rep.ConfigGen
	p.Applied.Add(1)
	if a.view >= 0 && rep.ConfigGen != 0 && rep.ConfigGen == p.views[a.view].push.Gen && p.sink != nil && len(rep.Matches)+len(rep.Buckets) > 0 {
		sink, view := p.sink, a.view
		after = func() {
			if len(rep.Matches) > 0 {
				sink.Matched(view, rep.Matches)
			}
			if len(rep.Buckets) > 0 {
				sink.Buckets(view, rep.Buckets)
			}
		}
	}
}

// identify records an agent's name, addresses and view (p.mu held).
func (p *Proxy) identify(a *agentState, h Hello) {
	a.name = h.Name
	for _, m := range a.macs {
		if p.owner[m] == a {
			delete(p.owner, m)
		}
	}
	a.macs = h.MACs
	for _, m := range a.macs {
		p.owner[m] = a
	}
	old := a.view
	a.view = p.viewOf(a.name)
	// The view's instrumented addresses are part of its configuration.
	if old >= 0 && old != a.view {
		p.rebuildPush(old)
	}
	if a.view >= 0 {
		p.rebuildPush(a.view)
	}
}

func (p *Proxy) viewOf(name string) int {
	catchAll := -1
	for i, v := range p.views {
		if slices.Contains(v.cfg.Agents, name) {
			return i
		}
		if len(v.cfg.Agents) == 0 && catchAll < 0 {
			catchAll = i
		}
	}
	return catchAll
}

// apply merges a report. A pair is counted from its sender's agent; from
// its receiver's agent only when the sender has no agent in the view
// (traffic between two instrumented hosts is reported by both and
// counted once).
func (p *Proxy) apply(a *agentState, rep *Report) {
	if a.view >= 0 {
		v := p.views[a.view]
		// Pairs with good frames first: bad frames create no host entry.
		sort.SliceStable(rep.Pairs, func(i, j int) bool {
			return rep.Pairs[i].C.Bad() < rep.Pairs[i].C.Pkts && rep.Pairs[j].C.Bad() == rep.Pairs[j].C.Pkts
		})
		for i := range rep.Pairs {
			pd := &rep.Pairs[i]
			if pd.Dst[0]&1 != 0 {
				continue
			}
			so, do := p.owner[pd.Src], p.owner[pd.Dst]
			k := stats.PairKey{Src: pd.Src, Dst: pd.Dst}
			switch {
			case so == a:
				v.reconcile(k, &pd.C, a.boot)
			case do == a && (so == nil || so.view != a.view):
				r := v.fromRecv[k]
				if r == nil {
					r = &recvCounts{}
					v.fromRecv[k] = r
				}
				r.c.Add(&pd.C)
				r.last = time.Now()
			default:
				continue
			}
			v.St.AddPair(pd.Src, pd.Dst, &pd.C)
			m := v.merged[k]
			if m == nil {
				m = &stats.PairCounts{}
				v.merged[k] = m
			}
			m.Add(&pd.C)
		}
	}
	for i := range rep.Responses {
		x := &rep.Responses[i]
		k := RespKey{Server: x.Server, Client: x.Client, Observer: x.Observer}
		row := p.resp[k]
		if row == nil {
			row = &RespRow{Key: k}
			p.resp[k] = row
		}
		row.Agent = a.name
		row.merge(x)
	}
}

// AgentStatus is one agent as the proxy knows it.
type AgentStatus struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	Addr        string    `json:"addr"`
	View        string    `json:"view"`
	Boot        uint64    `json:"boot"`
	Seq         uint64    `json:"seq"`
	Reports     uint64    `json:"reports"`
	LastReport  time.Time `json:"last_report"`
	RTTMicros   float64   `json:"rtt_us"`
	LatencyMics float64   `json:"latency_us"`
	MACs        []string  `json:"macs"`
	Version     uint8     `json:"version"`
	// ConfigGen is the pushed configuration the agent reports applying
	// (0: none), Captured the frames its channels sent back.
	ConfigGen uint64 `json:"config_gen"`
	Captured  uint64 `json:"captured"`
}

// Agents lists the agents, by name.
func (p *Proxy) Agents() []AgentStatus {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := []AgentStatus{}
	for _, a := range p.agents {
		s := AgentStatus{ID: fmt.Sprintf("%016x", a.id), Name: a.name, Addr: a.addr.String(), Boot: a.boot, Seq: a.applied,
			Reports: a.reports, LastReport: a.lastReport, RTTMicros: float64(a.rtt) / 10, LatencyMics: float64(a.latency) / 10, MACs: []string{},
			Version: a.version, ConfigGen: a.configGen, Captured: a.captured}
		if a.view >= 0 {
			s.View = p.views[a.view].Name
		}
		for _, m := range a.macs {
			s.MACs = append(s.MACs, net.HardwareAddr(m[:]).String())
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(x, y AgentStatus) int {
		if x.Name != y.Name {
			if x.Name < y.Name {
				return -1
			}
			return 1
		}
		if x.ID < y.ID {
			return -1
		}
		return 1
	})
	return out
}

// Responses lists the merged response-time rows, ordered by server,
// client and observer.
func (p *Proxy) Responses() []RespRow {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]RespRow, 0, len(p.resp))
	for _, r := range p.resp {
		out = append(out, *r)
	}
	slices.SortFunc(out, func(x, y RespRow) int { return CompareKeys(x.Key, y.Key) })
	return out
}

// CompareKeys orders response rows (as their SNMP index does).
func CompareKeys(x, y RespKey) int {
	if c := x.Server.Addr().Compare(y.Server.Addr()); c != 0 {
		return c
	}
	if x.Server.Port() != y.Server.Port() {
		return int(x.Server.Port()) - int(y.Server.Port())
	}
	if c := x.Client.Compare(y.Client); c != 0 {
		return c
	}
	return int(x.Observer) - int(y.Observer)
}

// ViewSource is a view as an agent's Source: a workgroup proxy reports
// its merged view to a domain proxy over the same protocol. Its MACs are
// the view's agents' addresses (at most 255 go on the wire), so the
// domain proxy suppresses duplicates between workgroups as between hosts.
func (p *Proxy) ViewSource(i int) Source { return viewSource{p, i} }

type viewSource struct {
	p *Proxy
	i int
}

func (s viewSource) Pairs() map[stats.PairKey]stats.PairCounts {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	return stats.Values(s.p.views[s.i].merged)
}

func (s viewSource) Responses() map[RespKey]RespStats {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	out := make(map[RespKey]RespStats, len(s.p.resp))
	for k, r := range s.p.resp {
		out[k] = r.RespStats
	}
	return out
}

func (s viewSource) MACs() [][6]byte {
	s.p.mu.Lock()
	defer s.p.mu.Unlock()
	var out [][6]byte
	for m, a := range s.p.owner {
		if a.view == s.i {
			out = append(out, m)
		}
	}
	slices.SortFunc(out, func(x, y [6]byte) int { return slices.Compare(x[:], y[:]) })
	return out
}
