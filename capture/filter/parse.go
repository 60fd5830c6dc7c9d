package filter

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"golang.org/x/net/bpf"
)

type dir int

const (
	dirAny dir = iota // src or dst (the default)
	dirSrc
	dirDst
	dirBoth // src and dst
)

type qual struct {
	proto string // "" or a protocol keyword
	dir   dir
	typ   string // "" or host, net, port, portrange
	set   bool
}

// IP protocol numbers of the protocol keywords, and which IP versions carry them.
var ipProtos = map[string]struct {
	num    uint32
	v4, v6 bool
}{
	"tcp": {6, true, true}, "udp": {17, true, true}, "sctp": {132, true, true},
	"icmp": {1, true, false}, "icmp6": {58, false, true}, "igmp": {2, true, false},
	"pim": {103, true, true}, "vrrp": {112, true, false}, "carp": {112, true, false},
	"esp": {50, true, true}, "ah": {51, true, true},
}

var etherProtos = map[string]uint32{"ip": 0x800, "ip6": 0x86dd, "arp": 0x806, "rarp": 0x8035}

var arithConsts = map[string]uint32{
	"tcpflags": 13, "tcp-fin": 0x01, "tcp-syn": 0x02, "tcp-rst": 0x04, "tcp-push": 0x08,
	"tcp-ack": 0x10, "tcp-urg": 0x20, "tcp-ece": 0x40, "tcp-cwr": 0x80,
	"icmptype": 0, "icmpcode": 1, "icmp-echoreply": 0, "icmp-unreach": 3, "icmp-sourcequench": 4,
	"icmp-redirect": 5, "icmp-echo": 8, "icmp-routeradvert": 9, "icmp-routersolicit": 10,
	"icmp-timxceed": 11, "icmp-paramprob": 12, "icmp-tstamp": 13, "icmp-tstampreply": 14,
	"icmp-ireq": 15, "icmp-ireqreply": 16, "icmp-maskreq": 17, "icmp-maskreply": 18,
	"icmp6type": 0, "icmp6code": 1, "icmp6-destinationunreach": 1, "icmp6-packettoobig": 2,
	"icmp6-timeexceeded": 3, "icmp6-parameterproblem": 4, "icmp6-echo": 128, "icmp6-echoreply": 129,
	"icmp6-routersolicit": 133, "icmp6-routeradvert": 134, "icmp6-neighborsolicit": 135,
	"icmp6-neighboradvert": 136, "icmp6-redirect": 137,
}

// Well-known port names and the transports netbase's /etc/services lists
// them for (no lookups at run time: the image has no services file). A
// name known for one transport restricts the match to it, as in libpcap.
type portName struct {
	num      uint32
	tcp, udp bool
}

var portNames = map[string]portName{
	"ftp-data": {20, true, false}, "ftp": {21, true, false}, "ssh": {22, true, false},
	"telnet": {23, true, false}, "smtp": {25, true, false}, "domain": {53, true, true},
	"bootps": {67, false, true}, "bootpc": {68, false, true}, "tftp": {69, false, true},
	"http": {80, true, false}, "www": {80, true, false}, "pop3": {110, true, false},
	"sunrpc": {111, true, true}, "ntp": {123, false, true}, "imap": {143, true, false},
	"imap2": {143, true, false}, "snmp": {161, true, true}, "snmptrap": {162, true, true},
	"snmp-trap": {162, true, true}, "bgp": {179, true, false}, "ldap": {389, true, true},
	"https": {443, true, true}, "syslog": {514, true, true}, "submission": {587, true, false},
	"ldaps": {636, true, true}, "imaps": {993, true, false}, "pop3s": {995, true, false},
}

var keywords = map[string]bool{
	"and": true, "or": true, "not": true, "src": true, "dst": true, "host": true, "net": true,
	"port": true, "portrange": true, "proto": true, "vlan": true, "less": true, "greater": true,
	"broadcast": true, "multicast": true, "gateway": true, "mask": true, "len": true, "ether": true,
	"link": true,
}

type parser struct {
	ctx     context.Context
	depth   int // nesting of the parse (MaxDepth)
	steps   int // calls of enter, for the occasional look at ctx
	expr    string
	toks    []token
	i       int
	linkOff uint32 // shift of the network layer by vlan tags seen so far
	last    qual
	scratch int
	// transports allowed by the port names of the current port primitive
	nameTCP, nameUDP bool
}

