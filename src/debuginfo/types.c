/* The type model, read lazily from DWARF type DIEs with libdwarf (see include/ai/types.h).
 *
 * Two caches: types by DIE offset, and per compilation unit an index of its namespace and type
 * DIEs (offset -> parent and name) made by one walk of that unit on first need. The index gives
 * qualified names (libdwarf has no parent links) and, built into a hash table on the first
 * by-name look-up, the unit's types by qualified name. The walk does not enter subprograms: rustc
 * emits every type in a namespace or inside another type, never in a function body. */
#include <dwarf.h>
#include <inttypes.h>
#include <libdwarf.h>
#include <stdlib.h>
#include <string.h>

#include "ai/types.h"
#include "ai/util.h"

/* Namespace nesting beyond this is cut (a corrupt or hostile tree must not blow the stack). */
#define MAX_SCOPE_DEPTH 64

/* ---- Hash tables: open addressing, power-of-two capacity, at most half full ---- */

/* uint64 keys (DIE offsets, never 0: offset 0 is a unit header) to uint64 values. */
struct u64_map {
	uint64_t *keys;
	uint64_t *values;
	size_t capacity, count;
};

static size_t hash_u64(uint64_t key)
{
	key ^= key >> 33;
	key *= 0xff51afd7ed558ccdULL;
	key ^= key >> 33;
	return (size_t)key;
}

static bool u64_map_get(const struct u64_map *map, uint64_t key, uint64_t *ret)
{
	if (!map->capacity)
		return false;
	size_t mask = map->capacity - 1;
	for (size_t i = hash_u64(key) & mask;; i = (i + 1) & mask) {
		if (map->keys[i] == key) {
			*ret = map->values[i];
			return true;
		}
		if (map->keys[i] == 0)
			return false;
	}
}

static void u64_map_put(struct u64_map *map, uint64_t key, uint64_t value);

static void u64_map_grow(struct u64_map *map)
{
	struct u64_map old = *map;
	map->capacity = old.capacity ? old.capacity * 2 : 64;
	map->keys = xcalloc(map->capacity, sizeof(*map->keys));
	map->values = xcalloc(map->capacity, sizeof(*map->values));
	map->count = 0;
	for (size_t i = 0; i < old.capacity; i++)
		if (old.keys[i])
			u64_map_put(map, old.keys[i], old.values[i]);
	free(old.keys);
	free(old.values);
}

/* Inserts or replaces. */
static void u64_map_put(struct u64_map *map, uint64_t key, uint64_t value)
{
	if (2 * (map->count + 1) > map->capacity)
		u64_map_grow(map);
	size_t mask = map->capacity - 1;
	size_t i = hash_u64(key) & mask;
	while (map->keys[i] && map->keys[i] != key)
		i = (i + 1) & mask;
	if (!map->keys[i])
		map->count++;
	map->keys[i] = key;
	map->values[i] = value;
}

static void u64_map_deinit(struct u64_map *map)
{
	free(map->keys);
	free(map->values);
	memset(map, 0, sizeof(*map));
}

/* Borrowed string keys to uint64 values; the first insertion of a key wins. */
struct str_map {
	const char **keys;
	uint64_t *values;
	size_t capacity, count;
};

static size_t hash_str(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ULL; /* FNV-1a */
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
	return (size_t)h;
}

static bool str_map_get(const struct str_map *map, const char *key, uint64_t *ret)
{
	if (!map->capacity)
		return false;
	size_t mask = map->capacity - 1;
	for (size_t i = hash_str(key) & mask; map->keys[i]; i = (i + 1) & mask) {
		if (strcmp(map->keys[i], key) == 0) {
			*ret = map->values[i];
			return true;
		}
	}
	return false;
}

static void str_map_add(struct str_map *map, const char *key, uint64_t value)
{
	if (2 * (map->count + 1) > map->capacity) {
		struct str_map old = *map;
		map->capacity = old.capacity ? old.capacity * 2 : 256;
		map->keys = xcalloc(map->capacity, sizeof(*map->keys));
		map->values = xcalloc(map->capacity, sizeof(*map->values));
		map->count = 0;
		for (size_t i = 0; i < old.capacity; i++)
			if (old.keys[i])
				str_map_add(map, old.keys[i], old.values[i]);
		free(old.keys);
		free(old.values);
	}
	size_t mask = map->capacity - 1;
	size_t i = hash_str(key) & mask;
	for (; map->keys[i]; i = (i + 1) & mask)
		if (strcmp(map->keys[i], key) == 0)
			return;
	map->keys[i] = key;
	map->values[i] = value;
	map->count++;
}

static void str_map_deinit(struct str_map *map)
{
	free(map->keys);
	free(map->values);
	memset(map, 0, sizeof(*map));
}

/* ---- The model's owner ---- */

/* A namespace or type DIE of a unit, as the unit walk found it. */
struct name_entry {
	uint64_t offset;
	uint64_t parent;        /* offset of the enclosing namespace or type; 0 at unit level */
	const char *name;       /* DW_AT_name (borrowed from libdwarf); NULL if anonymous */
	char *qualified;        /* computed on first need; == name (not owned) at unit level */
	Dwarf_Half tag;
};

struct cu_index {
	uint64_t cu_offset;
	Dwarf_Half version;     /* DWARF version of the unit: decl_file numbering depends on it */
	bool walked;
	struct name_entry *entries;
	size_t entry_count, entry_capacity;
	struct u64_map by_offset; /* DIE offset -> entry index */
	bool names_built;
	struct str_map by_name;   /* qualified name -> DIE offset, type DIEs only */
	bool srcfiles_loaded;
	char **srcfiles;          /* the line table's file names (libdwarf's) */
	Dwarf_Signed srcfile_count;
};

