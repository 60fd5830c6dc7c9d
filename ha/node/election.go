package node

import (
	"context"
	"time"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/ha/fwd"
	"github.com/wirebox/wirebox/ha/peer"
)

// peerLoop receives the peer's messages, a batch per system call; the
// frames a batch of mirrors produces leave in one Send per port.
func (n *Node) peerLoop(ctx context.Context) {
	const batch = 64
	bufs := make([][]byte, batch)
	for i := range bufs {
		// A message is at most a pool frame (4 KiB) and the headers, or a
		// sync batch under 1400 bytes.
		bufs[i] = make([]byte, 16<<10)
	}
	msgs := make([]peer.Message, batch)
	var out [2][]capture.Frame
	var (
		hb peer.Heartbeat
		m  peer.Mirror
		s  peer.Sync
		c  peer.Counted
	)
	for {
		k, err := n.link.RecvBatch(bufs, msgs)
		if err != nil {
			if ctx.Err() == nil {
				n.log.Error("peer link", "err", err)
			}
			return
		}
		for _, msg := range msgs[:k] {
			p := msg.Payload
			switch msg.Type {
			case peer.TypeHeartbeat:
				if hb.Decode(p) == nil {
					n.onHeartbeat(ctx, hb)
				}
			case peer.TypeMirror:
				if m.Decode(p) == nil {
					n.fromPeer(&m, &out)
				}
			case peer.TypeSync:
				if s.Decode(p) == nil {
					n.onSync(&s)
				}
			case peer.TypeSyncDone:
				if c.Decode(p) == nil {
					n.onSyncDone(c)
				}
			case peer.TypeTakeover:
				if c.Decode(p) == nil {
					n.onTakeover(c)
				}
			}
		}
		n.flush(&out)
	}
}

func (n *Node) onHeartbeat(ctx context.Context, hb peer.Heartbeat) {
	now := time.Now()
	n.mu.Lock()
	was := n.peerAliveLocked(now)
	n.peerSeen, n.peerHB, n.peerHBAt = now, hb, now
	if hb.EchoNS != 0 {
		if rtt := time.Duration(now.UnixNano() - hb.EchoNS - hb.HoldNS); rtt >= 0 {
			n.rtt = rtt
		}
	}
	if n.role == peer.RoleStandby && !n.handoverAt.IsZero() && hb.Role == peer.RoleActive && n.lastFailover != nil && n.lastFailover.Duration == 0 {
		n.lastFailover.Duration = now.Sub(n.handoverAt) // the peer confirmed it forwards
	}
	if !was {
		n.log.Info("peer up", "peer", n.cfg.Peer.Address, "peer_role", hb.Role, "peer_priority", hb.Priority)
		n.splitLogged = false
	}
	serve := n.role == peer.RoleActive && hb.Role != peer.RoleActive && hb.Flags&peer.FlagInSync == 0 && hb.SyncGen != n.servedGen
	if serve {
		n.servedGen = hb.SyncGen
	}
	n.mu.Unlock()
	if serve {
		n.wg.Go(func() { n.sendSync(ctx, hb.SyncGen) })
	}
	n.elect(ctx)
}

// sendSync sends the connection table, busiest connection first, while
// mirroring goes on.
func (n *Node) sendSync(ctx context.Context, gen uint32) {
	now := time.Now().UnixNano()
	conns := n.table.Snapshot(now)
	n.syncs.Add(1)
	n.log.Info("state sync to the standby", "generation", gen, "connections", len(conns))
	s := peer.Sync{Gen: gen}
	for i := 0; i < len(conns); i += peer.MaxEntries {
		s.Entries = s.Entries[:0]
		for _, c := range conns[i:min(i+peer.MaxEntries, len(conns))] {
			s.Entries = append(s.Entries, peer.Entry{Proto: c.Proto, State: uint8(c.State), ClientIP: c.Client, ClientPort: c.Port,
				Backend: c.Backend, ClientMAC: c.ClientMAC, BackendMAC: c.BackendMAC, Packets: c.Packets, Bytes: c.Bytes,
				IdleMS: uint32(max(0, now-c.LastSeen) / 1e6), SeqDelta: c.SeqDelta})
		}
		if err := n.link.Send(peer.TypeSync, s.Append); err != nil {
			n.log.Warn("state sync", "err", err)
			return
		}
		n.syncSent.Add(uint64(len(s.Entries)))
		if (i/peer.MaxEntries)%32 == 31 { // pace: let the standby's socket drain
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Millisecond):
			}
		}
	}
	done := peer.Counted{Gen: gen, Count: uint64(len(conns))}
	_ = n.link.Send(peer.TypeSyncDone, done.Append)
}

