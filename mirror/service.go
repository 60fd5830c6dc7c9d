package mirror

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/selfsigned"
	"github.com/wirebox/wirebox/mirror/proto"
	"github.com/wirebox/wirebox/services"
)

// Name is the service name.
const Name = "mirror"

var (
	_ services.Service   = (*Service)(nil)
	_ services.Dependent = (*Service)(nil)
)

// errClosed ends a channel whose subscription was closed.
var errClosed = errors.New("mirror: channel closed")

// Service is the mirror server: it lends registered ports of the capture
// core to remote clients over the mirror protocol.
type Service struct {
	cfg     Config
	core    func() *capture.Core
	baseLog *slog.Logger
	runLog  atomic.Pointer[slog.Logger] // the supervisor's, while running

	mu         sync.Mutex
	registered map[string]bool
	sessions   map[uint64]*session
	holders    map[string]*channel              // port → the exclusive channel
	monitors   map[string]map[*channel]struct{} // port → read-only channels
	links      map[string]linkState             // last state told to clients
	totals     map[string]*portTotals
	live       map[*coreSub]struct{} // every channel's hold on the core
	nextID     uint64
	gen        bool // the certificate is generated in StateDir

	addr        atomic.Pointer[net.Addr] // of the listener while running
	fingerprint atomic.Value             // string
}

// portTotals are a port's counters over every session, for metrics.
type portTotals struct {
	framesTo, bytesTo, framesFrom, bytesFrom, dropTo, dropFrom atomic.Uint64
}

// New returns the mirror service. core returns the running capture core
// (nil while it is not running).
func New(cfg Config, core func() *capture.Core, log *slog.Logger) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{
		cfg: cfg.withDefaults(), core: core, baseLog: log,
		registered: map[string]bool{}, sessions: map[uint64]*session{},
		holders: map[string]*channel{}, monitors: map[string]map[*channel]struct{}{},
		links: map[string]linkState{}, totals: map[string]*portTotals{}, live: map[*coreSub]struct{}{},
		gen: cfg.Cert == "",
	}
	for _, p := range cfg.Ports {
		s.registered[p] = true
	}
	return s, nil
}

// logger is the supervisor's logger while running (it feeds the
// service's log ring), else the one given to New.
func (s *Service) logger() *slog.Logger {
	if l := s.runLog.Load(); l != nil {
		return l
	}
	return s.baseLog
}

// Name implements services.Service.
func (s *Service) Name() string { return Name }

// Deps implements services.Dependent: the ports come from the core.
func (s *Service) Deps() []string { return []string{"core"} }

// Addr is the listener's address while the service runs, else nil.
func (s *Service) Addr() net.Addr {
	if a := s.addr.Load(); a != nil {
		return *a
	}
	return nil
}

// Fingerprint is the SHA-256 fingerprint of the server certificate in use
// (empty before the first start with a listener).
func (s *Service) Fingerprint() string {
	f, _ := s.fingerprint.Load().(string)
	return f
}

// credential is one way in and what it opens.
type credential struct {
	name  string
	token []byte // nil for a client certificate
	cn    string
	ports map[string]bool // nil: every registered port
}

func (c *credential) allows(port string) bool { return c.ports == nil || c.ports[port] }

