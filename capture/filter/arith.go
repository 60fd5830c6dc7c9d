package filter

import (
	"golang.org/x/net/bpf"
)

// Arithmetic expressions of relations ("ip[2:2] - 20 > 100").
type arith interface{ isArith() }

type (
	aNum  uint32
	aLen  struct{}
	aLoad struct {
		proto string
		off   arith
		size  int
		nh    uint32 // network-layer offset when parsed (vlan shift)
	}
	aBin struct {
		op   string
		a, b arith
	}
	aNeg struct{ a arith }
)

func (aNum) isArith()  {}
func (aLen) isArith()  {}
func (aLoad) isArith() {}
func (aBin) isArith()  {}
func (aNeg) isArith()  {}

var relOps = map[string]bpf.JumpTest{
	"=": bpf.JumpEqual, "==": bpf.JumpEqual, "!=": bpf.JumpNotEqual,
	">": bpf.JumpGreaterThan, "<": bpf.JumpLessThan, ">=": bpf.JumpGreaterOrEqual, "<=": bpf.JumpLessOrEqual,
}

// Binary operator precedence, lowest first, as libpcap's grammar.
var binPrec = map[string]int{"|": 1, "^": 2, "&": 3, "<<": 4, ">>": 4, "+": 5, "-": 5, "*": 6, "/": 6, "%": 6}

var aluOps = map[string]bpf.ALUOp{
	"+": bpf.ALUOpAdd, "-": bpf.ALUOpSub, "*": bpf.ALUOpMul, "/": bpf.ALUOpDiv, "%": bpf.ALUOpMod,
	"&": bpf.ALUOpAnd, "|": bpf.ALUOpOr, "^": bpf.ALUOpXor, "<<": bpf.ALUOpShiftLeft, ">>": bpf.ALUOpShiftRight,
}

// parseRelation parses "arith relop arith" and returns the guarded test.
func (p *parser) parseRelation() (node, error) {
	var guards []node
	lhs, err := p.parseArith(0, &guards)
	if err != nil {
		return nil, err
	}
	opTok := p.next()
	cond, ok := relOps[opTok.text]
	if opTok.kind != tOp || !ok {
		return nil, p.errAt(opTok, "expected a comparison (=, !=, <, >, <=, >=), got %s", opTok)
	}
	rhs, err := p.parseArith(0, &guards)
	if err != nil {
		return nil, err
	}
	t := &test{cond: cond}
	if k, ok := rhs.(aNum); ok {
		if t.pre, err = p.genArith(lhs, opTok); err != nil {
			return nil, err
		}
		t.k = uint32(k)
	} else {
		slot, err := p.alloc(opTok)
		if err != nil {
			return nil, err
		}
		r, err := p.genArith(rhs, opTok)
		if err != nil {
			return nil, err
		}
		l, err := p.genArith(lhs, opTok)
		if err != nil {
			return nil, err
		}
		p.scratch--
		t.pre = append(append(append(r, bpf.StoreScratch{Src: bpf.RegA, N: int(slot)}), l...), bpf.LoadScratch{Dst: bpf.RegX, N: int(slot)})
		t.useX = true
	}
	return and(append(guards, t)...), nil
}

func (p *parser) parseArith(minPrec int, guards *[]node) (arith, error) {
	a, err := p.parseArithUnary(guards)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		prec, ok := binPrec[t.text]
		if t.kind != tOp || !ok || prec <= minPrec {
			return a, nil
		}
		p.next()
		b, err := p.parseArith(prec, guards)
		if err != nil {
			return nil, err
		}
		if (t.text == "/" || t.text == "%") && b == aNum(0) {
			return nil, p.errAt(t, "division by zero")
		}
		// Fold constants so "tcp-syn|tcp-ack" becomes one immediate.
		if x, ok := a.(aNum); ok {
			if y, ok := b.(aNum); ok {
				a = aNum(fold(t.text, uint32(x), uint32(y)))
				continue
			}
		}
		a = aBin{op: t.text, a: a, b: b}
	}
}

func fold(op string, x, y uint32) uint32 {
	switch op {
	case "+":
		return x + y
	case "-":
		return x - y
	case "*":
		return x * y
	case "/":
		return x / y
	case "%":
		return x % y
	case "&":
		return x & y
	case "|":
		return x | y
	case "^":
		return x ^ y
	case "<<":
		if y > 31 {
			return 0
		}
		return x << y
	case ">>":
		if y > 31 {
			return 0
		}
		return x >> y
	}
	return 0
}

