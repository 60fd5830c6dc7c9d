package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/wirebox/wirebox/internal/api"
)

// gadget is a panel for a subsystem that may or may not run: a stand-in for
// the ports and capture panels, to test the registry.
type gadget struct {
	keys   int
	width  int
	height int
}

func (g *gadget) Title() string                 { return "Gadget" }
func (g *gadget) Available(st *api.Status) bool { return HasService(st, "gadget") }
func (g *gadget) Init() tea.Cmd                 { return nil }
func (g *gadget) SetSize(w, h int)              { g.width, g.height = w, h }
func (g *gadget) ShortHelp() []key.Binding {
	return []key.Binding{key.NewBinding(key.WithKeys("x"), key.WithHelp("x", "poke"))}
}
func (g *gadget) FullHelp() [][]key.Binding { return [][]key.Binding{g.ShortHelp()} }
func (g *gadget) Capturing() bool           { return false }
func (g *gadget) View() string              { return strings.Repeat("gadget body\n", g.height-1) + "gadget end" }
func (g *gadget) Update(msg tea.Msg) (Panel, tea.Cmd) {
	if k, ok := msg.(tea.KeyPressMsg); ok && k.String() == "x" {
		g.keys++
	}
	return g, nil
}

// TestPanelShownOnlyWhenAvailable: a panel whose subsystem is absent has no
// tab and no number; when the daemon starts running it, the tab appears,
// its keys reach it, its help shows, and its body fills exactly the space
// between the header and the help bar.
func TestPanelShownOnlyWhenAvailable(t *testing.T) {
	f := newFixedAPI()
	cl := f.serve(t)
	g := &gadget{}
	theme := ColorTheme()
	m := New(Options{Client: cl, Theme: &theme, Now: func() time.Time { return fixedNow }, Interval: time.Hour,
		Panels: func(env *Env) []Panel { return append(WithPanels(subsystemPanels...)(env), g) }})
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m.Update(StatusMsg{Status: &f.status, At: fixedNow})
	m.Update(keyMsg("5"))
	if frame := m.View().Content; strings.Contains(frame, "Gadget") || strings.Contains(frame, "gadget body") {
		t.Fatalf("a panel without its subsystem is shown:\n%s", frame)
	}

	st := f.status
	st.Services = append(append([]api.ServiceStatus(nil), st.Services...), api.ServiceStatus{Name: "gadget", State: api.StateRunning})
	m.Update(StatusMsg{Status: &st, At: fixedNow})
	m.Update(keyMsg("5"))
	m.Update(keyMsg("x"))
	frame := m.View().Content
	if !strings.Contains(frame, " 5 Gadget ") || !strings.Contains(frame, "gadget end") || g.keys != 1 {
		t.Fatalf("the panel did not come up with its subsystem (keys %d):\n%s", g.keys, frame)
	}
	if !strings.Contains(frame, "poke") {
		t.Errorf("the help bar lacks the panel's key:\n%s", frame)
	}
	lines := strings.Split(frame, "\n")
	if len(lines) != 24 || !strings.Contains(lines[22], "gadget end") || !strings.Contains(lines[1], "gadget body") {
		t.Errorf("body not between header and help bar (%d lines):\n%s", len(lines), frame)
	}

	// The subsystem goes away: so do the tab and the screen.
	m.Update(StatusMsg{Status: &f.status, At: fixedNow})
	if frame := m.View().Content; strings.Contains(frame, "Gadget") || !strings.Contains(frame, "Appliance") {
		t.Fatalf("the panel outlived its subsystem:\n%s", frame)
	}
	m.cancel()
}

// TestLongServiceListScrolls: with more services than rows, the cursor row
// stays on screen and the frame never grows past the terminal.
func TestLongServiceListScrolls(t *testing.T) {
	st := &api.Status{Name: "many", Version: "v1"}
	for i := range 60 {
		st.Services = append(st.Services, api.ServiceStatus{Name: fmt.Sprintf("svc-%02d", i), State: api.StateRunning})
	}
	theme := MonoTheme()
	m := New(Options{Theme: &theme, Interval: time.Hour})
	defer m.cancel()
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m.Update(StatusMsg{Status: st, At: fixedNow})
	if frame := m.View().Content; !strings.Contains(frame, "more on the Services screen") || len(strings.Split(frame, "\n")) != 24 {
		t.Errorf("overview of 60 services:\n%s", frame)
	}
	m.Update(keyMsg("2"))
	for _, k := range []string{"G", "k", "k"} {
		m.Update(keyMsg(k))
	}
	frame := m.View().Content
	if !strings.Contains(frame, "> svc-57") || strings.Contains(frame, "svc-00") || len(strings.Split(frame, "\n")) != 24 {
		t.Errorf("cursor row off screen or frame too tall:\n%s", frame)
	}
	m.Update(keyMsg("g"))
	if frame := m.View().Content; !strings.Contains(frame, "> svc-00") {
		t.Errorf("g did not go to the top:\n%s", frame)
	}
	// Filter: / then text narrows the list, esc (twice: input, then filter) clears it.
	for _, k := range []string{"/", "5", "enter"} {
		m.Update(keyMsg(k))
	}
	frame = m.View().Content
	if !strings.Contains(frame, "svc-05") || !strings.Contains(frame, "svc-59") || strings.Contains(frame, "svc-04") || !strings.Contains(frame, `filter "5": 15 of 60`) {
		t.Errorf("filter 5:\n%s", frame)
	}
	m.Update(keyMsg("esc"))
	if frame := m.View().Content; !strings.Contains(frame, "svc-04") {
		t.Errorf("esc did not clear the filter:\n%s", frame)
	}
}

// TestReflowsOnResize: every screen fits each size it is given, including
// the 0x0 a serial line reports (the model falls back to its default).
func TestReflowsOnResize(t *testing.T) {
	f := newFixedAPI()
	theme := ColorTheme()
	m := New(Options{Theme: &theme, Interval: time.Hour, Loc: time.UTC, Fallback: Size{Cols: 90, Rows: 30}})
	defer m.cancel()
	m.Update(StatusMsg{Status: &f.status, At: fixedNow})
	_, cmd := m.Update(tea.WindowSizeMsg{Width: 0, Height: 0})
	if cmd == nil {
		t.Fatal("no fallback size for a 0x0 terminal")
	}
	if ws, ok := cmd().(tea.WindowSizeMsg); !ok || ws.Width != 90 || ws.Height != 30 {
		t.Fatalf("fallback size message = %#v", cmd())
	}
	for _, screen := range [][]string{{"1"}, {"2"}, {"2", "enter"}, {"?"}} {
		for _, k := range screen {
			m.Update(keyMsg(k))
		}
		for _, sz := range []struct{ w, h int }{{120, 40}, {80, 24}, {60, 15}, {200, 60}, {80, 24}} {
			m.Update(tea.WindowSizeMsg{Width: sz.w, Height: sz.h})
			checkFits(t, []byte(m.View().Content+"\n"), sz.w, sz.h)
		}
		m.Update(keyMsg("esc"))
		m.Update(keyMsg("esc"))
	}
}
