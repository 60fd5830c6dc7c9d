package filter

import (
	"errors"
	"testing"

	"golang.org/x/net/bpf"
)

func FuzzCompile(f *testing.F) {
	for _, e := range verdictExprs {
		f.Add(e)
	}
	for _, e := range []string{"tcp port", "(((", "ip[", "net ::/0", "vlan vlan vlan", "len - - - 1 > 0", "\\", "ether proto \\foo", "1 2 3"} {
		f.Add(e)
	}
	frames := sampleFrames(f)
	f.Fuzz(func(t *testing.T, expr string) {
		if len(expr) > 512 {
			return
		}
		p, err := Compile(expr, 0)
		if err != nil {
			var se *SyntaxError
			if errors.As(err, &se) && (se.Pos < 0 || se.Pos > len(expr)) {
				t.Fatalf("%q: error position %d outside the expression", expr, se.Pos)
			}
			return
		}
		if len(p.Raw()) == 0 || len(p.Raw()) > maxInstructions {
			t.Fatalf("%q: %d instructions", expr, len(p.Raw()))
		}
		// Every jump stays inside the program and the last instruction returns.
		for i, in := range p.Raw() {
			if in.Op&0x07 == 0x05 {
				far := int(in.Jt)
				if int(in.Jf) > far {
					far = int(in.Jf)
				}
				if in.Op&0xf0 == 0 {
					far = int(in.K)
				}
				if i+1+far >= len(p.Raw()) {
					t.Fatalf("%q: jump at %d leaves the program", expr, i)
				}
			}
		}
		if _, ok := p.Instructions[len(p.Instructions)-1].(bpf.RetConstant); !ok {
			t.Fatalf("%q: does not end in a return", expr)
		}
		for _, fr := range frames {
			p.Match(fr)
		}
	})
}
