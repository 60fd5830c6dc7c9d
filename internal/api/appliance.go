package api

import (
	"os"
	"strconv"
	"strings"
)

// Appliance is the GET /v1/appliance body: what an operator at the
// console or a remote client needs to know about the box itself.
type Appliance struct {
	Management *Management `json:"management,omitempty"`
	Config     ConfigInfo  `json:"config"`
	Daemon     DaemonInfo  `json:"daemon"`
	// Boot is the boot-time breakdown, seconds since the kernel started.
	Boot []BootPhase `json:"boot,omitempty"`
	// UptimeSeconds is the kernel's uptime when the answer was made.
	UptimeSeconds float64 `json:"uptime_seconds"`
}

// Management is the management NIC.
type Management struct {
	Interface    string   `json:"interface"` // "" when none was found
	Method       string   `json:"method"`    // static, dhcp, existing address, no DHCP lease
	Addresses    []string `json:"addresses,omitempty"`
	Gateway      string   `json:"gateway,omitempty"`
	LeaseSeconds int      `json:"lease_seconds,omitempty"`
	Error        string   `json:"error,omitempty"`
}

// ConfigInfo says where the running configuration came from.
type ConfigInfo struct {
	Source string `json:"source"` // e.g. "data partition", "last good", "image defaults", "built-in defaults"
	Path   string `json:"path,omitempty"`
	// Fallbacks are the configurations tried first that failed, with why.
	Fallbacks []string `json:"fallbacks,omitempty"`
	// Generation counts applied configurations since the daemon started.
	Generation int `json:"generation"`
	// LastApply is the outcome of the last POST /v1/config.
	LastApply string `json:"last_apply,omitempty"`
	// Restarted are the services the last apply restarted: those built
	// from the keys that changed (every service for a change of pool,
	// ports, auto_ports, management, log or supervisor).
	Restarted []string `json:"restarted,omitempty"`
	// Persistent is false when there is no data partition to store to.
	Persistent bool `json:"persistent"`
}

// DaemonInfo describes the daemon process.
type DaemonInfo struct {
	PID int `json:"pid"`
	// Restarts counts how often the boot process restarted the daemon
	// after it died; LastExit is how the previous one ended.
	Restarts int    `json:"restarts"`
	LastExit string `json:"last_exit,omitempty"`
}

// BootPhase is one step of the boot with its time since kernel start.
type BootPhase struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

// ConfigApplied is the POST /v1/config answer: the configuration was
// valid and is being applied; watch Generation in GET /v1/appliance.
type ConfigApplied struct {
	Generation int    `json:"generation"` // the generation the new config will have
	Message    string `json:"message"`
}

// KernelUptime is the kernel's uptime in seconds (0 when unknown): the
// clock of Appliance.UptimeSeconds and of the boot phases, which the boot
// process and the daemon both read.
func KernelUptime() float64 {
	b, err := os.ReadFile("/proc/uptime")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}
