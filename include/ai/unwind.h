/* Native stack unwinding of one thread, the same way for live processes and core files: libunwind
 * in a remote address space of our own whose accessors read target memory (ai_memory_read), the
 * thread's saved registers, and each module's .eh_frame_hdr table (the vdso's included).
 *
 * Frames keep what later readers of parameters and locals need (DW_AT_location, DW_OP_fbreg
 * against DW_AT_frame_base): the registers known at each frame, its CFA, and the DIE offsets of
 * its function. Unwinding is bounded (AI_MAX_FRAMES) and stops, with a note, on a failed memory
 * read, a loop, or a stack pointer that goes backwards. */
#ifndef AI_UNWIND_H
#define AI_UNWIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ai/debuginfo.h"
#include "ai/error.h"
#include "ai/target.h"

#define AI_MAX_FRAMES 256

/* Registers by DWARF number (x86-64 psABI): rax 0, rdx 1, rcx 2, rbx 3, rsi 4, rdi 5, rbp 6,
 * rsp 7, r8-r15 8-15, rip 16. */
enum {
	AI_REG_RAX, AI_REG_RDX, AI_REG_RCX, AI_REG_RBX, AI_REG_RSI, AI_REG_RDI, AI_REG_RBP,
	AI_REG_RSP, AI_REG_R8, AI_REG_R9, AI_REG_R10, AI_REG_R11, AI_REG_R12, AI_REG_R13,
	AI_REG_R14, AI_REG_R15, AI_REG_RIP,
	AI_REG_COUNT,
};

struct ai_frame {
	uint64_t pc;              /* rip; a return address in caller frames */
	uint64_t cfa;             /* canonical frame address: rsp in the caller before its call into
				   * this frame (= the caller's sp); 0 if unknown (the outermost frame) */
	uint64_t sp;              /* rsp */
	uint64_t regs[AI_REG_COUNT];
	uint32_t regs_valid;      /* bit n: regs[n] is known. All in the innermost frame; rip, rsp
				   * and the callee-saved rbx, rbp, r12-r15 in callers */
	size_t physical_index;    /* the machine frame this belongs to, 0 = innermost */
	bool is_return_address;   /* pc - 1 was used for symbolizing (a caller frame) */
	bool is_signal_frame;     /* a signal handler trampoline (__restore_rt) */
	bool inlined;             /* a virtual frame for an inlined call; the next frame, at the same
				   * pc, is its caller */
	struct ai_module *module; /* borrowed from the debuginfo; NULL if pc is in no module */
	const char *symbol;       /* borrowed: ELF symbol when DWARF has no function; or NULL */
	uint64_t symbol_offset;
	struct ai_location location; /* function, file:line, die_offset, subprogram_die_offset
				      * (strings borrowed from the debuginfo) */
};

struct ai_stack {
	struct ai_frame *frames; /* owned; innermost first, inlined calls expanded */
	size_t count;
	size_t physical_count;   /* machine frames (count minus inlined ones) */
	char *stop_reason;       /* owned: why the stack ends early ("cannot read memory at 0x...",
				  * "no unwind information for 0x...", "frame limit reached"), or
				  * NULL if it reached the outermost frame */
};

/* Unwinds a thread of di's target; the thread's registers must be valid (a stopped live thread,
 * or a thread of a core). Stops early with ret->stop_reason set rather than failing: an error is
 * returned only when there is nothing to unwind (no registers) or libunwind cannot start. Reads
 * go through target->memory: enable its page cache while the target is stopped. */
struct ai_error *ai_unwind_thread(struct ai_debuginfo *di, const struct ai_thread *thread,
				  struct ai_stack *ret);
/* The same, machine frames only (module set, no names, no inlined frames): the part that needs the
 * target stopped. ai_stack_symbolize() then names the frames and expands inlined calls, which needs
 * only the files, so it can run after the target was let go. */
struct ai_error *ai_unwind_thread_unsymbolized(struct ai_debuginfo *di, const struct ai_thread *thread,
					       struct ai_stack *ret);
void ai_stack_symbolize(struct ai_debuginfo *di, struct ai_stack *stack);
/* Unwinds a sample of a thread that runs on (`profile`'s CPU samples), symbolized, never stopping
 * it: registers from thread->regs, memory from `stack`, a copy of [stack_address, stack_address +
 * stack_size) taken with them, where the address lies in it; else from the module's file
 * (read-only segments); else from live process pid (process_vm_readv: what is there now). */
struct ai_error *ai_unwind_sample(struct ai_debuginfo *di, const struct ai_thread *thread, pid_t pid,
				  const void *stack, uint64_t stack_address, size_t stack_size,
				  struct ai_stack *ret);
void ai_stack_deinit(struct ai_stack *stack);

#endif
