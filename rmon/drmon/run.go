package drmon

import (
	"crypto/tls"
	"log/slog"
	"net"
	"time"
)

// RunConfig is a standalone agent (`wirebox agent`).
type RunConfig struct {
	Interfaces []string
	Key        []byte
	// Listen is the agent's UDP address (default 0.0.0.0 and the group's port).
	Listen string
	// Group is the discovery multicast group, joined on every interface
	// (nil: none; then Proxy must be set).
	Group *net.UDPAddr
	// Proxies are announced to in turn while none polls (the first is
	// preferred; the next stands in when it stops answering).
	Proxies       []*net.UDPAddr
	HelloInterval time.Duration
	// TLSProxy, if set, is the proxy's TLS address: the agent dials it
	// with TLS (its certificate, the proxy's CA) instead of using UDP;
	// there is then no discovery.
	TLSProxy string
	TLS      *tls.Config
	Name     string
	Log      *slog.Logger
	// Ready, if set, is called with the agent once it counts and listens.
	Ready func(*Agent, net.Addr)
}
