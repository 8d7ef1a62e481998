/* The await-tree decoder (DESIGN.md 6): a future at an address, with its DWARF type, becomes a
 * tree of struct ai_await_node.
 *
 * A node is found in two steps. First the future is reached through what only holds it: pointers
 * (Box<T>, &mut T), Pin, `dyn Future` fat pointers (the concrete type named by the vtable), and a
 * few transparent wrappers (MaybeDone::Future, UnsafeCell, AssertUnwindSafe, tokio's Coop, futures'
 * Next...).
 * Then the future is a coroutine (an async fn, block or closure: state, suspend point, saved locals,
 * and its __awaitee as the one child), a combinator we know (join!/select!, Timeout, futures'
 * Join, JoinAll, Select, FuturesUnordered: their branches are the children), or a leaf named by its
 * type. Everything is found by DWARF name, nothing by a fixed offset.
 *
 * Names: a coroutine's `function` is its env type's path with "{X_env#N}" shown as "{X#N}" and an
 * async fn's own "{async_fn_env#N}" / "{async_fn#N}" segments dropped: "shop::checkout",
 * "shop::main::{async_block#0}", "shop::spawn_all::{async_block#1}" (a block inside an async fn),
 * "shop::call::{closure#0}::{async_closure#0}", "shop::wait<i32>" (generic arguments kept). A
 * suspend point whose decl_file is a macro source of tokio (src/macros/NAME.rs) or futures-util
 * (src/async_await/NAME[_mod].rs) sets `macro` to "tokio::NAME!" / "futures::NAME!"; its file and
 * line become the user's invocation when DWARF tells it (macro_site.c), the macro's own go to
 * macro_file / macro_line.
 *
 * Bounds: depth (options.max_depth), nodes (options.max_nodes) and bytes read per tree; a pointer
 * is checked (non-null, canonical, aligned) before it is followed, and a read that faults becomes
 * the node's error. The same future (address and type) met twice on one path is a cycle. */
#include <dwarf.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/runtime.h"
#include "ai/dwarf_reader.h"
#include "ai/util.h"
#include "macro_site.h"

/* Bytes read from the target per tree. */
#define MAX_TREE_BYTES (64u << 20)
/* A coroutine larger than this is read in part: its state, not its locals. */
#define MAX_COROUTINE_BYTES (1u << 20)
/* Pointers and wrappers followed to reach one future. */
#define MAX_HOPS 16
/* Branches of one combinator, and nodes of one FuturesUnordered list. */
#define MAX_BRANCHES 4096
/* Recursion of the decoder itself, whatever max_depth says. */
#define MAX_PATH 256
/* Highest user-space address on x86-64. */
#define MAX_USER_ADDRESS 0x00007fffffffffffULL

struct path_entry {
	uint64_t address;
	const struct ai_type *type;
};

struct decoder {
	struct ai_async *as;
	struct ai_memory *mem;
	size_t nodes;
	uint64_t bytes_read;
	struct path_entry path[MAX_PATH];
	size_t path_len;
	/* The awaitee of the suspend point a macro generated that is being decoded (0: none). */
	uint64_t macro_awaitee;
};

/* Bytes of a value already read (a coroutine's): reads inside it are served from here. */
struct view {
	uint64_t address;
	const uint8_t *bytes;
	size_t size;
};

static void decode(struct decoder *d, uint64_t address, const struct ai_type *type,
		   struct ai_await_node *node, unsigned depth, const struct view *view);

/* ---- Small helpers ---- */