struct ai_types {
	Dwarf_Debug dbg;              /* borrowed */
	struct u64_map by_offset;     /* DIE offset -> struct ai_type * */
	struct u64_map cus;           /* unit DIE offset -> struct cu_index * */
};

static const struct ai_type void_type = { .kind = AI_TYPE_VOID, .name = "void" };

struct ai_types *ai_types_create(Dwarf_Debug dbg)
{
	struct ai_types *types = xcalloc(1, sizeof(*types));
	types->dbg = dbg;
	return types;
}

static void cu_index_destroy(struct ai_types *types, struct cu_index *cu)
{
	for (size_t i = 0; i < cu->entry_count; i++)
		if (cu->entries[i].qualified != cu->entries[i].name)
			free(cu->entries[i].qualified);
	free(cu->entries);
	u64_map_deinit(&cu->by_offset);
	str_map_deinit(&cu->by_name);
	if (cu->srcfiles) {
		for (Dwarf_Signed i = 0; i < cu->srcfile_count; i++)
			dwarf_dealloc(types->dbg, cu->srcfiles[i], DW_DLA_STRING);
		dwarf_dealloc(types->dbg, cu->srcfiles, DW_DLA_LIST);
	}
	free(cu);
}

static void type_destroy(struct ai_type *type)
{
	free(type->members);
	free(type->template_params);
	free(type->variants);
	free(type->enumerators);
	free(type);
}

void ai_types_destroy(struct ai_types *types)
{
	if (!types)
		return;
	for (size_t i = 0; i < types->by_offset.capacity; i++)
		if (types->by_offset.keys[i])
			type_destroy((struct ai_type *)(uintptr_t)types->by_offset.values[i]);
	for (size_t i = 0; i < types->cus.capacity; i++)
		if (types->cus.keys[i])
			cu_index_destroy(types, (struct cu_index *)(uintptr_t)types->cus.values[i]);
	u64_map_deinit(&types->by_offset);
	u64_map_deinit(&types->cus);
	free(types);
}

/* ---- libdwarf boundary: its errors become ours here ---- */

static struct ai_error *dwarf_error(struct ai_types *types, Dwarf_Error derr, uint64_t offset,
				    const char *what)
{
	struct ai_error *err = ai_error_create(AI_ERROR_DWARF, "%s of DIE 0x%" PRIx64 ": %s", what,
					       offset, derr ? dwarf_errmsg(derr) : "unknown error");
	if (derr)
		dwarf_dealloc_error(types->dbg, derr);
	return err;
}

static struct ai_error *die_at(struct ai_types *types, uint64_t offset, Dwarf_Die *ret)
{
	Dwarf_Error derr = NULL;
	int rc = dwarf_offdie_b(types->dbg, offset, true, ret, &derr);
	if (rc == DW_DLV_OK)
		return NULL;
	if (rc == DW_DLV_NO_ENTRY)
		return ai_error_create(AI_ERROR_DWARF, "no DIE at 0x%" PRIx64, offset);
	return dwarf_error(types, derr, offset, "reading");
}

static const char *die_name(struct ai_types *types, Dwarf_Die die)
{
	char *name = NULL;
	Dwarf_Error derr = NULL;
	int rc = dwarf_diename(die, &name, &derr);
	if (rc == DW_DLV_ERROR)
		dwarf_dealloc_error(types->dbg, derr);
	return rc == DW_DLV_OK ? name : NULL;
}

static Dwarf_Half die_tag(struct ai_types *types, Dwarf_Die die)
{
	Dwarf_Half tag = 0;
	Dwarf_Error derr = NULL;
	if (dwarf_tag(die, &tag, &derr) == DW_DLV_ERROR) {
		dwarf_dealloc_error(types->dbg, derr);
		return 0;
	}
	return tag;
}

static uint64_t die_offset(struct ai_types *types, Dwarf_Die die)
{
	Dwarf_Off off = 0;
	Dwarf_Error derr = NULL;
	if (dwarf_dieoffset(die, &off, &derr) == DW_DLV_ERROR) {
		dwarf_dealloc_error(types->dbg, derr);
		return 0;
	}
	return off;
}

/* The first child (first = true) or the next sibling of die; *ret NULL at the end. */
static struct ai_error *next_die(struct ai_types *types, Dwarf_Die die, bool first, Dwarf_Die *ret)
{
	Dwarf_Error derr = NULL;
	int rc = first ? dwarf_child(die, ret, &derr)
		       : dwarf_siblingof_b(types->dbg, die, true, ret, &derr);
	if (rc == DW_DLV_OK)
		return NULL;
	*ret = NULL;
	if (rc == DW_DLV_NO_ENTRY)
		return NULL;
	return dwarf_error(types, derr, die_offset(types, die), "walking the children");
}

/* A DW_OP_plus_uconst N (or DW_OP_constu N) location: how DWARF 2 producers give member offsets. */
static bool parse_offset_expr(const unsigned char *p, Dwarf_Unsigned len, uint64_t *ret)
{
	if (len < 2 || (p[0] != DW_OP_plus_uconst && p[0] != DW_OP_constu))
		return false;
	uint64_t value = 0;
	unsigned shift = 0;
	for (Dwarf_Unsigned i = 1; i < len && shift < 64; i++, shift += 7) {
		value |= (uint64_t)(p[i] & 0x7f) << shift;
		if (!(p[i] & 0x80)) {
			*ret = value;
			return true;
		}
	}
	return false;
}

/* An integer attribute as raw bits (signed forms sign-extended). *found is false if the DIE does
 * not have it. Also reads the simple location expressions of DW_AT_data_member_location. */
