package captureui

import (
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/wirebox/wirebox/internal/api"
	"github.com/wirebox/wirebox/tui"
)

// captureService is the supervised service behind /v1/captures; the panel
// shows only while the daemon runs it.
const captureService = "capture"

// capturePanel lists capture sessions with live counters, starts one with a
// small form (ports, filter, match, output directory) that shows the
// daemon's filter and match errors under the field, and stops one.
type capturePanel struct {
	env      *tui.Env
	sessions []api.CaptureSession
	rates    map[string]float64 // packets per second, from the last two polls
	prev     map[string]uint64
	prevAt   time.Time
	fetching bool
	loaded   bool
	err      error
	cursor   int
	sel      string
	want     string // a session just started, to select once it is listed

	form     *captureForm
	starting bool
	confirm  string // session awaiting y/n for a stop
	note     string
	noteBad  bool

	width, height int
	keys          captureKeys
}

type captureKeys struct {
	Up, Down, New, Stop   key.Binding
	Field, Submit, Cancel key.Binding
}

func newCaptureKeys() captureKeys {
	return captureKeys{
		Up:     key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up")),
		Down:   key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down")),
		New:    key.NewBinding(key.WithKeys("n"), key.WithHelp("n", "new capture")),
		Stop:   key.NewBinding(key.WithKeys("s", "x"), key.WithHelp("s", "stop capture")),
		Field:  key.NewBinding(key.WithKeys("tab", "shift+tab", "up", "down"), key.WithHelp("tab/↑↓", "field")),
		Submit: key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "start (on the last field)")),
		Cancel: key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "cancel")),
	}
}

func newCapturePanel(env *tui.Env) *capturePanel {
	return &capturePanel{env: env, keys: newCaptureKeys(), rates: map[string]float64{}, prev: map[string]uint64{}}
}

func (c *capturePanel) Title() string                 { return "Capture" }
func (c *capturePanel) Available(st *api.Status) bool { return tui.HasService(st, captureService) }
func (c *capturePanel) Init() tea.Cmd                 { return nil }
func (c *capturePanel) SetSize(w, h int)              { c.width, c.height = w, h; c.form.setWidth(w) }
func (c *capturePanel) Capturing() bool               { return c.form != nil || c.confirm != "" }

func (c *capturePanel) ShortHelp() []key.Binding {
	if c.confirm != "" {
		return tui.ConfirmKeys
	}
	if c.form != nil {
		return []key.Binding{c.keys.Field, c.keys.Submit, c.keys.Cancel}
	}
	return []key.Binding{c.keys.New, c.keys.Stop}
}

func (c *capturePanel) FullHelp() [][]key.Binding {
	k := c.keys
	return [][]key.Binding{{k.Up, k.Down, k.New, k.Stop}, {k.Field, k.Submit, k.Cancel}}
}

type (
	capturesMsg struct {
		list []api.CaptureSession
		at   time.Time
		err  error
	}
	captureStartedMsg struct {
		st  api.CaptureSession
		err error
	}
	captureStoppedMsg struct {
		st  api.CaptureSession
		err error
	}
)

func (c *capturePanel) fetch() tea.Cmd {
	return tui.Fetch(c.env, &c.fetching, api.PathCaptures, func(list []api.CaptureSession, at time.Time, err error) tea.Msg {
		return capturesMsg{list: list, at: at, err: err}
	})
}

func (c *capturePanel) Update(msg tea.Msg) (tui.Panel, tea.Cmd) {
	switch msg := msg.(type) {
	case tui.TickMsg:
		return c, c.fetch()
	case tui.StatusMsg:
		if !c.loaded && c.Available(msg.Status) {
			return c, c.fetch() // first look, without waiting for a tick
		}
		return c, nil
	case capturesMsg:
		c.fetching = false
		c.loaded = true
		c.err = msg.err
		if msg.err == nil {
			c.setSessions(msg.list, msg.at)
		}
		return c, nil
	case captureStartedMsg:
		c.starting = false
		if msg.err != nil {
			if c.form != nil {
				c.form.setError(msg.err)
			}
			return c, nil
		}
		c.form = nil
		c.sel = msg.st.ID
		// A list fetched before the start may still arrive without it: keep
		// wanting it selected until a list has it.
		c.want = msg.st.ID
		c.note, c.noteBad = fmt.Sprintf("capture %s started on %s", msg.st.ID, strings.Join(msg.st.Config.Ports, ",")), false
		return c, c.fetch()
	case captureStoppedMsg:
		if msg.err != nil {
			c.note, c.noteBad = "stop failed: "+tui.FirstLine(msg.err.Error()), true
			return c, nil
		}
		c.note, c.noteBad = fmt.Sprintf("capture %s stopped: %d packets in %d files", msg.st.ID, msg.st.Packets, msg.st.Files), false
		return c, c.fetch()
	case tea.KeyPressMsg:
		return c, c.key(msg)
	}
	if c.form != nil {
		return c, c.form.update(msg)
	}
	return c, nil
}

