/* Private to src/debuginfo: the ai_debuginfo structure, shared by debuginfo.c and the files that
 * build on it (unwind.c, debug_file.c). */
#ifndef AI_DEBUGINFO_INTERNAL_H
#define AI_DEBUGINFO_INTERNAL_H

#include "ai/debuginfo.h"

struct module_map {
	uint64_t start, end;
	struct ai_module *module; /* borrowed from modules */
};

/* A cache another file keeps over the modules (unwind.c's libunwind address space), told when
 * the modules change and when the debuginfo goes: debuginfo.c calls through this and never into
 * unwind.c, so the two do not depend on each other. */
struct ai_module_cache_ops {
	void (*flush)(void *cache);
	void (*destroy)(void *cache);
};

struct ai_debuginfo {
	struct ai_target *target;  /* borrowed */
	struct ai_module **modules; /* owned; never removed before destroy */
	size_t module_count, module_capacity;
	struct module_map *maps;   /* owned; file mappings sorted by start */
	size_t map_count, map_capacity;
	struct ai_module *main;    /* borrowed from modules */
	void *cache;               /* owned through cache_ops: unwind.c's address space, made on first use */
	const struct ai_module_cache_ops *cache_ops; /* NULL while there is no cache */
	uint64_t maps_signature;   /* of target->maps when modules were last refreshed */
};

/* debuginfo.c: refreshes the modules if target->maps changed since the last refresh. */
void ai_debuginfo_sync(struct ai_debuginfo *di);

/* debuginfo.c: opens a module's file if not done yet; false if it cannot be used. */
bool ai_module_open(struct ai_debuginfo *di, struct ai_module *module);

/* debug_file.c: the --debug-dir directories, in the order given (borrowed). */
const char *const *ai_debuginfo_debug_dirs(size_t *count_ret);

/* debug_file.c: the paths tried while looking for a separate debug file. */
struct ai_debug_search {
	char **tried; /* owned */
	size_t count, capacity;
};
void ai_debug_search_deinit(struct ai_debug_search *search);
/* Records a path tried (once; search may be NULL). */
void ai_debug_search_add(struct ai_debug_search *search, const char *path);
/* The separate debug file of elf (build-id, .gnu_debuglink, then debuginfod if use_debuginfod and
 * DEBUGINFOD_URLS is set), or NULL; every path tried is added to search (may be NULL). */
struct ai_elf_file *ai_find_debug_file(const struct ai_elf_file *elf, bool use_debuginfod,
				       struct ai_debug_search *search);

#endif
