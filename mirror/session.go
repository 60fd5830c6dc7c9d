package mirror

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirebox/wirebox/internal/mapx"
	"github.com/wirebox/wirebox/internal/tick"
	"github.com/wirebox/wirebox/mirror/proto"
)

// Timeouts of a session. A client answers pings, so a silent one is gone.
const (
	handshakeTimeout = 10 * time.Second
	idleTimeout      = 30 * time.Second
	writeTimeout     = 30 * time.Second
	pingInterval     = 2 * time.Second
)

// session is one client connection.
type session struct {
	s        *Service
	id       uint64
	conn     *tls.Conn
	remote   string
	identity string
	cred     *credential
	started  time.Time
	filter   *tunnelFilter
	log      *slog.Logger
	cancel   context.CancelFunc

	wmu  sync.Mutex
	wbuf []byte
	seq  uint32 // under wmu

	mu    sync.Mutex
	chans map[uint16]*channel

	rttNs  atomic.Int64
	pingAt atomic.Int64 // clock of the outstanding ping (ns), 0 if none
}

// channel is a port lent to a session.
type channel struct {
	sess      *session
	id        uint16
	port      string
	exclusive bool
	cp        corePort
	sub       atomic.Pointer[coreSub]
	tot       *portTotals
	since     time.Time
	cancel    context.CancelFunc
	done      chan struct{}
	ended     atomic.Bool
	txbuf     [][]byte

	framesTo, bytesTo, framesFrom, bytesFrom, dropFrom atomic.Uint64
}

// serve runs one connection to its end.
func (s *Service) serve(ctx context.Context, raw net.Conn, tc *tls.Config, creds []*credential) {
	defer raw.Close()
	conn := tls.Server(raw, tc)
	hctx, hcancel := context.WithTimeout(ctx, handshakeTimeout)
	err := conn.HandshakeContext(hctx)
	hcancel()
	log := s.logger().With("client", raw.RemoteAddr().String())
	if err != nil {
		log.Info("mirror: TLS handshake failed", "err", err)
		return
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.mu.Lock()
	s.nextID++
	sess := &session{
		s: s, id: s.nextID, conn: conn, remote: raw.RemoteAddr().String(), started: time.Now(),
		filter: newTunnelFilter(raw.LocalAddr(), raw.RemoteAddr()), log: log, cancel: cancel,
		chans: map[uint16]*channel{},
	}
	s.sessions[sess.id] = sess
	s.mu.Unlock()
	defer func() {
		sess.endAll()
		s.mu.Lock()
		delete(s.sessions, sess.id)
		s.mu.Unlock()
	}()
	stop := context.AfterFunc(ctx, func() {
		if parent.Err() != nil {
			// The service is stopping: say so if the connection still
			// takes it, then cut it.
			_ = conn.SetWriteDeadline(time.Now().Add(time.Second))
			sess.sendError(0, 0, &proto.Error{Code: proto.CodeShutdown, Message: "session ends"})
		}
		conn.Close()
	})
	defer stop()
	err = sess.run(ctx, creds)
	if err != nil && ctx.Err() == nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		// Let the error just sent reach the client: close our side, then
		// read what it still sends for a moment (closing with unread data
		// would reset the connection, and the peer might lose the error).
		_ = conn.CloseWrite()
		_ = conn.SetReadDeadline(time.Now().Add(time.Second))
		_, _ = io.Copy(io.Discard, io.LimitReader(raw, 1<<20))
	}
	switch {
	case err == nil, errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed), ctx.Err() != nil:
		log.Info("mirror: session ended", "identity", sess.identity)
	default:
		log.Info("mirror: session ended", "identity", sess.identity, "err", err)
	}
}

// run authenticates the client, then answers its messages.
func (se *session) run(ctx context.Context, creds []*credential) error {
	r := proto.NewReader(bufio.NewReaderSize(se.conn, 256<<10))
	_ = se.conn.SetReadDeadline(time.Now().Add(handshakeTimeout))
	m, err := r.Next()
	if err != nil {
		return se.protocolError(m, err)
	}
	if err := se.hello(m, creds); err != nil {
		return err
	}
	// The pinger stops with run; the session's context (channels, the
	// connection) ends in serve, after an error has been delivered.
	pctx, pcancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer pcancel()
	wg.Go(func() { se.pinger(pctx) })
	for {
		_ = se.conn.SetReadDeadline(time.Now().Add(idleTimeout))
		m, err := r.Next()
		if err != nil {
			return se.protocolError(m, err)
		}
		if m.Version != proto.Version {
			se.sendError(m.Seq, m.Channel, &proto.Error{Code: proto.CodeVersion,
				Message:  fmt.Sprintf("message of version %d after version %d was agreed", m.Version, proto.Version),
				Versions: proto.SupportedVersions})
			return fmt.Errorf("version %d mid-session", m.Version)
		}
		if err := se.handle(ctx, m); err != nil {
			return err
		}
	}
}