static struct ai_error *attr_uint(struct ai_types *types, Dwarf_Die die, Dwarf_Half at, bool *found,
				  uint64_t *ret)
{
	Dwarf_Attribute attr;
	Dwarf_Error derr = NULL;
	*found = false;
	int rc = dwarf_attr(die, at, &attr, &derr);
	if (rc == DW_DLV_NO_ENTRY)
		return NULL;
	if (rc == DW_DLV_ERROR)
		return dwarf_error(types, derr, die_offset(types, die), "reading an attribute");
	Dwarf_Half form = 0;
	struct ai_error *err = NULL;
	if (dwarf_whatform(attr, &form, &derr) != DW_DLV_OK) {
		err = dwarf_error(types, derr, die_offset(types, die), "reading a form");
		goto out;
	}
	if (form == DW_FORM_sdata) {
		Dwarf_Signed s;
		rc = dwarf_formsdata(attr, &s, &derr);
		*ret = (uint64_t)s;
	} else if (form == DW_FORM_exprloc) {
		Dwarf_Unsigned len;
		Dwarf_Ptr bytes;
		rc = dwarf_formexprloc(attr, &len, &bytes, &derr);
		if (rc == DW_DLV_OK && !parse_offset_expr(bytes, len, ret))
			goto unsupported;
	} else if (form == DW_FORM_block1 || form == DW_FORM_block2 || form == DW_FORM_block4 ||
		   form == DW_FORM_block) {
		Dwarf_Block *block;
		rc = dwarf_formblock(attr, &block, &derr);
		if (rc == DW_DLV_OK) {
			bool ok = parse_offset_expr(block->bl_data, block->bl_len, ret);
			dwarf_dealloc(types->dbg, block, DW_DLA_BLOCK);
			if (!ok)
				goto unsupported;
		}
	} else {
		Dwarf_Unsigned u;
		rc = dwarf_formudata(attr, &u, &derr);
		*ret = u;
	}
	if (rc != DW_DLV_OK) {
		err = dwarf_error(types, derr, die_offset(types, die), "reading a constant");
		goto out;
	}
	*found = true;
	goto out;
unsupported:
	err = ai_error_create(AI_ERROR_UNSUPPORTED,
			      "attribute 0x%x of DIE 0x%" PRIx64 " is a location we do not read", at,
			      die_offset(types, die));
out:
	dwarf_dealloc_attribute(attr);
	return err;
}

/* A reference attribute (DW_AT_type, DW_AT_discr) as a .debug_info offset; 0 if absent. */
static struct ai_error *attr_ref(struct ai_types *types, Dwarf_Die die, Dwarf_Half at,
				 uint64_t *ret)
{
	Dwarf_Attribute attr;
	Dwarf_Error derr = NULL;
	*ret = 0;
	int rc = dwarf_attr(die, at, &attr, &derr);
	if (rc == DW_DLV_NO_ENTRY)
		return NULL;
	if (rc == DW_DLV_ERROR)
		return dwarf_error(types, derr, die_offset(types, die), "reading a reference");
	Dwarf_Off off;
	rc = dwarf_global_formref(attr, &off, &derr);
	dwarf_dealloc_attribute(attr);
	if (rc != DW_DLV_OK)
		return dwarf_error(types, derr, die_offset(types, die), "reading a reference");
	*ret = off;
	return NULL;
}

static bool attr_flag(struct ai_types *types, Dwarf_Die die, Dwarf_Half at)
{
	Dwarf_Attribute attr;
	Dwarf_Error derr = NULL;
	int rc = dwarf_attr(die, at, &attr, &derr);
	if (rc == DW_DLV_ERROR)
		dwarf_dealloc_error(types->dbg, derr);
	if (rc != DW_DLV_OK)
		return false;
	Dwarf_Bool flag = 0;
	if (dwarf_formflag(attr, &flag, &derr) == DW_DLV_ERROR)
		dwarf_dealloc_error(types->dbg, derr);
	dwarf_dealloc_attribute(attr);
	return flag != 0;
}

/* ---- The unit index: one walk of a unit's namespaces and types ---- */

static bool is_scope_tag(Dwarf_Half tag)
{
	return tag == DW_TAG_namespace || tag == DW_TAG_structure_type ||
	       tag == DW_TAG_class_type || tag == DW_TAG_union_type ||
	       tag == DW_TAG_enumeration_type;
}

static bool is_type_tag(Dwarf_Half tag)
{
	switch (tag) {
	case DW_TAG_base_type:
	case DW_TAG_pointer_type:
	case DW_TAG_reference_type:
	case DW_TAG_rvalue_reference_type:
	case DW_TAG_structure_type:
	case DW_TAG_class_type:
	case DW_TAG_union_type:
	case DW_TAG_enumeration_type:
	case DW_TAG_array_type:
	case DW_TAG_subroutine_type:
	case DW_TAG_typedef:
	case DW_TAG_unspecified_type:
	case DW_TAG_const_type:
	case DW_TAG_volatile_type:
	case DW_TAG_restrict_type:
	case DW_TAG_atomic_type:
	case DW_TAG_immutable_type:
		return true;
	default:
		return false;
	}
}