// setup makes or loads the TLS material and the credentials.
func (s *Service) setup() (*tls.Config, []*credential, error) {
	cfg := s.cfg
	if s.gen {
		// No certificate configured: the service's own, made on first start.
		created, err := selfsigned.Ensure(selfsigned.Files{
			CA: cfg.CA, CAKey: filepath.Join(cfg.StateDir, "mirror-ca-key.pem"), Cert: cfg.Cert, Key: cfg.Key,
		}, s.certOptions(), time.Now())
		if err != nil {
			return nil, nil, fmt.Errorf("mirror: certificate: %w", err)
		}
		if created {
			s.logger().Info("mirror: generated a CA and server certificate", "ca", cfg.CA, "cert", cfg.Cert)
		}
	}
	pair, err := tls.LoadX509KeyPair(cfg.Cert, cfg.Key)
	if err != nil {
		return nil, nil, fmt.Errorf("mirror: server certificate: %w", err)
	}
	fp := selfsigned.Fingerprint(pair.Certificate[0])
	s.fingerprint.Store(fp)
	created, err := selfsigned.EnsureToken(cfg.TokenFile)
	if err != nil {
		return nil, nil, fmt.Errorf("mirror: token: %w", err)
	}
	if created {
		s.logger().Info("mirror: generated a client token", "file", cfg.TokenFile)
	}
	s.logger().Info("mirror: server certificate", "sha256", fp, "ca", cfg.CA, "token_file", cfg.TokenFile)

	main, err := selfsigned.ReadToken(cfg.TokenFile)
	if err != nil {
		return nil, nil, fmt.Errorf("mirror: %w", err)
	}
	creds := []*credential{{name: "token", token: []byte(main)}}
	for _, a := range cfg.Access {
		c := &credential{name: a.Name, cn: a.ClientCN}
		if len(a.Ports) > 0 {
			c.ports = map[string]bool{}
			for _, p := range a.Ports {
				c.ports[p] = true
			}
		}
		if a.TokenFile != "" {
			t, err := selfsigned.ReadToken(a.TokenFile)
			if err != nil {
				return nil, nil, fmt.Errorf("mirror: access %s: %w", a.Name, err)
			}
			c.token = []byte(t)
			if a.TokenFile == cfg.TokenFile {
				creds[0] = c // restricts the main token
				continue
			}
		}
		creds = append(creds, c)
	}

	tc := &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{pair},
	}
	if cfg.ClientCA != "" {
		b, err := os.ReadFile(cfg.ClientCA)
		if err != nil {
			return nil, nil, fmt.Errorf("mirror: client CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(b) {
			return nil, nil, fmt.Errorf("mirror: client CA %s: no certificate", cfg.ClientCA)
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	}
	return tc, creds, nil
}

// certOptions are the names a generated certificate is valid for.
func (s *Service) certOptions() selfsigned.Options {
	o := selfsigned.Options{
		CAName:   "wirebox mirror CA",
		DNSNames: []string{"localhost", "wirebox"},
		IPs:      []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	if h, err := os.Hostname(); err == nil && h != "" && h != "localhost" {
		o.DNSNames = append(o.DNSNames, h)
	}
	if host, _, err := net.SplitHostPort(s.cfg.Listen); err == nil {
		if ip := net.ParseIP(host); ip != nil && !ip.IsUnspecified() {
			o.IPs = append(o.IPs, ip)
		}
	}
	for _, n := range s.cfg.Names {
		if ip := net.ParseIP(n); ip != nil {
			o.IPs = append(o.IPs, ip)
		} else {
			o.DNSNames = append(o.DNSNames, n)
		}
	}
	return o
}

// authenticate finds the credential of a hello: the client certificate the
// TLS layer verified, else a token compared in constant time.
func authenticate(creds []*credential, state tls.ConnectionState, token string) *credential {
	if len(state.VerifiedChains) > 0 && token == "" {
		cn := state.VerifiedChains[0][0].Subject.CommonName
		for _, c := range creds {
			if c.token == nil && c.cn == cn {
				return c
			}
		}
		return &credential{name: "cert:" + cn}
	}
	var found *credential
	for _, c := range creds {
		// Every token is compared, so the time taken does not say which
		// one matched.
		if c.token != nil && subtle.ConstantTimeCompare(c.token, []byte(token)) == 1 {
			found = c
		}
	}
	return found
}

// Run listens (if configured) and serves clients until ctx ends.
func (s *Service) Run(ctx context.Context, rt *services.Runtime) error {
	if rt != nil && rt.Log != nil {
		s.runLog.Store(rt.Log)
		defer s.runLog.Store(nil)
	}
	ready := func() {
		if rt != nil {
			rt.Ready()
		}
	}
	if s.cfg.Listen == "" {
		s.logger().Info("mirror: no listen address configured; not listening")
		ready()
		<-ctx.Done()
		return nil
	}
	tc, creds, err := s.setup()
	if err != nil {
		return err
	}
	if rt != nil {
		// Normally every session gives its consumers back as it ends; after
		// a panic the supervisor does.
		rt.OnExit(s.closeConsumers)
	}
	var ln net.Listener
	err = inNetNS(s.cfg.netnsPath(), func() (err error) {
		ln, err = net.Listen("tcp", s.cfg.Listen)
		return err
	})
	if err != nil {
		return fmt.Errorf("mirror: listen: %w", err)
	}
	a := ln.Addr()
	s.addr.Store(&a)
	s.logger().Info("mirror: listening", "addr", ln.Addr().String())
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if c := s.core(); c != nil {
		wg.Go(func() { watchPorts(ctx, c, s.linkChanged) })
	}
	wg.Go(func() {
		<-ctx.Done()
		ln.Close()
	})
	ready()
	var runErr error
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			runErr = fmt.Errorf("mirror: accept: %w", err)
			break
		}
		wg.Go(func() { s.serve(ctx, c, tc, creds) })
	}
	cancel()
	wg.Wait()
	s.addr.Store(nil)
	return runErr
}

