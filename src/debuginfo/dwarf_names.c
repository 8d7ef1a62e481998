/* Types by qualified name, over the per-unit index of dwarf_info.c (include/ai/dwarf_info.h):
 * the by-name table of a unit hashes its type scopes' qualified names, built on the first look-up
 * in that unit and kept with the unit's index. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/dwarf_info.h"
#include "ai/util.h"
#include "dwarf_info_internal.h"

static uint64_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return h ? h : 1; /* 0 marks an empty slot */
}

struct name_match {
	struct ai_dwarf *dw;
	struct cu *cu;
	const char *name;
};

static bool is_name(uint64_t scope, const void *arg)
{
	const struct name_match *m = arg;
	const char *q = ai_dwarf_cu_scope_name(m->dw, m->cu, (int32_t)scope);
	return q && strcmp(q, m->name) == 0;
}

/* The scope of the first type DIE called name in an indexed unit. */
static bool find_name(struct ai_dwarf *dw, struct cu *cu, const char *name, uint64_t *scope_ret)
{
	struct name_match m = { dw, cu, name };
	return u64_map_find(&cu->names, hash_str(name), is_name, &m, scope_ret);
}

/* The indexed unit whose unit DIE is at unit_die, with its by-name table built. */
static struct ai_error *named_unit(struct ai_dwarf *dw, uint64_t unit_die, struct cu **ret)
{
	struct cu *cu = ai_dwarf_cu_at(dw, unit_die);
	if (!cu || cu->unit->first_die != unit_die)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				       "DIE 0x%" PRIx64 " is not a compilation unit", unit_die);
	if (!cu->indexed) {
		/* A failed walk is not retried (the index is marked first); what it found is kept. */
		struct ai_error *err = ai_dwarf_cu_index(dw, cu);
		if (err)
			return ai_error_wrap(err, "indexing unit 0x%" PRIx64, unit_die);
	}
	if (!cu->names_built) {
		cu->names_built = true;
		for (size_t i = 0; i < cu->scope_count; i++) {
			if (!ai_dwarf_is_type_tag(cu->scopes[i].tag))
				continue;
			const char *q = ai_dwarf_cu_scope_name(dw, cu, (int32_t)i);
			uint64_t first;
			/* The first DIE of a name wins: every codegen unit repeats a type, and so may
			 * one unit. */
			if (q && !find_name(dw, cu, q, &first))
				u64_map_add(&cu->names, hash_str(q), i);
		}
	}
	*ret = cu;
	return NULL;
}

struct ai_error *ai_dwarf_find_type(struct ai_dwarf *dw, uint64_t unit_die,
				    const char *qualified_name, uint64_t *die_offset_ret)
{
	struct cu *cu;
	struct ai_error *err = named_unit(dw, unit_die, &cu);
	if (err)
		return err;
	uint64_t scope;
	if (!find_name(dw, cu, qualified_name, &scope))
		return ai_error_create(AI_ERROR_NOT_FOUND, "no type %s in unit 0x%" PRIx64,
				       qualified_name, unit_die);
	*die_offset_ret = cu->scopes[scope].offset;
	return NULL;
}

struct ai_error *ai_dwarf_for_each_type(struct ai_dwarf *dw, uint64_t unit_die, const char *prefix,
					ai_dwarf_type_fn *fn, void *arg)
{
	struct cu *cu;
	struct ai_error *err = named_unit(dw, unit_die, &cu);
	if (err)
		return err;
	size_t prefix_len = strlen(prefix);
	for (size_t i = 0; i < cu->scope_count; i++) {
		if (!ai_dwarf_is_type_tag(cu->scopes[i].tag))
			continue;
		/* Built with the table: a cached string by now. */
		const char *q = ai_dwarf_cu_scope_name(dw, cu, (int32_t)i);
		if (!q || strncmp(q, prefix, prefix_len) != 0)
			continue;
		if (!fn(q, cu->scopes[i].offset, arg))
			break;
	}
	return NULL;
}

const char *ai_dwarf_decl_file(struct ai_dwarf *dw, uint64_t die_offset, uint64_t fileno)
{
	struct cu *cu = ai_dwarf_cu_at(dw, die_offset);
	/* Before DWARF 5, file 0 means "no file" (files[0] of our table is the unit's name). */
	if (!cu || (cu->unit->version < 5 && fileno == 0))
		return NULL;
	return ai_dwarf_cu_file(dw, cu, fileno);
}
