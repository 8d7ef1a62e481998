/* Which saved local each drop flag of a coroutine guards (DESIGN.md, "Moved-from locals").
 *
 * rustc keeps the slot of a local that may be live at a suspend point, and when the local may have
 * been moved or dropped on the path taken, its drop flag too: an unnamed bool field `__N` of the
 * suspend variant. Nothing in DWARF ties a flag to its local, and the order of the `__N` fields
 * follows rustc's drop elaboration, not the locals (verified on the `locals` fixture: `spare`'s
 * flag comes first there, `parcel`'s first in the next fn). The coroutine's own drop glue,
 * `core::ptr::drop_in_place<ENV>`, says it: in each state it tests a flag and, if set, drops the
 * local it guards. In the unoptimised code of a debug build that reads
 *
 *     mov  SLOT(%rsp),%rax      ; the coroutine pointer, saved at entry
 *     testb $0x1,FLAG(%rax)
 *     jne  L / je M             ; L (or what follows M's jump): the set path
 *  L: mov  SLOT(%rsp),%rdi
 *     add  $LOCAL,%rdi          ; absent for a local at offset 0
 *     call drop_in_place<T>
 *
 * so FLAG guards the local at LOCAL. Every read of a flag that is not this pattern, and a flag
 * tested before drops of two different offsets, makes that flag unknown; a flag the glue never
 * reads guards no saved local (every saved local that needs dropping is dropped there). When the
 * glue cannot be found or decoded at all, every flag is unknown. Results are cached per type.
 *
 * Capstone (Debian's libcapstone) decodes the instructions; the patterns below are read from its
 * operands (memory base/index/displacement, immediates, absolute branch targets). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <capstone/capstone.h>

#include "ai/async.h"
#include "ai/dwarf_info.h"
#include "ai/util.h"

/* Bytes of drop glue decoded at most. */
#define MAX_GLUE_BYTES (256u << 10)
/* Instructions followed from a flag test to the drop call. */
#define MAX_SET_PATH 12

struct glue_entry {
	uint64_t type_die;
	bool decoded;                  /* the glue was found and every instruction decoded */
	struct ai_drop_flag_use *uses; /* owned */
	size_t use_count;
};

struct ai_drop_glue_cache {
	struct glue_entry *entries; /* owned */
	size_t count, capacity;
	/* The executable's drop_in_place symbols: file vaddr, size, demangled name (borrowed). */
	bool indexed;
	struct glue_symbol {
		uint64_t address, size;
		const char *name;
	} *symbols;
	size_t symbol_count;
};

void ai_drop_glue_cache_destroy(struct ai_drop_glue_cache *cache)
{
	if (!cache)
		return;
	for (size_t i = 0; i < cache->count; i++)
		free(cache->entries[i].uses);
	free(cache->entries);
	free(cache->symbols);
	free(cache);
}

static void index_symbols(struct ai_async *as, struct ai_drop_glue_cache *cache)
{
	cache->indexed = true;
	struct ai_module *main = as->module;
	struct ai_elf_file *file = main ? (main->symbols ? main->symbols : main->elf) : NULL;
	if (!file)
		return;
	ai_elf_file_find_symbol(file, 0); /* loads the symbol table */
	size_t capacity = 0;
	for (size_t i = 0; i < file->symbol_count; i++) {
		struct ai_elf_symbol *sym = &file->symbols[i];
		/* Demangle only candidates (legacy manglings spell it "65drop_in_place$LT$..."). */
		if (!sym->address || !sym->size || !sym->name || !strstr(sym->name, "drop_in_place"))
			continue;
		const char *name = ai_elf_symbol_name(sym);
		if (!name || strncmp(name, "core::ptr::drop_in_place<", 25) != 0)
			continue;
		AI_GROW(cache->symbols, capacity, cache->symbol_count + 1);
		cache->symbols[cache->symbol_count++] =
			(struct glue_symbol){ sym->address, sym->size, name };
	}
}

/* The drop glue of the coroutine type named `qualified` ("a::f::{async_fn_env#0}"): the symbol
 * whose demangled name starts with its path up to the first env segment ("a::f", as the legacy
 * mangling spells the rest "{{closure}}") and whose DWARF subprogram is exactly
 * drop_in_place<qualified>. false if none, or more than one. */