func (n *Node) onSync(s *peer.Sync) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.role == peer.RoleActive || n.inSync || s.Gen != n.wantGen {
		return
	}
	now := time.Now().UnixNano()
	for _, e := range s.Entries {
		c := fwd.Conn{Key: fwd.Key{Proto: e.Proto, Client: e.ClientIP, Port: e.ClientPort}, Backend: e.Backend,
			State: fwd.TCPState(e.State), ClientMAC: e.ClientMAC, BackendMAC: e.BackendMAC, Packets: e.Packets, Bytes: e.Bytes,
			SeqDelta: e.SeqDelta, Replied: e.Proto == fwd.ProtoUDP && e.BackendMAC != [6]byte{}}
		n.table.Install(c, time.Duration(e.IdleMS)*time.Millisecond, now)
		n.learn(e.Backend.Addr().As4(), e.BackendMAC)
	}
	n.syncRecv += uint64(len(s.Entries))
	n.syncRecvd.Add(uint64(len(s.Entries)))
}

func (n *Node) onSyncDone(c peer.Counted) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.role == peer.RoleActive || n.inSync || c.Gen != n.wantGen {
		return
	}
	if n.syncRecv != c.Count {
		n.log.Warn("state sync incomplete; asking again", "received", n.syncRecv, "sent", c.Count)
		n.wantGen, n.syncRecv = randGen(), 0
		return
	}
	n.inSync = true
	n.log.Info("in sync with the active", "connections", c.Count, "table", n.table.Len())
}

