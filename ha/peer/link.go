package peer

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/ipv4"
)

// Stats count a link's messages.
type Stats struct {
	Sent, SendErrors                      uint64
	Received                              uint64
	Forged, Replayed, Malformed, Stranger uint64
}

// Link is one end of the authenticated peer link: a UDP socket bound to
// the local address that talks only to the peer's address.
type Link struct {
	conn  *net.UDPConn
	pc    *ipv4.PacketConn // the same socket, for recvmmsg
	msgs  []ipv4.Message   // RecvBatch's, reused
	peer  netip.AddrPort
	epoch uint64
	seq   atomic.Uint64

	mu    sync.Mutex // the send side: buffers, sealer, queue
	buf   []byte
	seal  *Sealer
	queue [][]byte       // sealed messages waiting for Flush (reused buffers)
	nq    int            // how many of queue are waiting
	wmsgs []ipv4.Message // Flush's, reused
	dst   *net.UDPAddr   // the peer, for sendmmsg

	win  Window  // the receiving goroutine's only
	open *Sealer // the receiving goroutine's only

	sent, sendErrors, received            atomic.Uint64
	forged, replayed, malformed, stranger atomic.Uint64
}

// Config configures a link.
type Config struct {
	Listen, Peer netip.AddrPort
	Key          []byte
	// NetNS is an optional network namespace path to open the socket in.
	NetNS string
}

// Listen opens the link's socket.
func Listen(cfg Config) (*Link, error) {
	if len(cfg.Key) < 16 {
		return nil, errors.New("peer: key shorter than 16 bytes")
	}
	var conn *net.UDPConn
	err := inNetNS(cfg.NetNS, func() error {
		var err error
		conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(cfg.Listen))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("peer: listen on %v: %w", cfg.Listen, err)
	}
	// Room for bursts: the standby's reader may be off the CPU for a few
	// milliseconds on a busy machine, and a mirror dropped by a full
	// socket buffer is a lost packet for the endpoints.
	setBuffers(conn, socketBuffer)
	return &Link{conn: conn, pc: ipv4.NewPacketConn(conn), peer: cfg.Peer, epoch: uint64(time.Now().UnixNano()),
		seal: NewSealer(cfg.Key), open: NewSealer(cfg.Key), dst: net.UDPAddrFromAddrPort(cfg.Peer)}, nil
}

// Peer is the peer's address.
func (l *Link) Peer() netip.AddrPort { return l.peer }

// Close closes the socket; a blocked Recv returns.
func (l *Link) Close() error { return l.conn.Close() }

// socketBuffer is the peer link's socket buffer size, each way.
const socketBuffer = 4 << 20

// maxQueue bounds the messages Queue holds before it flushes itself.
const maxQueue = 64

// Send seals and sends one message (after any queued ones). build
// appends the payload.
func (l *Link) Send(typ uint8, build func([]byte) []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queueLocked(typ, build)
	return l.flushLocked()
}

// Queue seals a message and holds it for Flush: a receive batch's mirrors
// leave in one system call (sendmmsg). Messages leave in the order they
// were queued or sent, from any goroutine.
func (l *Link) Queue(typ uint8, build func([]byte) []byte) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.queueLocked(typ, build)
	if l.nq == maxQueue {
		return l.flushLocked()
	}
	return nil
}

func (l *Link) queueLocked(typ uint8, build func([]byte) []byte) {
	var payload []byte
	if build != nil {
		payload = build(l.buf[:0])
	}
	if l.nq == len(l.queue) {
		l.queue = append(l.queue, nil)
	}
	l.queue[l.nq] = l.seal.Seal(l.queue[l.nq][:0], Header{Type: typ, Epoch: l.epoch, Seq: l.seq.Add(1)}, payload)
	l.nq++
	l.buf = payload[:0]
}

// Flush sends the queued messages.
func (l *Link) Flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.flushLocked()
}

