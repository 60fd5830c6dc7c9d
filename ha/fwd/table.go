package fwd

import (
	"errors"
	"fmt"
	"hash/fnv"
	"net/netip"
	"slices"
	"sync"
	"time"
)

// Side is where a frame came from or goes to.
type Side uint8

const (
	// Client is the side of the VIP: clients connect to it.
	Client Side = iota
	// Server is the side of the backends.
	Server
)

func (s Side) String() string {
	if s == Server {
		return "server"
	}
	return "client"
}

// Balance is the backend selection for new connections.
type Balance string

const (
	RoundRobin Balance = "round_robin"
	Hash       Balance = "hash" // FNV of client address and port
)

// Timeouts of idle connections per state.
type Timeouts struct {
	TCPSyn, TCPEstablished, TCPFin, TCPClose, UDP, UDPStream time.Duration
}

// DefaultTimeouts are conntrack-like.
var DefaultTimeouts = Timeouts{
	TCPSyn: 30 * time.Second, TCPEstablished: 2 * time.Hour, TCPFin: 2 * time.Minute,
	TCPClose: 10 * time.Second, UDP: 30 * time.Second, UDPStream: 3 * time.Minute,
}

// Service is what the forwarder serves.
type Service struct {
	VIP      netip.Addr
	Port     uint16
	TCP, UDP bool
	Backends []netip.AddrPort
	Balance  Balance
	Timeouts Timeouts
}

// Validate checks a service.
func (s *Service) Validate() error {
	if !s.VIP.Is4() {
		return fmt.Errorf("vip %v: want an IPv4 address", s.VIP)
	}
	if s.Port == 0 {
		return errors.New("port: want 1-65535")
	}
	if !s.TCP && !s.UDP {
		return errors.New("no protocol")
	}
	if len(s.Backends) == 0 {
		return errors.New("no backends")
	}
	for _, b := range s.Backends {
		if !b.Addr().Is4() || b.Port() == 0 {
			return fmt.Errorf("backend %v: want IPv4 address:port", b)
		}
	}
	switch s.Balance {
	case RoundRobin, Hash:
	default:
		return fmt.Errorf("balance %q: want round_robin or hash", s.Balance)
	}
	return nil
}

// TCPState is a tracked connection's state.
type TCPState uint8

const (
	StateNone        TCPState = iota // UDP
	StateSynSent                     // client SYN seen
	StateSynRecv                     // server SYN+ACK seen
	StateEstablished                 // handshake done
	StateFinWait                     // one side sent FIN
	StateTimeWait                    // both sides sent FIN
	StateClose                       // RST seen
	stateMax
)

var stateNames = [...]string{"udp", "syn_sent", "syn_recv", "established", "fin_wait", "time_wait", "close"}

func (s TCPState) String() string {
	if s < stateMax {
		return stateNames[s]
	}
	return fmt.Sprintf("state(%d)", s)
}

// Key names a connection: protocol and the client's address and port (the
// service address and port are fixed, and the client's address is kept
// towards the backend, so this is unique on both sides).
type Key struct {
	Proto  uint8
	Client [4]byte
	Port   uint16
}

func (k Key) String() string {
	return fmt.Sprintf("%d/%v:%d", k.Proto, netip.AddrFrom4(k.Client), k.Port)
}

// Conn is one tracked connection. Its fields are read under the table's
// lock (Snapshot returns copies).
type Conn struct {
	Key
	Backend     netip.AddrPort
	State       TCPState
	Replied     bool // UDP: the backend answered
	fin         [2]bool
	ClientMAC   [6]byte
	BackendMAC  [6]byte
	Packets     uint64
	Bytes       uint64
	Created     int64 // ns
	LastSeen    int64 // ns
	SeqDelta    int32 // always 0: sequence numbers are not rewritten
	timeoutNano int64
}

// Verdict is what Track decided for a frame.
type Verdict uint8

const (
	// Drop the frame: no connection, or not allowed in its state.
	Drop Verdict = iota
	// Forward the frame (after Translate) to the other side.
	Forward
	// NotOurs: not the service's traffic; leave it to the port.
	NotOurs
)

