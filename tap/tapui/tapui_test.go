package tapui

import (
	"testing"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/tui/tuitest"
)

// TestView: each application is a row with its taps and counters.
func TestView(t *testing.T) {
	p := Panels(tuitest.Env())[0].(*panel)
	p.SetSize(100, 10)
	p.Update(tapsMsg{st: api.Taps{Socket: "/run/wirebox/tap.sock", Quota: 4096, Apps: []api.TapApp{{ID: 1, PID: 4242, Command: "tapbridge",
		Held: 17, Detoured: 1000, Reverted: 983, Taps: []api.Tap{{Port: "wb0", Kind: "bypass"}, {Port: "wb1", Kind: "bypass"}}},
		{ID: 1, PID: 1, Command: "wirebox", Name: "mirror eth2", InProcess: true, Taps: []api.Tap{{Port: "eth2", Kind: "bypass"}}}}}})
	v := p.View()
	tuitest.ViewHas(t, v, "4242", "tapbridge", "17", "983", "wb0:bypass,wb1:bypass", "quota 4096", "daemon: mirror eth2", "eth2:bypass")
}
