package config

import (
	"strings"
	"testing"
)

func TestAutoPortSelection(t *testing.T) {
	c, err := Parse([]byte("auto_ports: true\nports:\n  - name: eth3\n    mode: bypass\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, kind, mgmt string
		types            []string
		want             bool
	}{
		{"eth1", "device", "eth0", nil, true},
		{"eth0", "device", "eth0", nil, false}, // the management NIC
		{"lo", "device", "", nil, false},       // loopback
		{"eth3", "device", "eth0", nil, false}, // configured explicitly
		{"tap0", "tuntap", "eth0", nil, false}, // made by the appliance (mirror clients)
		{"br0", "bridge", "eth0", nil, false},  // ditto
		{"veth1", "veth", "", nil, false},      // not a NIC by default
		{"veth1", "veth", "", []string{"veth"}, true},
		{"eth2", "device", "", nil, true}, // no management NIC at all
	} {
		if got := c.AutoPort(tc.name, tc.kind, tc.mgmt, tc.types); got != tc.want {
			t.Errorf("AutoPort(%s, %s, mgmt %q, %v) = %v, want %v", tc.name, tc.kind, tc.mgmt, tc.types, got, tc.want)
		}
	}
	off, err := Parse(nil)
	if err != nil {
		t.Fatal(err)
	}
	if off.AutoPort("eth1", "device", "eth0", nil) {
		t.Error("auto_ports off still picks eth1")
	}
	named, err := Parse([]byte("auto_ports: true\nmanagement:\n  interface: eth5\n  dhcp: true\n"))
	if err != nil {
		t.Fatal(err)
	}
	if named.AutoPort("eth5", "device", "", nil) {
		t.Error("the configured management interface became a port")
	}
	if named.Management.DHCPTimeout.D().Seconds() != 10 {
		t.Errorf("dhcp_timeout default = %v, want 10s", named.Management.DHCPTimeout.D())
	}
}

func TestManagementErrors(t *testing.T) {
	for _, tc := range []struct{ doc, path, msg string }{
		{"management:\n  address: 192.0.2.1/24\n", "management.address", "needs management.interface"},
		{"management:\n  interface: eth0\n  address: 192.0.2.1\n", "management.address", "prefix length"},
		{"management:\n  interface: eth0\n  dhcp: true\n  address: 192.0.2.1/24\n", "management.address", "not both"},
		{"management:\n  interface: eth0\n  address: 192.0.2.1/24\n  gateway: x\n", "management.gateway", "not an IP"},
		{"management:\n  dhcp: true\n  gateway: 192.0.2.1\n", "management.gateway", "static address"},
		{"management:\n  interface: eth0/1\n", "management.interface", "not a network interface"},
		{"management:\n  interface: eth1\nports:\n  - name: eth1\n    mode: passive\n", "management.interface", "also configured as a port"},
	} {
		_, err := Parse([]byte(tc.doc))
		if err == nil {
			t.Errorf("%q: no error", tc.doc)
			continue
		}
		if !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%q: error %q, want %s and %q", tc.doc, err, tc.path, tc.msg)
		}
	}
	c, err := Parse([]byte("management:\n  interface: eth0\n  address: 192.0.2.10/24\n  gateway: 192.0.2.1\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !c.Management.Enabled() {
		t.Error("static management not enabled")
	}
	if d, _ := Parse(nil); d.Management.Enabled() {
		t.Error("the built-in defaults manage a NIC; they must not touch the network")
	}
}