static struct ai_error *walk_scope(struct ai_types *types, struct cu_index *cu, Dwarf_Die scope,
				   uint64_t scope_offset, int depth)
{
	Dwarf_Die die;
	struct ai_error *err = next_die(types, scope, true, &die);
	while (!err && die) {
		Dwarf_Half tag = die_tag(types, die);
		if (tag == DW_TAG_namespace || is_type_tag(tag)) {
			uint64_t offset = die_offset(types, die);
			AI_GROW(cu->entries, cu->entry_capacity, cu->entry_count + 1);
			cu->entries[cu->entry_count] = (struct name_entry){
				.offset = offset,
				.parent = scope_offset,
				.name = die_name(types, die),
				.tag = tag,
			};
			u64_map_put(&cu->by_offset, offset, cu->entry_count);
			cu->entry_count++;
			if (is_scope_tag(tag) && depth < MAX_SCOPE_DEPTH)
				err = walk_scope(types, cu, die, offset, depth + 1);
		}
		Dwarf_Die next = NULL;
		if (!err)
			err = next_die(types, die, false, &next);
		dwarf_dealloc_die(die);
		die = next;
	}
	return err;
}

/* The index of the unit at cu_offset, created on first use (walked only when `walk`). */
static struct ai_error *get_cu(struct ai_types *types, uint64_t cu_offset, bool walk,
			       struct cu_index **ret)
{
	uint64_t value;
	struct cu_index *cu;
	if (u64_map_get(&types->cus, cu_offset, &value)) {
		cu = (struct cu_index *)(uintptr_t)value;
	} else {
		Dwarf_Die cu_die;
		struct ai_error *err = die_at(types, cu_offset, &cu_die);
		if (err)
			return err;
		Dwarf_Half tag = die_tag(types, cu_die);
		Dwarf_Half version = 0, offset_size = 0;
		if (dwarf_get_version_of_die(cu_die, &version, &offset_size) != DW_DLV_OK)
			version = 4;
		dwarf_dealloc_die(cu_die);
		if (tag != DW_TAG_compile_unit && tag != DW_TAG_partial_unit &&
		    tag != DW_TAG_type_unit)
			return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
					       "DIE 0x%" PRIx64 " is not a compilation unit",
					       cu_offset);
		cu = xcalloc(1, sizeof(*cu));
		cu->cu_offset = cu_offset;
		cu->version = version;
		u64_map_put(&types->cus, cu_offset, (uintptr_t)cu);
	}
	if (walk && !cu->walked) {
		/* Marked first: a failed walk is not retried, what it found is kept. */
		cu->walked = true;
		Dwarf_Die cu_die;
		struct ai_error *err = die_at(types, cu_offset, &cu_die);
		if (!err) {
			err = walk_scope(types, cu, cu_die, 0, 0);
			dwarf_dealloc_die(cu_die);
		}
		if (err)
			return ai_error_wrap(err, "indexing unit 0x%" PRIx64, cu_offset);
	}
	*ret = cu;
	return NULL;
}

static const char *entry_qualified(struct cu_index *cu, size_t index, int depth)
{
	struct name_entry *e = &cu->entries[index];
	if (e->qualified || !e->name)
		return e->qualified;
	const char *parent = NULL;
	uint64_t parent_index, p = e->parent;
	/* An anonymous parent adds no segment: go on to its own parent. */
	for (int hops = 0; p && !parent && depth < MAX_SCOPE_DEPTH && hops < MAX_SCOPE_DEPTH; hops++) {
		if (!u64_map_get(&cu->by_offset, p, &parent_index))
			break;
		parent = entry_qualified(cu, parent_index, depth + 1);
		p = cu->entries[parent_index].parent;
	}
	e->qualified = parent ? xasprintf("%s::%s", parent, e->name) : (char *)e->name;
	return e->qualified;
}

static struct ai_error *build_names(struct ai_types *types, uint64_t cu_offset,
				    struct cu_index **ret)
{
	struct cu_index *cu;
	struct ai_error *err = get_cu(types, cu_offset, true, &cu);
	if (err)
		return err;
	if (!cu->names_built) {
		cu->names_built = true;
		for (size_t i = 0; i < cu->entry_count; i++) {
			if (!is_type_tag(cu->entries[i].tag))
				continue;
			const char *q = entry_qualified(cu, i, 0);
			if (q)
				str_map_add(&cu->by_name, q, cu->entries[i].offset);
		}
	}
	*ret = cu;
	return NULL;
}

struct ai_error *ai_types_find_offset(struct ai_types *types, uint64_t cu_offset,
				      const char *qualified_name, uint64_t *die_offset_ret)
{
	struct cu_index *cu;
	struct ai_error *err = build_names(types, cu_offset, &cu);
	if (err)
		return err;
	uint64_t offset;
	if (!str_map_get(&cu->by_name, qualified_name, &offset))
		return ai_error_create(AI_ERROR_NOT_FOUND, "no type %s in unit 0x%" PRIx64,
				       qualified_name, cu_offset);
	*die_offset_ret = offset;
	return NULL;
}

struct ai_error *ai_types_find(struct ai_types *types, uint64_t cu_offset,
			       const char *qualified_name, const struct ai_type **ret)
{
	uint64_t offset;
	struct ai_error *err = ai_types_find_offset(types, cu_offset, qualified_name, &offset);
	if (err)
		return err;
	return ai_types_get(types, offset, ret);
}

struct ai_error *ai_types_for_each_name(struct ai_types *types, uint64_t cu_offset,
					const char *prefix, ai_types_name_fn *fn, void *arg)
{
	struct cu_index *cu;
	struct ai_error *err = build_names(types, cu_offset, &cu);
	if (err)
		return err;
	size_t prefix_len = strlen(prefix);
	for (size_t i = 0; i < cu->entry_count; i++) {
		const struct name_entry *e = &cu->entries[i];
		if (!is_type_tag(e->tag) || !e->qualified ||
		    strncmp(e->qualified, prefix, prefix_len) != 0)
			continue;
		if (!fn(e->qualified, e->offset, arg))
			break;
	}
	return NULL;
}

