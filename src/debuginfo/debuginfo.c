/* Modules of a target and symbolization; see ai/debuginfo.h. */
#include <elf.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/debuginfo.h"
#include "ai/memory.h"
#include "ai/util.h"
#include "debuginfo_internal.h"

/* The vdso is two or three pages; anything much larger is not one. */
#define MAX_VDSO_SIZE (1 << 20)

static const char no_debuginfo_hint[] =
	"build it with `debug = true` (e.g. [profile.release] debug = true in Cargo.toml), or give "
	"--debug-dir DIR where its separate debug file is, or set DEBUGINFOD_URLS to a debuginfod "
	"server that has it";

static struct ai_module *module_new(struct ai_debuginfo *di, const char *path)
{
	struct ai_module *m = xcalloc(1, sizeof(*m));
	m->path = xstrdup(path);
	m->is_vdso = strcmp(path, "[vdso]") == 0;
	AI_GROW(di->modules, di->module_capacity, di->module_count + 1);
	di->modules[di->module_count++] = m;
	return m;
}

static void module_free(struct ai_module *m)
{
	ai_dwarf_destroy(m->dwarf);
	ai_elf_file_destroy(m->debug_file);
	ai_elf_file_destroy(m->elf);
	free(m->error);
	free(m->path);
	free(m);
}

static struct ai_error *open_mapped_file(struct ai_debuginfo *di, struct ai_module *m,
					 struct ai_elf_file **ret)
{
	struct ai_error *err = ai_elf_file_open(m->path, ret);
	if (!err || di->target->kind != AI_TARGET_LIVE)
		return err;
	/* A file replaced or deleted since it was mapped, or one in another mount namespace: the
	 * kernel still gives the mapped file through map_files (needs CAP_SYS_ADMIN) and root. */
	char alt[PATH_MAX];
	snprintf(alt, sizeof(alt), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)di->target->pid,
		 m->first_start, m->first_end);
	struct ai_error *err2 = ai_elf_file_open(alt, ret);
	if (!err2) {
		ai_error_destroy(err);
		return NULL;
	}
	ai_error_destroy(err2);
	snprintf(alt, sizeof(alt), "/proc/%d/root%s", (int)di->target->pid, m->path);
	err2 = ai_elf_file_open(alt, ret);
	if (!err2) {
		ai_error_destroy(err);
		return NULL;
	}
	ai_error_destroy(err2);
	return err;
}

bool ai_module_open(struct ai_debuginfo *di, struct ai_module *m)
{
	if (m->opened)
		return !m->error;
	m->opened = true;
	struct ai_error *err = NULL;
	if (m->elf) {
		/* the executable, opened by ai_debuginfo_create */
	} else if (m->is_vdso) {
		uint64_t size = m->first_end - m->first_start;
		if (size == 0 || size > MAX_VDSO_SIZE) {
			err = ai_error_create(AI_ERROR_UNSUPPORTED, "[vdso] of odd size %" PRIu64, size);
		} else {
			void *image = xmalloc(size);
			err = ai_memory_read(di->target->memory, image, m->first_start, size);
			if (!err)
				err = ai_elf_file_open_image("[vdso]", image, size, &m->elf);
			free(image);
		}
	} else {
		err = open_mapped_file(di, m, &m->elf);
	}
	if (!err)
		err = ai_elf_file_load_bias(m->elf, m->first_start, m->first_offset, &m->bias);
	if (err) {
		m->error = xstrdup(err->message);
		ai_error_destroy(err);
		return false;
	}
	/* Libraries: no debuginfod, which would fetch libc's and every other library's debug files
	 * on each first run when their ELF symbols already name their frames. */
	if (!m->debug_file && (!m->elf->has_debug_info || !m->elf->has_symtab))
		m->debug_file = ai_find_debug_file(m->elf, false, NULL);
	m->symbols = m->debug_file && m->debug_file->has_symtab ? m->debug_file : m->elf;
	return true;
}

struct ai_dwarf *ai_module_dwarf(struct ai_module *m)
{
	if (m->dwarf_tried)
		return m->dwarf;
	m->dwarf_tried = true;
	const char *path = NULL;
	if (m->elf && m->elf->has_debug_info)
		path = m->elf->path;
	else if (m->debug_file && m->debug_file->has_debug_info)
		path = m->debug_file->path;
	if (path) {
		struct ai_error *err = ai_dwarf_open(path, &m->dwarf);
		if (err) {
			m->dwarf = NULL;
			ai_error_destroy(err);
		}
	}
	return m->dwarf;
}

static bool same_file(const char *a, const char *b)
{
	if (strcmp(a, b) == 0)
		return true;
	char ra[PATH_MAX], rb[PATH_MAX];
	return realpath(a, ra) && realpath(b, rb) && strcmp(ra, rb) == 0;
}

