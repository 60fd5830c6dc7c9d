// Package tapsys is the tap subsystem as the daemon's table lists it:
// NetTap's application API (tapsvc), `wirebox taps` (tapcli) and the
// console's Taps screen (tapui) in one subsys.Subsystem value.
package tapsys

import (
	"github.com/wirebox/wirebox/services"
	"github.com/wirebox/wirebox/subsys"
	"github.com/wirebox/wirebox/tap/tapcli"
	"github.com/wirebox/wirebox/tap/tapsvc"
	"github.com/wirebox/wirebox/tap/tapui"
)

// Subsystem is the tap subsystem. It runs only on an appliance with
// ports, and only when `tap.enabled` is true (the default).
var Subsystem = subsys.Subsystem{
	Name:   tapsvc.Name,
	Config: tapsvc.Section,
	Services: func(env subsys.Env) ([]services.Service, error) {
		cfg := *tapsvc.Section.Of(env.Config)
		if env.Core == nil || !cfg.Enabled {
			return nil, nil
		}
		return []services.Service{tapsvc.New(env.Core, cfg)}, nil
	},
	Commands: tapcli.Commands,
	Panels:   tapui.Panels,
}