const char *ai_type_qualified_name(const struct ai_type *type)
{
	if (type->qualified_name || !type->types)
		return type->qualified_name ? type->qualified_name : type->name;
	struct cu_index *cu;
	uint64_t index;
	const char *q = NULL;
	struct ai_error *err = get_cu(type->types, type->cu_offset, true, &cu);
	if (err)
		ai_error_destroy(err); /* names are best effort: fall back to the DIE's own name */
	else if (u64_map_get(&cu->by_offset, type->die_offset, &index))
		q = entry_qualified(cu, index, 0);
	if (!q)
		q = type->name;
	/* A cache in a type handed out as const: the object itself was allocated non-const. */
	((struct ai_type *)type)->qualified_name = q;
	return q;
}

/* The file name of a DW_AT_decl_file number in the unit (borrowed), or NULL. */
static const char *cu_file_name(struct ai_types *types, uint64_t cu_offset, uint64_t file)
{
	struct cu_index *cu;
	struct ai_error *err = get_cu(types, cu_offset, false, &cu);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	if (!cu->srcfiles_loaded) {
		cu->srcfiles_loaded = true;
		Dwarf_Die cu_die;
		err = die_at(types, cu_offset, &cu_die);
		if (err) {
			ai_error_destroy(err);
			return NULL;
		}
		Dwarf_Error derr = NULL;
		int rc = dwarf_srcfiles(cu_die, &cu->srcfiles, &cu->srcfile_count, &derr);
		if (rc == DW_DLV_ERROR)
			dwarf_dealloc_error(types->dbg, derr);
		if (rc != DW_DLV_OK) {
			cu->srcfiles = NULL;
			cu->srcfile_count = 0;
		}
		dwarf_dealloc_die(cu_die);
	}
	/* DWARF 5 numbers files from 0 (libdwarf lists entry 0 too); earlier versions from 1. */
	uint64_t index = cu->version >= 5 ? file : file - 1;
	if (cu->version < 5 && file == 0)
		return NULL;
	return index < (uint64_t)cu->srcfile_count ? cu->srcfiles[index] : NULL;
}

/* ---- Reading types ---- */

static struct ai_error *read_member(struct ai_types *types, Dwarf_Die die, struct ai_member *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->name = die_name(types, die);
	ret->artificial = attr_flag(types, die, DW_AT_artificial);
	bool found;
	struct ai_error *err = attr_uint(types, die, DW_AT_data_member_location, &found,
					 &ret->offset);
	if (!err)
		err = attr_ref(types, die, DW_AT_type, &ret->type.die_offset);
	return err;
}

