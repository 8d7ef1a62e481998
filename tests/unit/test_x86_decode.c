/* The x86-64 decoder under drop_flags.c: lengths and operands of the instructions rustc's
 * unoptimised drop glue is made of (bytes from the `locals` fixture's drop_in_place<ENV>), and
 * refusals. (Checked outside the suite against objdump on whole binaries: same lengths for every
 * instruction of the tokio fixtures and of gdb.) */
#include <criterion/criterion.h>

#include "../../src/async/x86_decode.h"

static struct ai_x86_insn decode(const uint8_t *bytes, size_t n)
{
	struct ai_x86_insn in;
	cr_assert(ai_x86_decode(bytes, n, &in), "decodes");
	cr_assert_eq(in.length, n, "length %u, expected %zu", in.length, n);
	return in;
}

#define DECODE(...) decode((const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }))

Test(x86_decode, drop_glue_instructions)
{
	/* testb $0x1,0xa3(%rax) */
	struct ai_x86_insn in = DECODE(0xf6, 0x80, 0xa3, 0x00, 0x00, 0x00, 0x01);
	cr_expect(!in.two_byte && in.opcode == 0xf6 && (in.reg & 7) == 0 && in.mod == 2);
	cr_expect_eq(in.base, 0);
	cr_expect_eq(in.disp, 0xa3);
	cr_expect_eq(in.imm, 1);
	/* mov 0x8(%rsp),%rdi: SIB, base rsp */
	in = DECODE(0x48, 0x8b, 0x7c, 0x24, 0x08);
	cr_expect(in.rex_w && in.has_sib && in.base == 4 && in.reg == 7 && in.disp == 8);
	/* add $0x50,%rdi */
	in = DECODE(0x48, 0x83, 0xc7, 0x50);
	cr_expect(in.mod == 3 && in.base == 7 && (in.reg & 7) == 0 && in.imm == 0x50);
	/* jne rel32 (negative), jne rel8, jmp rel8 */
	in = DECODE(0x0f, 0x85, 0xcb, 0x00, 0x00, 0x00);
	cr_expect(in.two_byte && in.opcode == 0x85 && in.imm == 0xcb);
	in = DECODE(0x75, 0xf0);
	cr_expect_eq((int64_t)in.imm, -16);
	DECODE(0xeb, 0x00);
	/* mov 0x1052c9(%rip),%rax; call *%rax; call rel32; movb $0x0,0x93(%rax); movzbl 0x91(%rdi),%eax */
	in = DECODE(0x48, 0x8b, 0x05, 0xc9, 0x52, 0x10, 0x00);
	cr_expect(in.rip_relative && in.reg == 0);
	in = DECODE(0xff, 0xd0);
	cr_expect(in.opcode == 0xff && (in.reg & 7) == 2);
	DECODE(0xe8, 0x0f, 0xf6, 0xff, 0xff);
	DECODE(0xc6, 0x80, 0x93, 0x00, 0x00, 0x00, 0x00);
	DECODE(0x0f, 0xb6, 0x87, 0x91, 0x00, 0x00, 0x00);
	/* movabs $imm64,%rax; movups %xmm0,0x10(%rsp); nopw 0x0(%rax,%rax,1) */
	DECODE(0x48, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8);
	DECODE(0x0f, 0x11, 0x44, 0x24, 0x10);
	DECODE(0x66, 0x0f, 0x1f, 0x44, 0x00, 0x00);
}

Test(x86_decode, refuses_what_it_does_not_know)
{
	struct ai_x86_insn in;
	/* VEX (vmovdqu), an opcode invalid in 64-bit mode, and a cut instruction. */
	cr_expect_not(ai_x86_decode((const uint8_t[]){ 0xc5, 0xfa, 0x6f, 0x07 }, 4, &in));
	cr_expect_not(ai_x86_decode((const uint8_t[]){ 0x06 }, 1, &in));
	cr_expect_not(ai_x86_decode((const uint8_t[]){ 0xf6, 0x80, 0xa3, 0x00 }, 4, &in));
}
