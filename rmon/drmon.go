package rmon

import (
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/wirebox/wirebox/rmon/drmon"
	"github.com/wirebox/wirebox/rmon/mib"
)

// DefaultDiscoveryGroup is the dRMON discovery group agents join by default.
const DefaultDiscoveryGroup = "239.255.77.1:7160"

// DRMONConfig is `rmon.drmon`: the dRMON proxy. Nothing listens unless
// Listen is set.
type DRMONConfig struct {
	// Listen is the proxy's UDP address, e.g. ":7161".
	Listen string `yaml:"listen"`
	// KeyFile holds the pre-shared key (at least 16 bytes) agents share.
	KeyFile string `yaml:"key_file"`
	// DiscoveryGroup is the multicast address:port discovery requests go
	// to (empty: no discovery; agents are given the proxy's address).
	DiscoveryGroup string `yaml:"discovery_group,omitempty"`
	// DiscoveryInterface sends discovery out of this interface (default:
	// the route's).
	DiscoveryInterface string `yaml:"discovery_interface,omitempty"`
	// PollInterval (default 5s) and DiscoveryInterval (default 30s).
	PollInterval      string `yaml:"poll_interval,omitempty"`
	DiscoveryInterval string `yaml:"discovery_interval,omitempty"`
	// Views are the merged interfaces (default: one, "drmon", of every agent).
	Views []DRMONView `yaml:"views,omitempty"`
	// Upstream makes this a workgroup proxy: its first view is reported,
	// as one agent named UpstreamName (default: the host name and the
	// view), to the domain proxy at this address, over the same protocol
	// and key.
	Upstream     string `yaml:"upstream,omitempty"`
	UpstreamName string `yaml:"upstream_name,omitempty"`
}

// DRMONView is one merged interface.
type DRMONView struct {
	Name string `yaml:"name"`
	// Agents by name; empty: every agent no other view lists.
	Agents []string `yaml:"agents,omitempty"`
	// Port is the appliance's own port in the view's broadcast domain: its
	// broadcast and multicast frames are counted into the view.
	Port string `yaml:"port,omitempty"`
}

// ReadKeyFile reads a pre-shared key (trailing newlines dropped).
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("drmon key: %w", err)
	}
	k := []byte(strings.TrimRight(string(b), "\r\n"))
	if len(k) < 16 {
		return nil, errors.New("drmon key: at least 16 bytes")
	}
	return k, nil
}

func durationOr(key, s string, def time.Duration) (time.Duration, error) {
	if s == "" {
		return def, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 10*time.Millisecond {
		return 0, fmt.Errorf("rmon: drmon.%s: a duration of at least 10ms", key)
	}
	return d, nil
}

// proxyConfig validates the section and converts it.
func (c *DRMONConfig) proxyConfig() (drmon.ProxyConfig, error) {
	var out drmon.ProxyConfig
	if _, _, err := net.SplitHostPort(c.Listen); err != nil {
		return out, fmt.Errorf("rmon: drmon.listen %q: %w", c.Listen, err)
	}
	if c.KeyFile == "" {
		return out, errors.New("rmon: drmon.key_file is required: every message is authenticated")
	}
	key, err := ReadKeyFile(c.KeyFile)
	if err != nil {
		return out, fmt.Errorf("rmon: drmon.key_file: %w", err)
	}
	out.Key = key
	if c.DiscoveryGroup != "" {
		g, err := net.ResolveUDPAddr("udp4", c.DiscoveryGroup)
		if err != nil || !g.IP.IsMulticast() {
			return out, fmt.Errorf("rmon: drmon.discovery_group %q: a multicast address:port", c.DiscoveryGroup)
		}
		out.Group = g
	}
	if out.PollInterval, err = durationOr("poll_interval", c.PollInterval, 5*time.Second); err != nil {
		return out, err
	}
	if out.DiscoveryInterval, err = durationOr("discovery_interval", c.DiscoveryInterval, 30*time.Second); err != nil {
		return out, err
	}
	if c.Upstream != "" {
		if _, err := net.ResolveUDPAddr("udp4", c.Upstream); err != nil {
			return out, fmt.Errorf("rmon: drmon.upstream: %w", err)
		}
	}
	names := map[string]bool{}
	for i, v := range c.Views {
		if v.Name == "" || names[v.Name] {
			return out, fmt.Errorf("rmon: drmon.views[%d]: a unique name is required", i)
		}
		names[v.Name] = true
		out.Views = append(out.Views, drmon.ViewConfig{Name: v.Name, Agents: v.Agents, Port: v.Port})
	}
	return out, nil
}

// The experimental response-time subtree, under a placeholder enterprise
// number (wirebox has no IANA Private Enterprise Number yet; see
// docs/DRMON-PROTOCOL.md): 1.3.6.1.4.1.99999.1.1.1 = drmonRespEntry.
var drmonRespEntry = mib.MustOID("1.3.6.1.4.1.99999.1.1.1")

// respIndex is a row's index: server address (length, octets), server
// port, client address (length, octets), observer.
func respIndex(k drmon.RespKey) mib.OID {
	var o mib.OID
	add := func(b []byte) {
		o = append(o, uint32(len(b)))
		for _, x := range b {
			o = append(o, uint32(x))
		}
	}
	add(k.Server.Addr().AsSlice())
	o = append(o, uint32(k.Server.Port()))
	add(k.Client.AsSlice())
	return append(o, uint32(k.Observer))
}

func micros(v uint64) uint64 { return v / 10 }

func avg(sum, n uint64) uint64 {
	if n == 0 {
		return 0
	}
	return sum / n
}

// registerDRMON serves the proxy's response-time table.
func registerDRMON(tree *mib.Tree, px *drmon.Proxy) {
	rows := func() map[string]drmon.RespRow {
		m := map[string]drmon.RespRow{}
		for _, r := range px.Responses() {
			m[respIndex(r.Key).String()] = r
		}
		return m
	}
	tree.Register(drmonRespEntry, &mib.Table{
		Cols: seq(1, 13),
		Index: func() []mib.OID {
			var out []mib.OID
			for _, r := range px.Responses() {
				out = append(out, respIndex(r.Key))
			}
			slices.SortFunc(out, mib.OID.Compare)
			return out
		},
		Cell: func(index mib.OID, col uint32) (mib.Value, bool) {
			r, ok := rows()[index.String()]
			if !ok {
				return mib.Value{}, false
			}
			switch col {
			case 1:
				return mib.OctetString(r.Key.Server.Addr().AsSlice()), true
			case 2:
				return mib.Gauge32(uint64(r.Key.Server.Port())), true
			case 3:
				return mib.OctetString(r.Key.Client.AsSlice()), true
			case 4:
				return mib.Integer(int64(r.Key.Observer)), true
			case 5:
				return mib.String(r.Agent), true
			case 6:
				return mib.Counter32(r.SetupCount), true
			case 7:
				return mib.Gauge32(micros(avg(r.SetupSum, r.SetupCount))), true
			case 8:
				return mib.Gauge32(micros(r.SetupMin)), true
			case 9:
				return mib.Gauge32(micros(r.SetupMax)), true
			case 10:
				return mib.Counter32(r.RespCount), true
			case 11:
				return mib.Gauge32(micros(avg(r.RespSum, r.RespCount))), true
			case 12:
				return mib.Gauge32(micros(r.RespMin)), true
			case 13:
				return mib.Gauge32(micros(r.RespMax)), true
			}
			return mib.Value{}, false
		},
	})
}
