package hasvc

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/wirebox/wirebox/ha/fwd"
	"github.com/wirebox/wirebox/ha/node"
	"github.com/wirebox/wirebox/internal/config"
)

// Config is the `ha:` section.
type Config struct {
	// Enabled runs the forwarder (and the pair, with peer.listen set).
	Enabled bool `yaml:"enabled"`
	// ClientPort and ServerPort are bypass ports of the core (ports:):
	// the VIP's side and the backends' side.
	ClientPort string `yaml:"client_port"`
	ServerPort string `yaml:"server_port"`
	// Gateway is the address the backends route the clients through.
	Gateway  string         `yaml:"gateway"`
	Service  ServiceConfig  `yaml:"service"`
	Timeouts TimeoutsConfig `yaml:"timeouts"`
	Peer     PeerConfig     `yaml:"peer"`
}

// ServiceConfig is the forwarded service.
type ServiceConfig struct {
	VIP  string `yaml:"vip"`
	Port int    `yaml:"port"`
	// Protocols: tcp, udp or both (default both).
	Protocols []string `yaml:"protocols,omitempty"`
	// Backends are address:port.
	Backends []string `yaml:"backends,omitempty"`
	// Balance is round_robin or hash.
	Balance string `yaml:"balance"`
}

// TimeoutsConfig are the idle timeouts per connection state.
type TimeoutsConfig struct {
	TCPSyn         config.Duration `yaml:"tcp_syn"`
	TCPEstablished config.Duration `yaml:"tcp_established"`
	TCPFin         config.Duration `yaml:"tcp_fin"`
	TCPClose       config.Duration `yaml:"tcp_close"`
	UDP            config.Duration `yaml:"udp"`
	UDPStream      config.Duration `yaml:"udp_stream"`
}

// PeerConfig is the pair; without listen the forwarder runs alone.
type PeerConfig struct {
	Listen  string `yaml:"listen"`  // our address:port on the peer link
	Address string `yaml:"address"` // the peer's
	// KeyFile holds the pre-shared key (hex, or raw bytes); Key is the
	// same inline in hex (tests; prefer key_file).
	KeyFile   string          `yaml:"key_file,omitempty"`
	Key       string          `yaml:"key,omitempty"`
	NetNS     string          `yaml:"netns,omitempty"`
	Interval  config.Duration `yaml:"interval"`
	DeadAfter int             `yaml:"dead_after"`
	Priority  int             `yaml:"priority"`
	Preempt   bool            `yaml:"preempt"`
	// Mode is standby_response or standby_first.
	Mode string `yaml:"mode"`
	// Witness is the peer's address on a second path, WitnessListen ours.
	Witness       string `yaml:"witness,omitempty"`
	WitnessListen string `yaml:"witness_listen,omitempty"`
}

func dur(d time.Duration) config.Duration { return config.Duration(d) }

// Section is the `ha:` section.
var Section = config.NewSection(Name, Config{
	Service: ServiceConfig{Balance: string(fwd.RoundRobin)},
	Timeouts: TimeoutsConfig{TCPSyn: dur(fwd.DefaultTimeouts.TCPSyn), TCPEstablished: dur(fwd.DefaultTimeouts.TCPEstablished),
		TCPFin: dur(fwd.DefaultTimeouts.TCPFin), TCPClose: dur(fwd.DefaultTimeouts.TCPClose),
		UDP: dur(fwd.DefaultTimeouts.UDP), UDPStream: dur(fwd.DefaultTimeouts.UDPStream)},
	Peer: PeerConfig{Interval: dur(100 * time.Millisecond), DeadAfter: 3, Priority: 100, Mode: string(node.StandbyResponse)},
}, func(c *Config) error {
	if !c.Enabled {
		return nil
	}
	_, err := c.Node()
	return err
})

