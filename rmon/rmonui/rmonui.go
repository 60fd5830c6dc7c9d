// Package rmonui is the console's RMON screen: per-port etherStats with
// rates, the busiest hosts of the selected port, alarms and the agent's
// own counters, from GET /v1/rmon.
package rmonui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/rmon"
	"github.com/wirebox/wirebox/tui"
)

// Panels is the subsystem's console screens.
func Panels(env *tui.Env) []tui.Panel { return []tui.Panel{newPanel(env)} }

type panel struct {
	env           *tui.Env
	width, height int
	fetching      bool

	last, prev *rmon.Summary
	at, prevAt time.Time
	err        error
	cursor     int
	sel        string
}

func newPanel(env *tui.Env) *panel {
	p := &panel{env: env}
	return p
}

func (p *panel) Title() string                 { return "RMON" }
func (p *panel) Available(st *api.Status) bool { return tui.HasService(st, rmon.Name) }
func (p *panel) Init() tea.Cmd                 { return nil }
func (p *panel) SetSize(w, h int)              { p.width, p.height = w, h }
func (p *panel) Capturing() bool               { return false }
func (p *panel) ShortHelp() []key.Binding      { return []key.Binding{tui.UpKey, tui.DownKey} }
func (p *panel) FullHelp() [][]key.Binding     { return [][]key.Binding{{tui.UpKey, tui.DownKey}} }

type summaryMsg struct {
	s   rmon.Summary
	at  time.Time
	err error
}

func (p *panel) Update(msg tea.Msg) (tui.Panel, tea.Cmd) {
	switch msg := msg.(type) {
	case tui.StatusMsg:
		if msg.Err == nil && p.Available(msg.Status) {
			return p, tui.Fetch(p.env, &p.fetching, api.PathRMON, func(s rmon.Summary, at time.Time, err error) tea.Msg {
				return summaryMsg{s, at, err}
			})
		}
	case summaryMsg:
		p.fetching = false
		if msg.err != nil {
			p.err = msg.err
			return p, nil
		}
		s := msg.s
		p.prev, p.prevAt = p.last, p.at
		p.last, p.at, p.err = &s, msg.at, nil
		p.move(p.index(p.sel))
	case tea.KeyPressMsg:
		if d := tui.Step(msg); d != 0 {
			p.move(p.cursor + d)
		}
	}
	return p, nil
}

func (p *panel) rows() (int, func(int) string) {
	if p.last == nil {
		return 0, nil
	}
	return len(p.last.Ports), func(i int) string { return p.last.Ports[i].Name }
}

func (p *panel) index(name string) int { n, k := p.rows(); return tui.Find(n, k, name) }

func (p *panel) move(i int) { n, k := p.rows(); p.cursor, p.sel = tui.Select(i, n, k) }

// rate is the per-second change of a counter of port name since the last
// poll, or "-" before two polls.
func (p *panel) rate(name string, get func(rmon.PortSummary) uint64) string {
	if p.prev == nil {
		return "-"
	}
	dt := p.at.Sub(p.prevAt).Seconds()
	var now, before uint64
	var ok bool
	for _, ps := range p.last.Ports {
		if ps.Name == name {
			now = get(ps)
		}
	}
	for _, ps := range p.prev.Ports {
		if ps.Name == name {
			before, ok = get(ps), true
		}
	}
	if !ok || dt <= 0 || now < before {
		return "-"
	}
	return tui.FmtCount(float64(now-before) / dt)
}

var cols = []tui.Column{{Title: "", Width: 1}, {Title: "PORT", Width: 10}, {Title: "IFX", Width: 4}, {Title: "PKTS", Width: 10}, {Title: "PKT/S", Width: 8},
	{Title: "OCTETS", Width: 9}, {Title: "BCAST", Width: 8}, {Title: "MCAST", Width: 8}, {Title: "DROPS", Width: 7}, {Title: "HOSTS", Width: 6}, {Title: "PAIRS", Width: 0}}

