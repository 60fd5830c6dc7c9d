package qemu

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/wirebox/wirebox/internal/api"
)

// Appliance fetches GET /v1/appliance and the time since QEMU started at
// which the answer arrived.
func (vm *VM) Appliance(ctx context.Context, c *api.Client) (*api.Appliance, time.Duration, error) {
	var a api.Appliance
	if err := c.Get(ctx, api.PathAppliance, &a); err != nil {
		return nil, 0, err
	}
	return &a, time.Since(vm.Started), nil
}

// Breakdown renders where the boot time went: each phase the guest
// recorded (kernel log marks, wirebox boot's steps, the daemon's main,
// each service ready), as seconds since QEMU started and the step from the
// phase before. The guest's clock starts with the kernel; the host places
// it by the answer: kernel start = answer time - guest uptime (the API
// round trip, a few ms, is in the first step). bootToAPI, when known, ends
// the table.
func Breakdown(a *api.Appliance, answeredAt, bootToAPI time.Duration) string {
	kernelAt := answeredAt.Seconds() - a.UptimeSeconds
	ph := append([]api.BootPhase(nil), a.Boot...)
	sort.SliceStable(ph, func(i, j int) bool { return ph[i].Seconds < ph[j].Seconds })
	var b strings.Builder
	fmt.Fprintf(&b, "%-44s %8s %8s\n", "phase", "at (s)", "step (s)")
	row := func(name string, at, prev float64) {
		fmt.Fprintf(&b, "%-44s %8.2f %8.2f\n", name, at, at-prev)
	}
	row("QEMU start, firmware, kernel load → kernel", kernelAt, 0)
	prev := kernelAt
	for _, p := range ph {
		at := kernelAt + p.Seconds
		name := p.Name
		switch name {
		case "uinit":
			name = "wirebox boot (uinit) runs"
		case "modules":
			name = "kernel modules loaded"
		case "data":
			name = "data partition mounted"
		case "daemon":
			name = "daemon exec'd (keeper started)"
		case "network":
			name = "ip=/wirebox.ip= network configured"
		case "daemon main":
			name = "daemon main() runs (Go start-up)"
		}
		row(name, at, prev)
		prev = at
	}
	if bootToAPI > 0 {
		row("API answers with every service running", bootToAPI.Seconds(), prev)
	}
	return b.String()
}
