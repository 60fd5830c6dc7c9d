// Package haui is the console's HA screen: the node's role, its peer,
// sync state, last failover and counters, from GET /v1/ha.
package haui

import (
	"bytes"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/wirebox/wirebox/ha/hacli"
	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/tui"
)

// Panels are the subsystem's console screens.
func Panels(env *tui.Env) []tui.Panel { return []tui.Panel{newPanel(env)} }

type statusMsg struct {
	st  api.HAStatus
	at  time.Time
	err error
}

type panel struct {
	env           *tui.Env
	busy          bool
	st            *api.HAStatus
	at            time.Time
	err           error
	width, height int
}

func newPanel(env *tui.Env) *panel { return &panel{env: env} }

func (p *panel) Title() string                 { return "HA" }
func (p *panel) Available(st *api.Status) bool { return tui.HasService(st, "ha") }
func (p *panel) Init() tea.Cmd                 { return p.fetch() }
func (p *panel) SetSize(w, h int)              { p.width, p.height = w, h }
func (p *panel) Capturing() bool               { return false }
func (p *panel) ShortHelp() []key.Binding      { return nil }
func (p *panel) FullHelp() [][]key.Binding     { return nil }

func (p *panel) fetch() tea.Cmd {
	return tui.Fetch(p.env, &p.busy, api.PathHA, func(v api.HAStatus, at time.Time, err error) tea.Msg {
		return statusMsg{v, at, err}
	})
}

func (p *panel) Update(msg tea.Msg) (tui.Panel, tea.Cmd) {
	switch m := msg.(type) {
	case tui.TickMsg:
		return p, p.fetch()
	case statusMsg:
		p.busy = false
		p.at, p.err = m.at, m.err
		if m.err == nil {
			st := m.st
			p.st = &st
		}
	}
	return p, nil
}

func (p *panel) View() string {
	var b bytes.Buffer
	switch {
	case p.st == nil && p.err != nil:
		b.WriteString("HA status unavailable: " + p.err.Error())
	case p.st == nil:
		b.WriteString("waiting for the ha service…")
	default:
		_ = hacli.Print(&b, *p.st)
		if p.err != nil {
			b.WriteString("\nlast poll failed: " + p.err.Error())
		}
	}
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if p.height > 0 && len(lines) > p.height {
		lines = lines[:p.height]
	}
	for i, l := range lines {
		if p.width > 0 && len(l) > p.width {
			lines[i] = l[:p.width]
		}
	}
	return strings.Join(lines, "\n")
}