// Register allows a port to be mirrored.
func (s *Service) Register(name string) error {
	if c := s.core(); c != nil {
		if _, ok := lookupPort(c, name); !ok {
			return api.NotFound(fmt.Errorf("mirror: no port %s in the capture core", name))
		}
	}
	s.mu.Lock()
	s.registered[name] = true
	s.mu.Unlock()
	s.logger().Info("mirror: port registered", "port", name)
	return nil
}

// Unregister withdraws a port: clients holding or monitoring it are told
// (a gone report) and lose the channel.
func (s *Service) Unregister(name string) error {
	s.mu.Lock()
	if !s.registered[name] {
		s.mu.Unlock()
		return api.NotFound(fmt.Errorf("mirror: port %s is not registered", name))
	}
	delete(s.registered, name)
	chans := s.channelsOf(name)
	s.mu.Unlock()
	for _, ch := range chans {
		ch.end("port " + name + " was unregistered")
	}
	s.logger().Info("mirror: port unregistered", "port", name, "sessions_ended", len(chans))
	return nil
}

// channelsOf lists the channels on a port; the caller holds s.mu.
func (s *Service) channelsOf(port string) []*channel {
	var out []*channel
	if h := s.holders[port]; h != nil {
		out = append(out, h)
	}
	for ch := range s.monitors[port] {
		out = append(out, ch)
	}
	return out
}

// linkChanged reports a port's new link state to its clients.
func (s *Service) linkChanged(name string, st linkState) {
	s.mu.Lock()
	old, seen := s.links[name]
	if seen && old.same(st) {
		s.mu.Unlock()
		return
	}
	s.links[name] = st
	chans := s.channelsOf(name)
	var info proto.PortInfo
	if len(chans) > 0 {
		info = s.portInfoLocked(name, st)
	}
	s.mu.Unlock()
	for _, ch := range chans {
		ch.sess.report(ch.id, proto.AppendPort(nil, proto.OpLink, info))
	}
}

// portInfo describes a port; the caller holds s.mu.
func (s *Service) portInfoLocked(name string, st linkState) proto.PortInfo {
	pi := proto.PortInfo{
		Name: name, LinkUp: st.Up, Registered: s.registered[name],
		SpeedMbps: st.Speed, Duplex: st.Duplex, MTU: uint32(st.MTU), MAC: st.MAC,
		Monitors: uint16(len(s.monitors[name])),
	}
	if h := s.holders[name]; h != nil {
		pi.Held, pi.Holder = true, h.sess.remote
	}
	return pi
}

func (s *Service) linkState(name string) linkState { return portState(s.core(), name) }

// closeConsumers gives back every channel's consumer (frames and
// subscriptions) at the end of a run, whatever state its session was in.
func (s *Service) closeConsumers() {
	s.mu.Lock()
	subs := make([]*coreSub, 0, len(s.live))
	for sub := range s.live {
		subs = append(subs, sub)
	}
	clear(s.live)
	s.mu.Unlock()
	for _, sub := range subs {
		sub.close()
	}
}

// ports lists the core's ports with the mirror's view of each.
func (s *Service) ports() []proto.PortInfo {
	names := corePortNames(s.core())
	states := make([]linkState, len(names))
	for i, n := range names {
		states[i] = s.linkState(n)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]proto.PortInfo, len(names))
	for i, n := range names {
		out[i] = s.portInfoLocked(n, states[i])
	}
	return out
}
