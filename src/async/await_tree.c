
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
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/intern.h"
#include "ai/runtime.h"
#include "ai/dwarf_reader.h"
#include "ai/util.h"
#include "await_tree_internal.h"

/* Bytes read from the target per tree. */
#define MAX_TREE_BYTES (64u << 20)
/* Highest user-space address on x86-64. */
#define MAX_USER_ADDRESS 0x00007fffffffffffULL

/* ---- Small helpers ---- */

bool aw_starts_with(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

const char *aw_type_name(const struct ai_type *type)
{
	const char *name = ai_type_qualified_name(type);
	return name ? name : type->name ? type->name : "?";
}

void aw_set_error(struct ai_await_node *node, const char *fmt, ...)
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

void aw_set_error_from(struct ai_await_node *node, struct ai_error *err)
{
	if (err->code == AI_ERROR_FAULT)
		aw_set_error(node, "cannot read memory at 0x%" PRIx64, err->address);
	else
		aw_set_error(node, "%s", err->message);
	ai_error_destroy(err);
}

/* Reads size bytes at address: from the view if it holds them (*owned_ret NULL), else from the
 * target into a new buffer (*owned_ret, to free). */
struct ai_error *aw_read_bytes(struct decoder *d, const struct view *view, uint64_t address,
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

struct ai_error *aw_read_word(struct decoder *d, const struct view *view, uint64_t address,
			      size_t size, uint64_t *ret)
{
	const uint8_t *bytes;
	uint8_t *owned;
	if (size == 0 || size > 8)
		return ai_error_create(AI_ERROR_UNSUPPORTED, "a %zu-byte word", size);
	struct ai_error *err = aw_read_bytes(d, view, address, size, &bytes, &owned);
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
struct ai_error *aw_check_pointer(uint64_t ptr, const struct ai_type *target)
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
const struct ai_member *aw_find_member_any(const struct ai_type *type, const char *a,
					   const char *b)
{
	const struct ai_member *m = ai_type_find_member(type, a);
	return m || !b ? m : ai_type_find_member(type, b);
}

/* ---- The decoder ---- */

void aw_decode(struct decoder *d, uint64_t address, const struct ai_type *type,
	       struct ai_await_node *node, unsigned depth, const struct view *view)
{
	node->address = address;
	node->type = xstrdup(aw_type_name(type));
	if (d->nodes >= d->as->options.max_nodes) {
		aw_set_error(node, "node limit (%zu) reached", d->as->options.max_nodes);
		return;
	}
	d->nodes++;
	if (depth > d->as->options.max_depth || d->path_len == MAX_PATH) {
		aw_set_error(node, "depth limit (%u) reached", d->as->options.max_depth);
		return;
	}
	bool reached = aw_reach_future(d, &address, &type, &view, node);
	node->address = address;
	free(node->type);
	node->type = xstrdup(aw_type_name(type));
	node->type_die = type->die_offset;
	if (!reached) {
		node->leaf = node->error == NULL;
		return;
	}
	for (size_t i = 0; i < d->path_len; i++) {
		if (d->path[i].address == address && ai_type_equal(d->path[i].type, type)) {
			aw_set_error(node, "cycle");
			return;
		}
	}
	d->path[d->path_len++] = (struct path_entry){ address, type };
	if (ai_type_is_coroutine(type))
		aw_decode_coroutine(d, address, type, node, depth, view);
	else if (!aw_decode_combinator(d, address, type, node, depth))
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
	/* Zero but for the path (4 KiB, once per task; only its first path_len entries are read). */
	struct decoder *d = xmalloc(sizeof(*d));
	memset(d, 0, offsetof(struct decoder, path));
	memset(&d->path_len, 0, sizeof(*d) - offsetof(struct decoder, path_len));
	d->as = as;
	d->mem = as->target->memory;
	aw_decode(d, address, type, node, 0, NULL);
	free(d);
	/* A tree's names repeat in every task of its kind: one copy each (the decoders above
	 * write plain strings, interned once the tree is done). */
	if (!as->names)
		as->names = ai_intern_create();
	ai_await_node_intern(node, as->names);
}