// Stats count the table's decisions.
type Stats struct {
	Created, Expired, Dropped, Forwarded uint64
}

// Table is the connection table of one service.
type Table struct {
	svc Service

	mu    sync.Mutex
	conns map[Key]*Conn
	rr    uint32
	stats Stats
}

// NewTable returns an empty table for svc (validated).
func NewTable(svc Service) (*Table, error) {
	if err := svc.Validate(); err != nil {
		return nil, err
	}
	if svc.Timeouts == (Timeouts{}) {
		svc.Timeouts = DefaultTimeouts
	}
	return &Table{svc: svc, conns: make(map[Key]*Conn)}, nil
}

// Service is the table's service.
func (t *Table) Service() Service { return t.svc }

// Len is the number of tracked connections.
func (t *Table) Len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.conns)
}

// Stats returns the counters.
func (t *Table) Stats() Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.stats
}

func (t *Table) wants(proto uint8) bool {
	return proto == ProtoTCP && t.svc.TCP || proto == ProtoUDP && t.svc.UDP
}

// Classify tells which side's service traffic p is without touching the
// table: Client for packets to VIP:port, Server for packets from a
// backend; ok false for anything else.
func (t *Table) Classify(p *Packet, from Side) (ok bool) {
	if !t.wants(p.Proto) {
		return false
	}
	if from == Client {
		return p.Dst == t.svc.VIP.As4() && p.DPort == t.svc.Port
	}
	return slices.Contains(t.svc.Backends, netip.AddrPortFrom(p.SrcAddr(), p.SPort))
}

func (t *Table) pick(k Key) netip.AddrPort {
	bs := t.svc.Backends
	if t.svc.Balance == Hash {
		h := fnv.New32a()
		h.Write(k.Client[:])
		h.Write([]byte{byte(k.Port >> 8), byte(k.Port), k.Proto})
		return bs[h.Sum32()%uint32(len(bs))]
	}
	b := bs[t.rr%uint32(len(bs))]
	t.rr++
	return b
}

// Track runs the connection tracker on a frame received from side from:
// it finds or creates the connection, advances its state, and returns
// the verdict and a copy of the connection. hint, when valid, is the
// backend the active chose (a mirrored frame): a new connection takes it
// instead of the balancer's choice, and a connection the tracker has not
// seen begin is picked up from the middle. Track does not modify the frame.
func (t *Table) Track(p *Packet, from Side, now int64, hint netip.AddrPort) (Verdict, Conn) {
	if !t.Classify(p, from) {
		return NotOurs, Conn{}
	}
	k := Key{Proto: p.Proto}
	if from == Client {
		k.Client, k.Port = p.Src, p.SPort
	} else {
		k.Client, k.Port = p.Dst, p.DPort
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	c := t.conns[k]
	if c != nil && c.expired(now) {
		delete(t.conns, k)
		t.stats.Expired++
		c = nil
	}
	syn := p.Proto == ProtoTCP && p.Flags&(flagSYN|flagACK|flagRST) == flagSYN
	if c != nil && from == Client && syn && (c.State == StateTimeWait || c.State == StateClose) {
		delete(t.conns, k) // a new connection reusing the ports
		c = nil
	}
	if c == nil {
		if from != Client || p.Proto == ProtoTCP && !syn && !hint.IsValid() {
			t.stats.Dropped++
			return Drop, Conn{}
		}
		c = &Conn{Key: k, Created: now}
		if hint.IsValid() {
			c.Backend = hint
		} else {
			c.Backend = t.pick(k)
		}
		if p.Proto == ProtoTCP {
			c.State = StateSynSent
			if !syn {
				c.State = StateEstablished // picked up mid-stream
			}
		}
		t.conns[k] = c
		t.stats.Created++
	}
	if from == Server && netip.AddrPortFrom(p.SrcAddr(), p.SPort) != c.Backend {
		t.stats.Dropped++
		return Drop, Conn{}
	}
	if from == Client {
		copy(c.ClientMAC[:], p.B[6:12])
	} else {
		copy(c.BackendMAC[:], p.B[6:12])
	}
	if p.Proto == ProtoTCP {
		c.advance(p, from)
	} else if from == Server {
		c.Replied = true
	}
	c.Packets++
	c.Bytes += uint64(len(p.B))
	c.LastSeen = now
	c.timeoutNano = int64(t.timeout(c))
	t.stats.Forwarded++
	return Forward, *c
}

func (c *Conn) advance(p *Packet, from Side) {
	f := p.Flags
	switch {
	case f&flagRST != 0:
		c.State = StateClose
		return
	case c.State == StateSynSent && from == Server && f&(flagSYN|flagACK) == flagSYN|flagACK:
		c.State = StateSynRecv
	case c.State == StateSynRecv && from == Client && f&flagACK != 0 && f&flagSYN == 0:
		c.State = StateEstablished
	}
	if f&flagFIN != 0 {
		c.fin[from] = true
		if c.State < StateFinWait {
			c.State = StateFinWait
		}
		if c.fin[0] && c.fin[1] {
			c.State = StateTimeWait
		}
	}
}

func (t *Table) timeout(c *Conn) time.Duration {
	to := t.svc.Timeouts
	switch c.State {
	case StateNone:
		if c.Replied {
			return to.UDPStream
		}
		return to.UDP
	case StateSynSent, StateSynRecv:
		return to.TCPSyn
	case StateEstablished:
		return to.TCPEstablished
	case StateFinWait, StateTimeWait:
		return to.TCPFin
	}
	return to.TCPClose
}

func (c *Conn) expired(now int64) bool { return now-c.LastSeen > c.timeoutNano }

// Expire removes connections idle past their state's timeout and returns
// how many.
func (t *Table) Expire(now int64) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for k, c := range t.conns {
		if c.expired(now) {
			delete(t.conns, k)
			n++
		}
	}
	t.stats.Expired += uint64(n)
	return n
}

