/* A small x86-64 instruction decoder: the length of one instruction, its opcode, ModRM operand
 * and immediate. Enough to walk the unoptimised code rustc emits for drop glue (drop_flags.c);
 * anything it does not know (VEX/EVEX, 3DNow!, opcodes invalid in 64-bit mode) returns false, and
 * the caller then knows nothing rather than something wrong. */
#include <string.h>

#include "x86_decode.h"

/* One-byte opcodes that take a ModRM byte. */
static bool one_byte_modrm(uint8_t op)
{
	if (op < 0x40)
		return (op & 7) < 4;
	switch (op) {
	case 0x63: case 0x69: case 0x6b:
	case 0xc0: case 0xc1: case 0xc6: case 0xc7:
	case 0xd0: case 0xd1: case 0xd2: case 0xd3:
	case 0xf6: case 0xf7: case 0xfe: case 0xff:
		return true;
	default:
		return (op >= 0x80 && op <= 0x8f) || (op >= 0xd8 && op <= 0xdf);
	}
}

static bool invalid_64(uint8_t op)
{
	static const uint8_t bad[] = { 0x06, 0x07, 0x0e, 0x16, 0x17, 0x1e, 0x1f, 0x27, 0x2f, 0x37,
				       0x3f, 0x60, 0x61, 0x62, 0x82, 0x9a, 0xc4, 0xc5, 0xd4, 0xd5,
				       0xd6, 0xea };
	return memchr(bad, op, sizeof(bad)) != NULL;
}

/* Immediate bytes of a one-byte opcode (opsize: 2 or 4, rex_w: 64-bit operand). */
static int one_byte_imm(uint8_t op, uint8_t reg, int opsize, bool rex_w, int addrsize)
{
	if (op < 0x40 && (op & 7) == 4)
		return 1;
	if (op < 0x40 && (op & 7) == 5)
		return opsize;
	if (op >= 0x70 && op <= 0x7f)
		return 1;
	if (op >= 0xb0 && op <= 0xb7)
		return 1;
	if (op >= 0xb8 && op <= 0xbf)
		return rex_w ? 8 : opsize;
	if (op >= 0xa0 && op <= 0xa3)
		return addrsize;
	switch (op) {
	case 0x68: case 0x69: case 0x81: case 0xa9: case 0xc7: case 0xe8: case 0xe9:
		return opsize;
	case 0x6a: case 0x6b: case 0x80: case 0x83: case 0xa8: case 0xc0: case 0xc1: case 0xc6:
	case 0xcd: case 0xe0: case 0xe1: case 0xe2: case 0xe3: case 0xe4: case 0xe5: case 0xe6:
	case 0xe7: case 0xeb:
		return 1;
	case 0xc2: case 0xca:
		return 2;
	case 0xc8:
		return 3;
	case 0xf6:
		return reg < 2 ? 1 : 0;
	case 0xf7:
		return reg < 2 ? opsize : 0;
	default:
		return 0;
	}
}

