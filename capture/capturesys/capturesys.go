// Package capturesys is the capture subsystem as the daemon's table lists
// it: capture sessions and replay (capturesvc), their commands
// (capturecli) and their console screen (captureui) in one
// subsys.Subsystem value.
package capturesys

import (
	"github.com/wirebox/wirebox/capture/capturecli"
	"github.com/wirebox/wirebox/capture/capturesvc"
	"github.com/wirebox/wirebox/capture/captureui"
	"github.com/wirebox/wirebox/services"
	"github.com/wirebox/wirebox/subsys"
)

// Subsystem is the capture subsystem: capture sessions and replay on the
// core's ports, their API routes, `wirebox capture` and `wirebox replay`,
// and the console's Capture screen. It runs only on an appliance with ports.
var Subsystem = subsys.Subsystem{
	Name:   capturesvc.Name,
	Config: capturesvc.Section,
	Services: func(env subsys.Env) ([]services.Service, error) {
		if env.Core == nil {
			return nil, nil // no ports, no core: nothing to capture
		}
		return []services.Service{capturesvc.New(env.Core, *capturesvc.Section.Of(env.Config))}, nil
	},
	Commands: capturecli.Commands,
	Panels:   captureui.Panels,
}