// protocolError answers a framing error (if the connection still works)
// and ends the session: a malformed or oversized message ends only this one.
func (se *session) protocolError(m proto.Message, err error) error {
	switch {
	case errors.Is(err, proto.ErrTooLarge):
		se.sendError(m.Seq, m.Channel, &proto.Error{Code: proto.CodeTooLarge, Message: err.Error()})
	case errors.Is(err, proto.ErrMagic), errors.Is(err, proto.ErrMalformed):
		se.sendError(m.Seq, m.Channel, &proto.Error{Code: proto.CodeMalformed, Message: err.Error()})
	}
	return err
}

// hello checks the version and the credentials. Before it succeeds the
// client gets nothing but an error.
func (se *session) hello(m proto.Message, creds []*credential) error {
	op, body, err := m.Op()
	if m.Type != proto.TypeQuery || err != nil || op != proto.OpHello {
		se.sendError(m.Seq, 0, &proto.Error{Code: proto.CodeAuth, Message: "authenticate first (hello)"})
		return errors.New("first message is not a hello")
	}
	h, err := proto.ParseHello(body)
	if err != nil {
		se.sendError(m.Seq, 0, &proto.Error{Code: proto.CodeMalformed, Message: err.Error()})
		return err
	}
	if m.Version != proto.Version || !slices.Contains(h.Versions, proto.Version) {
		se.sendError(m.Seq, 0, &proto.Error{Code: proto.CodeVersion,
			Message: fmt.Sprintf("client speaks %v", h.Versions), Versions: proto.SupportedVersions})
		return fmt.Errorf("no common version (client %v)", h.Versions)
	}
	c := authenticate(creds, se.conn.ConnectionState(), h.Token)
	if c == nil {
		se.sendError(m.Seq, 0, &proto.Error{Code: proto.CodeAuth, Message: "wrong token or no client certificate"})
		return errors.New("authentication failed")
	}
	se.cred, se.identity = c, c.name
	se.log = se.log.With("identity", c.name)
	se.log.Info("mirror: client authenticated", "client_name", h.Client)
	se.respond(m.Seq, 0, proto.AppendWelcome(nil, proto.Welcome{Version: proto.Version, Server: "wirebox", Identity: c.name}))
	return nil
}

// handle answers one message after the hello.
func (se *session) handle(ctx context.Context, m proto.Message) error {
	switch m.Type {
	case proto.TypeData:
		return se.data(m)
	case proto.TypeError:
		e, err := proto.ParseError(m.Payload)
		if err != nil {
			return err
		}
		return fmt.Errorf("client error: %w", e)
	case proto.TypeReport:
		return nil // nothing a client reports is acted on in version 1
	}
	op, body, err := m.Op()
	if err != nil {
		se.sendError(m.Seq, m.Channel, &proto.Error{Code: proto.CodeMalformed, Message: err.Error()})
		return err
	}
	if m.Type == proto.TypeResponse {
		if op == proto.OpPing {
			if t, err := proto.ParsePing(body); err == nil && int64(t) == se.pingAt.Load() {
				se.rttNs.Store(time.Now().UnixNano() - int64(t))
			}
		}
		return nil
	}
	switch op {
	case proto.OpHello:
		se.sendError(m.Seq, m.Channel, &proto.Error{Code: proto.CodeState, Message: "already authenticated"})
	case proto.OpList:
		se.respond(m.Seq, 0, proto.AppendPorts(nil, se.s.ports()))
	case proto.OpRequest:
		req, err := proto.ParseRequest(body)
		if err != nil {
			se.sendError(m.Seq, m.Channel, &proto.Error{Code: proto.CodeMalformed, Message: err.Error()})
			return err
		}
		se.request(ctx, m, req)
	case proto.OpRelease:
		if ch := se.held(m); ch != nil {
			ch.stop()
			se.respond(m.Seq, m.Channel, proto.AppendOp(nil, proto.OpRelease))
		}
	case proto.OpCounters:
		if ch := se.held(m); ch != nil {
			se.respond(m.Seq, m.Channel, proto.AppendCounters(nil, ch.counters()))
		}
	case proto.OpPing:
		if _, err := proto.ParsePing(body); err != nil {
			se.sendError(m.Seq, m.Channel, &proto.Error{Code: proto.CodeMalformed, Message: err.Error()})
			return err
		}
		// Not waiting for the write lock: a pump blocked on a full
		// connection holds it, and the client may be waiting for us to
		// read. A missed answer costs the client one RTT sample.
		if se.wmu.TryLock() {
			se.wbuf = proto.Build(se.wbuf[:0], proto.Header{Version: proto.Version, Type: proto.TypeResponse, Channel: m.Channel, Seq: m.Seq}, m.Payload)
			_ = se.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			_, err := se.conn.Write(se.wbuf)
			se.wmu.Unlock()
			if err != nil {
				return err
			}
		}
	default:
		se.sendError(m.Seq, m.Channel, &proto.Error{Code: proto.CodeMalformed, Message: fmt.Sprintf("unknown query %d", op)})
		return fmt.Errorf("unknown query %d", op)
	}
	return nil
}

