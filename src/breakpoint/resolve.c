/* From a SPEC to the addresses of its int3s, through DWARF and the poll function's code.
 *
 * FILE:LINE: the line tables name the source files (suffix match); the code of those files gives
 * the subprograms it belongs to; a subprogram whose first parameter is `Pin<&mut C>` of a
 * coroutine C is C's poll function. C's variants give its span (Unresumed: the fn's first line,
 * Returned: its last) and the line of each suspend state's `.await`. The innermost coroutine
 * around LINE must have a suspend state there; the poll function's stores of that state's
 * discriminant are found with Capstone, and each breakpoint is the instruction after one. */
#include <capstone/capstone.h>
#include <dwarf.h>
#include <stdlib.h>
#include <string.h>

#include "ai/breakpoint.h"
#include "ai/debuginfo.h"
#include "ai/dwarf_info.h"
#include "ai/dwarf_reader.h"
#include "ai/elf_file.h"
#include "ai/types.h"
#include "ai/util.h"

/* A poll function bigger than this is not disassembled (debug builds stay far below). */
#define MAX_POLL_BYTES (4u << 20)

/* A coroutine's poll function, as found in DWARF. */
struct poll_fn {
	uint64_t die;            /* the subprogram */
	uint64_t lo, hi;         /* its code (the first range) */
	const char *name;        /* "app::serve::{async_fn#0}" (borrowed from the DWARF) */
	const struct ai_type *coroutine; /* borrowed from the ai_types */
	uint32_t first_line, last_line;  /* Unresumed's and Returned's decl_line; 0 if unknown */
};

struct resolver {
	struct ai_debuginfo *di;
	struct ai_module *module;    /* borrowed: the module whose DWARF and code these are */
	struct ai_dwarf *dw;
	struct ai_dwarf_reader *rd;
	struct ai_types *types;      /* owned */
	struct ai_elf_file *elf;     /* borrowed: the module's file, for its code */
	/* subprograms already looked at (poll functions or not) */
	uint64_t *seen;
	size_t seen_count, seen_capacity;
	struct poll_fn *fns;
	size_t fn_count, fn_capacity;
};

/* path ends with suffix, at a '/' boundary (or is it). */
static bool path_matches(const char *path, const char *suffix)
{
	if (!path)
		return false;
	size_t n = strlen(path), m = strlen(suffix);
	if (m == 0 || m > n || strcmp(path + n - m, suffix) != 0)
		return false;
	return m == n || path[n - m - 1] == '/' || suffix[0] == '/';
}

/* The coroutine behind a poll function's parameter type: Pin<&mut C> (or &mut C). */
static const struct ai_type *coroutine_behind(const struct ai_type *t)
{
	for (int depth = 0; t && depth < 6; depth++) {
		if (ai_type_underlying(t, &t) != NULL)
			return NULL;
		if (ai_type_is_coroutine(t))
			return t;
		const struct ai_type *next = NULL;
		struct ai_error *err = NULL;
		if (t->kind == AI_TYPE_POINTER)
			err = ai_type_target(t, &next);
		else if (t->kind == AI_TYPE_STRUCT && t->member_count == 1)
			err = ai_type_member_type(t, &t->members[0], &next); /* Pin { __pointer } */
		if (err) {
			ai_error_destroy(err);
			return NULL;
		}
		t = next;
	}
	return NULL;
}

static void first_range(void *arg, uint64_t lo, uint64_t hi)
{
	uint64_t *range = arg;
	if (range[1] == 0 || lo < range[0]) {
		range[0] = lo;
		range[1] = hi;
	}
}

/* Looks at the subprogram at die once: adds it to r->fns when it is a coroutine's poll function.
 * Returns it, or NULL. */
