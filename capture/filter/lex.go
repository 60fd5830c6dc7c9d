package filter

import (
	"fmt"
	"strings"
)

type tokKind int

const (
	tEOF tokKind = iota
	tWord
	tNum
	tOp // punctuation and operators
)

type token struct {
	kind tokKind
	text string
	num  uint32
	pos  int // byte offset in the expression
}

func (t token) String() string {
	if t.kind == tEOF {
		return "end of expression"
	}
	return fmt.Sprintf("%q", t.text)
}

// SyntaxError is a malformed or unsupported expression.
type SyntaxError struct {
	Expr string
	Pos  int // byte offset of the offending token
	Msg  string
	Err  error // ErrTooComplex for nesting past MaxDepth, else nil
}

// Unwrap returns Err.
func (e *SyntaxError) Unwrap() error { return e.Err }

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("filter: column %d: %s", e.Pos+1, e.Msg)
}

// Caret returns the expression with a caret line under the error position.
func (e *SyntaxError) Caret() string {
	return e.Expr + "\n" + strings.Repeat(" ", e.Pos) + "^"
}

func isWordStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_'
}

func isWordChar(c byte, inBrackets bool) bool {
	return isWordStart(c) || c == '.' || c == '-' || (c == ':' && !inBrackets)
}

// lex splits the expression into tokens. Words may contain '.', '-' and
// ':' (addresses, "tcp-syn", "ftp-data"), except that inside brackets ':'
// separates offset and size.
func lex(s string) ([]token, error) {
	var out []token
	depth := 0
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isWordStart(c) || (c == ':' && depth == 0 && i+1 < len(s) && s[i+1] == ':'):
			j := i
			for j < len(s) && isWordChar(s[j], depth > 0) {
				j++
			}
			// A word ending in '-' is an operator following a word: "len-1" stays
			// one word as in libpcap, but "x-" is trimmed.
			for j > i+1 && s[j-1] == '-' {
				j--
			}
			w := s[i:j]
			if n, ok := parseNum(w); ok {
				out = append(out, token{kind: tNum, text: w, num: n, pos: i})
			} else {
				out = append(out, token{kind: tWord, text: w, pos: i})
			}
			i = j
		default:
			op := ""
			for _, o := range []string{"&&", "||", "==", "!=", "<=", ">=", "<<", ">>"} {
				if strings.HasPrefix(s[i:], o) {
					op = o
					break
				}
			}
			if op == "" {
				if !strings.ContainsRune("()[]:!<>=&|^+-*/%\\", rune(c)) {
					return nil, &SyntaxError{Expr: s, Pos: i, Msg: fmt.Sprintf("unexpected character %q", c)}
				}
				op = s[i : i+1]
			}
			switch op {
			case "[":
				depth++
			case "]":
				if depth > 0 {
					depth--
				}
			}
			out = append(out, token{kind: tOp, text: op, pos: i})
			i += len(op)
		}
	}
	out = append(out, token{kind: tEOF, pos: len(s)})
	return out, nil
}

// parseNum parses decimal, 0x hex and 0-prefixed octal like libpcap.
func parseNum(w string) (uint32, bool) {
	base := 10
	d := w
	switch {
	case len(w) > 2 && (w[:2] == "0x" || w[:2] == "0X"):
		base, d = 16, w[2:]
	case len(w) > 1 && w[0] == '0':
		base, d = 8, w[1:]
	}
	var n uint64
	for i := 0; i < len(d); i++ {
		var v uint64
		c := d[i]
		switch {
		case c >= '0' && c <= '9':
			v = uint64(c - '0')
		case c >= 'a' && c <= 'f':
			v = uint64(c-'a') + 10
		case c >= 'A' && c <= 'F':
			v = uint64(c-'A') + 10
		default:
			return 0, false
		}
		if v >= uint64(base) {
			return 0, false
		}
		n = n*uint64(base) + v
		if n > 0xffffffff {
			return 0, false
		}
	}
	return uint32(n), len(d) > 0
}
