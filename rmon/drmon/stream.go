package drmon

import (
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirebox/wirebox/internal/api"
)

// The TLS transport: the same messages, HMAC and all, over TCP with TLS
// (mutual certificate authentication), each message preceded by its
// length as 4 bytes big-endian. Agents dial the proxy; the proxy polls,
// pushes and is reported to over the agent's connection. Both ends are
// net.PacketConns, so the agent and proxy code is the same for UDP and
// TLS.

// StreamAddr is the far end of one TLS connection.
type StreamAddr struct {
	c      *tls.Conn
	remote net.Addr
	mu     sync.Mutex // one writer at a time
}

func (a *StreamAddr) Network() string { return "drmon+tls" }

// PeerName is the common name of the peer's certificate (verified by the
// handshake).
func (a *StreamAddr) PeerName() string {
	if st := a.c.ConnectionState(); len(st.PeerCertificates) > 0 {
		return st.PeerCertificates[0].Subject.CommonName
	}
	return ""
}
func (a *StreamAddr) String() string { return "tls://" + a.remote.String() }

func (a *StreamAddr) write(b []byte) error {
	if len(b) > MaxMessage {
		return fmt.Errorf("drmon: message of %d bytes", len(b))
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	buf := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(b)), uint32(len(b)))
	_, err := a.c.Write(append(buf, b...))
	return err
}

// readMsg reads one framed message.
func readMsg(r io.Reader, buf []byte) ([]byte, error) {
	if _, err := io.ReadFull(r, buf[:4]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(buf[:4])
	if n > MaxMessage || int(n) > len(buf) {
		return nil, fmt.Errorf("drmon: a framed message of %d bytes", n)
	}
	if _, err := io.ReadFull(r, buf[:n]); err != nil {
		return nil, err
	}
	return buf[:n], nil
}

type inMsg struct {
	b    []byte
	from net.Addr
}

// StreamConn is a PacketConn over TLS connections: the proxy's accepted
// ones, or the agent's one (redialed when it breaks).
type StreamConn = streamConn

type streamConn struct {
	// Refused counts peers whose handshake failed (no certificate, or not
	// one the CA signed).
	Refused atomic.Uint64

	local net.Addr
	in    chan inMsg
	done  chan struct{}
	once  sync.Once
	log   *slog.Logger

	mu       sync.Mutex
	conns    map[*StreamAddr]bool
	deadline time.Time
	wake     chan struct{} // closed when the read deadline moves
	dial     func() (*StreamAddr, error)
	cur      *StreamAddr // the agent's connection
}

func newStreamConn(local net.Addr, log *slog.Logger) *streamConn {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &streamConn{local: local, in: make(chan inMsg, 256), done: make(chan struct{}), conns: map[*StreamAddr]bool{}, wake: make(chan struct{}), log: log}
}

// reader delivers a connection's messages until it breaks.
func (s *streamConn) reader(a *StreamAddr) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, a)
		if s.cur == a {
			s.cur = nil
		}
		s.mu.Unlock()
		a.c.Close()
	}()
	buf := make([]byte, MaxMessage)
	for {
		b, err := readMsg(a.c, buf)
		if err != nil {
			s.log.Debug("drmon tls: connection ended", "peer", a.remote, "err", err)
			return
		}
		select {
		case s.in <- inMsg{append([]byte(nil), b...), a}:
		case <-s.done:
			return
		}
	}
}

func (s *streamConn) add(a *StreamAddr) {
	s.mu.Lock()
	s.conns[a] = true
	s.mu.Unlock()
	go s.reader(a)
}

var errDeadline = os.ErrDeadlineExceeded

func (s *streamConn) ReadFrom(p []byte) (int, net.Addr, error) {
	for {
		s.mu.Lock()
		dl, wake := s.deadline, s.wake
		s.mu.Unlock()
		var timeout <-chan time.Time
		var t *time.Timer
		if !dl.IsZero() {
			d := time.Until(dl)
			if d <= 0 {
				return 0, nil, errDeadline
			}
			t = time.NewTimer(d)
			timeout = t.C
		}
		var m inMsg
		var err error
		got := false
		select {
		case m = <-s.in:
			got = true
		case <-s.done:
			err = net.ErrClosed
		case <-timeout:
			err = errDeadline
		case <-wake:
		}
		if t != nil {
			t.Stop()
		}
		if got {
			return copy(p, m.b), m.from, nil
		}
		if err != nil {
			return 0, nil, err
		}
	}
}

