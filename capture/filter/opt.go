package filter

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// dropRedundantLoads removes loads whose value is already in the register
// on every path that reaches them ("ldh [12]" after "jeq #0x800" fails,
// the IP header length before the second port test). All jumps go forward,
// so one pass in layout order sees every predecessor first.
func dropRedundantLoads(items []item) []item {
	type regs struct{ a, x string } // "" = unknown
	meet := func(in []regs) regs {
		if len(in) == 0 {
			return regs{}
		}
		r := in[0]
		for _, o := range in[1:] {
			if o.a != r.a {
				r.a = ""
			}
			if o.x != r.x {
				r.x = ""
			}
		}
		return r
	}
	pending := map[int][]regs{}
	var incoming []regs
	cur, live := regs{}, true
	out := items[:0:0]
	for _, it := range items {
		if it.label >= 0 {
			if live {
				incoming = append(incoming, cur)
			}
			incoming = append(incoming, pending[it.label]...)
			delete(pending, it.label)
			live = true
			out = append(out, it)
			continue
		}
		if incoming != nil {
			cur, incoming = meet(incoming), nil
		}
		if !live {
			cur = regs{}
		}
		switch {
		case it.isJump:
			pending[it.jt] = append(pending[it.jt], cur)
			pending[it.jf] = append(pending[it.jf], cur)
			live = false
			out = append(out, it)
			continue
		case it.ja >= 0:
			pending[it.ja] = append(pending[it.ja], cur)
			live = false
			out = append(out, it)
			continue
		}
		switch in := it.ins.(type) {
		case bpf.LoadAbsolute:
			k := fmt.Sprintf("abs %d %d", in.Off, in.Size)
			if cur.a == k {
				continue // drop
			}
			cur.a = k
		case bpf.LoadMemShift:
			k := fmt.Sprintf("msh %d", in.Off)
			if cur.x == k {
				continue
			}
			cur.x = k
		case bpf.StoreScratch:
		case bpf.TAX:
			cur.x = ""
		case bpf.LoadScratch:
			if in.Dst == bpf.RegX {
				cur.x = ""
			} else {
				cur.a = ""
			}
		case bpf.LoadConstant:
			if in.Dst == bpf.RegX {
				cur.x = ""
			} else {
				cur.a = ""
			}
		case bpf.RetConstant, bpf.RetA:
			live = false
		default:
			cur.a = "" // everything else writes A
		}
		out = append(out, it)
	}
	return out
}