func (c *capturePanel) setSessions(list []api.CaptureSession, at time.Time) {
	dt := at.Sub(c.prevAt).Seconds()
	for _, s := range list {
		if p, ok := c.prev[s.ID]; ok && dt > 0 && s.Packets >= p {
			c.rates[s.ID] = float64(s.Packets-p) / dt
		}
	}
	c.prev = map[string]uint64{}
	for _, s := range list {
		c.prev[s.ID] = s.Packets
	}
	c.prevAt = at
	c.sessions = list
	cur := 0
	for i, s := range list {
		if s.ID == c.sel {
			cur = i
		}
	}
	for i, s := range list {
		if c.want != "" && s.ID == c.want {
			cur, c.want = i, ""
		}
	}
	sel := c.sel
	c.move(cur)
	if c.want != "" {
		c.sel = sel // still waiting for the new session to be listed
	}
}

func (c *capturePanel) move(i int) {
	c.cursor, c.sel = tui.Select(i, len(c.sessions), func(k int) string { return c.sessions[k].ID })
}

func (c *capturePanel) key(msg tea.KeyPressMsg) tea.Cmd {
	if c.confirm != "" {
		id := c.confirm
		c.confirm = ""
		if msg.String() != "y" && msg.String() != "Y" {
			c.note, c.noteBad = "stop cancelled", false
			return nil
		}
		c.note, c.noteBad = "stopping "+id+" …", false
		return tui.Post(c.env, api.CaptureStopPath(id), struct{}{}, func(st api.CaptureSession, err error) tea.Msg {
			return captureStoppedMsg{st: st, err: err}
		})
	}
	if c.form != nil {
		return c.formKey(msg)
	}
	switch {
	case key.Matches(msg, c.keys.Up):
		c.move(c.cursor - 1)
	case key.Matches(msg, c.keys.Down):
		c.move(c.cursor + 1)
	case key.Matches(msg, c.keys.New):
		if c.env.Client != nil {
			c.form = newCaptureForm(c.env.Theme, c.width)
			c.note = ""
			return c.form.focus(0)
		}
	case key.Matches(msg, c.keys.Stop):
		if c.sel != "" && c.env.Client != nil {
			c.confirm = c.sel
			c.note = ""
		}
	}
	return nil
}

func (c *capturePanel) formKey(msg tea.KeyPressMsg) tea.Cmd {
	f := c.form
	switch msg.String() {
	case "esc":
		c.form = nil
		c.note, c.noteBad = "new capture cancelled", false
		return nil
	case "tab", "down":
		return f.focus(f.at + 1)
	case "shift+tab", "up":
		return f.focus(f.at - 1)
	case "enter", "ctrl+s":
		if msg.String() == "enter" && f.at < len(f.fields)-1 {
			return f.focus(f.at + 1)
		}
		if c.starting {
			return nil
		}
		req, err := f.request()
		if err != nil {
			f.setError(err)
			return nil
		}
		f.clearErrors()
		c.starting = true
		return tui.Post(c.env, api.PathCaptures, req, func(st api.CaptureSession, err error) tea.Msg {
			return captureStartedMsg{st: st, err: err}
		})
	}
	return f.update(msg)
}

var captureCols = []tui.Column{{Title: "", Width: 1}, {Title: "ID", Width: 4}, {Title: "PORTS", Width: 8}, {Title: "STATE", Width: 7}, {Title: "PACKETS", Width: 9}, {Title: "PKT/S", Width: 6}, {Title: "BYTES", Width: 6}, {Title: "DROPS", Width: 6}, {Title: "FILES", Width: 5}, {Title: "FILE", Width: 0}}

