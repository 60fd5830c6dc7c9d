// Package tapui is the console's Taps screen: the applications on the
// tap socket with their taps and frame counters, refreshed every tick.
package tapui

import (
	"fmt"
	"strconv"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/tap/tapcli"
	"github.com/wirebox/wirebox/tui"
)

// Panels are the tap subsystem's console screens.
func Panels(env *tui.Env) []tui.Panel { return []tui.Panel{&panel{env: env}} }

const tapService = "tap"

type panel struct {
	env           *tui.Env
	st            api.Taps
	fetching      bool
	loaded        bool
	err           error
	width, height int
}

type tapsMsg struct {
	st  api.Taps
	err error
}

func (p *panel) Title() string                 { return "Taps" }
func (p *panel) Available(st *api.Status) bool { return tui.HasService(st, tapService) }
func (p *panel) Init() tea.Cmd                 { return nil }
func (p *panel) SetSize(w, h int)              { p.width, p.height = w, h }
func (p *panel) ShortHelp() []key.Binding      { return nil }
func (p *panel) FullHelp() [][]key.Binding     { return nil }
func (p *panel) Capturing() bool               { return false }

func (p *panel) fetch() tea.Cmd {
	return tui.Fetch(p.env, &p.fetching, api.PathTaps, func(st api.Taps, _ time.Time, err error) tea.Msg {
		return tapsMsg{st: st, err: err}
	})
}

func (p *panel) Update(msg tea.Msg) (tui.Panel, tea.Cmd) {
	switch msg := msg.(type) {
	case tui.TickMsg:
		return p, p.fetch()
	case tui.StatusMsg:
		if !p.loaded && p.Available(msg.Status) {
			return p, p.fetch()
		}
	case tapsMsg:
		p.fetching, p.loaded, p.err = false, true, msg.err
		if msg.err == nil {
			p.st = msg.st
		}
	}
	return p, nil
}

var cols = []tui.Column{{Title: "PID", Width: 7}, {Title: "COMMAND", Width: 24}, {Title: "HELD", Width: 6}, {Title: "DETOURED", Width: 9},
	{Title: "REVERTED", Width: 9}, {Title: "DROPPED", Width: 8}, {Title: "TAPS", Width: 0}}

func (p *panel) View() string {
	t := p.env.Theme
	cs := tui.LayoutColumns(cols, p.width)
	lines := []string{t.TableHead(cs, p.width)}
	for _, a := range p.st.Apps {
		if len(lines) >= p.height-2 {
			break
		}
		_, command := tapcli.AppID(a)
		lines = append(lines, tui.Row(cs, p.width, strconv.Itoa(a.PID), command, strconv.FormatInt(a.Held, 10),
			strconv.FormatUint(a.Detoured, 10), strconv.FormatUint(a.Reverted, 10), strconv.FormatUint(a.Dropped, 10), tapcli.TapList(a.Taps)))
	}
	switch {
	case p.err != nil:
		lines = append(lines, t.Bad.Render(tui.Clip(" "+tui.FirstLine(p.err.Error()), p.width)))
	case !p.loaded:
		lines = append(lines, t.Dim.Render(" loading …"))
	case len(p.st.Apps) == 0:
		lines = append(lines, t.Dim.Render(tui.Clip(" no applications on "+p.st.Socket, p.width)))
	}
	lines = append(lines, t.Dim.Render(tui.Clip(fmt.Sprintf(" quota %d frames · %d gone · %d disconnected for violations · %d frames reclaimed",
		p.st.Quota, p.st.Closed, p.st.Violations, p.st.Reclaimed), p.width)))
	out := ""
	for i, l := range lines {
		if i > 0 {
			out += "\n"
		}
		out += l
	}
	return out
}
