//go:build !linux

package tapsvc

import (
	"context"
	"errors"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/services"
)

type app struct{ id uint32 }

func (a *app) status() api.TapApp { return api.TapApp{} }

func itoa(i int) string { return "" }

// Run fails: the tap API needs Linux (memfd, eventfd, SCM_RIGHTS, pidfd).
func (s *Service) Run(ctx context.Context, rt *services.Runtime) error {
	return errors.New("tap: the tap service needs Linux")
}
