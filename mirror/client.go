package mirror

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/selfsigned"
	"github.com/wirebox/wirebox/mirror/proto"
)

// PortInfo describes a port of a mirror server.
type PortInfo = proto.PortInfo

// AttachOptions configure Attach.
type AttachOptions struct {
	DialOptions
	// Port is the appliance port to mirror.
	Port string
	// As names the local TAP (default "wbm-" and the port name, cut to 15).
	As string
	// Monitor attaches read-only: the port's frames arrive, nothing the
	// local stack sends leaves the appliance; the port may be held by
	// another client meanwhile.
	Monitor bool
	// NoOffload turns the TAP's TSO and checksum offload off: the local
	// stack then hands over wire-sized frames with their checksums.
	NoOffload bool
	// MinBackoff and MaxBackoff bound the jittered reconnect delay
	// (defaults 200 ms and 10 s).
	MinBackoff, MaxBackoff time.Duration
	// OnState, if set, is called on every state change (from Attach's
	// goroutines; it must not block).
	OnState func(State)
	// Pcap, if set, receives every frame the tunnel brings, as pcapng with
	// the appliance's nanosecond timestamps (a TAP cannot carry them: what
	// tcpdump sees on the TAP is stamped by the local kernel) and the
	// direction on the appliance port. Written once per data message.
	Pcap io.Writer
}

// State is the attachment as the client sees it.
type State struct {
	Interface string
	Connected bool // the tunnel is up and the port granted
	LinkUp    bool // the remote port's link
	Port      PortInfo
	// DroppedWhileDown counts frames the local stack sent while the tunnel
	// was down (or in monitor mode), which went nowhere.
	DroppedWhileDown uint64
	Reason           string // why not connected, if not
}

// channel id the client uses for its one port.
const clientChannel = 1

// DefaultInterface is the TAP name Attach uses for a port by default.
func DefaultInterface(port string) string {
	n := "wbm-" + port
	if len(n) > 15 {
		n = n[:15]
	}
	return n
}

// DialOptions say how a client reaches and authenticates to a server.
type DialOptions struct {
	// Server is HOST[:PORT] (default port proto.DefaultPort).
	Server string
	// CAFile verifies the server's certificate chain (and its name, see
	// ServerName); Fingerprint instead pins the SHA-256 of the server's
	// certificate (hex, colons optional). One of them is required.
	CAFile      string
	Fingerprint string
	// ServerName overrides the name checked against the certificate
	// (default: the host of Server).
	ServerName string
	// Token is the client token, or "@FILE" to read it from a file.
	Token string
	// ClientCert and ClientKey authenticate with a certificate instead.
	ClientCert, ClientKey string
	// ClientName is told to the server (default: the host name).
	ClientName string
}

func (o DialOptions) address() string {
	if _, _, err := net.SplitHostPort(o.Server); err == nil {
		return o.Server
	}
	return net.JoinHostPort(strings.Trim(o.Server, "[]"), strconv.Itoa(proto.DefaultPort))
}

func (o DialOptions) token() (string, error) {
	tok, err := api.ReadToken(o.Token)
	if err != nil {
		return "", fmt.Errorf("mirror: token: %w", err)
	}
	return tok, nil
}

// errPinned marks a certificate that does not match the pinned fingerprint.
var errPinned = errors.New("server certificate does not match the pinned fingerprint")

