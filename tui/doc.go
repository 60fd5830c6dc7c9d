// Package tui is the wirebox console: one bubbletea program that shows and
// drives the appliance through the control API only (internal/api), locally
// on the unix socket or remotely over TLS.
//
// The console is a header with the screen tabs, an optional banner (daemon
// unreachable), the active panel and a help bar. Screens are Panels
// (panel.go). This package is the framework and the core's own screens
// (CorePanels): Overview (overview.go), Services with log follow and
// restart (services.go) and Ports (ports.go, when the daemon runs the
// "core" service). A subsystem's screens live in the subsystem's folder
// (capture/captureui) and come through its subsys.Subsystem.Panels, which
// the CLI passes to Run; this package never imports a subsystem. A panel
// shows only when its subsystem exists on the daemon (Panel.Available).
//
// All I/O happens in tea.Cmds: Update never blocks. The status is polled
// every Interval; a failed poll shows a banner and the next tick simply tries
// again, so the console reconnects by itself when the daemon comes back.
//
// # Adding a panel
//
// A subsystem's screen (mirror, rmon, ha, ...) is a package in the
// subsystem's folder, modelled on capture/captureui:
//
//	type mirrorPanel struct{ env *tui.Env; width, height int; fetching bool; sessions []api.MirrorSession }
//
//	func Panels(env *tui.Env) []tui.Panel { return []tui.Panel{&mirrorPanel{env: env}} }
//	func (p *mirrorPanel) Title() string { return "Mirror" }
//	// Shown only when the daemon runs the subsystem.
//	func (p *mirrorPanel) Available(st *api.Status) bool { return tui.HasService(st, "mirror") }
//	func (p *mirrorPanel) Update(msg tea.Msg) (tui.Panel, tea.Cmd) {
//		switch msg := msg.(type) {
//		case tui.TickMsg: // poll, in a tea.Cmd
//			return p, tui.Fetch(p.env, &p.fetching, api.PathMirror, func(v []api.MirrorSession, at time.Time, err error) tea.Msg { ... })
//		case mirrorMsg: // the result
//		case tea.KeyPressMsg: // the panel's own keys
//		}
//		return p, nil
//	}
//	// plus Init, View, SetSize, ShortHelp, FullHelp, Capturing
//
// and Panels: mirrorui.Panels in the subsystem's subsys.Subsystem. The root
// gives it a tab and a number key, the help bar and `?` list its keys, and
// its view gets the screen between the header (and banner) and the help
// bar. Fit, Clip, Row, LayoutColumns, FmtBytes and the Theme draw it like
// the core's screens.
//
// On the appliance the console runs on a serial line as the default shell:
// FallbackSize and EnsureTTYSize give it a size when the line reports 0x0,
// the Mono theme serves vt100 terminals, and ReleaseTTY (Linux) lets a shell
// take over the line after it exits.
package tui
