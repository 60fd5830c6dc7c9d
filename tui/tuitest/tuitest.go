// Package tuitest has the fixtures of the console panels' unit tests: the
// environment a panel is made in and a check of what its view shows.
package tuitest

import (
	"strings"
	"testing"
	"time"

	"github.com/wirebox/wirebox/tui"
)

// Env is a panel's environment in a test: the monochrome theme (a view is
// plain text), the real clock and UTC; no client, so the panel polls
// nothing and the test feeds it messages.
func Env() *tui.Env {
	return &tui.Env{Theme: tui.MonoTheme(), Now: time.Now, Loc: time.UTC}
}

// ViewHas fails the test for each of want the view does not contain,
// showing the view.
func ViewHas(tb testing.TB, view string, want ...string) {
	tb.Helper()
	for _, w := range want {
		if !strings.Contains(view, w) {
			tb.Errorf("view lacks %q:\n%s", w, view)
		}
	}
}
