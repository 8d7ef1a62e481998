/* Functions found by their qualified name, and the variables of a function, over the per-unit
 * index of dwarf_info.c: what the async layer asks to tie a suspend point to its poll function's
 * code (include/ai/dwarf_info.h). */
#include <dwarf.h>
#include <inttypes.h>
#include <string.h>

#include "ai/dwarf_info.h"
#include "ai/dwarf_reader.h"
#include "ai/util.h"
#include "dwarf_info_internal.h"
#include "dwarf_reader_internal.h"

/* rustc names a unit "<root source>/@/<crate>.<hash>-cgu.<N>": the part after "/@/" up to
 * "-cgu." tells the codegen units of one crate apart from others. Length 0 if the name has no
 * such part. */
static size_t crate_key(const struct ai_dwarf_unit *unit, const char **key_ret)
{
	const char *at = unit->name ? strstr(unit->name, "/@/") : NULL;
	if (!at)
		return 0;
	at += 3;
	for (const char *next; (next = strstr(at, "/@/"));)
		at = next + 3;
	const char *end = strstr(at, "-cgu.");
	*key_ret = at;
	return end ? (size_t)(end - at) : strlen(at);
}

/* True if scope s of cu, a subprogram with code, is called wanted. */
static bool function_named(struct ai_dwarf *dw, struct cu *cu, uint32_t s,
			   const char *wanted)
{
	const char *name = cu->scopes[s].name;
	size_t nl = name ? strlen(name) : 0, ql = strlen(wanted);
	/* Cheap first: the DIE's own name ends the path (unless it borrows a declaration's). */
	if (name && (nl > ql || strcmp(wanted + ql - nl, name) != 0))
		return false;
	const char *full = ai_dwarf_cu_scope_name(dw, cu, (int32_t)s);
	return full && strcmp(full, wanted) == 0;
}

static size_t functions_in(struct ai_dwarf *dw, struct cu *cu, const char *wanted,
			   ai_dwarf_function_fn *fn, void *arg, bool *stop)
{
	ai_error_destroy(ai_dwarf_cu_index(dw, cu));
	size_t found = 0;
	int64_t last = -1;
	for (size_t i = 0; i < cu->range_count && !*stop; i++) {
		uint32_t s = cu->ranges[i].scope;
		if ((int64_t)s == last || cu->scopes[s].tag != DW_TAG_subprogram)
			continue;
		last = s;
		if (function_named(dw, cu, s, wanted)) {
			found++;
			*stop = !fn(arg, cu->scopes[s].offset);
		}
	}
	return found;
}

struct ai_error *ai_dwarf_find_functions(struct ai_dwarf *dw, uint64_t near_offset,
					 const char *qualified_name, ai_dwarf_function_fn *fn,
					 void *arg)
{
	bool stop = false;
	struct cu *near = ai_dwarf_cu_at(dw, near_offset);
	if (near && functions_in(dw, near, qualified_name, fn, arg, &stop))
		return NULL;
	/* Then the other units of near's crate, and those of the crate the path starts with. */
	const char *near_key = NULL;
	size_t near_len = near ? crate_key(near->unit, &near_key) : 0;
	const char *sep = strstr(qualified_name, "::");
	size_t crate_len = sep ? (size_t)(sep - qualified_name) : 0;
	for (size_t i = 0; i < dw->cu_count && !stop; i++) {
		struct cu *cu = &dw->cus[i];
		struct ai_error *err = cu == near ? NULL : ai_dwarf_unit_load(dw->reader, cu->unit);
		if (cu == near || err) {
			ai_error_destroy(err);
			continue;
		}
		const char *key;
		size_t len = crate_key(cu->unit, &key);
		bool same_crate = len && near_len == len && strncmp(key, near_key, len) == 0;
		bool path_crate = len > crate_len && crate_len && key[crate_len] == '.' &&
				  strncmp(key, qualified_name, crate_len) == 0;
		if ((same_crate || path_crate) && functions_in(dw, cu, qualified_name, fn, arg, &stop))
			return NULL;
	}
	return NULL;
}