func (o DialOptions) tlsConfig() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS13}
	host, _, err := net.SplitHostPort(o.address())
	if err != nil {
		return nil, fmt.Errorf("mirror: server %q: %w", o.Server, err)
	}
	tc.ServerName = host
	if o.ServerName != "" {
		tc.ServerName = o.ServerName
	}
	switch {
	case o.CAFile != "" && o.Fingerprint != "":
		return nil, errors.New("mirror: give a CA file or a fingerprint, not both")
	case o.CAFile != "":
		if tc.RootCAs, err = api.LoadCertPool(o.CAFile); err != nil {
			return nil, fmt.Errorf("mirror: %w", err)
		}
	case o.Fingerprint != "":
		want, err := selfsigned.ParseFingerprint(o.Fingerprint)
		if err != nil {
			return nil, fmt.Errorf("mirror: %w", err)
		}
		// The pinned certificate is the trust anchor: chain and name are
		// not checked, the exact certificate is.
		tc.InsecureSkipVerify = true
		tc.VerifyPeerCertificate = func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) == 0 {
				return errPinned
			}
			got := sha256.Sum256(raw[0])
			if subtle.ConstantTimeCompare(got[:], want) != 1 {
				return fmt.Errorf("%w: it is %s", errPinned, selfsigned.Fingerprint(raw[0]))
			}
			return nil
		}
	default:
		return nil, errors.New("mirror: refusing to connect without a way to verify the server (a CA file or a fingerprint)")
	}
	if o.ClientCert != "" {
		pair, err := tls.LoadX509KeyPair(o.ClientCert, o.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("mirror: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}

// clientConn is an authenticated connection to a server.
type clientConn struct {
	conn *tls.Conn
	r    *proto.Reader

	wmu  sync.Mutex
	seq  uint32
	wbuf []byte
}

// dial connects, verifies the server and authenticates.
func dial(ctx context.Context, o DialOptions, tc *tls.Config) (*clientConn, error) {
	tok, err := o.token()
	if err != nil {
		return nil, err
	}
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}, Config: tc}
	dctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	raw, err := d.DialContext(dctx, "tcp", o.address())
	if err != nil {
		return nil, fmt.Errorf("mirror: connect to %s: %w", o.address(), err)
	}
	c := &clientConn{conn: raw.(*tls.Conn)}
	c.r = proto.NewReader(bufio.NewReaderSize(c.conn, 256<<10))
	name := o.ClientName
	if name == "" {
		name, _ = os.Hostname()
	}
	_ = c.conn.SetDeadline(time.Now().Add(15 * time.Second))
	m, err := c.roundTrip(0, proto.AppendHello(nil, proto.Hello{Versions: proto.SupportedVersions, Token: tok, Client: name}))
	if err != nil {
		c.conn.Close()
		return nil, err
	}
	if _, err := proto.ParseWelcome(m.Payload[2:]); err != nil {
		c.conn.Close()
		return nil, fmt.Errorf("mirror: hello: %w", err)
	}
	_ = c.conn.SetDeadline(time.Time{})
	return c, nil
}

// send writes one message numbered with the next sequence number.
func (c *clientConn) send(t proto.Type, channel uint16, payload []byte) (uint32, error) {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.seq++
	c.wbuf = proto.Build(c.wbuf[:0], proto.Header{Version: proto.Version, Type: t, Channel: channel, Seq: c.seq}, payload)
	_, err := c.conn.Write(c.wbuf)
	return c.seq, err
}

// reply answers a query of the server with its number.
func (c *clientConn) reply(seq uint32, channel uint16, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.wbuf = proto.Build(c.wbuf[:0], proto.Header{Version: proto.Version, Type: proto.TypeResponse, Channel: channel, Seq: seq}, payload)
	_, err := c.conn.Write(c.wbuf)
	return err
}

// tryReply answers a ping unless a write is in progress: the reader must
// never wait for the write lock (a writer blocked on a full connection
// waits for the peer, which may wait for us to read). A missed answer
// only costs the peer one round-trip sample.
func (c *clientConn) tryReply(seq uint32, channel uint16, payload []byte) error {
	if !c.wmu.TryLock() {
		return nil
	}
	defer c.wmu.Unlock()
	c.wbuf = proto.Build(c.wbuf[:0], proto.Header{Version: proto.Version, Type: proto.TypeResponse, Channel: channel, Seq: seq}, payload)
	_, err := c.conn.Write(c.wbuf)
	return err
}

// writeData writes a finished data message, numbering it.
func (c *clientConn) writeData(msg []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.seq++
	binary.BigEndian.PutUint32(msg[8:], c.seq)
	_, err := c.conn.Write(msg)
	return err
}

// roundTrip sends a query and waits for its answer, answering the
// server's pings meanwhile. Only for the phase before data flows.
func (c *clientConn) roundTrip(channel uint16, payload []byte) (proto.Message, error) {
	seq, err := c.send(proto.TypeQuery, channel, payload)
	if err != nil {
		return proto.Message{}, fmt.Errorf("mirror: send: %w", err)
	}
	for {
		m, err := c.r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = errors.New("server closed the connection")
			}
			return m, fmt.Errorf("mirror: %w", err)
		}
		switch {
		case m.Type == proto.TypeError && (m.Seq == seq || m.Seq == 0 || m.Channel == channel):
			e, err := proto.ParseError(m.Payload)
			if err != nil {
				return m, fmt.Errorf("mirror: bad error message: %w", err)
			}
			return m, e
		case m.Type == proto.TypeResponse && m.Seq == seq:
			if _, _, err := m.Op(); err != nil {
				return m, err
			}
			return m, nil
		case m.Type == proto.TypeQuery:
			if op, _, err := m.Op(); err == nil && op == proto.OpPing {
				_ = c.reply(m.Seq, m.Channel, m.Payload)
			}
		}
	}
}

// ListPorts asks a server for its ports.
func ListPorts(ctx context.Context, opts DialOptions) ([]PortInfo, error) {
	tc, err := opts.tlsConfig()
	if err != nil {
		return nil, err
	}
	c, err := dial(ctx, opts, tc)
	if err != nil {
		return nil, err
	}
	defer c.conn.Close()
	stop := context.AfterFunc(ctx, func() { c.conn.Close() })
	defer stop()
	_ = c.conn.SetDeadline(time.Now().Add(15 * time.Second))
	m, err := c.roundTrip(0, proto.AppendOp(nil, proto.OpList))
	if err != nil {
		return nil, err
	}
	return proto.ParsePorts(m.Payload[2:])
}

// permanent reports errors that retrying cannot fix.
func permanent(err error) bool {
	var pe *proto.Error
	if errors.As(err, &pe) {
		switch pe.Code {
		case proto.CodeAuth, proto.CodeVersion, proto.CodeNotAllowed, proto.CodeMalformed, proto.CodeTooLarge:
			return true
		}
		return false
	}
	var ce *tls.CertificateVerificationError
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	return errors.Is(err, errPinned) || errors.As(err, &ce) || errors.As(err, &ue) || errors.As(err, &he)
}
