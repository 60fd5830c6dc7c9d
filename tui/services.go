package tui

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	"charm.land/bubbles/v2/viewport"
	tea "charm.land/bubbletea/v2"

	"github.com/wirebox/wirebox/internal/api"
)

// maxLogLines bounds what the console keeps of a followed log.
const maxLogLines = 2000

// servicesPanel lists the supervised services; enter opens one's log ring in a
// viewport that follows new records, r restarts it after a confirmation.
type servicesPanel struct {
	env *Env
	st  *api.Status

	shown  []api.ServiceStatus // after the filter
	cursor int
	sel    string // name under the cursor, kept across refreshes

	filter    textinput.Model
	filtering bool

	// The log view; logSvc is empty in the list.
	logSvc   string
	lines    []string
	next     uint64
	dropped  uint64
	fetching bool
	logErr   error
	follow   bool
	vp       viewport.Model
	daemonAt time.Time // StartedAt of the daemon the log came from

	confirm string // service awaiting y/n for a restart
	note    string
	noteBad bool

	width, height int
	keys          serviceKeys
}

type serviceKeys struct {
	Up, Down, Top, Bottom, PageUp, PageDown, Open, Back, Restart, Filter, Follow key.Binding
}

func newServiceKeys() serviceKeys {
	return serviceKeys{
		Up:       key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:     key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		Top:      key.NewBinding(key.WithKeys("home", "g"), key.WithHelp("g/home", "top")),
		Bottom:   key.NewBinding(key.WithKeys("end", "G"), key.WithHelp("G/end", "bottom (follow)")),
		PageUp:   key.NewBinding(key.WithKeys("pgup", "ctrl+b", "b"), key.WithHelp("pgup/b", "page up")),
		PageDown: key.NewBinding(key.WithKeys("pgdown", "ctrl+f", "space"), key.WithHelp("pgdn/space", "page down")),
		Open:     key.NewBinding(key.WithKeys("enter", "l", "right"), key.WithHelp("enter", "logs")),
		Back:     key.NewBinding(key.WithKeys("esc", "h", "left", "backspace"), key.WithHelp("esc", "back")),
		Restart:  key.NewBinding(key.WithKeys("r"), key.WithHelp("r", "restart")),
		Filter:   key.NewBinding(key.WithKeys("/"), key.WithHelp("/", "filter")),
		Follow:   key.NewBinding(key.WithKeys("f"), key.WithHelp("f", "follow on/off")),
	}
}

func newServices(env *Env) *servicesPanel {
	ti := textinput.New()
	ti.Prompt = "/"
	ti.Placeholder = "filter services"
	ti.CharLimit = 64
	// A steady cursor: blinking redraws a serial line twice a second for
	// nothing, and would make frames depend on timing.
	st := ti.Styles()
	st.Cursor.Blink = false
	if env.Theme.Mono {
		st.Focused.Prompt, st.Blurred.Prompt = env.Theme.Key, env.Theme.Key
		st.Focused.Placeholder, st.Blurred.Placeholder = env.Theme.Dim, env.Theme.Dim
		st.Blurred.Text = env.Theme.Dim
	}
	ti.SetStyles(st)
	vp := viewport.New()
	vp.SoftWrap = true // long records wrap rather than lose their ends
	return &servicesPanel{env: env, filter: ti, keys: newServiceKeys(), vp: vp}
}

func (s *servicesPanel) Title() string              { return "Services" }
func (s *servicesPanel) Available(*api.Status) bool { return true }
func (s *servicesPanel) Init() tea.Cmd              { return nil }
func (s *servicesPanel) Capturing() bool            { return s.filtering || s.confirm != "" }

func (s *servicesPanel) SetSize(w, h int) {
	s.width, s.height = w, h
	s.filter.SetWidth(max(w-4, 10))
	s.vp.SetWidth(w)
	s.vp.SetHeight(max(h-2, 1))
	if s.follow {
		s.vp.GotoBottom()
	}
}