static const struct poll_fn *look_at(struct resolver *r, uint64_t die_offset)
{
	for (size_t i = 0; i < r->fn_count; i++)
		if (r->fns[i].die == die_offset)
			return &r->fns[i];
	for (size_t i = 0; i < r->seen_count; i++)
		if (r->seen[i] == die_offset)
			return NULL;
	AI_GROW(r->seen, r->seen_capacity, r->seen_count + 1);
	r->seen[r->seen_count++] = die_offset;

	struct ai_dwarf_die die, child;
	uint64_t at;
	struct ai_error *err = ai_dwarf_read_die_at(r->rd, die_offset, &die);
	if (!err && (die.tag != DW_TAG_subprogram || !die.has_children))
		return NULL;
	if (!err)
		err = ai_dwarf_die_end(r->rd, &die, &at);
	const struct ai_type *coroutine = NULL;
	/* The first formal parameter: the coroutine, pinned. */
	while (!err && !coroutine) {
		err = ai_dwarf_read_die(r->rd, die.unit, at, &child);
		if (err || child.tag == 0)
			break;
		if (child.tag == DW_TAG_formal_parameter) {
			struct ai_dwarf_attr type;
			bool found;
			err = ai_dwarf_die_attr(r->rd, &child, DW_AT_type, &type, &found);
			const struct ai_type *t = NULL;
			if (!err && found && type.cls == AI_DWARF_CLASS_REFERENCE)
				err = ai_types_get(r->types, type.u, &t);
			if (!err && t)
				coroutine = coroutine_behind(t);
			break;
		}
		err = ai_dwarf_die_sibling(r->rd, &child, &at);
	}
	uint64_t range[2] = { 0, 0 };
	bool has_ranges = false;
	if (!err && coroutine)
		err = ai_dwarf_die_ranges(r->rd, &die, first_range, range, &has_ranges);
	if (err || !coroutine || !has_ranges || range[1] <= range[0]) {
		ai_error_destroy(err);
		return NULL;
	}
	struct poll_fn fn = { .die = die_offset, .lo = range[0], .hi = range[1], .coroutine = coroutine };
	err = ai_dwarf_qualified_name(r->dw, die_offset, &fn.name);
	if (err) {
		ai_error_destroy(err);
		fn.name = NULL;
	}
	const struct ai_variant *v = ai_type_find_variant(coroutine, "Unresumed");
	fn.first_line = v ? v->decl_line : 0;
	v = ai_type_find_variant(coroutine, "Returned");
	fn.last_line = v ? v->decl_line : 0;
	AI_GROW(r->fns, r->fn_capacity, r->fn_count + 1);
	r->fns[r->fn_count++] = fn;
	return &r->fns[r->fn_count - 1];
}

/* "app::serve" of "app::serve::{async_fn#0}"; an async block keeps its "{async_block#N}". */
static char *display_name(const struct poll_fn *fn)
{
	if (!fn->name)
		return xstrdup("?");
	const char *tail = strstr(fn->name, "::{async_fn#");
	return tail ? xstrndup(fn->name, (size_t)(tail - fn->name)) : xstrdup(fn->name);
}

static bool is_suspend(const struct ai_variant *v)
{
	return v->name && strncmp(v->name, "Suspend", 7) == 0 && v->has_discr_value;
}

/* The stores of value (any: of every value) into the coroutine's __state in the poll function: a
 * site after each. */
