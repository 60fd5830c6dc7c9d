package tui

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"
)

// fmtUptime is a compact duration: 42s, 5m07s, 3h12m, 4d03h.
func fmtUptime(sec float64) string {
	if sec <= 0 {
		return "-"
	}
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d/time.Second))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%dd%02dh", int(d/(24*time.Hour)), int(d%(24*time.Hour)/time.Hour))
}

// Fit pads or truncates a (possibly styled) string to exactly w cells.
func Fit(s string, w int) string {
	if n := lipgloss.Width(s); w > 0 && n < w {
		return s + strings.Repeat(" ", w-n)
	}
	return Clip(s, w)
}

// Clip truncates s to at most w cells without padding.
func Clip(s string, w int) string {
	if w <= 0 {
		return ""
	}
	if lipgloss.Width(s) > w {
		return ansi.Truncate(s, w, "…")
	}
	return s
}

// FirstLine keeps the first line of a multi-line error.
func FirstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " …"
	}
	return s
}

// Column is one column of a plain table.
type Column struct {
	Title string
	Width int // 0: takes the rest
}

// LayoutColumns gives the flexible column what the fixed ones leave of w.
func LayoutColumns(cols []Column, w int) []Column {
	out := append([]Column(nil), cols...)
	fixed := 0
	for _, c := range out {
		fixed += c.Width + 1
	}
	for i := range out {
		if out[i].Width == 0 {
			out[i].Width = max(w-fixed, 8)
		}
	}
	return out
}

// Row renders cells into the column widths, one space apart, clipped to w.
func Row(cols []Column, w int, cells ...string) string {
	var b strings.Builder
	for i, c := range cols {
		if i > 0 {
			b.WriteByte(' ')
		}
		cell := ""
		if i < len(cells) {
			cell = cells[i]
		}
		b.WriteString(Fit(cell, c.Width))
	}
	return Fit(strings.TrimRight(b.String(), " "), w)
}

// TableHead is a table's header row: the titles of cols (laid out for
// width w) in the Title style.
func (t Theme) TableHead(cols []Column, w int) string {
	titles := make([]string, len(cols))
	for i, c := range cols {
		titles[i] = c.Title
	}
	return t.Title.Render(Row(cols, w, titles...))
}

// FmtCount is a compact count: 950, 12.3k, 4.5M.
func FmtCount(v float64) string {
	switch {
	case v < 1000:
		return strconv.FormatFloat(v, 'f', 0, 64)
	case v < 1e6:
		return strconv.FormatFloat(v/1e3, 'f', 1, 64) + "k"
	case v < 1e9:
		return strconv.FormatFloat(v/1e6, 'f', 1, 64) + "M"
	}
	return strconv.FormatFloat(v/1e9, 'f', 1, 64) + "G"
}

// FmtBytes is a compact size: 512B, 3.4K, 12.0M, 1.2G (powers of 1024).
func FmtBytes(b uint64) string {
	const unit = 1024
	if b < unit {
		return strconv.FormatUint(b, 10) + "B"
	}
	div, exp := uint64(unit), 0
	for n := b / unit; n >= unit; n /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f%c", float64(b)/float64(div), "KMGTPE"[exp])
}