// channel is the channel with this id; nil when none.
func (se *session) channel(id uint16) *channel {
	se.mu.Lock()
	defer se.mu.Unlock()
	return se.chans[id]
}

// held is the channel query m is on, or nil after telling the client
// that channel holds no port.
func (se *session) held(m proto.Message) *channel {
	ch := se.channel(m.Channel)
	if ch == nil {
		se.sendError(m.Seq, m.Channel, &proto.Error{Code: proto.CodeState, Message: fmt.Sprintf("channel %d holds no port", m.Channel)})
	}
	return ch
}

// request grants a port on a channel, or says why not.
func (se *session) request(ctx context.Context, m proto.Message, req proto.Request) {
	s := se.s
	refuse := func(code proto.Code, msg string) {
		se.log.Info("mirror: request refused", "port", req.Port, "reason", code.String())
		se.sendError(m.Seq, m.Channel, &proto.Error{Code: code, Message: msg})
	}
	se.mu.Lock()
	_, inUse := se.chans[m.Channel]
	se.mu.Unlock()
	if inUse {
		refuse(proto.CodeState, fmt.Sprintf("channel %d is in use", m.Channel))
		return
	}
	cp, ok := lookupPort(s.core(), req.Port)
	if !ok {
		refuse(proto.CodeNoPort, fmt.Sprintf("the appliance has no port %q", req.Port))
		return
	}
	exclusive := req.Mode == proto.ModeExclusive
	s.mu.Lock()
	switch {
	case !s.registered[req.Port]:
		s.mu.Unlock()
		refuse(proto.CodeNotRegistered, fmt.Sprintf("port %s is not registered for mirroring", req.Port))
		return
	case !se.cred.allows(req.Port):
		s.mu.Unlock()
		refuse(proto.CodeNotAllowed, fmt.Sprintf("credential %s may not use port %s", se.cred.name, req.Port))
		return
	}
	s.mu.Unlock()
	var skip func([]byte) bool
	if se.filter != nil {
		skip = se.filter.match
	}
	// The core decides who holds the port: an exclusive ingress owner is
	// refused while another (a mirror client or any other consumer) holds
	// it, so two requests cannot both win.
	sub, err := cp.subscribe(fmt.Sprintf("mirror %s #%d", se.remote, m.Channel), exclusive, skip)
	if errors.Is(err, errBusy) {
		holder := "another consumer of the core"
		s.mu.Lock()
		if h := s.holders[req.Port]; h != nil {
			holder = h.sess.remote
		}
		s.mu.Unlock()
		refuse(proto.CodeBusy, fmt.Sprintf("port %s is held by %s (attach with monitor mode to watch it)", req.Port, holder))
		return
	}
	if err != nil {
		refuse(proto.CodeInternal, err.Error())
		return
	}
	cctx, cancel := context.WithCancel(ctx)
	granted := make(chan struct{})
	ch := &channel{sess: se, id: m.Channel, port: req.Port, exclusive: exclusive, cp: cp, since: time.Now(),
		cancel: cancel, done: make(chan struct{})}
	ch.sub.Store(sub)
	go ch.pump(cctx, granted)
	st := portState(cp.c, req.Port)
	s.mu.Lock()
	if !s.registered[req.Port] { // unregistered while subscribing
		s.mu.Unlock()
		ch.stop()
		refuse(proto.CodeNotRegistered, fmt.Sprintf("port %s was unregistered", req.Port))
		return
	}
	ch.tot = mapx.Entry(s.totals, req.Port)
	if exclusive {
		s.holders[req.Port] = ch
	} else {
		if s.monitors[req.Port] == nil {
			s.monitors[req.Port] = map[*channel]struct{}{}
		}
		s.monitors[req.Port][ch] = struct{}{}
	}
	s.live[sub] = struct{}{}
	s.links[req.Port] = st
	info := s.portInfoLocked(req.Port, st)
	s.mu.Unlock()
	se.mu.Lock()
	se.chans[m.Channel] = ch
	se.mu.Unlock()
	if ch.ended.Load() { // unregistered meanwhile: stop ran before the channel was listed
		ch.ended.Store(false)
		ch.stop()
		refuse(proto.CodeNotRegistered, fmt.Sprintf("port %s was unregistered", req.Port))
		return
	}
	mode := "exclusive"
	if !exclusive {
		mode = "monitor"
	}
	se.log.Info("mirror: port attached", "port", req.Port, "mode", mode, "channel", m.Channel)
	// The grant goes out before the first data message of the channel.
	se.respond(m.Seq, m.Channel, proto.AppendPort(nil, proto.OpRequest, info))
	close(granted)
}