func (p *parser) parseArithUnary(guards *[]node) (arith, error) {
	t := p.next()
	if err := p.enter(t); err != nil {
		return nil, err
	}
	defer p.leave()
	switch {
	case t.kind == tNum:
		return aNum(t.num), nil
	case p.isOp(t, "-"):
		a, err := p.parseArithUnary(guards)
		if err != nil {
			return nil, err
		}
		if k, ok := a.(aNum); ok {
			return aNum(-uint32(k)), nil
		}
		return aNeg{a}, nil
	case p.isOp(t, "("):
		a, err := p.parseArith(0, guards)
		if err != nil {
			return nil, err
		}
		if c := p.next(); !p.isOp(c, ")") {
			return nil, p.errAt(c, "expected \")\", got %s", c)
		}
		return a, nil
	case p.isWord(t, "len"):
		return aLen{}, nil
	case t.kind == tWord:
		if k, ok := arithConsts[t.text]; ok {
			return aNum(k), nil
		}
		if !p.isOp(p.peek(), "[") {
			return nil, p.errAt(t, "expected a number, len or proto[offset], got %s", t)
		}
		proto := t.text
		if proto == "link" {
			proto = "ether"
		}
		g, err := p.loadGuard(proto, t)
		if err != nil {
			return nil, err
		}
		p.next() // [
		off, err := p.parseArith(0, guards)
		if err != nil {
			return nil, err
		}
		size := 1
		if p.isOp(p.peek(), ":") {
			p.next()
			s := p.next()
			if s.kind != tNum || (s.num != 1 && s.num != 2 && s.num != 4) {
				return nil, p.errAt(s, "load size must be 1, 2 or 4, got %s", s)
			}
			size = int(s.num)
		}
		if c := p.next(); !p.isOp(c, "]") {
			return nil, p.errAt(c, "expected \"]\", got %s", c)
		}
		if g != nil {
			*guards = append(*guards, g)
		}
		return aLoad{proto: proto, off: off, size: size, nh: p.nh()}, nil
	}
	return nil, p.errAt(t, "expected an arithmetic expression, got %s", t)
}

// loadGuard is the protocol test a proto[...] access implies.
func (p *parser) loadGuard(proto string, t token) (node, error) {
	switch proto {
	case "ether":
		return nil, nil
	case "ip", "ip6", "arp", "rarp":
		return p.etherType(etherProtos[proto]), nil
	case "icmp6":
		return and(p.etherType(0x86dd), ld(p.nh()+6, 1, bpf.JumpEqual, 58)), nil
	}
	if ip, ok := ipProtos[proto]; ok {
		return and(p.ip4Proto(ip.num), p.notFrag()), nil
	}
	return nil, p.errAt(t, "unknown protocol %s for [] access", t)
}

func (p *parser) alloc(at token) (uint32, error) {
	if p.scratch >= 16 {
		return 0, p.errAt(at, "expression too complex (more than 16 intermediate values)")
	}
	p.scratch++
	return uint32(p.scratch - 1), nil
}

// genArith emits code that leaves the value of a in A.
func (p *parser) genArith(a arith, at token) ([]bpf.Instruction, error) {
	switch a := a.(type) {
	case aNum:
		return []bpf.Instruction{bpf.LoadConstant{Dst: bpf.RegA, Val: uint32(a)}}, nil
	case aLen:
		return []bpf.Instruction{bpf.LoadExtension{Num: bpf.ExtLen}}, nil
	case aNeg:
		code, err := p.genArith(a.a, at)
		if err != nil {
			return nil, err
		}
		return append(code, bpf.NegateA{}), nil
	case aBin:
		l, err := p.genArith(a.a, at)
		if err != nil {
			return nil, err
		}
		op := aluOps[a.op]
		if k, ok := a.b.(aNum); ok {
			return append(l, bpf.ALUOpConstant{Op: op, Val: uint32(k)}), nil
		}
		slot, err := p.alloc(at)
		if err != nil {
			return nil, err
		}
		r, err := p.genArith(a.b, at)
		if err != nil {
			return nil, err
		}
		p.scratch--
		code := append(l, bpf.StoreScratch{Src: bpf.RegA, N: int(slot)})
		code = append(code, r...)
		return append(code, bpf.TAX{}, bpf.LoadScratch{Dst: bpf.RegA, N: int(slot)}, bpf.ALUOpX{Op: op}), nil
	case aLoad:
		base := uint32(0)
		transport := false
		switch a.proto {
		case "ether":
		case "ip", "ip6", "arp", "rarp":
			base = a.nh
		case "icmp6":
			base = a.nh + 40
		default:
			base, transport = a.nh, true
		}
		if k, ok := a.off.(aNum); ok {
			if transport {
				return []bpf.Instruction{bpf.LoadMemShift{Off: a.nh}, bpf.LoadIndirect{Off: base + uint32(k), Size: a.size}}, nil
			}
			return []bpf.Instruction{bpf.LoadAbsolute{Off: base + uint32(k), Size: a.size}}, nil
		}
		code, err := p.genArith(a.off, at)
		if err != nil {
			return nil, err
		}
		if transport {
			slot, err := p.alloc(at)
			if err != nil {
				return nil, err
			}
			p.scratch--
			code = append(code, bpf.StoreScratch{Src: bpf.RegA, N: int(slot)}, bpf.LoadMemShift{Off: a.nh}, bpf.TXA{},
				bpf.LoadScratch{Dst: bpf.RegX, N: int(slot)}, bpf.ALUOpX{Op: bpf.ALUOpAdd})
		}
		return append(code, bpf.TAX{}, bpf.LoadIndirect{Off: base, Size: a.size}), nil
	}
	return nil, p.errAt(at, "internal error: unknown arithmetic node")
}
