package rmon

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"

	"github.com/gosnmp/gosnmp"
	"github.com/wirebox/wirebox/rmon/mib"
	"github.com/wirebox/wirebox/rmon/snmp"
)

// Config is the rmon section of the configuration. The zero value is
// disabled: nothing listens unless Listen is set, and there is no
// community or user unless configured (no "public", no "private").
type Config struct {
	// Listen is the UDP address of the agent, e.g. "127.0.0.1:1161" or
	// ":161". Empty: the service does not listen (disabled).
	Listen string `yaml:"listen"`
	// Communities enable SNMPv1/v2c; none by default.
	Communities []CommunityConfig `yaml:"communities,omitempty"`
	// Users are the SNMPv3 USM users.
	Users []UserConfig `yaml:"users,omitempty"`
	// StateFile keeps the engine ID and the boots counter across restarts
	// (on the image: under /var/lib/wirebox). Empty: a random engine ID and
	// boots 1 on every start (managers then rediscover the engine).
	StateFile string `yaml:"state_file,omitempty"`
	// EngineID, hex, overrides the stored or generated engine ID.
	EngineID string `yaml:"engine_id,omitempty"`
	// Traps are the notification targets of RMON events.
	Traps []TrapTarget `yaml:"traps,omitempty"`
	// MaxMessageSize bounds v2c/v3 responses (default 65507).
	MaxMessageSize int `yaml:"max_message_size,omitempty"`
	// V1MaxMessageSize bounds v1 responses (default 484, RFC 1157).
	V1MaxMessageSize int `yaml:"v1_max_message_size,omitempty"`
	// System group defaults; sysContact, sysName and sysLocation are
	// also settable over SNMP (until restart).
	SysContact  string `yaml:"sys_contact,omitempty"`
	SysName     string `yaml:"sys_name,omitempty"`
	SysLocation string `yaml:"sys_location,omitempty"`
	// SysObjectID (default 1.3.6.1.4.1.8072.3.2.10, a Linux host).
	SysObjectID string `yaml:"sys_object_id,omitempty"`
	// MaxHosts and MaxPairs bound each port's host and matrix tables
	// (defaults 4096 and 16384).
	MaxHosts int `yaml:"max_hosts,omitempty"`
	MaxPairs int `yaml:"max_pairs,omitempty"`
	// DRMON is the dRMON proxy: agents' reports merged into this probe.
	DRMON *DRMONConfig `yaml:"drmon,omitempty"`
}

// CommunityConfig is an SNMPv1/v2c community.
type CommunityConfig struct {
	Name string `yaml:"name"`
	// Read and Write are OID subtrees. Read defaults to everything
	// ("1"); Write defaults to nothing.
	Read  []string `yaml:"read,omitempty"`
	Write []string `yaml:"write,omitempty"`
	// Sources, if set, are the only source CIDRs answered.
	Sources []string `yaml:"sources,omitempty"`
}

// UserConfig is an SNMPv3 USM user. Security level follows the keys:
// auth only, or auth and privacy.
type UserConfig struct {
	Name string `yaml:"name"`
	// Auth: sha, sha224, sha256, sha384 or sha512 (empty: noAuthNoPriv).
	Auth string `yaml:"auth,omitempty"`
	// AuthKey is the passphrase (at least 8 characters); AuthKeyFile reads it from a file.
	AuthKey     string `yaml:"auth_key,omitempty"`
	AuthKeyFile string `yaml:"auth_key_file,omitempty"`
	// Priv: aes (AES-128), aes192, aes256 (Blumenthal key extension, as
	// net-snmp's AES192/AES256), aes192c, aes256c (Reeder, "Cisco" style).
	Priv        string   `yaml:"priv,omitempty"`
	PrivKey     string   `yaml:"priv_key,omitempty"`
	PrivKeyFile string   `yaml:"priv_key_file,omitempty"`
	Read        []string `yaml:"read,omitempty"`
	Write       []string `yaml:"write,omitempty"`
}

// TrapTarget receives SNMPv2c notifications (UDP).
type TrapTarget struct {
	// Address is host:port (port 162 if omitted).
	Address   string `yaml:"address"`
	Community string `yaml:"community"`
}

var authProtos = map[string]gosnmp.SnmpV3AuthProtocol{
	"sha": gosnmp.SHA, "sha1": gosnmp.SHA, "sha224": gosnmp.SHA224, "sha256": gosnmp.SHA256,
	"sha384": gosnmp.SHA384, "sha512": gosnmp.SHA512,
}

var privProtos = map[string]gosnmp.SnmpV3PrivProtocol{
	"aes": gosnmp.AES, "aes128": gosnmp.AES, "aes192": gosnmp.AES192, "aes256": gosnmp.AES256,
	"aes192c": gosnmp.AES192C, "aes256c": gosnmp.AES256C,
}

// Enabled reports whether the agent listens.
func (c *Config) Enabled() bool { return c.Listen != "" }

// Validate checks the configuration (key files are read here too).
func (c *Config) Validate() error {
	_, err := c.agentConfig()
	return err
}

func oids(key string, ss []string, def []mib.OID) ([]mib.OID, error) {
	if len(ss) == 0 {
		return def, nil
	}
	var out []mib.OID
	for _, s := range ss {
		o, err := mib.ParseOID(s)
		if err != nil {
			return nil, fmt.Errorf("rmon: %s: %w", key, err)
		}
		out = append(out, o)
	}
	return out, nil
}

