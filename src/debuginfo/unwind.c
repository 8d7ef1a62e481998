/* Unwinding with libunwind over our own accessors; see ai/unwind.h.
 *
 * One path for live processes and cores: memory comes from ai_memory_read (or, for read-only
 * segments of a module, straight from its ELF file: same bytes, no system call), registers from
 * struct ai_thread, unwind tables from each module's .eh_frame_hdr, searched by libunwind's own
 * _Ux86_64_dwarf_search_unwind_table as _UPT_find_proc_info does. A CPU sample of a running
 * thread (ai_unwind_sample) reads its stack copy first, then the live process, never stopped. */
#include <inttypes.h>
#include <libunwind.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "ai/memory.h"
#include "ai/unwind.h"
#include "ai/util.h"
#include "debuginfo_internal.h"

/* Exported by libunwind-x86_64 (libunwind-generic) but not declared in its headers. */
extern int _Ux86_64_dwarf_search_unwind_table(unw_addr_space_t as, unw_word_t ip,
					      unw_dyn_info_t *di, unw_proc_info_t *pi,
					      int need_unwind_info, void *arg);

/* DWARF exception-header pointer encodings (LSB, .eh_frame_hdr) */
#define DW_EH_PE_omit 0xff
#define DW_EH_PE_absptr 0x00
#define DW_EH_PE_uleb128 0x01
#define DW_EH_PE_udata2 0x02
#define DW_EH_PE_udata4 0x03
#define DW_EH_PE_udata8 0x04
#define DW_EH_PE_sleb128 0x09
#define DW_EH_PE_sdata2 0x0a
#define DW_EH_PE_sdata4 0x0b
#define DW_EH_PE_sdata8 0x0c
#define DW_EH_PE_pcrel 0x10
#define DW_EH_PE_datarel 0x30

struct unwind_arg {
	struct ai_debuginfo *di;
	const struct ai_thread *thread;
	bool faulted;
	uint64_t fault_address;
	/* A sample (ai_unwind_sample): its stack copy, then the live process, not target->memory. */
	const uint8_t *stack;
	uint64_t stack_address;
	size_t stack_size;
	pid_t pid;
};

/* ---- .eh_frame_hdr ---- */

/* Decodes one encoded value at buf[*pos]; `address` is the runtime address of buf[0]. */
static bool read_encoded(const uint8_t *buf, size_t size, size_t *pos, uint8_t enc,
			 uint64_t address, uint64_t hdr_address, uint64_t *ret)
{
	if (enc == DW_EH_PE_omit)
		return false;
	size_t p = *pos;
	uint64_t v = 0;
	size_t n;
	switch (enc & 0x0f) {
	case DW_EH_PE_absptr:
	case DW_EH_PE_udata8:
	case DW_EH_PE_sdata8:
		n = 8;
		break;
	case DW_EH_PE_udata4:
	case DW_EH_PE_sdata4:
		n = 4;
		break;
	case DW_EH_PE_udata2:
	case DW_EH_PE_sdata2:
		n = 2;
		break;
	default:
		return false; /* LEB128 never appears in .eh_frame_hdr headers in practice */
	}
	if (p + n > size)
		return false;
	for (size_t i = 0; i < n; i++)
		v |= (uint64_t)buf[p + i] << (8 * i);
	if ((enc & 0x0f) == DW_EH_PE_sdata4)
		v = (uint64_t)(int64_t)(int32_t)v;
	else if ((enc & 0x0f) == DW_EH_PE_sdata2)
		v = (uint64_t)(int64_t)(int16_t)v;
	switch (enc & 0x70) {
	case 0:
		break;
	case DW_EH_PE_pcrel:
		v += address + p;
		break;
	case DW_EH_PE_datarel:
		v += hdr_address;
		break;
	default:
		return false;
	}
	*pos = p + n;
	*ret = v;
	return true;
}