static struct ai_error *find_stores(struct resolver *r, const struct poll_fn *fn, bool any, uint64_t value,
				    size_t spec, const char *file, uint32_t line, struct ai_break_sites *sites)
{
	const struct ai_type *c = fn->coroutine;
	const struct ai_type *state_type;
	struct ai_error *err = ai_type_member_underlying(c, &c->discr, &state_type);
	if (err)
		return err;
	uint64_t size = fn->hi - fn->lo;
	if (size > MAX_POLL_BYTES || !state_type->size || state_type->size > 4)
		return ai_error_create(AI_ERROR_UNSUPPORTED, "the poll function of %s is not one we can read (%llu bytes)",
				       fn->name ? fn->name : "?", (unsigned long long)size);
	uint8_t *code = xmalloc(size);
	err = ai_elf_file_read(r->elf, fn->lo, code, size);
	if (err) {
		free(code);
		return err;
	}
	csh cs;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &cs) != CS_ERR_OK) {
		free(code);
		return ai_error_create(AI_ERROR_OTHER, "Capstone cannot decode x86-64");
	}
	cs_option(cs, CS_OPT_DETAIL, CS_OPT_ON);
	cs_insn *insns = NULL;
	size_t count = cs_disasm(cs, code, size, fn->lo, 0, &insns);
	size_t found = 0;
	for (size_t i = 0; i + 1 < count; i++) {
		const cs_x86 *x = &insns[i].detail->x86;
		if (insns[i].id != X86_INS_MOV || x->op_count != 2)
			continue;
		const cs_x86_op *dst = &x->operands[0], *src = &x->operands[1];
		if (dst->type != X86_OP_MEM || src->type != X86_OP_IMM || dst->size != state_type->size ||
		    dst->mem.index != X86_REG_INVALID || dst->mem.segment != X86_REG_INVALID ||
		    dst->mem.base == X86_REG_RIP || dst->mem.base == X86_REG_RSP || dst->mem.base == X86_REG_INVALID ||
		    (uint64_t)dst->mem.disp != c->discr.offset)
			continue;
		uint64_t mask = state_type->size >= 8 ? UINT64_MAX : ((uint64_t)1 << (8 * state_type->size)) - 1;
		if (!any && ((uint64_t)src->imm & mask) != (value & mask))
			continue;
		AI_GROW(sites->items, sites->capacity, sites->count + 1);
		sites->items[sites->count++] = (struct ai_break_site){
			.spec = spec,
			.module = r->module,
			.vaddr = insns[i + 1].address,
			.env_reg = dst->mem.base,
			.state_offset = c->discr.offset,
			.state_size = (uint8_t)state_type->size,
			.state_value = any ? (uint64_t)src->imm & mask : value,
			.function = display_name(fn),
			.file = file ? xstrdup(file) : NULL,
			.line = line,
		};
		found++;
	}
	if (count)
		cs_free(insns, count);
	cs_close(&cs);
	free(code);
	if (!found && any)
		return ai_error_create(AI_ERROR_UNSUPPORTED,
				       "cannot find the code of %s that stores its state in its poll function at 0x%llx: an optimised build?",
				       fn->name ? fn->name : "?", (unsigned long long)fn->lo);
	if (!found)
		return ai_error_create(AI_ERROR_UNSUPPORTED,
				       "cannot find the code of %s that stores its state %llu (the .await at line %u) in its poll function at 0x%llx: an optimised build?",
				       fn->name ? fn->name : "?", (unsigned long long)value, line,
				       (unsigned long long)fn->lo);
	return NULL;
}

/* The poll function's entry, hit when the coroutine is in state `value` there: at the entry the
 * coroutine is the first argument, in %rdi (System V). */
static struct ai_error *add_entry_site(struct resolver *r, const struct poll_fn *fn, uint64_t value, size_t spec,
				       const char *file, uint32_t line, struct ai_break_sites *sites)
{
	(void)r;
	const struct ai_type *state_type;
	struct ai_error *err = ai_type_member_underlying(fn->coroutine, &fn->coroutine->discr, &state_type);
	if (err)
		return err;
	AI_GROW(sites->items, sites->capacity, sites->count + 1);
	sites->items[sites->count++] = (struct ai_break_site){
		.spec = spec,
		.module = r->module,
		.vaddr = fn->lo,
		.env_reg = X86_REG_RDI,
		.state_offset = fn->coroutine->discr.offset,
		.state_size = (uint8_t)state_type->size,
		.state_value = value,
		.function = display_name(fn),
		.file = xstrdup(file),
		.line = line,
	};
	return NULL;
}

/* Every row of the files that match spec->file, in every unit; *path_ret names the one file. */
struct rows {
	uint64_t *addresses;
	size_t count, capacity;
	char **paths; /* owned: the distinct files that matched */
	size_t path_count, path_capacity;
};

static void add_path(struct rows *rows, const char *path)
{
	for (size_t i = 0; i < rows->path_count; i++)
		if (strcmp(rows->paths[i], path) == 0)
			return;
	AI_GROW(rows->paths, rows->path_capacity, rows->path_count + 1);
	rows->paths[rows->path_count++] = xstrdup(path);
}

