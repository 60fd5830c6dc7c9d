package haui

import (
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/tui/tuitest"
)

// TestView: the screen shows role, peer, sync and the last failover from
// one poll, and keeps the last good status when a poll fails.
func TestView(t *testing.T) {
	p := newPanel(tuitest.Env())
	p.SetSize(100, 30)
	if !strings.Contains(p.View(), "waiting") {
		t.Fatalf("before a poll: %q", p.View())
	}
	st := api.HAStatus{Role: "standby", PeerRole: "active", Peer: "10.0.9.1:7400", PeerAlive: true, InSync: true, VIP: "10.0.1.100",
		Connections: 101, LinkRTTNS: 150000, Mode: "standby_response",
		LastFailover: &api.HAFailover{At: "2026-12-02T05:00:00Z", Reason: "peer lost", DurationNS: 68e6}}
	p.Update(statusMsg{st: st, at: time.Now()})
	v := p.View()
	tuitest.ViewHas(t, v, "standby", "10.0.9.1:7400 active (alive)", "150µs", "in sync:        true", "peer lost, 68ms", "101")
	p.Update(statusMsg{err: errTest{}})
	if v := p.View(); !strings.Contains(v, "standby") || !strings.Contains(v, "last poll failed") {
		t.Fatalf("after a failed poll:\n%s", v)
	}
}

type errTest struct{}

func (errTest) Error() string { return "connection refused" }
