//go:build !linux

package drmon

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"time"
)

// RunConfig is a standalone agent (`wirebox agent`).
type RunConfig struct {
	Interfaces    []string
	Key           []byte
	Listen        string
	Group         *net.UDPAddr
	Proxies       []*net.UDPAddr
	HelloInterval time.Duration
	TLSProxy      string
	TLS           *tls.Config
	Name          string
	Log           *slog.Logger
	Ready         func(*Agent, net.Addr)
}

// Run needs the capture core's Linux engines.
func Run(context.Context, RunConfig) error { return errors.New("drmon agent: Linux only") }