static struct ai_error *collect_rows(struct resolver *r, const char *file, struct rows *rows)
{
	size_t unit_count;
	struct ai_dwarf_unit *units = ai_dwarf_reader_units(r->rd, &unit_count);
	for (size_t u = 0; u < unit_count; u++) {
		struct ai_error *err = ai_dwarf_unit_load(r->rd, &units[u]);
		if (err || !units[u].has_stmt_list) {
			ai_error_destroy(err);
			continue;
		}
		struct ai_dwarf_line_table table;
		err = ai_dwarf_read_line_table(r->rd, &units[u], &table);
		if (err) {
			ai_error_destroy(err);
			continue;
		}
		bool *matches = xcalloc(table.file_count ? table.file_count : 1, sizeof(*matches));
		bool any = false;
		for (size_t f = 0; f < table.file_count; f++) {
			if (table.files[f] && path_matches(table.files[f], file)) {
				matches[f] = any = true;
				add_path(rows, table.files[f]);
			}
		}
		for (size_t i = 0; any && i < table.row_count; i++) {
			const struct ai_dwarf_line_row *row = &table.rows[i];
			if (row->line == 0 || row->file >= table.file_count || !matches[row->file])
				continue;
			AI_GROW(rows->addresses, rows->capacity, rows->count + 1);
			rows->addresses[rows->count++] = row->address;
		}
		free(matches);
		ai_dwarf_line_table_deinit(&table);
	}
	return NULL;
}

static void rows_deinit(struct rows *rows)
{
	free(rows->addresses);
	for (size_t i = 0; i < rows->path_count; i++)
		free(rows->paths[i]);
	free(rows->paths);
}

/* "16, 19 and 23" */
static char *await_lines_text(const struct ai_type *c)
{
	char *text = xstrdup("");
	size_t n = 0;
	for (size_t i = 0; i < c->variant_count; i++)
		n += is_suspend(&c->variants[i]);
	size_t k = 0;
	for (size_t i = 0; i < c->variant_count; i++) {
		if (!is_suspend(&c->variants[i]))
			continue;
		k++;
		char *next = xasprintf("%s%s%u", text, k == 1 ? "" : k == n ? " and " : ", ",
				       c->variants[i].decl_line);
		free(text);
		text = next;
	}
	return text;
}