static bool find_glue(struct ai_async *as, struct ai_drop_glue_cache *cache, const char *qualified,
		      uint64_t *address_ret, uint64_t *size_ret)
{
	const char *env = strstr(qualified, "::{");
	if (!env)
		return false;
	size_t prefix_len = (size_t)(env - qualified);
	char *want = xasprintf("core::ptr::drop_in_place<%s>", qualified);
	size_t found = 0;
	for (size_t i = 0; i < cache->symbol_count && found < 2; i++) {
		const struct glue_symbol *s = &cache->symbols[i];
		if (strncmp(s->name + 25, qualified, prefix_len) != 0)
			continue;
		struct ai_location locs[AI_MAX_LOCATIONS];
		size_t n = 0;
		struct ai_error *err = ai_dwarf_find_locations(as->dwarf, s->address, false, locs,
							       AI_ARRAY_SIZE(locs), &n);
		if (err) {
			ai_error_destroy(err);
			continue;
		}
		if (n == 0 || !locs[n - 1].function || strcmp(locs[n - 1].function, want) != 0)
			continue;
		if (found && *address_ret == s->address)
			continue; /* the same function under two symbols */
		*address_ret = s->address;
		*size_ret = s->size;
		found++;
	}
	free(want);
	return found == 1;
}

static bool is_flag(const uint64_t *flags, size_t n, int64_t disp)
{
	for (size_t i = 0; i < n; i++)
		if (disp >= 0 && flags[i] == (uint64_t)disp)
			return true;
	return false;
}

struct glue_uses {
	struct ai_drop_flag_use *uses;
	size_t count, capacity;
};

static void note_use(struct glue_uses *u, uint64_t flag, enum ai_drop_flag kind, uint64_t local)
{
	for (size_t i = 0; i < u->count; i++) {
		struct ai_drop_flag_use *old = &u->uses[i];
		if (old->flag != flag)
			continue;
		if (kind == AI_DROP_FLAG_UNKNOWN || old->local != local)
			old->kind = AI_DROP_FLAG_UNKNOWN;
		return;
	}
	AI_GROW(u->uses, u->capacity, u->count + 1);
	u->uses[u->count++] = (struct ai_drop_flag_use){ flag, kind, local };
}

struct glue_code {
	const cs_insn *insns;      /* decoded in order, with details */
	size_t count;
	int64_t env_slots[4];      /* rsp offsets the coroutine pointer was stored to at entry */
	size_t env_slot_count;
};

/* Operand k of an instruction, or NULL. */
static const cs_x86_op *operand(const cs_insn *in, int k)
{
	const cs_x86 *x = &in->detail->x86;
	return k < x->op_count ? &x->operands[k] : NULL;
}

static bool is_reg(const cs_x86_op *op, x86_reg reg)
{
	return op && op->type == X86_OP_REG && op->reg == reg;
}

static bool is_imm(const cs_x86_op *op)
{
	return op && op->type == X86_OP_IMM;
}

/* disp(%rsp), a stack slot. */
static bool is_stack_slot(const cs_x86_op *op)
{
	return op && op->type == X86_OP_MEM && op->mem.base == X86_REG_RSP &&
	       op->mem.index == X86_REG_INVALID;
}

/* disp(%reg) through a general register, not the stack or rip: a field of what reg points to. */
static bool is_field(const cs_x86_op *op)
{
	return op && op->type == X86_OP_MEM && op->mem.index == X86_REG_INVALID &&
	       op->mem.base != X86_REG_INVALID && op->mem.base != X86_REG_RIP &&
	       op->mem.base != X86_REG_RSP;
}

/* movb $imm,D(%reg): a flag written. */
static bool stores_byte_imm(const cs_insn *in)
{
	const cs_x86_op *dst = operand(in, 0);
	return in->id == X86_INS_MOV && is_field(dst) && dst->size == 1 && is_imm(operand(in, 1));
}

static bool env_slot(const struct glue_code *g, int64_t disp)
{
	for (size_t i = 0; i < g->env_slot_count; i++)
		if (g->env_slots[i] == disp)
			return true;
	return false;
}

/* mov SLOT(%rsp),%reg (reg a 64-bit register) from a slot that holds the coroutine pointer. */
static bool loads_env(const struct glue_code *g, const cs_insn *in, x86_reg reg)
{
	const cs_x86_op *src = operand(in, 1);
	return in->id == X86_INS_MOV && is_reg(operand(in, 0), reg) && is_stack_slot(src) &&
	       env_slot(g, src->mem.disp);
}

static size_t index_of(const struct glue_code *g, uint64_t address)
{
	size_t lo = 0, hi = g->count;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (g->insns[mid].address < address)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < g->count && g->insns[lo].address == address ? lo : SIZE_MAX;
}

/* The instruction a direct jump of instruction i goes to (Capstone gives the absolute target). */
static size_t jump_target(const struct glue_code *g, size_t i)
{
	const cs_x86_op *target = operand(&g->insns[i], 0);
	return is_imm(target) ? index_of(g, (uint64_t)target->imm) : SIZE_MAX;
}

