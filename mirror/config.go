package mirror

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// DefaultStateDir keeps the generated certificate and token.
const DefaultStateDir = "/var/lib/wirebox/mirror"

// Config configures the mirror service (the `mirror:` section of the
// appliance configuration). With Listen empty the service runs but nothing
// listens.
type Config struct {
	// Listen is the TCP address of the mirror protocol (e.g. ":7412");
	// empty disables the listener.
	Listen string `yaml:"listen"`
	// NetNS is a network namespace (name under /run/netns or a path) to
	// listen in; empty is the daemon's. The ports' facts come from the core.
	NetNS string `yaml:"netns,omitempty"`
	// StateDir holds the certificate, key and token generated on first
	// start when Cert/Key or TokenFile are not given (default
	// /var/lib/wirebox/mirror).
	StateDir string `yaml:"state_dir,omitempty"`
	// Cert and Key are the server's certificate and key (PEM). Both empty:
	// StateDir/mirror-server.pem and mirror-server-key.pem, generated with a
	// self-signed CA (StateDir/mirror-ca.pem) if absent.
	Cert string `yaml:"cert,omitempty"`
	Key  string `yaml:"key,omitempty"`
	// CA is the CA certificate clients verify the server with (informative
	// when Cert is given; the generated one otherwise).
	CA string `yaml:"ca,omitempty"`
	// ClientCA, if set, lets clients authenticate with a certificate it
	// signed instead of a token.
	ClientCA string `yaml:"client_ca,omitempty"`
	// TokenFile holds the main token (default StateDir/mirror-token,
	// generated if absent). It may use every registered port unless an
	// Access entry with the same token file restricts it.
	TokenFile string `yaml:"token_file,omitempty"`
	// Access lists further credentials and the ports each may use.
	Access []Access `yaml:"access,omitempty"`
	// Ports are registered for mirroring at start.
	Ports []string `yaml:"ports,omitempty"`
	// Names are extra DNS names or addresses for a generated certificate.
	Names []string `yaml:"names,omitempty"`
}

// Access is one credential: a token file or a client certificate's common
// name, and the ports it may request (empty: every registered port).
type Access struct {
	Name      string   `yaml:"name"`
	TokenFile string   `yaml:"token_file,omitempty"`
	ClientCN  string   `yaml:"client_cn,omitempty"`
	Ports     []string `yaml:"ports,omitempty"`
}

// Validate checks the configuration without touching files.
func (c Config) Validate() error {
	if c.Listen == "" {
		return nil
	}
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return fmt.Errorf("mirror: listen %q: %w", c.Listen, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("mirror: listen %q: bad port", c.Listen)
	}
	if host != "" && net.ParseIP(host) == nil {
		return fmt.Errorf("mirror: listen %q: host must be an IP address or empty", c.Listen)
	}
	if (c.Cert == "") != (c.Key == "") {
		return errors.New("mirror: cert and key go together")
	}
	seen := map[string]bool{}
	for _, p := range c.Ports {
		if p == "" || strings.ContainsAny(p, "/ \t") {
			return fmt.Errorf("mirror: port name %q", p)
		}
		if seen[p] {
			return fmt.Errorf("mirror: port %s registered twice", p)
		}
		seen[p] = true
	}
	names := map[string]bool{}
	for i, a := range c.Access {
		what := fmt.Sprintf("mirror: access[%d] %q", i, a.Name)
		if a.Name == "" {
			return fmt.Errorf("%s: needs a name", what)
		}
		if names[a.Name] {
			return fmt.Errorf("%s: name used twice", what)
		}
		names[a.Name] = true
		if (a.TokenFile == "") == (a.ClientCN == "") {
			return fmt.Errorf("%s: give exactly one of token_file and client_cn", what)
		}
		if a.ClientCN != "" && c.ClientCA == "" {
			return fmt.Errorf("%s: client_cn needs client_ca", what)
		}
	}
	return nil
}

// withDefaults fills in the state file names.
func (c Config) withDefaults() Config {
	if c.StateDir == "" {
		c.StateDir = DefaultStateDir
	}
	if c.Cert == "" {
		c.Cert = filepath.Join(c.StateDir, "mirror-server.pem")
		c.Key = filepath.Join(c.StateDir, "mirror-server-key.pem")
		c.CA = filepath.Join(c.StateDir, "mirror-ca.pem")
	}
	if c.TokenFile == "" {
		c.TokenFile = filepath.Join(c.StateDir, "mirror-token")
	}
	return c
}
