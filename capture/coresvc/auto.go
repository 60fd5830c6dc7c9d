package coresvc

import "github.com/wirebox/wirebox/internal/config"

// AutoOptions make the service open ports it finds at run time (config
// auto_ports): every link of the namespace for which Want says yes
// becomes a port with Template's settings, also links that appear later
// (hot-plug, a NIC added to a VM). Links already open are left alone.
type AutoOptions struct {
	// Want decides for a link (its name and netlink kind, "device" for a
	// NIC). decided false means "not yet" (the management NIC is not known
	// yet): the link is asked about again later.
	Want func(name, kind string) (open, decided bool)
	// Template is the port configuration an auto port gets (Name is set).
	Template config.PortConfig
	// Netns is the namespace path to watch, "" for the daemon's own.
	Netns string
}

// SetAuto turns on auto ports. Call it before the service first runs.
func (s *Service) SetAuto(a AutoOptions) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.auto = &a
}
