package filter

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wirebox/wirebox/internal/pkttest"
)

func longExpr(n int) string {
	var parts []string
	for i := 0; i < n; i++ {
		parts = append(parts, fmt.Sprintf("host 10.0.%d.%d", i/250, i%250+1))
	}
	return strings.Join(parts, " or ")
}

// TestLongJumps needs trampolines: conditional jumps reach 255 at most.
// Programs of hundreds of instructions, with far jumps forwards from the
// start, from the end and under "not", are checked against tcpdump's
// verdicts on the sample frames, as the short expressions are.
func TestLongJumps(t *testing.T) {
	pkttest.Need(t, "tcpdump")
	frames := sampleFrames(t)
	path := writeSample(t, frames)
	for _, e := range []string{
		longExpr(300) + " or tcp port 22",
		"tcp port 22 or " + longExpr(300),
		"(" + longExpr(250) + ") and not udp",
		"not (" + longExpr(250) + ") and ip",
		"udp and (" + longExpr(200) + ") or icmp and (" + longExpr(100) + ")",
	} {
		p, err := Compile(e, 0)
		if err != nil {
			t.Fatalf("%.60s...: %v", e, err)
		}
		if len(p.Instructions) < 400 {
			t.Fatalf("%.60s...: only %d instructions, no far jumps", e, len(p.Instructions))
		}
		want := tcpdumpVerdicts(t, path, e)
		if len(want) == 0 || len(want) == len(frames) {
			t.Fatalf("%.60s...: tcpdump accepts %d of %d frames; the test needs both verdicts", e, len(want), len(frames))
		}
		for i, f := range frames {
			if got := p.Match(f); got != want[i] {
				t.Errorf("%.60s... (%d instructions), frame %d: ours %v, tcpdump %v", e, len(p.Instructions), i, got, want[i])
			}
		}
	}
	if _, err := Compile(longExpr(2000), 0); err == nil || !strings.Contains(err.Error(), "4096") {
		t.Fatalf("a huge filter compiled: %v", err)
	}
}

func TestErrorsNamePosition(t *testing.T) {
	pkttest.Need(t, "tcpdump")
	for _, c := range []struct {
		expr string
		col  int // 1-based column our error names
		// tcpdump accepts it (it resolves names, or knows the netmask)
		tcpdumpAccepts bool
	}{
		{"tcp port", 9, false},
		{"port 80 and", 12, false},
		{"host 10.0.0.300", 6, false},
		{"(tcp", 5, false},
		{"tcp)", 4, false},
		{"port 99999", 6, false},
		{"ip[1:3] = 0", 6, false},
		{"tcp port 80 and or udp", 17, false},
		{"foo", 1, false},
		{"ether host zz", 12, false},
		{"net 10.0.0.1/8", 5, false},
		{"tcp[0] / 0 = 1", 8, false},
		{"10.0.0.1", 1, false},
		{"ip port 53", 9, false},
		{"tcp host 10.0.0.1", 10, false},
		{"udp port http", 10, false},
		{"vlan 5000", 6, false},
		{"host foo.example", 6, true},
		{"ip broadcast", 4, true},
		{"tcp port 80 $", 13, false},
		{"len >", 6, false},
		{"ip[0 = 1", 6, false},
		{"not", 4, false},
	} {
		_, err := Compile(c.expr, 0)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: error %v, want a SyntaxError", c.expr, err)
			continue
		}
		if se.Pos+1 != c.col {
			t.Errorf("%q: %v at column %d, want column %d\n%s", c.expr, err, se.Pos+1, c.col, se.Caret())
		}
		// tcpdump rejects these too (except what it would resolve by DNS).
		if !c.tcpdumpAccepts {
			if _, _, terr := pkttest.RunErr("tcpdump", "-d", "-y", "EN10MB", c.expr); terr == nil {
				t.Errorf("%q: tcpdump accepts it, we reject: %v", c.expr, err)
			}
		}
	}
}

func TestEmptyMatchesAll(t *testing.T) {
	p, err := Compile("  ", 96)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Match([]byte{1}) {
		t.Fatal("empty filter rejects")
	}
	if got := run(p.Raw(), []byte{1}, 1); got != 96 {
		t.Fatalf("returns %d, want the snaplen 96", got)
	}
}