// Translate rewrites a frame Track passed (verdict Forward) for the other
// side: towards the backend the destination becomes the backend's address
// and port; towards the client the source becomes the VIP and service
// port. IP and transport checksums are updated incrementally and the TTL
// decremented. The Ethernet addresses are set by the caller. False when
// the TTL expired.
func (t *Table) Translate(p *Packet, from Side, c *Conn) bool {
	if !p.decTTL() {
		return false
	}
	if from == Client {
		p.setAddr(false, c.Backend.Addr().As4())
		p.setPort(false, c.Backend.Port())
	} else {
		p.setAddr(true, t.svc.VIP.As4())
		p.setPort(true, t.svc.Port)
	}
	return true
}

// Snapshot returns copies of every live connection, busiest (most
// packets) first: the order a late standby is synchronised in.
func (t *Table) Snapshot(now int64) []Conn {
	t.mu.Lock()
	out := make([]Conn, 0, len(t.conns))
	for _, c := range t.conns {
		if !c.expired(now) {
			out = append(out, *c)
		}
	}
	t.mu.Unlock()
	slices.SortFunc(out, func(a, b Conn) int {
		switch {
		case a.Packets > b.Packets:
			return -1
		case a.Packets < b.Packets:
			return 1
		}
		return 0
	})
	return out
}

// Install adds a connection from a state sync unless the table already
// tracks it (mirrored packets are newer than the snapshot). The idle time
// is kept: LastSeen is now minus idle. True when it was added.
func (t *Table) Install(c Conn, idle time.Duration, now int64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if old, ok := t.conns[c.Key]; ok && !old.expired(now) {
		return false
	}
	n := c
	n.LastSeen = now - int64(idle)
	if n.Created == 0 || n.Created > n.LastSeen {
		n.Created = n.LastSeen
	}
	if n.State == StateFinWait || n.State == StateTimeWait {
		n.fin[0] = true
	}
	n.timeoutNano = int64(t.timeout(&n))
	t.conns[n.Key] = &n
	t.stats.Created++
	return true
}

// Clear forgets every connection (a standby that starts a new sync).
func (t *Table) Clear() {
	t.mu.Lock()
	defer t.mu.Unlock()
	clear(t.conns)
}

// Lookup returns a copy of the connection for k.
func (t *Table) Lookup(k Key) (Conn, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := t.conns[k]
	if !ok {
		return Conn{}, false
	}
	return *c, true
}
