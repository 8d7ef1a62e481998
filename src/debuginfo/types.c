/* The type model, read lazily from DWARF type DIEs with our DIE reader (see include/ai/types.h).
 *
 * One cache here: types by DIE offset. Everything about where a type sits (its unit, its
 * qualified name, the unit's types by name, the file of a decl_file number) comes from the one
 * per-unit index of dwarf_info.c, the same one symbolization uses; a type's own DIE and its
 * children are read only when the type is first asked for. */
#include <dwarf.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/dwarf_info.h"
#include "ai/dwarf_reader.h"
#include "ai/types.h"
#include "ai/util.h"
#include "dwarf_info_internal.h"
#include "u64_map.h"

/* More attributes than any type or member DIE of rustc, gcc or clang carries. */
#define MAX_ATTRS 32

/* ---- The model's owner ---- */

struct ai_types {
	struct ai_dwarf *dw;          /* borrowed */
	struct ai_dwarf_reader *reader; /* dw's */
	struct u64_map by_offset; /* DIE offset (never 0: offset 0 is a unit header) -> type */
};

struct ai_types *ai_types_create(struct ai_dwarf *dw)
{
	struct ai_types *types = xcalloc(1, sizeof(*types));
	types->dw = dw;
	types->reader = ai_dwarf_get_reader(dw);
	return types;
}

static void type_destroy(struct ai_type *type)
{
	free(type->members);
	free(type->template_params);
	free(type->variants);
	free(type->enumerators);
	free(type->short_name);
	for (struct ai_type_memo *m = type->memo, *next; m; m = next) {
		next = m->next;
		free(m->name);
		free(m);
	}
	free(type);
}

void ai_types_destroy(struct ai_types *types)
{
	if (!types)
		return;
	for (size_t i = 0; i < types->by_offset.capacity; i++)
		if (types->by_offset.keys[i])
			type_destroy((struct ai_type *)(uintptr_t)types->by_offset.values[i]);
	u64_map_deinit(&types->by_offset);
	free(types);
}

/* ---- One DIE with its attributes decoded ---- */

struct die {
	struct ai_dwarf_die die;
	struct ai_dwarf_attr attrs[MAX_ATTRS];
	size_t count;
	uint64_t end; /* after its attributes: its first child, or its next sibling */
};

static struct ai_error *decode_attrs(struct ai_types *types, struct die *d)
{
	struct ai_error *err = ai_dwarf_die_attrs(types->reader, &d->die, d->attrs, MAX_ATTRS,
						  &d->count, &d->end);
	if (err)
		return err;
	if (d->count > MAX_ATTRS)
		return ai_error_create(AI_ERROR_UNSUPPORTED,
				       "DIE 0x%" PRIx64 " has %zu attributes, more than the %d we read",
				       d->die.offset, d->count, MAX_ATTRS);
	return NULL;
}

static struct ai_error *die_at(struct ai_types *types, uint64_t offset, struct die *ret)
{
	struct ai_error *err = ai_dwarf_read_die_at(types->reader, offset, &ret->die);
	if (err)
		return err;
	if (!ret->die.abbrev)
		return ai_error_create(AI_ERROR_DWARF, "no DIE at 0x%" PRIx64, offset);
	return decode_attrs(types, ret);
}

static const struct ai_dwarf_attr *find_attr(const struct die *d, uint16_t name)
{
	for (size_t i = 0; i < d->count; i++)
		if (d->attrs[i].name == name)
			return &d->attrs[i];
	return NULL;
}

static const char *die_name(const struct die *d)
{
	const struct ai_dwarf_attr *a = find_attr(d, DW_AT_name);
	return a && a->cls == AI_DWARF_CLASS_STRING ? a->str : NULL;
}