/* Finds the module's binary-search table: runtime addresses for libunwind. */
static void load_unwind_table(struct ai_module *m)
{
	m->unwind_tried = true;
	const struct ai_elf_file *elf = m->elf;
	if (!elf || !elf->has_eh_frame_hdr || elf->text_end <= elf->text_start)
		return;
	uint8_t hdr[32];
	size_t size = (size_t)AI_MIN(sizeof(hdr), elf->eh_frame_hdr_size);
	struct ai_error *err = ai_elf_file_read(elf, elf->eh_frame_hdr_vaddr, hdr, size);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	uint64_t hdr_address = elf->eh_frame_hdr_vaddr + m->bias;
	/* version, eh_frame_ptr_enc, fde_count_enc, table_enc */
	if (size < 4 || hdr[0] != 1)
		return;
	size_t pos = 4;
	uint64_t eh_frame, fde_count;
	if (!read_encoded(hdr, size, &pos, hdr[1], hdr_address, hdr_address, &eh_frame) ||
	    !read_encoded(hdr, size, &pos, hdr[2], hdr_address, hdr_address, &fde_count))
		return;
	/* libunwind 1.6 searches only 32-bit datarel tables (what every linker writes). */
	if (hdr[3] != (DW_EH_PE_datarel | DW_EH_PE_sdata4) || fde_count == 0 ||
	    fde_count > elf->eh_frame_hdr_size / 8)
		return;
	m->eh_frame_hdr = hdr_address;
	m->unwind_table = hdr_address + pos;
	m->fde_count = fde_count;
	m->unwind_start = elf->text_start + m->bias;
	m->unwind_end = elf->text_end + m->bias;
	m->has_unwind_table = true;
}

/* ---- accessors ---- */

static int find_proc_info(unw_addr_space_t as, unw_word_t ip, unw_proc_info_t *pi,
			  int need_unwind_info, void *arg)
{
	struct unwind_arg *a = arg;
	struct ai_module *m = ai_debuginfo_find_module(a->di, ip);
	if (!m || m->error)
		return -UNW_ENOINFO;
	if (!m->unwind_tried)
		load_unwind_table(m);
	if (!m->has_unwind_table || ip < m->unwind_start || ip >= m->unwind_end)
		return -UNW_ENOINFO;
	unw_dyn_info_t di;
	memset(&di, 0, sizeof(di));
	di.start_ip = m->unwind_start;
	di.end_ip = m->unwind_end;
	di.gp = 0;
	di.format = UNW_INFO_FORMAT_REMOTE_TABLE;
	di.u.rti.name_ptr = 0;
	di.u.rti.segbase = m->eh_frame_hdr;
	di.u.rti.table_data = m->unwind_table;
	/* in words: each entry is two 32-bit values (initial location, FDE offset) */
	di.u.rti.table_len = m->fde_count * 8 / sizeof(unw_word_t);
	return _Ux86_64_dwarf_search_unwind_table(as, ip, &di, pi, need_unwind_info, arg);
}

static void put_unwind_info(unw_addr_space_t as, unw_proc_info_t *pi, void *arg)
{
	/* Nothing: for tables found by dwarf_search_unwind_table, libunwind frees pi->unwind_info
	 * itself (from its own pool); this hook is only called for dynamic unwind info, which we
	 * never register. */
}

static int get_dyn_info_list_addr(unw_addr_space_t as, unw_word_t *dilap, void *arg)
{
	return -UNW_ENOINFO;
}

/* Reads from the module's file when address is in a read-only segment of it. */
static bool read_from_file(struct ai_debuginfo *di, uint64_t address, void *buf, size_t size)
{
	struct ai_module *m = ai_debuginfo_find_module(di, address);
	if (!m || m->error || !m->elf)
		return false;
	uint64_t vaddr = address - m->bias;
	const struct ai_elf_file *elf = m->elf;
	for (size_t i = 0; i < elf->phnum; i++) {
		const GElf_Phdr *ph = &elf->phdrs[i];
		if (ph->p_type != PT_LOAD || (ph->p_flags & PF_W) || vaddr < ph->p_vaddr ||
		    vaddr - ph->p_vaddr >= ph->p_filesz || size > ph->p_filesz - (vaddr - ph->p_vaddr))
			continue;
		struct ai_error *err = ai_elf_file_read(elf, vaddr, buf, size);
		if (!err)
			return true;
		ai_error_destroy(err);
		return false;
	}
	return false;
}

