/* The await-tree decoder's first step: reaching the future through what only holds it (pointers,
 * Pin, `dyn Future` fat pointers and the concrete type their vtable names, transparent wrappers).
 * See await_tree.c. */
#include <dwarf.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/runtime.h"
#include "ai/dwarf_reader.h"
#include "ai/util.h"
#include "await_tree_internal.h"

/* Pointers and wrappers followed to reach one future. */
#define MAX_HOPS 16

/* ---- dyn Future: the concrete type behind a vtable ---- */

/* The type of a subprogram's first formal parameter, or its template parameter "T" (type DIE
 * offsets; 0 if absent). Follows DW_AT_specification / DW_AT_abstract_origin once when the concrete
 * DIE lists neither. */
static void subprogram_types(struct ai_dwarf_reader *r, uint64_t offset, uint64_t *first_param_ret,
			     uint64_t *template_t_ret, int hops)
{
	struct ai_dwarf_die die;
	struct ai_error *err = ai_dwarf_read_die_at(r, offset, &die);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	uint64_t origin = 0;
	struct ai_dwarf_attr attrs[16];
	size_t count;
	uint64_t child;
	err = ai_dwarf_die_attrs(r, &die, attrs, AI_ARRAY_SIZE(attrs), &count, &child);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	for (size_t i = 0; i < AI_MIN(count, AI_ARRAY_SIZE(attrs)); i++)
		if ((attrs[i].name == DW_AT_specification || attrs[i].name == DW_AT_abstract_origin) &&
		    attrs[i].cls == AI_DWARF_CLASS_REFERENCE)
			origin = attrs[i].u;
	for (int guard = 0; die.has_children && guard < 4096; guard++) {
		struct ai_dwarf_die c;
		err = ai_dwarf_read_die(r, die.unit, child, &c);
		if (err || !c.abbrev)
			break;
		if (c.tag == DW_TAG_formal_parameter || c.tag == DW_TAG_template_type_parameter) {
			struct ai_dwarf_attr a[16];
			size_t n;
			uint64_t type = 0, param_origin = 0;
			const char *name = NULL;
			err = ai_dwarf_die_attrs(r, &c, a, AI_ARRAY_SIZE(a), &n, NULL);
			for (size_t i = 0; !err && i < AI_MIN(n, AI_ARRAY_SIZE(a)); i++) {
				if (a[i].name == DW_AT_type && a[i].cls == AI_DWARF_CLASS_REFERENCE)
					type = a[i].u;
				else if (a[i].name == DW_AT_abstract_origin &&
					 a[i].cls == AI_DWARF_CLASS_REFERENCE)
					param_origin = a[i].u;
				else if (a[i].name == DW_AT_name && a[i].cls == AI_DWARF_CLASS_STRING)
					name = a[i].str;
			}
			ai_error_destroy(err);
			err = NULL;
			if (!type && param_origin) {
				struct ai_dwarf_die o;
				struct ai_dwarf_attr ta;
				bool found = false;
				err = ai_dwarf_read_die_at(r, param_origin, &o);
				if (!err)
					err = ai_dwarf_die_attr(r, &o, DW_AT_type, &ta, &found);
				if (!err && found && ta.cls == AI_DWARF_CLASS_REFERENCE)
					type = ta.u;
				ai_error_destroy(err);
				err = NULL;
			}
			if (c.tag == DW_TAG_formal_parameter && !*first_param_ret)
				*first_param_ret = type;
			if (c.tag == DW_TAG_template_type_parameter && name && strcmp(name, "T") == 0 &&
			    !*template_t_ret)
				*template_t_ret = type;
		}
		err = ai_dwarf_die_sibling(r, &c, &child);
		if (err)
			break;
	}
	ai_error_destroy(err);
	if (origin && hops == 0 && (!*first_param_ret || !*template_t_ret))
		subprogram_types(r, origin, first_param_ret, template_t_ret, hops + 1);
}

