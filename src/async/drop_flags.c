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
 * glue cannot be found or decoded at all, every flag is unknown. Results are cached per type. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/dwarf_info.h"
#include "ai/util.h"
#include "x86_decode.h"

/* Bytes of drop glue decoded at most. */
#define MAX_GLUE_BYTES (256u << 10)
/* Instructions followed from a flag test to the drop call. */
#define MAX_SET_PATH 12

enum flag_kind { FLAG_GUARDS, FLAG_UNKNOWN };

struct flag_use {
	uint64_t flag;  /* offset in the coroutine */
	uint64_t local; /* FLAG_GUARDS: offset of the local it guards */
	enum flag_kind kind;
};

struct glue_entry {
	uint64_t type_die;
	bool decoded;           /* the glue was found and every instruction decoded */
	struct flag_use *uses;  /* owned */
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
	struct ai_module *main = as->di ? ai_debuginfo_main_module(as->di) : NULL;
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

static void note_use(struct glue_entry *e, size_t *capacity, uint64_t flag, enum flag_kind kind,
		     uint64_t local)
{
	for (size_t i = 0; i < e->use_count; i++) {
		struct flag_use *u = &e->uses[i];
		if (u->flag != flag)
			continue;
		if (kind == FLAG_UNKNOWN || u->local != local)
			u->kind = FLAG_UNKNOWN;
		return;
	}
	AI_GROW(e->uses, *capacity, e->use_count + 1);
	e->uses[e->use_count++] = (struct flag_use){ flag, local, kind };
}

struct glue_code {
	const uint8_t *bytes;
	uint64_t start; /* file vaddr of bytes[0] */
	size_t size;
	struct ai_x86_insn *insns; /* decoded in order */
	uint64_t *addrs;
	size_t count;
	int64_t env_slots[4];      /* rsp offsets the coroutine pointer was stored to at entry */
	size_t env_slot_count;
};

static bool env_slot(const struct glue_code *g, int64_t disp)
{
	for (size_t i = 0; i < g->env_slot_count; i++)
		if (g->env_slots[i] == disp)
			return true;
	return false;
}

/* mov SLOT(%rsp),%reg (64-bit) from a slot that holds the coroutine pointer. */
static bool loads_env(const struct glue_code *g, const struct ai_x86_insn *in, uint8_t reg)
{
	return !in->two_byte && in->opcode == 0x8b && in->rex_w && in->mod != 3 && in->has_sib &&
	       in->base == 4 && in->reg == reg && env_slot(g, in->disp);
}

static size_t index_of(const struct glue_code *g, uint64_t address)
{
	size_t lo = 0, hi = g->count;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (g->addrs[mid] < address)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < g->count && g->addrs[lo] == address ? lo : SIZE_MAX;
}

static uint64_t jump_target(const struct glue_code *g, size_t i)
{
	return g->addrs[i] + g->insns[i].length + g->insns[i].imm;
}

/* From instruction i (the start of a flag's set path) to the drop call: the offset of the local
 * passed in %rdi, or false if the path is not the pattern. */
static bool set_path_local(const struct glue_code *g, size_t i, uint64_t *local_ret)
{
	bool rdi_env = false;
	uint64_t offset = 0;
	for (int steps = 0; steps < MAX_SET_PATH && i < g->count; steps++) {
		const struct ai_x86_insn *in = &g->insns[i];
		if (!in->two_byte && (in->opcode == 0xeb || in->opcode == 0xe9)) {
			i = index_of(g, jump_target(g, i));
			continue;
		}
		if (!in->two_byte && (in->opcode == 0xe8 || (in->opcode == 0xff && (in->reg & 7) == 2))) {
			if (!rdi_env)
				return false;
			*local_ret = offset;
			return true;
		}
		if (loads_env(g, in, 7)) {
			rdi_env = true;
			offset = 0;
		} else if (!in->two_byte && (in->opcode == 0x83 || in->opcode == 0x81) && in->rex_w &&
			   in->mod == 3 && (in->reg & 7) == 0 && in->base == 7) {
			offset += in->imm; /* add $imm,%rdi */
		} else if (!in->two_byte && in->opcode == 0xc6 && in->mod != 3 && !in->has_sib) {
			/* movb $imm,D(%reg): clearing a flag */
		} else if (!in->two_byte && in->opcode == 0x8b && in->rip_relative && in->reg != 7) {
			/* mov GOT(%rip),%rax: the callee's address */
		} else {
			return false;
		}
		i++;
	}
	return false;
}

static void analyse(struct glue_code *g, const uint64_t *flags, size_t flag_count,
		    struct glue_entry *e)
{
	size_t capacity = 0;
	/* mov %rdi,SLOT(%rsp) before anything else writes %rdi: where the pointer is kept. */
	for (size_t i = 0; i < g->count && i < 8; i++) {
		const struct ai_x86_insn *in = &g->insns[i];
		if (!in->two_byte && in->opcode == 0x89 && in->rex_w && in->reg == 7 && in->has_sib &&
		    in->base == 4 && in->mod != 3 && g->env_slot_count < AI_ARRAY_SIZE(g->env_slots))
			g->env_slots[g->env_slot_count++] = in->disp;
		else if (!(in->opcode == 0x83 || in->opcode == 0x81) || in->two_byte)
			break; /* (sub $N,%rsp may come first) */
	}
	for (size_t i = 0; i < g->count; i++) {
		const struct ai_x86_insn *in = &g->insns[i];
		if (!in->has_modrm || in->mod == 3 || in->mod == 0 || in->has_sib || in->rip_relative ||
		    !is_flag(flags, flag_count, in->disp))
			continue;
		uint64_t flag = (uint64_t)in->disp;
		if (!in->two_byte && in->opcode == 0xc6 && (in->reg & 7) == 0)
			continue; /* movb $imm,FLAG(%reg): a write */
		bool test = !in->two_byte && in->opcode == 0xf6 && (in->reg & 7) == 0 && in->imm == 1;
		/* The register must hold the coroutine pointer: loaded just before, past flag writes. */
		bool base_env = false;
		for (size_t k = i; test && k-- > 0 && i - k <= 4;) {
			const struct ai_x86_insn *p = &g->insns[k];
			if (loads_env(g, p, in->base)) {
				base_env = true;
				break;
			}
			if (!(!p->two_byte && p->opcode == 0xc6 && !p->has_sib && p->base == in->base))
				break;
		}
		uint64_t local = 0;
		bool tied = false;
		if (test && base_env && i + 1 < g->count) {
			const struct ai_x86_insn *j = &g->insns[i + 1];
			bool jne = (!j->two_byte && j->opcode == 0x75) || (j->two_byte && j->opcode == 0x85);
			bool je = (!j->two_byte && j->opcode == 0x74) || (j->two_byte && j->opcode == 0x84);
			size_t set = SIZE_MAX;
			if (jne)
				set = index_of(g, jump_target(g, i + 1));
			else if (je)
				set = i + 2;
			tied = set != SIZE_MAX && set_path_local(g, set, &local);
		}
		note_use(e, &capacity, flag, tied ? FLAG_GUARDS : FLAG_UNKNOWN, local);
	}
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
	struct ai_module *main = as->di ? ai_debuginfo_main_module(as->di) : NULL;
	uint64_t address = 0, size = 0;
	uint64_t *flags = NULL;
	size_t flag_count = 0;
	if (!qualified || !main || !as->dwarf || !(flag_count = all_flags(type, &flags)) ||
	    !find_glue(as, cache, qualified, &address, &size) || size > MAX_GLUE_BYTES) {
		free(flags);
		return e;
	}
	struct glue_code g = { .start = address, .size = size };
	uint8_t *bytes = xmalloc(size);
	struct ai_error *err = ai_memory_read(as->target->memory, bytes, address + main->bias, size);
	if (err) {
		ai_error_destroy(err);
		free(bytes);
		free(flags);
		return e;
	}
	g.bytes = bytes;
	size_t capacity = 0;
	bool ok = true;
	for (size_t at = 0; at < size;) {
		struct ai_x86_insn in;
		if (!ai_x86_decode(bytes + at, size - at, &in)) {
			/* int3 padding after the last ret ends the function's code. */
			ok = bytes[at] == 0xcc;
			break;
		}
		AI_GROW(g.insns, capacity, g.count + 1);
		g.addrs = xrealloc(g.addrs, capacity * sizeof(*g.addrs));
		g.insns[g.count] = in;
		g.addrs[g.count++] = address + at;
		at += in.length;
	}
	if (ok) {
		e->decoded = true;
		analyse(&g, flags, flag_count, e);
	}
	free(g.insns);
	free(g.addrs);
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
		if (e->uses[i].kind != FLAG_GUARDS)
			return AI_DROP_FLAG_UNKNOWN;
		*local_ret = e->uses[i].local;
		return AI_DROP_FLAG_GUARDS;
	}
	return AI_DROP_FLAG_UNUSED;
}