func (p *parser) peek() token       { return p.toks[p.i] }
func (p *parser) peekN(n int) token { return p.toks[min(p.i+n, len(p.toks)-1)] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}
func (p *parser) errAt(t token, format string, args ...any) error {
	return &SyntaxError{Expr: p.expr, Pos: t.pos, Msg: fmt.Sprintf(format, args...)}
}
func (p *parser) isWord(t token, ws ...string) bool {
	return t.kind == tWord && slices.Contains(ws, t.text)
}
func (p *parser) isOp(t token, ops ...string) bool {
	return t.kind == tOp && slices.Contains(ops, t.text)
}

func (p *parser) nh() uint32 { return 14 + p.linkOff }

// enter is called by every recursive step of the parser: it bounds the
// nesting (the stack and the parse's cost) and notices a cancelled
// context. Each enter that returns nil is paired with a leave.
func (p *parser) enter(t token) error {
	if p.depth >= MaxDepth {
		return &SyntaxError{Expr: p.expr, Pos: t.pos, Msg: fmt.Sprintf("nested deeper than %d levels", MaxDepth), Err: ErrTooComplex}
	}
	if p.steps++; p.steps%256 == 0 && p.ctx != nil {
		if err := p.ctx.Err(); err != nil {
			return err
		}
	}
	p.depth++
	return nil
}

func (p *parser) leave() { p.depth-- }

// parseExpr: unary { (and|or) unary }, equal precedence, left to right.
func (p *parser) parseExpr() (node, error) {
	n, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		isAnd := p.isWord(t, "and") || p.isOp(t, "&&")
		isOr := p.isWord(t, "or") || p.isOp(t, "||")
		if !isAnd && !isOr {
			return n, nil
		}
		p.next()
		if p.peek().kind == tEOF {
			return nil, p.errAt(p.peek(), "expected an expression after %q", t.text)
		}
		m, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if isAnd {
			n = andNode{n, m}
		} else {
			n = orNode{n, m}
		}
	}
}

func (p *parser) parseUnary() (node, error) {
	t := p.peek()
	if err := p.enter(t); err != nil {
		return nil, err
	}
	defer p.leave()
	if p.isWord(t, "not") || p.isOp(t, "!") {
		p.next()
		n, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		return not(n), nil
	}
	// A relation ("tcp[13] & 2 != 0", "len > 100", "(ip[0]&0xf) > 5") or a
	// primitive / parenthesized expression: try the relation first.
	if p.mayStartRelation() {
		// Only a number or "(" can also start something else ("port 80 or
		// 443", "(tcp or udp)"); anything else is a relation for sure.
		if t := p.peek(); t.kind != tNum && !p.isOp(t, "(") {
			return p.parseRelation()
		}
		save, saveOff, saveScratch := p.i, p.linkOff, p.scratch
		n, relErr := p.parseRelation()
		if relErr == nil {
			return n, nil
		}
		relPos := p.toks[p.i].pos
		if se, ok := relErr.(*SyntaxError); ok {
			relPos = se.Pos
		}
		p.i, p.linkOff, p.scratch = save, saveOff, saveScratch
		n, primErr := p.parsePrimaryOrParen()
		if primErr == nil {
			return n, nil
		}
		// Report the attempt that got further (a cancelled context is
		// no syntax error: report it as it is).
		if se, ok := primErr.(*SyntaxError); !ok || se.Pos >= relPos {
			return nil, primErr
		}
		return nil, relErr
	}
	return p.parsePrimaryOrParen()
}

func (p *parser) mayStartRelation() bool {
	t := p.peek()
	switch t.kind {
	case tNum:
		return true
	case tOp:
		return t.text == "(" || t.text == "-"
	case tWord:
		if t.text == "len" {
			return true
		}
		if _, ok := arithConsts[t.text]; ok {
			return true
		}
		return p.isOp(p.peekN(1), "[")
	}
	return false
}

func (p *parser) parsePrimaryOrParen() (node, error) {
	t := p.peek()
	if p.isOp(t, "(") {
		p.next()
		n, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		if c := p.next(); !p.isOp(c, ")") {
			return nil, p.errAt(c, "expected \")\" to close the \"(\" at column %d, got %s", t.pos+1, c)
		}
		return n, nil
	}
	return p.parsePrimitive()
}

func isValueToken(t token) bool {
	if t.kind == tNum {
		return true
	}
	if t.kind == tWord {
		if keywords[t.text] {
			return false
		}
		if _, ok := ipProtos[t.text]; ok {
			return false
		}
		if _, ok := etherProtos[t.text]; ok {
			return false
		}
		return true
	}
	return t.kind == tOp && t.text == "\\"
}