static int compare_maps(const void *a, const void *b)
{
	const struct module_map *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static uint64_t maps_signature(const struct ai_maps *maps)
{
	uint64_t h = 1469598103934665603ull ^ maps->count;
	for (size_t i = 0; i < maps->count; i++) {
		h = (h ^ maps->items[i].start) * 1099511628211ull;
		h = (h ^ maps->items[i].end) * 1099511628211ull;
		h = (h ^ maps->items[i].offset) * 1099511628211ull;
	}
	return h;
}

void ai_debuginfo_sync(struct ai_debuginfo *di)
{
	if (maps_signature(&di->target->maps) != di->maps_signature)
		ai_debuginfo_refresh(di);
}

void ai_debuginfo_refresh(struct ai_debuginfo *di)
{
	const struct ai_maps *maps = &di->target->maps;
	di->maps_signature = maps_signature(maps);
	size_t modules_before = di->module_count;
	di->map_count = 0;
	struct ai_module *last = NULL; /* the module of the last file mapping seen */
	for (size_t i = 0; i < maps->count; i++) {
		const struct ai_mapping *map = &maps->items[i];
		if (!map->path)
			continue; /* e.g. a library's .bss right after its file mappings */
		bool vdso = strcmp(map->path, "[vdso]") == 0;
		if (!vdso && map->path[0] != '/') {
			last = NULL;
			continue;
		}
		struct ai_module *m = NULL;
		if (last && strcmp(last->path, map->path) == 0 && map->offset != 0) {
			m = last; /* the next segment of the same file */
		} else {
			for (size_t j = 0; j < di->module_count && !m; j++) {
				struct ai_module *c = di->modules[j];
				if (strcmp(c->path, map->path) == 0 && c->first_start == map->start)
					m = c;
			}
			if (!m && di->main && di->main->first_end == 0 && !vdso &&
			    (strcmp(map->path, di->main->path) == 0 || same_file(map->path, di->main->path)))
				m = di->main; /* the executable's first mapping */
			if (!m)
				m = module_new(di, map->path);
			if (m->first_end == 0) {
				m->first_start = map->start;
				m->first_end = map->end;
				m->first_offset = map->offset;
				m->start = map->start;
				m->end = map->end;
			}
		}
		m->start = AI_MIN(m->start, map->start);
		m->end = AI_MAX(m->end, map->end);
		AI_GROW(di->maps, di->map_capacity, di->map_count + 1);
		di->maps[di->map_count++] = (struct module_map){ map->start, map->end, m };
		last = m;
	}
	if (di->map_count > 1)
		qsort(di->maps, di->map_count, sizeof(*di->maps), compare_maps);
	if (di->module_count != modules_before && di->cache_ops)
		di->cache_ops->flush(di->cache);
}

/* "<exe> has no debug info (no .debug_info in it, and no separate debug file: searched A, B, ...);
 * <hint>": says where we looked, so that the user can put the file there or pass --debug-dir. */
static struct ai_error *no_debuginfo_error(const char *exe, const struct ai_elf_file *elf,
					   const struct ai_debug_search *search)
{
	size_t len = 1;
	for (size_t i = 0; i < search->count; i++)
		len += strlen(search->tried[i]) + 2;
	char *tried = xmalloc(len);
	tried[0] = '\0';
	for (size_t i = 0; i < search->count; i++) {
		if (i)
			strcat(tried, ", ");
		strcat(tried, search->tried[i]);
	}
	const char *name;
	uint32_t crc;
	bool link = ai_elf_file_debuglink(elf, &name, &crc);
	struct ai_error *err = ai_error_create(
		AI_ERROR_NO_DEBUGINFO,
		"%s has no debug info (no .debug_info in it%s%s%s, and no separate debug file; "
		"searched %s); %s",
		exe, elf->build_id_len ? "" : ", no build-id", link ? ", debuglink " : "",
		link ? name : "", search->count ? tried : "nothing", no_debuginfo_hint);
	free(tried);
	return err;
}

struct ai_error *ai_debuginfo_create(struct ai_target *target, struct ai_debuginfo **ret)
{
	if (!target->exe_path)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "the target has no executable path");
	struct ai_elf_file *elf;
	struct ai_error *err = ai_elf_file_open(target->exe_path, &elf);
	if (err)
		return err;
	if (elf->ehdr.e_machine != EM_X86_64 || elf->ehdr.e_ident[EI_CLASS] != ELFCLASS64) {
		err = ai_error_create(AI_ERROR_UNSUPPORTED, "%s is not an x86-64 program",
				      target->exe_path);
		ai_elf_file_destroy(elf);
		return err;
	}
	struct ai_elf_file *debug_file = NULL;
	struct ai_dwarf *dwarf = NULL;
	if (elf->has_debug_info) {
		err = ai_dwarf_open(elf->path, &dwarf);
	} else {
		struct ai_debug_search search = { 0 };
		debug_file = ai_find_debug_file(elf, true, &search);
		if (debug_file && debug_file->has_debug_info)
			err = ai_dwarf_open(debug_file->path, &dwarf);
		else
			err = no_debuginfo_error(target->exe_path, elf, &search);
		ai_debug_search_deinit(&search);
	}
	if (err) {
		ai_dwarf_destroy(dwarf);
		ai_elf_file_destroy(debug_file);
		ai_elf_file_destroy(elf);
		return err;
	}
	struct ai_debuginfo *di = xcalloc(1, sizeof(*di));
	di->target = target;
	struct ai_module *main = module_new(di, target->exe_path);
	main->is_main = true;
	main->elf = elf;
	main->debug_file = debug_file;
	main->dwarf = dwarf;
	main->dwarf_tried = true;
	di->main = main;
	ai_debuginfo_refresh(di);
	*ret = di;
	return NULL;
}

