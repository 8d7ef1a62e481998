/* The tokio adapter's own entry points (src/runtime/tokio/), for its ops table (adapter.c) and
 * the tests; the rest of the program reaches tokio only through ai_runtime_tokio. */
#ifndef AI_RUNTIME_TOKIO_H
#define AI_RUNTIME_TOKIO_H

#include "ai/async.h"
#include "ai/runtime.h"

extern const struct ai_runtime_ops ai_runtime_tokio;

/* Whether the executable has tokio's runtime (the CONTEXT thread-local): "" (its version is read
 * by the collection), or NULL. (tasks.c) */
char *ai_tokio_detect(struct ai_async *as);

/* Adds every tokio task of every runtime found in the target to the snapshot, with its decoded
 * await tree, status, id and flavor; sets entry's version and instances. A binary without tokio
 * adds nothing and no error; a layout not understood adds a warning. stacks[i] is the unwound
 * stack of target->threads[i] (handles on stack frames, tasks being polled). (tasks.c) */
struct ai_error *ai_tokio_collect(struct ai_async *as, const struct ai_stack *stacks,
				  struct ai_snapshot *snapshot, struct ai_snapshot_runtime *entry);

/* The cross-check and fallback of the list walk (DESIGN.md 5.5): every task header found by
 * scanning writable anonymous memory and the heap for words equal to a known task vtable (the
 * words of the executable's .data.rel.ro that point to a raw::poll<T, S>), validated as the walk
 * validates a task. Sorted, unique, owned by the caller (NULL when none). Completed tasks whose
 * JoinHandle is alive are found too. Bounded: 1 GiB scanned, 4M candidates. (tasks.c) */
struct ai_error *ai_tokio_scan_headers(struct ai_async *as, uint64_t **headers_ret,
				       size_t *count_ret);

#endif