/* What `self` of a poll or drop function points to: Pin<&mut T> -> T, &mut T / *mut T -> T. */
static const struct ai_type *pointee_of_self(const struct ai_type *type)
{
	for (int hops = 0; type && hops < 4; hops++) {
		const struct ai_type *u;
		struct ai_error *err = ai_type_underlying(type, &u);
		if (err) {
			ai_error_destroy(err);
			return NULL;
		}
		if (u->kind == AI_TYPE_POINTER) {
			const struct ai_type *t = NULL;
			err = ai_type_target(u, &t);
			ai_error_destroy(err);
			return err ? NULL : t;
		}
		if (u->kind != AI_TYPE_STRUCT || !aw_starts_with(aw_type_name(u), "core::pin::Pin<"))
			return NULL;
		const struct ai_member *m = aw_find_member_any(u, "pointer", "__pointer");
		if (!m)
			return NULL;
		err = ai_type_member_type(u, m, &type);
		if (err) {
			ai_error_destroy(err);
			return NULL;
		}
	}
	return NULL;
}

/* The type named by the subprogram at a function pointer of a vtable: a poll function's `self`
 * (slot 3) or drop_in_place::<T> (slot 0). NULL if unknown. */
static const struct ai_type *vtable_slot_type(struct decoder *d, uint64_t fn, bool is_drop)
{
	struct ai_module *main = d->as->module;
	if (!fn || !main || fn < main->bias)
		return NULL;
	struct ai_location locs[AI_MAX_LOCATIONS];
	size_t n = 0;
	struct ai_error *err = ai_dwarf_find_locations(d->as->dwarf, fn - main->bias, false, locs,
						       AI_ARRAY_SIZE(locs), &n);
	if (err || n == 0) {
		ai_error_destroy(err);
		return NULL;
	}
	/* The outermost location is the function itself (a function pointer is its entry). */
	uint64_t subprogram = locs[n - 1].die_offset;
	struct ai_dwarf_reader *r = ai_dwarf_get_reader(d->as->dwarf);
	if (!subprogram || !r)
		return NULL;
	uint64_t first_param = 0, template_t = 0;
	subprogram_types(r, subprogram, &first_param, &template_t, 0);
	const struct ai_type *type = NULL;
	if (is_drop && template_t) {
		err = ai_types_get(d->as->types, template_t, &type);
		if (!err)
			return type;
		ai_error_destroy(err);
	}
	if (!first_param)
		return NULL;
	err = ai_types_get(d->as->types, first_param, &type);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	return pointee_of_self(type);
}

/* The concrete type of a `dyn Future` from its vtable: [drop_in_place, size, align, poll, ...].
 * Both functions name the type; if they disagree, say so rather than pick one. */
static struct ai_error *vtable_type(struct decoder *d, uint64_t vtable, const struct ai_type **ret)
{
	uint64_t slots[4];
	struct ai_error *err = aw_check_pointer(vtable, NULL);
	if (!err && (vtable & 7))
		err = ai_error_create(AI_ERROR_OTHER, "misaligned vtable 0x%" PRIx64, vtable);
	if (!err)
		err = ai_memory_read(d->mem, slots, vtable, sizeof(slots));
	if (err)
		return err;
	d->bytes_read += sizeof(slots);
	const struct ai_type *by_poll = vtable_slot_type(d, slots[3], false);
	const struct ai_type *by_drop = vtable_slot_type(d, slots[0], true);
	if (by_poll && by_drop && !ai_type_equal(by_poll, by_drop))
		return ai_error_create(AI_ERROR_OTHER,
				       "ambiguous vtable 0x%" PRIx64 ": poll is for %s, drop for %s",
				       vtable, aw_type_name(by_poll), aw_type_name(by_drop));
	const struct ai_type *type = by_poll ? by_poll : by_drop;
	if (!type)
		return ai_error_create(AI_ERROR_NOT_FOUND,
				       "no DWARF names the type of vtable 0x%" PRIx64, vtable);
	return ai_type_underlying(type, ret);
}

/* ---- Reaching the future: pointers, Pin, dyn, transparent wrappers ---- */

/* A fat pointer to a trait object: { pointer, vtable }. */
static bool is_dyn_pointer(const struct ai_type *type)
{
	return type->kind == AI_TYPE_STRUCT && type->member_count == 2 &&
	       ai_type_find_member(type, "pointer") && ai_type_find_member(type, "vtable");
}

/* Longest label read from a wrapper. */
#define MAX_LABEL 256

/* Follows (address, type) through references and Option::Some to a value; false at a None or
 * a pointer we may not follow. */