func (p *parser) parsePrimitive() (node, error) {
	start := p.peek()
	if start.kind == tEOF {
		return nil, p.errAt(start, "expected an expression")
	}
	if isValueToken(start) {
		if !p.last.set {
			return nil, p.errAt(start, "value %s without a qualifier such as host, net or port", start)
		}
		return p.qualified(p.last, start)
	}
	var q qual
	// Protocol qualifier.
	if t := p.peek(); t.kind == tWord {
		if t.text == "link" {
			t.text = "ether"
		}
		if _, ok := ipProtos[t.text]; ok || t.text == "ether" || etherProtos[t.text] != 0 {
			q.proto = t.text
			p.next()
		}
	}
	// Keywords that are whole primitives of their own.
	t := p.peek()
	switch {
	case p.isWord(t, "vlan") && q.proto == "":
		p.next()
		return p.vlan()
	case p.isWord(t, "less", "greater") && q.proto == "":
		p.next()
		v := p.next()
		if v.kind != tNum {
			return nil, p.errAt(v, "expected a length after %q, got %s", t.text, v)
		}
		cond := bpf.JumpLessOrEqual
		if t.text == "greater" {
			cond = bpf.JumpGreaterOrEqual
		}
		return &test{pre: []bpf.Instruction{bpf.LoadExtension{Num: bpf.ExtLen}}, cond: cond, k: v.num}, nil
	case p.isWord(t, "broadcast", "multicast"):
		p.next()
		return p.castTest(q.proto, t)
	case p.isWord(t, "proto"):
		p.next()
		return p.protoNum(q.proto, t)
	case p.isWord(t, "gateway"):
		return nil, p.errAt(t, "\"gateway\" needs host name resolution and is not supported")
	}
	// Direction.
	if t := p.peek(); p.isWord(t, "src", "dst") {
		p.next()
		q.dir = dirSrc
		if t.text == "dst" {
			q.dir = dirDst
		}
		if c := p.peek(); p.isWord(c, "or", "and") && p.isWord(p.peekN(1), "src", "dst") && p.peekN(1).text != t.text {
			p.next()
			p.next()
			q.dir = dirAny
			if c.text == "and" {
				q.dir = dirBoth
			}
		}
	}
	// Type.
	if t := p.peek(); p.isWord(t, "host", "net", "port", "portrange") {
		p.next()
		q.typ = t.text
	}
	v := p.peek()
	if q.typ == "" && q.dir == dirAny && !isValueToken(v) {
		// A bare protocol: "tcp", "ip6", "arp".
		if q.proto == "" {
			return nil, p.errAt(v, "expected a filter primitive, got %s", v)
		}
		return p.protoTest(q.proto, start)
	}
	if !isValueToken(v) {
		return nil, p.errAt(v, "expected a value, got %s", v)
	}
	if q.typ == "" {
		q.typ = "host"
	}
	q.set = true
	p.last = q
	return p.qualified(q, v)
}

// qualified parses the value of "[proto] [dir] type value".
func (p *parser) qualified(q qual, v token) (node, error) {
	p.next()
	switch q.typ {
	case "host":
		return p.host(q, v)
	case "net":
		return p.netPrim(q, v)
	case "port", "portrange":
		return p.port(q, v)
	}
	return nil, p.errAt(v, "unsupported qualifier %q", q.typ)
}

func dirCombine(d dir, src, dst node) node {
	switch d {
	case dirSrc:
		return src
	case dirDst:
		return dst
	case dirBoth:
		return and(src, dst)
	}
	return or(src, dst)
}

func (p *parser) etherType(t uint32) node { return ld(12+p.linkOff, 2, bpf.JumpEqual, t) }

func (p *parser) host(q qual, v token) (node, error) {
	if q.proto == "ether" {
		mac, err := net.ParseMAC(v.text)
		if err != nil || len(mac) != 6 {
			return nil, p.errAt(v, "bad MAC address %s", v)
		}
		return p.etherAddr(q.dir, mac), nil
	}
	addr, err := netip.ParseAddr(v.text)
	if err != nil {
		if _, merr := net.ParseMAC(v.text); merr == nil {
			return nil, p.errAt(v, "MAC address %s needs the \"ether\" qualifier", v)
		}
		return nil, p.errAt(v, "%s is not an IP address (host names are not resolved)", v)
	}
	bits := addr.BitLen()
	return p.addrTest(q, v, addr, bits)
}

