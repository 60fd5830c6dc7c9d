package tui

import (
	"testing"
)

func TestParseSize(t *testing.T) {
	good := map[string]Size{"80x24": {80, 24}, "132X43": {132, 43}, " 100x30\n": {100, 30}, "20x5": {20, 5}, "1000x1000": {1000, 1000}}
	for in, want := range good {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "80", "80x", "x24", "0x0", "19x24", "80x4", "1001x24", "-80x24", "80x24x1", "eightyx24", "80 x 24"} {
		if s, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %v, want an error", in, s)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"80x24", "132x43", "0x0", "x", "", "99999999999999999999x1", "80x24 ", "1e3x5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		s, err := ParseSize(in)
		if err != nil {
			return
		}
		if s.Cols < 20 || s.Rows < 5 || s.Cols > 1000 || s.Rows > 1000 {
			t.Fatalf("ParseSize(%q) accepted %v", in, s)
		}
	})
}

func TestFallbackSize(t *testing.T) {
	if got := FallbackSize([]string{"TERM=vt100", SizeEnv + "=132x43"}); got != (Size{132, 43}) {
		t.Errorf("from %s: %v", SizeEnv, got)
	}
	// An invalid value is ignored rather than fatal.
	got := FallbackSize([]string{SizeEnv + "=huge"})
	want, ok := sizeFromCmdline(readCmdline(t))
	if !ok {
		want = DefaultSize
	}
	if got != want {
		t.Errorf("with an invalid %s: %v, want %v", SizeEnv, got, want)
	}
	if s, ok := sizeFromCmdline("console=ttyS0,115200 " + SizeParam + "=100x37 quiet"); !ok || s != (Size{100, 37}) {
		t.Errorf("from the kernel command line: %v %v", s, ok)
	}
	if _, ok := sizeFromCmdline("console=ttyS0 " + SizeParam + "=1x1"); ok {
		t.Error("accepted an invalid size from the kernel command line")
	}
}

func TestWantMono(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		mono bool
	}{
		{[]string{"TERM=vt100"}, true},
		{[]string{"TERM=dumb"}, true},
		{[]string{"TERM=xterm-256color", "NO_COLOR=1"}, true},
		{[]string{}, true}, // no TERM: a bare serial line
	} {
		if got := WantMono(nil, tc.env); got != tc.mono {
			t.Errorf("WantMono(%v) = %v, want %v", tc.env, got, tc.mono)
		}
	}
}

func TestFmtUptime(t *testing.T) {
	for sec, want := range map[float64]string{0: "-", 0.4: "0s", 42.9: "42s", 307: "5m07s", 3746.2: "1h02m", 4*86400 + 3*3600 + 59: "4d03h"} {
		if got := fmtUptime(sec); got != want {
			t.Errorf("fmtUptime(%v) = %q, want %q", sec, got, want)
		}
	}
}