/* *absent_ret: the module has no such file (the error says so), which another module may have. */
static struct ai_error *resolve_line(struct resolver *r, size_t index, const struct ai_break_spec *spec,
				     struct ai_break_sites *sites, bool *absent_ret)
{
	struct rows rows = { 0 };
	struct ai_error *err = collect_rows(r, spec->file, &rows);
	*absent_ret = !err && rows.path_count == 0;
	if (*absent_ret)
		err = ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--break %s: no source file %s in the debug info of %s",
				      spec->text, spec->file, r->module->path);
	if (!err && rows.path_count > 1) {
		char *list = xstrdup("");
		for (size_t i = 0; i < rows.path_count && i < 5; i++) {
			char *next = xasprintf("%s%s%s", list, i ? ", " : "", rows.paths[i]);
			free(list);
			list = next;
		}
		err = ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				      "--break %s: %s matches %zu source files (%s%s); give a longer path",
				      spec->text, spec->file, rows.path_count, list, rows.path_count > 5 ? ", ..." : "");
		free(list);
	}
	if (err) {
		rows_deinit(&rows);
		return err;
	}
	const char *path = rows.paths[0];
	/* The poll functions of coroutines of that file. */
	for (size_t i = 0; i < rows.count; i++) {
		bool known = false;
		for (size_t k = 0; k < r->fn_count && !known; k++)
			known = rows.addresses[i] >= r->fns[k].lo && rows.addresses[i] < r->fns[k].hi;
		if (known)
			continue;
		struct ai_location locations[AI_MAX_LOCATIONS];
		size_t n = 0;
		err = ai_dwarf_find_locations(r->dw, rows.addresses[i], false, locations, AI_MAX_LOCATIONS, &n);
		if (err) {
			ai_error_destroy(err);
			err = NULL;
			continue;
		}
		if (n > 0 && locations[n - 1].subprogram_die_offset)
			look_at(r, locations[n - 1].subprogram_die_offset);
	}
	/* The innermost coroutine of that file around the line. */
	const struct poll_fn *best = NULL;
	for (size_t k = 0; k < r->fn_count; k++) {
		const struct poll_fn *fn = &r->fns[k];
		const struct ai_variant *start = ai_type_find_variant(fn->coroutine, "Unresumed");
		if (!start || !path_matches(start->decl_file, spec->file) || !fn->first_line ||
		    spec->line < fn->first_line || spec->line > fn->last_line)
			continue;
		if (!best || fn->last_line - fn->first_line < best->last_line - best->first_line)
			best = fn;
	}
	if (!best) {
		err = ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				      "--break %s: line %u of %s is in no async fn or block", spec->text, spec->line, path);
		rows_deinit(&rows);
		return err;
	}
	/* Every instantiation of that coroutine (a generic one has several poll functions). */
	bool has_await = false;
	for (size_t k = 0; k < r->fn_count && !err; k++) {
		const struct poll_fn *fn = &r->fns[k];
		const struct ai_variant *start = ai_type_find_variant(fn->coroutine, "Unresumed");
		if (fn->coroutine != best->coroutine &&
		    !(fn->first_line == best->first_line && fn->last_line == best->last_line &&
		      start && path_matches(start->decl_file, spec->file)))
			continue;
		for (size_t v = 0; v < fn->coroutine->variant_count && !err; v++) {
			const struct ai_variant *var = &fn->coroutine->variants[v];
			if (!is_suspend(var) || var->decl_line != spec->line || !path_matches(var->decl_file, spec->file))
				continue;
			has_await = true;
			if (spec->resume)
				err = add_entry_site(r, fn, var->discr_value, index, path, spec->line, sites);
			else
				err = find_stores(r, fn, false, var->discr_value, index, path, spec->line, sites);
		}
	}
	if (!err && !has_await) {
		char *lines = await_lines_text(best->coroutine);
		char *name = display_name(best);
		err = ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				      *lines ? "--break %s: line %u of %s has no .await; the awaits of %s are at line%s %s"
					     : "--break %s: line %u of %s has no .await; %s has no await%s%s",
				      spec->text, spec->line, path, name, strchr(lines, ' ') ? "s" : "", lines);
		free(name);
		free(lines);
	}
	rows_deinit(&rows);
	return err;
}

struct found_fns {
	struct resolver *r;
	uint64_t dies[16];
	size_t count;
};

static bool on_function(void *arg, uint64_t die_offset)
{
	struct found_fns *f = arg;
	if (f->count < sizeof(f->dies) / sizeof(f->dies[0]))
		f->dies[f->count++] = die_offset;
	return true;
}

static struct ai_error *resolve_function(struct resolver *r, size_t index, const struct ai_break_spec *spec,
					 struct ai_break_sites *sites, bool *absent_ret)
{
	*absent_ret = false;
	char *poll_name = xasprintf("%s::{async_fn#0}", spec->function);
	struct found_fns found = { .r = r };
	struct ai_error *err = ai_dwarf_find_functions(r->dw, 0, poll_name, on_function, &found);
	free(poll_name);
	if (err)
		return err;
	size_t added = 0;
	for (size_t i = 0; i < found.count; i++) {
		const struct poll_fn *fn = look_at(r, found.dies[i]);
		const struct ai_variant *start = fn ? ai_type_find_variant(fn->coroutine, "Unresumed") : NULL;
		if (!start || !start->has_discr_value)
			continue;
		err = add_entry_site(r, fn, start->discr_value, index, start->decl_file ? start->decl_file : "?",
				     start->decl_line, sites);
		if (err)
			return err;
		added++;
	}
	*absent_ret = !added;
	if (!added)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				       "--break %s: no async fn %s in the debug info of %s (give its whole path, crate first, e.g. app::net::serve; a method as the debug info names it, e.g. app::{impl#0}::handle)",
				       spec->text, spec->function, r->module->path);
	return NULL;
}