/* From instruction i (the start of a flag's set path) to the drop call: the offset of the local
 * passed in %rdi, or false if the path is not the pattern. */
static bool set_path_local(const struct glue_code *g, size_t i, uint64_t *local_ret)
{
	bool rdi_env = false;
	uint64_t offset = 0;
	for (int steps = 0; steps < MAX_SET_PATH && i < g->count; steps++) {
		const cs_insn *in = &g->insns[i];
		const cs_x86_op *a = operand(in, 0), *b = operand(in, 1);
		if (in->id == X86_INS_JMP && is_imm(a)) {
			i = jump_target(g, i);
			continue;
		}
		if (in->id == X86_INS_CALL) {
			if (!rdi_env)
				return false;
			*local_ret = offset;
			return true;
		}
		if (loads_env(g, in, X86_REG_RDI)) {
			rdi_env = true;
			offset = 0;
		} else if (in->id == X86_INS_ADD && is_reg(a, X86_REG_RDI) && is_imm(b)) {
			offset += (uint64_t)b->imm; /* add $imm,%rdi */
		} else if (stores_byte_imm(in)) {
			/* movb $imm,D(%reg): clearing a flag */
		} else if (in->id == X86_INS_MOV && a && a->type == X86_OP_REG && a->reg != X86_REG_RDI &&
			   a->reg != X86_REG_EDI && b && b->type == X86_OP_MEM && b->mem.base == X86_REG_RIP) {
			/* mov GOT(%rip),%rax: the callee's address */
		} else {
			return false;
		}
		i++;
	}
	return false;
}

static void analyse(struct glue_code *g, const uint64_t *flags, size_t flag_count,
		    struct glue_uses *u)
{
	/* mov %rdi,SLOT(%rsp) before anything else writes %rdi: where the pointer is kept. */
	for (size_t i = 0; i < g->count && i < 8; i++) {
		const cs_insn *in = &g->insns[i];
		const cs_x86_op *a = operand(in, 0), *b = operand(in, 1);
		if (in->id == X86_INS_MOV && is_stack_slot(a) && is_reg(b, X86_REG_RDI)) {
			if (g->env_slot_count < AI_ARRAY_SIZE(g->env_slots))
				g->env_slots[g->env_slot_count++] = a->mem.disp;
		} else if (!((in->id == X86_INS_SUB || in->id == X86_INS_ADD) && is_reg(a, X86_REG_RSP) &&
			     is_imm(b))) {
			break; /* (sub $N,%rsp may come first) */
		}
	}
	for (size_t i = 0; i < g->count; i++) {
		const cs_insn *in = &g->insns[i];
		/* The instruction's field operand, if it is a flag. */
		const cs_x86_op *field = NULL;
		for (int k = 0; k < in->detail->x86.op_count && !field; k++)
			if (is_field(operand(in, k)) && is_flag(flags, flag_count, operand(in, k)->mem.disp))
				field = operand(in, k);
		if (!field)
			continue;
		uint64_t flag = (uint64_t)field->mem.disp;
		if (stores_byte_imm(in))
			continue; /* movb $imm,FLAG(%reg): a write */
		const cs_x86_op *imm = operand(in, 1);
		bool test = in->id == X86_INS_TEST && operand(in, 0) == field && field->size == 1 &&
			    is_imm(imm) && imm->imm == 1;
		/* The register must hold the coroutine pointer: loaded just before, past flag writes. */
		bool base_env = false;
		for (size_t k = i; test && k-- > 0 && i - k <= 4;) {
			const cs_insn *p = &g->insns[k];
			if (loads_env(g, p, field->mem.base)) {
				base_env = true;
				break;
			}
			if (!(stores_byte_imm(p) && operand(p, 0)->mem.base == field->mem.base))
				break;
		}
		uint64_t local = 0;
		bool tied = false;
		if (test && base_env && i + 1 < g->count) {
			unsigned j = g->insns[i + 1].id;
			size_t set = SIZE_MAX;
			if (j == X86_INS_JNE)
				set = jump_target(g, i + 1);
			else if (j == X86_INS_JE)
				set = i + 2;
			tied = set != SIZE_MAX && set_path_local(g, set, &local);
		}
		note_use(u, flag, tied ? AI_DROP_FLAG_GUARDS : AI_DROP_FLAG_UNKNOWN, local);
	}
}