static bool all_digits(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

static struct ai_error *read_variant(struct ai_types *types, struct ai_type *type, Dwarf_Die die,
				     struct ai_variant *ret)
{
	memset(ret, 0, sizeof(*ret));
	bool found;
	struct ai_error *err = attr_uint(types, die, DW_AT_discr_value, &found, &ret->discr_value);
	if (err)
		return err;
	ret->has_discr_value = found;
	Dwarf_Die child;
	err = next_die(types, die, true, &child);
	/* The variant's one member (rustc emits exactly one). */
	while (!err && child) {
		if (die_tag(types, child) == DW_TAG_member) {
			err = read_member(types, child, &ret->member);
			uint64_t file = 0, line = 0;
			if (!err)
				err = attr_uint(types, child, DW_AT_decl_file, &found, &file);
			if (!err && found)
				ret->decl_file = cu_file_name(types, type->cu_offset, file);
			if (!err)
				err = attr_uint(types, child, DW_AT_decl_line, &found, &line);
			ret->decl_line = (uint32_t)line;
			dwarf_dealloc_die(child);
			break;
		}
		Dwarf_Die next = NULL;
		err = next_die(types, child, false, &next);
		dwarf_dealloc_die(child);
		child = next;
	}
	if (err)
		return err;
	ret->name = ret->member.name;
	/* A coroutine's variants are members "0", "1", ...: their types carry the state names. */
	if (all_digits(ret->name) && ret->member.type.die_offset) {
		Dwarf_Die type_die;
		if (!die_at(types, ret->member.type.die_offset, &type_die)) {
			const char *name = die_name(types, type_die);
			if (name)
				ret->name = name;
			dwarf_dealloc_die(type_die);
		}
	}
	return NULL;
}

static struct ai_error *read_variant_part(struct ai_types *types, struct ai_type *type,
					  Dwarf_Die die)
{
	uint64_t discr_offset;
	struct ai_error *err = attr_ref(types, die, DW_AT_discr, &discr_offset);
	if (err)
		return err;
	size_t capacity = 0;
	Dwarf_Die child;
	err = next_die(types, die, true, &child);
	while (!err && child) {
		Dwarf_Half tag = die_tag(types, child);
		if (tag == DW_TAG_member && discr_offset &&
		    die_offset(types, child) == discr_offset) {
			err = read_member(types, child, &type->discr);
			type->has_discr = !err;
		} else if (tag == DW_TAG_variant) {
			AI_GROW(type->variants, capacity, type->variant_count + 1);
			err = read_variant(types, type, child, &type->variants[type->variant_count]);
			if (!err)
				type->variant_count++;
		}
		Dwarf_Die next = NULL;
		if (!err)
			err = next_die(types, child, false, &next);
		dwarf_dealloc_die(child);
		child = next;
	}
	return err;
}

/* Members, template parameters and the variant part of a struct, union or Rust enum. */
static struct ai_error *read_children(struct ai_types *types, struct ai_type *type, Dwarf_Die die)
{
	size_t member_capacity = 0, param_capacity = 0, enumerator_capacity = 0;
	uint64_t count_product = 1;
	bool has_subrange = false;
	Dwarf_Die child;
	struct ai_error *err = next_die(types, die, true, &child);
	while (!err && child) {
		Dwarf_Half tag = die_tag(types, child);
		bool found;
		switch (tag) {
		case DW_TAG_member:
			/* Static members have no location and no storage in the value. */
			if (attr_flag(types, child, DW_AT_external))
				break;
			AI_GROW(type->members, member_capacity, type->member_count + 1);
			err = read_member(types, child, &type->members[type->member_count]);
			if (!err)
				type->member_count++;
			break;
		case DW_TAG_template_type_parameter: {
			AI_GROW(type->template_params, param_capacity, type->template_param_count + 1);
			struct ai_template_param *p = &type->template_params[type->template_param_count];
			p->name = die_name(types, child);
			p->type = (struct ai_type_ref){ 0 };
			err = attr_ref(types, child, DW_AT_type, &p->type.die_offset);
			if (!err)
				type->template_param_count++;
			break;
		}
		case DW_TAG_variant_part:
			type->kind = AI_TYPE_ENUM;
			err = read_variant_part(types, type, child);
			break;
		case DW_TAG_enumerator: {
			AI_GROW(type->enumerators, enumerator_capacity, type->enumerator_count + 1);
			struct ai_enumerator *e = &type->enumerators[type->enumerator_count];
			e->name = die_name(types, child);
			err = attr_uint(types, child, DW_AT_const_value, &found, &e->value);
			if (!err && found)
				type->enumerator_count++;
			break;
		}
		case DW_TAG_subrange_type: {
			uint64_t count = 0, lower = 0, upper = 0;
			bool has_lower = false;
			err = attr_uint(types, child, DW_AT_count, &found, &count);
			if (!err && !found) {
				err = attr_uint(types, child, DW_AT_upper_bound, &found, &upper);
				if (!err)
					err = attr_uint(types, child, DW_AT_lower_bound, &has_lower,
							&lower);
				count = found && upper + 1 > lower ? upper + 1 - lower : 0;
			}
			count_product *= count;
			has_subrange = true;
			break;
		}
		default:
			break; /* nested types, methods: not part of the value */
		}
		Dwarf_Die next = NULL;
		if (!err)
			err = next_die(types, child, false, &next);
		dwarf_dealloc_die(child);
		child = next;
	}
	if (has_subrange)
		type->count = count_product;
	return err;
}

static enum ai_type_kind base_kind(uint64_t encoding, uint64_t size, bool *is_signed)
{
	*is_signed = false;
	if (size == 0 && encoding != DW_ATE_float)
		return AI_TYPE_UNIT; /* rustc's `()` (and `!`): zero-sized */
	switch (encoding) {
	case DW_ATE_boolean:
		return AI_TYPE_BOOL;
	case DW_ATE_float:
		return AI_TYPE_FLOAT;
	case DW_ATE_UTF:
		return AI_TYPE_CHAR;
	case DW_ATE_signed:
	case DW_ATE_signed_char:
		*is_signed = true;
		return AI_TYPE_INT;
	default:
		return AI_TYPE_INT;
	}
}

/* Reads the type at offset into a new struct ai_type (not yet cached). */
static struct ai_error *read_type(struct ai_types *types, uint64_t offset, struct ai_type **ret)
{
	Dwarf_Die die;
	struct ai_error *err = die_at(types, offset, &die);
	if (err)
		return err;
	Dwarf_Half tag = die_tag(types, die);
	if (!is_type_tag(tag)) {
		dwarf_dealloc_die(die);
		return ai_error_create(AI_ERROR_DWARF, "DIE 0x%" PRIx64 " (tag 0x%x) is not a type",
				       offset, tag);
	}
	struct ai_type *type = xcalloc(1, sizeof(*type));
	type->types = types;
	type->die_offset = offset;
	type->name = die_name(types, die);
	type->is_declaration = attr_flag(types, die, DW_AT_declaration);
	Dwarf_Off cu_offset = 0;
	Dwarf_Error derr = NULL;
	if (dwarf_CU_dieoffset_given_die(die, &cu_offset, &derr) != DW_DLV_OK) {
		err = dwarf_error(types, derr, offset, "finding the unit");
		goto out;
	}
	type->cu_offset = cu_offset;

	bool found;
	err = attr_uint(types, die, DW_AT_byte_size, &found, &type->size);
	if (err)
		goto out;
	type->has_size = found;
	uint64_t alignment = 0;
	err = attr_uint(types, die, DW_AT_alignment, &found, &alignment);
	if (err)
		goto out;
	type->alignment = (uint32_t)alignment;
	err = attr_ref(types, die, DW_AT_type, &type->target.die_offset);
	if (err)
		goto out;

	switch (tag) {
	case DW_TAG_base_type: {
		uint64_t encoding = 0;
		err = attr_uint(types, die, DW_AT_encoding, &found, &encoding);
		type->kind = base_kind(encoding, type->size, &type->is_signed);
		break;
	}
	case DW_TAG_pointer_type:
	case DW_TAG_reference_type:
	case DW_TAG_rvalue_reference_type:
		type->kind = AI_TYPE_POINTER;
		if (!type->has_size) {
			Dwarf_Half address_size = 8;
			if (dwarf_get_die_address_size(die, &address_size, &derr) != DW_DLV_OK) {
				if (derr)
					dwarf_dealloc_error(types->dbg, derr);
				address_size = 8;
			}
			type->size = address_size;
			type->has_size = true;
		}
		break;
	case DW_TAG_structure_type:
	case DW_TAG_class_type:
		type->kind = AI_TYPE_STRUCT; /* AI_TYPE_ENUM if read_children finds a variant part */
		err = read_children(types, type, die);
		break;
	case DW_TAG_union_type:
		type->kind = AI_TYPE_UNION;
		err = read_children(types, type, die);
		break;
	case DW_TAG_enumeration_type:
		type->kind = AI_TYPE_C_ENUM;
		err = read_children(types, type, die);
		break;
	case DW_TAG_array_type:
		type->kind = AI_TYPE_ARRAY;
		err = read_children(types, type, die);
		break;
	case DW_TAG_subroutine_type:
		type->kind = AI_TYPE_FUNCTION;
		break;
	case DW_TAG_unspecified_type:
		type->kind = AI_TYPE_VOID;
		break;
	default: /* typedef and qualifiers */
		type->kind = AI_TYPE_TYPEDEF;
		break;
	}
out:
	dwarf_dealloc_die(die);
	if (err) {
		type_destroy(type);
		return ai_error_wrap(err, "reading type 0x%" PRIx64, offset);
	}
	*ret = type;
	return NULL;
}

struct ai_error *ai_types_get(struct ai_types *types, uint64_t die_offset,
			      const struct ai_type **ret)
{
	uint64_t value;
	if (u64_map_get(&types->by_offset, die_offset, &value)) {
		*ret = (const struct ai_type *)(uintptr_t)value;
		return NULL;
	}
	struct ai_type *type = NULL;
	struct ai_error *err = read_type(types, die_offset, &type);
	if (err)
		return err;
	/* Cached before sizes are derived below, which read other types: cycles end here. */
	u64_map_put(&types->by_offset, die_offset, (uintptr_t)type);
	/* Arrays (rustc gives them no byte size) and typedefs take their size from their target;
	 * that is never a cycle without a pointer in it, and pointers have their own size. */
	if (!type->has_size && (type->kind == AI_TYPE_ARRAY || type->kind == AI_TYPE_TYPEDEF)) {
		const struct ai_type *target;
		struct ai_error *terr = ai_type_target(type, &target);
		if (!terr && target->has_size) {
			type->size = type->kind == AI_TYPE_ARRAY ? target->size * type->count
								 : target->size;
			type->has_size = true;
		}
		ai_error_destroy(terr); /* the size stays unknown; the type itself is fine */
	}
	*ret = type;
	return NULL;
}

/* ---- Accessors ---- */

struct ai_error *ai_type_resolve(const struct ai_type *owner, const struct ai_type_ref *ref,
				 const struct ai_type **ret)
{
	if (ref->type) {
		*ret = ref->type;
		return NULL;
	}
	if (!ref->die_offset) {
		*ret = &void_type;
		return NULL;
	}
	if (!owner->types)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				       "type %s refers to DIE 0x%" PRIx64 " without DWARF",
				       owner->name ? owner->name : "(anonymous)", ref->die_offset);
	const struct ai_type *type;
	struct ai_error *err = ai_types_get(owner->types, ref->die_offset, &type);
	if (err)
		return err;
	/* Remembered in the ref (a cache inside a type we allocated non-const). */
	((struct ai_type_ref *)ref)->type = type;
	*ret = type;
	return NULL;
}

