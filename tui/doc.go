// Package tui is the wirebox console: one bubbletea program that shows and
// drives the appliance through the control API only (internal/api), locally
// on the unix socket or remotely over TLS.
//
// The console is a header with the screen tabs, an optional banner (daemon
// unreachable), the active panel and a help bar. Screens are Panels
// (panel.go): Overview (overview.go), Services with log follow and restart
// (services.go), Ports (ports.go, when the daemon runs the "core" service)
// and Capture (capture.go, when it runs "capture"). Each subsystem adds its
// own panel file and one line in DefaultPanels, and a panel shows only when
// its subsystem exists on the daemon (Panel.Available).
//
// All I/O happens in tea.Cmds: Update never blocks. The status is polled
// every Interval; a failed poll shows a banner and the next tick simply tries
// again, so the console reconnects by itself when the daemon comes back.
//
// # Adding a panel
//
// A subsystem's screen (mirror, rmon, ha, ...) is one file in this package,
// modelled on capture.go:
//
//	type mirrorPanel struct{ env *Env; width, height int; sessions []api.MirrorSession }
//
//	func newMirrorPanel(env *Env) *mirrorPanel { return &mirrorPanel{env: env} }
//	func (p *mirrorPanel) Title() string { return "Mirror" }
//	// Shown only when the daemon runs the subsystem.
//	func (p *mirrorPanel) Available(st *api.Status) bool { return HasService(st, "mirror") }
//	func (p *mirrorPanel) Update(msg tea.Msg) (Panel, tea.Cmd) {
//		switch msg := msg.(type) {
//		case TickMsg: // poll, in a tea.Cmd
//			return p, func() tea.Msg { ctx, cancel := p.env.Call(); defer cancel(); ... }
//		case mirrorMsg: // the result
//		case tea.KeyPressMsg: // the panel's own keys
//		}
//		return p, nil
//	}
//	// plus Init, View, SetSize, ShortHelp, FullHelp, Capturing
//
// and one line, newMirrorPanel(env), in DefaultPanels. The root gives it a tab and a
// number key, the help bar and `?` list its keys, and its view gets the
// screen between the header (and banner) and the help bar.
//
// On the appliance the console runs on a serial line as the default shell:
// FallbackSize and EnsureTTYSize give it a size when the line reports 0x0,
// the Mono theme serves vt100 terminals, and ReleaseTTY (Linux) lets a shell
// take over the line after it exits.
package tui
