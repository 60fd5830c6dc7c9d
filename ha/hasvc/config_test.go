package hasvc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/config"
)

const good = `
ports:
  - {name: eth1, mode: bypass}
  - {name: eth2, mode: bypass}
ha:
  enabled: true
  client_port: eth1
  server_port: eth2
  gateway: 10.0.2.1
  service:
    vip: 10.0.1.100
    port: 80
    protocols: [tcp]
    backends: [10.0.2.11:8080, 10.0.2.12:8081]
    balance: hash
  peer:
    listen: 10.0.9.1:7400
    address: 10.0.9.2:7400
    key_file: KEYFILE
    interval: 10ms
    priority: 200
    mode: standby_first
`

func TestConfig(t *testing.T) {
	key := filepath.Join(t.TempDir(), "ha.key")
	if err := os.WriteFile(key, []byte("00112233445566778899aabbccddeeff\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte(strings.Replace(good, "KEYFILE", key, 1)), Section)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := Section.Of(cfg).Node()
	if err != nil {
		t.Fatal(err)
	}
	if !nc.Service.TCP || nc.Service.UDP || len(nc.Service.Backends) != 2 || nc.Peer == nil ||
		nc.Peer.Interval != 10*time.Millisecond || nc.Peer.Priority != 200 || len(nc.Peer.Key) != 16 || nc.Peer.DeadAfter != 3 {
		t.Fatalf("node config %+v peer %+v", nc, nc.Peer)
	}
	for _, c := range []struct{ from, to, want string }{
		{"vip: 10.0.1.100", "vip: fe80::1", "ha.service.vip"},
		{"10.0.2.12:8081]", "10.0.2.12]", "ha.service.backends[1]"},
		{"interval: 10ms", "interval: 5ms", "interval below 10ms"},
		{"key_file: " + key, "key: 00ff", "ha.peer.key_file"},
		{"mode: standby_first", "mode: both", "mode"},
		{"priority: 200", "priority: 0", "ha.peer.priority"},
		{"server_port: eth2", "server_port: eth1", "ha.client_port"},
	} {
		y := strings.Replace(strings.Replace(good, "KEYFILE", key, 1), c.from, c.to, 1)
		if _, err := config.Parse([]byte(y), Section); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s -> %s: got %v, want an error naming %q", c.from, c.to, err, c.want)
		}
	}
	// Disabled: nothing is checked, nothing runs.
	if _, err := config.Parse([]byte("ha:\n  enabled: false\n"), Section); err != nil {
		t.Fatal(err)
	}
}