func (c *capturePanel) View() string {
	if c.form != nil {
		return c.form.view(c.height, c.starting)
	}
	t := c.env.Theme
	cols := tui.LayoutColumns(captureCols, c.width)
	lines := []string{t.TableHead(cols, c.width)}
	rows := max(c.height-3, 1)
	first := 0
	if c.cursor >= rows {
		first = c.cursor - rows + 1
	}
	for i := first; i < len(c.sessions) && i < first+rows; i++ {
		s := c.sessions[i]
		state, styled := "running", t.OK.Render("running")
		if !s.Running {
			state, styled = "stopped", "stopped"
		}
		if s.Error != "" {
			state, styled = "error", t.Bad.Render("error")
		}
		drops := s.DroppedQueue + s.DroppedKernel + s.DroppedWrite
		rate := "-"
		if r, ok := c.rates[s.ID]; ok && s.Running {
			rate = tui.FmtCount(r)
		}
		cells := []string{"", s.ID, strings.Join(s.Config.Ports, ","), styled, strconv.FormatUint(s.Packets, 10), rate,
			tui.FmtBytes(s.Bytes), strconv.FormatUint(drops, 10), strconv.FormatUint(s.Files, 10), filepath.Base(s.CurrentFile)}
		if s.CurrentFile == "" {
			cells[9] = "-"
		}
		if i == c.cursor {
			cells[0], cells[3] = ">", state
			lines = append(lines, t.Selected.Render(tui.Row(cols, c.width, cells...)))
			continue
		}
		lines = append(lines, tui.Row(cols, c.width, cells...))
	}
	switch {
	case !c.loaded:
		lines = append(lines, t.Dim.Render(" loading capture sessions …"))
	case len(c.sessions) == 0:
		lines = append(lines, t.Dim.Render(" no capture sessions; n starts one"))
	}
	if s := c.selected(); s != nil {
		// Two lines on the selected session: what it captures, and its
		// losses or its error.
		what := fmt.Sprintf(" %s: filter %q", s.ID, s.Config.Filter)
		if s.Config.Match != "" {
			what += fmt.Sprintf(" · match %q", s.Config.Match)
		}
		what += " → " + s.Config.OutDir
		how := t.Dim.Render(tui.Clip(fmt.Sprintf(" drops: queue %d · kernel %d · write %d · files kept %d", s.DroppedQueue, s.DroppedKernel, s.DroppedWrite, s.FilesKept), c.width))
		if s.Error != "" {
			how = t.Bad.Render(tui.Clip(" error: "+tui.FirstLine(s.Error), c.width))
		}
		for len(lines) < c.height-3 {
			lines = append(lines, "")
		}
		lines = append(lines, t.Dim.Render(tui.Clip(what, c.width)), how)
	}
	for len(lines) < c.height-1 {
		lines = append(lines, "")
	}
	return strings.Join(append(lines, c.statusLine()), "\n")
}

func (c *capturePanel) selected() *api.CaptureSession {
	for i := range c.sessions {
		if c.sessions[i].ID == c.sel {
			return &c.sessions[i]
		}
	}
	return nil
}

func (c *capturePanel) statusLine() string {
	t := c.env.Theme
	switch {
	case c.confirm != "":
		return t.Banner.Render(tui.Fit(fmt.Sprintf(" Stop capture %s? [y/N] ", c.confirm), min(c.width, 40)))
	case c.note != "":
		if c.noteBad {
			return t.Bad.Render(tui.Clip(" "+c.note, c.width))
		}
		return t.Note.Render(tui.Clip(" "+c.note, c.width))
	case c.err != nil:
		return t.Bad.Render(tui.Clip(" captures: "+tui.FirstLine(c.err.Error()), c.width))
	}
	return ""
}

// captureForm is the new-capture form.
type captureForm struct {
	theme  tui.Theme
	fields []textinput.Model
	labels []string
	errs   []string // per field, from the daemon
	errCol []int    // 1-based column of the error in the field, 0 if none
	other  string   // an error that belongs to no field
	at     int
}

const (
	fieldPorts = iota
	fieldFilter
	fieldMatch
	fieldOut
)