func (s *servicesPanel) ShortHelp() []key.Binding {
	switch {
	case s.confirm != "":
		return ConfirmKeys
	case s.filtering:
		return FilterKeys
	}
	if s.logSvc != "" {
		return []key.Binding{s.keys.Back, s.keys.Restart, s.keys.Follow}
	}
	return []key.Binding{s.keys.Open, s.keys.Restart, s.keys.Filter}
}

func (s *servicesPanel) FullHelp() [][]key.Binding {
	k := s.keys
	return [][]key.Binding{
		{k.Up, k.Down, k.Top, k.Bottom, k.PageUp, k.PageDown},
		{k.Open, k.Back, k.Restart, k.Follow, k.Filter},
	}
}

// Messages of this panel.
type (
	logsMsg struct {
		service string
		since   uint64
		logs    *api.Logs
		err     error
	}
	restartMsg struct {
		service string
		err     error
	}
)

func (s *servicesPanel) fetchLogs() tea.Cmd {
	if s.logSvc == "" || s.fetching || s.env.Client == nil {
		return nil
	}
	s.fetching = true
	svc, since, env := s.logSvc, s.next, s.env
	return func() tea.Msg {
		ctx, cancel := env.Call()
		defer cancel()
		l, err := env.Client.Logs(ctx, svc, since)
		return logsMsg{service: svc, since: since, logs: l, err: err}
	}
}

func (s *servicesPanel) restart(name string) tea.Cmd {
	env := s.env
	return func() tea.Msg {
		ctx, cancel := env.Call()
		defer cancel()
		return restartMsg{service: name, err: env.Client.Restart(ctx, name)}
	}
}

func (s *servicesPanel) Update(msg tea.Msg) (Panel, tea.Cmd) {
	switch msg := msg.(type) {
	case StatusMsg:
		if msg.Err != nil {
			return s, nil
		}
		if s.logSvc != "" && !s.daemonAt.IsZero() && !msg.Status.StartedAt.Equal(s.daemonAt) {
			// A new daemon numbers its log records afresh.
			s.appendLines("── the daemon restarted ──")
			s.next, s.dropped = 0, 0
		}
		s.daemonAt = msg.Status.StartedAt
		s.st = msg.Status
		s.applyFilter()
		return s, nil
	case TickMsg:
		return s, s.fetchLogs()
	case logsMsg:
		if msg.service != s.logSvc {
			return s, nil
		}
		s.fetching = false
		if msg.err != nil {
			s.logErr = msg.err
			return s, nil
		}
		s.logErr = nil
		if msg.since != s.next { // reset in between (daemon restarted)
			return s, s.fetchLogs()
		}
		s.dropped = msg.logs.Dropped
		var add []string
		for _, e := range msg.logs.Entries {
			add = append(add, s.fmtEntry(e))
			s.next = e.Seq + 1
		}
		s.appendLines(add...)
		return s, nil
	case restartMsg:
		if msg.err != nil {
			s.note, s.noteBad = fmt.Sprintf("restart of %s failed: %v", msg.service, msg.err), true
		} else {
			s.note, s.noteBad = fmt.Sprintf("restart of %s requested", msg.service), false
		}
		return s, nil
	case tea.KeyPressMsg:
		return s, s.key(msg)
	}
	if s.filtering {
		var cmd tea.Cmd
		s.filter, cmd = s.filter.Update(msg)
		return s, cmd
	}
	return s, nil
}