static int access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *valp, int write,
		      void *arg)
{
	struct unwind_arg *a = arg;
	if (write)
		return -UNW_EINVAL; /* we never write target memory */
	if (a->stack && addr >= a->stack_address && addr - a->stack_address <= a->stack_size &&
	    a->stack_size - (addr - a->stack_address) >= sizeof(*valp)) {
		memcpy(valp, a->stack + (addr - a->stack_address), sizeof(*valp));
		return 0;
	}
	if (read_from_file(a->di, addr, valp, sizeof(*valp)))
		return 0;
	if (a->pid) {
		struct iovec local = { .iov_base = valp, .iov_len = sizeof(*valp) };
		struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = sizeof(*valp) };
		if (process_vm_readv(a->pid, &local, 1, &remote, 1, 0) == (ssize_t)sizeof(*valp))
			return 0;
		if (!a->faulted) {
			a->faulted = true;
			a->fault_address = addr;
		}
		return -UNW_EINVAL;
	}
	struct ai_error *err = ai_memory_read(a->di->target->memory, valp, addr, sizeof(*valp));
	if (err) {
		if (!a->faulted) {
			a->faulted = true;
			a->fault_address = err->code == AI_ERROR_FAULT ? err->address : addr;
		}
		ai_error_destroy(err);
		return -UNW_EINVAL;
	}
	return 0;
}

static bool thread_reg(const struct ai_thread *t, unw_regnum_t reg, uint64_t *ret)
{
	const struct user_regs_struct *r = &t->regs;
	switch (reg) {
	case UNW_X86_64_RAX: *ret = r->rax; return true;
	case UNW_X86_64_RDX: *ret = r->rdx; return true;
	case UNW_X86_64_RCX: *ret = r->rcx; return true;
	case UNW_X86_64_RBX: *ret = r->rbx; return true;
	case UNW_X86_64_RSI: *ret = r->rsi; return true;
	case UNW_X86_64_RDI: *ret = r->rdi; return true;
	case UNW_X86_64_RBP: *ret = r->rbp; return true;
	case UNW_X86_64_RSP: *ret = r->rsp; return true;
	case UNW_X86_64_R8: *ret = r->r8; return true;
	case UNW_X86_64_R9: *ret = r->r9; return true;
	case UNW_X86_64_R10: *ret = r->r10; return true;
	case UNW_X86_64_R11: *ret = r->r11; return true;
	case UNW_X86_64_R12: *ret = r->r12; return true;
	case UNW_X86_64_R13: *ret = r->r13; return true;
	case UNW_X86_64_R14: *ret = r->r14; return true;
	case UNW_X86_64_R15: *ret = r->r15; return true;
	case UNW_X86_64_RIP: *ret = r->rip; return true;
	default: return false;
	}
}

static int access_reg(unw_addr_space_t as, unw_regnum_t reg, unw_word_t *valp, int write,
		      void *arg)
{
	struct unwind_arg *a = arg;
	if (write)
		return -UNW_EINVAL;
	uint64_t v;
	if (!thread_reg(a->thread, reg, &v))
		return -UNW_EBADREG;
	*valp = v;
	return 0;
}

static int access_fpreg(unw_addr_space_t as, unw_regnum_t reg, unw_fpreg_t *val, int write,
			void *arg)
{
	return -UNW_EBADREG;
}

static int resume(unw_addr_space_t as, unw_cursor_t *cursor, void *arg)
{
	return -UNW_EINVAL;
}

static int get_proc_name(unw_addr_space_t as, unw_word_t addr, char *buf, size_t len,
			 unw_word_t *offp, void *arg)
{
	struct unwind_arg *a = arg;
	struct ai_module *m = ai_debuginfo_find_module(a->di, addr);
	if (!m || m->error || !m->symbols)
		return -UNW_ENOINFO;
	struct ai_elf_symbol *sym = ai_elf_file_find_symbol(m->symbols, addr - m->bias);
	if (!sym)
		return -UNW_ENOINFO;
	if (len)
		snprintf(buf, len, "%s", sym->name);
	*offp = addr - m->bias - sym->address;
	return strlen(sym->name) < len ? 0 : -UNW_ENOMEM;
}

