package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/wirebox/wirebox/internal/api"
)

// overview is the first screen: the appliance and its services at a glance.
type overview struct {
	env    *Env
	ports  *portFeed
	st     *api.Status
	app    *api.Appliance
	width  int
	height int
}

func newOverview(env *Env, ports *portFeed) *overview { return &overview{env: env, ports: ports} }

func (o *overview) Title() string              { return "Overview" }
func (o *overview) Available(*api.Status) bool { return true }
func (o *overview) Init() tea.Cmd              { return nil }
func (o *overview) SetSize(w, h int)           { o.width, o.height = w, h }
func (o *overview) ShortHelp() []key.Binding   { return nil }
func (o *overview) FullHelp() [][]key.Binding  { return nil }
func (o *overview) Capturing() bool            { return false }

func (o *overview) Update(msg tea.Msg) (Panel, tea.Cmd) {
	if msg, ok := msg.(StatusMsg); ok && msg.Err == nil {
		o.st, o.app = msg.Status, msg.Appliance
	}
	return o, nil
}

var overviewCols = []Column{{"SERVICE", 16}, {"STATE", 9}, {"RESTARTS", 8}, {"UPTIME", 7}, {"LAST ERROR", 0}}

func (o *overview) View() string {
	t := o.env.Theme
	if o.st == nil {
		return " waiting for the daemon at " + o.env.Where + " …"
	}
	st := o.st
	running := 0
	for _, s := range st.Services {
		if s.State == api.StateRunning {
			running++
		}
	}
	kv := func(k, v string) string { return " " + t.Title.Render(Fit(k, 10)) + v }
	lines := []string{
		kv("Appliance", st.Name),
		kv("Version", st.Version),
		kv("Uptime", fmtUptime(st.UptimeSeconds)+"  (since "+st.StartedAt.In(o.env.Loc).Format("2006-01-02 15:04:05 MST")+")"),
		kv("Daemon", o.env.Where),
		kv("Services", fmt.Sprintf("%d running of %d", running, len(st.Services))),
	}
	lines = append(lines, o.applianceLines(kv)...)
	lines = append(lines, "")
	if HasService(st, coreService) && o.ports.loaded {
		lines = append(lines, o.portLines()...)
		lines = append(lines, "")
	}
	cols := LayoutColumns(overviewCols, o.width-1)
	lines = append(lines, " "+t.TableHead(cols, o.width-1))
	room := o.height - len(lines)
	for i, s := range st.Services {
		if i == room-1 && len(st.Services) > room {
			lines = append(lines, t.Dim.Render(fmt.Sprintf(" … %d more on the Services screen", len(st.Services)-i)))
			break
		}
		lines = append(lines, " "+Row(cols, o.width-1, s.Name, t.state(s.State), fmt.Sprint(s.Restarts), fmtUptime(s.UptimeSeconds), FirstLine(s.LastError)))
	}
	return strings.Join(lines, "\n")
}

var overviewPortCols = []Column{{"PORT", 10}, {"LINK", 4}, {"RX PKT/S", 8}, {"RX BIT/S", 8}, {"TX PKT/S", 8}, {"TX BIT/S", 8}, {"DROPS", 6}, {"RX, LAST MINUTE", 0}}

// portLines is the ports table: live rates, drops, link and a sparkline of
// the last minute of received packets per second.
func (o *overview) portLines() []string {
	t := o.env.Theme
	f := o.ports
	cols := LayoutColumns(overviewPortCols, o.width-1)
	lines := []string{" " + t.TableHead(cols, o.width-1)}
	for _, ps := range f.last.Ports {
		r := f.rates[ps.Name]
		link := t.OK.Render(ps.Link)
		if ps.Link != "up" {
			link = t.Bad.Render(ps.Link)
		}
		spark := sparkline(f.history[ps.Name], min(cols[len(cols)-1].Width, historyLen), t.Mono)
		lines = append(lines, " "+Row(cols, o.width-1, ps.Name, link, fmtRate(r.rxPPS, r.ok), fmtRate(r.rxBPS, r.ok),
			fmtRate(r.txPPS, r.ok), fmtRate(r.txBPS, r.ok), fmt.Sprint(ps.RxDroppedKernel+ps.RxDroppedPool), spark))
	}
	if len(f.last.Ports) == 0 {
		lines = append(lines, t.Dim.Render(" no ports configured"))
	}
	return lines
}

// applianceLines show where to connect (the management addresses) and
// how the daemon has fared, when the daemon serves GET /v1/appliance.
func (o *overview) applianceLines(kv func(k, v string) string) []string {
	a := o.app
	if a == nil {
		return nil
	}
	var out []string
	if m := a.Management; m != nil {
		v := "none (" + m.Method + ")"
		if m.Interface != "" {
			v = m.Interface + " " + strings.Join(m.Addresses, " ") + "  (" + m.Method + ")"
		}
		if m.Error != "" && len(m.Addresses) == 0 {
			v += "  " + FirstLine(m.Error)
		}
		out = append(out, kv("Manage", v))
	}
	cfg := a.Config.Source
	if a.Config.Path != "" {
		cfg += " (" + a.Config.Path + ")"
	}
	if a.Config.Generation > 0 {
		cfg += fmt.Sprintf(", applied %d", a.Config.Generation)
	}
	if len(a.Config.Fallbacks) > 0 {
		cfg += fmt.Sprintf(", %d skipped (wirebox config show)", len(a.Config.Fallbacks))
	}
	out = append(out, kv("Config", cfg))
	if a.Daemon.Restarts > 0 {
		out = append(out, kv("Restarts", fmt.Sprintf("daemon restarted %d times; last: %s", a.Daemon.Restarts, a.Daemon.LastExit)))
	}
	return out
}
