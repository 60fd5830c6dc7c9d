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
	Root string `yaml:"root"`
}

// DefaultRoot is where captures go unless configured otherwise (on the
// image, the persistent data partition is mounted under /var/lib/wirebox).
const DefaultRoot = "/var/lib/wirebox/captures"

// Section is the `capture:` section.
var Section = config.NewSection(Name, Config{Root: DefaultRoot}, func(c *Config) error {
	if c.Root == "" || !filepath.IsAbs(c.Root) || filepath.Clean(c.Root) == "/" {
		return config.Errorf("root", "must be an absolute directory other than / (it confines what the API may write), not %q", c.Root)
	}
	return nil
})
