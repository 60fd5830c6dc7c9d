package tapsvc

import (
	"path/filepath"

	"github.com/wirebox/wirebox/internal/config"
)

// Config is the `tap:` section.
type Config struct {
	// Enabled runs the tap service (on an appliance with ports).
	Enabled bool `yaml:"enabled"`
	// Socket is the unix socket applications connect to. It is local
	// only: the tap API never listens on the network.
	Socket string `yaml:"socket"`
	// Group may connect besides root (the socket is mode 0660
	// root:group); empty or a group that does not exist: root only.
	Group string `yaml:"group"`
	// Quota is the most frames one application may hold at once.
	Quota int `yaml:"quota"`
	// MaxTaps bounds the taps of one application.
	MaxTaps int `yaml:"max_taps"`
	// Queue is each tap's queue in the core: frames the port received
	// that wait for the tap's pump. A full queue passes frames on as if
	// reverted (the tap's dropped); deeper rides out longer scheduling
	// delays of the daemon.
	Queue int `yaml:"queue"`
}

// Defaults.
const (
	DefaultSocket  = "/run/wirebox/tap.sock"
	DefaultGroup   = "wirebox"
	DefaultQuota   = 4096
	DefaultMaxTaps = 16
	DefaultQueue   = 4096
)

// Section is the `tap:` section.
var Section = config.NewSection(Name, Config{Enabled: true, Socket: DefaultSocket, Group: DefaultGroup, Quota: DefaultQuota, MaxTaps: DefaultMaxTaps, Queue: DefaultQueue}, func(c *Config) error {
	if c.Socket == "" || !filepath.IsAbs(c.Socket) {
		return config.Errorf("socket", "must be an absolute path, not %q", c.Socket)
	}
	if c.Quota < 64 || c.Quota > 1<<20 {
		return config.Errorf("quota", "must be from 64 to 1048576 frames, not %d", c.Quota)
	}
	if c.Queue < 64 || c.Queue > 1<<20 {
		return config.Errorf("queue", "must be from 64 to 1048576 frames, not %d", c.Queue)
	}
	if c.MaxTaps < 1 || c.MaxTaps > 1024 {
		return config.Errorf("max_taps", "must be from 1 to 1024, not %d", c.MaxTaps)
	}
	return nil
})
