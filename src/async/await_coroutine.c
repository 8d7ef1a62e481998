/* The await-tree decoder's coroutines (async fns, blocks and closures): their names, state,
 * suspend point, saved locals and awaitee. See await_tree.c. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/runtime.h"
#include "ai/dwarf_reader.h"
#include "ai/util.h"
#include "macro_site.h"
#include "await_tree_internal.h"

/* A coroutine larger than this is read in part: its state, not its locals. */
#define MAX_COROUTINE_BYTES (1u << 20)

/* ---- Names ---- */

/* A compiler-generated env segment "{async_block_env#0}...": *kind_ret "async_block" (not
 * NUL-terminated, *kind_len_ret long), *rest_ret the "#0}..." that follows. */
static bool env_segment(const char *seg, size_t len, const char **kind_ret, size_t *kind_len_ret,
			const char **rest_ret)
{
	if (len < 8 || seg[0] != '{')
		return false;
	const char *env = strstr(seg, "_env#");
	if (!env || env > seg + len)
		return false;
	*kind_ret = seg + 1;
	*kind_len_ret = (size_t)(env - (seg + 1));
	*rest_ret = env + 4; /* "#0}..." */
	return true;
}

/* Splits a path at top-level "::" (not inside <...>, (...), [...], {...}). Returns the segment
 * count, which may exceed max (then only the first max are stored). */
static size_t split_path(const char *name, const char **starts, size_t *lens, size_t max)
{
	size_t n = 0, depth = 0;
	const char *start = name;
	for (const char *p = name;; p++) {
		if (*p == '\0' || (depth == 0 && p[0] == ':' && p[1] == ':')) {
			if (n < max) {
				starts[n] = start;
				lens[n] = (size_t)(p - start);
			}
			n++;
			if (*p == '\0')
				break;
			p++;
			start = p + 1;
		} else if (strchr("<([{", *p)) {
			depth++;
		} else if (strchr(">)]}", *p) && depth > 0) {
			depth--;
		}
	}
	return n;
}

/* The function path of a coroutine type, for people: "nested::level1::{async_fn_env#0}" ->
 * "nested::level1"; "a::main::{async_block_env#0}" -> "a::main::{async_block#0}"; an async fn's
 * own body segment "{async_fn#0}" is dropped inside paths ("a::f::{async_fn#0}::{closure#0}" ->
 * "a::f::{closure#0}"); generic arguments of an async fn move to its name
 * ("a::g::{async_fn_env#0}<i32>" -> "a::g<i32>"). */
static char *function_name(const char *qualified)
{
	const char *starts[64];
	size_t lens[64];
	size_t n = split_path(qualified, starts, lens, AI_ARRAY_SIZE(starts));
	if (n > AI_ARRAY_SIZE(starts))
		return xstrdup(qualified);
	size_t cap = strlen(qualified) + 16, len = 0;
	char *out = xmalloc(cap);
	out[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		const char *seg = starts[i];
		size_t seg_len = lens[i];
		const char *kind, *rest;
		size_t kind_len;
		/* "{async_fn#N}": the body of the fn named by the previous segment. */
		if (seg_len >= 11 && strncmp(seg, "{async_fn#", 10) == 0 && seg[seg_len - 1] == '}')
			continue;
		if (env_segment(seg, seg_len, &kind, &kind_len, &rest)) {
			const char *close = memchr(rest, '}', (size_t)(seg + seg_len - rest));
			if (!close)
				goto plain;
			if (kind_len == 8 && strncmp(kind, "async_fn", 8) == 0) {
				/* Its generic arguments, if any, go to the fn's name. */
				size_t tail = (size_t)(seg + seg_len - (close + 1));
				memcpy(out + len, close + 1, tail);
				len += tail;
				out[len] = '\0';
				continue;
			}
			if (len)
				len += (size_t)sprintf(out + len, "::");
			len += (size_t)sprintf(out + len, "{%.*s%.*s", (int)kind_len, kind,
					       (int)(seg + seg_len - rest), rest);
			continue;
		}
plain:
		if (len)
			len += (size_t)sprintf(out + len, "::");
		memcpy(out + len, seg, seg_len);
		len += seg_len;
		out[len] = '\0';
	}
	return out;
}

/* ---- Coroutines ---- */

