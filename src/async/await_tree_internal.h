/* Private to the await-tree decoder: what await_tree.c (the entry point, the recursion and the
 * small helpers), await_reach.c, await_coroutine.c and await_combinators.c share. */
#ifndef AI_ASYNC_AWAIT_TREE_INTERNAL_H
#define AI_ASYNC_AWAIT_TREE_INTERNAL_H

#include "ai/async.h"

/* Recursion of the decoder itself, whatever max_depth says. */
#define MAX_PATH 256

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

/* (await_tree.c) Decodes the future at address into node: reaches it, then a coroutine, a
 * combinator or a leaf. */
void aw_decode(struct decoder *d, uint64_t address, const struct ai_type *type,
	       struct ai_await_node *node, unsigned depth, const struct view *view);

/* (await_tree.c) Small helpers */
bool aw_starts_with(const char *s, const char *prefix);
const char *aw_type_name(const struct ai_type *type);
void aw_set_error(struct ai_await_node *node, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void aw_set_error_from(struct ai_await_node *node, struct ai_error *err);
/* Reads size bytes at address: from the view if it holds them (*owned_ret NULL), else from the
 * target into a new buffer (*owned_ret, to free). */
struct ai_error *aw_read_bytes(struct decoder *d, const struct view *view, uint64_t address,
			       size_t size, const uint8_t **bytes_ret, uint8_t **owned_ret);
struct ai_error *aw_read_word(struct decoder *d, const struct view *view, uint64_t address,
			      size_t size, uint64_t *ret);
/* A pointer we may follow to a value of `target` (whose alignment we check when known). */
struct ai_error *aw_check_pointer(uint64_t ptr, const struct ai_type *target);
/* A member of a struct, or of the struct of an enum's variant, by name. */
const struct ai_member *aw_find_member_any(const struct ai_type *type, const char *a,
					   const char *b);

/* (await_reach.c) Follows (*address, *type) through what merely holds a future. Returns false
 * (with node->error, or node->state for a finished MaybeDone) if the node ends here. */
bool aw_reach_future(struct decoder *d, uint64_t *address, const struct ai_type **type,
		     const struct view **view, struct ai_await_node *node);

/* (await_coroutine.c) A coroutine: its function, state, suspend point, saved locals and its
 * awaitee as the one child; parent is the view of the coroutine that holds it, if any. */
void aw_decode_coroutine(struct decoder *d, uint64_t address, const struct ai_type *type,
			 struct ai_await_node *node, unsigned depth, const struct view *parent);

/* (await_combinators.c) Fills node's children if type is a combinator we know; false otherwise. */
bool aw_decode_combinator(struct decoder *d, uint64_t address, const struct ai_type *type,
			  struct ai_await_node *node, unsigned depth);

#endif
