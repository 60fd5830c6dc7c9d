// Package mirrorsys is the mirror subsystem as the daemon's table lists
// it: the mirror server (mirror.Service) with its `mirror:` configuration
// section, `wirebox mirror` (the client: attach, detach, ports; and the
// daemon's side: sessions, register, unregister) and the console's Mirror
// screen (mirrorui).
package mirrorsys

import (
	"fmt"

	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/mirror"
	"github.com/wirebox/wirebox/mirror/mirrorui"
	"github.com/wirebox/wirebox/services"
	"github.com/wirebox/wirebox/subsys"
)

// Section is the `mirror:` section. By default nothing listens; the
// generated certificate and token go under /var/lib/wirebox/mirror.
var Section = config.NewSection(mirror.Name, mirror.Config{StateDir: mirror.DefaultStateDir}, subsys.Validate[mirror.Config](mirror.Name))

// Subsystem is the mirror: appliance ports lent to remote clients.
var Subsystem = subsys.Subsystem{
	Name:   mirror.Name,
	Config: Section,
	Services: func(env subsys.Env) ([]services.Service, error) {
		cfg := *Section.Of(env.Config)
		if env.Core == nil {
			if cfg.Listen != "" {
				return nil, config.Errorf("mirror.listen", "the mirror lends the appliance's ports, and none is configured")
			}
			return nil, nil // no ports: nothing to mirror
		}
		// With a core but no listen address the service still runs (its
		// API lists the ports and registers them), and nothing listens.
		svc, err := mirror.New(cfg, env.Core, env.Log)
		if err != nil {
			return nil, fmt.Errorf("mirror: %w", err)
		}
		return []services.Service{svc}, nil
	},
	Commands: commands,
	Panels:   mirrorui.Panels,
}
