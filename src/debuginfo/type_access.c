/* What callers ask of a type once it is read (include/ai/types.h): the types it refers to, its
 * members, template parameters and variants, equality across codegen units, the active variant of
 * an enum value, and short names for people. Works on hand-made types too (types NULL). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/types.h"
#include "ai/util.h"

static const struct ai_type void_type = { .kind = AI_TYPE_VOID, .name = "void" };

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
	const struct ai_type *t = NULL;
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

const char *ai_type_short_name_of(const struct ai_type *type, char **made_ret)
{
	*made_ret = NULL;
	if (type->short_name)
		return type->short_name;
	const char *name = ai_type_qualified_name(type);
	if (!name)
		return NULL;
	if (!type->types) /* hand-made: nothing frees a cache there */
		return *made_ret = ai_type_short_name(name);
	/* A cache in a type handed out as const, as ai_type_qualified_name's. */
	return ((struct ai_type *)type)->short_name = ai_type_short_name(name);
}

const struct ai_type_memo *ai_type_memo_find(const struct ai_type *type, const void *search,
					     const char *name, unsigned depth)
{
	for (const struct ai_type_memo *m = type->memo; m; m = m->next)
		if (m->search == search && m->depth == depth && strcmp(m->name, name) == 0)
			return m;
	return NULL;
}

void ai_type_memo_add(const struct ai_type *type, const void *search, const char *name,
		      unsigned depth, bool found, uint64_t offset, const struct ai_type *result)
{
	if (!type->types)
		return;
	struct ai_type_memo *m = xmalloc(sizeof(*m));
	*m = (struct ai_type_memo){ type->memo, search, xstrdup(name), depth, found, offset, result };
	/* A cache in a type handed out as const, as ai_type_qualified_name's. */
	((struct ai_type *)type)->memo = m;
}