func (n *Node) onTakeover(c peer.Counted) {
	n.mu.Lock()
	switch {
	case c.Gen == takeoverHandover && n.role != peer.RoleActive:
		n.becomeActiveLocked(time.Now(), "planned switch-over by the peer", 0)
	case c.Gen == takeoverRequest && n.role == peer.RoleActive && n.peerHB.Flags&peer.FlagInSync != 0:
		n.handoverLocked("preempted by a peer of higher priority")
	default:
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()
	n.applyOwner()
}

func (n *Node) becomeActiveLocked(now time.Time, reason string, stall time.Duration) {
	n.role = peer.RoleActive
	n.lastFailover = &Failover{At: now, Reason: reason, Duration: stall}
	n.log.Warn("active", "reason", reason, "in_sync", n.inSync, "connections", n.table.Len(), "since_peer_heard", stall)
}

// becomeStandbyLocked: a node that was active forgets it was in sync and
// asks for a new sync; one that was starting keeps the sync it may already
// have received from this active.
func (n *Node) becomeStandbyLocked(reason string) {
	if n.role == peer.RoleActive {
		n.inSync = false
		n.wantGen, n.syncRecv = randGen(), 0
	}
	n.role = peer.RoleStandby
	n.log.Info("standby", "reason", reason, "in_sync", n.inSync)
}

// wins reports whether we win an election against the peer's heartbeat.
func (n *Node) winsLocked() bool {
	mine, theirs := n.cfg.Peer.Priority, n.peerHB.Priority
	if mine != theirs {
		return mine > theirs
	}
	return n.cfg.Peer.Listen.Addr().Less(n.cfg.Peer.Address.Addr()) ||
		n.cfg.Peer.Listen.Addr() == n.cfg.Peer.Address.Addr() && n.cfg.Peer.Listen.Port() < n.cfg.Peer.Address.Port()
}

// elect runs the election on what we know now.
func (n *Node) elect(ctx context.Context) {
	if n.cfg.Peer == nil {
		return
	}
	now := time.Now()
	dead := n.cfg.Peer.Interval * time.Duration(n.cfg.Peer.DeadAfter)
	n.mu.Lock()
	alive := n.peerAliveLocked(now)
	pr := n.peerHB
	peerInSync := pr.Flags&peer.FlagInSync != 0
	// After handing over, the peer's last heartbeat still says standby
	// until it has taken over: do not believe it again as a reason to
	// become active.
	fresh := n.handoverAt.IsZero() || n.peerHBAt.After(n.handoverAt.Add(n.cfg.Peer.Interval))
	needWitness := ""
	switch n.role {
	case peer.RoleInit:
		switch {
		case alive && pr.Role == peer.RoleActive:
			n.becomeStandbyLocked("the peer is active")
		case alive && pr.Role == peer.RoleStandby && !peerInSync,
			alive && pr.Role == peer.RoleInit && n.winsLocked():
			n.becomeActiveLocked(now, "elected at start", 0)
		case alive && pr.Role == peer.RoleInit:
			n.becomeStandbyLocked("the peer won the election")
		case !alive && now.Sub(n.start) > 2*dead:
			needWitness = "no peer at start"
		}
	case peer.RoleStandby:
		switch {
		case alive && fresh && (pr.Role == peer.RoleInit || pr.Role == peer.RoleStandby) && n.inSync:
			n.becomeActiveLocked(now, "the peer restarted; this node holds the state", 0)
		case alive && fresh && pr.Role == peer.RoleStandby && !peerInSync && n.winsLocked():
			n.becomeActiveLocked(now, "both standby; elected", 0)
		case alive && pr.Role == peer.RoleActive && n.cfg.Peer.Preempt && n.inSync && n.cfg.Peer.Priority > pr.Priority:
			c := peer.Counted{Gen: takeoverRequest}
			_ = n.link.Send(peer.TypeTakeover, c.Append)
		case !alive && !n.peerSeen.IsZero():
			needWitness = "peer lost"
		case alive && !n.peerSeen.IsZero() && now.Sub(n.peerSeen) >= suspectAfter(n.cfg.Peer):
			// Late by all but one interval: ask the witness now, so its
			// verdict is there when the peer is dead rather than three
			// probes later. witnessCheck acts only once the peer is dead.
			needWitness = "peer lost"
		case !alive && now.Sub(n.start) > 2*dead:
			needWitness = "no peer"
		}
	case peer.RoleActive:
		if !alive && !n.peerSeen.IsZero() && !n.splitLogged {
			n.splitLogged = true
			n.log.Warn("peer lost; staying active", "since_peer_heard", now.Sub(n.peerSeen))
		}
		if alive && pr.Role == peer.RoleActive && !n.winsLocked() {
			n.becomeStandbyLocked("split healed: the peer is also active and wins")
		}
	}
	lastSeen := n.peerSeen
	start := needWitness != "" && !n.witnessBusy
	if start {
		n.witnessBusy = true
	}
	n.mu.Unlock()
	if start {
		// The probe takes up to three intervals: off the timer's goroutine,
		// so our own heartbeats keep going meanwhile.
		n.wg.Go(func() { n.witnessCheck(ctx, needWitness, lastSeen) })
	}
	n.applyOwner()
}

// suspectAfter is how long a silent peer is suspected before it is dead:
// all but one of its dead intervals.
func suspectAfter(pc *PeerConfig) time.Duration {
	return pc.Interval * time.Duration(max(1, pc.DeadAfter-1))
}

// witnessCheck asks the witness about the peer and takes over when the
// peer is gone (and silent on the peer link until it is dead). A check
// started while the peer was only suspected waits for that.
func (n *Node) witnessCheck(ctx context.Context, reason string, lastSeen time.Time) {
	dead := n.cfg.Peer.Interval * time.Duration(n.cfg.Peer.DeadAfter)
	early := !lastSeen.IsZero() && time.Since(lastSeen) < dead // started on suspicion
	var replay []passedFrame
	alive := n.witnessSaysAlive(ctx, lastSeen)
	if !alive && !lastSeen.IsZero() {
		if wait := time.Until(lastSeen.Add(dead)); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
			case <-t.C:
			}
			t.Stop()
		}
	}
	n.mu.Lock()
	n.witnessBusy = false
	switch {
	case ctx.Err() != nil:
	case n.peerSeen != lastSeen || n.peerAliveLocked(time.Now()):
		// A heartbeat came meanwhile: the peer lives, no split either.
	case alive && early:
		// The peer answered before it was dead: no verdict yet. The
		// election asks again once it is.
	case alive:
		if !n.splitLogged {
			n.splitLogged = true
			n.splits.Add(1)
			n.log.Warn("split: the peer link is down but the witness sees the peer; not taking over", "reason", reason)
		}
	case !n.peerAliveLocked(time.Now()) && n.role != peer.RoleActive:
		stall := time.Duration(0)
		if !lastSeen.IsZero() {
			stall = time.Since(lastSeen)
			replay = n.takeReplayLocked(n.replayFrom(lastSeen))
		}
		n.becomeActiveLocked(time.Now(), reason, stall)
	}
	n.mu.Unlock()
	n.applyOwner()
	n.replayPassed(replay)
}

// applyOwner takes or gives up the addresses as the role and mode say.
func (n *Node) applyOwner() {
	n.mu.Lock()
	want := n.ownerWantedLocked()
	n.mu.Unlock()
	n.setOwner(want)
}

func (n *Node) ownerWantedLocked() bool {
	pc := n.cfg.Peer
	if pc == nil {
		return true
	}
	alive := n.peerAliveLocked(time.Now())
	if pc.Mode == StandbyFirst {
		switch n.role {
		case peer.RoleStandby:
			return n.inSync && alive && n.peerHB.Role == peer.RoleActive
		case peer.RoleActive:
			return !(alive && n.peerHB.Role == peer.RoleStandby && n.peerHB.Flags&peer.FlagInSync != 0)
		}
		return false
	}
	return n.role == peer.RoleActive
}