func (p *parser) addrTest(q qual, v token, addr netip.Addr, bits int) (node, error) {
	nh := p.nh()
	if addr.Is4() {
		a := binary.BigEndian.Uint32(addr.AsSlice())
		mask := uint32(0)
		if bits > 0 {
			mask = ^uint32(0) << (32 - bits)
		}
		ipN := and(p.etherType(0x800), dirCombine(q.dir, ldMasked(nh+12, 4, mask, a), ldMasked(nh+16, 4, mask, a)))
		arpAddr := dirCombine(q.dir, ldMasked(nh+14, 4, mask, a), ldMasked(nh+24, 4, mask, a))
		switch q.proto {
		case "", "ip", "arp", "rarp":
		default:
			return nil, p.errAt(v, "%q cannot qualify an IPv4 %s", q.proto, q.typ)
		}
		switch q.proto {
		case "ip":
			return ipN, nil
		case "arp":
			return and(p.etherType(0x806), arpAddr), nil
		case "rarp":
			return and(p.etherType(0x8035), arpAddr), nil
		}
		return or(ipN, and(or(p.etherType(0x806), p.etherType(0x8035)), arpAddr)), nil
	}
	if q.proto != "" && q.proto != "ip6" {
		return nil, p.errAt(v, "%q cannot qualify an IPv6 %s", q.proto, q.typ)
	}
	b := addr.As16()
	cmp := func(off uint32) node {
		var n node
		for w := 0; w < 4; w++ {
			rem := bits - 32*w
			if rem <= 0 {
				break
			}
			mask := ^uint32(0)
			if rem < 32 {
				mask = ^uint32(0) << (32 - rem)
			}
			n = and(n, ldMasked(off+uint32(4*w), 4, mask, binary.BigEndian.Uint32(b[4*w:])))
		}
		if n == nil {
			return constNode(true)
		}
		return n
	}
	return and(p.etherType(0x86dd), dirCombine(q.dir, cmp(nh+8), cmp(nh+24))), nil
}

func (p *parser) etherAddr(d dir, mac net.HardwareAddr) node {
	hi, lo := binary.BigEndian.Uint32(mac[:4]), uint32(binary.BigEndian.Uint16(mac[4:]))
	src := and(ld(6, 4, bpf.JumpEqual, hi), ld(10, 2, bpf.JumpEqual, lo))
	dst := and(ld(0, 4, bpf.JumpEqual, hi), ld(4, 2, bpf.JumpEqual, lo))
	return dirCombine(d, src, dst)
}

func (p *parser) netPrim(q qual, v token) (node, error) {
	text := v.text
	if v.kind == tNum {
		text = fmt.Sprint(v.num)
	}
	bits := -1
	var addr netip.Addr
	if p.isOp(p.peek(), "/") {
		p.next()
		l := p.next()
		if l.kind != tNum {
			return nil, p.errAt(l, "expected a prefix length after \"/\", got %s", l)
		}
		bits = int(l.num)
	}
	if a, err := netip.ParseAddr(text); err == nil {
		addr = a
	} else if !strings.Contains(text, ":") {
		// Abbreviated IPv4 network: "10", "10.1", "10.1.2".
		parts := strings.Split(text, ".")
		if len(parts) > 3 {
			return nil, p.errAt(v, "bad network %s", v)
		}
		var b [4]byte
		for i, s := range parts {
			n, ok := parseNum(s)
			if !ok || n > 255 || (len(s) > 1 && s[0] == '0') {
				return nil, p.errAt(v, "bad network %s", v)
			}
			b[i] = byte(n)
		}
		addr = netip.AddrFrom4(b)
		if bits < 0 {
			bits = 8 * len(parts)
		}
	} else {
		return nil, p.errAt(v, "bad network %s", v)
	}
	if p.isWord(p.peek(), "mask") {
		mt := p.next()
		if bits >= 0 {
			return nil, p.errAt(mt, "\"mask\" after a prefix length")
		}
		m := p.next()
		ma, err := netip.ParseAddr(m.text)
		if err != nil || !ma.Is4() || !addr.Is4() {
			return nil, p.errAt(m, "bad IPv4 netmask %s", m)
		}
		mb := ma.As4()
		mask := binary.BigEndian.Uint32(mb[:])
		bits = 0
		for mask&0x80000000 != 0 {
			bits++
			mask <<= 1
		}
		if mask != 0 {
			return nil, p.errAt(m, "netmask %s is not contiguous", m)
		}
	}
	if bits < 0 {
		bits = addr.BitLen()
	}
	if bits > addr.BitLen() {
		return nil, p.errAt(v, "prefix length %d too long for %s", bits, addr)
	}
	if pf := netip.PrefixFrom(addr, bits); pf.Masked().Addr() != addr {
		return nil, p.errAt(v, "non-network bits set in \"%s/%d\"", addr, bits)
	}
	return p.addrTest(q, v, addr, bits)
}

