package boot

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Cmdline is a parsed kernel command line. Later occurrences of a key win,
// as with the kernel's own parameters.
type Cmdline map[string]string

// ParseCmdline splits a kernel command line into key=value parameters,
// honouring double quotes the way the kernel does (key="a b" or "key=a b").
// Flags without '=' map to "".
func ParseCmdline(s string) Cmdline {
	c := Cmdline{}
	var cur strings.Builder
	inQuote := false
	flush := func() {
		if cur.Len() == 0 {
			return
		}
		k, v, _ := strings.Cut(cur.String(), "=")
		if k != "" { // "=x" names nothing
			c[k] = v
		}
		cur.Reset()
	}
	for _, r := range s {
		switch {
		case r == '"':
			inQuote = !inQuote
		case !inQuote && (r == ' ' || r == '\t' || r == '\n'):
			flush()
		default:
			cur.WriteRune(r)
		}
	}
	flush()
	return c
}

// Get returns the value of key and whether it was present.
func (c Cmdline) Get(key string) (string, bool) {
	v, ok := c[key]
	return v, ok
}

// IPConfig is the static part of the kernel's ip= parameter
// (Documentation/admin-guide/nfs/nfsroot.rst):
// ip=<client-ip>:<server-ip>:<gw-ip>:<netmask>:<hostname>:<device>:<autoconf>
type IPConfig struct {
	Addr     netip.Prefix // zero when not given
	Gateway  netip.Addr
	Hostname string
	Device   string // empty: the first ethernet device
	DHCP     bool   // autoconf dhcp/on/any (or ip=dhcp)
}

// ErrBadIP is wrapped by ParseIP errors.
var ErrBadIP = errors.New("bad ip= parameter")

// ParseIP parses the kernel ip= parameter. "off"/"none" give a zero config.
func ParseIP(s string) (IPConfig, error) {
	var cfg IPConfig
	switch s {
	case "", "off", "none":
		return cfg, nil
	case "dhcp", "on", "any", "both":
		cfg.DHCP = true
		return cfg, nil
	}
	f := strings.Split(s, ":")
	if len(f) > 9 {
		return cfg, fmt.Errorf("%w: %q has %d fields", ErrBadIP, s, len(f))
	}
	for len(f) < 7 {
		f = append(f, "")
	}
	var addr netip.Addr
	if f[0] != "" {
		a, err := netip.ParseAddr(f[0])
		if err != nil || !a.Is4() {
			return cfg, fmt.Errorf("%w: client address %q", ErrBadIP, f[0])
		}
		addr = a
	}
	if f[2] != "" {
		g, err := netip.ParseAddr(f[2])
		if err != nil || !g.Is4() {
			return cfg, fmt.Errorf("%w: gateway %q", ErrBadIP, f[2])
		}
		cfg.Gateway = g
	}
	bits := 24
	if f[3] != "" {
		m, err := netip.ParseAddr(f[3])
		if err != nil || !m.Is4() {
			return cfg, fmt.Errorf("%w: netmask %q", ErrBadIP, f[3])
		}
		b := m.As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		bits = 0
		for v&(1<<31) != 0 {
			bits++
			v <<= 1
		}
		if v != 0 {
			return cfg, fmt.Errorf("%w: netmask %q is not contiguous", ErrBadIP, f[3])
		}
	}
	if addr.IsValid() {
		cfg.Addr = netip.PrefixFrom(addr, bits)
	}
	cfg.Hostname = f[4]
	cfg.Device = f[5]
	switch f[6] {
	case "", "off", "none":
	case "dhcp", "on", "any", "both":
		cfg.DHCP = true
	default:
		return cfg, fmt.Errorf("%w: autoconf %q not supported (off or dhcp)", ErrBadIP, f[6])
	}
	if cfg.DHCP && addr.IsValid() {
		return cfg, fmt.Errorf("%w: both a static address and %s", ErrBadIP, f[6])
	}
	return cfg, nil
}

// Addr is one extra interface address from wirebox.ip=.
type Addr struct {
	Device string
	// MAC, when set, names the NIC instead of Device (given as the MAC
	// with dashes): the kernel names NICs in probe order, a MAC is fixed.
	MAC    net.HardwareAddr
	Prefix netip.Prefix
}

// ParseAddrs parses wirebox.ip=DEV:ADDR/BITS[,DEV:ADDR/BITS...], the
// addresses for ports other than the management one (e.g. the HA peer
// link). DEV is an interface name or a MAC written with dashes
// (52-54-00-10-00-01).
func ParseAddrs(s string) ([]Addr, error) {
	if s == "" {
		return nil, nil
	}
	var out []Addr
	for _, item := range strings.Split(s, ",") {
		dev, pfx, ok := strings.Cut(item, ":")
		var mac net.HardwareAddr
		if strings.Count(dev, "-") == 5 {
			if m, err := net.ParseMAC(dev); err == nil {
				mac = m
			}
		}
		if !ok || dev == "" || strings.ContainsAny(dev, "/ ") || (len(dev) > 15 && mac == nil) {
			return nil, fmt.Errorf("%w: wirebox.ip item %q: want DEV:ADDR/BITS", ErrBadIP, item)
		}
		p, err := netip.ParsePrefix(pfx)
		if err != nil {
			return nil, fmt.Errorf("%w: wirebox.ip item %q: %v", ErrBadIP, item, err)
		}
		out = append(out, Addr{Device: dev, MAC: mac, Prefix: p})
	}
	return out, nil
}

// Ext4Label returns the label of an ext2/3/4 superblock (the 1024 bytes at
// offset 1024 of the device).
func Ext4Label(sb []byte) (string, error) {
	if len(sb) < 136 {
		return "", errors.New("short superblock")
	}
	if sb[56] != 0x53 || sb[57] != 0xef {
		return "", errors.New("not an ext file system")
	}
	l := sb[120:136]
	if i := bytes.IndexByte(l, 0); i >= 0 {
		l = l[:i]
	}
	return string(l), nil
}