/* The offset that a location "(fbreg N | breg R N), deref, [plus_uconst X]" adds to the pointer
 * it loads: X, or 0. False for any other expression. */
static bool deref_offset(const uint8_t *p, size_t len, uint64_t *ret)
{
	struct cursor c = { p, p + len, false };
	uint8_t op = rd_u8(&c);
	if (c.bad || !(op == DW_OP_fbreg || (op >= DW_OP_breg0 && op <= DW_OP_breg31)))
		return false;
	rd_sleb(&c);
	if (rd_u8(&c) != DW_OP_deref || c.bad)
		return false;
	if (c.p == c.end) {
		*ret = 0;
		return true;
	}
	if (rd_u8(&c) != DW_OP_plus_uconst)
		return false;
	uint64_t x = rd_uleb(&c);
	if (c.bad || c.p != c.end)
		return false;
	*ret = x;
	return true;
}

static void read_variable(struct ai_dwarf *dw, struct cu *cu, const struct ai_dwarf_die *die,
			  struct ai_dwarf_variable *var)
{
	memset(var, 0, sizeof(*var));
	var->die_offset = die->offset;
	struct ai_dwarf_attr attrs[16];
	size_t count;
	struct ai_error *err = ai_dwarf_die_attrs(dw->reader, die, attrs, AI_ARRAY_SIZE(attrs),
						  &count, NULL);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	for (size_t i = 0; i < AI_MIN(count, AI_ARRAY_SIZE(attrs)); i++) {
		const struct ai_dwarf_attr *a = &attrs[i];
		if (a->name == DW_AT_name && a->cls == AI_DWARF_CLASS_STRING) {
			var->name = a->str;
		} else if (a->name == DW_AT_decl_file && a->cls == AI_DWARF_CLASS_CONSTANT) {
			var->decl_file = ai_dwarf_cu_file(dw, cu, a->u);
		} else if (a->name == DW_AT_decl_line && a->cls == AI_DWARF_CLASS_CONSTANT) {
			var->decl_line = (uint32_t)a->u;
		} else if (a->name == DW_AT_type && a->cls == AI_DWARF_CLASS_REFERENCE) {
			var->type_die = a->u;
		} else if (a->name == DW_AT_location && a->cls == AI_DWARF_CLASS_BLOCK) {
			var->has_deref_offset = deref_offset(a->block, a->block_len,
							     &var->deref_offset);
		}
	}
}

struct ai_error *ai_dwarf_function_variables(struct ai_dwarf *dw, uint64_t die_offset,
					     const char *name, ai_dwarf_variable_fn *fn, void *arg)
{
	struct cu *cu = ai_dwarf_cu_at(dw, die_offset);
	if (!cu)
		return ai_error_create(AI_ERROR_DWARF, "%s: no unit holds DIE 0x%" PRIx64,
				       ai_dwarf_path(dw), die_offset);
	struct ai_dwarf_reader *r = dw->reader;
	struct ai_dwarf_die die;
	struct ai_error *err = ai_dwarf_read_die(r, cu->unit, die_offset, &die);
	if (err || !die.has_children)
		return err;
	uint64_t offset;
	if ((err = ai_dwarf_die_end(r, &die, &offset)))
		return err;
	/* Children and lexical blocks, not inlined calls: their variables are the callee's. */
	size_t depth = 1;
	while (depth > 0 && offset < cu->unit->end) {
		if ((err = ai_dwarf_read_die(r, cu->unit, offset, &die)))
			return err;
		if (!die.abbrev) {
			depth--;
			offset = die.attrs;
			continue;
		}
		if (die.tag == DW_TAG_lexical_block && die.has_children && depth < MAX_SCOPE_DEPTH) {
			if ((err = ai_dwarf_die_end(r, &die, &offset)))
				return err;
			depth++;
			continue;
		}
		if (die.tag == DW_TAG_variable) {
			struct ai_dwarf_variable var;
			read_variable(dw, cu, &die, &var);
			if ((!name || (var.name && strcmp(var.name, name) == 0)) && !fn(arg, &var))
				return NULL;
		}
		if ((err = ai_dwarf_die_sibling(r, &die, &offset)))
			return err;
	}
	return NULL;
}