func (s *servicesPanel) key(msg tea.KeyPressMsg) tea.Cmd {
	k := s.keys
	if s.confirm != "" {
		name := s.confirm
		s.confirm = ""
		if msg.String() == "y" || msg.String() == "Y" {
			s.note, s.noteBad = fmt.Sprintf("restarting %s …", name), false
			return s.restart(name)
		}
		s.note, s.noteBad = "restart cancelled", false
		return nil
	}
	if s.filtering {
		switch msg.String() {
		case "enter":
			s.filtering = false
			s.filter.Blur()
			return nil
		case "esc":
			s.filtering = false
			s.filter.Blur()
			s.filter.SetValue("")
			s.applyFilter()
			return nil
		}
		var cmd tea.Cmd
		s.filter, cmd = s.filter.Update(msg)
		s.applyFilter()
		return cmd
	}
	if key.Matches(msg, k.Restart) {
		name := s.logSvc
		if name == "" {
			name = s.sel
		}
		if name != "" && s.env.Client != nil {
			s.confirm = name
			s.note = ""
		}
		return nil
	}
	if s.logSvc != "" {
		return s.logKey(msg)
	}
	switch {
	case key.Matches(msg, k.Up):
		s.move(s.cursor - 1)
	case key.Matches(msg, k.Down):
		s.move(s.cursor + 1)
	case key.Matches(msg, k.Top):
		s.move(0)
	case key.Matches(msg, k.Bottom):
		s.move(len(s.shown) - 1)
	case key.Matches(msg, k.PageUp):
		s.move(s.cursor - s.listRows())
	case key.Matches(msg, k.PageDown):
		s.move(s.cursor + s.listRows())
	case key.Matches(msg, k.Filter):
		s.filtering = true
		s.note = ""
		return s.filter.Focus()
	case msg.String() == "esc" && s.filter.Value() != "":
		s.filter.SetValue("")
		s.applyFilter()
	case key.Matches(msg, k.Open):
		if s.sel != "" {
			s.open(s.sel)
			return s.fetchLogs()
		}
	}
	return nil
}

func (s *servicesPanel) logKey(msg tea.KeyPressMsg) tea.Cmd {
	k := s.keys
	switch {
	case key.Matches(msg, k.Back):
		s.logSvc = ""
		s.lines = nil
		s.note = ""
	case key.Matches(msg, k.Up):
		s.vp.ScrollUp(1)
		s.follow = s.vp.AtBottom()
	case key.Matches(msg, k.Down):
		s.vp.ScrollDown(1)
		s.follow = s.vp.AtBottom()
	case key.Matches(msg, k.PageUp):
		s.vp.PageUp()
		s.follow = s.vp.AtBottom()
	case key.Matches(msg, k.PageDown):
		s.vp.PageDown()
		s.follow = s.vp.AtBottom()
	case key.Matches(msg, k.Top):
		s.vp.GotoTop()
		s.follow = false
	case key.Matches(msg, k.Bottom):
		s.vp.GotoBottom()
		s.follow = true
	case key.Matches(msg, k.Follow):
		s.follow = !s.follow
		if s.follow {
			s.vp.GotoBottom()
		}
	}
	return nil
}

func (s *servicesPanel) open(name string) {
	s.logSvc = name
	s.lines = nil
	s.next, s.dropped = 0, 0
	s.fetching = false
	s.logErr = nil
	s.follow = true
	s.note = ""
	s.vp.SetContent("")
}

func (s *servicesPanel) appendLines(add ...string) {
	if len(add) == 0 {
		return
	}
	s.lines = append(s.lines, add...)
	if len(s.lines) > maxLogLines {
		s.lines = slices.Clone(s.lines[len(s.lines)-maxLogLines:])
	}
	s.vp.SetContent(strings.Join(s.lines, "\n"))
	if s.follow {
		s.vp.GotoBottom()
	}
}

func (s *servicesPanel) fmtEntry(e api.LogEntry) string {
	var b strings.Builder
	b.WriteString(e.Time.In(s.env.Loc).Format("15:04:05.000"))
	b.WriteByte(' ')
	lvl := fmt.Sprintf("%-5s", e.Level)
	switch e.Level {
	case "ERROR":
		lvl = s.env.Theme.Bad.Render(lvl)
	case "WARN":
		lvl = s.env.Theme.Warn.Render(lvl)
	}
	b.WriteString(lvl)
	b.WriteByte(' ')
	b.WriteString(e.Msg)
	b.WriteString(e.AttrText())
	return b.String()
}

// applyFilter recomputes the shown rows and keeps the cursor on the same
// service where it still shows.
func (s *servicesPanel) applyFilter() {
	s.shown = s.shown[:0]
	if s.st != nil {
		f := strings.ToLower(s.filter.Value())
		for _, sv := range s.st.Services {
			if f == "" || strings.Contains(strings.ToLower(sv.Name), f) || strings.Contains(sv.State, f) {
				s.shown = append(s.shown, sv)
			}
		}
	}
	cur := 0
	for i, sv := range s.shown {
		if sv.Name == s.sel {
			cur = i
		}
	}
	s.move(cur)
}