/* True if some node of the subtree (not counting `node` itself) lies in [lo, hi). */
static bool subtree_within(const struct ai_await_node *node, uint64_t lo, uint64_t hi, int depth)
{
	if (depth > 64)
		return false;
	for (size_t i = 0; i < node->child_count; i++) {
		const struct ai_await_node *c = &node->children[i];
		if ((c->address >= lo && c->address < hi) || subtree_within(c, lo, hi, depth + 1))
			return true;
	}
	return false;
}

static void add_locals(struct decoder *d, const struct ai_type *type, const struct ai_type *vt,
		       const struct view *v, bool partial, struct ai_await_node *node)
{
	enum ai_local_state *states = xcalloc(vt->member_count ? vt->member_count : 1,
					      sizeof(*states));
	ai_await_local_states(d->as, type, vt, v->address, v->bytes, v->size, states);
	for (size_t i = 0; i < vt->member_count; i++) {
		const struct ai_member *m = &vt->members[i];
		/* __awaitee is the child; __0, __1...: compiler temporaries (drop flags); a macro's own
		 * variables (select!'s `disabled`) when this point is in a macro. */
		bool generated = !m->name || m->artificial || aw_starts_with(m->name, "__") ||
				 (node->macro_file && ai_macro_site_declares(d->as, type, m->name, m->offset));
		if (!m->name || (generated && !d->as->options.all_locals))
			continue;
		/* rustc lists an argument twice: at the same offset (once as the argument, once as
		 * its binding), or as the upvar and the saved local: show the saved one, once. */
		bool duplicate = false;
		for (size_t j = 0; j < vt->member_count && !duplicate; j++) {
			const struct ai_member *o = &vt->members[j];
			if (j == i || !o->name || strcmp(o->name, m->name) != 0)
				continue;
			duplicate = o->offset == m->offset ? j < i : ai_coroutine_unresumed_has(type, m);
		}
		if (duplicate)
			continue;
		const struct ai_type *mt;
		struct ai_error *err = ai_type_member_type(vt, m, &mt);
		if (err) {
			ai_error_destroy(err);
			continue;
		}
		/* A local that holds a future shown in the tree (join!'s branches, a pin!-ned
		 * future) would only repeat it. */
		if (!d->as->options.all_locals && mt->has_size &&
		    subtree_within(node, v->address + m->offset, v->address + m->offset + mt->size, 0))
			continue;
		struct ai_snapshot_local *local = ai_await_node_add_local(node);
		local->name = xstrdup(m->name);
		char *made;
		const char *short_name = ai_type_short_name_of(mt, &made);
		local->type = made ? made : xstrdup(short_name ? short_name : "?");
		local->generated = generated;
		local->state = states[i];
		if (states[i] != AI_LOCAL_LIVE) {
			/* Its slot holds what was there before: never shown as a value. */
		} else if (partial) {
			local->value = ai_value_format(d->mem, mt, v->address + m->offset,
						       &d->as->options.value_limits);
		} else {
			size_t avail = m->offset < v->size ? v->size - m->offset : 0;
			local->value = ai_value_format_bytes(d->mem, mt, v->address + m->offset,
							     v->bytes + m->offset, avail,
							     &d->as->options.value_limits);
		}
	}
	free(states);
}

/* Every suspend point of the coroutine in source order, and where the current one stands among
 * them (include/ai/snapshot.h). A point is in the function's own file when its decl_file is the
 * one of the Unresumed state (the fn's start); otherwise (join!, select!) its line is unknown. */
struct await_point {
	int line;
	size_t suspend; /* N of SuspendN: evaluation order breaks ties on one line */
};

static int compare_await_points(const void *a, const void *b)
{
	const struct await_point *x = a, *y = b;
	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->suspend < y->suspend ? -1 : x->suspend > y->suspend;
}

/* Paths as DWARF spells them, compared normalized. */
static bool same_file(const char *normalized, const char *dwarf_path)
{
	char *b = xstrdup(dwarf_path);
	ai_normalize_path(b);
	bool same = strcmp(normalized, b) == 0;
	free(b);
	return same;
}