// Node turns the section into the node's configuration, with the error's
// key.
func (c *Config) Node() (node.Config, error) {
	var nc node.Config
	nc.ClientPort, nc.ServerPort = c.ClientPort, c.ServerPort
	if c.ClientPort == "" || c.ServerPort == "" || c.ClientPort == c.ServerPort {
		return nc, config.Errorf("client_port", "client_port and server_port: two different bypass ports")
	}
	gw, err := netip.ParseAddr(c.Gateway)
	if err != nil || !gw.Is4() {
		return nc, config.Errorf("gateway", "want the IPv4 address the backends route through, not %q", c.Gateway)
	}
	nc.Gateway = gw
	s := &nc.Service
	if s.VIP, err = netip.ParseAddr(c.Service.VIP); err != nil || !s.VIP.Is4() {
		return nc, config.Errorf("service.vip", "want an IPv4 address, not %q", c.Service.VIP)
	}
	if c.Service.Port < 1 || c.Service.Port > 65535 {
		return nc, config.Errorf("service.port", "want 1-65535")
	}
	s.Port = uint16(c.Service.Port)
	protos := c.Service.Protocols
	if len(protos) == 0 {
		protos = []string{"tcp", "udp"}
	}
	for _, p := range protos {
		switch strings.ToLower(p) {
		case "tcp":
			s.TCP = true
		case "udp":
			s.UDP = true
		default:
			return nc, config.Errorf("service.protocols", "%q: want tcp or udp", p)
		}
	}
	for i, b := range c.Service.Backends {
		ap, err := netip.ParseAddrPort(b)
		if err != nil || !ap.Addr().Is4() || ap.Port() == 0 {
			return nc, config.Errorf(fmt.Sprintf("service.backends[%d]", i), "want IPv4 address:port, not %q", b)
		}
		s.Backends = append(s.Backends, ap)
	}
	if len(s.Backends) == 0 {
		return nc, config.Errorf("service.backends", "at least one backend")
	}
	s.Balance = fwd.Balance(c.Service.Balance)
	t := c.Timeouts
	s.Timeouts = fwd.Timeouts{TCPSyn: t.TCPSyn.D(), TCPEstablished: t.TCPEstablished.D(), TCPFin: t.TCPFin.D(),
		TCPClose: t.TCPClose.D(), UDP: t.UDP.D(), UDPStream: t.UDPStream.D()}
	if err := s.Validate(); err != nil {
		return nc, config.Errorf("service", "%v", err)
	}
	if c.Peer.Listen == "" {
		return nc, nil
	}
	p := c.Peer
	pc := &node.PeerConfig{NetNS: p.NetNS, Interval: p.Interval.D(), DeadAfter: p.DeadAfter, Preempt: p.Preempt, Mode: node.Mode(p.Mode)}
	if pc.Listen, err = netip.ParseAddrPort(p.Listen); err != nil {
		return nc, config.Errorf("peer.listen", "want address:port, not %q", p.Listen)
	}
	if pc.Address, err = netip.ParseAddrPort(p.Address); err != nil {
		return nc, config.Errorf("peer.address", "want the peer's address:port, not %q", p.Address)
	}
	if p.Priority < 1 || p.Priority > 255 {
		return nc, config.Errorf("peer.priority", "want 1-255")
	}
	pc.Priority = uint8(p.Priority)
	if pc.Key, err = p.key(); err != nil {
		return nc, config.Errorf("peer.key_file", "%v", err)
	}
	if p.Witness != "" || p.WitnessListen != "" {
		if pc.Witness, err = netip.ParseAddrPort(p.Witness); err != nil {
			return nc, config.Errorf("peer.witness", "want the peer's address:port on the second path, not %q", p.Witness)
		}
		if pc.WitnessListen, err = netip.ParseAddrPort(p.WitnessListen); err != nil {
			return nc, config.Errorf("peer.witness_listen", "want our address:port on the second path, not %q", p.WitnessListen)
		}
	}
	nc.Peer = pc
	if err := nc.Validate(); err != nil {
		return nc, config.Errorf("peer", "%v", err)
	}
	return nc, nil
}

// key reads the pre-shared key: every remote surface authenticates, so a
// peer link without one is refused.
func (p *PeerConfig) key() ([]byte, error) {
	text := p.Key
	if p.KeyFile != "" {
		if p.Key != "" {
			return nil, fmt.Errorf("key and key_file: give one")
		}
		b, err := os.ReadFile(p.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("read key: %w", err)
		}
		text = strings.TrimSpace(string(b))
		if k, err := hex.DecodeString(text); err == nil && len(k) >= 16 {
			return k, nil
		}
		if len(text) >= 16 {
			return []byte(text), nil
		}
		return nil, fmt.Errorf("key file %s: want at least 16 bytes", p.KeyFile)
	}
	k, err := hex.DecodeString(text)
	if err != nil || len(k) < 16 {
		return nil, fmt.Errorf("a pre-shared key of at least 16 bytes (key_file, or key in hex) is required")
	}
	return k, nil
}