// WriteTo writes to the connection to is (the proxy), or the agent's
// connection whatever to is (it has one peer: the proxy it dialed).
func (s *streamConn) WriteTo(p []byte, to net.Addr) (int, error) {
	a, ok := to.(*StreamAddr)
	if s.dial != nil {
		var err error
		if a, err = s.agentConn(); err != nil {
			return 0, err
		}
	} else if !ok {
		return 0, fmt.Errorf("drmon tls: no connection to %v", to)
	}
	if err := a.write(p); err != nil {
		a.c.Close() // its reader ends and forgets it
		return 0, err
	}
	return len(p), nil
}

// agentConn is the agent's connection, dialed when there is none.
func (s *streamConn) agentConn() (*StreamAddr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur != nil {
		return s.cur, nil
	}
	select {
	case <-s.done:
		return nil, net.ErrClosed
	default:
	}
	a, err := s.dial()
	if err != nil {
		return nil, err
	}
	s.cur = a
	s.conns[a] = true
	go s.reader(a)
	return a, nil
}

func (s *streamConn) Close() error {
	s.once.Do(func() {
		close(s.done)
		s.mu.Lock()
		for a := range s.conns {
			a.c.Close()
		}
		s.mu.Unlock()
	})
	return nil
}

func (s *streamConn) LocalAddr() net.Addr { return s.local }

func (s *streamConn) SetReadDeadline(t time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deadline = t
	close(s.wake)
	s.wake = make(chan struct{})
	return nil
}

func (s *streamConn) SetDeadline(t time.Time) error    { return s.SetReadDeadline(t) }
func (s *streamConn) SetWriteDeadline(time.Time) error { return nil }

// ListenTLS accepts agents' TLS connections on l (cfg must require and
// verify client certificates) until the returned PacketConn is closed.
func ListenTLS(l net.Listener, cfg *tls.Config, log *slog.Logger) (*StreamConn, error) {
	if cfg.ClientAuth != tls.RequireAndVerifyClientCert {
		return nil, errors.New("drmon tls: the proxy must require and verify agents' certificates")
	}
	s := newStreamConn(l.Addr(), log)
	go func() {
		<-s.done
		l.Close()
	}()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				s.Close()
				return
			}
			go func() {
				tc := tls.Server(c, cfg)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := tc.HandshakeContext(ctx); err != nil {
					s.Refused.Add(1)
					s.log.Warn("drmon tls: handshake", "peer", c.RemoteAddr(), "err", err)
					c.Close()
					return
				}
				s.add(&StreamAddr{c: tc, remote: c.RemoteAddr()})
			}()
		}
	}()
	return s, nil
}

// DialTLS is an agent's connection to a proxy over TLS (cfg must carry the
// agent's certificate and the CA the proxy's is checked against); it dials
// again whenever it must send and the connection is gone.
func DialTLS(addr string, cfg *tls.Config, log *slog.Logger) (*StreamConn, error) {
	if len(cfg.Certificates) == 0 && cfg.GetClientCertificate == nil || cfg.RootCAs == nil {
		return nil, errors.New("drmon tls: the agent needs its certificate and the proxy's CA")
	}
	s := newStreamConn(&net.TCPAddr{}, log)
	s.dial = func() (*StreamAddr, error) {
		d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
		c, err := d.Dial("tcp", addr)
		if err != nil {
			s.Refused.Add(1)
			return nil, fmt.Errorf("drmon tls: %w", err)
		}
		tc := c.(*tls.Conn)
		return &StreamAddr{c: tc, remote: tc.RemoteAddr()}, nil
	}
	return s, nil
}

// TLSConfig loads a TLS end's certificate and key and the CA its peer's
// certificate must chain to: for the proxy (server) it requires and
// verifies agents' client certificates, for an agent it verifies the
// proxy's certificate (serverName: the name or address it must be valid
// for; empty: the host of the address dialed).
func TLSConfig(server bool, certFile, keyFile, caFile, serverName string) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("drmon tls: %w", err)
	}
	pool, err := api.LoadCertPool(caFile)
	if err != nil {
		return nil, fmt.Errorf("drmon tls: %w", err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS13}
	if server {
		c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, pool
	} else {
		c.RootCAs, c.ServerName = pool, serverName
	}
	return c, nil
}
