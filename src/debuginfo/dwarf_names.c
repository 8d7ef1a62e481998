/* Types by qualified name, over the per-unit index of dwarf_info.c (include/ai/dwarf_info.h):
 * the by-name table of a unit is a hash of its type scopes' qualified names, built on the first
 * look-up in that unit and kept with the unit's index. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/dwarf_info.h"
#include "ai/util.h"
#include "dwarf_info_internal.h"

static size_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (size_t)h;
}

static bool table_get(const struct name_table *t, const char *key, uint32_t *ret)
{
	if (!t->capacity)
		return false;
	size_t mask = t->capacity - 1;
	for (size_t i = hash_str(key) & mask; t->keys[i]; i = (i + 1) & mask) {
		if (strcmp(t->keys[i], key) == 0) {
			*ret = t->scopes[i];
			return true;
		}
	}
	return false;
}

/* The first insertion of a key wins: every codegen unit repeats a type, and so may one unit. */
static void table_add(struct name_table *t, const char *key, uint32_t scope)
{
	if (2 * (t->count + 1) > t->capacity) {
		struct name_table old = *t;
		t->capacity = old.capacity ? old.capacity * 2 : 256;
		t->keys = xcalloc(t->capacity, sizeof(*t->keys));
		t->scopes = xcalloc(t->capacity, sizeof(*t->scopes));
		t->count = 0;
		for (size_t i = 0; i < old.capacity; i++)
			if (old.keys[i])
				table_add(t, old.keys[i], old.scopes[i]);
		free(old.keys);
		free(old.scopes);
	}
	size_t mask = t->capacity - 1;
	size_t i = hash_str(key) & mask;
	for (; t->keys[i]; i = (i + 1) & mask)
		if (strcmp(t->keys[i], key) == 0)
			return;
	t->keys[i] = key;
	t->scopes[i] = scope;
	t->count++;
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
			if (q)
				table_add(&cu->names, q, (uint32_t)i);
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
	uint32_t scope;
	if (!table_get(&cu->names, qualified_name, &scope))
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