// release frees the port slot of a channel.
func (s *Service) release(ch *channel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.holders[ch.port] == ch {
		delete(s.holders, ch.port)
	}
	delete(s.monitors[ch.port], ch)
}

// data sends a client's frames out of its port.
func (se *session) data(m proto.Message) error {
	ch := se.channel(m.Channel)
	if ch == nil || !ch.exclusive || ch.ended.Load() {
		n := 0
		err := proto.ForEachFrame(m.Payload, func(proto.Frame) error { n++; return nil })
		if err != nil {
			se.sendError(m.Seq, m.Channel, &proto.Error{Code: proto.CodeMalformed, Message: err.Error()})
			return err
		}
		if ch != nil {
			ch.dropFrom.Add(uint64(n))
			ch.tot.dropFrom.Add(uint64(n))
		}
		if ch == nil || !ch.exclusive {
			// Frames after a release or from a monitor are dropped; one
			// error per message says so.
			se.sendError(m.Seq, m.Channel, &proto.Error{Code: proto.CodeState,
				Message: fmt.Sprintf("channel %d may not transmit; %d frames dropped", m.Channel, n)})
		}
		return nil
	}
	bufs := ch.txbuf[:0]
	var bytes uint64
	err := proto.ForEachFrame(m.Payload, func(f proto.Frame) error {
		bufs = append(bufs, f.Data)
		bytes += uint64(len(f.Data))
		return nil
	})
	if err != nil {
		se.sendError(m.Seq, m.Channel, &proto.Error{Code: proto.CodeMalformed, Message: err.Error()})
		return err
	}
	sent, err := ch.sub.Load().transmit(bufs)
	clear(bufs)
	ch.txbuf = bufs[:0]
	ch.framesFrom.Add(uint64(sent))
	ch.bytesFrom.Add(bytes)
	ch.tot.framesFrom.Add(uint64(sent))
	ch.tot.bytesFrom.Add(bytes)
	if d := len(bufs) - sent; d > 0 {
		ch.dropFrom.Add(uint64(d))
		ch.tot.dropFrom.Add(uint64(d))
		se.log.Debug("mirror: frames from the client dropped", "port", ch.port, "frames", d, "err", err)
	}
	return nil
}

// pump moves the port's frames to the client, a batch per data message.
func (ch *channel) pump(ctx context.Context, granted <-chan struct{}) {
	defer close(ch.done)
	select {
	case <-granted:
	case <-ctx.Done():
		return
	}
	se := ch.sess
	sub := ch.sub.Load()
	var dw proto.DataWriter
	buf := make([]byte, 0, 512<<10)
	var werr error
	var frames, bytes uint64
	flush := func() {
		if dw.Count() == 0 || werr != nil {
			return
		}
		n := uint64(dw.Count())
		werr = se.write(dw.Finish())
		if werr == nil {
			ch.framesTo.Add(n)
			ch.bytesTo.Add(bytes)
			ch.tot.framesTo.Add(n)
			ch.tot.bytesTo.Add(bytes)
		}
		frames, bytes = 0, 0
		dw.Reset(buf, ch.id, 0)
	}
	dw.Reset(buf, ch.id, 0)
	for werr == nil {
		_, err := sub.receive(ctx, func(ts int64, src, dir uint8, wire int, data []byte) {
			if !dw.Fits(len(data)) {
				flush()
			}
			dw.Add(ts, src, dir, wire, data)
			frames++
			bytes += uint64(len(data))
		})
		if err != nil {
			return
		}
		flush()
	}
	se.log.Info("mirror: write to client failed", "err", werr)
	se.cancel()
}

