/* The list of runtime adapters and what they share: see include/ai/runtime.h. */
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/debuginfo.h"
#include "ai/dwarf_info.h"
#include "ai/dwarf_reader.h"
#include "ai/elf_file.h"
#include "ai/runtime.h"
#include "ai/util.h"

extern const struct ai_runtime_ops ai_runtime_tokio;
extern const struct ai_runtime_ops ai_runtime_futures;
extern const struct ai_runtime_ops ai_runtime_async_task;

/* tokio first: its tasks are listed before futures driven by block_on, as users read them;
 * then async-task's spawned tasks (futures adds no tasks of its own). */
const struct ai_runtime_ops *const ai_runtimes[] = {
	&ai_runtime_tokio,
	&ai_runtime_futures,
	&ai_runtime_async_task,
	NULL,
};

/* ai_runtimes, then the registered adapters (decoder files), NULL-terminated; made by the first
 * registration (while the options are read, before any capture thread), else NULL. */
static const struct ai_runtime_ops **all;
static size_t all_count, all_capacity;
/* Bumped when the adapters change: the future shapes kept on types (ai_runtime_future_shape_of)
 * are worked out again. Never 0, the generation of a type not looked up yet. */
static unsigned generation = 1;

const struct ai_runtime_ops *const *ai_runtimes_all(void)
{
	return all ? all : ai_runtimes;
}

bool ai_runtime_register(const struct ai_runtime_ops *ops)
{
	if (ai_runtime_find(ops->name))
		return false;
	if (!all) {
		size_t n = 0;
		while (ai_runtimes[n])
			n++;
		AI_GROW(all, all_capacity, n + 1);
		memcpy(all, ai_runtimes, (n + 1) * sizeof(*all));
		all_count = n;
	}
	AI_GROW(all, all_capacity, all_count + 2);
	generation++;
	all[all_count++] = ops;
	all[all_count] = NULL;
	return true;
}

void ai_runtime_unregister_all(void)
{
	free(all);
	generation++;
	all = NULL;
	all_count = all_capacity = 0;
}

bool ai_runtimes_value_summary(struct ai_memory *mem, const struct ai_type *type, uint64_t address,
			       char **text_ret, const char **inner_ret)
{
	for (const struct ai_runtime_ops *const *ops = ai_runtimes_all(); *ops; ops++)
		if ((*ops)->value_summary && (*ops)->value_summary(mem, type, address, text_ret, inner_ret))
			return true;
	return false;
}

const struct ai_runtime_ops *ai_runtime_find(const char *name)
{
	for (const struct ai_runtime_ops *const *ops = ai_runtimes_all(); name && *ops; ops++)
		if (strcmp((*ops)->name, name) == 0)
			return *ops;
	return NULL;
}

const struct ai_runtime_ops *ai_runtime_of_block_on(const char *function)
{
	for (const struct ai_runtime_ops *const *ops = ai_runtimes_all(); function && *ops; ops++)
		if ((*ops)->is_block_on_frame && (*ops)->is_block_on_frame(function))
			return *ops;
	return NULL;
}

