package mirror

import (
	"encoding/binary"
	"net"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

func TestConfigValidate(t *testing.T) {
	var c Config
	err := yaml.Unmarshal([]byte(`
listen: ":7412"
state_dir: /var/lib/wirebox/mirror
ports: [eth1, eth2]
client_ca: /etc/wirebox/clients.pem
access:
  - name: lab-a
    token_file: /etc/wirebox/lab-a.token
    ports: [eth1]
  - name: ci
    client_cn: ci-runner
`), &c)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	if c.Access[0].Ports[0] != "eth1" || c.Access[1].ClientCN != "ci-runner" {
		t.Errorf("decoded %+v", c)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("disabled: %v", err)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{Listen: "7412"}, "missing port"},
		{Config{Listen: "host.example:7412"}, "IP address"},
		{Config{Listen: ":99999"}, "bad port"},
		{Config{Listen: ":7412", Cert: "c.pem"}, "cert and key"},
		{Config{Listen: ":7412", Ports: []string{"eth1", "eth1"}}, "twice"},
		{Config{Listen: ":7412", Access: []Access{{Name: "x"}}}, "exactly one"},
		{Config{Listen: ":7412", Access: []Access{{Name: "x", ClientCN: "y"}}}, "needs client_ca"},
		{Config{Listen: ":7412", Access: []Access{{TokenFile: "t"}}}, "needs a name"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// tcpFrame builds an Ethernet/IPv4/TCP header (optionally VLAN tagged).
func tcpFrame(src, dst string, sport, dport uint16, vlan bool) []byte {
	b := make([]byte, 12)
	if vlan {
		b = append(b, 0x81, 0x00, 0, 5)
	}
	b = append(b, 0x08, 0x00)
	ip := make([]byte, 20)
	ip[0], ip[9] = 0x45, 6
	copy(ip[12:], net.ParseIP(src).To4())
	copy(ip[16:], net.ParseIP(dst).To4())
	b = append(b, ip...)
	b = binary.BigEndian.AppendUint16(b, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	return append(b, make([]byte, 16)...)
}

func TestTunnelFilter(t *testing.T) {
	f := newTunnelFilter(&net.TCPAddr{IP: net.ParseIP("10.0.0.2"), Port: 7412}, &net.TCPAddr{IP: net.ParseIP("10.0.0.1"), Port: 40000})
	for _, tc := range []struct {
		b    []byte
		want bool
	}{
		{tcpFrame("10.0.0.1", "10.0.0.2", 40000, 7412, false), true},
		{tcpFrame("10.0.0.2", "10.0.0.1", 7412, 40000, false), true},
		{tcpFrame("10.0.0.2", "10.0.0.1", 7412, 40000, true), true},
		{tcpFrame("10.0.0.1", "10.0.0.2", 40001, 7412, false), false}, // another client
		{tcpFrame("10.0.0.3", "10.0.0.2", 40000, 7412, false), false},
		{tcpFrame("10.0.0.1", "10.0.0.2", 40000, 7412, false)[:30], false},
		{[]byte{1, 2, 3}, false},
	} {
		if got := f.match(tc.b); got != tc.want {
			t.Errorf("match(%x) = %t, want %t", tc.b, got, tc.want)
		}
	}
}