// counters are the channel's counters as the protocol reports them.
func (ch *channel) counters() proto.Counters {
	c := proto.Counters{
		FramesToClient: ch.framesTo.Load(), BytesToClient: ch.bytesTo.Load(),
		FramesFromClient: ch.framesFrom.Load(), BytesFromClient: ch.bytesFrom.Load(),
		DroppedFromClient: ch.dropFrom.Load(),
		RTTMicros:         uint64(ch.sess.rttNs.Load() / 1000),
	}
	c.DroppedToClient = ch.dropTo()
	return c
}

// dropTo counts the frames the core could not queue to the channel.
func (ch *channel) dropTo() uint64 {
	if sub := ch.sub.Load(); sub != nil {
		return sub.dropped()
	}
	return 0
}

// stop ends the channel: the subscription closes (queued frames go back
// to the pool), the pump ends, the port is free again.
func (ch *channel) stop() {
	if ch.ended.Swap(true) {
		return
	}
	ch.cancel()
	<-ch.done
	if sub := ch.sub.Load(); sub != nil {
		sub.close()
		if ch.tot != nil {
			ch.tot.dropTo.Add(sub.dropped())
		}
		ch.sess.s.mu.Lock()
		delete(ch.sess.s.live, sub)
		ch.sess.s.mu.Unlock()
	}
	ch.sess.mu.Lock()
	if ch.sess.chans[ch.id] == ch {
		delete(ch.sess.chans, ch.id)
	}
	ch.sess.mu.Unlock()
	ch.sess.s.release(ch)
	ch.sess.log.Info("mirror: port detached", "port", ch.port, "channel", ch.id)
}

// end tells the client its channel is gone, then stops it.
func (ch *channel) end(reason string) {
	if ch.ended.Load() {
		return
	}
	ch.stop()
	ch.sess.report(ch.id, proto.AppendGone(nil, reason))
}

func (se *session) endAll() {
	se.mu.Lock()
	chans := slices.Collect(maps.Values(se.chans))
	se.mu.Unlock()
	for _, ch := range chans {
		ch.stop()
	}
}

// pinger measures the tunnel's round trip (and keeps a quiet tunnel alive).
func (se *session) pinger(ctx context.Context) {
	err := tick.Every(ctx, pingInterval, func() error {
		now := time.Now().UnixNano()
		se.pingAt.Store(now)
		return se.send(proto.TypeQuery, 0, proto.AppendPing(nil, uint64(now)))
	})
	if err != nil {
		se.cancel()
	}
}

// write sends one whole message, numbering it.
func (se *session) write(msg []byte) error {
	se.wmu.Lock()
	defer se.wmu.Unlock()
	se.seq++
	binary.BigEndian.PutUint32(msg[8:], se.seq)
	_ = se.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := se.conn.Write(msg)
	return err
}

// send builds and writes a message numbered with the next sequence number.
func (se *session) send(t proto.Type, channel uint16, payload []byte) error {
	return se.sendSeq(t, channel, payload, false, 0)
}

// sendSeq writes a message; a reply carries the number of the query it
// answers, anything else the next number.
func (se *session) sendSeq(t proto.Type, channel uint16, payload []byte, reply bool, seq uint32) error {
	se.wmu.Lock()
	defer se.wmu.Unlock()
	if !reply {
		se.seq++
		seq = se.seq
	}
	se.wbuf = proto.Build(se.wbuf[:0], proto.Header{Version: proto.Version, Type: t, Channel: channel, Seq: seq}, payload)
	_ = se.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := se.conn.Write(se.wbuf)
	return err
}

func (se *session) respond(seq uint32, channel uint16, payload []byte) {
	_ = se.sendSeq(proto.TypeResponse, channel, payload, true, seq)
}

func (se *session) report(channel uint16, payload []byte) {
	_ = se.send(proto.TypeReport, channel, payload)
}

// sendError answers the message numbered seq (0: not an answer).
func (se *session) sendError(seq uint32, channel uint16, e *proto.Error) {
	_ = se.sendSeq(proto.TypeError, channel, proto.AppendError(nil, e), seq != 0, seq)
}