func secret(key, v, file string) (string, error) {
	if file == "" {
		return v, nil
	}
	if v != "" {
		return "", fmt.Errorf("rmon: %s and %s_file both set", key, key)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("rmon: %s_file: %w", key, err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// agentConfig validates and converts to the snmp package's terms (without
// the engine ID and boots, which come from the state file at Run).
func (c *Config) agentConfig() (snmp.Config, error) {
	var out snmp.Config
	if c.Listen != "" {
		if _, _, err := net.SplitHostPort(c.Listen); err != nil {
			return out, fmt.Errorf("rmon: listen %q: %w", c.Listen, err)
		}
	}
	all := []mib.OID{{1}}
	names := map[string]bool{}
	for i, cc := range c.Communities {
		key := fmt.Sprintf("communities[%d]", i)
		if cc.Name == "" {
			return out, fmt.Errorf("rmon: %s: empty name", key)
		}
		if names[cc.Name] {
			return out, fmt.Errorf("rmon: %s: duplicate community", key)
		}
		names[cc.Name] = true
		r, err := oids(key+".read", cc.Read, all)
		if err != nil {
			return out, err
		}
		w, err := oids(key+".write", cc.Write, nil)
		if err != nil {
			return out, err
		}
		com := snmp.Community{Name: cc.Name, Read: r, Write: w}
		for _, s := range cc.Sources {
			p, err := netip.ParsePrefix(s)
			if err != nil {
				a, err2 := netip.ParseAddr(s)
				if err2 != nil {
					return out, fmt.Errorf("rmon: %s.sources: %w", key, err)
				}
				p = netip.PrefixFrom(a, a.BitLen())
			}
			com.Sources = append(com.Sources, p)
		}
		out.Communities = append(out.Communities, com)
	}
	users := map[string]bool{}
	for i, uc := range c.Users {
		key := fmt.Sprintf("users[%d]", i)
		if uc.Name == "" || len(uc.Name) > 32 {
			return out, fmt.Errorf("rmon: %s: name must be 1..32 characters", key)
		}
		if users[uc.Name] {
			return out, fmt.Errorf("rmon: %s: duplicate user", key)
		}
		users[uc.Name] = true
		u := snmp.User{Name: uc.Name, Auth: gosnmp.NoAuth, Priv: gosnmp.NoPriv}
		var err error
		if uc.Auth != "" {
			p, ok := authProtos[strings.ToLower(strings.ReplaceAll(uc.Auth, "-", ""))]
			if !ok {
				return out, fmt.Errorf("rmon: %s.auth: %q is not one of sha, sha224, sha256, sha384, sha512", key, uc.Auth)
			}
			u.Auth = p
			if u.AuthPass, err = secret(key+".auth_key", uc.AuthKey, uc.AuthKeyFile); err != nil {
				return out, err
			}
			if len(u.AuthPass) < 8 {
				return out, fmt.Errorf("rmon: %s.auth_key: at least 8 characters", key)
			}
		}
		if uc.Priv != "" {
			p, ok := privProtos[strings.ToLower(strings.ReplaceAll(uc.Priv, "-", ""))]
			if !ok {
				return out, fmt.Errorf("rmon: %s.priv: %q is not one of aes, aes192, aes256, aes192c, aes256c", key, uc.Priv)
			}
			if u.Auth == gosnmp.NoAuth {
				return out, fmt.Errorf("rmon: %s.priv needs auth", key)
			}
			u.Priv = p
			if u.PrivPass, err = secret(key+".priv_key", uc.PrivKey, uc.PrivKeyFile); err != nil {
				return out, err
			}
			if len(u.PrivPass) < 8 {
				return out, fmt.Errorf("rmon: %s.priv_key: at least 8 characters", key)
			}
		}
		if u.Read, err = oids(key+".read", uc.Read, all); err != nil {
			return out, err
		}
		if u.Write, err = oids(key+".write", uc.Write, nil); err != nil {
			return out, err
		}
		out.Users = append(out.Users, u)
	}
	if c.EngineID != "" {
		id, err := hex.DecodeString(strings.TrimPrefix(c.EngineID, "0x"))
		if err != nil || len(id) < 5 || len(id) > 32 {
			return out, fmt.Errorf("rmon: engine_id: 5 to 32 bytes of hex")
		}
		out.EngineID = id
	}
	for i, t := range c.Traps {
		if t.Address == "" || t.Community == "" {
			return out, fmt.Errorf("rmon: traps[%d]: address and community are required", i)
		}
	}
	if c.SysObjectID != "" {
		if _, err := mib.ParseOID(c.SysObjectID); err != nil {
			return out, fmt.Errorf("rmon: sys_object_id: %w", err)
		}
	}
	if c.MaxMessageSize != 0 && (c.MaxMessageSize < 484 || c.MaxMessageSize > 65507) {
		return out, errors.New("rmon: max_message_size: 484..65507")
	}
	if c.V1MaxMessageSize != 0 && (c.V1MaxMessageSize < 484 || c.V1MaxMessageSize > 65507) {
		return out, errors.New("rmon: v1_max_message_size: 484..65507")
	}
	out.MaxMessageSize, out.V1MaxMessageSize = c.MaxMessageSize, c.V1MaxMessageSize
	if c.DRMON != nil && c.DRMON.Listen != "" {
		if _, err := c.DRMON.proxyConfig(); err != nil {
			return out, err
		}
	}
	return out, nil
}
