package tui

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/wirebox/wirebox/internal/api"
)

// Options configure the console model.
type Options struct {
	// Client is the daemon's API; required.
	Client *api.Client
	// Context bounds every request and timer of the model; the owner of the
	// program cancels it when the program has ended.
	Context context.Context
	// Interval between status polls (and log refreshes); default 1s.
	Interval time.Duration
	// Timeout of one request; default 3s.
	Timeout time.Duration
	// Theme defaults to ColorTheme; pass MonoTheme for terminals without colour.
	Theme *Theme
	Now   func() time.Time
	Loc   *time.Location
	// Fallback is the size used when the terminal reports 0x0 (a serial
	// line); default FallbackSize(nil).
	Fallback Size
	// Where names the daemon on screen; default Client.Where().
	Where string
	// Panels builds the screens; default CorePanels.
	Panels func(*Env) []Panel
}

// Model is the root bubbletea model of the console.
type Model struct {
	env      *Env
	ctx      context.Context
	cancel   context.CancelFunc
	interval time.Duration
	timeout  time.Duration
	fallback Size

	panels  []Panel
	visible []int // indexes into panels of the available ones
	active  int   // index into panels

	status    *api.Status
	statusErr error
	lastOK    time.Time
	polling   bool
	width     int
	height    int
	showHelp  bool
	help      help.Model
	keys      globalKeys
	quitting  bool
}

type globalKeys struct {
	Quit, Help, Next, Prev, Jump key.Binding
}

func newGlobalKeys() globalKeys {
	return globalKeys{
		Quit: key.NewBinding(key.WithKeys("q", "ctrl+c"), key.WithHelp("q", "quit")),
		Help: key.NewBinding(key.WithKeys("?"), key.WithHelp("?", "help")),
		Next: key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "next screen")),
		Prev: key.NewBinding(key.WithKeys("shift+tab"), key.WithHelp("shift+tab", "previous screen")),
		Jump: key.NewBinding(key.WithKeys("1", "2", "3", "4", "5", "6", "7", "8", "9"), key.WithHelp("1-9", "go to screen")),
	}
}

// New returns the console model.
func New(o Options) *Model {
	if o.Context == nil {
		o.Context = context.Background()
	}
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 3 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Loc == nil {
		o.Loc = time.Local
	}
	if o.Fallback.Cols == 0 || o.Fallback.Rows == 0 {
		o.Fallback = FallbackSize(nil)
	}
	if o.Panels == nil {
		o.Panels = CorePanels
	}
	theme := ColorTheme()
	if o.Theme != nil {
		theme = *o.Theme
	}
	ctx, cancel := context.WithCancel(o.Context)
	env := &Env{Client: o.Client, Context: ctx, Timeout: o.Timeout, Theme: theme, Now: o.Now, Loc: o.Loc}
	if env.Where = o.Where; env.Where == "" && o.Client != nil {
		env.Where = o.Client.Where()
	}
	m := &Model{
		env: env, ctx: ctx, cancel: cancel,
		interval: o.Interval, timeout: o.Timeout, fallback: o.Fallback,
		panels: o.Panels(env),
		help:   help.New(),
		keys:   newGlobalKeys(),
	}
	m.help.Styles.ShortKey = env.Theme.Key
	m.help.Styles.FullKey = env.Theme.Key
	m.help.Styles.ShortDesc = env.Theme.Dim
	m.help.Styles.FullDesc = env.Theme.Dim
	m.help.Styles.ShortSeparator = env.Theme.Dim
	m.help.Styles.FullSeparator = env.Theme.Dim
	m.help.Styles.Ellipsis = env.Theme.Dim
	m.refreshVisible()
	return m
}

// Init starts the first poll and the ticker.
func (m *Model) Init() tea.Cmd {
	cmds := []tea.Cmd{m.pollStatus(), m.tick()}
	for _, p := range m.panels {
		cmds = append(cmds, p.Init())
	}
	return tea.Batch(cmds...)
}

type tickMsg time.Time

// tick waits one interval; unlike tea.Tick it ends when the console quits,
// so no timer goroutine outlives the program.
func (m *Model) tick() tea.Cmd {
	ctx, d := m.ctx, m.interval
	return func() tea.Msg {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case at := <-t.C:
			return tickMsg(at)
		case <-ctx.Done():
			return nil
		}
	}
}

