//go:build !linux

package tui

const releaseHelperEnv = "WIREBOX_TUI_RELEASE_HELPER"

func releaseHelper() int { return 0 }
