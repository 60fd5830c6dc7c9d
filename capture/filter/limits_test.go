package filter

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestLimits: what used to keep the compiler busy for seconds or minutes
// (8,000 nested parentheses, a filter of hundreds of KB) is refused with an
// error that says why; nesting up to MaxDepth still compiles; a cancelled
// context stops a compilation.
func TestLimits(t *testing.T) {
	nest := func(open, close string, n int, inner string) string {
		return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
	}
	for name, expr := range map[string]string{
		"1 MiB":             strings.Repeat("tcp or ", 1<<20/7) + "udp",
		"8000 parentheses":  nest("(", ")", 8000, "tcp"),
		"8000 nots":         strings.Repeat("not ", 8000) + "tcp",
		"8000 minus":        "len > " + strings.Repeat("-", 8000) + "1",
		"arith parentheses": "len > " + nest("(", ")", 8000, "1"),
		"program too long":  strings.TrimSuffix(strings.Repeat("tcp port 80 or ", 400), " or "),
	} {
		_, err := Compile(expr, 0)
		if !errors.Is(err, ErrTooComplex) {
			t.Errorf("%s (%d bytes): %v, want ErrTooComplex", name, len(expr), err)
			continue
		}
		t.Logf("%s: %.120v", name, err)
	}
	var se *SyntaxError
	if _, err := Compile(nest("(", ")", 500, "tcp"), 0); !errors.As(err, &se) || se.Pos != MaxDepth || !strings.Contains(se.Msg, "nested deeper than 100 levels") {
		t.Errorf("deep nesting: %v, want the position of the level past the limit", err)
	}
	// "not" and each "(" are a level each in parseUnary: 99 parentheses
	// around a primitive are 100 levels.
	if _, err := Compile(nest("(", ")", MaxDepth-1, "tcp port 80"), 0); err != nil {
		t.Errorf("nesting at the limit: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := CompileContext(ctx, nest("(", ")", 50, "tcp")+strings.Repeat(" or udp", 300), 0); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