func newCaptureForm(theme tui.Theme, width int) *captureForm {
	f := &captureForm{theme: theme}
	add := func(label, placeholder string) {
		ti := textinput.New()
		ti.Prompt = ""
		ti.Placeholder = placeholder
		ti.CharLimit = 512
		st := ti.Styles()
		st.Cursor.Blink = false
		if theme.Mono {
			st.Focused.Placeholder, st.Blurred.Placeholder = theme.Dim, theme.Dim
			st.Blurred.Text = theme.Dim
		}
		ti.SetStyles(st)
		f.fields = append(f.fields, ti)
		f.labels = append(f.labels, label)
	}
	add("Ports", "wb0 (comma-separated)")
	add("Filter", "tcpdump syntax, e.g. tcp port 443 (empty: everything)")
	add("Match", "payload regex (empty: none)")
	add("Output", "directory on the appliance, e.g. /data/captures")
	f.errs = make([]string, len(f.fields))
	f.errCol = make([]int, len(f.fields))
	f.setWidth(width)
	return f
}

func (f *captureForm) setWidth(w int) {
	if f == nil {
		return
	}
	for i := range f.fields {
		f.fields[i].SetWidth(max(w-14, 10))
	}
}

func (f *captureForm) focus(i int) tea.Cmd {
	i = (i + len(f.fields)) % len(f.fields)
	f.fields[f.at].Blur()
	f.at = i
	return f.fields[i].Focus()
}

func (f *captureForm) update(msg tea.Msg) tea.Cmd {
	var cmd tea.Cmd
	f.fields[f.at], cmd = f.fields[f.at].Update(msg)
	return cmd
}

func (f *captureForm) request() (api.CaptureStart, error) {
	var ports []string
	for _, p := range strings.Split(f.fields[fieldPorts].Value(), ",") {
		if p = strings.TrimSpace(p); p != "" {
			ports = append(ports, p)
		}
	}
	if len(ports) == 0 {
		return api.CaptureStart{}, fmt.Errorf("port: give at least one port")
	}
	return api.CaptureStart{
		Ports:  ports,
		Filter: strings.TrimSpace(f.fields[fieldFilter].Value()),
		Match:  f.fields[fieldMatch].Value(),
		OutDir: strings.TrimSpace(f.fields[fieldOut].Value()),
	}, nil
}

func (f *captureForm) clearErrors() {
	for i := range f.errs {
		f.errs[i], f.errCol[i] = "", 0
	}
	f.other = ""
}

// errColumn finds "column N:" in the daemon's filter and match errors.
var errColumn = regexp.MustCompile(`^(filter|match): column (\d+): (.*)$`)

// setError puts the daemon's answer under the field it concerns and moves
// the focus there.
func (f *captureForm) setError(err error) {
	f.clearErrors()
	msg := err.Error()
	var he *api.HTTPError
	if errors.As(err, &he) {
		msg = he.Msg
	}
	field := -1
	col := 0
	if m := errColumn.FindStringSubmatch(msg); m != nil {
		col, _ = strconv.Atoi(m[2])
		msg = m[3]
		field = fieldFilter
		if m[1] == "match" {
			field = fieldMatch
		}
	} else {
		switch {
		case strings.HasPrefix(msg, "filter"):
			field = fieldFilter
		case strings.HasPrefix(msg, "match"):
			field = fieldMatch
		case strings.Contains(msg, "port"):
			field = fieldPorts
		case strings.Contains(msg, "output directory"), strings.Contains(msg, "no output"):
			field = fieldOut
		}
	}
	if field < 0 {
		f.other = msg
		return
	}
	f.errs[field], f.errCol[field] = msg, col
	f.focus(field)
}

func (f *captureForm) view(height int, starting bool) string {
	t := f.theme
	lines := []string{t.Title.Render(" New capture"), ""}
	for i, ti := range f.fields {
		label := fmt.Sprintf(" %-8s", f.labels[i])
		marker := "  "
		if i == f.at {
			marker = "> "
			label = t.Key.Render(label)
		}
		lines = append(lines, marker+label+" "+ti.View())
		if f.errs[i] != "" {
			prefix := strings.Repeat(" ", 12)
			if f.errCol[i] > 0 {
				lines = append(lines, prefix+strings.Repeat(" ", f.errCol[i]-1)+t.Bad.Render("^"))
			}
			lines = append(lines, prefix+t.Bad.Render(f.errs[i]))
		}
	}
	lines = append(lines, "")
	switch {
	case starting:
		lines = append(lines, t.Note.Render(" starting …"))
	case f.other != "":
		lines = append(lines, t.Bad.Render(" "+f.other))
	default:
		lines = append(lines, t.Dim.Render(" enter on the last field starts the capture; esc cancels"))
	}
	_ = height
	return strings.Join(lines, "\n")
}
