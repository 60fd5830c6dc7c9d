//go:build !linux

package drmon

import (
	"context"
	"errors"
	"log/slog"
	"net"
)

// RunConfig is a standalone agent (`wirebox agent`).
type RunConfig struct {
	Interfaces []string
	Key        []byte
	Listen     string
	Group      *net.UDPAddr
	Proxy      *net.UDPAddr
	Name       string
	Log        *slog.Logger
	Ready      func(*Agent, net.Addr)
}

// Run needs the capture core's Linux engines.
func Run(context.Context, RunConfig) error { return errors.New("drmon agent: Linux only") }
