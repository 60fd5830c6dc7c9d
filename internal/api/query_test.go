package api

import (
	"strconv"
	"testing"
)

func TestParseLogsQuery(t *testing.T) {
	for q, want := range map[string]struct {
		since  uint64
		follow bool
	}{"": {0, false}, "since=7": {7, false}, "follow=1&since=3": {3, true}, "follow=true": {0, true}, "follow=0": {0, false}} {
		since, follow, err := parseLogsQuery(q)
		if err != nil || since != want.since || follow != want.follow {
			t.Errorf("%q: %d %v %v", q, since, follow, err)
		}
	}
	for _, q := range []string{"since=-1", "since=x", "follow=yes", "since=%zz", "since=99999999999999999999"} {
		if _, _, err := parseLogsQuery(q); err == nil {
			t.Errorf("%q accepted", q)
		}
	}
}

// FuzzLogsQuery: the query string is outside input; what parses reads
// back the same.
func FuzzLogsQuery(f *testing.F) {
	for _, s := range []string{"", "since=7", "follow=1&since=3", "follow=true", "since=-1", "since=%zz&follow=1", "a=b;c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		since, follow, err := parseLogsQuery(q)
		if err != nil {
			return
		}
		back := "since=" + strconv.FormatUint(since, 10)
		if follow {
			back += "&follow=1"
		}
		s2, f2, err := parseLogsQuery(back)
		if err != nil || s2 != since || f2 != follow {
			t.Fatalf("%q -> %d %v -> %q -> %d %v %v", q, since, follow, back, s2, f2, err)
		}
	})
}