// witnessSaysAlive probes the peer over the second path: true when it
// answers. Without a witness the peer is taken as gone.
//
// It probes every quarter interval for three intervals, and at least
// until half an interval after the peer is dead (lastSeen + dead). A peer
// that is merely slow (a loaded machine) has three intervals to answer,
// as before; started when the peer is suspected (one interval before it
// is dead), the verdict comes two intervals after its death rather than
// three. A shorter window (1.25 intervals) was tried: under the race
// detector on a loaded machine a live peer missed it, the standby took
// over, and a connection opened during that split was lost.
func (n *Node) witnessSaysAlive(ctx context.Context, lastSeen time.Time) bool {
	if n.wlink == nil {
		return false
	}
	nonce := uint64(randGen())<<32 | uint64(randGen())
	n.mu.Lock()
	n.witnessPending = nonce
	n.mu.Unlock()
	iv := n.cfg.Peer.Interval
	until := time.Now().Add(3 * iv)
	if !lastSeen.IsZero() {
		if t := lastSeen.Add(iv*time.Duration(n.cfg.Peer.DeadAfter) + iv/2); t.After(until) {
			until = t
		}
	}
	t := time.NewTicker(iv / 4)
	defer t.Stop()
	for {
		c := peer.Counted{Count: nonce}
		_ = n.wlink.Send(peer.TypeWitnessProbe, c.Append)
	wait:
		for {
			select {
			case <-ctx.Done():
				return true // shutting down: take nothing over
			case got := <-n.witnessAnswered:
				if got == nonce {
					return true
				}
			case now := <-t.C:
				if !now.Before(until) {
					return false
				}
				break wait
			}
		}
	}
}

// witnessLoop answers the peer's probes and delivers its answers.
func (n *Node) witnessLoop(ctx context.Context) {
	buf := make([]byte, 512)
	var c peer.Counted
	for {
		h, p, err := n.wlink.Recv(buf)
		if err != nil {
			return
		}
		if c.Decode(p) != nil {
			continue
		}
		switch h.Type {
		case peer.TypeWitnessProbe:
			r := peer.Counted{Count: c.Count}
			_ = n.wlink.Send(peer.TypeWitnessReply, r.Append)
		case peer.TypeWitnessReply:
			select {
			case n.witnessAnswered <- c.Count:
			default:
			}
		}
	}
}

// timerLoop sends heartbeats, runs the election, expires connections and
// resolves backends.
func (n *Node) timerLoop(ctx context.Context) {
	iv := 200 * time.Millisecond
	if n.cfg.Peer != nil {
		iv = n.cfg.Peer.Interval
	}
	// The election runs twice per heartbeat: a dead peer is seen within
	// half an interval, not a whole one.
	t := time.NewTicker(iv / 2)
	defer t.Stop()
	var lastHouse, lastBeat time.Time
	for {
		if now := time.Now(); now.Sub(lastBeat) >= iv-iv/4 {
			lastBeat = now
			n.heartbeat()
		}
		n.elect(ctx)
		if time.Since(lastHouse) >= time.Second {
			lastHouse = time.Now()
			n.table.Expire(lastHouse.UnixNano())
			n.resolveBackends()
			n.mu.Lock()
			owner := n.owner
			n.mu.Unlock()
			if owner {
				// Re-announce now and then: a neighbour that missed the
				// takeover's announcement (or a switch that aged out our
				// port) is set right within a second.
				n.announce()
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (n *Node) heartbeat() {
	if n.link == nil {
		return
	}
	now := time.Now()
	n.mu.Lock()
	hb := peer.Heartbeat{Priority: n.cfg.Peer.Priority, Role: n.role, Conns: uint32(n.table.Len()), SyncGen: n.wantGen, SentNS: now.UnixNano()}
	if n.role == peer.RoleStandby && n.inSync {
		hb.Flags |= peer.FlagInSync
	}
	if n.cfg.Peer.Preempt {
		hb.Flags |= peer.FlagPreempt
	}
	if !n.peerHBAt.IsZero() {
		hb.EchoNS, hb.HoldNS = n.peerHB.SentNS, now.Sub(n.peerHBAt).Nanoseconds()
	}
	n.mu.Unlock()
	_ = n.link.Send(peer.TypeHeartbeat, hb.Append)
}

// resolveBackends probes backends whose MAC we do not know.
func (n *Node) resolveBackends() {
	var out [2][]capture.Frame
	for _, b := range n.cfg.Service.Backends {
		ip := b.Addr().As4()
		if _, ok := n.neighbour(ip); !ok {
			n.probe(ip, &out)
		}
	}
	n.flush(&out)
}
