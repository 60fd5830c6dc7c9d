package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/wirebox/wirebox/internal/api"
)

// coreService is the supervised capture core behind GET /v1/ports.
const coreService = "core"

// historyLen is how many rate samples a port keeps: a minute at the
// default interval.
const historyLen = 60

// portRate is one port's rates between the last two polls.
type portRate struct {
	rxPPS, rxBPS, txPPS, txBPS float64
	ok                         bool // two samples seen
}

// portFeed is the state of GET /v1/ports over time: the last answer, rates
// and a minute of received packets per second per port. The Ports panel
// polls and feeds it; the Overview reads it.
type portFeed struct {
	last    *api.Ports
	at      time.Time
	rates   map[string]portRate
	history map[string][]float64
	err     error
	loaded  bool
}

func newPortFeed() *portFeed {
	return &portFeed{rates: map[string]portRate{}, history: map[string][]float64{}}
}

func (f *portFeed) apply(p *api.Ports, at time.Time) {
	dt := at.Sub(f.at).Seconds()
	prev := map[string]api.PortStatus{}
	if f.last != nil {
		for _, ps := range f.last.Ports {
			prev[ps.Name] = ps
		}
	}
	rates := map[string]portRate{}
	for _, ps := range p.Ports {
		old, ok := prev[ps.Name]
		if !ok || dt <= 0 || ps.RxPackets < old.RxPackets || ps.TxPackets < old.TxPackets {
			rates[ps.Name] = portRate{} // first sample, or the port was reopened
			continue
		}
		r := portRate{
			rxPPS: float64(ps.RxPackets-old.RxPackets) / dt,
			rxBPS: float64(ps.RxBytes-old.RxBytes) * 8 / dt,
			txPPS: float64(ps.TxPackets-old.TxPackets) / dt,
			txBPS: float64(ps.TxBytes-old.TxBytes) * 8 / dt,
			ok:    true,
		}
		rates[ps.Name] = r
		h := append(f.history[ps.Name], r.rxPPS)
		if len(h) > historyLen {
			h = h[len(h)-historyLen:]
		}
		f.history[ps.Name] = h
	}
	for name := range f.history {
		if _, ok := rates[name]; !ok {
			delete(f.history, name)
		}
	}
	f.last, f.at, f.rates, f.loaded, f.err = p, at, rates, true, nil
}

// sparkline draws the last width samples, scaled to their maximum; the
// monochrome theme uses ASCII for terminals without Unicode blocks.
func sparkline(samples []float64, width int, mono bool) string {
	ramp := []rune("▁▂▃▄▅▆▇█")
	if mono {
		ramp = []rune("_.-=+*#@")
	}
	if width <= 0 {
		return ""
	}
	if len(samples) > width {
		samples = samples[len(samples)-width:]
	}
	peak := 0.0
	for _, v := range samples {
		peak = max(peak, v)
	}
	var b strings.Builder
	for range width - len(samples) {
		b.WriteByte(' ')
	}
	for _, v := range samples {
		i := 0
		if peak > 0 {
			i = int(v / peak * float64(len(ramp)-1))
		}
		b.WriteRune(ramp[min(max(i, 0), len(ramp)-1)])
	}
	return b.String()
}

// fmtRate is a compact rate with an SI suffix: 0, 950, 12.3k, 9.8M, 1.0G.
func fmtRate(v float64, ok bool) string {
	if !ok {
		return "-"
	}
	return FmtCount(v)
}

// portsPanel shows the capture core: the pool, each port's counters, rates,
// link and timestamp source, and the subscribers of the selected port.
type portsPanel struct {
	env      *Env
	feed     *portFeed
	fetching bool
	cursor   int
	sel      string

	width, height int
}

func newPortsPanel(env *Env, feed *portFeed) *portsPanel {
	p := &portsPanel{env: env, feed: feed}
	return p
}

func (p *portsPanel) Title() string                 { return "Ports" }
func (p *portsPanel) Available(st *api.Status) bool { return HasService(st, coreService) }
func (p *portsPanel) Init() tea.Cmd                 { return nil }
func (p *portsPanel) SetSize(w, h int)              { p.width, p.height = w, h }
func (p *portsPanel) Capturing() bool               { return false }
func (p *portsPanel) ShortHelp() []key.Binding      { return []key.Binding{UpKey, DownKey} }
func (p *portsPanel) FullHelp() [][]key.Binding     { return [][]key.Binding{{UpKey, DownKey}} }

type portsMsg struct {
	ports *api.Ports
	at    time.Time
	err   error
}

// fetch polls GET /v1/ports. It runs on every tick while the core exists,
// shown or not, so the minute of history is there when the screen is.
func (p *portsPanel) fetch() tea.Cmd {
	return Fetch(p.env, &p.fetching, api.PathPorts, func(ps api.Ports, at time.Time, err error) tea.Msg {
		return portsMsg{ports: &ps, at: at, err: err}
	})
}

