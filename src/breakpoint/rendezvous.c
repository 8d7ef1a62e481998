/* The dynamic linker's rendezvous (the SVR4 r_debug interface, <link.h>), as gdb uses it to see
 * libraries loaded while it runs the program: the executable's DT_DEBUG entry, in its dynamic
 * section in the target's memory, holds the address of ld.so's r_debug (filled in by ld.so before
 * the program's entry point; ld.so's own `_r_debug` symbol when there is no DT_DEBUG). ld.so calls
 * r_debug.r_brk (_dl_debug_state) before and after each change of its link map; once r_state is
 * RT_CONSISTENT again the map (l_addr, l_name, l_ld, l_next) lists every module loaded. */
#include <elf.h>
#include <stdlib.h>
#include <string.h>

#include "ai/breakpoint.h"
#include "ai/debuginfo.h"
#include "ai/elf_file.h"
#include "ai/memory.h"
#include "ai/util.h"

/* struct r_debug and struct link_map of <link.h> on x86-64: the fields read here. */
#define R_DEBUG_MAP 8
#define R_DEBUG_BRK 16
#define R_DEBUG_STATE 24
#define LINK_MAP_ADDR 0
#define LINK_MAP_NAME 8
#define LINK_MAP_LD 16
#define LINK_MAP_NEXT 24
#define RT_CONSISTENT 0
/* A link map longer than this is taken for a corrupt one. */
#define MAX_LINK_MAP 4096
#define MAX_DYNAMIC 1024

/* DT_DEBUG's value in the executable's dynamic section, in memory (0 if none or not set yet). */
static uint64_t dt_debug(struct ai_target *target, struct ai_module *main)
{
	uint64_t addr = 0, size = 0;
	if (!main->elf || !ai_elf_file_section(main->elf, ".dynamic", &addr, &size))
		return 0;
	addr += main->bias;
	for (size_t i = 0; i < MAX_DYNAMIC && i * 16 < size; i++) {
		uint64_t entry[2];
		struct ai_error *err = ai_memory_read(target->memory, entry, addr + i * 16, sizeof(entry));
		if (err) {
			ai_error_destroy(err);
			return 0;
		}
		if (entry[0] == DT_NULL)
			return 0;
		if (entry[0] == DT_DEBUG)
			return entry[1];
	}
	return 0;
}

/* ld.so's `_r_debug`: the module that defines it (dynamic symbols). */
static uint64_t r_debug_symbol(struct ai_debuginfo *di)
{
	struct ai_module *m;
	for (size_t k = 0; (m = ai_debuginfo_module_at(di, k)); k++) {
		if (m->is_vdso || m->is_main || ai_debuginfo_find_module(di, m->start) != m || m->error || !m->elf)
			continue;
		struct ai_elf_symbol *sym = ai_elf_file_find_symbol_by_name(m->elf, "_r_debug");
		if (sym && sym->address)
			return sym->address + m->bias;
	}
	return 0;
}

struct ai_error *ai_rendezvous_find(struct ai_target *target, struct ai_debuginfo *di, uint64_t *r_debug_ret,
				    uint64_t *brk_ret)
{
	struct ai_module *main = ai_debuginfo_main_module(di);
	uint64_t r_debug = 0, brk = 0;
	if (target->kind == AI_TARGET_LIVE && main && ai_debuginfo_find_module(di, main->start) == main)
		r_debug = dt_debug(target, main);
	if (target->kind == AI_TARGET_LIVE && !r_debug)
		r_debug = r_debug_symbol(di);
	struct ai_error *err = r_debug ? ai_memory_read_u64(target->memory, r_debug + R_DEBUG_BRK, &brk) : NULL;
	if (err)
		return err;
	if (!r_debug || !brk)
		return ai_error_create(AI_ERROR_NOT_FOUND,
				       "the dynamic linker's rendezvous (r_debug) of process %d is not to be found (a static executable?)",
				       (int)target->pid);
	*r_debug_ret = r_debug;
	*brk_ret = brk;
	return NULL;
}

struct ai_error *ai_rendezvous_modules(struct ai_target *target, uint64_t r_debug, bool *consistent_ret,
				       ai_rendezvous_module_fn *fn, void *arg)
{
	uint32_t state = 0;
	uint64_t link = 0;
	struct ai_error *err = ai_memory_read(target->memory, &state, r_debug + R_DEBUG_STATE, sizeof(state));
	if (!err)
		err = ai_memory_read_u64(target->memory, r_debug + R_DEBUG_MAP, &link);
	*consistent_ret = !err && state == RT_CONSISTENT;
	if (err || !*consistent_ret)
		return err;
	for (size_t n = 0; link && n < MAX_LINK_MAP; n++) {
		uint64_t fields[4]; /* l_addr, l_name, l_ld, l_next */
		if ((err = ai_memory_read(target->memory, fields, link + LINK_MAP_ADDR, sizeof(fields))))
			return err;
		char *name = NULL;
		if (fields[LINK_MAP_NAME / 8])
			ai_error_destroy(ai_memory_read_cstr(target->memory, fields[LINK_MAP_NAME / 8], 4096, &name));
		/* The executable's and the vdso's entries have no name (""): modules of their own. */
		if (name && name[0])
			fn(arg, fields[LINK_MAP_ADDR / 8], name, fields[LINK_MAP_LD / 8]);
		free(name);
		link = fields[LINK_MAP_NEXT / 8];
	}
	return NULL;
}
