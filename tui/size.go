package tui

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"
)

func visibleWidth(s string) int { return lipgloss.Width(s) }

// Size is a terminal size in cells.
type Size struct{ Cols, Rows int }

// DefaultSize is assumed when nothing better is known: a vt100.
var DefaultSize = Size{Cols: 80, Rows: 24}

// SizeEnv names the environment variable that sets the console size
// ("COLSxROWS"), and SizeParam the kernel command line parameter
// (wirebox.console_size=COLSxROWS) the image may set instead.
const (
	SizeEnv   = "WIREBOX_CONSOLE_SIZE"
	SizeParam = "wirebox.console_size"
)

// ParseSize parses "COLSxROWS", such as "132x43".
func ParseSize(s string) (Size, error) {
	c, r, ok := strings.Cut(strings.ToLower(strings.TrimSpace(s)), "x")
	if !ok {
		return Size{}, fmt.Errorf("console size %q: want COLSxROWS, such as 80x24", s)
	}
	cols, err1 := strconv.Atoi(c)
	rows, err2 := strconv.Atoi(r)
	if err1 != nil || err2 != nil || cols < 20 || rows < 5 || cols > 1000 || rows > 1000 {
		return Size{}, fmt.Errorf("console size %q: want COLSxROWS with 20-1000 columns and 5-1000 rows", s)
	}
	return Size{Cols: cols, Rows: rows}, nil
}

// FallbackSize is the size to use when the terminal reports 0x0: the
// WIREBOX_CONSOLE_SIZE variable of environ (nil: the process environment),
// else wirebox.console_size= on /proc/cmdline, else 80x24. Invalid values
// are ignored, since a console that does not start helps no one.
func FallbackSize(environ []string) Size {
	if environ == nil {
		environ = os.Environ()
	}
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, SizeEnv+"="); ok {
			if s, err := ParseSize(v); err == nil {
				return s
			}
		}
	}
	if b, err := os.ReadFile("/proc/cmdline"); err == nil {
		if s, ok := sizeFromCmdline(string(b)); ok {
			return s
		}
	}
	return DefaultSize
}

func sizeFromCmdline(cmdline string) (Size, bool) {
	for _, f := range strings.Fields(cmdline) {
		if v, ok := strings.CutPrefix(f, SizeParam+"="); ok {
			if s, err := ParseSize(v); err == nil {
				return s, true
			}
		}
	}
	return Size{}, false
}
