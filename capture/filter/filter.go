package filter

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/bpf"
)

// DefaultSnapLen is what a matching packet returns when no snaplen is given
// (libpcap's default).
const DefaultSnapLen = 262144

// Program is a compiled filter.
type Program struct {
	Expr         string
	Instructions []bpf.Instruction
	raw          []bpf.RawInstruction
}

// Bounds on what Compile accepts, so one expression from a client cannot
// hold a core for long: a program is at most 4096 instructions (the
// kernel's limit), which no sensible expression needs 64 KiB to say, and
// tcpdump users nest parentheses a few levels, not hundreds. With them,
// compiling takes milliseconds at worst.
const (
	MaxLen   = 64 << 10
	MaxDepth = 100 // parentheses, "not" and unary minus, each a level
)

// ErrTooComplex marks an expression refused for its size, not its syntax.
var ErrTooComplex = errors.New("filter too complex")

// Compile compiles a tcpdump filter expression for Ethernet frames. An
// empty expression matches everything. snaplen is the length a match
// returns (0 means DefaultSnapLen). Errors are *SyntaxError where the
// expression is at fault, and wrap ErrTooComplex where it is too long,
// too deeply nested or makes too long a program.
func Compile(expr string, snaplen uint32) (*Program, error) {
	return CompileContext(context.Background(), expr, snaplen)
}

// CompileContext is Compile that gives up when ctx ends (a client that
// went away), returning ctx's error.
func CompileContext(ctx context.Context, expr string, snaplen uint32) (*Program, error) {
	if snaplen == 0 {
		snaplen = DefaultSnapLen
	}
	if len(expr) > MaxLen {
		return nil, fmt.Errorf("%w: the expression is %d bytes; at most %d are accepted", ErrTooComplex, len(expr), MaxLen)
	}
	toks, err := lex(expr)
	if err != nil {
		return nil, err
	}
	var n node = constNode(true)
	if strings.TrimSpace(expr) != "" {
		p := &parser{ctx: ctx, expr: expr, toks: toks}
		n, err = p.parseExpr()
		if err != nil {
			return nil, err
		}
		if t := p.peek(); t.kind != tEOF {
			return nil, p.errAt(t, "unexpected %s", t)
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	g := &gen{ctx: ctx}
	t, f := g.newLabel(), g.newLabel()
	g.compile(n, t, f)
	g.mark(t)
	g.emit(bpf.RetConstant{Val: snaplen})
	g.mark(f)
	g.emit(bpf.RetConstant{Val: 0})
	ins, err := g.assemble()
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(ins)
	if err != nil {
		return nil, fmt.Errorf("filter: assemble %q: %w", expr, err)
	}
	return &Program{Expr: expr, Instructions: ins, raw: raw}, nil
}

// Raw returns the program for SO_ATTACH_FILTER / a packet socket.
func (p *Program) Raw() []bpf.RawInstruction { return p.raw }

// Match runs the program on a whole frame in the engine (for ports where
// the kernel cannot filter). It is safe for concurrent use.
func (p *Program) Match(frame []byte) bool {
	return run(p.raw, frame, uint32(len(frame))) > 0
}

// MatchLen is Match for a frame cut short: wireLen is its original length,
// what "len", "less" and "greater" see.
func (p *Program) MatchLen(frame []byte, wireLen int) bool {
	return run(p.raw, frame, uint32(wireLen)) > 0
}

// String disassembles the program like tcpdump -d.
func (p *Program) String() string {
	var b strings.Builder
	for i, in := range p.Instructions {
		fmt.Fprintf(&b, "(%03d) %v\n", i, in)
	}
	return b.String()
}
