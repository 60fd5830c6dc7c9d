// Package mirrorui is the console's Mirror screen: the ports as the
// mirror sees them (registered, link, holder, monitors) with keys to
// register and unregister the selected one, and the clients' sessions with
// frames and bytes each way, their rates, drops and the tunnel's RTT, from
// GET /v1/mirror/ports and /v1/mirror/sessions.
package mirrorui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/tui"
)

// service is the mirror service's name (mirror.Name; the console does not
// import the server).
const service = "mirror"

// Panels is the subsystem's console screens.
func Panels(env *tui.Env) []tui.Panel { return []tui.Panel{newPanel(env)} }

type panel struct {
	env           *tui.Env
	width, height int
	fetchingP     bool
	fetchingS     bool

	ports      []api.MirrorPort
	sess, prev map[string]api.MirrorSession
	order      []string
	at, prevAt time.Time
	err        error
	note       string
	cursor     int
	sel        string
	keys       struct{ Register, Unregister key.Binding }
}

func newPanel(env *tui.Env) *panel {
	p := &panel{env: env}
	p.keys.Register = key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "register port"))
	p.keys.Unregister = key.NewBinding(key.WithKeys("u"), key.WithHelp("u", "unregister port"))
	return p
}

func (p *panel) Title() string                 { return "Mirror" }
func (p *panel) Available(st *api.Status) bool { return tui.HasService(st, service) }
func (p *panel) Init() tea.Cmd                 { return nil }
func (p *panel) SetSize(w, h int)              { p.width, p.height = w, h }
func (p *panel) Capturing() bool               { return false }
func (p *panel) ShortHelp() []key.Binding {
	return []key.Binding{tui.UpKey, tui.DownKey, p.keys.Register, p.keys.Unregister}
}
func (p *panel) FullHelp() [][]key.Binding { return [][]key.Binding{p.ShortHelp()} }

type portsMsg struct {
	ports []api.MirrorPort
	err   error
	note  string
}

type sessionsMsg struct {
	s   []api.MirrorSession
	at  time.Time
	err error
}

func (p *panel) Update(msg tea.Msg) (tui.Panel, tea.Cmd) {
	switch msg := msg.(type) {
	case tui.StatusMsg:
		if msg.Err == nil && p.Available(msg.Status) {
			return p, tea.Batch(
				tui.Fetch(p.env, &p.fetchingP, api.PathMirrorPorts, func(v []api.MirrorPort, _ time.Time, err error) tea.Msg {
					return portsMsg{ports: v, err: err}
				}),
				tui.Fetch(p.env, &p.fetchingS, api.PathMirrorSessions, func(v []api.MirrorSession, at time.Time, err error) tea.Msg {
					return sessionsMsg{v, at, err}
				}))
		}
	case portsMsg:
		if msg.note == "" {
			p.fetchingP = false
		}
		p.err = msg.err
		if msg.err == nil {
			p.ports = msg.ports
			if msg.note != "" {
				p.note = msg.note
			}
			p.move(p.index(p.sel))
		}
	case sessionsMsg:
		p.fetchingS = false
		if msg.err != nil {
			p.err = msg.err
			return p, nil
		}
		p.apply(msg.s, msg.at)
	case tea.KeyPressMsg:
		if d := tui.Step(msg); d != 0 {
			p.move(p.cursor + d)
		}
		switch {
		case key.Matches(msg, p.keys.Register):
			return p, p.post(p.sel, "registered", api.MirrorRegisterPath)
		case key.Matches(msg, p.keys.Unregister):
			return p, p.post(p.sel, "unregistered", api.MirrorUnregisterPath)
		}
	}
	return p, nil
}

// post registers or unregisters a port; the answer is the new port list.
func (p *panel) post(port, done string, path func(string) string) tea.Cmd {
	if port == "" || p.env.Client == nil {
		return nil
	}
	return tui.Post(p.env, path(port), struct{}{}, func(ps []api.MirrorPort, err error) tea.Msg {
		if err != nil {
			return portsMsg{err: err}
		}
		return portsMsg{ports: ps, note: port + " " + done}
	})
}

// sessionKey names a session's row (a client may hold no port: empty).
func sessionKey(s api.MirrorSession) string { return strconv.FormatUint(s.ID, 10) + "/" + s.Port }

func (p *panel) apply(ss []api.MirrorSession, at time.Time) {
	p.prev, p.prevAt = p.sess, p.at
	p.sess, p.at, p.order = make(map[string]api.MirrorSession, len(ss)), at, p.order[:0]
	for _, s := range ss {
		k := sessionKey(s)
		p.sess[k] = s
		p.order = append(p.order, k)
	}
}