static bool suspend_number(const char *name, size_t *ret)
{
	if (!name || strncmp(name, "Suspend", 7) != 0 || name[7] < '0' || name[7] > '9')
		return false;
	char *end;
	unsigned long n = strtoul(name + 7, &end, 10);
	if (*end)
		return false;
	*ret = n;
	return true;
}

static void set_await_points(struct ai_async *as, struct ai_await_node *node,
			     const struct ai_type *type, const struct ai_variant *current)
{
	const struct ai_variant *start = ai_type_find_variant(type, "Unresumed");
	const char *own_file = start ? start->decl_file : NULL;
	size_t count = 0, n;
	for (size_t i = 0; i < type->variant_count; i++)
		count += suspend_number(type->variants[i].name, &n);
	if (!count)
		return;
	struct await_point *points = xcalloc(count, sizeof(*points));
	size_t k = 0;
	for (size_t i = 0; i < type->variant_count; i++) {
		const struct ai_variant *v = &type->variants[i];
		if (!suspend_number(v->name, &n))
			continue;
		char *macro = ai_runtime_macro_name(v->decl_file);
		bool own = v->decl_file && !macro &&
			   (!own_file || strcmp(v->decl_file, own_file) == 0);
		points[k].line = own ? (int)v->decl_line : 0;
		const char *file;
		int line;
		/* A macro's point counts at its invocation, when that is in the fn's file. */
		if (macro && own_file && ai_macro_site_find(as, type, v, &file, &line) &&
		    same_file(file, own_file))
			points[k].line = line;
		free(macro);
		points[k].suspend = n;
		k++;
	}
	qsort(points, count, sizeof(*points), compare_await_points);
	size_t current_n;
	bool suspended = suspend_number(current->name, &current_n);
	node->await_count = count;
	node->await_lines = xcalloc(count, sizeof(*node->await_lines));
	for (size_t i = 0; i < count; i++) {
		node->await_lines[i] = points[i].line;
		if (suspended && points[i].suspend == current_n && points[i].line > 0)
			node->await_index = i + 1;
	}
	free(points);
}

/* Whether `body` is an async block written directly in the body of async fn `fn`
 * ("a::f::{async_fn_env#0}" and "a::f::{async_fn#0}::{async_block_env#1}", DWARF's nesting of
 * the block's type in the fn's). */
static bool is_body_block(const char *fn, const char *body)
{
	const char *fs[64], *bs[64];
	size_t fl[64], bl[64];
	size_t fn_count = split_path(fn, fs, fl, AI_ARRAY_SIZE(fs));
	size_t body_count = split_path(body, bs, bl, AI_ARRAY_SIZE(bs));
	if (fn_count < 2 || fn_count > AI_ARRAY_SIZE(fs) || body_count != fn_count + 1)
		return false;
	const char *env = fs[fn_count - 1];
	size_t env_len = fl[fn_count - 1];
	const char *kind, *rest;
	size_t kind_len;
	if (!env_segment(env, env_len, &kind, &kind_len, &rest) || kind_len != 8 ||
	    strncmp(kind, "async_fn", 8) != 0)
		return false;
	for (size_t i = 0; i + 1 < fn_count; i++)
		if (fl[i] != bl[i] || strncmp(fs[i], bs[i], fl[i]) != 0)
			return false;
	/* "{async_fn#0}" for "{async_fn_env#0}" (generic arguments may follow either) */
	const char *close = memchr(rest, '}', (size_t)(env + env_len - rest));
	const char *own = bs[fn_count - 1];
	size_t own_len = bl[fn_count - 1];
	size_t number = close ? (size_t)(close + 1 - rest) : 0; /* "#0}" */
	if (!close || own_len < 9 + number || strncmp(own, "{async_fn", 9) != 0 ||
	    strncmp(own + 9, rest, number) != 0)
		return false;
	return strncmp(bs[fn_count], "{async_block_env#", 17) == 0;
}

/* An async fn parked on an async block of its own body at a line not after its body's start
 * (Unresumed's line: the .await was generated at the signature) is what #[tracing::instrument]
 * makes of an async fn: `async fn f() { let span = ..; async move { BODY }.instrument(span).await }`
 * (the .await at the fn's line, BODY's lines after it). The block is the real frame: the node
 * becomes the block (state, line, locals, children, span, type for the wait pass) under the fn's
 * name. */