/* The language's own wrappers and combinators, and the ecosystem's that belong to no runtime. */
static const struct ai_future_shape_rule core_shapes[] = {
	{ "core::pin::Pin<", AI_SHAPE_TRANSPARENT, "pointer", "__pointer" },
	{ "core::panic::unwind_safe::AssertUnwindSafe<", AI_SHAPE_TRANSPARENT, "__0", NULL },
	{ "core::mem::manually_drop::ManuallyDrop<", AI_SHAPE_TRANSPARENT, "value", NULL },
	/* rustc 1.95+: what ManuallyDrop.value is */
	{ "core::mem::maybe_dangling::MaybeDangling<", AI_SHAPE_TRANSPARENT, "__0", NULL },
	{ "core::cell::UnsafeCell<", AI_SHAPE_TRANSPARENT, "value", NULL },
	{ "tracing::instrument::Instrumented<", AI_SHAPE_TRANSPARENT, "inner", NULL },
	/* an Option, as a combinator holds a future it may have dropped (Timeout.delay, Fuse) */
	{ "core::option::Option<", AI_SHAPE_MAYBE_DONE, NULL, NULL },
	{ "core::future::poll_fn::PollFn<", AI_SHAPE_POLL_FN, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

/* Wrappers that name what they wrap: tracing's Instrumented { inner, span: Span { meta:
 * Option<&'static Metadata { name, target, .. }> } }. */
static const struct ai_future_label_rule label_rules[] = {
	{ "tracing::instrument::Instrumented<", "span.meta.name", "span.meta.target" },
	{ NULL, NULL, NULL },
};

const struct ai_future_label_rule *ai_runtime_future_label(const char *name)
{
	for (const struct ai_future_label_rule *r = label_rules; name && r->prefix; r++)
		if (strncmp(name, r->prefix, strlen(r->prefix)) == 0)
			return r;
	return NULL;
}

bool ai_runtime_own_label(const char *origin)
{
	for (const struct ai_runtime_ops *const *ops = ai_runtimes_all(); origin && *ops; ops++)
		for (const char *const *c = (*ops)->own_label_origins; c && *c; c++) {
			size_t n = strlen(*c);
			/* the crate itself or one of its modules: "tokio", "tokio::task" */
			if (strncmp(origin, *c, n) == 0 && (origin[n] == '\0' || strncmp(origin + n, "::", 2) == 0))
				return true;
		}
	return false;
}

static const struct ai_future_shape_rule *match_shape(const struct ai_future_shape_rule *rules, const char *name)
{
	for (const struct ai_future_shape_rule *r = rules; r && r->prefix; r++)
		if (strncmp(name, r->prefix, strlen(r->prefix)) == 0)
			return r;
	return NULL;
}

const struct ai_future_shape_rule *ai_runtime_future_shape(const char *name)
{
	if (!name)
		return NULL;
	const struct ai_future_shape_rule *r = match_shape(core_shapes, name);
	for (const struct ai_runtime_ops *const *ops = ai_runtimes_all(); *ops && !r; ops++)
		r = match_shape((*ops)->shapes, name);
	return r;
}

const struct ai_future_shape_rule *ai_runtime_future_shape_of(const struct ai_type *type, const char *name)
{
	if (!type->types) /* hand-made: its name may change, nothing is kept on it */
		return ai_runtime_future_shape(name);
	if (type->future_shape_generation != generation) {
		struct ai_type *t = (struct ai_type *)type; /* a cache in a type handed out as const */
		t->future_shape = ai_runtime_future_shape(name);
		t->future_shape_generation = generation;
	}
	return type->future_shape;
}

static char *macro_in(const struct ai_macro_source *source, const char *file)
{
	const char *at = strstr(file, source->dir);
	if (!at)
		return NULL;
	/* The path component before `dir` names the crate. */
	const char *component = at;
	while (component > file && component[-1] != '/')
		component--;
	size_t crate_len = strlen(source->crate);
	if (strncmp(component, source->crate, crate_len) != 0 ||
	    (component + crate_len != at && component[crate_len] != '-'))
		return NULL;
	const char *base = at + strlen(source->dir);
	const char *dot = strstr(base, ".rs");
	if (!dot || strchr(base, '/') || dot == base)
		return NULL;
	size_t len = (size_t)(dot - base);
	if (len > 4 && strncmp(dot - 4, "_mod", 4) == 0)
		len -= 4;
	return xasprintf("%s::%.*s!", source->prefix, (int)len, base);
}

char *ai_runtime_macro_name(const char *file)
{
	for (const struct ai_runtime_ops *const *ops = ai_runtimes_all(); file && *ops; ops++)
		for (const struct ai_macro_source *m = (*ops)->macros; m && m->crate; m++) {
			char *name = macro_in(m, file);
			if (name)
				return name;
		}
	return NULL;
}

/* A macro source may define NAME! and try_NAME! side by side (futures-util's join_mod.rs: join!
 * and try_join!): the last `macro_rules! try_NAME` before `line` in the source on disk says it
 * is try_NAME!. Any other macro_rules (a helper) is not taken. */
char *ai_runtime_macro_name_at(const char *file, int line)
{
	char *name = ai_runtime_macro_name(file);
	const char *bang = name ? strrchr(name, '!') : NULL;
	const char *colon = name ? strrchr(name, ':') : NULL;
	if (!name || !bang || !colon || line <= 0)
		return name;
	FILE *in = fopen(file, "r");
	if (!in)
		return name;
	char *base = xstrndup(colon + 1, (size_t)(bang - colon - 1));
	char *want = xasprintf("macro_rules! try_%s ", base);
	char *plain = xasprintf("macro_rules! %s ", base);
	bool is_try = false;
	char buf[512];
	for (int n = 1; n < line && fgets(buf, sizeof(buf), in); n++) {
		if (strstr(buf, want))
			is_try = true;
		else if (strstr(buf, plain))
			is_try = false;
	}
	fclose(in);
	if (is_try) {
		char *named = xasprintf("%.*stry_%s!", (int)(colon + 1 - name), name, base);
		free(name);
		name = named;
	}
	free(base);
	free(want);
	free(plain);
	return name;
}

static void names_list(char *buf, size_t size)
{
	size_t used = 0;
	buf[0] = '\0';
	for (const struct ai_runtime_ops *const *ops = ai_runtimes_all(); *ops && used < size; ops++)
		used += (size_t)snprintf(buf + used, size - used, "%s%s", used ? ", " : "", (*ops)->name);
}

static bool any_runtime(struct ai_async *as)
{
	for (const struct ai_runtime_ops *const *ops = ai_runtimes_all(); *ops; ops++) {
		char *version = (*ops)->detect ? (*ops)->detect(*ops, as) : NULL;
		free(version);
		if (version)
			return true;
	}
	return false;
}

bool ai_runtimes_detected(struct ai_async *as)
{
	return any_runtime(as);
}

void ai_runtimes_choose_module(struct ai_async *as)
{
	struct ai_module *main = ai_debuginfo_main_module(as->di);
	if (as->module != main)
		ai_async_set_module(as, main);
	if (any_runtime(as))
		return;
	struct ai_module *m;
	for (size_t i = 0; (m = ai_debuginfo_module_at(as->di, i)); i++) {
		if (m == main || m->is_vdso || m->error || !m->elf)
			continue;
		struct ai_dwarf *dwarf = ai_module_dwarf(m);
		if (!dwarf || !ai_dwarf_is_rust(dwarf))
			continue;
		ai_async_set_module(as, m);
		if (any_runtime(as))
			return;
	}
	ai_async_set_module(as, main);
}

struct ai_error *ai_runtimes_collect(struct ai_async *as, const struct ai_stack *stacks,
				     struct ai_snapshot *snapshot)
{
	for (const struct ai_runtime_ops *const *ops = ai_runtimes_all(); *ops; ops++) {
		char *version = (*ops)->detect ? (*ops)->detect(*ops, as) : NULL;
		if (!version)
			continue;
		if (!*version) {
			free(version);
			version = NULL;
		}
		size_t index = snapshot->runtime_count;
		struct ai_snapshot_runtime *rt = ai_snapshot_add_runtime(snapshot, (*ops)->name, version);
		if (!as->module->is_main)
			rt->module = xstrdup(as->module->path);
		size_t first_task = snapshot->task_count;
		struct ai_error *err = (*ops)->collect ?
			(*ops)->collect(*ops, as, stacks, snapshot, &snapshot->runtimes[index]) : NULL;
		for (size_t i = first_task; i < snapshot->task_count; i++)
			if (!snapshot->tasks[i].runtime)
				snapshot->tasks[i].runtime = xstrdup((*ops)->name);
		if (err)
			return err;
	}
	if (!snapshot->runtime_count) {
		char names[256];
		names_list(names, sizeof(names));
		ai_snapshot_add_warning(snapshot, "%s uses no async runtime that async-inspect knows (%s): only "
					"futures driven by a block_on and the threads are shown",
					as->target->exe_path ? as->target->exe_path : "the program", names);
	}
	return NULL;
}

void ai_probe_points_free(struct ai_probe_point *points, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		free(points[i].function);
		free(points[i].future);
		free(points[i].path);
	}
	free(points);
}

void ai_lifecycle_points_free(struct ai_lifecycle_point *points, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(points[i].function);
	free(points);
}

void ai_runtimes_lifecycle_points(struct ai_async *as, struct ai_lifecycle_point **points_ret,
				  size_t *count_ret)
{
	struct ai_lifecycle_point *points = NULL;
	size_t count = 0, capacity = 0;
	for (const struct ai_runtime_ops *const *ops = ai_runtimes_all(); *ops; ops++) {
		if (!(*ops)->lifecycle_points)
			continue;
		char *version = (*ops)->detect ? (*ops)->detect(*ops, as) : NULL;
		if (!version)
			continue;
		free(version);
		(*ops)->lifecycle_points(as, &points, &count, &capacity);
	}
	*points_ret = points;
	*count_ret = count;
}

void ai_runtimes_probe_points(struct ai_async *as, struct ai_probe_point **points_ret,
			      size_t *count_ret, char **runtimes_ret)
{
	struct ai_probe_point *points = NULL;
	size_t count = 0, capacity = 0;
	char *names = xstrdup("");
	for (const struct ai_runtime_ops *const *ops = ai_runtimes_all(); *ops; ops++) {
		if (!(*ops)->probe_points)
			continue;
		char *version = (*ops)->detect ? (*ops)->detect(*ops, as) : NULL;
		if (!version)
			continue;
		free(version);
		size_t before = count;
		(*ops)->probe_points(as, &points, &count, &capacity);
		if (count == before)
			continue;
		char *more = xasprintf("%s%s%s", names, *names ? ", " : "", (*ops)->name);
		free(names);
		names = more;
	}
	*points_ret = points;
	*count_ret = count;
	*runtimes_ret = names;
}

/* Stops at a symbol whose name has needle, "<length><crate>", as a whole path segment. */
static bool names_crate(void *arg, const GElf_Sym *sym, const char *name)
{
	(void)sym;
	const char *hit = strstr(name, arg);
	/* The length must be the whole number before the name (not "116futures..."). */
	return !(hit && (hit == name || hit[-1] < '0' || hit[-1] > '9'));
}

bool ai_runtime_crate_linked(struct ai_async *as, const char *crate)
{
	struct ai_module *main = as->module;
	if (main->first_end)
		ai_debuginfo_find_module(as->di, main->first_start); /* opens it */
	struct ai_elf_file *file = main->symbols ? main->symbols : main->elf;
	if (!file)
		return false;
	/* Both manglings (legacy and v0) spell a crate's name as <length><name>. */
	char needle[128];
	snprintf(needle, sizeof(needle), "%zu%s", strlen(crate), crate);
	return !ai_elf_file_each_symbol(file, true, names_crate, needle);
}

char *ai_runtime_version_from_path(const char *path, const char *dir_name)
{
	size_t n = strlen(dir_name);
	for (const char *p = path ? strstr(path, dir_name) : NULL; p; p = strstr(p + 1, dir_name)) {
		if ((p != path && p[-1] != '/') || p[n] != '-')
			continue;
		const char *v = p + n + 1;
		size_t len = 0, dots = 0;
		while (v[len] && v[len] != '/') {
			if (v[len] == '.')
				dots++;
			len++;
		}
		if (len && v[0] >= '0' && v[0] <= '9' && dots >= 2)
			return xstrndup(v, len);
	}
	return NULL;
}

char *ai_runtime_crate_version(struct ai_async *as, const char *dir_name)
{
	if (!as->dwarf)
		return NULL;
	struct ai_dwarf_reader *reader = ai_dwarf_get_reader(as->dwarf);
	size_t count;
	struct ai_dwarf_unit *units = ai_dwarf_reader_units(reader, &count);
	for (size_t i = 0; i < count; i++) {
		struct ai_error *err = ai_dwarf_unit_load(reader, &units[i]);
		if (err) {
			ai_error_destroy(err);
			continue;
		}
		char *v = ai_runtime_version_from_path(units[i].comp_dir, dir_name);
		if (!v)
			v = ai_runtime_version_from_path(units[i].name, dir_name);
		if (v)
			return v;
	}
	return NULL;
}

/* The static TLS block of the executable (x86-64, variant II): it ends at the thread pointer,
 * at glibc's offset for the first module. */
bool ai_runtime_tls_block_offset(struct ai_elf_file *elf, uint64_t *ret)
{
	for (size_t i = 0; i < elf->phnum; i++) {
		const GElf_Phdr *ph = &elf->phdrs[i];
		if (ph->p_type != PT_TLS)
			continue;
		uint64_t align = ph->p_align ? ph->p_align : 1;
		uint64_t firstbyte = (-ph->p_vaddr) & (align - 1);
		*ret = ((ph->p_memsz - firstbyte + align - 1) & ~(align - 1)) + firstbyte;
		return true;
	}
	return false;
}

void ai_runtime_each_symbol(struct ai_async *as,
			    bool (*visit)(struct ai_elf_symbol *sym, uint64_t address, void *ctx), void *ctx)
{
	struct ai_module *main = as->module;
	if (main->first_end)
		ai_debuginfo_find_module(as->di, main->first_start); /* opens it */
	struct ai_elf_file *symbols = main->symbols ? main->symbols : main->elf;
	if (!symbols || main->error)
		return;
	ai_elf_file_find_symbol(symbols, 0); /* loads the symbol table */
	uint64_t last = 0;
	for (size_t i = 0; i < symbols->symbol_count; i++) {
		struct ai_elf_symbol *sym = &symbols->symbols[i];
		if (!sym->address || !sym->name || sym->address == last)
			continue;
		if (visit(sym, sym->address + main->bias, ctx))
			last = sym->address; /* (symbols are sorted: aliases are neighbours) */
	}
}

char *ai_runtime_function_at(struct ai_async *as, uint64_t address, const char *fallback)
{
	char *function = NULL;
	struct ai_symbolization where;
	struct ai_error *err = ai_debuginfo_symbolize(as->di, address, false, &where);
	if (!err && where.count && where.locations[where.count - 1].function)
		function = xstrdup(where.locations[where.count - 1].function);
	ai_error_destroy(err);
	return function ? function : xstrdup(fallback ? fallback : "?");
}

char *ai_runtime_first_generic_arg(const char *function, const char *prefix)
{
	size_t len = strlen(prefix);
	if (!function || strncmp(function, prefix, len) != 0)
		return NULL;
	const char *start = function + len;
	int depth = 0;
	for (const char *p = start; *p; p++) {
		if (*p == '<' || *p == '(' || *p == '[')
			depth++;
		else if (*p == '>' || *p == ')' || *p == ']')
			depth--;
		else if (*p == ',' && depth == 0)
			return p > start ? xstrndup(start, (size_t)(p - start)) : NULL;
		if (depth < 0)
			break;
	}
	return NULL;
}
