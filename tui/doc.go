// Package tui is the wirebox console: one bubbletea program that shows and
// drives the appliance through the control API only (internal/api), locally
// on the unix socket or remotely over TLS.
//
// The console is a header with the screen tabs, an optional banner (daemon
// unreachable, action results), the active panel and a help bar. Screens are
// Panels (panel.go); each subsystem adds its own panel file and one line in
// DefaultPanels, and a panel shows only when its subsystem exists on the
// daemon (Panel.Available).
//
// All I/O happens in tea.Cmds: Update never blocks. The status is polled
// every Interval; a failed poll shows a banner and the next tick simply tries
// again, so the console reconnects by itself when the daemon comes back.
//
// On the appliance the console runs on a serial line as the default shell:
// FallbackSize and EnsureTTYSize give it a size when the line reports 0x0,
// the Mono theme serves vt100 terminals, and ReleaseTTY (Linux) lets a shell
// take over the line after it exits.
package tui
