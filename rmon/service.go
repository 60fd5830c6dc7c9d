package rmon

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	xipv4 "golang.org/x/net/ipv4"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/rmon/drmon"
	"github.com/wirebox/wirebox/rmon/mib"
	"github.com/wirebox/wirebox/rmon/snmp"
	"github.com/wirebox/wirebox/services"
)

// Name is the service name.
const Name = "rmon"

// Service is the RMON probe service.
type Service struct {
	cfg  Config
	acfg snmp.Config
	core func() *capture.Core
	log  *slog.Logger

	mu  sync.Mutex
	cur *running
	px  *drmon.Proxy // the dRMON proxy while it runs
}

// running is one Run's state, for the API and metrics.
type running struct {
	agent *snmp.Agent
	probe *probe
	addr  net.Addr
}

// New validates cfg and returns the service; core returns the running
// capture core (the "core" service's Core method).
func New(cfg Config, core func() *capture.Core, log *slog.Logger) (*Service, error) {
	acfg, err := cfg.agentConfig()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{cfg: cfg, acfg: acfg, core: core, log: log}, nil
}

// Name implements services.Service.
func (s *Service) Name() string { return Name }

// Deps implements services.Dependent.
func (s *Service) Deps() []string { return []string{"core"} }

// Addr is the agent's bound UDP address while it runs (nil otherwise).
func (s *Service) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		return nil
	}
	return s.cur.addr
}