func (p *panel) View() string {
	t := p.env.Theme
	if p.last == nil {
		if p.err != nil {
			return t.Bad.Render(tui.Clip(" rmon: "+tui.FirstLine(p.err.Error()), p.width))
		}
		return t.Dim.Render(" loading the RMON probe …")
	}
	s := p.last
	lines := []string{
		fmt.Sprintf(" %s agent %s · engine %s · %d requests · refused: %d wrong digests, %d outside the time window, %d unknown users, %d bad communities",
			t.Title.Render("SNMP"), s.Listen, s.EngineID, s.SNMP.InPkts, s.SNMP.WrongDigests, s.SNMP.NotInTimeWindows, s.SNMP.UnknownUserNames, s.SNMP.BadCommunityNames),
		"",
	}
	lc := tui.LayoutColumns(cols, p.width)
	lines = append(lines, t.TableHead(lc, p.width))
	for i, ps := range s.Ports {
		e := ps.Ether
		cells := []string{"", ps.Name, strconv.Itoa(ps.IfIndex), strconv.FormatUint(e.Pkts, 10),
			p.rate(ps.Name, func(x rmon.PortSummary) uint64 { return x.Ether.Pkts }), tui.FmtBytes(e.Octets),
			strconv.FormatUint(e.Broadcast, 10), strconv.FormatUint(e.Multicast, 10), strconv.FormatUint(e.DropEvents, 10),
			strconv.Itoa(ps.Hosts), strconv.Itoa(ps.Pairs)}
		if i == p.cursor {
			cells[0] = ">"
			lines = append(lines, t.Selected.Render(tui.Row(lc, p.width, cells...)))
			continue
		}
		lines = append(lines, tui.Row(lc, p.width, cells...))
	}
	if len(s.Ports) == 0 {
		lines = append(lines, t.Dim.Render(" no ports"))
	}
	if p.cursor < len(s.Ports) {
		ps := s.Ports[p.cursor]
		e := ps.Ether
		lines = append(lines, "", fmt.Sprintf(" %s sizes: 64 %d · 65-127 %d · 128-255 %d · 256-511 %d · 512-1023 %d · 1024-1518 %d · undersize %d · oversize %d",
			t.Title.Render(ps.Name), e.Pkts64, e.Pkts65to127, e.Pkts128to255, e.Pkts256to511, e.Pkts512to1023, e.Pkts1024to1518, e.Undersize, e.Oversize))
		errs := "the NIC's counters"
		if ps.ErrorCounters != "nic" {
			errs = "none: the NIC has no RMON counters"
		}
		lines = append(lines, fmt.Sprintf(" CRC/alignment %d · fragments %d · jabbers %d (%s)", e.CRCAlign, e.Fragments, e.Jabbers, errs))
		hc := tui.LayoutColumns([]tui.Column{{Title: "TOP HOST", Width: 0}, {Title: "OUT PKTS", Width: 12}, {Title: "OUT OCTETS", Width: 12}, {Title: "IN PKTS", Width: 12}}, p.width-1)
		lines = append(lines, " "+t.Title.Render(tui.Row(hc, p.width-1, "TOP HOST", "OUT PKTS", "OUT OCTETS", "IN PKTS")))
		for _, h := range ps.TopHost {
			lines = append(lines, " "+tui.Row(hc, p.width-1, h.MAC, strconv.FormatUint(h.OutPkts, 10), tui.FmtBytes(h.OutOctets), strconv.FormatUint(h.InPkts, 10)))
		}
		if len(ps.TopHost) == 0 {
			lines = append(lines, t.Dim.Render(" no hosts seen"))
		}
	}
	lines = append(lines, "", fmt.Sprintf(" %s %d · event log entries %d", t.Title.Render("Alarms"), len(s.Alarms), s.Logs))
	for _, a := range s.Alarms {
		lines = append(lines, fmt.Sprintf("  %d %s = %d (rising %d, falling %d) %s", a.Index, a.Variable, a.Value, a.Rising, a.Falling, a.Owner))
	}
	if p.err != nil {
		lines = append(lines, t.Bad.Render(tui.Clip(" rmon: "+tui.FirstLine(p.err.Error()), p.width)))
	}
	if len(lines) > p.height && p.height > 0 {
		lines = lines[:p.height]
	}
	return strings.Join(lines, "\n")
}
