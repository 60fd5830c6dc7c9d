package filter

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/bpf"
)

func FuzzCompile(f *testing.F) {
	for _, e := range verdictExprs {
		f.Add(e)
	}
	for _, e := range []string{"tcp port", "(((", "ip[", "net ::/0", "vlan vlan vlan", "len - - - 1 > 0", "\\", "ether proto \\foo", "1 2 3"} {
		f.Add(e)
	}
	// Large inputs too: the bounds must hold for them.
	f.Add(strings.Repeat("(", 8000) + "tcp" + strings.Repeat(")", 8000))
	f.Add(strings.Repeat("not ", 5000) + "udp")
	f.Add("len > " + strings.Repeat("-(", 3000) + "1" + strings.Repeat(")", 3000))
	f.Add(strings.TrimSuffix(strings.Repeat("host 10.0.0.1 or ", 300), " or "))
	f.Add(strings.Repeat("tcp or ", MaxLen/7+1) + "udp")
	frames := sampleFrames(f)
	f.Fuzz(func(t *testing.T, expr string) {
		start := time.Now()
		p, err := Compile(expr, 0)
		// A generous bound: the worst cases compile in tens of
		// milliseconds; before the limits, some took minutes.
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("compiling %d bytes took %v", len(expr), d)
		}
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

// FuzzMatch runs compiled programs on arbitrary frames (outside input
// from the wire): our VM never panics and agrees with golang.org/x/net/bpf's
// VM, the reference interpreter of classic BPF.
func FuzzMatch(f *testing.F) {
	for _, fr := range sampleFrames(f) {
		f.Add(fr)
	}
	f.Add([]byte{})
	f.Add(make([]byte, 13))
	var progs []*Program
	var vms []*bpf.VM
	for _, e := range verdictExprs {
		p, err := Compile(e, 0)
		if err != nil {
			f.Fatal(err)
		}
		vm, err := bpf.NewVM(p.Instructions)
		if err != nil {
			f.Fatal(err)
		}
		if slices.ContainsFunc(p.Instructions, func(in bpf.Instruction) bool { _, neg := in.(bpf.NegateA); return neg }) {
			continue // the reference VM lacks NegateA
		}
		progs = append(progs, p)
		vms = append(vms, vm)
	}
	if len(progs) < len(verdictExprs)-5 {
		f.Fatalf("only %d of %d programs run on the reference VM", len(progs), len(verdictExprs))
	}
	f.Fuzz(func(t *testing.T, frame []byte) {
		for i, p := range progs {
			got := p.Match(frame)
			n, err := vms[i].Run(frame)
			if err != nil {
				t.Fatalf("%q: reference VM: %v", p.Expr, err)
			}
			if got != (n > 0) {
				t.Fatalf("%q on % x: ours %v, reference %v", p.Expr, frame, got, n > 0)
			}
		}
	})
}