// pollStatus fetches the status unless a poll is still out.
func (m *Model) pollStatus() tea.Cmd {
	if m.polling || m.env.Client == nil {
		return nil
	}
	m.polling = true
	ctx, cl, timeout, now := m.ctx, m.env.Client, m.timeout, m.env.Now
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		st, err := cl.Status(ctx)
		msg := StatusMsg{Status: st, Err: err, At: now()}
		if err == nil {
			var a api.Appliance
			if cl.Get(ctx, api.PathAppliance, &a) == nil {
				msg.Appliance = &a
			}
		}
		return msg
	}
}

// Update handles global keys and messages and routes the rest to the panels.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		if msg.Width <= 0 || msg.Height <= 0 {
			// A serial line reports 0x0; tell the renderer a usable size.
			fb := tea.WindowSizeMsg{Width: m.fallback.Cols, Height: m.fallback.Rows}
			return m, func() tea.Msg { return fb }
		}
		m.width, m.height = msg.Width, msg.Height
		m.resize()
		return m, nil

	case tickMsg:
		if m.ctx.Err() != nil {
			return m, nil
		}
		cmds := []tea.Cmd{m.tick(), m.pollStatus()}
		for i, p := range m.panels {
			if p.Available(m.status) {
				cmds = append(cmds, m.updatePanel(i, TickMsg{At: time.Time(msg)}))
			}
		}
		return m, tea.Batch(cmds...)

	case StatusMsg:
		m.polling = false
		if msg.Err != nil {
			m.statusErr = msg.Err
		} else {
			m.statusErr = nil
			m.status = msg.Status
			m.lastOK = msg.At
		}
		m.refreshVisible()
		var cmds []tea.Cmd
		for i := range m.panels {
			cmds = append(cmds, m.updatePanel(i, msg))
		}
		m.resize() // the banner may have come or gone
		return m, tea.Batch(cmds...)

	case tea.KeyPressMsg:
		return m, m.handleKey(msg)
	}
	// Everything else is a panel's own result message; panels ignore the
	// messages of others.
	var cmds []tea.Cmd
	for i := range m.panels {
		cmds = append(cmds, m.updatePanel(i, msg))
	}
	return m, tea.Batch(cmds...)
}

func (m *Model) handleKey(msg tea.KeyPressMsg) tea.Cmd {
	p := m.current()
	if msg.String() == "ctrl+c" {
		return m.quit()
	}
	if p != nil && p.Capturing() {
		return m.updatePanel(m.active, msg)
	}
	if m.showHelp {
		// Any key leaves the help; q still quits.
		m.showHelp = false
		if key.Matches(msg, m.keys.Quit) {
			return m.quit()
		}
		return nil
	}
	switch {
	case key.Matches(msg, m.keys.Quit):
		return m.quit()
	case key.Matches(msg, m.keys.Help):
		m.showHelp = true
		return nil
	case key.Matches(msg, m.keys.Next):
		m.step(1)
		return nil
	case key.Matches(msg, m.keys.Prev):
		m.step(-1)
		return nil
	case key.Matches(msg, m.keys.Jump):
		n, _ := strconv.Atoi(msg.String())
		if n >= 1 && n <= len(m.visible) {
			m.active = m.visible[n-1]
		}
		return nil
	}
	if p == nil {
		return nil
	}
	return m.updatePanel(m.active, msg)
}

func (m *Model) quit() tea.Cmd {
	m.quitting = true
	m.cancel()
	return tea.Quit
}

func (m *Model) updatePanel(i int, msg tea.Msg) tea.Cmd {
	p, cmd := m.panels[i].Update(msg)
	m.panels[i] = p
	return cmd
}

func (m *Model) current() Panel {
	if m.active < 0 || m.active >= len(m.panels) {
		return nil
	}
	return m.panels[m.active]
}

// step moves to the next or previous visible panel.
func (m *Model) step(d int) {
	if len(m.visible) == 0 {
		return
	}
	pos := 0
	for i, idx := range m.visible {
		if idx == m.active {
			pos = i
		}
	}
	pos = (pos + d + len(m.visible)) % len(m.visible)
	m.active = m.visible[pos]
}

// refreshVisible recomputes which panels have a tab; if the active one went
// away (its subsystem stopped existing), the first takes over.
func (m *Model) refreshVisible() {
	m.visible = m.visible[:0]
	activeOK := false
	for i, p := range m.panels {
		if p.Available(m.status) {
			m.visible = append(m.visible, i)
			activeOK = activeOK || i == m.active
		}
	}
	if !activeOK && len(m.visible) > 0 {
		m.active = m.visible[0]
	}
}