func (p *parser) port(q qual, v token) (node, error) {
	var lo, hi uint32
	var err error
	p.nameTCP, p.nameUDP = true, true
	if q.typ == "portrange" {
		text := v.text
		if v.kind == tNum && p.isOp(p.peek(), "-") { // "1 - 100" lexed apart
			p.next()
			h := p.next()
			text = v.text + "-" + h.text
		}
		a, b, ok := strings.Cut(text, "-")
		if !ok {
			return nil, p.errAt(v, "expected a port range lo-hi, got %s", v)
		}
		if lo, err = p.portNum(v, a); err != nil {
			return nil, err
		}
		if hi, err = p.portNum(v, b); err != nil {
			return nil, err
		}
		if lo > hi {
			lo, hi = hi, lo
		}
	} else {
		if lo, err = p.portNum(v, v.text); err != nil {
			return nil, err
		}
		hi = lo
	}
	var protos []uint32
	v4, v6 := true, true
	switch q.proto {
	case "":
		switch {
		case p.nameTCP && p.nameUDP:
			protos = []uint32{132, 6, 17}
		case p.nameTCP:
			protos = []uint32{6}
		default:
			protos = []uint32{17}
		}
	case "tcp", "udp", "sctp":
		if (q.proto == "tcp" && !p.nameTCP) || (q.proto == "udp" && !p.nameUDP) || (q.proto == "sctp" && !(p.nameTCP && p.nameUDP)) {
			return nil, p.errAt(v, "port %s is not a %s port", v, q.proto)
		}
		protos = []uint32{ipProtos[q.proto].num}
	default:
		return nil, p.errAt(v, "%q cannot qualify a port", q.proto)
	}
	nh := p.nh()
	cmp := func(pre []bpf.Instruction) node {
		mk := func(cond bpf.JumpTest, k uint32) *test {
			return &test{pre: append([]bpf.Instruction(nil), pre...), cond: cond, k: k}
		}
		if lo == hi {
			return mk(bpf.JumpEqual, lo)
		}
		return and(mk(bpf.JumpGreaterOrEqual, lo), mk(bpf.JumpLessOrEqual, hi))
	}
	protoIs := func(off uint32) node {
		var n node
		for _, pr := range protos {
			n = or(n, ld(off, 1, bpf.JumpEqual, pr))
		}
		return n
	}
	var out node
	if v6 {
		ports := dirCombine(q.dir,
			cmp([]bpf.Instruction{bpf.LoadAbsolute{Off: nh + 40, Size: 2}}),
			cmp([]bpf.Instruction{bpf.LoadAbsolute{Off: nh + 42, Size: 2}}))
		out = and(p.etherType(0x86dd), protoIs(nh+6), ports)
	}
	if v4 {
		msh := bpf.LoadMemShift{Off: nh}
		ports := dirCombine(q.dir,
			cmp([]bpf.Instruction{msh, bpf.LoadIndirect{Off: nh, Size: 2}}),
			cmp([]bpf.Instruction{msh, bpf.LoadIndirect{Off: nh + 2, Size: 2}}))
		n4 := and(p.etherType(0x800), protoIs(nh+9), p.notFrag(), ports)
		if out == nil {
			out = n4
		} else {
			out = or(out, n4)
		}
	}
	return out, nil
}

func (p *parser) portNum(v token, s string) (uint32, error) {
	if n, ok := parseNum(s); ok {
		if n > 65535 {
			return 0, p.errAt(v, "port %d out of range", n)
		}
		return n, nil
	}
	if n, ok := portNames[s]; ok {
		p.nameTCP, p.nameUDP = p.nameTCP && n.tcp, p.nameUDP && n.udp
		if !p.nameTCP && !p.nameUDP {
			return 0, p.errAt(v, "ports %q do not share a transport", v.text)
		}
		return n.num, nil
	}
	return 0, p.errAt(v, "unknown port %q", s)
}

