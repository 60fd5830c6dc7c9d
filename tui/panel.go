package tui

import (
	"context"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/wirebox/wirebox/internal/api"
)

// Panel is one screen of the console. A subsystem's panel lives in the
// subsystem's folder (capture/captureui) and reaches the console through the
// subsystem's subsys.Subsystem.Panels; this package never imports it.
//
// The root model sends every panel the messages that concern all of them
// (StatusMsg, TickMsg, tea.WindowSizeMsg through SetSize, and every panel's
// result messages) and sends keys only to the active panel. Panels do their
// I/O in the tea.Cmds they return, through Env.Client, and receive the
// results as their own messages; a panel polls on TickMsg only what it needs
// while it is not shown.
type Panel interface {
	// Title names the panel in the tab bar.
	Title() string
	// Available reports whether the daemon runs the subsystem this panel
	// shows; st is nil until the first status arrives. Unavailable panels
	// have no tab.
	Available(st *api.Status) bool
	Init() tea.Cmd
	Update(msg tea.Msg) (Panel, tea.Cmd)
	// View renders exactly the size last given to SetSize (or less).
	View() string
	SetSize(width, height int)
	// ShortHelp and FullHelp list the panel's keys for the help bar and `?`.
	ShortHelp() []key.Binding
	FullHelp() [][]key.Binding
	// Capturing reports whether the panel is taking text or a confirmation,
	// in which case the root passes every key to it, even q and digits.
	Capturing() bool
}

// Env is what panels share: the API client, the clock, the look.
type Env struct {
	Client *api.Client
	// Context ends when the console quits; Timeout bounds one request.
	Context context.Context
	Timeout time.Duration
	Theme   Theme
	// Now is the clock; golden tests pin it.
	Now func() time.Time
	// Loc is the zone log times are shown in.
	Loc *time.Location
	// Where names the daemon (socket path or host).
	Where string
}

// CorePanels returns the console's own screens in tab order: the
// appliance, its services and the core's ports. Subsystems add theirs
// after these (Options.Panels; the CLI takes them from the subsystems'
// table).
func CorePanels(env *Env) []Panel {
	ports := newPortFeed() // polled by the Ports panel, shown by both
	return []Panel{
		newOverview(env, ports),
		newServices(env),
		newPortsPanel(env, ports),
	}
}

// WithPanels returns a panel builder: the core's screens, then each of
// extra's.
func WithPanels(extra ...func(*Env) []Panel) func(*Env) []Panel {
	return func(env *Env) []Panel {
		ps := CorePanels(env)
		for _, x := range extra {
			ps = append(ps, x(env)...)
		}
		return ps
	}
}

// StatusMsg carries the result of one GET /v1/status poll.
type StatusMsg struct {
	Status *api.Status
	// Appliance is GET /v1/appliance (management NIC, config source,
	// daemon restarts); nil when the daemon does not serve it.
	Appliance *api.Appliance
	Err       error
	At        time.Time
}

// TickMsg asks the panels to refresh whatever they follow.
type TickMsg struct{ At time.Time }

// call returns a context for one API request.
func (e *Env) Call() (context.Context, context.CancelFunc) {
	return context.WithTimeout(e.Context, e.Timeout)
}

// HasService reports whether the daemon runs a service of that name; panels
// use it in Available.
func HasService(st *api.Status, name string) bool {
	if st == nil {
		return false
	}
	for _, s := range st.Services {
		if s.Name == name {
			return true
		}
	}
	return false
}

// Fetch returns a command that GETs path into a T and hands the result,
// stamped with the clock, to msg; nil while one is still out (*busy) or
// without a client. The panel clears *busy when the message arrives.
func Fetch[T any](env *Env, busy *bool, path string, msg func(v T, at time.Time, err error) tea.Msg) tea.Cmd {
	if *busy || env.Client == nil {
		return nil
	}
	*busy = true
	return func() tea.Msg {
		ctx, cancel := env.Call()
		defer cancel()
		var v T
		err := env.Client.Get(ctx, path, &v)
		return msg(v, env.Now(), err)
	}
}

// Post returns a command that POSTs in (as JSON) to path and hands the
// answer, decoded into a T, to msg: a panel's action (start, stop,
// register). The caller checks that there is a client.
func Post[T any](env *Env, path string, in any, msg func(v T, err error) tea.Msg) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := env.Call()
		defer cancel()
		var v T
		err := env.Client.Post(ctx, path, in, &v)
		return msg(v, err)
	}
}

// UpKey and DownKey move a screen's cursor through its rows.
var (
	UpKey   = key.NewBinding(key.WithKeys("up", "k"), key.WithHelp("↑/k", "up"))
	DownKey = key.NewBinding(key.WithKeys("down", "j"), key.WithHelp("↓/j", "down"))
)

// Step is the cursor move msg asks for: -1 up, +1 down, 0 for other keys.
func Step(msg tea.KeyPressMsg) int {
	switch {
	case key.Matches(msg, UpKey):
		return -1
	case key.Matches(msg, DownKey):
		return 1
	}
	return 0
}

// Find is the row of n whose key (key(i)) is name, or 0 when none is: a
// cursor stays on its row by name when a refresh reorders the rows.
func Find(n int, key func(int) string, name string) int {
	for i := range n {
		if key(i) == name {
			return i
		}
	}
	return 0
}

// Select clamps a cursor i to n rows and returns it with the key of the
// row there (key(i)); with no rows, 0 and "".
func Select(i, n int, key func(int) string) (int, string) {
	if n == 0 {
		return 0, ""
	}
	i = min(max(i, 0), n-1)
	return i, key(i)
}

// Bindings shown while a panel asks a question or takes text.
var (
	ConfirmKeys = []key.Binding{
		key.NewBinding(key.WithKeys("y"), key.WithHelp("y", "yes")),
		key.NewBinding(key.WithKeys("n"), key.WithHelp("any other key", "no")),
	}
	FilterKeys = []key.Binding{
		key.NewBinding(key.WithKeys("enter"), key.WithHelp("enter", "keep filter")),
		key.NewBinding(key.WithKeys("esc"), key.WithHelp("esc", "clear filter")),
	}
)
