package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/services"
)

type listener = net.Listener

// apiService serves the control API on one listener. The local socket and
// the remote TLS listener are separate services, so a bad certificate shows
// as a failed "api-remote" while the local API keeps working.
type apiService struct {
	name    string
	listen  func() (listener, error)
	remote  *api.RemoteOptions
	handler func() http.Handler

	mu   sync.Mutex
	addr net.Addr // where the current run listens
}

func (s *apiService) Name() string { return s.name }

// Essential: without the local API the appliance cannot be reached, so if
// it fails for good (a stale socket it may not remove, another daemon on
// it) the daemon exits with the reason. The remote API is not: the local
// one still works without it.
func (s *apiService) Essential() bool { return s.remote == nil }

func (s *apiService) Run(ctx context.Context, rt *services.Runtime) error {
	var (
		l   net.Listener
		h   = s.handler()
		err error
	)
	if s.remote != nil {
		l, h, err = api.ListenRemote(*s.remote, h)
	} else {
		l, err = s.listen()
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.addr = l.Addr()
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.addr = nil
		s.mu.Unlock()
	}()
	rt.Log.Info("control API listening", "addr", l.Addr().String(), "tls", s.remote != nil)
	rt.Ready()
	return api.Serve(ctx, l, h, rt.Log)
}

// Health connects to the listener: a socket file removed by hand or a
// wedged accept loop shows up here, and the supervisor restarts the API.
func (s *apiService) Health(ctx context.Context) error {
	s.mu.Lock()
	addr := s.addr
	s.mu.Unlock()
	if addr == nil {
		return errors.New("not listening")
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, addr.Network(), addr.String())
	if err != nil {
		return err
	}
	defer c.Close()
	if s.remote != nil {
		// Complete a handshake, so the probe proves TLS is served and does
		// not fill the log with "TLS handshake error ... EOF". Nothing is
		// sent over it, so the certificate need not be verified here.
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}) //nolint:gosec // probe of our own listener
		if err := tc.HandshakeContext(ctx); err != nil {
			return fmt.Errorf("TLS handshake with own listener: %w", err)
		}
		return tc.Close()
	}
	return nil
}
