package node

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/ha/fwd"
	"github.com/wirebox/wirebox/ha/peer"
)

// Failover describes the last change of active node.
type Failover struct {
	At       time.Time
	Reason   string
	Duration time.Duration // from the trigger to this node forwarding (or handing over)
}

// Status is the node's state for the API.
type Status struct {
	Role, PeerRole    string
	Mode              Mode
	Peer              string
	PeerAlive         bool
	InSync            bool // standby: holds the active's complete state; active: the standby does
	AddressOwner      bool
	RTT               time.Duration
	Priority          uint8
	Conns             int
	LastFailover      *Failover
	Table             fwd.Stats
	Link, WitnessLink peer.Stats
	MirrorSent        uint64
	MirrorReceived    uint64
	ForwardedByPeer   uint64 // frames we handed to the peer to forward
	SyncEntriesSent   uint64
	SyncEntriesRecv   uint64
	Syncs             uint64
	SplitsSeen        uint64 // peer lost while the witness saw it alive
	GratuitousARP     uint64
	Transmitted       uint64
	NoNeighbour       uint64
	Replayed          uint64 // standby first: frames passed to a lost active, sent again at the takeover
}

// Node is one appliance of the pair (or the forwarder alone).
type Node struct {
	cfg   Config
	core  *capture.Core
	log   *slog.Logger
	table *fwd.Table
	k     *capture.Consumer
	ports [2]*capture.Port
	macs  [2][6]byte
	addrs [2][4]byte // VIP (client side) and gateway (server side)

	link, wlink *peer.Link

	// mu orders the data path with the role state: a frame is tracked and
	// mirrored under it, so the peer sees frames in the order we did.
	mu              sync.Mutex
	role            peer.Role
	start           time.Time
	peerSeen        time.Time // last heartbeat
	peerHB          peer.Heartbeat
	peerHBAt        time.Time
	rtt             time.Duration
	inSync          bool   // standby: complete state; active: unused
	wantGen         uint32 // standby: the sync generation it asks for
	servedGen       uint32 // active: the generation last served
	syncRecv        uint64
	owner           bool
	handoverAt      time.Time
	lastFailover    *Failover
	splitLogged     bool
	witnessPending  uint64
	witnessBusy     bool
	witnessAnswered chan uint64

	wg sync.WaitGroup // the run's goroutines

	neighMu sync.Mutex
	neigh   map[[4]byte][6]byte
	probed  map[[4]byte]time.Time

	mirrorSent, mirrorRecv, byPeer, syncSent, syncRecvd, syncs atomic.Uint64
	splits, garps, transmitted, noNeigh, replayed              atomic.Uint64

	replay replayRing // standby first: frames passed to the active (under mu)
}

// New prepares a node on core (its ports must be open, in bypass mode).
func New(core *capture.Core, cfg Config, log *slog.Logger) (*Node, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	t, err := fwd.NewTable(cfg.Service)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	n := &Node{cfg: cfg, core: core, log: log, table: t, neigh: map[[4]byte][6]byte{}, probed: map[[4]byte]time.Time{},
		witnessAnswered: make(chan uint64, 4)}
	for i, name := range []string{cfg.ClientPort, cfg.ServerPort} {
		p := core.Port(name)
		if p == nil {
			return nil, fmt.Errorf("ha: no port %q in the core", name)
		}
		if p.Mode() != capture.Bypass {
			return nil, fmt.Errorf("ha: port %q must be a bypass port", name)
		}
		n.ports[i] = p
		copy(n.macs[i][:], p.Info().MAC)
	}
	n.addrs[fwd.Client] = cfg.Service.VIP.As4()
	n.addrs[fwd.Server] = cfg.Gateway.As4()
	return n, nil
}

// Close gives back every frame the node's consumer holds (harmless after
// Run returned).
func (n *Node) Close() {
	n.mu.Lock()
	k := n.k
	n.mu.Unlock()
	if k != nil {
		k.Close()
	}
}

// Table is the node's connection table.
func (n *Node) Table() *fwd.Table { return n.table }