bool ai_x86_decode(const uint8_t *code, size_t avail, struct ai_x86_insn *ret)
{
	struct ai_x86_insn in;
	memset(&in, 0, sizeof(in));
	size_t i = 0;
	int opsize = 4, addrsize = 8;
	uint8_t rex = 0;
	for (;; i++) {
		if (i >= avail || i >= 14)
			return false;
		uint8_t b = code[i];
		if (b == 0x66)
			opsize = 2;
		else if (b == 0x67)
			addrsize = 4;
		else if (b != 0xf0 && b != 0xf2 && b != 0xf3 && b != 0x2e && b != 0x36 && b != 0x3e &&
			 b != 0x26 && b != 0x64 && b != 0x65)
			break;
	}
	if ((code[i] & 0xf0) == 0x40) {
		rex = code[i++];
		if (i >= avail)
			return false;
	}
	in.rex_w = rex & 8;
	if (in.rex_w)
		opsize = 4; /* immediates stay 32-bit (sign-extended) but for B8+r */
	uint8_t op = code[i++];
	bool modrm = false;
	int imm = 0;
	if (op == 0x0f) {
		if (i >= avail)
			return false;
		uint8_t op2 = code[i++];
		in.two_byte = true;
		in.opcode = op2;
		if (op2 == 0x38 || op2 == 0x3a) {
			if (i >= avail)
				return false;
			i++; /* the third opcode byte */
			modrm = true;
			imm = op2 == 0x3a ? 1 : 0;
		} else if (op2 >= 0x80 && op2 <= 0x8f) {
			imm = 4;
		} else if (op2 == 0x05 || op2 == 0x0b || op2 == 0x31 || op2 == 0xa2 || op2 == 0x06 ||
			   op2 == 0x07 || op2 == 0x0e || op2 == 0x77 || (op2 >= 0xc8 && op2 <= 0xcf) ||
			   op2 == 0xa0 || op2 == 0xa1 || op2 == 0xa8 || op2 == 0xa9) {
			modrm = false;
		} else if (op2 == 0x0f || op2 == 0x04 || op2 == 0x0a || op2 == 0x0c || op2 == 0x24 ||
			   op2 == 0x25 || op2 == 0x26 || op2 == 0x27 || op2 == 0x36 || op2 == 0x39 ||
			   (op2 >= 0x3b && op2 <= 0x3f)) {
			return false; /* 3DNow! and reserved */
		} else {
			modrm = true;
			if ((op2 >= 0x70 && op2 <= 0x73) || op2 == 0xa4 || op2 == 0xac || op2 == 0xba ||
			    op2 == 0xc2 || op2 == 0xc4 || op2 == 0xc5 || op2 == 0xc6)
				imm = 1;
		}
	} else {
		if (invalid_64(op))
			return false;
		in.opcode = op;
		modrm = one_byte_modrm(op);
	}
	if (modrm) {
		if (i >= avail)
			return false;
		uint8_t m = code[i++];
		in.has_modrm = true;
		in.mod = m >> 6;
		in.reg = (uint8_t)(((m >> 3) & 7) | (rex & 4 ? 8 : 0));
		uint8_t rm = m & 7;
		int disp = 0;
		if (in.mod != 3 && rm == 4) {
			if (i >= avail)
				return false;
			uint8_t sib = code[i++];
			in.has_sib = true;
			in.base = (uint8_t)((sib & 7) | (rex & 1 ? 8 : 0));
			if (in.mod == 0 && (sib & 7) == 5)
				disp = 4;
		} else {
			in.base = (uint8_t)(rm | (rex & 1 ? 8 : 0));
			if (in.mod == 0 && rm == 5) {
				in.rip_relative = true;
				disp = 4;
			}
		}
		if (in.mod == 1)
			disp = 1;
		else if (in.mod == 2)
			disp = 4;
		if (i + (size_t)disp > avail)
			return false;
		if (disp == 1)
			in.disp = (int8_t)code[i];
		else if (disp == 4)
			in.disp = (int32_t)((uint32_t)code[i] | (uint32_t)code[i + 1] << 8 |
					    (uint32_t)code[i + 2] << 16 | (uint32_t)code[i + 3] << 24);
		i += (size_t)disp;
	}
	if (!in.two_byte)
		imm = one_byte_imm(op, in.reg & 7, opsize, in.rex_w, addrsize);
	if (i + (size_t)imm > avail)
		return false;
	for (int k = 0; k < imm && k < 8; k++)
		in.imm |= (uint64_t)code[i + (size_t)k] << (8 * k);
	/* Sign-extend 1- and 4-byte immediates (jumps, ALU and mov imm32 to r/m64). */
	if (imm == 1)
		in.imm = (uint64_t)(int64_t)(int8_t)in.imm;
	else if (imm == 4)
		in.imm = (uint64_t)(int64_t)(int32_t)in.imm;
	in.imm_size = (uint8_t)imm;
	i += (size_t)imm;
	in.length = (uint8_t)i;
	*ret = in;
	return true;
}