// bodyHeight is what the panel gets: the screen minus header, banner and help bar.
func (m *Model) bodyHeight() int {
	h := m.height - 2 // header, help bar
	if m.statusErr != nil {
		h -= 2 // the banner: what, and why
	}
	return max(h, 1)
}

func (m *Model) resize() {
	if m.width == 0 {
		return
	}
	m.help.SetWidth(m.width)
	for _, p := range m.panels {
		p.SetSize(m.width, m.bodyHeight())
	}
}

// View draws header, banner, panel (or the full help) and help bar.
func (m *Model) View() tea.View {
	var v tea.View
	v.AltScreen = true
	if !m.env.Theme.Mono {
		// A vt100 or the Linux console may print an OSC title as text.
		v.WindowTitle = "wirebox console"
	}
	if m.width == 0 {
		v.SetContent("wirebox console: starting…")
		return v
	}
	t := m.env.Theme
	lines := []string{m.header()}
	if m.statusErr != nil {
		what := "daemon unreachable"
		var he *api.HTTPError
		if errors.As(m.statusErr, &he) && (he.Code == http.StatusUnauthorized || he.Code == http.StatusForbidden) {
			what = "the daemon refuses this console (check --token)"
		}
		msg := fmt.Sprintf("%s, retrying every %s", what, m.interval)
		if !m.lastOK.IsZero() {
			msg += " (last contact " + m.lastOK.In(m.env.Loc).Format("15:04:05") + ")"
		}
		lines = append(lines, t.Banner.Render(Fit(" "+msg, m.width)),
			t.Banner.Render(Fit(" "+FirstLine(m.statusErr.Error()), m.width)))
	}
	bh := m.bodyHeight()
	var body string
	if m.showHelp {
		body = m.fullHelp()
	} else if p := m.current(); p != nil {
		body = p.View()
	}
	bl := strings.Split(body, "\n")
	if len(bl) > bh {
		bl = bl[:bh]
	}
	for len(bl) < bh {
		bl = append(bl, "")
	}
	for i := range bl {
		bl[i] = Clip(bl[i], m.width)
	}
	lines = append(lines, bl...)
	lines = append(lines, Clip(m.help.ShortHelpView(m.shortHelp()), m.width))
	v.SetContent(strings.Join(lines, "\n"))
	return v
}

// header is the tab bar on the left and the appliance on the right.
func (m *Model) header() string {
	t := m.env.Theme
	var tabs []string
	for n, i := range m.visible {
		label := fmt.Sprintf(" %d %s ", n+1, m.panels[i].Title())
		if i == m.active {
			tabs = append(tabs, t.TabOn.Render(label))
		} else {
			tabs = append(tabs, t.Tab.Render(label))
		}
	}
	left := t.Header.Render("wirebox") + " " + strings.Join(tabs, "")
	right := "connecting…"
	if m.status != nil {
		right = fmt.Sprintf("%s · up %s", m.status.Name, fmtUptime(m.status.UptimeSeconds))
	}
	if m.statusErr != nil {
		right = "offline"
	}
	gap := m.width - visibleWidth(left) - visibleWidth(right) - 1
	if gap < 1 {
		return Clip(left, m.width)
	}
	return left + strings.Repeat(" ", gap) + right + " "
}

func (m *Model) shortHelp() []key.Binding {
	var b []key.Binding
	if p := m.current(); p != nil && !m.showHelp {
		b = append(b, p.ShortHelp()...)
	}
	if m.showHelp {
		return []key.Binding{key.NewBinding(key.WithKeys("esc"), key.WithHelp("any key", "close help")), m.keys.Quit}
	}
	if p := m.current(); p != nil && p.Capturing() {
		return b // the panel has every key but ctrl+c now
	}
	return append(b, m.keys.Next, m.keys.Help, m.keys.Quit)
}

func (m *Model) fullHelp() string {
	t := m.env.Theme
	groups := [][]key.Binding{{m.keys.Jump, m.keys.Next, m.keys.Prev, m.keys.Help, m.keys.Quit}}
	var out []string
	out = append(out, t.Title.Render("Keys: everywhere"), m.help.FullHelpView(groups), "")
	if p := m.current(); p != nil {
		out = append(out, t.Title.Render("Keys: "+p.Title()), m.help.FullHelpView(p.FullHelp()))
	}
	return strings.Join(out, "\n")
}
