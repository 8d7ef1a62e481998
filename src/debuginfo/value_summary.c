/* The --decoders type summaries applied by the value printer (include/ai/summaries.h,
 * docs/decoders/README.md): a struct shows only the member paths its summary lists, an enum only
 * those of its active variant; a path goes through nested structs and, where a name is not a
 * member, through what points to the value: &T, Box<T> and raw pointers (the pointee is read),
 * NonNull / Unique (one member `pointer`), newtypes (`__0`), Arc and Rc (to ArcInner's `data`,
 * RcInner's `value`). */
#include <inttypes.h>
#include <stdio.h>
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

/* Follows path (path_len bytes) from the value of type *t in *at to the member it names; false
 * after printing why not (`<no member x>`, `<null>`, a read error). */
static bool walk_path(struct printer *p, const struct ai_type **t, struct view *at, const char *path, size_t path_len,
		      struct fetched *f)
{
	const char *end = path + path_len;
	for (const char *name = path; name;) {
		const char *dot = memchr(name, '.', (size_t)(end - name));
		size_t len = dot ? (size_t)(dot - name) : (size_t)(end - name);
		const struct ai_member *m;
		int hops = 0;
		size_t before = p->out.len;
		while (!(m = member_named(*t, name, len)) && hops++ < MAX_HOPS && look_through(p, t, at, f))
			;
		if (!m) {
			if (p->out.len == before) /* (else look_through said why: `<null>`, a read error) */
				vp_out_printf(&p->out, "<no member %.*s>", (int)len, name);
			return false;
		}
		if (!step_member(p, t, at, m))
			return false;
		name = dot ? dot + 1 : NULL;
	}
	return true;
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
	bool ok = walk_path(p, &t, &at, path, strlen(path), &f);
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

/* What a computed member's paths are read from: the value the summary prints. */
struct expr_source {
	struct printer *p;
	const struct ai_type *type;
	const struct view *view;
	struct fetched fetched; /* pointees read on the way, freed after the expression */
};

/* The integer inside wrappers (AtomicUsize { v: UnsafeCell { value } }, a newtype) of type t. */
static bool int_leaf(const struct ai_type *t, uint64_t *offset_ret, const struct ai_type **leaf_ret)
{
	uint64_t offset = 0;
	for (int hops = 0; t && hops < MAX_HOPS; hops++) {
		if (t->kind == AI_TYPE_INT || t->kind == AI_TYPE_BOOL || t->kind == AI_TYPE_CHAR) {
			*offset_ret = offset;
			*leaf_ret = t;
			return t->size >= 1 && t->size <= 8;
		}
		const struct ai_member *first = NULL;
		for (size_t i = 0; t->kind == AI_TYPE_STRUCT && i < t->member_count && !first; i++) {
			const struct ai_type *mt = vp_resolve_quiet(t, &t->members[i].type);
			if (mt && (!mt->has_size || mt->size > 0))
				first = &t->members[i];
		}
		if (!first)
			return false;
		offset += first->offset;
		t = vp_resolve_quiet(t, &first->type);
	}
	return false;
}

static bool read_expr_path(void *ctx, const char *path, size_t len, int64_t *ret, char **why_ret)
{
	struct expr_source *src = ctx;
	struct printer *p = src->p;
	const struct ai_type *t = src->type;
	struct view at = *src->view;
	size_t mark = p->out.len;
	bool ok = walk_path(p, &t, &at, path, len, &src->fetched);
	if (!ok) {
		/* why, taken back out of the text: the expression's error is printed in its place */
		*why_ret = xstrndup(p->out.buf + mark, p->out.len - mark);
		p->out.len = mark;
		if (p->out.buf)
			p->out.buf[mark] = '\0';
		return false;
	}
	uint64_t offset;
	const struct ai_type *leaf;
	if (!int_leaf(t, &offset, &leaf)) {
		*why_ret = xasprintf("%.*s is not an integer", (int)len, path);
		return false;
	}
	if (offset + leaf->size > at.size) {
		*why_ret = xasprintf("%.*s is not readable", (int)len, path);
		return false;
	}
	uint64_t v = vp_load_uint(at.bytes + offset, leaf->size);
	if (leaf->is_signed && leaf->size < 8 && (v >> (leaf->size * 8 - 1)) & 1)
		v |= ~0ULL << (leaf->size * 8); /* sign-extended */
	*ret = (int64_t)v;
	return true;
}

/* Prints `name: N` of a computed member: expr over the value of type t in v. */
static void print_computed(struct printer *p, const struct ai_type *t, const struct view *v, const char *name,
			   const char *expr)
{
	vp_js_begin(p, NULL, NULL);
	vp_js_field_string(p, "name", name, strlen(name));
	vp_js_key(p, "value");
	vp_out_str(&p->out, name);
	vp_out_str(&p->out, ": ");
	struct expr_source src = { .p = p, .type = t, .view = v };
	struct ai_summary_expr_reader reader = { read_expr_path, &src };
	int64_t value;
	char *why;
	if (ai_summary_expr_eval(expr, &reader, &value, &why)) {
		char number[24];
		snprintf(number, sizeof(number), "%" PRId64, value);
		vp_out_str(&p->out, number);
		vp_js_begin(p, "int", NULL);
		vp_js_field_raw(p, "value", number);
		vp_js_end(p);
	} else {
		/* (a walk's own words are already `<null>`, `<no member x>`) */
		vp_out_printf(&p->out, why && why[0] == '<' ? "%s" : "<%s>", why ? why : "not readable");
		vp_js_error(p, NULL, why ? why : "not readable");
	}
	free(why);
	fetched_free(&src.fetched);
	vp_js_end(p);
}

/* `Label { a: 1, b.c: 2, .. }` of the paths of the value of type t in v (label NULL: t's name;
 * else the variant of the enum `whole`). */
static void print_paths(struct printer *p, const char *label, const struct ai_type *whole, const struct ai_type *t,
			const struct view *v, char *const *paths, char *const *exprs, size_t count, unsigned depth)
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
		if (exprs && exprs[i])
			print_computed(p, t, v, paths[i], exprs[i]);
		else
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
		print_paths(p, NULL, NULL, type, v, summary->paths, summary->exprs, summary->path_count, depth);
		return true;
	}
	const struct ai_variant *variant;
	struct ai_error *err = ai_type_active_variant(type, v->bytes, v->size, &variant);
	if (err) {
		ai_error_destroy(err);
		return false; /* (print_enum says why) */
	}
	char *const *paths = summary->paths, *const *exprs = summary->exprs;
	size_t count = summary->path_count;
	bool listed = paths != NULL;
	for (size_t i = 0; !listed && i < summary->variant_count; i++) {
		if (variant->name && strcmp(summary->variants[i].name, variant->name) == 0) {
			paths = summary->variants[i].paths;
			exprs = summary->variants[i].exprs;
			count = summary->variants[i].path_count;
			listed = true;
		}
	}
	const struct ai_type *vt = listed ? vp_resolve_quiet(type, &variant->member.type) : NULL;
	if (!vt)
		return false;
	/* The variant struct's member offsets count from the start of the enum: its view is the
	 * enum's own bytes. */
	print_paths(p, variant->name ? variant->name : "?", type, vt, v, paths, exprs, count, depth);
	return true;
}
