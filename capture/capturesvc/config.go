package capturesvc

import (
	"path/filepath"

	"github.com/wirebox/wirebox/internal/config"
)

// Config is the capture section of the configuration file.
type Config struct {
	// Root confines what the API may write (capture output) and read
	// (replay files): relative paths are inside it, absolute ones must be.
	// Whoever can reach the API cannot write elsewhere on the appliance.
	Root string `yaml:"root" comment:"Capture output and replay input are confined here: relative paths are\ninside it, absolute ones must be."`
	// MaxSessions bounds the capture sessions running at once and
	// MaxReplays the replays: past them the API answers 429, so no client
	// loop can exhaust the appliance's memory or threads.
	MaxSessions int `yaml:"max_sessions" comment:"Capture sessions running at once (1-4096); past it the API answers 429."`
	MaxReplays  int `yaml:"max_replays" comment:"Replays running at once (1-256); likewise."`
}

// Default limits.
const (
	DefaultMaxSessions = 64
	DefaultMaxReplays  = 4
)

// DefaultRoot is where captures go unless configured otherwise (on the
// image, the persistent data partition is mounted under /var/lib/wirebox).
const DefaultRoot = "/var/lib/wirebox/captures"

// Section is the `capture:` section.
var Section = config.NewSection(Name, Config{Root: DefaultRoot, MaxSessions: DefaultMaxSessions, MaxReplays: DefaultMaxReplays}, func(c *Config) error {
	if c.Root == "" || !filepath.IsAbs(c.Root) || filepath.Clean(c.Root) == "/" {
		return config.Errorf("root", "must be an absolute directory other than / (it confines what the API may write), not %q", c.Root)
	}
	if c.MaxSessions < 1 || c.MaxSessions > 4096 {
		return config.Errorf("max_sessions", "must be from 1 to 4096, not %d", c.MaxSessions)
	}
	if c.MaxReplays < 1 || c.MaxReplays > 256 {
		return config.Errorf("max_replays", "must be from 1 to 256, not %d", c.MaxReplays)
	}
	return nil
})