// rate is the per-second change of a session's counter since the last
// poll, or "-" before two polls of it.
func (p *panel) rate(k string, get func(api.MirrorSession) uint64) string {
	before, ok := p.prev[k]
	dt := p.at.Sub(p.prevAt).Seconds()
	now := get(p.sess[k])
	if !ok || dt <= 0 || now < get(before) {
		return "-"
	}
	return tui.FmtCount(float64(now-get(before)) / dt)
}

func (p *panel) name(i int) string { return p.ports[i].Name }

func (p *panel) index(name string) int { return tui.Find(len(p.ports), p.name, name) }

func (p *panel) move(i int) { p.cursor, p.sel = tui.Select(i, len(p.ports), p.name) }

var portCols = []tui.Column{{Title: "", Width: 1}, {Title: "PORT", Width: 10}, {Title: "REGISTERED", Width: 10}, {Title: "LINK", Width: 5},
	{Title: "SPEED", Width: 7}, {Title: "MTU", Width: 6}, {Title: "MAC", Width: 17}, {Title: "MONITORS", Width: 8}, {Title: "HOLDER", Width: 0}}

var sessCols = []tui.Column{{Title: "CLIENT", Width: 0}, {Title: "PORT", Width: 8}, {Title: "MODE", Width: 9},
	{Title: "TO CLIENT", Width: 9}, {Title: "FR/S", Width: 7}, {Title: "BYTES", Width: 8},
	{Title: "FROM CLIENT", Width: 11}, {Title: "FR/S", Width: 7}, {Title: "BYTES", Width: 8}, {Title: "DROPS", Width: 9}, {Title: "RTT µs", Width: 7}}

func (p *panel) View() string {
	t := p.env.Theme
	if p.ports == nil && p.sess == nil {
		if p.err != nil {
			return t.Bad.Render(tui.Clip(" mirror: "+tui.FirstLine(p.err.Error()), p.width))
		}
		return t.Dim.Render(" loading the mirror …")
	}
	lc := tui.LayoutColumns(portCols, p.width)
	lines := []string{" " + t.Title.Render("Ports"), t.TableHead(lc, p.width)}
	for i, ps := range p.ports {
		holder := ps.Holder
		if holder == "" {
			holder = "-"
		}
		cells := []string{"", ps.Name, strconv.FormatBool(ps.Registered), ps.Link, fmt.Sprintf("%dM", ps.SpeedMbps),
			strconv.Itoa(ps.MTU), ps.MAC, strconv.Itoa(ps.Monitors), holder}
		if i == p.cursor {
			cells[0] = ">"
			lines = append(lines, t.Selected.Render(tui.Row(lc, p.width, cells...)))
			continue
		}
		lines = append(lines, tui.Row(lc, p.width, cells...))
	}
	if len(p.ports) == 0 {
		lines = append(lines, t.Dim.Render(" no ports"))
	}
	sc := tui.LayoutColumns(sessCols, p.width)
	lines = append(lines, "", " "+t.Title.Render("Sessions"), t.TableHead(sc, p.width))
	for _, k := range p.order {
		s := p.sess[k]
		port, mode := s.Port, s.Mode
		if port == "" {
			port, mode = "-", "-"
		}
		lines = append(lines, tui.Row(sc, p.width, s.Client, port, mode,
			strconv.FormatUint(s.FramesToClient, 10), p.rate(k, func(x api.MirrorSession) uint64 { return x.FramesToClient }), tui.FmtBytes(s.BytesToClient),
			strconv.FormatUint(s.FramesFromClient, 10), p.rate(k, func(x api.MirrorSession) uint64 { return x.FramesFromClient }), tui.FmtBytes(s.BytesFromClient),
			fmt.Sprintf("%d/%d", s.DroppedToClient, s.DroppedFromClient), fmt.Sprintf("%.0f", s.RTTMicros)))
	}
	if len(p.order) == 0 {
		lines = append(lines, t.Dim.Render(" no clients"))
	}
	if p.note != "" {
		lines = append(lines, "", " "+tui.Clip(p.note, p.width-1))
	}
	if p.err != nil {
		lines = append(lines, t.Bad.Render(tui.Clip(" mirror: "+tui.FirstLine(p.err.Error()), p.width)))
	}
	if len(lines) > p.height && p.height > 0 {
		lines = lines[:p.height]
	}
	return strings.Join(lines, "\n")
}