// Run serves until ctx ends. ready is called once the node is receiving.
// Run closes its consumer when it returns; Close does too, for a
// supervisor that cleans up after a panic.
func (n *Node) Run(ctx context.Context, ready func()) error {
	k := n.core.NewConsumer("ha")
	n.mu.Lock()
	n.k = k
	n.mu.Unlock()
	defer k.Close()
	var subs [2]*capture.Subscription
	for i, p := range n.ports {
		s, err := n.k.Subscribe(p, capture.SubscribeOptions{Name: "ha", Kind: capture.Owner, Hook: capture.Ingress, Exclusive: true, Queue: 8192})
		if err != nil {
			return fmt.Errorf("ha: subscribe %s: %w", p.Name(), err)
		}
		subs[i] = s
	}
	n.mu.Lock()
	n.start = time.Now()
	n.wantGen = randGen()
	if n.cfg.Peer == nil {
		n.role = peer.RoleActive
	}
	n.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	// Every goroutine of the run (loops, syncs, witness checks) ends
	// before Run returns, also when it returns early with an error.
	wg := &n.wg
	defer func() {
		cancel()
		wg.Wait()
	}()
	if pc := n.cfg.Peer; pc != nil {
		if err := n.listen(ctx, &n.link, peer.Config{Listen: pc.Listen, Peer: pc.Address, Key: pc.Key, NetNS: pc.NetNS}, n.peerLoop); err != nil {
			return fmt.Errorf("ha: %w", err)
		}
		if pc.Witness.IsValid() {
			if err := n.listen(ctx, &n.wlink, peer.Config{Listen: pc.WitnessListen, Peer: pc.Witness, Key: pc.Key, NetNS: pc.NetNS}, n.witnessLoop); err != nil {
				return fmt.Errorf("ha: witness: %w", err)
			}
		}
	}
	for i := range subs {
		wg.Go(func() { n.rxLoop(ctx, fwd.Side(i), subs[i]) })
	}
	wg.Go(func() { n.timerLoop(ctx) })
	if n.cfg.Peer == nil {
		n.setOwner(true)
	}
	if ready != nil {
		ready()
	}
	<-ctx.Done()
	return nil
}

// listen opens a link into *l (before its loop starts, which reads it),
// closes it when ctx ends, and runs loop on n.wg.
func (n *Node) listen(ctx context.Context, l **peer.Link, cfg peer.Config, loop func(context.Context)) error {
	link, err := peer.Listen(cfg)
	if err != nil {
		return err
	}
	*l = link
	context.AfterFunc(ctx, func() { link.Close() })
	n.wg.Go(func() { loop(ctx) })
	return nil
}

func randGen() uint32 {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint32(b[:]) | 1
}

func (n *Node) rxLoop(ctx context.Context, side fwd.Side, s *capture.Subscription) {
	in := make([]capture.Frame, 64)
	var out [2][]capture.Frame
	for {
		c, err := s.Receive(ctx, in)
		if err != nil {
			return
		}
		for _, f := range in[:c] {
			n.wire(side, f, &out)
		}
		if n.link != nil {
			if err := n.link.Flush(); err != nil {
				n.log.Debug("mirror", "err", err)
			}
		}
		n.flush(&out)
	}
}

// flush sends the frames a batch produced, one Send per port.
func (n *Node) flush(out *[2][]capture.Frame) {
	for i, fs := range out {
		if len(fs) == 0 {
			continue
		}
		sent, err := n.ports[i].Send(fs)
		n.transmitted.Add(uint64(sent))
		if err != nil {
			n.log.Debug("send", "port", n.ports[i].Name(), "err", err)
		}
		clear(fs)
		out[i] = fs[:0]
	}
}

// wire handles one frame received on a port.
func (n *Node) wire(side fwd.Side, f capture.Frame, out *[2][]capture.Frame) {
	data := f.Data()
	var a fwd.ARP
	if fwd.ParseARP(data, &a) {
		n.arp(side, &a, f, out)
		return
	}
	var p fwd.Packet
	if fwd.Parse(data, &p) != nil || !n.table.Classify(&p, side) {
		f.Revert()
		return
	}
	now := time.Now().UnixNano()
	n.mu.Lock()
	if n.role == peer.RoleInit {
		n.mu.Unlock()
		f.Release() // not serving yet: the client retransmits
		return
	}
	v, c := n.table.Track(&p, side, now, netip.AddrPort{})
	if v != fwd.Forward {
		n.mu.Unlock()
		f.Release()
		return
	}
	mirror, byPeer := n.mirrorPlan()
	if mirror {
		flags := uint8(0)
		if byPeer {
			flags = peer.MirrorForward
		}
		m := peer.Mirror{Side: uint8(side), Flags: flags, Backend: c.Backend, Frame: data}
		// Queued: the batch's mirrors leave together when rxLoop flushes
		// (in the order they were tracked, as the queue is the link's).
		if err := n.link.Queue(peer.TypeMirror, m.Append); err == nil {
			n.mirrorSent.Add(1)
		}
		if byPeer && n.role == peer.RoleStandby {
			n.keepLocked(side, &p, data, now)
		}
	}
	n.mu.Unlock()
	if byPeer {
		n.byPeer.Add(1)
		f.Release()
		return
	}
	n.forward(side, &p, &c, f, out)
}

