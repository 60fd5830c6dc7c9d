package daemon

import (
	"context"
	"net"
	"net/http"

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
}

func (s *apiService) Name() string { return s.name }

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
	rt.Log.Info("control API listening", "addr", l.Addr().String(), "tls", s.remote != nil)
	rt.Ready()
	return api.Serve(ctx, l, h, rt.Log)
}
