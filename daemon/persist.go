package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
)

// Store keeps the applied configuration on the data partition: the
// current one and the one before it that ran well (the last good).
type Store struct {
	Dir string // e.g. /data/wirebox; "" stores nothing
}

// Names of the stored configurations in Store.Dir.
const (
	StoredConfig   = "config.yaml"
	StoredLastGood = "config.last-good.yaml"
)

// Current is the stored configuration's path.
func (s Store) Current() string { return filepath.Join(s.Dir, StoredConfig) }

// LastGood is the previous good configuration's path.
func (s Store) LastGood() string { return filepath.Join(s.Dir, StoredLastGood) }

// Save stores b as the current configuration; the one it replaces becomes
// the last good. Each file is written whole and renamed into place, so a
// power cut leaves the old or the new file, never half of one.
func (s Store) Save(b []byte) error {
	if s.Dir == "" {
		return nil
	}
	if err := os.MkdirAll(s.Dir, 0o755); err != nil {
		return err
	}
	if old, err := os.ReadFile(s.Current()); err == nil {
		if err := writeAtomic(s.LastGood(), old); err != nil {
			return err
		}
	}
	return writeAtomic(s.Current(), b)
}

func writeAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("store config: %w", err)
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// Candidate is one place a configuration may come from.
type Candidate struct {
	Path   string
	Source string // what to call it: "data partition", "last good", "image defaults"
}

// Loaded is the configuration the daemon runs, with where it came from.
type Loaded struct {
	Cfg  *config.Config
	YAML []byte // nil for the built-in defaults
	Info api.ConfigInfo
}

// BuiltinSource names the built-in defaults as a source.
const BuiltinSource = "built-in defaults"

// LoadFirst returns the first candidate that exists and is valid, else the
// built-in defaults. A candidate that does not exist is skipped quietly;
// one that is invalid is skipped and named in Info.Fallbacks, so the
// appliance says why it is not running the configuration it was given.
func LoadFirst(cands []Candidate) Loaded {
	var fallbacks []string
	for _, c := range cands {
		b, err := os.ReadFile(c.Path)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		var cfg *config.Config
		if err == nil {
			cfg, err = parseConfig(c.Path, b)
		}
		if err != nil {
			fallbacks = append(fallbacks, fmt.Sprintf("%s (%s): %v", c.Source, c.Path, err))
			continue
		}
		return Loaded{Cfg: cfg, YAML: b, Info: api.ConfigInfo{Source: c.Source, Path: c.Path, Fallbacks: fallbacks}}
	}
	return Loaded{Cfg: DefaultConfig(), Info: api.ConfigInfo{Source: BuiltinSource, Fallbacks: fallbacks}}
}

// parseConfig validates a document with every subsystem's section; errors
// name the file.
func parseConfig(name string, b []byte) (*config.Config, error) {
	cfg, err := config.Parse(b, Sections()...)
	var ce *config.Error
	if errors.As(err, &ce) && ce.File == "" {
		ce.File = name
	}
	return cfg, err
}

// ParseConfig validates a configuration document (e.g. a POST /v1/config
// body) with every subsystem's section.
func ParseConfig(b []byte) (*config.Config, error) { return parseConfig("", b) }
