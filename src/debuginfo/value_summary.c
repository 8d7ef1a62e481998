/* The --decoders type summaries applied by the value printer (include/ai/summaries.h,
 * docs/decoders/README.md): a struct shows only the member paths its summary lists, an enum only
 * those of its active variant; a path goes through nested structs and, where a name is not a
 * member, through what points to the value: &T, Box<T> and raw pointers (the pointee is read),
 * NonNull / Unique (one member `pointer`), newtypes (`__0`), Arc and Rc (to ArcInner's `data`,
 * RcInner's `value`). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/summaries.h"
#include "ai/util.h"
#include "value_internal.h"

#define MAX_HOPS 8     /* looked through per path segment */
#define MAX_FETCHED 16 /* pointees read for one path */

/* The pointees read on the way along one path, freed when its value is printed. */
struct fetched {
	uint8_t *bytes[MAX_FETCHED];
	size_t count;
};

static void fetched_free(struct fetched *f)
{
	for (size_t i = 0; i < f->count; i++)
		free(f->bytes[i]);
	f->count = 0;
}

static const struct ai_member *member_named(const struct ai_type *t, const char *name, size_t len)
{
	for (size_t k = 0; t && k < t->member_count; k++)
		if (t->members[k].name && strlen(t->members[k].name) == len && strncmp(t->members[k].name, name, len) == 0)
			return &t->members[k];
	return NULL;
}

static bool step_member(struct printer *p, const struct ai_type **t, struct view *at, const struct ai_member *m)
{
	const struct ai_type *mt = vp_resolve_quiet(*t, &m->type);
	struct view mv;
	if (!mt || !vp_sub_view(p, at, m->offset, mt->size, &mv))
		return false;
	*t = mt;
	*at = mv;
	return true;
}

/* One step towards the value that *t leads to; false when there is nothing to look through or
 * it cannot be read (then printed, as `<null>` or the read error). */
static bool look_through(struct printer *p, const struct ai_type **t, struct view *at, struct fetched *f)
{
	const struct ai_type *u = *t;
	const char *name = ai_type_qualified_name(u);
	if (u->kind == AI_TYPE_POINTER) {
		const struct ai_type *target = vp_resolve_quiet(u, &u->target);
		if (!target || !target->has_size || target->kind == AI_TYPE_VOID || f->count == MAX_FETCHED)
			return false;
		uint64_t address = vp_load_uint(at->bytes, AI_MIN(u->size, at->size));
		if (!address) {
			vp_out_str(&p->out, "<null>");
			return false;
		}
		uint8_t *bytes = vp_fetch(p, address, target->size);
		if (!bytes)
			return false;
		f->bytes[f->count++] = bytes;
		*t = target;
		*at = (struct view){ bytes, address, target->size };
		return true;
	}
	if (u->kind != AI_TYPE_STRUCT)
		return false;
	const char *inner = NULL;
	if (vp_starts_with(name, "alloc::sync::Arc<") || vp_starts_with(name, "alloc::rc::Rc<"))
		inner = "ptr";
	else if (vp_starts_with(name, "alloc::sync::ArcInner<"))
		inner = "data";
	else if (vp_starts_with(name, "alloc::rc::RcInner<") || vp_starts_with(name, "alloc::rc::RcBox<"))
		inner = "value";
	else if (u->member_count == 1 && u->members[0].name &&
		 (strcmp(u->members[0].name, "pointer") == 0 || strcmp(u->members[0].name, "__0") == 0))
		inner = u->members[0].name;
	const struct ai_member *m = inner ? member_named(u, inner, strlen(inner)) : NULL;
	return m && step_member(p, t, at, m);
}

