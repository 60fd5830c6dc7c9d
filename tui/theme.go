package tui

import (
	"os"
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/colorprofile"

	"github.com/wirebox/wirebox/internal/api"
)

// Theme holds every style the console uses, so that the monochrome fallback
// is one value rather than a check at each call site.
type Theme struct {
	Mono     bool
	Header   lipgloss.Style // the top line
	Tab      lipgloss.Style
	TabOn    lipgloss.Style
	Title    lipgloss.Style // section titles, table heads
	Selected lipgloss.Style // the cursor row
	Banner   lipgloss.Style // daemon unreachable
	Note     lipgloss.Style // action results
	Dim      lipgloss.Style
	Key      lipgloss.Style
	OK       lipgloss.Style
	Warn     lipgloss.Style
	Bad      lipgloss.Style
}

// ColorTheme is the default theme for terminals with colour.
func ColorTheme() Theme {
	return Theme{
		Header:   lipgloss.NewStyle().Bold(true),
		Tab:      lipgloss.NewStyle().Foreground(lipgloss.Color("7")),
		TabOn:    lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("0")).Background(lipgloss.Color("6")),
		Title:    lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("6")),
		Selected: lipgloss.NewStyle().Reverse(true),
		Banner:   lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("15")).Background(lipgloss.Color("1")),
		Note:     lipgloss.NewStyle().Foreground(lipgloss.Color("3")),
		Dim:      lipgloss.NewStyle().Foreground(lipgloss.Color("8")),
		Key:      lipgloss.NewStyle().Bold(true),
		OK:       lipgloss.NewStyle().Foreground(lipgloss.Color("2")),
		Warn:     lipgloss.NewStyle().Foreground(lipgloss.Color("3")),
		Bad:      lipgloss.NewStyle().Bold(true).Foreground(lipgloss.Color("1")),
	}
}

// MonoTheme uses only bold and reverse video, which a vt100 on a serial line
// shows; nothing depends on colour to be read.
func MonoTheme() Theme {
	plain := lipgloss.NewStyle()
	return Theme{
		Mono:     true,
		Header:   plain.Bold(true),
		Tab:      plain,
		TabOn:    plain.Reverse(true),
		Title:    plain.Bold(true),
		Selected: plain.Reverse(true),
		Banner:   plain.Reverse(true).Bold(true),
		Note:     plain.Bold(true),
		Dim:      plain,
		Key:      plain.Bold(true),
		OK:       plain,
		Warn:     plain.Bold(true),
		Bad:      plain.Bold(true).Reverse(true),
	}
}

// monoTerms are terminals that draw attributes but no colour.
var monoTerms = map[string]bool{"": true, "dumb": true, "vt100": true, "vt102": true, "vt220": true, "vt320": true, "ansi-mono": true}

// WantMono reports whether the terminal described by environ should get the
// monochrome theme: NO_COLOR is set, TERM names a terminal without colour, or
// the detected colour profile has none.
func WantMono(f *os.File, environ []string) bool {
	var term string
	for _, kv := range environ {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "NO_COLOR":
			if v != "" {
				return true
			}
		case "TERM":
			term = v
		}
	}
	if monoTerms[term] {
		return true
	}
	return colorprofile.Detect(f, environ) < colorprofile.ANSI
}

// state renders a service state; the text itself carries the meaning, the
// colour only helps.
func (t Theme) state(s string) string {
	switch s {
	case api.StateRunning:
		return t.OK.Render(s)
	case api.StateDegraded, api.StateBackoff, api.StateStarting, api.StateWaiting, api.StateStopping:
		return t.Warn.Render(s)
	case api.StateFailed:
		return t.Bad.Render(s)
	}
	return s
}