func (s *servicesPanel) move(i int) {
	s.cursor, s.sel = Select(i, len(s.shown), func(k int) string { return s.shown[k].Name })
}

// listRows is how many service rows fit: the height minus the head and the
// status line.
func (s *servicesPanel) listRows() int { return max(s.height-2, 1) }

var serviceCols = []Column{{"", 1}, {"SERVICE", 16}, {"STATE", 9}, {"RESTARTS", 8}, {"UPTIME", 7}, {"HEALTH", 8}, {"LAST ERROR", 0}}

func (s *servicesPanel) View() string {
	if s.logSvc != "" {
		return s.logView()
	}
	t := s.env.Theme
	if s.st == nil {
		return " waiting for the daemon …"
	}
	base := serviceCols
	if s.width >= 110 { // room for a health probe's reason
		base = slices.Clone(serviceCols)
		base[5].Width = 28
	}
	cols := LayoutColumns(base, s.width)
	lines := []string{t.TableHead(cols, s.width)}
	rows := s.listRows()
	first := 0
	if s.cursor >= rows {
		first = s.cursor - rows + 1
	}
	for i := first; i < len(s.shown) && i < first+rows; i++ {
		sv := s.shown[i]
		health := sv.Health
		if health == "" {
			health = "-"
		}
		if i == s.cursor {
			lines = append(lines, t.Selected.Render(Row(cols, s.width, ">", sv.Name, sv.State, fmt.Sprint(sv.Restarts), fmtUptime(sv.UptimeSeconds), health, FirstLine(sv.LastError))))
			continue
		}
		lines = append(lines, Row(cols, s.width, "", sv.Name, t.state(sv.State), fmt.Sprint(sv.Restarts), fmtUptime(sv.UptimeSeconds), health, FirstLine(sv.LastError)))
	}
	if len(s.shown) == 0 {
		lines = append(lines, t.Dim.Render(" no service matches the filter"))
	}
	for len(lines) < s.height-1 {
		lines = append(lines, "")
	}
	return strings.Join(append(lines, s.statusLine()), "\n")
}

func (s *servicesPanel) logView() string {
	t := s.env.Theme
	state := "?"
	restarts := 0
	if s.st != nil {
		for _, sv := range s.st.Services {
			if sv.Name == s.logSvc {
				state, restarts = sv.State, sv.Restarts
			}
		}
	}
	mode := "paused"
	if s.follow {
		mode = "following"
	}
	head := fmt.Sprintf(" %s  %s · restarts %d · %d records · %s", t.Title.Render("Log of "+s.logSvc), t.state(state), restarts, len(s.lines), mode)
	if s.dropped > 0 {
		head += fmt.Sprintf(" · %d older dropped", s.dropped)
	}
	body := s.vp.View()
	if len(s.lines) == 0 {
		body = t.Dim.Render(" (no records yet)")
	}
	bl := strings.Split(body, "\n")
	for len(bl) < s.vp.Height() {
		bl = append(bl, "")
	}
	return strings.Join(append(append([]string{Clip(head, s.width)}, bl...), s.statusLine()), "\n")
}

// statusLine is the panel's last line: a prompt, the filter, or a result.
func (s *servicesPanel) statusLine() string {
	t := s.env.Theme
	switch {
	case s.confirm != "":
		return t.Banner.Render(Fit(fmt.Sprintf(" Restart %s? [y/N] ", s.confirm), min(s.width, 40)))
	case s.filtering:
		return s.filter.View()
	case s.note != "":
		if s.noteBad {
			return t.Bad.Render(Clip(" "+s.note, s.width))
		}
		return t.Note.Render(Clip(" "+s.note, s.width))
	case s.logSvc != "" && s.logErr != nil:
		return t.Bad.Render(Clip(" log: "+FirstLine(s.logErr.Error()), s.width))
	case s.filter.Value() != "":
		return t.Dim.Render(Clip(fmt.Sprintf(" filter %q: %d of %d (esc clears)", s.filter.Value(), len(s.shown), len(s.st.Services)), s.width))
	}
	return ""
}