/* Prints `path: value` of the value of type t in v (the path from it). */
static void print_path(struct printer *p, const struct ai_type *t, const struct view *v, const char *path,
		       unsigned depth)
{
	vp_js_begin(p, NULL, NULL);
	vp_js_field_string(p, "name", path, strlen(path));
	vp_js_key(p, "value");
	vp_out_str(&p->out, path);
	vp_out_str(&p->out, ": ");
	size_t text_start = p->out.len;
	struct view at = *v;
	struct fetched f = { .count = 0 };
	bool ok = true;
	for (const char *name = path; ok && name;) {
		const char *dot = strchr(name, '.');
		size_t len = dot ? (size_t)(dot - name) : strlen(name);
		const struct ai_member *m;
		int hops = 0;
		size_t before = p->out.len;
		while (!(m = member_named(t, name, len)) && hops++ < MAX_HOPS && look_through(p, &t, &at, &f))
			;
		if (!m) {
			if (p->out.len == before) /* (else look_through said why: `<null>`, a read error) */
				vp_out_printf(&p->out, "<no member %.*s>", (int)len, name);
			ok = false;
			break;
		}
		ok = step_member(p, &t, &at, m);
		name = dot ? dot + 1 : NULL;
	}
	if (ok) {
		vp_print_value(p, t, &at, depth + 1);
	} else {
		/* Structured: what the text says in its place (`<no member x>`, `<null>`, a read error). */
		char *why = xstrndup(p->out.buf + text_start, p->out.len - text_start);
		vp_js_error(p, NULL, *why ? why : "not readable");
		free(why);
	}
	vp_js_end(p);
	fetched_free(&f);
}

/* `Label { a: 1, b.c: 2, .. }` of the paths of the value of type t in v (label NULL: t's name;
 * else the variant of the enum `whole`). */
static void print_paths(struct printer *p, const char *label, const struct ai_type *whole, const struct ai_type *t,
			const struct view *v, char *const *paths, size_t count, unsigned depth)
{
	/* Structured: a struct (an enum's variant) of the members it names; `partial`: it has others. */
	vp_js_begin(p, label ? "enum" : "struct", label ? whole : t);
	if (label)
		vp_js_field_string(p, "variant", label, strlen(label));
	vp_js_field_bool(p, "partial", true);
	vp_js_begin_array(p, "fields");
	if (label)
		vp_out_str(&p->out, label);
	else
		vp_print_type_name(p, t);
	if (depth >= p->limits.max_depth) {
		vp_js_end_array(p);
		vp_js_field_bool(p, "truncated", true);
		vp_js_end(p);
		vp_out_str(&p->out, " {..}");
		return;
	}
	vp_out_str(&p->out, " { ");
	for (size_t i = 0; i < count && !p->out.full; i++) {
		if (i)
			vp_out_str(&p->out, ", ");
		print_path(p, t, v, paths[i], depth);
	}
	vp_js_end_array(p);
	vp_js_end(p);
	vp_out_str(&p->out, count ? ", .. }" : ".. }");
}

bool vp_print_summary(struct printer *p, const struct ai_type *type, const struct view *v, unsigned depth)
{
	const struct ai_summary *summary = ai_summary_find(ai_type_qualified_name(type));
	if (!summary)
		return false;
	if (type->kind != AI_TYPE_ENUM) {
		if (!summary->paths)
			return false; /* (variants, for a type that is no enum: printed whole) */
		print_paths(p, NULL, NULL, type, v, summary->paths, summary->path_count, depth);
		return true;
	}
	const struct ai_variant *variant;
	struct ai_error *err = ai_type_active_variant(type, v->bytes, v->size, &variant);
	if (err) {
		ai_error_destroy(err);
		return false; /* (print_enum says why) */
	}
	char *const *paths = summary->paths;
	size_t count = summary->path_count;
	bool listed = paths != NULL;
	for (size_t i = 0; !listed && i < summary->variant_count; i++) {
		if (variant->name && strcmp(summary->variants[i].name, variant->name) == 0) {
			paths = summary->variants[i].paths;
			count = summary->variants[i].path_count;
			listed = true;
		}
	}
	const struct ai_type *vt = listed ? vp_resolve_quiet(type, &variant->member.type) : NULL;
	if (!vt)
		return false;
	/* The variant struct's member offsets count from the start of the enum: its view is the
	 * enum's own bytes. */
	print_paths(p, variant->name ? variant->name : "?", type, vt, v, paths, count, depth);
	return true;
}
