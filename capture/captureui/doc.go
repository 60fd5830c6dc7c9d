// Package captureui is the capture subsystem's console screen: capture
// sessions with live counters, a form that starts one (showing the
// daemon's filter and match errors under the field) and stop. It is built
// on the console framework (tui) and reaches the console through
// capturesvc.Subsystem.Panels; tui does not know it.
package captureui

import "github.com/wirebox/wirebox/tui"

// Panels are the capture subsystem's console screens.
func Panels(env *tui.Env) []tui.Panel { return []tui.Panel{newCapturePanel(env)} }