func (l *Link) flushLocked() error {
	if l.nq == 0 {
		return nil
	}
	n := l.nq
	l.nq = 0
	if n == 1 {
		if _, err := l.conn.WriteToUDPAddrPort(l.queue[0], l.peer); err != nil {
			l.sendErrors.Add(1)
			return err
		}
		l.sent.Add(1)
		return nil
	}
	if len(l.wmsgs) < n {
		l.wmsgs = make([]ipv4.Message, maxQueue)
		for i := range l.wmsgs {
			l.wmsgs[i].Buffers = make([][]byte, 1)
		}
	}
	ms := l.wmsgs[:n]
	for i := range ms {
		ms[i].Buffers[0], ms[i].Addr = l.queue[i], l.dst
	}
	var err error
	for len(ms) > 0 {
		var k int
		if k, err = l.pc.WriteBatch(ms, 0); err != nil {
			break
		}
		l.sent.Add(uint64(k))
		ms = ms[k:]
	}
	if err != nil {
		l.sendErrors.Add(uint64(len(ms)))
	}
	return err
}

// Recv returns the next authentic, fresh message from the peer. Forged,
// replayed, malformed and foreign datagrams are dropped and counted. The
// payload is a slice of buf. Only one goroutine may call Recv.
func (l *Link) Recv(buf []byte) (Header, []byte, error) {
	for {
		n, from, err := l.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			return Header{}, nil, err
		}
		if h, payload, ok := l.check(from, buf[:n]); ok {
			return h, payload, nil
		}
	}
}

// check authenticates one datagram, counting what it drops.
func (l *Link) check(from netip.AddrPort, b []byte) (Header, []byte, bool) {
	if from.Addr().Unmap() != l.peer.Addr() {
		l.stranger.Add(1)
		return Header{}, nil, false
	}
	h, payload, err := l.open.Open(b)
	switch {
	case errors.Is(err, ErrForged):
		l.forged.Add(1)
		return Header{}, nil, false
	case err != nil:
		l.malformed.Add(1)
		return Header{}, nil, false
	case !l.win.Check(h.Epoch, h.Seq):
		l.replayed.Add(1)
		return Header{}, nil, false
	}
	l.received.Add(1)
	return h, payload, true
}

// Message is one authentic message of a batch.
type Message struct {
	Header
	Payload []byte
}

// RecvBatch is Recv for as many datagrams as are waiting, up to
// len(bufs), in one system call (recvmmsg): it blocks until at least one
// authentic message is there and fills out (len(out) >= len(bufs)) with
// the messages, in arrival order; payloads are slices of bufs. A reader
// that acts on a batch at once (sends the frames of a whole batch in one
// go) saves a system call per message on both sides of it.
func (l *Link) RecvBatch(bufs [][]byte, out []Message) (int, error) {
	if len(l.msgs) < len(bufs) {
		l.msgs = make([]ipv4.Message, len(bufs))
	}
	ms := l.msgs[:len(bufs)]
	for i := range ms {
		ms[i].Buffers = bufs[i : i+1]
	}
	for {
		n, err := l.pc.ReadBatch(ms, 0)
		if err != nil {
			return 0, err
		}
		k := 0
		for _, m := range ms[:n] {
			ua, ok := m.Addr.(*net.UDPAddr)
			if !ok {
				l.stranger.Add(1)
				continue
			}
			if h, payload, ok := l.check(ua.AddrPort(), m.Buffers[0][:m.N]); ok {
				out[k] = Message{h, payload}
				k++
			}
		}
		if k > 0 {
			return k, nil
		}
	}
}

// Stats returns the counters.
func (l *Link) Stats() Stats {
	return Stats{Sent: l.sent.Load(), SendErrors: l.sendErrors.Load(), Received: l.received.Load(),
		Forged: l.forged.Load(), Replayed: l.replayed.Load(), Malformed: l.malformed.Load(), Stranger: l.stranger.Load()}
}
