package coresvc

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/config"
	"github.com/wirebox/wirebox/internal/netns"
	"github.com/wirebox/wirebox/internal/testutil"
	"github.com/wirebox/wirebox/services"
	"github.com/wirebox/wirebox/services/servicestest"
)

// TestAutoPorts: with auto ports the service opens the links the rule
// wants once the rule has decided, leaves the management link alone, and
// opens a link that appears later (hot-plug); frames into it are counted.
func TestAutoPorts(t *testing.T) {
	p := netns.Pair(t)
	netns.Veth(t, p.Near, "mgmt0", p.Far, "mpeer0", netns.VethOptions{})
	core, err := New(config.PoolConfig{Frames: 4096}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var decided atomic.Bool
	cfg := &config.Config{AutoPorts: true}
	core.SetAuto(AutoOptions{
		Netns:    p.Near.Path,
		Template: config.PortConfig{Mode: config.PortPassive, Queues: 1, RingBlocks: 4, BlockSize: 1 << 20},
		Want: func(name, kind string) (bool, bool) {
			if !decided.Load() {
				return false, false // the management NIC is not known yet
			}
			return cfg.AutoPort(name, kind, "mgmt0", []string{"veth"}), true
		},
	})
	t.Cleanup(func() {
		if err := core.Close(); err != nil {
			t.Error(err)
		}
	})
	sup := servicestest.Supervise(t, services.Options{}, core)
	waitState(t, sup, Name, func(st services.Status) bool { return st.State == services.StateRunning })
	ports := func() map[string]uint64 {
		st, err := core.Status()
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]uint64{}
		for _, p := range st.Ports {
			m[p.Name] = p.RxPackets
		}
		return m
	}
	// Undecided: nothing opens (a few scans pass meanwhile).
	time.Sleep(1200 * time.Millisecond)
	if m := ports(); len(m) != 0 {
		t.Fatalf("ports opened before the management NIC was known: %v", m)
	}
	decided.Store(true)
	waitPorts := func(want ...string) (m map[string]uint64) {
		t.Helper()
		testutil.Eventually(t, fmt.Sprintf("ports %v", want), func() error {
			m = ports()
			for _, w := range want {
				if _, has := m[w]; !has {
					return fmt.Errorf("ports %v", m)
				}
			}
			return nil
		})
		return m
	}
	m := waitPorts("wb0")
	if _, has := m["mgmt0"]; has {
		t.Fatalf("the management link became a port: %v", m)
	}
	// Hot-plug: a new link in the namespace becomes a port.
	_, far1 := netns.Veth(t, p.Near, "wb1", p.Far, "peer1", netns.VethOptions{})
	waitPorts("wb0", "wb1")
	raw := netns.OpenRaw(t, far1)
	const n = 10
	for i := range n {
		raw.Send(t, frame([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, uint32(i)))
	}
	testutil.Eventually(t, fmt.Sprintf("wb1 to count %d frames", n), func() error {
		if got := ports()["wb1"]; got < n {
			return fmt.Errorf("%d counted", got)
		}
		return nil
	})
	if m := ports(); len(m) != 2 {
		t.Errorf("ports %v, want wb0 and wb1 only", m)
	}
}