func (p *portsPanel) Update(msg tea.Msg) (Panel, tea.Cmd) {
	switch msg := msg.(type) {
	case StatusMsg:
		if msg.Err == nil && p.Available(msg.Status) {
			return p, p.fetch()
		}
	case portsMsg:
		p.fetching = false
		if msg.err != nil {
			p.feed.err = msg.err
			return p, nil
		}
		p.feed.apply(msg.ports, msg.at)
		p.move(p.index(p.sel))
	case tea.KeyPressMsg:
		if d := Step(msg); d != 0 {
			p.move(p.cursor + d)
		}
	}
	return p, nil
}

func (p *portsPanel) rows() (int, func(int) string) {
	if p.feed.last == nil {
		return 0, nil
	}
	return len(p.feed.last.Ports), func(i int) string { return p.feed.last.Ports[i].Name }
}

func (p *portsPanel) index(name string) int { n, k := p.rows(); return Find(n, k, name) }

func (p *portsPanel) move(i int) { n, k := p.rows(); p.cursor, p.sel = Select(i, n, k) }

var portCols = []Column{{"", 1}, {"PORT", 10}, {"MODE", 7}, {"LINK", 4}, {"RX PKT/S", 8}, {"RX BIT/S", 8}, {"TX PKT/S", 8}, {"TX BIT/S", 8}, {"DROPS", 7}, {"TIMESTAMP", 0}}

func (p *portsPanel) View() string {
	t := p.env.Theme
	f := p.feed
	if !f.loaded {
		if f.err != nil {
			return t.Bad.Render(Clip(" ports: "+FirstLine(f.err.Error()), p.width))
		}
		return t.Dim.Render(" loading ports …")
	}
	pool := f.last.Pool
	lines := []string{
		fmt.Sprintf(" %s %d frames of %d bytes, %d free", t.Title.Render("Pool"), pool.Frames, pool.FrameSize, pool.Free),
		"",
	}
	cols := LayoutColumns(portCols, p.width)
	lines = append(lines, t.TableHead(cols, p.width))
	for i, ps := range f.last.Ports {
		r := f.rates[ps.Name]
		link, styledLink := ps.Link, t.OK.Render(ps.Link)
		if ps.Link != "up" {
			styledLink = t.Bad.Render(ps.Link)
		}
		cells := []string{"", ps.Name, ps.Mode, styledLink, fmtRate(r.rxPPS, r.ok), fmtRate(r.rxBPS, r.ok), fmtRate(r.txPPS, r.ok), fmtRate(r.txBPS, r.ok),
			strconv.FormatUint(ps.RxDroppedKernel+ps.RxDroppedPool, 10), ps.TimestampSource}
		if i == p.cursor {
			cells[0], cells[3] = ">", link
			lines = append(lines, t.Selected.Render(Row(cols, p.width, cells...)))
			continue
		}
		lines = append(lines, Row(cols, p.width, cells...))
	}
	if len(f.last.Ports) == 0 {
		lines = append(lines, t.Dim.Render(" no ports configured"))
	}
	if sel := p.selected(); sel != nil {
		lines = append(lines, "",
			fmt.Sprintf(" %s  rx %d pkts %s · tx %d pkts %s · dropped: kernel %d, pool %d · unclaimed %d · tx errors %d",
				t.Title.Render(sel.Name), sel.RxPackets, FmtBytes(sel.RxBytes), sel.TxPackets, FmtBytes(sel.TxBytes),
				sel.RxDroppedKernel, sel.RxDroppedPool, sel.Unclaimed, sel.TxErrors))
		if sel.Error != "" {
			lines = append(lines, t.Bad.Render(" error: "+FirstLine(sel.Error)))
		}
		label := " rx pkt/s, last minute "
		lines = append(lines, t.Dim.Render(label)+sparkline(f.history[sel.Name], min(p.width-len(label)-1, historyLen), t.Mono), "")
		scols := LayoutColumns([]Column{{"SUBSCRIBER", 0}, {"KIND", 9}, {"DELIVERED", 12}, {"DROPPED", 12}}, p.width-1)
		lines = append(lines, " "+t.TableHead(scols, p.width-1))
		for _, s := range sel.Subscribers {
			lines = append(lines, " "+Row(scols, p.width-1, s.Name, s.Kind, strconv.FormatUint(s.Delivered, 10), strconv.FormatUint(s.Dropped, 10)))
		}
		if len(sel.Subscribers) == 0 {
			lines = append(lines, t.Dim.Render(" no subscribers"))
		}
	}
	if f.err != nil {
		for len(lines) < p.height-1 {
			lines = append(lines, "")
		}
		lines = append(lines, t.Bad.Render(Clip(" ports: "+FirstLine(f.err.Error()), p.width)))
	}
	return strings.Join(lines, "\n")
}

func (p *portsPanel) selected() *api.PortStatus {
	if p.feed.last == nil {
		return nil
	}
	for i := range p.feed.last.Ports {
		if p.feed.last.Ports[i].Name == p.sel {
			return &p.feed.last.Ports[i]
		}
	}
	return nil
}