static bool deref_some(struct decoder *d, const struct view **view, uint64_t *address,
		       const struct ai_type **type)
{
	for (int hops = 0; hops < 4; hops++) {
		const struct ai_type *t;
		if (ai_type_underlying(*type, &t) != NULL)
			return false;
		*type = t;
		if (t->kind == AI_TYPE_POINTER) {
			const struct ai_type *target;
			uint64_t ptr;
			struct ai_error *err = ai_type_target(t, &target);
			if (!err)
				err = aw_read_word(d, *view, *address, 8, &ptr);
			if (!err)
				err = aw_check_pointer(ptr, target);
			if (err) {
				ai_error_destroy(err);
				return false;
			}
			*address = ptr;
			*type = target;
			*view = NULL;
			continue;
		}
		if (t->kind != AI_TYPE_ENUM || !aw_starts_with(aw_type_name(t), "core::option::Option<"))
			return true;
		const uint8_t *bytes;
		uint8_t *owned;
		const struct ai_variant *variant;
		const struct ai_type *some;
		const struct ai_member *inner;
		struct ai_error *err = aw_read_bytes(d, *view, *address, t->size, &bytes, &owned);
		if (!err) {
			err = ai_type_active_variant(t, bytes, t->size, &variant);
			free(owned);
		}
		if (err) {
			ai_error_destroy(err);
			return false;
		}
		if (!variant->name || strcmp(variant->name, "Some") != 0 ||
		    ai_type_member_underlying(t, &variant->member, &some) != NULL ||
		    !(inner = ai_type_find_member(some, "__0")) ||
		    ai_type_member_type(some, inner, type) != NULL)
			return false;
		*address += inner->offset;
	}
	return false;
}

/* The &str at member path `path` ("span.meta.name") of the value at address, or NULL. */
static char *read_label(struct decoder *d, const struct view *view, uint64_t address,
			const struct ai_type *type, const char *path)
{
	char segment[64];
	for (const char *p = path; *p;) {
		size_t n = strcspn(p, ".");
		if (n >= sizeof(segment) || !deref_some(d, &view, &address, &type))
			return NULL;
		memcpy(segment, p, n);
		segment[n] = '\0';
		const struct ai_member *m = ai_type_find_member(type, segment);
		if (!m || ai_type_member_type(type, m, &type) != NULL)
			return NULL;
		address += m->offset;
		p += n + (p[n] == '.');
	}
	/* &str: { data_ptr, length } */
	const struct ai_member *pm, *lm;
	uint64_t ptr, len;
	const uint8_t *bytes;
	uint8_t *owned;
	if (!deref_some(d, &view, &address, &type) || !(pm = ai_type_find_member(type, "data_ptr")) ||
	    !(lm = ai_type_find_member(type, "length")))
		return NULL;
	struct ai_error *err = aw_read_word(d, view, address + pm->offset, 8, &ptr);
	if (!err)
		err = aw_read_word(d, view, address + lm->offset, 8, &len);
	if (!err && (len == 0 || len > MAX_LABEL))
		err = ai_error_create(AI_ERROR_OTHER, "a label of %" PRIu64 " bytes", len);
	if (!err)
		err = aw_check_pointer(ptr, NULL);
	if (!err)
		err = aw_read_bytes(d, NULL, ptr, len, &bytes, &owned);
	if (err) {
		ai_error_destroy(err);
		return NULL;
	}
	char *label = memchr(bytes, '\0', len) ? NULL : xstrndup((const char *)bytes, len);
	free(owned);
	return label;
}

/* A wrapper that names what it wraps (a tracing span): the innermost name wins, a runtime's own
 * spans are left out, and one we cannot read changes nothing. */
static void take_label(struct decoder *d, const struct view *view, uint64_t address,
		       const struct ai_type *type, struct ai_await_node *node)
{
	const struct ai_future_label_rule *rule = ai_runtime_future_label(aw_type_name(type));
	if (!rule)
		return;
	char *origin = rule->origin ? read_label(d, view, address, type, rule->origin) : NULL;
	char *name = ai_runtime_own_label(origin) ? NULL : read_label(d, view, address, type, rule->name);
	free(origin);
	if (name) {
		free(node->span);
		node->span = name;
	}
}