struct ai_error *ai_type_target(const struct ai_type *type, const struct ai_type **ret)
{
	return ai_type_resolve(type, &type->target, ret);
}

struct ai_error *ai_type_member_type(const struct ai_type *type, const struct ai_member *member,
				     const struct ai_type **ret)
{
	return ai_type_resolve(type, &member->type, ret);
}

struct ai_error *ai_type_underlying(const struct ai_type *type, const struct ai_type **ret)
{
	/* Bounded: a typedef cycle in corrupt DWARF must end. */
	for (int i = 0; i < 64 && type->kind == AI_TYPE_TYPEDEF; i++) {
		struct ai_error *err = ai_type_target(type, &type);
		if (err)
			return err;
	}
	*ret = type;
	return NULL;
}

struct ai_error *ai_type_member_underlying(const struct ai_type *type, const struct ai_member *member,
					   const struct ai_type **ret)
{
	const struct ai_type *t;
	struct ai_error *err = ai_type_member_type(type, member, &t);
	if (!err)
		err = ai_type_underlying(t, ret);
	return err;
}

const struct ai_member *ai_type_find_member(const struct ai_type *type, const char *name)
{
	for (size_t i = 0; i < type->member_count; i++)
		if (type->members[i].name && strcmp(type->members[i].name, name) == 0)
			return &type->members[i];
	return NULL;
}

const struct ai_template_param *ai_type_find_template_param(const struct ai_type *type,
							    const char *name)
{
	for (size_t i = 0; i < type->template_param_count; i++)
		if (type->template_params[i].name &&
		    strcmp(type->template_params[i].name, name) == 0)
			return &type->template_params[i];
	return NULL;
}

const struct ai_variant *ai_type_find_variant(const struct ai_type *type, const char *name)
{
	for (size_t i = 0; i < type->variant_count; i++)
		if (type->variants[i].name && strcmp(type->variants[i].name, name) == 0)
			return &type->variants[i];
	return NULL;
}

bool ai_type_is_coroutine(const struct ai_type *type)
{
	return type->kind == AI_TYPE_ENUM && type->has_discr && type->discr.name &&
	       strcmp(type->discr.name, "__state") == 0;
}