static unw_accessors_t accessors = {
	.find_proc_info = find_proc_info,
	.put_unwind_info = put_unwind_info,
	.get_dyn_info_list_addr = get_dyn_info_list_addr,
	.access_mem = access_mem,
	.access_reg = access_reg,
	.access_fpreg = access_fpreg,
	.resume = resume,
	.get_proc_name = get_proc_name,
};

/* The address space is a cache over the modules (debuginfo_internal.h). */
static void address_space_flush(void *cache)
{
	unw_flush_cache(cache, 0, 0);
}

static void address_space_destroy(void *cache)
{
	unw_destroy_addr_space(cache);
}

static const struct ai_module_cache_ops address_space_ops = {
	.flush = address_space_flush,
	.destroy = address_space_destroy,
};

/* ---- frames ---- */

static const unw_regnum_t callee_saved[] = {
	UNW_X86_64_RBX, UNW_X86_64_RBP, UNW_X86_64_R12,
	UNW_X86_64_R13, UNW_X86_64_R14, UNW_X86_64_R15,
};

static void add_frame(struct ai_stack *stack, size_t *capacity, const struct ai_frame *frame)
{
	AI_GROW(stack->frames, *capacity, stack->count + 1);
	stack->frames[stack->count++] = *frame;
}

/* Fills a frame's module, symbol and source locations, and appends it to the stack expanded into
 * its inlined calls. */
static void add_symbolized(struct ai_debuginfo *di, struct ai_stack *stack, size_t *capacity,
			   struct ai_frame *frame)
{
	struct ai_symbolization sym;
	struct ai_error *err = ai_debuginfo_symbolize(di, frame->pc, frame->is_return_address, &sym);
	ai_error_destroy(err);
	frame->module = sym.module;
	frame->symbol = sym.symbol;
	frame->symbol_offset = sym.symbol_offset;
	if (sym.count == 0) {
		add_frame(stack, capacity, frame);
		return;
	}
	for (size_t i = 0; i < sym.count; i++) {
		frame->location = sym.locations[i];
		frame->inlined = sym.locations[i].inlined;
		add_frame(stack, capacity, frame);
	}
}