// mirrorPlan says, under mu, whether a frame we received goes to the peer
// and whether the peer (rather than we) transmits it.
func (n *Node) mirrorPlan() (mirror, byPeer bool) {
	pc := n.cfg.Peer
	if pc == nil || !n.peerAliveLocked(time.Now()) {
		return false, false
	}
	switch n.role {
	case peer.RoleActive:
		if n.peerHB.Role == peer.RoleActive {
			return false, false // a conflict the election resolves
		}
		inSync := n.peerHB.Flags&peer.FlagInSync != 0 && n.peerHB.Role == peer.RoleStandby
		return true, pc.Mode == StandbyResponse && inSync
	case peer.RoleStandby:
		if n.peerHB.Role != peer.RoleActive {
			return false, false
		}
		if pc.Mode == StandbyResponse && n.inSync {
			// In standby response the standby transmits everything
			// anyway: a frame that reaches it directly (a neighbour with
			// a stale entry, or frames for the active's MAC that a switch
			// floods once the active's port went down in a crash) leaves
			// from here at once, and the active tracks a copy. Passing it
			// to an active that may be dead would lose it, and a sender
			// that loses a window waits for its retransmission timer.
			return true, false
		}
		// Standby first (or not in sync yet): the active sends it.
		return true, true
	}
	return false, false
}

// forward translates f and queues it on the other side's port.
func (n *Node) forward(side fwd.Side, p *fwd.Packet, c *fwd.Conn, f capture.Frame, out *[2][]capture.Frame) {
	to := fwd.Server
	dst := c.BackendMAC
	if side == fwd.Server {
		to, dst = fwd.Client, c.ClientMAC
	}
	if dst == ([6]byte{}) {
		var ok bool
		dst, ok = n.neighbour(c.Backend.Addr().As4())
		if !ok {
			n.noNeigh.Add(1)
			n.probe(c.Backend.Addr().As4(), out)
			f.Release()
			return
		}
	}
	if !n.table.Translate(p, side, c) {
		f.Release()
		return
	}
	fwd.SetMACs(p.B, dst, n.macs[to])
	out[to] = append(out[to], f)
}

func (n *Node) neighbour(ip [4]byte) ([6]byte, bool) {
	n.neighMu.Lock()
	defer n.neighMu.Unlock()
	m, ok := n.neigh[ip]
	return m, ok
}

func (n *Node) learn(ip [4]byte, mac [6]byte) {
	if ip == ([4]byte{}) || mac == ([6]byte{}) {
		return
	}
	n.neighMu.Lock()
	n.neigh[ip] = mac
	n.neighMu.Unlock()
}

// probe sends an ARP probe for a backend, at most every 100ms each.
func (n *Node) probe(ip [4]byte, out *[2][]capture.Frame) {
	n.neighMu.Lock()
	last := n.probed[ip]
	now := time.Now()
	if now.Sub(last) < 100*time.Millisecond {
		n.neighMu.Unlock()
		return
	}
	n.probed[ip] = now
	n.neighMu.Unlock()
	n.emit(fwd.Server, out, func(b []byte) int { return fwd.Probe(b, n.macs[fwd.Server], ip) })
}

// emit builds a frame with build and queues it on side's port.
func (n *Node) emit(side fwd.Side, out *[2][]capture.Frame, build func([]byte) int) {
	var fs [1]capture.Frame
	if n.k.Alloc(fs[:]) == 0 {
		return
	}
	fs[0].SetLen(build(fs[0].Buffer()))
	out[side] = append(out[side], fs[0])
}

func (n *Node) arp(side fwd.Side, a *fwd.ARP, f capture.Frame, out *[2][]capture.Frame) {
	n.learn(a.SPA, a.SHA)
	if a.Op == fwd.ARPRequest && a.TPA == n.addrs[side] && a.SPA != a.TPA {
		if n.isOwner() {
			n.emit(side, out, func(b []byte) int { return fwd.Reply(b, n.macs[side], a) })
		}
		f.Release()
		return
	}
	if a.TPA == n.addrs[side] {
		f.Release() // replies and announcements for our addresses stop here
		return
	}
	f.Revert()
}

func (n *Node) isOwner() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.owner
}

// setOwner takes or gives up the addresses; taking them announces them
// with gratuitous ARP on both sides. The caller does not hold mu.
func (n *Node) setOwner(own bool) {
	n.mu.Lock()
	was := n.owner
	n.owner = own
	n.mu.Unlock()
	if own && !was {
		n.announce()
	}
	if own != was {
		n.log.Info("addresses", "owner", own, "vip", n.cfg.Service.VIP, "gateway", n.cfg.Gateway)
	}
}

// announce sends a gratuitous ARP for the VIP and the gateway.
func (n *Node) announce() {
	var out [2][]capture.Frame
	for _, side := range []fwd.Side{fwd.Client, fwd.Server} {
		n.emit(side, &out, func(b []byte) int { return fwd.Gratuitous(b, n.macs[side], n.addrs[side]) })
	}
	n.garps.Add(2)
	n.flush(&out)
}