/* Follows (*address, *type) through what merely holds a future. Returns false (with node->error,
 * or node->state for a finished MaybeDone) if the node ends here. */
bool aw_reach_future(struct decoder *d, uint64_t *address, const struct ai_type **type,
		     const struct view **view, struct ai_await_node *node)
{
	for (int hops = 0;; hops++) {
		const struct ai_type *t = *type;
		struct ai_error *err = ai_type_underlying(t, &t);
		if (err) {
			aw_set_error_from(node, err);
			return false;
		}
		*type = t;
		if (hops == MAX_HOPS) {
			aw_set_error(node, "more than %d pointers or wrappers", MAX_HOPS);
			return false;
		}
		if (ai_type_is_coroutine(t))
			return true;
		if (t->kind == AI_TYPE_POINTER) {
			const struct ai_type *target;
			uint64_t ptr;
			err = ai_type_target(t, &target);
			if (!err)
				err = ai_type_underlying(target, &target);
			if (err) {
				aw_set_error_from(node, err);
				return false;
			}
			if (target->kind == AI_TYPE_VOID || target->kind == AI_TYPE_FUNCTION ||
			    target->kind == AI_TYPE_UNIT)
				return true; /* nothing to follow: a leaf */
			err = aw_read_word(d, *view, *address, 8, &ptr);
			if (!err)
				err = aw_check_pointer(ptr, target);
			if (err) {
				aw_set_error_from(node, err);
				return false;
			}
			*address = ptr;
			*type = target;
			*view = NULL;
			continue;
		}
		if (is_dyn_pointer(t)) {
			const struct ai_member *pm = ai_type_find_member(t, "pointer");
			const struct ai_member *vm = ai_type_find_member(t, "vtable");
			uint64_t ptr, vtable;
			const struct ai_type *concrete;
			err = aw_read_word(d, *view, *address + pm->offset, 8, &ptr);
			if (!err)
				err = aw_read_word(d, *view, *address + vm->offset, 8, &vtable);
			if (!err)
				err = vtable_type(d, vtable, &concrete);
			if (!err)
				err = aw_check_pointer(ptr, concrete);
			if (err) {
				aw_set_error_from(node, err);
				return false;
			}
			*address = ptr;
			*type = concrete;
			*view = NULL;
			continue;
		}
		const struct ai_future_shape_rule *shape = ai_runtime_future_shape_of(t, aw_type_name(t));
		if (shape && shape->shape == AI_SHAPE_MAYBE_DONE && t->kind == AI_TYPE_ENUM) {
			const uint8_t *bytes;
			uint8_t *owned;
			const struct ai_variant *variant;
			err = aw_read_bytes(d, *view, *address, t->size, &bytes, &owned);
			if (!err) {
				err = ai_type_active_variant(t, bytes, t->size, &variant);
				free(owned);
			}
			if (err) {
				aw_set_error_from(node, err);
				return false;
			}
			const struct ai_type *vt;
			const struct ai_member *inner = NULL;
			if (variant->name && (strcmp(variant->name, "Future") == 0 ||
					      strcmp(variant->name, "Some") == 0 ||
					      (shape->member && strcmp(variant->name, shape->member) == 0)) &&
			    !(err = ai_type_member_underlying(t, &variant->member, &vt)))
				inner = aw_find_member_any(vt, "__0", "future");
			if (err) {
				aw_set_error_from(node, err);
				return false;
			}
			if (!inner) {
				/* Done (the output is there), Gone (taken), None. */
				free(node->state);
				node->state = xstrdup(variant->name ? variant->name : "?");
				return false;
			}
			err = ai_type_member_type(vt, inner, type);
			if (err) {
				aw_set_error_from(node, err);
				return false;
			}
			*address += inner->offset;
			continue;
		}
		/* A wrapper that holds one future in a member: the node is that future. */
		if (!shape || shape->shape != AI_SHAPE_TRANSPARENT || t->kind != AI_TYPE_STRUCT)
			return true;
		const struct ai_member *m = aw_find_member_any(t, shape->member, shape->alt);
		if (!m)
			return true;
		take_label(d, *view, *address, t, node);
		err = ai_type_member_type(t, m, type);
		if (err) {
			aw_set_error_from(node, err);
			return false;
		}
		*address += m->offset;
	}
}
