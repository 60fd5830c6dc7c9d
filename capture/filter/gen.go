package filter

import (
	"context"
	"fmt"

	"golang.org/x/net/bpf"
)

// node is a boolean filter tree; leaves are atomic tests.
type node interface{ isNode() }

type (
	andNode struct{ a, b node }
	orNode  struct{ a, b node }
	notNode struct{ a node }
	// test runs pre (which leaves the value in A, and possibly an operand
	// in X) and then jumps on cond against k, or against X when useX.
	test struct {
		pre  []bpf.Instruction
		cond bpf.JumpTest
		k    uint32
		useX bool
	}
	constNode bool
)

func (andNode) isNode()   {}
func (orNode) isNode()    {}
func (notNode) isNode()   {}
func (*test) isNode()     {}
func (constNode) isNode() {}

func and(ns ...node) node {
	var out node
	for _, n := range ns {
		if n == nil {
			continue
		}
		if out == nil {
			out = n
		} else {
			out = andNode{out, n}
		}
	}
	return out
}

func or(ns ...node) node {
	var out node
	for _, n := range ns {
		if out == nil {
			out = n
		} else {
			out = orNode{out, n}
		}
	}
	return out
}

func not(n node) node { return notNode{n} }

// ld builds a test of a packet field at an absolute offset.
func ld(off, size uint32, cond bpf.JumpTest, k uint32) *test {
	return &test{pre: []bpf.Instruction{bpf.LoadAbsolute{Off: off, Size: int(size)}}, cond: cond, k: k}
}

func ldMasked(off, size, mask uint32, k uint32) node {
	if mask == 0 { // a /0 network: no load, so no bounds check either (as libpcap)
		return constNode(true)
	}
	if mask == 0xffffffff || (size == 2 && mask == 0xffff) || (size == 1 && mask == 0xff) {
		return ld(off, size, bpf.JumpEqual, k)
	}
	return &test{pre: []bpf.Instruction{bpf.LoadAbsolute{Off: off, Size: int(size)}, bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: mask}}, cond: bpf.JumpEqual, k: k & mask}
}

// item is one instruction of the program being laid out, with symbolic
// jump targets (label ids; -1 means the next instruction).
type item struct {
	ins    bpf.Instruction
	isJump bool
	jt, jf int // labels for conditional jumps
	ja     int // label for an unconditional jump, or -1
	label  int // >= 0 marks a label position (no instruction)
}

type gen struct {
	ctx    context.Context
	items  []item
	labels int
}

func (g *gen) newLabel() int { g.labels++; return g.labels - 1 }

func (g *gen) mark(l int) { g.items = append(g.items, item{label: l, ja: -1}) }

func (g *gen) emit(ins bpf.Instruction) { g.items = append(g.items, item{ins: ins, label: -1, ja: -1}) }

func (g *gen) jump(l int) { g.items = append(g.items, item{label: -1, ja: l}) }

// compile emits code for n that continues at t if n holds, else at f.
func (g *gen) compile(n node, t, f int) {
	switch n := n.(type) {
	case andNode:
		mid := g.newLabel()
		g.compile(n.a, mid, f)
		g.mark(mid)
		g.compile(n.b, t, f)
	case orNode:
		mid := g.newLabel()
		g.compile(n.a, t, mid)
		g.mark(mid)
		g.compile(n.b, t, f)
	case notNode:
		g.compile(n.a, f, t)
	case constNode:
		if n {
			g.jump(t)
		} else {
			g.jump(f)
		}
	case *test:
		for _, ins := range n.pre {
			g.emit(ins)
		}
		var j bpf.Instruction
		if n.useX {
			j = bpf.JumpIfX{Cond: n.cond}
		} else {
			j = bpf.JumpIf{Cond: n.cond, Val: n.k}
		}
		g.items = append(g.items, item{ins: j, isJump: true, jt: t, jf: f, label: -1, ja: -1})
	default:
		panic(fmt.Sprintf("filter: unknown node %T", n))
	}
}

// maxInstructions is the kernel's limit for a classic BPF program.
const maxInstructions = 4096

var errTooLong = fmt.Errorf("filter: program exceeds 4096 instructions: %w", ErrTooComplex)

// assemble lays out the items, resolving labels to relative skips.
// Conditional jumps reach at most 255 instructions; farther targets go
// through an inserted unconditional jump.
func (g *gen) assemble() ([]bpf.Instruction, error) {
	items := dropRedundantLoads(g.items)
	for {
		if g.ctx != nil {
			if err := g.ctx.Err(); err != nil {
				return nil, err
			}
		}
		pos := make(map[int]int) // label -> instruction index
		n := 0
		for _, it := range items {
			if it.label >= 0 {
				pos[it.label] = n
				continue
			}
			n++
		}
		if n > maxInstructions {
			return nil, errTooLong
		}
		// Find the first conditional jump with a far target and fix it.
		fixed := false
		idx := 0
		for i, it := range items {
			if it.label >= 0 {
				continue
			}
			if it.isJump {
				dt, df := pos[it.jt]-idx-1, pos[it.jf]-idx-1
				if dt > 255 || df > 255 {
					// Route far targets through an unconditional jump: an
					// existing one to the same target within reach, else a
					// new one placed right after this jump (which never
					// falls through, so the trampoline is only jumped to).
					reuse := func(target int) (int, bool) {
						k := idx
						for j := i + 1; j+1 < len(items) && k-idx <= 255; j++ {
							if items[j].label < 0 {
								k++
								continue
							}
							if n := items[j+1]; n.label < 0 && !n.isJump && n.ja == target {
								return items[j].label, true
							}
						}
						return 0, false
					}
					// Place a new trampoline as far ahead as reach allows, at a
					// point nothing falls through to, so later jumps share it.
					place := func() int {
						at, k := i+1, idx
						for j := i + 1; j < len(items) && k-idx < 250; j++ {
							if items[j].label >= 0 {
								continue
							}
							prev := items[j-1]
							for q := j - 1; q > i && prev.label >= 0; q-- {
								prev = items[q-1]
							}
							if _, ret := prev.ins.(bpf.RetConstant); prev.isJump || prev.ja >= 0 || ret {
								at = j
								for at > i+1 && items[at-1].label >= 0 {
									at-- // before the labels of the instruction at j
								}
							}
							k++
						}
						return at
					}
					route := func(target int) int {
						if l, ok := reuse(target); ok {
							return l
						}
						l := g.newLabel()
						at := place()
						tramp := []item{{label: l, ja: -1}, {label: -1, ja: target}}
						items = append(items[:at:at], append(tramp, items[at:]...)...)
						return l
					}
					if dt > 255 {
						it.jt = route(it.jt)
					}
					if df > 255 {
						it.jf = route(it.jf)
					}
					items[i] = it
					fixed = true
					break
				}
			}
			idx++
		}
		if fixed {
			continue
		}
		out := make([]bpf.Instruction, 0, n)
		idx = 0
		for _, it := range items {
			if it.label >= 0 {
				continue
			}
			switch {
			case it.isJump:
				st, sf := uint8(pos[it.jt]-idx-1), uint8(pos[it.jf]-idx-1)
				switch j := it.ins.(type) {
				case bpf.JumpIf:
					j.SkipTrue, j.SkipFalse = st, sf
					out = append(out, j)
				case bpf.JumpIfX:
					j.SkipTrue, j.SkipFalse = st, sf
					out = append(out, j)
				}
			case it.ja >= 0:
				out = append(out, bpf.Jump{Skip: uint32(pos[it.ja] - idx - 1)})
			default:
				out = append(out, it.ins)
			}
			idx++
		}
		return out, nil
	}
}