static bool equal_depth(const struct ai_type *a, const struct ai_type *b, int depth)
{
	if (a == b)
		return true;
	if (a->kind != b->kind || a->size != b->size || depth > 8)
		return false;
	const char *qa = ai_type_qualified_name(a), *qb = ai_type_qualified_name(b);
	if (qa || qb)
		return qa && qb && strcmp(qa, qb) == 0;
	/* Anonymous (e.g. C's `int *`): the same if what they are made of is the same. */
	if (a->kind != AI_TYPE_POINTER && a->kind != AI_TYPE_ARRAY && a->kind != AI_TYPE_TYPEDEF)
		return false;
	if (a->count != b->count)
		return false;
	const struct ai_type *ta, *tb;
	struct ai_error *err = ai_type_target(a, &ta);
	if (!err)
		err = ai_type_target(b, &tb);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	return equal_depth(ta, tb, depth + 1);
}

bool ai_type_equal(const struct ai_type *a, const struct ai_type *b)
{
	return equal_depth(a, b, 0);
}

/* ---- Enums ---- */

struct ai_error *ai_type_read_discriminant(const struct ai_type *type, const void *bytes,
					   size_t size, uint64_t *ret)
{
	if (type->kind != AI_TYPE_ENUM || !type->has_discr)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "type %s has no discriminant",
				       type->name ? type->name : "(anonymous)");
	const struct ai_type *discr_type;
	struct ai_error *err = ai_type_member_type(type, &type->discr, &discr_type);
	if (!err)
		err = ai_type_underlying(discr_type, &discr_type);
	if (err)
		return ai_error_wrap(err, "discriminant of %s", type->name ? type->name : "enum");
	/* u128 tags: the low half (little-endian) is enough for every value rustc emits here. */
	uint64_t width = AI_MIN(discr_type->size, 8);
	if (width == 0 || type->discr.offset > size || width > size - type->discr.offset)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				       "discriminant of %s (%" PRIu64 " bytes at %" PRIu64
				       ") is outside the %zu bytes given",
				       type->name ? type->name : "enum", width, type->discr.offset,
				       size);
	uint64_t value = 0;
	memcpy(&value, (const uint8_t *)bytes + type->discr.offset, width);
	*ret = value;
	return NULL;
}

struct ai_error *ai_type_active_variant(const struct ai_type *type, const void *bytes,
					size_t size, const struct ai_variant **ret)
{
	if (type->kind != AI_TYPE_ENUM)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "type %s is not an enum",
				       type->name ? type->name : "(anonymous)");
	if (!type->has_discr) {
		if (type->variant_count == 1) {
			*ret = &type->variants[0];
			return NULL;
		}
		return ai_error_create(AI_ERROR_NOT_FOUND, "enum %s has %zu variants and no discriminant",
				       type->name ? type->name : "(anonymous)", type->variant_count);
	}
	uint64_t value;
	struct ai_error *err = ai_type_read_discriminant(type, bytes, size, &value);
	if (err)
		return err;
	const struct ai_type *discr_type;
	err = ai_type_member_type(type, &type->discr, &discr_type);
	if (!err)
		err = ai_type_underlying(discr_type, &discr_type);
	if (err)
		return err;
	uint64_t mask = discr_type->size >= 8 ? UINT64_MAX : (1ULL << (8 * discr_type->size)) - 1;
	const struct ai_variant *fallback = NULL;
	for (size_t i = 0; i < type->variant_count; i++) {
		const struct ai_variant *v = &type->variants[i];
		if (!v->has_discr_value)
			fallback = fallback ? fallback : v;
		else if ((v->discr_value & mask) == value) {
			*ret = v;
			return NULL;
		}
	}
	if (fallback) {
		*ret = fallback;
		return NULL;
	}
	return ai_error_create(AI_ERROR_NOT_FOUND, "no variant of %s has discriminant %" PRIu64,
			       type->name ? type->name : "(anonymous)", value);
}

/* ---- Names for people ---- */

char *ai_type_short_name(const char *name)
{
	size_t len = strlen(name);
	char *out = xmalloc(len + 1);
	/* segment: where the current path segment starts in out. A bracket opens a new level; its
	 * closing one brings back the segment of the path that has the brackets, so that in
	 * "a::B<x::Y>::C" the "::" before C drops "B<Y>" too. */
	size_t n = 0, segment = 0, stack[64], depth = 0;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];
		if (c == ':' && name[i + 1] == ':') {
			i++;
			/* Keep "level2::{async_fn_env#0}": the brace segment alone says nothing. */
			if (name[i + 1] == '{') {
				out[n++] = ':';
				out[n++] = ':';
			} else {
				n = segment;
			}
			continue;
		}
		out[n++] = c;
		/* A switch, not strchr: this runs for every character of every printed type name. */
		switch (c) {
		case '<': case '(': case '[':
			if (depth < AI_ARRAY_SIZE(stack))
				stack[depth] = segment;
			depth++;
			segment = n;
			break;
		case '>': case ')': case ']':
			if (depth > 0) {
				depth--;
				if (depth < AI_ARRAY_SIZE(stack))
					segment = stack[depth];
			}
			break;
		case ',': case ';': case '=': case ' ': case '+': case '!': case '&': case '*':
			segment = n;
			break;
		default:
			break;
		}
	}
	out[n] = '\0';
	/* Default allocators say nothing: Vec<u8, Global> -> Vec<u8>. */
	static const char *const drop[] = { ", Global>", ", Global," };
	for (size_t d = 0; d < AI_ARRAY_SIZE(drop); d++) {
		char *p;
		while ((p = strstr(out, drop[d]))) {
			/* Keep the delimiter that follows. */
			memmove(p, p + strlen(drop[d]) - 1, strlen(p + strlen(drop[d]) - 1) + 1);
		}
	}
	return out;
}
