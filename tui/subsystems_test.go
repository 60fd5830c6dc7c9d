package tui_test

import (
	"github.com/wirebox/wirebox/daemon"
	"github.com/wirebox/wirebox/tui"
)

// The console under test shows every subsystem's screens, taken from the
// daemon's table as the CLI takes them.
func init() {
	for _, sub := range daemon.Subsystems() {
		if sub.Panels != nil {
			*tui.SubsystemPanels = append(*tui.SubsystemPanels, sub.Panels)
		}
	}
}