static void adopt_body(const struct ai_type *type, const struct ai_variant *variant,
		       struct ai_await_node *node)
{
	const struct ai_variant *start = ai_type_find_variant(type, "Unresumed");
	if (node->child_count != 1 || !variant->decl_line || !start || !start->decl_file ||
	    !variant->decl_file || strcmp(start->decl_file, variant->decl_file) != 0 ||
	    variant->decl_line > start->decl_line)
		return;
	struct ai_await_node *body = &node->children[0];
	if (!body->function || !body->type || body->error || !is_body_block(aw_type_name(type), body->type))
		return;
	char *function = node->function;
	char *span = node->span;
	struct ai_await_node adopted = *body;
	node->function = NULL;
	node->span = NULL;
	memset(body, 0, sizeof(*body));
	node->child_count = 0;
	ai_await_node_deinit(node);
	*node = adopted;
	free(node->function);
	node->function = function;
	if (!node->span)
		node->span = span;
	else
		free(span);
}

void aw_decode_coroutine(struct decoder *d, uint64_t address, const struct ai_type *type,
			 struct ai_await_node *node, unsigned depth, const struct view *parent)
{
	node->function = function_name(aw_type_name(type));
	if (!type->has_size || !type->has_discr) {
		aw_set_error(node, "%s has no size or state in DWARF", aw_type_name(type));
		return;
	}
	/* Read the value once; a huge one only up to the end of its state. */
	bool partial = type->size > MAX_COROUTINE_BYTES;
	size_t size = partial ? AI_MIN(type->size, type->discr.offset + 8) : type->size;
	if (partial && size > MAX_COROUTINE_BYTES) {
		aw_set_error(node, "state at offset %" PRIu64 " of a %" PRIu64 "-byte coroutine",
			     type->discr.offset, type->size);
		return;
	}
	const uint8_t *bytes;
	uint8_t *owned;
	struct ai_error *err = aw_read_bytes(d, parent, address, size, &bytes, &owned);
	if (err) {
		aw_set_error_from(node, err);
		return;
	}
	struct view v = { address, bytes, size };
	const struct ai_variant *variant;
	err = ai_type_active_variant(type, bytes, size, &variant);
	if (err) {
		uint64_t state = 0;
		struct ai_error *e2 = ai_type_read_discriminant(type, bytes, size, &state);
		ai_error_destroy(e2);
		ai_error_destroy(err);
		aw_set_error(node, "unknown state %" PRIu64, state);
		free(owned);
		return;
	}
	node->state = xstrdup(variant->name ? variant->name : "?");
	if (variant->decl_file) {
		node->file = xstrdup(variant->decl_file);
		ai_normalize_path(node->file);
		node->line = (int)variant->decl_line;
		node->macro = ai_runtime_macro_name_at(node->file, node->line);
		const char *file;
		int line;
		if (node->macro && ai_macro_site_find(d->as, type, variant, &file, &line)) {
			/* the user's line first; the macro's own location as detail */
			node->macro_file = node->file;
			node->macro_line = node->line;
			node->file = xstrdup(file);
			node->line = line;
		}
		node->dependency = ai_user_code_is_dependency(d->as->user_code, node->file);
	}
	set_await_points(d->as, node, type, variant);
	const struct ai_type *vt;
	err = ai_type_member_underlying(type, &variant->member, &vt);
	if (err) {
		aw_set_error_from(node, err);
		free(owned);
		return;
	}
	/* Unresumed, Returned, Panicked have no __awaitee: no child. */
	const struct ai_member *awaitee = ai_type_find_member(vt, "__awaitee");
	if (awaitee) {
		const struct ai_type *at;
		err = ai_type_member_type(vt, awaitee, &at);
		if (err) {
			aw_set_error_from(node, err);
		} else {
			struct ai_await_node *child = ai_await_node_add_child(node);
			uint64_t outer = d->macro_awaitee;
			d->macro_awaitee = node->macro ? address + awaitee->offset : 0;
			aw_decode(d, address + awaitee->offset, at, child, depth + 1,
				  partial ? NULL : &v);
			d->macro_awaitee = outer;
		}
	}
	if (d->as->options.locals)
		add_locals(d, type, vt, &v, partial, node);
	free(owned);
	adopt_body(type, variant, node);
}
