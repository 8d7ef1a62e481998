/* Finding tokio in the executable: the CONTEXT thread-local (its symbol, the offset of the static
 * TLS block, its DWARF variable and type) and tokio's version. Part of the collection of
 * tasks.c. */
#include <dwarf.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/runtime.h"
#include "ai/demangle.h"
#include "ai/dwarf_reader.h"
#include "ai/util.h"
#include "layout.h"
#include "tokio.h"
#include "tasks_internal.h"

#define TK_MAX_DIE_SCAN 4000000u  /* DIEs looked at while searching for CONTEXT's variable */

/* ---- Finding tokio: the CONTEXT symbol, the version ---- */

static bool context_symbol_name(const char *mangled)
{
	char *demangled = ai_demangle(mangled);
	bool yes = demangled && strncmp(demangled, TK_CONTEXT_SYMBOL_PREFIX,
					strlen(TK_CONTEXT_SYMBOL_PREFIX)) == 0;
	free(demangled);
	return yes;
}

/* One pass over .symtab: the STT_TLS symbol of CONTEXT and a function of CONTEXT's own (its
 * accessor closure or init function), whose compilation unit holds CONTEXT's DWARF variable. */
void tk_scan_symbols(struct tk *tk, struct ai_elf_file *file)
{
	Elf_Scn *scn = NULL;
	while ((scn = elf_nextscn(file->elf, scn))) {
		GElf_Shdr shdr;
		if (!gelf_getshdr(scn, &shdr) || shdr.sh_type != SHT_SYMTAB || !shdr.sh_entsize)
			continue;
		Elf_Data *data = elf_getdata(scn, NULL);
		if (!data)
			continue;
		size_t count = shdr.sh_size / shdr.sh_entsize;
		for (size_t i = 0; i < count; i++) {
			GElf_Sym sym;
			if (!gelf_getsym(data, (int)i, &sym) || sym.st_shndx == SHN_UNDEF)
				continue;
			int type = GELF_ST_TYPE(sym.st_info);
			if (type != STT_TLS && type != STT_FUNC)
				continue;
			const char *name = elf_strptr(file->elf, shdr.sh_link, sym.st_name);
			/* Both manglings spell the identifier as <length><name>. */
			if (!name || !strstr(name, "7CONTEXT") || !strstr(name, "5tokio"))
				continue;
			if (type == STT_TLS && !tk->has_context_symbol && context_symbol_name(name)) {
				tk->has_context_symbol = true;
				tk->tls_value = sym.st_value;
				tk->tls_name = xstrdup(name);
			} else if (type == STT_FUNC && !tk->accessor && sym.st_value &&
				   context_symbol_name(name)) {
				tk->accessor = sym.st_value;
			}
		}
		return;
	}
}

static char *version_from_path(const char *path)
{
	return ai_runtime_version_from_path(path, "tokio");
}

/* Looks in one unit for the variable named by linkage; its type's DIE offset, or 0. */
static uint64_t find_variable_type(struct tk *tk, struct ai_dwarf_unit *unit, const char *linkage,
				   size_t *budget)
{
	struct ai_dwarf_reader *r = tk->reader;
	struct ai_error *err = ai_dwarf_unit_load(r, unit);
	if (err || unit->load_failed) {
		ai_error_destroy(err); /* just "not here" */
		return 0;
	}
	uint64_t offset = unit->first_die;
	while (offset < unit->end && *budget > 0) {
		(*budget)--;
		struct ai_dwarf_die die;
		err = ai_dwarf_read_die(r, unit, offset, &die);
		if (err) {
			ai_error_destroy(err);
			return 0;
		}
		if (die.tag == DW_TAG_variable) {
			struct ai_dwarf_attr attrs[16];
			size_t count = 0;
			err = ai_dwarf_die_attrs(r, &die, attrs, AI_ARRAY_SIZE(attrs), &count, NULL);
			if (err) {
				ai_error_destroy(err);
				return 0;
			}
			bool match = false;
			uint64_t type = 0;
			for (size_t i = 0; i < AI_MIN(count, AI_ARRAY_SIZE(attrs)); i++) {
				if ((attrs[i].name == DW_AT_linkage_name ||
				     attrs[i].name == DW_AT_MIPS_linkage_name) &&
				    attrs[i].cls == AI_DWARF_CLASS_STRING && attrs[i].str &&
				    strcmp(attrs[i].str, linkage) == 0)
					match = true;
				else if (attrs[i].name == DW_AT_type &&
					 attrs[i].cls == AI_DWARF_CLASS_REFERENCE)
					type = attrs[i].u;
			}
			if (match)
				return type;
		}
		uint64_t next;
		err = ai_dwarf_die_end(r, &die, &next);
		if (err) {
			ai_error_destroy(err);
			return 0;
		}
		offset = next;
	}
	return 0;
}

static bool match_enum(const struct ai_type *type, const void *arg)
{
	return type->kind == AI_TYPE_ENUM || type->kind == AI_TYPE_C_ENUM;
}

/* Finds CONTEXT's DWARF type and the places in it tokio.c reads. False (with a warning) if the
 * layout is not understood. */