func (p *parser) notFrag() node {
	return not(&test{pre: []bpf.Instruction{bpf.LoadAbsolute{Off: p.nh() + 6, Size: 2}}, cond: bpf.JumpBitsSet, k: 0x1fff})
}

func (p *parser) ip4Proto(n uint32) node {
	return and(p.etherType(0x800), ld(p.nh()+9, 1, bpf.JumpEqual, n))
}

// ip6Proto matches the next header directly or behind a fragment header,
// as libpcap does.
func (p *parser) ip6Proto(n uint32) node {
	nh := p.nh()
	return and(p.etherType(0x86dd), or(ld(nh+6, 1, bpf.JumpEqual, n),
		and(ld(nh+6, 1, bpf.JumpEqual, 44), ld(nh+40, 1, bpf.JumpEqual, n))))
}

func (p *parser) protoTest(proto string, at token) (node, error) {
	if et, ok := etherProtos[proto]; ok {
		return p.etherType(et), nil
	}
	if ip, ok := ipProtos[proto]; ok {
		var n node
		if ip.v4 {
			n = p.ip4Proto(ip.num)
		}
		if ip.v6 {
			n6 := p.ip6Proto(ip.num)
			if n == nil {
				n = n6
			} else {
				n = or(n, n6)
			}
		}
		return n, nil
	}
	return nil, p.errAt(at, "%q needs a qualifier such as host or proto", proto)
}

func (p *parser) protoNum(proto string, kw token) (node, error) {
	v := p.next()
	var n uint32
	switch {
	case v.kind == tNum:
		n = v.num
	case p.isOp(v, "\\"):
		name := p.next()
		if proto == "ether" {
			et, ok := etherProtos[name.text]
			if !ok {
				return nil, p.errAt(name, "unknown ether protocol %s", name)
			}
			n = et
		} else {
			ip, ok := ipProtos[name.text]
			if !ok {
				return nil, p.errAt(name, "unknown IP protocol %s", name)
			}
			n = ip.num
		}
	default:
		return nil, p.errAt(v, "expected a protocol number or \\name after \"proto\", got %s", v)
	}
	switch proto {
	case "ether":
		if n <= 1500 || n > 0xffff {
			return nil, p.errAt(v, "ether proto %d: only EtherType values above 1500 are supported", n)
		}
		return p.etherType(n), nil
	case "ip":
		return p.ip4Proto(n & 0xff), nil
	case "ip6":
		return p.ip6Proto(n & 0xff), nil
	case "":
		if n > 255 {
			return nil, p.errAt(v, "IP protocol %d out of range", n)
		}
		return or(p.ip4Proto(n), p.ip6Proto(n)), nil
	}
	return nil, p.errAt(kw, "%q cannot qualify \"proto\"", proto)
}

func (p *parser) castTest(proto string, t token) (node, error) {
	bcast := and(ld(0, 4, bpf.JumpEqual, 0xffffffff), ld(4, 2, bpf.JumpEqual, 0xffff))
	mcast := &test{pre: []bpf.Instruction{bpf.LoadAbsolute{Off: 0, Size: 1}}, cond: bpf.JumpBitsSet, k: 1}
	switch {
	case proto == "" || proto == "ether":
		if t.text == "broadcast" {
			return bcast, nil
		}
		return mcast, nil
	case proto == "ip" && t.text == "multicast":
		return and(p.etherType(0x800), ld(p.nh()+16, 1, bpf.JumpGreaterOrEqual, 224)), nil
	case proto == "ip6" && t.text == "multicast":
		return and(p.etherType(0x86dd), ld(p.nh()+24, 1, bpf.JumpEqual, 0xff)), nil
	case proto == "ip" && t.text == "broadcast":
		return nil, p.errAt(t, "\"ip broadcast\" needs the port's netmask and is not supported")
	}
	return nil, p.errAt(t, "%q cannot qualify %q", proto, t.text)
}

func (p *parser) vlan() (node, error) {
	tagged := or(p.etherType(0x8100), p.etherType(0x88a8), p.etherType(0x9100))
	var n node = tagged
	if v := p.peek(); v.kind == tNum {
		p.next()
		if v.num > 4095 {
			return nil, p.errAt(v, "VLAN id %d out of range", v.num)
		}
		n = and(tagged, ldMasked(14+p.linkOff, 2, 0xfff, v.num))
	}
	p.linkOff += 4
	return n, nil
}