/* A DW_OP_plus_uconst N (or DW_OP_constu N) location: how DWARF 2 producers give member offsets. */
static bool parse_offset_expr(const uint8_t *p, size_t len, uint64_t *ret)
{
	if (len < 2 || (p[0] != DW_OP_plus_uconst && p[0] != DW_OP_constu))
		return false;
	uint64_t value = 0;
	unsigned shift = 0;
	for (size_t i = 1; i < len && shift < 64; i++, shift += 7) {
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
static struct ai_error *attr_uint(const struct die *d, uint16_t at, bool *found, uint64_t *ret)
{
	*found = false;
	const struct ai_dwarf_attr *a = find_attr(d, at);
	if (!a)
		return NULL;
	if (a->cls == AI_DWARF_CLASS_CONSTANT) {
		/* sdata and implicit_const are signed; data1..8 and udata are bits */
		*ret = a->form == DW_FORM_sdata || a->form == DW_FORM_implicit_const ? (uint64_t)a->s
										      : a->u;
	} else if (a->cls == AI_DWARF_CLASS_BLOCK && a->form == DW_FORM_data16) {
		/* a u128 constant: the low half (little-endian), as discriminants are compared */
		uint64_t v = 0;
		memcpy(&v, a->block, sizeof(v));
		*ret = v;
	} else if (a->cls == AI_DWARF_CLASS_BLOCK) {
		if (!parse_offset_expr(a->block, a->block_len, ret))
			return ai_error_create(AI_ERROR_UNSUPPORTED,
					       "attribute 0x%x of DIE 0x%" PRIx64
					       " is a location we do not read",
					       at, d->die.offset);
	} else {
		return ai_error_create(AI_ERROR_DWARF,
				       "attribute 0x%x of DIE 0x%" PRIx64 " (form 0x%x) is not a constant",
				       at, d->die.offset, a->form);
	}
	*found = true;
	return NULL;
}

/* A reference attribute (DW_AT_type, DW_AT_discr) as a .debug_info offset; 0 if absent. */
static struct ai_error *attr_ref(const struct die *d, uint16_t at, uint64_t *ret)
{
	*ret = 0;
	const struct ai_dwarf_attr *a = find_attr(d, at);
	if (!a)
		return NULL;
	if (a->cls != AI_DWARF_CLASS_REFERENCE)
		return ai_error_create(AI_ERROR_DWARF,
				       "attribute 0x%x of DIE 0x%" PRIx64
				       " (form 0x%x) is not a reference we read",
				       at, d->die.offset, a->form);
	*ret = a->u;
	return NULL;
}

static bool attr_flag(const struct die *d, uint16_t at)
{
	const struct ai_dwarf_attr *a = find_attr(d, at);
	return a && a->cls == AI_DWARF_CLASS_FLAG && a->u;
}

/* The children of a DIE, one after the other: `next` is 0 after the last one. */
struct children {
	struct ai_dwarf_unit *unit;
	uint64_t next;
};

static void children_init(const struct die *parent, struct children *it)
{
	it->unit = parent->die.unit;
	it->next = parent->die.has_children ? parent->end : 0;
}

/* The next child into *ret; false at the end or on an error (*err_ret). */
static bool next_child(struct ai_types *types, struct children *it, struct die *ret,
		       struct ai_error **err_ret)
{
	*err_ret = NULL;
	if (!it->next)
		return false;
	struct ai_error *err = ai_dwarf_read_die(types->reader, it->unit, it->next, &ret->die);
	if (!err && !ret->die.abbrev) {
		it->next = 0; /* the null entry that ends the list */
		return false;
	}
	if (!err)
		err = decode_attrs(types, ret);
	if (!err && ret->die.has_children)
		err = ai_dwarf_die_sibling(types->reader, &ret->die, &it->next);
	else if (!err)
		it->next = ret->end;
	if (err) {
		*err_ret = err;
		it->next = 0;
		return false;
	}
	return true;
}

/* ---- Names ---- */

struct ai_error *ai_types_find_offset(struct ai_types *types, uint64_t cu_offset,
				      const char *qualified_name, uint64_t *die_offset_ret)
{
	return ai_dwarf_find_type(types->dw, cu_offset, qualified_name, die_offset_ret);
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
	return ai_dwarf_for_each_type(types->dw, cu_offset, prefix, fn, arg);
}

const char *ai_type_qualified_name(const struct ai_type *type)
{
	if (type->qualified_name || !type->types)
		return type->qualified_name ? type->qualified_name : type->name;
	const char *q = NULL;
	struct ai_error *err = ai_dwarf_qualified_name(type->types->dw, type->die_offset, &q);
	if (err) {
		ai_error_destroy(err); /* names are best effort: fall back to the DIE's own name */
		q = type->name;
	}
	/* A cache in a type handed out as const: the object itself was allocated non-const. */
	((struct ai_type *)type)->qualified_name = q;
	return q;
}

/* ---- Reading types ---- */

static struct ai_error *read_member(const struct die *d, struct ai_member *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->name = die_name(d);
	ret->artificial = attr_flag(d, DW_AT_artificial);
	bool found;
	struct ai_error *err = attr_uint(d, DW_AT_data_member_location, &found, &ret->offset);
	if (!err)
		err = attr_ref(d, DW_AT_type, &ret->type.die_offset);
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

static struct ai_error *read_variant(struct ai_types *types, const struct die *d,
				     struct ai_variant *ret)
{
	memset(ret, 0, sizeof(*ret));
	bool found;
	struct ai_error *err = attr_uint(d, DW_AT_discr_value, &found, &ret->discr_value);
	if (err)
		return err;
	ret->has_discr_value = found;
	struct children it;
	struct die child;
	children_init(d, &it);
	/* The variant's one member (rustc emits exactly one). */
	while (next_child(types, &it, &child, &err)) {
		if (child.die.tag != DW_TAG_member)
			continue;
		err = read_member(&child, &ret->member);
		uint64_t file = 0, line = 0;
		if (!err)
			err = attr_uint(&child, DW_AT_decl_file, &found, &file);
		if (!err && found)
			ret->decl_file = ai_dwarf_decl_file(types->dw, child.die.offset, file);
		if (!err)
			err = attr_uint(&child, DW_AT_decl_line, &found, &line);
		ret->decl_line = (uint32_t)line;
		break;
	}
	if (err)
		return err;
	ret->name = ret->member.name;
	/* A coroutine's variants are members "0", "1", ...: their types carry the state names. */
	if (all_digits(ret->name) && ret->member.type.die_offset) {
		struct ai_dwarf_die type_die;
		struct ai_dwarf_attr name;
		bool has_name = false;
		err = ai_dwarf_read_die_at(types->reader, ret->member.type.die_offset, &type_die);
		if (!err && type_die.abbrev)
			err = ai_dwarf_die_attr(types->reader, &type_die, DW_AT_name, &name, &has_name);
		ai_error_destroy(err); /* the member's own name stays */
		if (has_name && name.cls == AI_DWARF_CLASS_STRING)
			ret->name = name.str;
	}
	return NULL;
}

static struct ai_error *read_variant_part(struct ai_types *types, struct ai_type *type,
					  const struct die *d)
{
	uint64_t discr_offset;
	struct ai_error *err = attr_ref(d, DW_AT_discr, &discr_offset);
	if (err)
		return err;
	size_t capacity = 0;
	struct children it;
	struct die child;
	children_init(d, &it);
	while (!err && next_child(types, &it, &child, &err)) {
		if (child.die.tag == DW_TAG_member && discr_offset &&
		    child.die.offset == discr_offset) {
			err = read_member(&child, &type->discr);
			type->has_discr = !err;
		} else if (child.die.tag == DW_TAG_variant) {
			AI_GROW(type->variants, capacity, type->variant_count + 1);
			err = read_variant(types, &child, &type->variants[type->variant_count]);
			if (!err)
				type->variant_count++;
		}
	}
	return err;
}

/* Members, template parameters and the variant part of a struct, union or Rust enum; the
 * enumerators of a C enum; the subranges of an array. */
static struct ai_error *read_children(struct ai_types *types, struct ai_type *type,
				      const struct die *d)
{
	size_t member_capacity = 0, param_capacity = 0, enumerator_capacity = 0;
	uint64_t count_product = 1;
	bool has_subrange = false;
	struct children it;
	struct die child;
	struct ai_error *err = NULL;
	children_init(d, &it);
	while (!err && next_child(types, &it, &child, &err)) {
		bool found;
		switch (child.die.tag) {
		case DW_TAG_member:
			/* Static members have no location and no storage in the value. */
			if (attr_flag(&child, DW_AT_external))
				break;
			AI_GROW(type->members, member_capacity, type->member_count + 1);
			err = read_member(&child, &type->members[type->member_count]);
			if (!err)
				type->member_count++;
			break;
		case DW_TAG_template_type_parameter: {
			AI_GROW(type->template_params, param_capacity, type->template_param_count + 1);
			struct ai_template_param *p = &type->template_params[type->template_param_count];
			p->name = die_name(&child);
			p->type = (struct ai_type_ref){ 0 };
			err = attr_ref(&child, DW_AT_type, &p->type.die_offset);
			if (!err)
				type->template_param_count++;
			break;
		}
		case DW_TAG_variant_part:
			type->kind = AI_TYPE_ENUM;
			err = read_variant_part(types, type, &child);
			break;
		case DW_TAG_enumerator: {
			AI_GROW(type->enumerators, enumerator_capacity, type->enumerator_count + 1);
			struct ai_enumerator *e = &type->enumerators[type->enumerator_count];
			e->name = die_name(&child);
			err = attr_uint(&child, DW_AT_const_value, &found, &e->value);
			if (!err && found)
				type->enumerator_count++;
			break;
		}
		case DW_TAG_subrange_type: {
			uint64_t count = 0, lower = 0, upper = 0;
			bool has_lower = false;
			err = attr_uint(&child, DW_AT_count, &found, &count);
			if (!err && !found) {
				err = attr_uint(&child, DW_AT_upper_bound, &found, &upper);
				if (!err)
					err = attr_uint(&child, DW_AT_lower_bound, &has_lower, &lower);
				count = found && upper + 1 > lower ? upper + 1 - lower : 0;
			}
			count_product *= count;
			has_subrange = true;
			break;
		}
		default:
			break; /* nested types, methods: not part of the value */
		}
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
	struct die d;
	struct ai_error *err = die_at(types, offset, &d);
	if (err)
		return ai_error_wrap(err, "reading type 0x%" PRIx64, offset);
	uint16_t tag = d.die.tag;
	if (!ai_dwarf_is_type_tag(tag))
		return ai_error_create(AI_ERROR_DWARF, "DIE 0x%" PRIx64 " (tag 0x%x) is not a type",
				       offset, tag);
	struct ai_type *type = xcalloc(1, sizeof(*type));
	type->types = types;
	type->die_offset = offset;
	type->cu_offset = d.die.unit->first_die;
	type->name = die_name(&d);
	type->is_declaration = attr_flag(&d, DW_AT_declaration);

	bool found;
	err = attr_uint(&d, DW_AT_byte_size, &found, &type->size);
	if (err)
		goto out;
	type->has_size = found;
	uint64_t alignment = 0;
	err = attr_uint(&d, DW_AT_alignment, &found, &alignment);
	if (err)
		goto out;
	type->alignment = (uint32_t)alignment;
	err = attr_ref(&d, DW_AT_type, &type->target.die_offset);
	if (err)
		goto out;

	switch (tag) {
	case DW_TAG_base_type: {
		uint64_t encoding = 0;
		err = attr_uint(&d, DW_AT_encoding, &found, &encoding);
		type->kind = base_kind(encoding, type->size, &type->is_signed);
		break;
	}
	case DW_TAG_pointer_type:
	case DW_TAG_reference_type:
	case DW_TAG_rvalue_reference_type:
		type->kind = AI_TYPE_POINTER;
		if (!type->has_size) {
			type->size = d.die.unit->address_size ? d.die.unit->address_size : 8;
			type->has_size = true;
		}
		break;
	case DW_TAG_structure_type:
	case DW_TAG_class_type:
		type->kind = AI_TYPE_STRUCT; /* AI_TYPE_ENUM if read_children finds a variant part */
		err = read_children(types, type, &d);
		break;
	case DW_TAG_union_type:
		type->kind = AI_TYPE_UNION;
		err = read_children(types, type, &d);
		break;
	case DW_TAG_enumeration_type:
		type->kind = AI_TYPE_C_ENUM;
		err = read_children(types, type, &d);
		break;
	case DW_TAG_array_type:
		type->kind = AI_TYPE_ARRAY;
		err = read_children(types, type, &d);
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
	uint64_t cached;
	if (u64_map_find(&types->by_offset, die_offset, NULL, NULL, &cached)) {
		*ret = (const struct ai_type *)(uintptr_t)cached;
		return NULL;
	}
	struct ai_type *type = NULL;
	struct ai_error *err = read_type(types, die_offset, &type);
	if (err)
		return err;
	/* Cached before sizes are derived below, which read other types: cycles end here. */
	u64_map_add(&types->by_offset, die_offset, (uintptr_t)type);
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