func (s *Service) running() *running {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// errPortsChanged ends one round of serve when the core's ports changed.
var errPortsChanged = errors.New("rmon: the core's ports changed")

// Run subscribes to every port of the core, counts, and serves SNMP until
// ctx ends. With no listen address the service is disabled and idles.
// When the core's ports change, the probe follows them: ports keep their
// ifIndex, counters and rows for the service's life (see port).
func (s *Service) Run(ctx context.Context, rt *services.Runtime) error {
	log := rt.Log
	if log == nil {
		log = s.log
	}
	if !s.cfg.Enabled() {
		log.Info("rmon disabled: no listen address")
		rt.Ready()
		<-ctx.Done()
		return nil
	}
	acfg := s.acfg
	acfg.Log = log
	var err error
	acfg.EngineID, acfg.Boots, err = loadEngine(s.cfg.StateFile, s.acfg.EngineID)
	if err != nil {
		return err
	}
	acfg.Start = time.Now()
	conn, err := net.ListenPacket("udp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("rmon: listen %s: %w", s.cfg.Listen, err)
	}
	defer conn.Close()
	log.Info("rmon agent listening", "addr", conn.LocalAddr().String(),
		"engine_id", fmt.Sprintf("%x", acfg.EngineID), "boots", acfg.Boots)
	var px *drmon.Proxy
	if d := s.cfg.DRMON; d != nil && d.Listen != "" {
		var wg sync.WaitGroup
		defer wg.Wait()
		pctx, cancel := context.WithCancel(ctx)
		defer cancel()
		if px, err = s.startProxy(pctx, &wg, log); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.px = px
	s.mu.Unlock()
	maxHosts, maxPairs := s.cfg.MaxHosts, s.cfg.MaxPairs
	if maxHosts <= 0 {
		maxHosts = 4096
	}
	if maxPairs <= 0 {
		maxPairs = 16384
	}
	// The agent and the probe live as long as Run: when the core's ports
	// change, only the subscriptions follow, and managers' rows stay.
	agent, p, uptime, err := build(&s.cfg, acfg, maxHosts, maxPairs)
	if err != nil {
		return err
	}
	n := newNotifier(s.cfg.Traps, uptime, log)
	p.notify = n.send
	if px != nil {
		registerDRMON(p.tree, px)
	}
	// Rows saved by the last run come back (persist.go).
	rows := rowsFile(s.cfg.StateFile)
	if rows != "" {
		saved, err := loadRows(rows)
		if err != nil {
			log.Warn("rmon: saved rows not restored", "err", err)
		} else if saved != nil {
			p.restore(saved)
		}
		defer func() {
			if err := p.saveRows(rows); err != nil {
				log.Warn("rmon: rows not saved", "err", err)
			}
		}()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel (deferred calls run last first)
	if core := s.core(); core != nil {
		p.setPorts(portSpecs(core, px))
	}
	p.activateRestored()
	if px != nil {
		// The views' channels and histories go to their agents; what the
		// agents find comes back into this probe's tables (drmon.go).
		p.mu.Lock()
		p.drmonDelay = px.BucketDelay()
		p.mu.Unlock()
		px.SetSink(drmonSink{p: p, px: px})
		defer px.SetSink(nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.pushChannels(ctx, px)
		}()
	}
	if rows != "" {
		wg.Add(1)
		go func() {
			defer wg.Done()
			every(ctx, time.Second, false, func() {
				if err := p.saveRows(rows); err != nil {
					log.Warn("rmon: rows not saved", "err", err)
				}
			})
		}()
	}
	wg.Add(4)
	go func() {
		defer wg.Done()
		p.run(ctx)
	}()
	go func() {
		defer wg.Done()
		pollNIC(ctx, p, log, 2*time.Second)
	}()
	go func() {
		defer wg.Done()
		n.run(ctx)
	}()
	go func() {
		defer wg.Done()
		refreshFacts(ctx, p)
	}()
	serveErr := make(chan error, 1)
	started := sync.OnceFunc(func() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := agent.Serve(ctx, conn)
			serveErr <- err
			cancel(err)
		}()
		s.mu.Lock()
		s.cur = &running{agent: agent, probe: p, addr: conn.LocalAddr()}
		s.mu.Unlock()
		log.Info("rmon probe running", "ports", len(p.portList()))
		rt.Ready()
	})
	defer func() {
		s.mu.Lock()
		s.cur = nil
		s.mu.Unlock()
	}()
	for {
		core := s.core()
		if core == nil {
			return errors.New("rmon: the capture core is not running")
		}
		err := s.follow(ctx, core, p, px, started)
		if ctx.Err() != nil {
			cause := context.Cause(ctx)
			if errors.Is(cause, context.Canceled) {
				cause = nil
			}
			select {
			case err := <-serveErr:
				return err
			default:
				return cause
			}
		}
		if !errors.Is(err, errPortsChanged) {
			return err
		}
		log.Info("rmon: the core's ports changed; following them", "cause", err)
		// A closing port is still listed for a moment (its subscription
		// then fails): do not spin on it.
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// refreshFacts keeps the ports' link facts current until ctx ends.
func refreshFacts(ctx context.Context, p *probe) {
	every(ctx, 5*time.Second, false, func() {
		for _, pt := range p.portList() {
			f := pt.core().facts()
			p.mu.Lock()
			pt.facts = f
			p.mu.Unlock()
		}
	})
}

// portSpecs are the core's open ports, then the dRMON views.
func portSpecs(core *capture.Core, px *drmon.Proxy) []portSpec {
	var out []portSpec
	for _, cp := range corePorts(core) {
		out = append(out, portSpec{key: cp.Name(), core: cp})
	}
	if px != nil {
		for _, v := range px.Views() {
			out = append(out, portSpec{key: "drmon:" + v.Name, core: corePort{view: v}, st: v.St})
		}
	}
	return out
}

// follow makes the core's current ports the probe's and counts their
// frames until ctx ends, the ports change (errPortsChanged) or a port
// fails; started runs once the ports are in place.
func (s *Service) follow(ctx context.Context, core *capture.Core, p *probe, px *drmon.Proxy, started func()) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel
	// Watch first, so a port opened while the ports are set is not missed.
	events := core.WatchPorts(ctx)
	ports := p.setPorts(portSpecs(core, px))
	known := map[string]bool{}
	shared := map[string][]*drmon.View{}
	for _, pt := range ports {
		if v := pt.core().view; v != nil {
			if v.Port != "" {
				shared[v.Port] = append(shared[v.Port], v)
			}
		} else {
			known[pt.core().Name()] = true
		}
	}
	queue := queueSize(core, len(ports))
	// Subscribe before saying the probe runs: frames from then on count.
	subs := map[*port]*capture.Subscription{}
	for _, pt := range ports {
		if pt.core().view != nil {
			continue // fed by the proxy
		}
		sub, err := subscribe(pt.core(), queue)
		if err != nil {
			for _, s := range subs {
				s.Close()
			}
			if errors.Is(err, capture.ErrClosed) {
				err = errPortsChanged
			}
			return fmt.Errorf("rmon: port %s: %w", pt.core().Name(), err)
		}
		subs[pt] = sub
	}
	for pt, sub := range subs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := feed(ctx, sub, pt.st, chanTap{p, pt}, shared[pt.core().Name()]); err != nil {
				if errors.Is(err, capture.ErrClosed) {
					err = errPortsChanged
				}
				cancel(fmt.Errorf("rmon: port %s: %w", pt.core().Name(), err))
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for ev := range events {
			if ev.Removed == known[ev.Port] { // a known port closed, or a new one
				cancel(errPortsChanged)
				return
			}
		}
	}()
	started()
	<-ctx.Done()
	return context.Cause(ctx)
}

// build makes the agent and its whole MIB tree.
func build(cfg *Config, acfg snmp.Config, maxHosts, maxPairs int) (*snmp.Agent, *probe, func() uint64, error) {
	tree := &mib.Tree{}
	agent, err := snmp.NewAgent(acfg, tree)
	if err != nil {
		return nil, nil, nil, err
	}
	uptime := func() uint64 { return uint64(agent.Uptime() / (10 * time.Millisecond)) }
	registerSystem(tree, cfg, uptime)
	p := newProbe(tree, uptime, maxHosts, maxPairs)
	registerIF(tree, p)
	registerProbeConfig(tree)
	return agent, p, uptime, nil
}

// notifier sends SNMPv2c traps to the configured targets from its own
// goroutine: events fire with the probe's lock held, and a target may
// need a name lookup.
type notifier struct {
	targets []TrapTarget
	uptime  func() uint64
	log     *slog.Logger
	id      atomic.Int32
	ch      chan trapMsg
	dropped atomic.Uint64
}

type trapMsg struct {
	addr string
	msg  []byte
}

func newNotifier(targets []TrapTarget, uptime func() uint64, log *slog.Logger) *notifier {
	return &notifier{targets: targets, uptime: uptime, log: log, ch: make(chan trapMsg, 256)}
}

func (n *notifier) send(trapOID mib.OID, vbs []notifyVB) {
	if len(n.targets) == 0 {
		return
	}
	var list []snmp.VarBind
	for _, v := range vbs {
		list = append(list, snmp.VarBind{OID: v.oid, Value: v.v})
	}
	for _, t := range n.targets {
		addr := t.Address
		if _, _, err := net.SplitHostPort(addr); err != nil {
			addr = net.JoinHostPort(addr, "162")
		}
		select {
		case n.ch <- trapMsg{addr, snmp.EncodeV2Trap(t.Community, n.id.Add(1), n.uptime(), trapOID, list)}:
		default:
			n.dropped.Add(1)
		}
	}
}

// run sends queued notifications until ctx ends.
func (n *notifier) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-n.ch:
			c, err := net.Dial("udp", m.addr)
			if err != nil {
				n.log.Warn("rmon: trap", "target", m.addr, "err", err)
				continue
			}
			if _, err := c.Write(m.msg); err != nil {
				n.log.Warn("rmon: trap", "target", m.addr, "err", err)
			}
			c.Close()
		}
	}
}

