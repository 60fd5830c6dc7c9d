//go:build !linux

package coresvc

import (
	"context"

	"github.com/wirebox/wirebox/capture"
	"github.com/wirebox/wirebox/services"
)

func (s *Service) watchLinks(ctx context.Context, _ *capture.Core, _ *AutoOptions, rt *services.Runtime) {
	rt.Log.Warn("auto ports need Linux")
	<-ctx.Done()
}
