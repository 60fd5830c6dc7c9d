package mirrorui

import (
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/tui"
	"github.com/wirebox/wirebox/tui/tuitest"
)

// TestMirrorPanel: the ports with the cursor, a session's rates from two
// polls, and the selection moving between ports.
func TestMirrorPanel(t *testing.T) {
	p := newPanel(tuitest.Env())
	p.SetSize(140, 30)
	p.Update(portsMsg{ports: []api.MirrorPort{
		{Name: "eth1", Registered: true, Link: "up", SpeedMbps: 1000, MTU: 1500, MAC: "02:00:00:00:00:01", Holder: "10.0.0.5:40000"},
		{Name: "eth2", Link: "down", MTU: 1500},
	}})
	t0 := time.Date(2026, 12, 2, 6, 0, 0, 0, time.UTC)
	mk := func(n uint64) []api.MirrorSession {
		return []api.MirrorSession{{ID: 1, Client: "10.0.0.5:40000", Port: "eth1", Mode: "exclusive", FramesToClient: n, FramesFromClient: n / 2, RTTMicros: 250}}
	}
	p.Update(sessionsMsg{s: mk(1000), at: t0})
	v := p.View()
	tuitest.ViewHas(t, v, "eth1", "eth2", "10.0.0.5:40000", "exclusive", "250")
	p.Update(sessionsMsg{s: mk(3000), at: t0.Add(2 * time.Second)})
	if got := p.rate("1/eth1", func(x api.MirrorSession) uint64 { return x.FramesToClient }); got != tui.FmtCount(1000) {
		t.Fatalf("rate %q, want %q", got, tui.FmtCount(1000))
	}
	if p.sel != "eth1" {
		t.Fatalf("selected %q", p.sel)
	}
	p.Update(tea.KeyPressMsg{Code: tea.KeyDown})
	if p.sel != "eth2" {
		t.Fatalf("after down: selected %q", p.sel)
	}
	// Without a client the keys do nothing (no request to send).
	if _, cmd := p.Update(tea.KeyPressMsg{Code: 'r', Text: "r"}); cmd != nil {
		t.Fatal("register without a client returned a command")
	}
}