bool ai_drop_glue_read(const uint8_t *code, size_t size, uint64_t address, const uint64_t *flags,
		       size_t flag_count, struct ai_drop_flag_use **uses_ret, size_t *count_ret)
{
	*uses_ret = NULL;
	*count_ret = 0;
	csh cs;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK)
		return false;
	cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
	cs_insn *insns = NULL;
	size_t count = cs_disasm(cs, code, size, address, 0, &insns);
	/* Capstone stops at the first bytes it cannot decode: then we know nothing. */
	size_t end = count ? (size_t)(insns[count - 1].address + insns[count - 1].size - address) : 0;
	bool ok = end == size;
	if (ok) {
		struct glue_code g = { .insns = insns, .count = count };
		struct glue_uses u = { 0 };
		analyse(&g, flags, flag_count, &u);
		*uses_ret = u.uses;
		*count_ret = u.count;
	}
	if (count)
		cs_free(insns, count);
	cs_close(&cs);
	return ok;
}

bool ai_drop_flag_member(const struct ai_type *variant, const struct ai_member *m)
{
	if (!m->name || m->name[0] != '_' || m->name[1] != '_' || !m->name[2])
		return false;
	for (const char *c = m->name + 2; *c; c++)
		if (*c < '0' || *c > '9')
			return false;
	const struct ai_type *t;
	struct ai_error *err = ai_type_member_type(variant, m, &t);
	if (!err)
		err = ai_type_underlying(t, &t);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	return t->kind == AI_TYPE_BOOL;
}

/* The offsets of the drop flags of every variant of a coroutine. */
static size_t all_flags(const struct ai_type *type, uint64_t **ret)
{
	uint64_t *flags = NULL;
	size_t count = 0, capacity = 0;
	for (size_t v = 0; v < type->variant_count; v++) {
		const struct ai_type *vt;
		struct ai_error *err = ai_type_member_type(type, &type->variants[v].member, &vt);
		if (!err)
			err = ai_type_underlying(vt, &vt);
		if (err) {
			ai_error_destroy(err);
			continue;
		}
		for (size_t i = 0; i < vt->member_count; i++) {
			if (!ai_drop_flag_member(vt, &vt->members[i]) ||
			    is_flag(flags, count, (int64_t)vt->members[i].offset))
				continue;
			AI_GROW(flags, capacity, count + 1);
			flags[count++] = vt->members[i].offset;
		}
	}
	*ret = flags;
	return count;
}

static struct glue_entry *entry_for(struct ai_async *as, const struct ai_type *type)
{
	if (!as->drop_glue)
		as->drop_glue = xcalloc(1, sizeof(*as->drop_glue));
	struct ai_drop_glue_cache *cache = as->drop_glue;
	for (size_t i = 0; i < cache->count; i++)
		if (cache->entries[i].type_die == type->die_offset)
			return &cache->entries[i];
	if (!cache->indexed)
		index_symbols(as, cache);
	AI_GROW(cache->entries, cache->capacity, cache->count + 1);
	struct glue_entry *e = &cache->entries[cache->count++];
	memset(e, 0, sizeof(*e));
	e->type_die = type->die_offset;
	const char *qualified = ai_type_qualified_name(type);
	struct ai_module *main = as->module;
	uint64_t address = 0, size = 0;
	uint64_t *flags = NULL;
	size_t flag_count = 0;
	if (!qualified || !main || !as->dwarf || !(flag_count = all_flags(type, &flags)) ||
	    !find_glue(as, cache, qualified, &address, &size) || size > MAX_GLUE_BYTES) {
		free(flags);
		return e;
	}
	uint8_t *bytes = xmalloc(size);
	struct ai_error *err = ai_memory_read(as->target->memory, bytes, address + main->bias, size);
	if (err) {
		ai_error_destroy(err);
		free(bytes);
		free(flags);
		return e;
	}
	e->decoded = ai_drop_glue_read(bytes, size, address, flags, flag_count, &e->uses,
				       &e->use_count);
	free(bytes);
	free(flags);
	return e;
}

enum ai_drop_flag ai_drop_flag_guard(struct ai_async *as, const struct ai_type *coroutine,
				     uint64_t flag, uint64_t *local_ret)
{
	const struct glue_entry *e = entry_for(as, coroutine);
	if (!e->decoded)
		return AI_DROP_FLAG_UNKNOWN;
	for (size_t i = 0; i < e->use_count; i++) {
		if (e->uses[i].flag != flag)
			continue;
		if (e->uses[i].kind != AI_DROP_FLAG_GUARDS)
			return AI_DROP_FLAG_UNKNOWN;
		*local_ret = e->uses[i].local;
		return AI_DROP_FLAG_GUARDS;
	}
	return AI_DROP_FLAG_UNUSED;
}