static struct ai_error *unwind(struct ai_debuginfo *di, const struct ai_thread *thread, bool symbolize,
			       const struct unwind_arg *sample, struct ai_stack *ret)
{
	if (!thread->regs_valid)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				       "thread %d has no registers (is it stopped?)", (int)thread->tid);
	ai_debuginfo_sync(di);
	if (!di->cache) {
		di->cache = unw_create_addr_space(&accessors, 0);
		if (!di->cache)
			return ai_error_create(AI_ERROR_OTHER, "libunwind: cannot create an address space");
		unw_set_caching_policy(di->cache, UNW_CACHE_GLOBAL);
		di->cache_ops = &address_space_ops;
	}
	struct unwind_arg arg = { .di = di, .thread = thread };
	if (sample) {
		arg.stack = sample->stack;
		arg.stack_address = sample->stack_address;
		arg.stack_size = sample->stack_size;
		arg.pid = sample->pid;
	}
	unw_cursor_t cursor;
	int r = unw_init_remote(&cursor, di->cache, &arg);
	if (r < 0)
		return ai_error_create(AI_ERROR_OTHER, "libunwind: cannot start unwinding thread %d: %s",
				       (int)thread->tid, unw_strerror(r));

	struct ai_stack stack = { 0 };
	size_t capacity = 0;
	char *stop_reason = NULL;
	uint64_t prev_pc = 0, prev_sp = 0;
	bool prev_signal = false;
	for (size_t n = 0;; n++) {
		if (n == AI_MAX_FRAMES) {
			stop_reason = xasprintf("frame limit (%d) reached", AI_MAX_FRAMES);
			break;
		}
		struct ai_frame frame;
		memset(&frame, 0, sizeof(frame));
		unw_word_t ip = 0, sp = 0;
		unw_get_reg(&cursor, UNW_REG_IP, &ip);
		unw_get_reg(&cursor, UNW_REG_SP, &sp);
		if (n > 0 && ip == 0)
			break; /* the outermost frame's return address */
		if (n > 0 && !prev_signal && (sp < prev_sp || (sp == prev_sp && ip == prev_pc))) {
			stop_reason = xasprintf("unwinding went back (sp 0x%" PRIx64 " after 0x%" PRIx64
						") at 0x%" PRIx64, (uint64_t)sp, prev_sp, (uint64_t)ip);
			break;
		}
		frame.pc = ip;
		frame.sp = sp;
		frame.physical_index = n;
		frame.is_return_address = n > 0 && !prev_signal;
		frame.is_signal_frame = unw_is_signal_frame(&cursor) > 0;
		if (n == 0) {
			for (unw_regnum_t reg = 0; reg < AI_REG_COUNT; reg++) {
				if (thread_reg(thread, reg, &frame.regs[reg]))
					frame.regs_valid |= 1u << reg;
			}
		} else {
			frame.regs[AI_REG_RIP] = ip;
			frame.regs[AI_REG_RSP] = sp;
			frame.regs_valid = 1u << AI_REG_RIP | 1u << AI_REG_RSP;
			for (size_t i = 0; i < AI_ARRAY_SIZE(callee_saved); i++) {
				unw_word_t v;
				if (unw_get_reg(&cursor, callee_saved[i], &v) == 0) {
					frame.regs[callee_saved[i]] = v;
					frame.regs_valid |= 1u << callee_saved[i];
				}
			}
		}
		/* One machine frame, expanded into its inlined calls. Its CFA is its caller's sp, known
		 * after the next step (libunwind's UNW_X86_64_CFA is this frame's own sp). */
		size_t first = stack.count;
		if (symbolize) {
			add_symbolized(di, &stack, &capacity, &frame);
		} else {
			frame.module = ai_debuginfo_find_module(di, ip);
			add_frame(&stack, &capacity, &frame);
		}
		stack.physical_count++;
		prev_pc = ip;
		prev_sp = sp;
		prev_signal = frame.is_signal_frame;

		arg.faulted = false;
		r = unw_step(&cursor);
		if (r > 0) {
			unw_word_t caller_sp = 0;
			unw_get_reg(&cursor, UNW_REG_SP, &caller_sp);
			for (size_t i = first; i < stack.count; i++)
				stack.frames[i].cfa = caller_sp;
		}
		if (r == 0)
			break;
		if (r < 0) {
			if (arg.faulted)
				stop_reason = xasprintf("cannot read memory at 0x%" PRIx64,
							arg.fault_address);
			else
				stop_reason = xasprintf("cannot unwind past 0x%" PRIx64 ": %s",
							(uint64_t)ip, unw_strerror(r));
			break;
		}
	}
	stack.stop_reason = stop_reason;
	*ret = stack;
	return NULL;
}

struct ai_error *ai_unwind_thread(struct ai_debuginfo *di, const struct ai_thread *thread,
				  struct ai_stack *ret)
{
	return unwind(di, thread, true, NULL, ret);
}

struct ai_error *ai_unwind_sample(struct ai_debuginfo *di, const struct ai_thread *thread, pid_t pid,
				  const void *stack, uint64_t stack_address, size_t stack_size,
				  struct ai_stack *ret)
{
	struct unwind_arg sample = {
		.stack = stack, .stack_address = stack_address, .stack_size = stack_size, .pid = pid,
	};
	return unwind(di, thread, true, &sample, ret);
}

struct ai_error *ai_unwind_thread_unsymbolized(struct ai_debuginfo *di, const struct ai_thread *thread,
					       struct ai_stack *ret)
{
	return unwind(di, thread, false, NULL, ret);
}

void ai_stack_symbolize(struct ai_debuginfo *di, struct ai_stack *stack)
{
	struct ai_stack out = { 0 };
	size_t capacity = 0;
	for (size_t i = 0; i < stack->count; i++)
		add_symbolized(di, &out, &capacity, &stack->frames[i]);
	free(stack->frames);
	stack->frames = out.frames;
	stack->count = out.count;
}

void ai_stack_deinit(struct ai_stack *stack)
{
	free(stack->frames);
	free(stack->stop_reason);
	memset(stack, 0, sizeof(*stack));
}
