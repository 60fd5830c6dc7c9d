package filter

import (
	"encoding/binary"

	"golang.org/x/net/bpf"
)

// Classic BPF opcode parts (linux/filter.h).
const (
	clsLD   = 0x00
	clsLDX  = 0x01
	clsST   = 0x02
	clsSTX  = 0x03
	clsALU  = 0x04
	clsJMP  = 0x05
	clsRET  = 0x06
	clsMISC = 0x07

	szW = 0x00
	szH = 0x08
	szB = 0x10

	mIMM = 0x00
	mABS = 0x20
	mIND = 0x40
	mMEM = 0x60
	mLEN = 0x80
	mMSH = 0xa0

	srcX = 0x08

	aluAdd = 0x00
	aluSub = 0x10
	aluMul = 0x20
	aluDiv = 0x30
	aluOr  = 0x40
	aluAnd = 0x50
	aluLsh = 0x60
	aluRsh = 0x70
	aluNeg = 0x80
	aluMod = 0x90
	aluXor = 0xa0

	jmpJA   = 0x00
	jmpJEQ  = 0x10
	jmpJGT  = 0x20
	jmpJGE  = 0x30
	jmpJSET = 0x40

	retA = 0x10

	miscTAX = 0x00
	miscTXA = 0x80
)

// run interprets the raw program like the kernel does: a load beyond the
// frame or a division by zero rejects it. wireLen is what "len" yields.
// Unlike x/net/bpf's VM it implements every classic instruction (neg too)
// and does not allocate.
func run(prog []bpf.RawInstruction, pkt []byte, wireLen uint32) uint32 {
	var a, x uint32
	var mem [16]uint32
	n := uint32(len(pkt))
	load := func(off uint32, size uint32) (uint32, bool) {
		if off > n || size > n-off {
			return 0, false
		}
		switch size {
		case 4:
			return binary.BigEndian.Uint32(pkt[off:]), true
		case 2:
			return uint32(binary.BigEndian.Uint16(pkt[off:])), true
		}
		return uint32(pkt[off]), true
	}
	sizeOf := func(op uint16) uint32 {
		switch op & 0x18 {
		case szH:
			return 2
		case szB:
			return 1
		}
		return 4
	}
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		op, k := in.Op, in.K
		switch op & 0x07 {
		case clsLD:
			var ok bool
			switch op & 0xe0 {
			case mIMM:
				a = k
			case mABS:
				if a, ok = load(k, sizeOf(op)); !ok {
					return 0
				}
			case mIND:
				if a, ok = load(x+k, sizeOf(op)); !ok || x+k < x {
					return 0
				}
			case mMEM:
				a = mem[k&15]
			case mLEN:
				a = wireLen
			default:
				return 0
			}
		case clsLDX:
			switch op & 0xe0 {
			case mIMM:
				x = k
			case mMEM:
				x = mem[k&15]
			case mLEN:
				x = wireLen
			case mMSH:
				b, ok := load(k, 1)
				if !ok {
					return 0
				}
				x = 4 * (b & 0xf)
			default:
				return 0
			}
		case clsST:
			mem[k&15] = a
		case clsSTX:
			mem[k&15] = x
		case clsALU:
			v := k
			if op&srcX != 0 {
				v = x
			}
			switch op & 0xf0 {
			case aluAdd:
				a += v
			case aluSub:
				a -= v
			case aluMul:
				a *= v
			case aluDiv:
				if v == 0 {
					return 0
				}
				a /= v
			case aluMod:
				if v == 0 {
					return 0
				}
				a %= v
			case aluOr:
				a |= v
			case aluAnd:
				a &= v
			case aluXor:
				a ^= v
			case aluLsh:
				a <<= v & 31
			case aluRsh:
				a >>= v & 31
			case aluNeg:
				a = -a
			default:
				return 0
			}
		case clsJMP:
			v := k
			if op&srcX != 0 {
				v = x
			}
			var t bool
			switch op & 0xf0 {
			case jmpJA:
				pc += int(k)
				continue
			case jmpJEQ:
				t = a == v
			case jmpJGT:
				t = a > v
			case jmpJGE:
				t = a >= v
			case jmpJSET:
				t = a&v != 0
			default:
				return 0
			}
			if t {
				pc += int(in.Jt)
			} else {
				pc += int(in.Jf)
			}
		case clsRET:
			if op&0x18 == retA {
				return a
			}
			return k
		case clsMISC:
			if op&0xf8 == miscTXA {
				a = x
			} else {
				x = a
			}
		}
	}
	return 0
}
