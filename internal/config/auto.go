package config

import (
	"net/netip"
	"strings"
)

// ManagementConfig is the management NIC: the one the appliance is reached
// through, which never becomes a port. With DHCP and no Interface, the
// first NIC that gets a DHCP lease is the management NIC.
type ManagementConfig struct {
	// Interface names the management NIC; empty: the first NIC that has an
	// address already (kernel ip=, an earlier run of the daemon) or gets a
	// DHCP lease.
	Interface string `yaml:"interface,omitempty"`
	// DHCP asks for an address by DHCP (and renews it).
	DHCP bool `yaml:"dhcp,omitempty"`
	// Address is a static address (CIDR, e.g. 192.0.2.10/24) instead of DHCP;
	// it needs Interface.
	Address string `yaml:"address,omitempty"`
	// Gateway is the default route for a static address.
	Gateway string `yaml:"gateway,omitempty"`
	// DHCPTimeout bounds the wait for a first lease when Interface is empty;
	// after it, every NIC becomes a port (default 10s).
	DHCPTimeout Duration `yaml:"dhcp_timeout,omitempty"`
}

// Enabled reports whether the daemon manages a management NIC at all.
func (m ManagementConfig) Enabled() bool {
	return m.DHCP || m.Address != "" || m.Interface != ""
}

func (c *Config) validateManagement(bad func(path, format string, args ...any) error) error {
	m := &c.Management
	if m.Interface != "" && (len(m.Interface) > 15 || strings.ContainsAny(m.Interface, "/ \t")) {
		return bad("$.management.interface", "%q is not a network interface name", m.Interface)
	}
	if m.Address != "" {
		if m.DHCP {
			return bad("$.management.address", "give a static address or dhcp: true, not both")
		}
		if m.Interface == "" {
			return bad("$.management.address", "a static address needs management.interface")
		}
		if _, err := netip.ParsePrefix(m.Address); err != nil {
			return bad("$.management.address", "want an address with its prefix length, e.g. 192.0.2.10/24: %v", err)
		}
	}
	if m.Gateway != "" {
		if m.Address == "" {
			return bad("$.management.gateway", "a gateway goes with a static address (DHCP brings its own)")
		}
		if _, err := netip.ParseAddr(m.Gateway); err != nil {
			return bad("$.management.gateway", "not an IP address: %q", m.Gateway)
		}
	}
	if m.DHCPTimeout < 0 {
		return bad("$.management.dhcp_timeout", "must not be negative")
	}
	if m.DHCPTimeout == 0 && m.Enabled() {
		m.DHCPTimeout = Duration(10e9)
	}
	for _, p := range c.Ports {
		if m.Interface != "" && p.Name == m.Interface && p.Netns == "" {
			return bad("$.management.interface", "%s is also configured as a port", m.Interface)
		}
	}
	return nil
}

// AutoPort reports whether the auto_ports rule makes a link a port: a NIC
// (a link of one of the kinds in types, "device" for real and virtual
// hardware NICs) that is up-able, not loopback, not the management NIC and
// not configured as a port already. Links the daemon makes itself (TAP,
// bridge, VXLAN) are of other kinds and never become ports.
func (c *Config) AutoPort(name, kind, mgmt string, types []string) bool {
	if !c.AutoPorts || name == "" || name == "lo" || name == mgmt {
		return false
	}
	if c.Management.Interface != "" && name == c.Management.Interface {
		return false
	}
	for _, p := range c.Ports {
		if p.Name == name && p.Netns == "" {
			return false
		}
	}
	if len(types) == 0 {
		types = []string{"device"}
	}
	for _, t := range types {
		if kind == t {
			return true
		}
	}
	return false
}