static bool starts_with(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

static const char *type_name(const struct ai_type *type)
{
	const char *name = ai_type_qualified_name(type);
	return name ? name : type->name ? type->name : "?";
}

static void set_error(struct ai_await_node *node, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_error(struct ai_await_node *node, const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	free(node->error);
	node->error = s;
}

static void set_error_from(struct ai_await_node *node, struct ai_error *err)
{
	if (err->code == AI_ERROR_FAULT)
		set_error(node, "cannot read memory at 0x%" PRIx64, err->address);
	else
		set_error(node, "%s", err->message);
	ai_error_destroy(err);
}

/* Reads size bytes at address: from the view if it holds them (*owned_ret NULL), else from the
 * target into a new buffer (*owned_ret, to free). */
static struct ai_error *read_bytes(struct decoder *d, const struct view *view, uint64_t address,
				   size_t size, const uint8_t **bytes_ret, uint8_t **owned_ret)
{
	*owned_ret = NULL;
	if (view && address >= view->address && size <= view->size &&
	    address - view->address <= view->size - size) {
		*bytes_ret = view->bytes + (address - view->address);
		return NULL;
	}
	if (d->bytes_read + size > MAX_TREE_BYTES)
		return ai_error_create(AI_ERROR_OTHER, "read limit (%u MiB) reached",
				       MAX_TREE_BYTES >> 20);
	uint8_t *buf = xmalloc(size ? size : 1);
	struct ai_error *err = ai_memory_read(d->mem, buf, address, size);
	if (err) {
		free(buf);
		return err;
	}
	d->bytes_read += size;
	*bytes_ret = buf;
	*owned_ret = buf;
	return NULL;
}

static struct ai_error *read_word(struct decoder *d, const struct view *view, uint64_t address,
				  size_t size, uint64_t *ret)
{
	const uint8_t *bytes;
	uint8_t *owned;
	if (size == 0 || size > 8)
		return ai_error_create(AI_ERROR_UNSUPPORTED, "a %zu-byte word", size);
	struct ai_error *err = read_bytes(d, view, address, size, &bytes, &owned);
	if (err)
		return err;
	uint64_t v = 0;
	for (size_t i = 0; i < size; i++)
		v |= (uint64_t)bytes[i] << (8 * i);
	free(owned);
	*ret = v;
	return NULL;
}

/* A pointer we may follow to a value of `target` (whose alignment we check when known). */
static struct ai_error *check_pointer(uint64_t ptr, const struct ai_type *target)
{
	if (ptr == 0)
		return ai_error_create(AI_ERROR_OTHER, "null pointer");
	if (ptr > MAX_USER_ADDRESS)
		return ai_error_create(AI_ERROR_OTHER, "bad pointer 0x%" PRIx64, ptr);
	uint64_t align = target && target->alignment ? target->alignment : 1;
	if (align & (align - 1))
		align = 1;
	if (ptr & (align - 1))
		return ai_error_create(AI_ERROR_OTHER, "misaligned pointer 0x%" PRIx64, ptr);
	return NULL;
}

/* A member of a struct, or of the struct of an enum's variant, by name. */
static const struct ai_member *find_member_any(const struct ai_type *type, const char *a,
					       const char *b)
{
	const struct ai_member *m = ai_type_find_member(type, a);
	return m || !b ? m : ai_type_find_member(type, b);
}

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
		if (u->kind != AI_TYPE_STRUCT || !starts_with(type_name(u), "core::pin::Pin<"))
			return NULL;
		const struct ai_member *m = find_member_any(u, "pointer", "__pointer");
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
	struct ai_module *main = ai_debuginfo_main_module(d->as->di);
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
	struct ai_error *err = check_pointer(vtable, NULL);
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
				       vtable, type_name(by_poll), type_name(by_drop));
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
				err = read_word(d, *view, *address, 8, &ptr);
			if (!err)
				err = check_pointer(ptr, target);
			if (err) {
				ai_error_destroy(err);
				return false;
			}
			*address = ptr;
			*type = target;
			*view = NULL;
			continue;
		}
		if (t->kind != AI_TYPE_ENUM || !starts_with(type_name(t), "core::option::Option<"))
			return true;
		const uint8_t *bytes;
		uint8_t *owned;
		const struct ai_variant *variant;
		const struct ai_type *some;
		const struct ai_member *inner;
		struct ai_error *err = read_bytes(d, *view, *address, t->size, &bytes, &owned);
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
	struct ai_error *err = read_word(d, view, address + pm->offset, 8, &ptr);
	if (!err)
		err = read_word(d, view, address + lm->offset, 8, &len);
	if (!err && (len == 0 || len > MAX_LABEL))
		err = ai_error_create(AI_ERROR_OTHER, "a label of %" PRIu64 " bytes", len);
	if (!err)
		err = check_pointer(ptr, NULL);
	if (!err)
		err = read_bytes(d, NULL, ptr, len, &bytes, &owned);
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
	const struct ai_future_label_rule *rule = ai_runtime_future_label(type_name(type));
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
static bool reach_future(struct decoder *d, uint64_t *address, const struct ai_type **type,
			 const struct view **view, struct ai_await_node *node)
{
	for (int hops = 0;; hops++) {
		const struct ai_type *t = *type;
		struct ai_error *err = ai_type_underlying(t, &t);
		if (err) {
			set_error_from(node, err);
			return false;
		}
		*type = t;
		if (hops == MAX_HOPS) {
			set_error(node, "more than %d pointers or wrappers", MAX_HOPS);
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
				set_error_from(node, err);
				return false;
			}
			if (target->kind == AI_TYPE_VOID || target->kind == AI_TYPE_FUNCTION ||
			    target->kind == AI_TYPE_UNIT)
				return true; /* nothing to follow: a leaf */
			err = read_word(d, *view, *address, 8, &ptr);
			if (!err)
				err = check_pointer(ptr, target);
			if (err) {
				set_error_from(node, err);
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
			err = read_word(d, *view, *address + pm->offset, 8, &ptr);
			if (!err)
				err = read_word(d, *view, *address + vm->offset, 8, &vtable);
			if (!err)
				err = vtable_type(d, vtable, &concrete);
			if (!err)
				err = check_pointer(ptr, concrete);
			if (err) {
				set_error_from(node, err);
				return false;
			}
			*address = ptr;
			*type = concrete;
			*view = NULL;
			continue;
		}
		const struct ai_future_shape_rule *shape = ai_runtime_future_shape(type_name(t));
		if (shape && shape->shape == AI_SHAPE_MAYBE_DONE && t->kind == AI_TYPE_ENUM) {
			const uint8_t *bytes;
			uint8_t *owned;
			const struct ai_variant *variant;
			err = read_bytes(d, *view, *address, t->size, &bytes, &owned);
			if (!err) {
				err = ai_type_active_variant(t, bytes, t->size, &variant);
				free(owned);
			}
			if (err) {
				set_error_from(node, err);
				return false;
			}
			const struct ai_type *vt;
			const struct ai_member *inner = NULL;
			if (variant->name && (strcmp(variant->name, "Future") == 0 ||
					      strcmp(variant->name, "Some") == 0 ||
					      (shape->member && strcmp(variant->name, shape->member) == 0)) &&
			    !(err = ai_type_member_underlying(t, &variant->member, &vt)))
				inner = find_member_any(vt, "__0", "future");
			if (err) {
				set_error_from(node, err);
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
				set_error_from(node, err);
				return false;
			}
			*address += inner->offset;
			continue;
		}
		/* A wrapper that holds one future in a member: the node is that future. */
		if (!shape || shape->shape != AI_SHAPE_TRANSPARENT || t->kind != AI_TYPE_STRUCT)
			return true;
		const struct ai_member *m = find_member_any(t, shape->member, shape->alt);
		if (!m)
			return true;
		take_label(d, *view, *address, t, node);
		err = ai_type_member_type(t, m, type);
		if (err) {
			set_error_from(node, err);
			return false;
		}
		*address += m->offset;
	}
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
		/* __awaitee is the child; __0, __1...: compiler temporaries (drop flags). */
		bool generated = !m->name || m->artificial || starts_with(m->name, "__");
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
		local->type = ai_type_short_name(type_name(mt));
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
	if (!body->function || !body->type || body->error || !is_body_block(type_name(type), body->type))
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

static void decode_coroutine(struct decoder *d, uint64_t address, const struct ai_type *type,
			     struct ai_await_node *node, unsigned depth, const struct view *parent)
{
	node->function = function_name(type_name(type));
	if (!type->has_size || !type->has_discr) {
		set_error(node, "%s has no size or state in DWARF", type_name(type));
		return;
	}
	/* Read the value once; a huge one only up to the end of its state. */
	bool partial = type->size > MAX_COROUTINE_BYTES;
	size_t size = partial ? AI_MIN(type->size, type->discr.offset + 8) : type->size;
	if (partial && size > MAX_COROUTINE_BYTES) {
		set_error(node, "state at offset %" PRIu64 " of a %" PRIu64 "-byte coroutine",
			  type->discr.offset, type->size);
		return;
	}
	const uint8_t *bytes;
	uint8_t *owned;
	struct ai_error *err = read_bytes(d, parent, address, size, &bytes, &owned);
	if (err) {
		set_error_from(node, err);
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
		set_error(node, "unknown state %" PRIu64, state);
		free(owned);
		return;
	}
	node->state = xstrdup(variant->name ? variant->name : "?");
	if (variant->decl_file) {
		node->file = xstrdup(variant->decl_file);
		ai_normalize_path(node->file);
		node->line = (int)variant->decl_line;
		node->macro = ai_runtime_macro_name(node->file);
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
		set_error_from(node, err);
		free(owned);
		return;
	}
	/* Unresumed, Returned, Panicked have no __awaitee: no child. */
	const struct ai_member *awaitee = ai_type_find_member(vt, "__awaitee");
	if (awaitee) {
		const struct ai_type *at;
		err = ai_type_member_type(vt, awaitee, &at);
		if (err) {
			set_error_from(node, err);
		} else {
			struct ai_await_node *child = ai_await_node_add_child(node);
			uint64_t outer = d->macro_awaitee;
			d->macro_awaitee = node->macro ? address + awaitee->offset : 0;
			decode(d, address + awaitee->offset, at, child, depth + 1,
			       partial ? NULL : &v);
			d->macro_awaitee = outer;
		}
	}
	if (d->as->options.locals)
		add_locals(d, type, vt, &v, partial, node);
	free(owned);
	adopt_body(type, variant, node);
}

/* ---- Combinators ---- */

/* Adds a child for a branch; false once the tree has its max_nodes (then node says so, and the
 * caller stops rather than add a node per remaining branch). */
static bool add_branch(struct decoder *d, struct ai_await_node *node, uint64_t address,
		       const struct ai_type *type, unsigned depth)
{
	if (d->nodes >= d->as->options.max_nodes) {
		if (!node->error)
			set_error(node, "node limit (%zu) reached", d->as->options.max_nodes);
		return false;
	}
	struct ai_await_node *child = ai_await_node_add_child(node);
	decode(d, address, type, child, depth + 1, NULL);
	return true;
}

/* Each member of a struct (fut1, fut2... or a tuple's __0, __1...) is a branch. */
static void branches_from_members(struct decoder *d, struct ai_await_node *node, uint64_t address,
				  const struct ai_type *type, const char *prefix, unsigned depth,
				  uint64_t disabled)
{
	size_t index = 0;
	for (size_t i = 0; i < type->member_count && index < MAX_BRANCHES; i++) {
		const struct ai_member *m = &type->members[i];
		if (!m->name || !starts_with(m->name, prefix))
			continue;
		const struct ai_type *mt;
		struct ai_error *err = ai_type_member_type(type, m, &mt);
		if (err) {
			set_error_from(node, err);
			return;
		}
		if (index < 64 && (disabled >> index & 1)) {
			/* A finished (or precondition-false) select! branch: not awaited. */
			struct ai_await_node *child = ai_await_node_add_child(node);
			child->address = address + m->offset;
			child->type = xstrdup(type_name(mt));
			child->state = xstrdup("disabled");
			child->leaf = true;
		} else if (!add_branch(d, node, address + m->offset, mt, depth)) {
			return;
		}
		index++;
	}
}

/* Follows pointers from (address, type) to a struct whose name starts with '(' (a tuple). */
static bool reach_tuple(struct decoder *d, uint64_t *address, const struct ai_type **type,
			struct ai_await_node *node)
{
	for (int hops = 0; hops < 4; hops++) {
		const struct ai_type *t;
		struct ai_error *err = ai_type_underlying(*type, &t);
		if (err) {
			set_error_from(node, err);
			return false;
		}
		if (t->kind == AI_TYPE_STRUCT && t->name && t->name[0] == '(') {
			*type = t;
			return true;
		}
		if (t->kind != AI_TYPE_POINTER)
			return false;
		const struct ai_type *target;
		uint64_t ptr;
		err = ai_type_target(t, &target);
		if (!err)
			err = read_word(d, NULL, *address, 8, &ptr);
		if (!err)
			err = check_pointer(ptr, target);
		if (err) {
			set_error_from(node, err);
			return false;
		}
		*address = ptr;
		*type = target;
	}
	return false;
}

static bool all_pointers(const struct ai_type *type)
{
	for (size_t i = 0; i < type->member_count; i++) {
		const struct ai_type *mt;
		struct ai_error *err = ai_type_member_type(type, &type->members[i], &mt);
		bool pointer = !err && mt->kind == AI_TYPE_POINTER;
		ai_error_destroy(err);
		if (!pointer || !type->members[i].name)
			return false;
	}
	return true;
}

/* The type under pointers and Pin wrappers (by type only), or NULL. */
static const struct ai_type *peel_pointers(const struct ai_type *t)
{
	for (int hops = 0; t && hops < 8; hops++) {
		const struct ai_type *u = NULL, *next = NULL;
		if (ai_type_underlying(t, &u) || !u)
			return NULL;
		const struct ai_member *m;
		if (u->kind == AI_TYPE_POINTER) {
			if (ai_type_target(u, &next))
				return NULL;
		} else if (u->kind == AI_TYPE_STRUCT && starts_with(type_name(u), "core::pin::Pin<") &&
			   (m = find_member_any(u, "pointer", "__pointer"))) {
			if (ai_type_member_type(u, m, &next))
				return NULL;
		} else {
			return u;
		}
		t = next;
	}
	return NULL;
}

/* Every member of the closure is (a pointer to) a future of the shape `shape`. */
static bool all_members_shaped(const struct ai_type *closure, enum ai_future_shape shape,
			       const char *prefix)
{
	size_t n = 0;
	for (size_t i = 0; i < closure->member_count; i++) {
		const struct ai_member *m = &closure->members[i];
		const struct ai_type *mt;
		if (!m->name || !starts_with(m->name, prefix))
			continue;
		if (ai_type_member_type(closure, m, &mt))
			return false;
		const struct ai_type *f = peel_pointers(mt);
		const struct ai_future_shape_rule *rule = f ? ai_runtime_future_shape(type_name(f)) : NULL;
		if (!rule || rule->shape != shape)
			return false;
		n++;
	}
	return n > 0;
}

/* futures' join!/try_join!: the closure captures each branch as _fut0, _fut1... (a
 * Pin<&mut MaybeDone<F>>); futures' select!: it captures only the branch futures, by reference
 * (the user's variables, Fuse<F> in the common `.fuse()` + pin_mut! form): taken when every
 * capture is a wrapper future (a transparent shape). A select! of other futures (a bare oneshot
 * Receiver) is not recognised: the PollFn stays a leaf. */
static bool decode_poll_fn_captures(struct decoder *d, uint64_t base, const struct ai_type *closure,
				    struct ai_await_node *node, unsigned depth)
{
	if (all_members_shaped(closure, AI_SHAPE_MAYBE_DONE, "_fut")) {
		branches_from_members(d, node, base, closure, "_fut", depth, 0);
		return true;
	}
	if (all_members_shaped(closure, AI_SHAPE_TRANSPARENT, "") &&
	    closure->member_count <= MAX_BRANCHES) {
		branches_from_members(d, node, base, closure, "", depth, 0);
		return true;
	}
	return false;
}

/* tokio's join!/select!: a PollFn whose closure captures the branch futures (`futures` or
 * `_ref__futures`: a pointer to a tuple) and, for select!, `_ref__disabled` (a bit per finished
 * branch); futures' join! captures one `_futN` per branch (a Pin<&mut MaybeDone<F>>), and
 * futures' select! a pointer to each branch future, named after the user's variable: a closure
 * the awaitee of a macro's suspend point that captures only pointers has them as its branches.
 * Returns false if the closure is not one of those (then the node is a leaf). */
static bool decode_poll_fn(struct decoder *d, uint64_t address, const struct ai_type *type,
			   struct ai_await_node *node, unsigned depth)
{
	const struct ai_member *f = ai_type_find_member(type, "f");
	const struct ai_type *closure;
	if (!f || ai_type_member_underlying(type, f, &closure) != NULL)
		return false;
	uint64_t base = address + f->offset;
	const struct ai_member *futures = find_member_any(closure, "futures", "_ref__futures");
	if (!futures && closure->member_count && closure->members[0].name &&
	    starts_with(closure->members[0].name, "_fut")) {
		branches_from_members(d, node, base, closure, "_fut", depth, 0);
		return true;
	}
	if (!futures && address == d->macro_awaitee && closure->member_count &&
	    all_pointers(closure)) {
		branches_from_members(d, node, base, closure, "", depth, 0);
		return true;
	}
	if (!futures)
		return decode_poll_fn_captures(d, base, closure, node, depth);
	const struct ai_type *tuple;
	struct ai_error *err = ai_type_member_type(closure, futures, &tuple);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	uint64_t tuple_address = base + futures->offset;
	if (!reach_tuple(d, &tuple_address, &tuple, node))
		return node->error != NULL;
	uint64_t disabled = 0;
	const struct ai_member *dm = ai_type_find_member(closure, "_ref__disabled");
	const struct ai_type *dt, *mask_type;
	if (dm && !ai_type_member_underlying(closure, dm, &dt) && dt->kind == AI_TYPE_POINTER &&
	    !ai_type_target(dt, &mask_type) && mask_type->kind == AI_TYPE_INT &&
	    mask_type->size <= 8) {
		uint64_t ptr;
		err = read_word(d, NULL, base + dm->offset, 8, &ptr);
		if (!err)
			err = check_pointer(ptr, NULL);
		if (!err)
			err = read_word(d, NULL, ptr, mask_type->size, &disabled);
		if (err) {
			set_error_from(node, err);
			return true;
		}
	}
	branches_from_members(d, node, tuple_address, tuple, "__", depth, disabled);
	return true;
}

/* The elements of a Box<[T]> / &[T] fat pointer { data_ptr, length }. */
static void branches_from_slice(struct decoder *d, struct ai_await_node *node, uint64_t address,
				const struct ai_type *type, unsigned depth)
{
	const struct ai_member *pm = ai_type_find_member(type, "data_ptr");
	const struct ai_member *lm = ai_type_find_member(type, "length");
	const struct ai_type *pt, *elem;
	uint64_t ptr, len;
	struct ai_error *err = NULL;
	if (!pm || !lm)
		err = ai_error_create(AI_ERROR_UNSUPPORTED, "%s has no data_ptr/length",
				      type_name(type));
	if (!err)
		err = ai_type_member_underlying(type, pm, &pt);
	if (!err && pt->kind != AI_TYPE_POINTER)
		err = ai_error_create(AI_ERROR_UNSUPPORTED, "%s: data_ptr is no pointer",
				      type_name(type));
	if (!err)
		err = ai_type_target(pt, &elem);
	if (!err)
		err = read_word(d, NULL, address + pm->offset, 8, &ptr);
	if (!err)
		err = read_word(d, NULL, address + lm->offset, 8, &len);
	if (!err && len)
		err = check_pointer(ptr, elem);
	if (!err && (!elem->has_size || elem->size == 0))
		err = ai_error_create(AI_ERROR_UNSUPPORTED, "elements of unknown size in %s",
				      type_name(type));
	if (err) {
		set_error_from(node, err);
		return;
	}
	for (uint64_t i = 0; i < len && i < MAX_BRANCHES; i++)
		if (!add_branch(d, node, ptr + i * elem->size, elem, depth))
			return;
	if (len > MAX_BRANCHES)
		set_error(node, "%" PRIu64 " futures, the first %d shown", len, MAX_BRANCHES);
}

/* The first pointer inside a value (AtomicPtr { p: UnsafeCell { value: *mut T } }). */
static bool find_pointer(const struct ai_type *type, uint64_t *offset_ret,
			 const struct ai_type **pointer_ret, int depth)
{
	const struct ai_type *t;
	struct ai_error *err = ai_type_underlying(type, &t);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	if (t->kind == AI_TYPE_POINTER) {
		*pointer_ret = t;
		return true;
	}
	if (t->kind != AI_TYPE_STRUCT || depth > 4)
		return false;
	for (size_t i = 0; i < t->member_count; i++) {
		const struct ai_type *mt;
		uint64_t inner = 0;
		if (ai_type_member_type(t, &t->members[i], &mt) != NULL)
			continue;
		if (find_pointer(mt, &inner, pointer_ret, depth + 1)) {
			*offset_ret += t->members[i].offset + inner;
			return true;
		}
	}
	return false;
}

/* Reads the pointer held (maybe wrapped) in member `name` of the value at address. */
static struct ai_error *member_pointer(struct decoder *d, uint64_t address,
				       const struct ai_type *type, const char *name,
				       uint64_t *ptr_ret, const struct ai_type **target_ret)
{
	const struct ai_member *m = ai_type_find_member(type, name);
	const struct ai_type *mt, *pt;
	uint64_t offset = 0;
	if (!m)
		return ai_error_create(AI_ERROR_UNSUPPORTED, "%s has no member %s",
				       type_name(type), name);
	struct ai_error *err = ai_type_member_type(type, m, &mt);
	if (err)
		return err;
	if (!find_pointer(mt, &offset, &pt, 0))
		return ai_error_create(AI_ERROR_UNSUPPORTED, "%s.%s holds no pointer",
				       type_name(type), name);
	err = ai_type_target(pt, target_ret);
	if (!err)
		err = ai_type_underlying(*target_ret, target_ret);
	if (!err)
		err = read_word(d, NULL, address + m->offset + offset, 8, ptr_ret);
	return err;
}

/* futures' FuturesUnordered: every node of the head_all -> next_all list holds
 * `future: UnsafeCell<Option<F>>`; released nodes hold None and are skipped. */
static void decode_futures_unordered(struct decoder *d, uint64_t address,
				     const struct ai_type *type, struct ai_await_node *node,
				     unsigned depth)
{
	uint64_t task;
	const struct ai_type *task_type;
	struct ai_error *err = member_pointer(d, address, type, "head_all", &task, &task_type);
	if (err) {
		set_error_from(node, err);
		return;
	}
	uint64_t first = task;
	for (size_t n = 0; task && n < MAX_BRANCHES; n++) {
		err = check_pointer(task, task_type);
		const struct ai_member *fm = ai_type_find_member(task_type, "future");
		const struct ai_type *cell, *option;
		if (!err && !fm)
			err = ai_error_create(AI_ERROR_UNSUPPORTED, "%s has no member future",
					      type_name(task_type));
		if (!err)
			err = ai_type_member_type(task_type, fm, &cell);
		uint64_t option_address = task + (fm ? fm->offset : 0);
		if (!err) {
			/* UnsafeCell<Option<F>> -> Option<F> */
			const struct ai_member *vm = ai_type_find_member(cell, "value");
			option = cell;
			if (vm) {
				option_address += vm->offset;
				err = ai_type_member_underlying(cell, vm, &option);
			}
		}
		const uint8_t *bytes = NULL;
		uint8_t *owned = NULL;
		const struct ai_variant *variant = NULL;
		if (!err && option->kind == AI_TYPE_ENUM)
			err = read_bytes(d, NULL, option_address, option->size, &bytes, &owned);
		if (!err && option->kind == AI_TYPE_ENUM)
			err = ai_type_active_variant(option, bytes, option->size, &variant);
		free(owned);
		if (err) {
			set_error_from(node, err);
			return;
		}
		if (variant && variant->name && strcmp(variant->name, "Some") == 0) {
			const struct ai_type *some, *fut;
			const struct ai_member *inner;
			if (!ai_type_member_underlying(option, &variant->member, &some) &&
			    (inner = ai_type_find_member(some, "__0")) &&
			    !ai_type_member_type(some, inner, &fut) &&
			    !add_branch(d, node, option_address + inner->offset, fut, depth))
				return;
		}
		const struct ai_type *next_type;
		err = member_pointer(d, task, task_type, "next_all", &task, &next_type);
		if (err) {
			set_error_from(node, err);
			return;
		}
		if (task == first)
			break;
		/* A node being linked in points at the queue's stub: the list ends there. */
		if (task && check_pointer(task, task_type) != NULL)
			break;
	}
}

/* Fills node's children if type is a combinator we know; false otherwise. */
static bool decode_combinator(struct decoder *d, uint64_t address, const struct ai_type *type,
			      struct ai_await_node *node, unsigned depth)
{
	if (type->kind != AI_TYPE_STRUCT && type->kind != AI_TYPE_ENUM)
		return false;
	const struct ai_future_shape_rule *shape = ai_runtime_future_shape(type_name(type));
	if (!shape)
		return false;
	switch (shape->shape) {
	case AI_SHAPE_TRANSPARENT:
	case AI_SHAPE_MAYBE_DONE:
		return false; /* (followed by reach()) */
	case AI_SHAPE_MEMBERS: {
		const char *const parts[] = { shape->member, shape->alt };
		for (size_t i = 0; i < AI_ARRAY_SIZE(parts); i++) {
			const struct ai_member *m = parts[i] ? ai_type_find_member(type, parts[i]) : NULL;
			const struct ai_type *mt;
			if (m && !ai_type_member_type(type, m, &mt))
				add_branch(d, node, address + m->offset, mt, depth);
		}
		return node->child_count > 0;
	}
	case AI_SHAPE_POLL_FN:
		return decode_poll_fn(d, address, type, node, depth);
	case AI_SHAPE_MEMBER_PREFIX:
		branches_from_members(d, node, address, type, shape->member, depth, 0);
		return true;
	case AI_SHAPE_OPTION_TUPLE: {
		/* inner: Option<(A, B)>; None once it has finished. */
		const struct ai_member *m = ai_type_find_member(type, shape->member);
		const struct ai_type *option, *some, *tuple;
		const uint8_t *bytes;
		uint8_t *owned;
		const struct ai_variant *variant;
		if (!m || ai_type_member_underlying(type, m, &option) || option->kind != AI_TYPE_ENUM)
			return false;
		struct ai_error *err = read_bytes(d, NULL, address + m->offset, option->size,
						  &bytes, &owned);
		if (!err) {
			err = ai_type_active_variant(option, bytes, option->size, &variant);
			free(owned);
		}
		if (err) {
			set_error_from(node, err);
			return true;
		}
		const struct ai_member *inner;
		if (variant->name && strcmp(variant->name, "Some") == 0 &&
		    !ai_type_member_underlying(option, &variant->member, &some) &&
		    (inner = ai_type_find_member(some, "__0")) &&
		    !ai_type_member_underlying(some, inner, &tuple))
			branches_from_members(d, node, address + m->offset + inner->offset, tuple,
					      "__", depth, 0);
		return true;
	}
	case AI_SHAPE_JOIN_ALL: {
		/* kind: Small { elems: Pin<Box<[MaybeDone<F>]>> } or Big { fut: Collect<..> } */
		const struct ai_member *km = ai_type_find_member(type, "kind");
		const struct ai_type *kind, *vt, *mt;
		const uint8_t *bytes;
		uint8_t *owned;
		const struct ai_variant *variant;
		if (!km || ai_type_member_underlying(type, km, &kind) || kind->kind != AI_TYPE_ENUM)
			return false;
		uint64_t kind_address = address + km->offset;
		struct ai_error *err = read_bytes(d, NULL, kind_address, kind->size, &bytes, &owned);
		if (!err) {
			err = ai_type_active_variant(kind, bytes, kind->size, &variant);
			free(owned);
		}
		if (!err)
			err = ai_type_member_underlying(kind, &variant->member, &vt);
		if (err) {
			set_error_from(node, err);
			return true;
		}
		const struct ai_member *elems = ai_type_find_member(vt, "elems");
		const struct ai_member *fut = ai_type_find_member(vt, "fut");
		if (elems && !ai_type_member_underlying(vt, elems, &mt)) {
			/* Pin<Box<[T]>>: the Pin holds the fat pointer. */
			uint64_t at = kind_address + elems->offset;
			const struct ai_member *pm;
			while (starts_with(type_name(mt), "core::pin::Pin<") &&
			       (pm = find_member_any(mt, "pointer", "__pointer")) &&
			       !ai_type_member_underlying(mt, pm, &mt))
				at += pm->offset;
			branches_from_slice(d, node, at, mt, depth);
		} else if (fut && !ai_type_member_type(vt, fut, &mt)) {
			add_branch(d, node, kind_address + fut->offset, mt, depth);
		}
		return true;
	}
	case AI_SHAPE_FUTURES_UNORDERED:
		decode_futures_unordered(d, address, type, node, depth);
		return true;
	}
	return false;
}

/* ---- The decoder ---- */

static void decode(struct decoder *d, uint64_t address, const struct ai_type *type,
		   struct ai_await_node *node, unsigned depth, const struct view *view)
{
	node->address = address;
	node->type = xstrdup(type_name(type));
	if (d->nodes >= d->as->options.max_nodes) {
		set_error(node, "node limit (%zu) reached", d->as->options.max_nodes);
		return;
	}
	d->nodes++;
	if (depth > d->as->options.max_depth || d->path_len == MAX_PATH) {
		set_error(node, "depth limit (%u) reached", d->as->options.max_depth);
		return;
	}
	bool reached = reach_future(d, &address, &type, &view, node);
	node->address = address;
	free(node->type);
	node->type = xstrdup(type_name(type));
	node->type_die = type->die_offset;
	if (!reached) {
		node->leaf = node->error == NULL;
		return;
	}
	for (size_t i = 0; i < d->path_len; i++) {
		if (d->path[i].address == address && ai_type_equal(d->path[i].type, type)) {
			set_error(node, "cycle");
			return;
		}
	}
	d->path[d->path_len++] = (struct path_entry){ address, type };
	if (ai_type_is_coroutine(type))
		decode_coroutine(d, address, type, node, depth, view);
	else if (!decode_combinator(d, address, type, node, depth))
		node->leaf = true;
	d->path_len--;
}

void ai_await_decode(struct ai_async *as, uint64_t address, const struct ai_type *type,
		     struct ai_await_node *node)
{
	if (!type) {
		node->address = address;
		node->error = xstrdup("no type for this future");
		return;
	}
	struct decoder *d = xcalloc(1, sizeof(*d));
	d->as = as;
	d->mem = as->target->memory;
	decode(d, address, type, node, 0, NULL);
	free(d);
}
