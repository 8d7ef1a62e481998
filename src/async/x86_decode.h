/* x86-64 instruction decoding, private to src/async (drop_flags.c). */
#ifndef AI_ASYNC_X86_DECODE_H
#define AI_ASYNC_X86_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ai_x86_insn {
	uint8_t length;
	bool two_byte;      /* 0F-prefixed; opcode is the byte after 0F */
	uint8_t opcode;
	bool rex_w;
	bool has_modrm, has_sib, rip_relative;
	uint8_t mod, reg;   /* reg with REX.R */
	uint8_t base;       /* rm (or the SIB base) with REX.B */
	int64_t disp;
	uint64_t imm;       /* sign-extended when 1 or 4 bytes */
	uint8_t imm_size;
};

/* Decodes the instruction at code (avail bytes readable); false if it is not one we know. */
bool ai_x86_decode(const uint8_t *code, size_t avail, struct ai_x86_insn *ret);

#endif
