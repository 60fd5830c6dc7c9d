package daemon

import (
	"sync"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/services"
)

// mgmtName is the management network service.
const mgmtName = "mgmt"

// mgmtService gives the management NIC its address (DHCP or static) and
// decides which NIC that is: the configured one, else the first with an
// address already (the kernel's ip=, an earlier run of the daemon), else
// the first that gets a DHCP lease. Auto ports wait for the decision so
// the management NIC never becomes a port.
type mgmtService struct {
	cfg config.ManagementConfig

	mu      sync.Mutex
	decided bool
	st      api.Management
	addrAt  float64 // kernel uptime when the NIC first had its address (0: not yet)
}

// addressed records when the management NIC first had its address, for
// the boot-time breakdown (the host reaches the API only from then on).
func (m *mgmtService) addressed() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.addrAt == 0 {
		m.addrAt = api.KernelUptime()
	}
}

// AddressedAt is the kernel uptime when the management NIC first had its
// address, and how it got it; 0 when it has none yet.
func (m *mgmtService) AddressedAt() (float64, string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.addrAt, m.st.Method
}

func newMgmt(cfg config.ManagementConfig) *mgmtService {
	return &mgmtService{cfg: cfg}
}

func (m *mgmtService) Name() string { return mgmtName }

// Interface is the management NIC ("" for none) once decided.
func (m *mgmtService) Interface() (string, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st.Interface, m.decided
}

// Status is the management NIC's state for the API.
func (m *mgmtService) Status() api.Management {
	m.mu.Lock()
	defer m.mu.Unlock()
	st := m.st
	st.Addresses = append([]string(nil), st.Addresses...)
	return st
}

func (m *mgmtService) update(fn func(st *api.Management)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	fn(&m.st)
}

// decide fixes the management NIC (the first decision stands for this run).
func (m *mgmtService) decide(iface, how string) {
	m.update(func(st *api.Management) {
		if !m.decided {
			m.decided = true
			st.Interface, st.Method = iface, how
		}
	})
}

// Run is in mgmt_linux.go.
var _ services.Service = (*mgmtService)(nil)
