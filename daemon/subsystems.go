package daemon

import (
	"github.com/wirebox/wirebox/capture/capturesys"
	"github.com/wirebox/wirebox/ha/hasys"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/mirror/mirrorsys"
	"github.com/wirebox/wirebox/rmon/rmonsys"
	"github.com/wirebox/wirebox/subsys"
	"github.com/wirebox/wirebox/tap/tapsys"
)

// all is the table of subsystems: a subsystem is its own folder plus one
// line here. Its configuration section, services (with their API routes
// and metrics), CLI commands and console panels all come through it.
var all = []subsys.Subsystem{
	capturesys.Subsystem,
	mirrorsys.Subsystem,
	rmonsys.Subsystem,
	tapsys.Subsystem,
	hasys.Subsystem,
}

// Subsystems returns the table, in order.
func Subsystems() []subsys.Subsystem { return append([]subsys.Subsystem(nil), all...) }

// Sections are the subsystems' configuration sections, for config.Load,
// Parse and Default.
func Sections() []config.Section {
	var secs []config.Section
	for _, s := range all {
		if s.Config != nil {
			secs = append(secs, s.Config)
		}
	}
	return secs
}

// DefaultConfig is the embedded default configuration with every
// subsystem's section at its defaults.
func DefaultConfig() *config.Config { return config.Default(Sections()...) }

// LoadConfig reads and validates a configuration file with every
// subsystem's section.
func LoadConfig(path string) (*config.Config, error) { return config.Load(path, Sections()...) }
