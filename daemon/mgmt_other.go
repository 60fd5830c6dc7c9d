//go:build !linux

package daemon

import (
	"context"
	"errors"

	"github.com/wirebox/wirebox/services"
)

func (m *mgmtService) Run(ctx context.Context, rt *services.Runtime) error {
	return errors.New("the management network needs Linux")
}