// fromPeer handles a mirrored frame.
func (n *Node) fromPeer(m *peer.Mirror, out *[2][]capture.Frame) {
	n.mirrorRecv.Add(1)
	side := fwd.Side(m.Side)
	var p fwd.Packet
	if fwd.Parse(m.Frame, &p) != nil {
		return
	}
	if side == fwd.Client {
		n.learn(p.Src, [6]byte(m.Frame[6:12]))
	} else {
		n.learn(p.Src, [6]byte(m.Frame[6:12]))
	}
	v, c := n.table.Track(&p, side, time.Now().UnixNano(), m.Backend)
	if v != fwd.Forward || m.Flags&peer.MirrorForward == 0 {
		return
	}
	var fs [1]capture.Frame
	if n.k.Alloc(fs[:]) == 0 {
		return
	}
	f := fs[0]
	buf := f.Buffer()
	if len(m.Frame) > len(buf) {
		f.Release()
		return
	}
	copy(buf, m.Frame)
	f.SetLen(len(m.Frame))
	if fwd.Parse(f.Data(), &p) != nil {
		f.Release()
		return
	}
	n.forward(side, &p, &c, f, out)
}

func (n *Node) peerAliveLocked(now time.Time) bool {
	pc := n.cfg.Peer
	return pc != nil && !n.peerSeen.IsZero() && now.Sub(n.peerSeen) < pc.Interval*time.Duration(pc.DeadAfter)
}

// Status reports the node's state.
func (n *Node) Status() Status {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := time.Now()
	st := Status{Role: n.role.String(), PeerRole: "none", Conns: n.table.Len(), Table: n.table.Stats(), AddressOwner: n.owner,
		MirrorSent: n.mirrorSent.Load(), MirrorReceived: n.mirrorRecv.Load(), ForwardedByPeer: n.byPeer.Load(),
		SyncEntriesSent: n.syncSent.Load(), SyncEntriesRecv: n.syncRecvd.Load(), Syncs: n.syncs.Load(),
		SplitsSeen: n.splits.Load(), GratuitousARP: n.garps.Load(), Transmitted: n.transmitted.Load(), NoNeighbour: n.noNeigh.Load(), Replayed: n.replayed.Load()}
	if n.lastFailover != nil {
		fo := *n.lastFailover
		st.LastFailover = &fo
	}
	if pc := n.cfg.Peer; pc != nil {
		st.Mode, st.Peer, st.Priority = pc.Mode, pc.Address.String(), pc.Priority
		st.PeerAlive = n.peerAliveLocked(now)
		if st.PeerAlive {
			st.PeerRole = n.peerHB.Role.String()
		}
		st.RTT = n.rtt
		if n.role == peer.RoleActive {
			st.InSync = st.PeerAlive && n.peerHB.Flags&peer.FlagInSync != 0
		} else {
			st.InSync = n.inSync
		}
		if n.link != nil {
			st.Link = n.link.Stats()
		}
		if n.wlink != nil {
			st.WitnessLink = n.wlink.Stats()
		}
	}
	return st
}

// ErrNotReady is returned by Failover when a planned switch-over would
// lose state.
var ErrNotReady = errors.New("ha: switch-over refused")

// Failover hands the active role to the standby (a planned switch-over).
// It is refused unless this node is active and the standby is alive and
// in sync.
func (n *Node) Failover() error {
	n.mu.Lock()
	if n.cfg.Peer == nil {
		n.mu.Unlock()
		return fmt.Errorf("%w: no peer configured", ErrNotReady)
	}
	if n.role != peer.RoleActive {
		n.mu.Unlock()
		return fmt.Errorf("%w: this node is %s", ErrNotReady, n.role)
	}
	if !n.peerAliveLocked(time.Now()) || n.peerHB.Role != peer.RoleStandby || n.peerHB.Flags&peer.FlagInSync == 0 {
		n.mu.Unlock()
		return fmt.Errorf("%w: the standby is not alive and in sync", ErrNotReady)
	}
	n.handoverLocked("planned switch-over")
	n.mu.Unlock()
	n.applyOwner()
	return nil
}

// handoverLocked makes us the standby (in sync: we hold the whole table)
// and tells the peer to take over.
func (n *Node) handoverLocked(reason string) {
	n.role = peer.RoleStandby
	n.inSync = true
	n.handoverAt = time.Now()
	n.lastFailover = &Failover{At: n.handoverAt, Reason: reason}
	n.log.Info("handing over to the peer", "reason", reason)
	c := peer.Counted{Gen: takeoverHandover}
	_ = n.link.Send(peer.TypeTakeover, c.Append)
}

// Takeover operations (Counted.Gen of a Takeover message).
const (
	takeoverHandover = 1 // the sender steps down: the receiver becomes active
	takeoverRequest  = 2 // the sender (a preempting standby in sync) asks for a handover
)