size_t ai_break_source_count(struct ai_debuginfo *di, const char *file)
{
	struct ai_dwarf *dw = ai_debuginfo_main_dwarf(di);
	if (!dw)
		return 0;
	struct resolver r = { .di = di, .dw = dw, .rd = ai_dwarf_get_reader(dw) };
	struct rows rows = { 0 };
	ai_error_destroy(collect_rows(&r, file, &rows));
	size_t n = rows.path_count;
	rows_deinit(&rows);
	return n;
}

/* Whether module m can be searched for breakpoints: the executable, or a library with Rust DWARF
 * (opening it, which computes its load bias). */
static struct ai_dwarf *searchable(struct ai_debuginfo *di, struct ai_module *m)
{
	/* The executable's is open from the start (and may not be mapped yet: a DAP launch resolves
	 * before it is; its bias is computed once it is, at the insertion). */
	if (m->is_main)
		return ai_debuginfo_main_dwarf(di);
	if (m->is_vdso || ai_debuginfo_find_module(di, m->start) != m || m->error || !m->elf)
		return NULL;
	struct ai_dwarf *dw = ai_module_dwarf(m);
	return dw && ai_dwarf_is_rust(dw) ? dw : NULL;
}

static void resolver_init(struct resolver *r, struct ai_debuginfo *di, struct ai_module *m, struct ai_dwarf *dw)
{
	*r = (struct resolver){ .di = di, .module = m, .dw = dw, .rd = ai_dwarf_get_reader(dw),
				.types = ai_types_create(dw), .elf = m->elf };
}

static void resolver_deinit(struct resolver *r)
{
	free(r->seen);
	free(r->fns);
	/* The sites own copies of every string they need: the types can go. */
	ai_types_destroy(r->types);
}

/* Resolves the specs not yet found (found[i] false; only: those with only[i], when given) in
 * module m: found[i] set for each found there; a spec the module does not have, the executable's
 * error saying so into absent[i] (when absent is given). */
static struct ai_error *resolve_module(struct ai_debuginfo *di, struct ai_module *m, struct ai_dwarf *dw,
				       const struct ai_break_spec *specs, size_t spec_count, const bool *only,
				       bool *found, struct ai_error **absent, struct ai_break_sites *sites)
{
	struct resolver r;
	resolver_init(&r, di, m, dw);
	struct ai_error *err = NULL;
	for (size_t i = 0; i < spec_count && !err; i++) {
		bool is_absent = false;
		if (only && !only[i])
			continue;
		if (specs[i].kind == AI_BREAK_LINE)
			err = resolve_line(&r, i, &specs[i], sites, &is_absent);
		else if (specs[i].kind == AI_BREAK_FUNCTION)
			err = resolve_function(&r, i, &specs[i], sites, &is_absent);
		else
			continue; /* spawn and complete: the runtime adapters' (session.c) */
		if (err && is_absent) {
			if (m->is_main && absent && !absent[i])
				absent[i] = err;
			else
				ai_error_destroy(err);
			err = NULL;
		} else if (!err) {
			found[i] = true;
		}
	}
	resolver_deinit(&r);
	return err;
}

/* Every module mapped now; *libraries_ret: how many libraries were searched. */
static struct ai_error *resolve_mapped(struct ai_debuginfo *di, const struct ai_break_spec *specs, size_t spec_count,
				       bool *found, struct ai_error **absent, size_t *libraries_ret,
				       struct ai_break_sites *sites)
{
	struct ai_module *main = ai_debuginfo_main_module(di);
	if (!ai_debuginfo_main_dwarf(di) || !main->elf)
		return ai_error_create(AI_ERROR_DWARF, "cannot read the DWARF of %s", main->path);
	ai_debuginfo_refresh(di);
	struct ai_error *err = NULL;
	size_t libraries = 0;
	struct ai_module *m;
	/* The libraries once the executable is mapped: ai_debuginfo_module_at opens the module it
	 * gives, and the executable's load bias is only right once its mapping is known (a DAP
	 * attach resolves before the first stop). */
	bool mapped = ai_debuginfo_find_module(di, main->start) == main;
	for (size_t k = 0; !err && (m = !k ? main : mapped ? ai_debuginfo_module_at(di, k - 1) : NULL); k++) {
		struct ai_dwarf *dw;
		if ((k && m == main) || !(dw = searchable(di, m)))
			continue;
		libraries += !m->is_main;
		err = resolve_module(di, m, dw, specs, spec_count, NULL, found, absent, sites);
	}
	*libraries_ret = libraries;
	return err;
}