void ai_debuginfo_destroy(struct ai_debuginfo *di)
{
	if (!di)
		return;
	if (di->cache_ops)
		di->cache_ops->destroy(di->cache);
	for (size_t i = 0; i < di->module_count; i++)
		module_free(di->modules[i]);
	free(di->modules);
	free(di->maps);
	free(di);
}

bool ai_debuginfo_is_rust(struct ai_debuginfo *di)
{
	if (di->main->dwarf && ai_dwarf_is_rust(di->main->dwarf))
		return true;
	struct ai_module *m;
	for (size_t i = 0; (m = ai_debuginfo_module_at(di, i)); i++) {
		if (m->is_main || m->is_vdso || m->error)
			continue;
		struct ai_dwarf *dw = ai_module_dwarf(m);
		if (dw && ai_dwarf_is_rust(dw))
			return true;
	}
	return false;
}

struct ai_module *ai_debuginfo_module_at(struct ai_debuginfo *di, size_t index)
{
	ai_debuginfo_sync(di);
	if (index >= di->module_count)
		return NULL;
	struct ai_module *m = di->modules[index];
	ai_module_open(di, m);
	return m;
}

struct ai_error *ai_debuginfo_check_rust(struct ai_debuginfo *di)
{
	if (ai_debuginfo_is_rust(di))
		return NULL;
	return ai_error_create(AI_ERROR_UNSUPPORTED, "%s is not a Rust program", di->main->path);
}

struct ai_module *ai_debuginfo_main_module(struct ai_debuginfo *di)
{
	return di->main;
}

struct ai_dwarf *ai_debuginfo_main_dwarf(struct ai_debuginfo *di)
{
	return di->main->dwarf;
}

struct ai_module *ai_debuginfo_find_module(struct ai_debuginfo *di, uint64_t address)
{
	size_t lo = 0, hi = di->map_count;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (di->maps[mid].start <= address)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || address >= di->maps[lo - 1].end)
		return NULL;
	struct ai_module *m = di->maps[lo - 1].module;
	ai_module_open(di, m);
	return m;
}

struct ai_error *ai_debuginfo_symbolize(struct ai_debuginfo *di, uint64_t pc,
					bool is_return_address, struct ai_symbolization *ret)
{
	ret->module = NULL;
	ret->symbol = NULL;
	ret->symbol_offset = 0;
	ret->count = 0;
	struct ai_module *m = ai_debuginfo_find_module(di, pc);
	if (!m)
		return NULL;
	ret->module = m;
	if (m->error)
		return NULL;
	uint64_t vaddr = pc - m->bias;
	struct ai_dwarf *dwarf = ai_module_dwarf(m);
	if (dwarf) {
		size_t count = 0;
		struct ai_error *err = ai_dwarf_find_locations(dwarf, vaddr, is_return_address,
							       ret->locations, AI_MAX_LOCATIONS,
							       &count);
		if (err)
			ai_error_destroy(err); /* degrade to the symbol */
		else
			ret->count = count;
	}
	if (ret->count > 0 && ret->locations[ret->count - 1].function)
		return NULL;
	uint64_t lookup = is_return_address && vaddr ? vaddr - 1 : vaddr;
	struct ai_elf_symbol *sym = ai_elf_file_find_symbol(m->symbols, lookup);
	if (!sym)
		return NULL;
	ret->symbol = ai_elf_symbol_name(sym);
	ret->symbol_offset = vaddr - sym->address;
	if (ret->count == 0) {
		memset(&ret->locations[0], 0, sizeof(ret->locations[0]));
		ret->count = 1;
	}
	ret->locations[ret->count - 1].function = ret->symbol;
	return NULL;
}