// startProxy starts the dRMON proxy on its own socket until ctx ends.
func (s *Service) startProxy(ctx context.Context, wg *sync.WaitGroup, log *slog.Logger) (*drmon.Proxy, error) {
	d := s.cfg.DRMON
	pcfg, err := d.proxyConfig()
	if err != nil {
		return nil, err
	}
	pcfg.Log = log
	pcfg.MaxHosts, pcfg.MaxPairs = s.cfg.MaxHosts, s.cfg.MaxPairs
	px, err := drmon.NewProxy(pcfg)
	if err != nil {
		return nil, err
	}
	conn, err := net.ListenPacket("udp4", d.Listen)
	if err != nil {
		return nil, fmt.Errorf("rmon: drmon listen %s: %w", d.Listen, err)
	}
	if d.DiscoveryInterface != "" {
		ifi, err := net.InterfaceByName(d.DiscoveryInterface)
		if err == nil {
			err = xipv4.NewPacketConn(conn).SetMulticastInterface(ifi)
		}
		if err != nil {
			conn.Close()
			return nil, fmt.Errorf("rmon: drmon.discovery_interface: %w", err)
		}
	}
	log.Info("drmon proxy listening", "addr", conn.LocalAddr().String(), "group", d.DiscoveryGroup)
	if d.Upstream != "" {
		if err := s.startUpstream(ctx, wg, log, px, pcfg.Key); err != nil {
			conn.Close()
			return nil, err
		}
	}
	if d.TLSListen != "" {
		if err := startProxyTLS(ctx, wg, log, px, d); err != nil {
			conn.Close()
			return nil, err
		}
	}
	goServe(wg, log, "drmon proxy", func() error { defer conn.Close(); return px.Serve(ctx, conn) })
	return px, nil
}

// goServe runs serve on wg and logs its error as what.
func goServe(wg *sync.WaitGroup, log *slog.Logger, what string, serve func() error) {
	wg.Go(func() {
		if err := serve(); err != nil {
			log.Error(what, "err", err)
		}
	})
}

// startUpstream reports the first view to the domain proxy as an agent.
func (s *Service) startUpstream(ctx context.Context, wg *sync.WaitGroup, log *slog.Logger, px *drmon.Proxy, key []byte) error {
	d := s.cfg.DRMON
	up, err := net.ResolveUDPAddr("udp4", d.Upstream)
	if err != nil {
		return fmt.Errorf("rmon: drmon.upstream: %w", err)
	}
	view := px.Views()[0].Name
	name := d.UpstreamName
	if name == "" {
		host, _ := os.Hostname()
		name = host + "/" + view
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "wirebox dRMON workgroup %s %s", d.Listen, view)
	a, err := drmon.NewAgent(drmon.AgentConfig{Key: key, Name: name, ID: h.Sum64(), Source: px.ViewSource(0), Proxy: up, Log: log})
	if err != nil {
		return err
	}
	conn, err := net.ListenPacket("udp4", ":0")
	if err != nil {
		return fmt.Errorf("rmon: drmon upstream: %w", err)
	}
	log.Info("drmon: reporting upstream", "view", view, "domain_proxy", d.Upstream, "as", name)
	goServe(wg, log, "drmon upstream", func() error { return a.Serve(ctx, conn) })
	return nil
}