bool tk_resolve_context(struct tk *tk)
{
	struct ai_dwarf_unit *first = NULL;
	if (tk->accessor) {
		struct ai_symbolization sym;
		struct ai_error *err = ai_debuginfo_symbolize(tk->as->di, tk->accessor + tk->main->bias,
							      false, &sym);
		if (err)
			ai_error_destroy(err);
		else if (sym.count && sym.locations[sym.count - 1].die_offset)
			first = ai_dwarf_reader_unit_at(tk->reader,
							sym.locations[sym.count - 1].die_offset);
		for (size_t i = 0; !tk->version && !err && i < sym.count; i++)
			tk->version = version_from_path(sym.locations[i].file);
	}
	size_t budget = TK_MAX_DIE_SCAN;
	uint64_t type_offset = 0;
	if (first) {
		struct ai_error *err = ai_dwarf_unit_load(tk->reader, first);
		if (!err && !tk->version) {
			tk->version = version_from_path(first->comp_dir);
			if (!tk->version)
				tk->version = version_from_path(first->name);
		}
		ai_error_destroy(err);
		type_offset = find_variable_type(tk, first, tk->tls_name, &budget);
	}
	/* Elsewhere: tokio's own units first (named after its source directory). */
	size_t unit_count;
	struct ai_dwarf_unit *units = ai_dwarf_reader_units(tk->reader, &unit_count);
	for (int pass = 0; pass < 2 && !type_offset; pass++) {
		for (size_t i = 0; i < unit_count && !type_offset && budget; i++) {
			struct ai_dwarf_unit *u = &units[i];
			if (u == first)
				continue;
			struct ai_error *err = ai_dwarf_unit_load(tk->reader, u);
			if (err) {
				ai_error_destroy(err);
				continue;
			}
			char *v = version_from_path(u->comp_dir);
			if (!v)
				v = version_from_path(u->name);
			if ((v != NULL) == (pass == 0)) {
				if (v && !tk->version) {
					tk->version = v;
					v = NULL;
				}
				type_offset = find_variable_type(tk, u, tk->tls_name, &budget);
			}
			free(v);
		}
	}
	if (!tk->version)
		tk->version = xstrdup("(unknown version)");
	tk->env.version = tk->version;
	if (!type_offset) {
		tk_warn(&tk->env, "no DWARF variable for the thread-local %s; runtimes are found "
			"only from stack frames", tk->tls_name);
		return false;
	}
	const struct ai_type *storage;
	struct ai_error *err = ai_types_get(tk->as->types, type_offset, &storage);
	if (err) {
		tk_warn(&tk->env, "the type of CONTEXT: %s", err->message);
		ai_error_destroy(err);
		return false;
	}
	storage = tk_underlying(storage);
	tk->storage = storage;
	if (!storage->has_size || storage->size == 0 || storage->size > 65536) {
		tk_warn(&tk->env, "the thread-local CONTEXT's type %s has no size", storage->name);
		return false;
	}
	/* Context: the storage's T (std's lazy::Storage<T, D> and eager::Storage<T>), or by name. */
	const struct ai_template_param *t = ai_type_find_template_param(storage, "T");
	const struct ai_type *context_type = NULL;
	if (t && !ai_type_resolve(storage, &t->type, &context_type))
		context_type = tk_underlying(context_type);
	struct tk_loc context;
	if (!(context_type && tk_find_within(storage, tk_match_same, context_type, &context)) &&
	    !tk_find_within(storage, tk_match_name, "Context", &context)) {
		tk_warn(&tk->env, "no tokio::runtime::context::Context inside the thread-local "
			"CONTEXT (%s)", storage->name);
		return false;
	}
	tk->context = context.offset;
	/* State: lazy's Uninitialized/Alive/Destroyed, eager's Initial/Alive/Destroyed. */
	const struct ai_member *state = ai_type_find_member(storage, "state");
	const struct ai_type *state_type = state ? tk_member_type(storage, state) : NULL;
	struct tk_loc state_loc;
	if (state_type && tk_find_within(state_type, match_enum, NULL, &state_loc)) {
		tk->has_state = true;
		tk->state.offset = state->offset + state_loc.offset;
		tk->state.type = state_loc.type;
	}
	struct tk_loc handle, option;
	if (!tk_field_quiet(TK_CONTEXT_HANDLE, context.type, &handle) &&
	    tk_find_within(storage, tk_match_name, TK_NAME_OPTION_RT_HANDLE, &option)) {
		/* Before 1.22: CONTEXT is RefCell<Option<runtime::Handle>>, no current task id. */
		tk->handle_option = option;
		if (option.offset + option.type->size > storage->size) {
			tk_warn(&tk->env, "the runtime handle lies outside the thread-local CONTEXT");
			return false;
		}
		return true;
	}
	if (!tk_field(&tk->env, TK_CONTEXT_HANDLE, context.type, &handle))
		return false;
	if (!tk_find_within(handle.type, tk_match_name, TK_NAME_OPTION_HANDLE, &option)) {
		tk_warn(&tk->env, "%s.%s holds no %s", tk_fields[TK_CONTEXT_HANDLE].owner,
			"handle", TK_NAME_OPTION_HANDLE);
		return false;
	}
	tk->handle_option.offset = context.offset + handle.offset + option.offset;
	tk->handle_option.type = option.type;
	struct tk_loc task_id;
	if (tk_field(&tk->env, TK_CONTEXT_TASK_ID, context.type, &task_id) &&
	    tk_find_within(task_id.type, tk_match_prefix, "Option<", &option)) {
		tk->has_task_id = true;
		tk->task_id_option.offset = context.offset + task_id.offset + option.offset;
		tk->task_id_option.type = option.type;
	}
	if (tk->handle_option.offset + tk->handle_option.type->size > storage->size) {
		tk_warn(&tk->env, "the runtime handle lies outside the thread-local CONTEXT");
		return false;
	}
	return true;
}
