/* Where the user invoked the macro that generated a suspend point (private to src/async). */
#ifndef AI_ASYNC_MACRO_SITE_H
#define AI_ASYNC_MACRO_SITE_H

#include "ai/async.h"

/* The user's file and line of variant (a SuspendN of coroutine type) whose DWARF decl_file is a
 * macro's source: false when DWARF does not tell. *file_ret is borrowed from the cache (normalized
 * path). Computed once per coroutine type, for all its suspend points. */
bool ai_macro_site_find(struct ai_async *as, const struct ai_type *type,
			const struct ai_variant *variant, const char **file_ret, int *line_ret);

/* True if the saved local `name` at `offset` of coroutine type is a variable that a macro of one
 * of its suspend points declared itself (select!'s `disabled`), at the user's invocation line. */
bool ai_macro_site_declares(struct ai_async *as, const struct ai_type *type, const char *name, uint64_t offset);

void ai_macro_sites_destroy(struct ai_macro_sites *sites);

#endif
