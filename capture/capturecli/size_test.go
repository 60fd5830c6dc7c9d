package capturecli

import (
	"strconv"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"": 0, "1000": 1000, "64k": 64 << 10, "64K": 64 << 10, "10M": 10 << 20, "2G": 2 << 30,
		"4MB": 4_000_000, "4mb": 4_000_000, "1GiB": 1 << 30, "1gib": 1 << 30, "100 MiB": 100 << 20,
		"1.5G": 3 << 29, "512B": 512, "2KB": 2000, "1T": 1 << 40, " 7 ": 7,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"x", "M", "-1M", "1e9", "4 XB", "1..2M", "99999999999T", "NaN", "+5"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"100M", "4MB", "1GiB", "64k", "1.5G", "", "x", "-1", "9999999999999999999T", "1e3k"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseSize(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("%q: %d", s, n)
		}
		// A plain number reads back as itself.
		if back, err := parseSize(strconv.FormatInt(n, 10)); err != nil || back != n {
			t.Fatalf("%q = %d, which reads back as %d, %v", s, n, back, err)
		}
	})
}