struct ai_error *ai_break_resolve(struct ai_debuginfo *di, const struct ai_break_spec *specs,
				  size_t spec_count, struct ai_break_sites *ret)
{
	struct ai_break_sites sites = { 0 };
	/* Per spec: found in some module, or the executable's error saying it is not there. */
	bool *found = xcalloc(spec_count ? spec_count : 1, sizeof(*found));
	struct ai_error **absent = xcalloc(spec_count ? spec_count : 1, sizeof(*absent));
	size_t libraries = 0;
	struct ai_error *err = resolve_mapped(di, specs, spec_count, found, absent, &libraries, &sites);
	for (size_t i = 0; i < spec_count && !err; i++) {
		if (found[i] || !absent[i])
			continue;
		/* The libraries loaded later (DT_NEEDED ones at a launch, dlopen()ed ones) are not
		 * there to search yet. */
		err = ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				      "%s, nor of the %zu librar%s with Rust debug info loaded now (a library loaded later is not searched: if the spec is in one not loaded yet, attach once it is)",
				      absent[i]->message, libraries, libraries == 1 ? "y" : "ies");
	}
	for (size_t i = 0; i < spec_count; i++)
		ai_error_destroy(absent[i]);
	free(absent);
	free(found);
	if (err) {
		ai_break_sites_deinit(&sites);
		return err;
	}
	*ret = sites;
	return NULL;
}

struct ai_error *ai_break_resolve_later(struct ai_debuginfo *di, const struct ai_break_spec *specs,
					size_t spec_count, bool *pending, struct ai_error **absent,
					size_t *libraries_ret, struct ai_break_sites *ret)
{
	struct ai_break_sites sites = { 0 };
	bool *found = xcalloc(spec_count ? spec_count : 1, sizeof(*found));
	struct ai_error *err = resolve_mapped(di, specs, spec_count, found, absent, libraries_ret, &sites);
	for (size_t i = 0; i < spec_count; i++) {
		pending[i] = !err && !found[i] && absent[i];
		if (!pending[i]) {
			ai_error_destroy(absent[i]);
			absent[i] = NULL;
		}
	}
	free(found);
	if (err) {
		ai_break_sites_deinit(&sites);
		return err;
	}
	*ret = sites;
	return NULL;
}

struct ai_error *ai_break_resolve_in(struct ai_debuginfo *di, struct ai_module *m, const struct ai_break_spec *specs,
				     size_t spec_count, bool *pending, bool *searched_ret, struct ai_break_sites *sites)
{
	struct ai_dwarf *dw = searchable(di, m);
	*searched_ret = dw && !m->is_main;
	if (!*searched_ret)
		return NULL;
	bool *found = xcalloc(spec_count ? spec_count : 1, sizeof(*found));
	struct ai_error *err = resolve_module(di, m, dw, specs, spec_count, pending, found, NULL, sites);
	for (size_t i = 0; i < spec_count; i++)
		pending[i] &= !found[i];
	free(found);
	return err;
}

/* The subprograms of the lines of file (a suffix) that are poll functions, into r->fns. */
static void look_at_file(struct resolver *r, const char *file)
{
	struct rows rows = { 0 };
	ai_error_destroy(collect_rows(r, file, &rows));
	for (size_t i = 0; i < rows.count; i++) {
		bool known = false;
		for (size_t k = 0; k < r->fn_count && !known; k++)
			known = rows.addresses[i] >= r->fns[k].lo && rows.addresses[i] < r->fns[k].hi;
		struct ai_location locations[AI_MAX_LOCATIONS];
		size_t n = 0;
		struct ai_error *err = known ? NULL : ai_dwarf_find_locations(r->dw, rows.addresses[i], false, locations,
									      AI_MAX_LOCATIONS, &n);
		ai_error_destroy(err);
		if (!known && !err && n > 0 && locations[n - 1].subprogram_die_offset)
			look_at(r, locations[n - 1].subprogram_die_offset);
	}
	rows_deinit(&rows);
}

