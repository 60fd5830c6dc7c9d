// Package hasys is the HA subsystem as the daemon's table lists it: the
// forwarder and the pair (hasvc), `wirebox ha` (hacli) and the console's
// HA screen (haui).
package hasys

import (
	"github.com/wirebox/wirebox/ha/hacli"
	"github.com/wirebox/wirebox/ha/hasvc"
	"github.com/wirebox/wirebox/ha/haui"
	"github.com/wirebox/wirebox/services"
	"github.com/wirebox/wirebox/subsys"
)

// Subsystem is the HA subsystem; its service runs only when ha.enabled.
var Subsystem = subsys.Subsystem{
	Name:   hasvc.Name,
	Config: hasvc.Section,
	Services: func(env subsys.Env) ([]services.Service, error) {
		cfg := hasvc.Section.Of(env.Config)
		if !cfg.Enabled || env.Core == nil {
			return nil, nil
		}
		nc, err := cfg.Node()
		if err != nil {
			return nil, err
		}
		return []services.Service{hasvc.New(env.Core, nc)}, nil
	},
	Commands: hacli.Commands,
	Panels:   haui.Panels,
}
