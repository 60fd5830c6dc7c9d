package rmonui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/wirebox/wirebox/rmon"
	"github.com/wirebox/wirebox/rmon/stats"
	"github.com/wirebox/wirebox/tui"
	"github.com/wirebox/wirebox/tui/tuitest"
)

// TestRMONPanel: rows per port with a rate from two polls, the selected
// port's size buckets and top hosts, the cursor moving between ports.
func TestRMONPanel(t *testing.T) {
	p := newPanel(tuitest.Env())
	p.SetSize(120, 30)
	t0 := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	mk := func(pkts uint64) rmon.Summary {
		return rmon.Summary{Listen: "127.0.0.1:1161", EngineID: "80001f88", Ports: []rmon.PortSummary{
			{Name: "eth1", IfIndex: 1, Ether: stats.Ether{Pkts: pkts, Octets: pkts * 100, Pkts64: 7, CRCAlign: 3}, Hosts: 2, ErrorCounters: "nic",
				TopHost: []rmon.HostRate{{MAC: "02:00:00:00:00:01", OutPkts: 40}}},
			{Name: "eth2", IfIndex: 2, Ether: stats.Ether{Pkts: 5}},
		}}
	}
	p.Update(summaryMsg{s: mk(1000), at: t0})
	tuitest.ViewHas(t, p.View(), "eth1", "eth2", "02:00:00:00:00:01", "64 7", "CRC/alignment 3 · fragments 0 · jabbers 0 (the NIC's counters)")
	p.Update(summaryMsg{s: mk(3000), at: t0.Add(2 * time.Second)})
	if got := p.rate("eth1", func(x rmon.PortSummary) uint64 { return x.Ether.Pkts }); got != tui.FmtCount(1000) {
		t.Fatalf("rate %q, want %q", got, tui.FmtCount(1000))
	}
	p.Update(tea.KeyPressMsg{Code: tea.KeyDown})
	if p.sel != "eth2" || !strings.Contains(p.View(), "no hosts seen") {
		t.Fatalf("after down: selected %q, view:\n%s", p.sel, p.View())
	}
}