/* Whether a and b are the same coroutine type: each unit that uses a type has a DIE of its own
 * (the poll function's unit and the task's need not be one), so the same qualified name, size,
 * state and first line. */
static bool same_coroutine(const struct ai_type *a, const struct ai_type *b)
{
	if (a == b || a->die_offset == b->die_offset)
		return true;
	const char *x = ai_type_qualified_name(a), *y = ai_type_qualified_name(b);
	const struct ai_variant *u = ai_type_find_variant(a, "Unresumed"), *v = ai_type_find_variant(b, "Unresumed");
	return x && y && strcmp(x, y) == 0 && a->size == b->size && a->discr.offset == b->discr.offset && u && v &&
	       u->decl_line == v->decl_line && u->decl_file && v->decl_file && strcmp(u->decl_file, v->decl_file) == 0;
}

struct ai_error *ai_break_resolve_state_stores(struct ai_debuginfo *di, struct ai_module *module,
					       uint64_t type_die, struct ai_break_sites *ret)
{
	struct ai_dwarf *dw = module ? searchable(di, module) : NULL;
	if (!dw)
		return ai_error_create(AI_ERROR_DWARF, "cannot read the DWARF and code of %s",
				       module ? module->path : "the program");
	struct resolver r;
	resolver_init(&r, di, module, dw);
	const struct ai_type *c = NULL;
	struct ai_error *err = ai_types_get(r.types, type_die, &c);
	const struct ai_variant *start = !err ? ai_type_find_variant(c, "Unresumed") : NULL;
	if (!err && (!ai_type_is_coroutine(c) || !c->has_discr || !start || !start->decl_file))
		err = ai_error_create(AI_ERROR_DWARF, "the type at DIE 0x%llx is not a coroutine with a state and a file",
				      (unsigned long long)type_die);
	struct ai_break_sites sites = { 0 };
	if (!err)
		look_at_file(&r, start->decl_file);
	size_t polls = 0;
	for (size_t k = 0; k < r.fn_count && !err; k++) {
		if (!same_coroutine(r.fns[k].coroutine, c))
			continue;
		polls++;
		err = find_stores(&r, &r.fns[k], true, 0, 0, NULL, 0, &sites);
	}
	if (!err && !polls)
		err = ai_error_create(AI_ERROR_NOT_FOUND, "no poll function of %s in the code of %s",
				      c->name ? c->name : "the coroutine", module->path);
	resolver_deinit(&r);
	if (err) {
		ai_break_sites_deinit(&sites);
		return err;
	}
	*ret = sites;
	return NULL;
}

void ai_break_sites_deinit(struct ai_break_sites *sites)
{
	for (size_t i = 0; i < sites->count; i++) {
		free(sites->items[i].function);
		free(sites->items[i].file);
	}
	free(sites->items);
	memset(sites, 0, sizeof(*sites));
}

bool ai_break_reg_value(const struct user_regs_struct *regs, int reg, uint64_t *ret)
{
	switch (reg) {
	case X86_REG_RAX: *ret = regs->rax; return true;
	case X86_REG_RBX: *ret = regs->rbx; return true;
	case X86_REG_RCX: *ret = regs->rcx; return true;
	case X86_REG_RDX: *ret = regs->rdx; return true;
	case X86_REG_RSI: *ret = regs->rsi; return true;
	case X86_REG_RDI: *ret = regs->rdi; return true;
	case X86_REG_RBP: *ret = regs->rbp; return true;
	case X86_REG_RSP: *ret = regs->rsp; return true;
	case X86_REG_R8: *ret = regs->r8; return true;
	case X86_REG_R9: *ret = regs->r9; return true;
	case X86_REG_R10: *ret = regs->r10; return true;
	case X86_REG_R11: *ret = regs->r11; return true;
	case X86_REG_R12: *ret = regs->r12; return true;
	case X86_REG_R13: *ret = regs->r13; return true;
	case X86_REG_R14: *ret = regs->r14; return true;
	case X86_REG_R15: *ret = regs->r15; return true;
	default: return false;
	}
}
