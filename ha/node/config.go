package node

import (
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/wirebox/wirebox/ha/fwd"
)

// Mode is the mirroring configuration of the pair.
type Mode string

const (
	// StandbyResponse: the active hands every frame of the service to the
	// standby, which processes and forwards it; nothing leaves the pair
	// that the standby has not seen.
	StandbyResponse Mode = "standby_response"
	// StandbyFirst: the standby owns the addresses, so frames reach it
	// first; it processes each and passes it to the active, which
	// forwards it.
	StandbyFirst Mode = "standby_first"
)

// Config configures a node.
type Config struct {
	// ClientPort and ServerPort are bypass ports of the core: the VIP's
	// side and the backends' side.
	ClientPort, ServerPort string
	Service                fwd.Service
	// Gateway is the address the backends route the clients' addresses
	// through (answered with ARP on the server side, moved with the VIP).
	Gateway netip.Addr
	// Peer is the pair's configuration; nil runs the forwarder alone.
	Peer *PeerConfig
}

// PeerConfig configures the pair.
type PeerConfig struct {
	Listen, Address netip.AddrPort
	Key             []byte
	NetNS           string // optional namespace of the peer and witness sockets
	Interval        time.Duration
	DeadAfter       int // heartbeats missed before the peer is dead
	Priority        uint8
	Preempt         bool
	Mode            Mode
	// Witness is the peer's address on a second path; WitnessListen ours.
	// Without them a node takes over on heartbeat loss alone.
	Witness, WitnessListen netip.AddrPort
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	if c.ClientPort == "" || c.ServerPort == "" || c.ClientPort == c.ServerPort {
		return errors.New("client_port and server_port: two different bypass ports")
	}
	if err := c.Service.Validate(); err != nil {
		return fmt.Errorf("service: %w", err)
	}
	if !c.Gateway.Is4() {
		return errors.New("gateway: want the IPv4 address the backends route through")
	}
	if p := c.Peer; p != nil {
		if !p.Listen.IsValid() || !p.Address.IsValid() {
			return errors.New("peer: listen and address are required")
		}
		if len(p.Key) < 16 {
			return errors.New("peer: key of at least 16 bytes required")
		}
		if p.Interval < 10*time.Millisecond {
			return errors.New("peer: interval below 10ms")
		}
		if p.DeadAfter < 2 {
			return errors.New("peer: dead_after below 2")
		}
		if p.Mode != StandbyResponse && p.Mode != StandbyFirst {
			return fmt.Errorf("peer: mode %q: want standby_response or standby_first", p.Mode)
		}
		if p.Witness.IsValid() != p.WitnessListen.IsValid() {
			return errors.New("peer: witness and witness_listen go together")
		}
	}
	return nil
}
