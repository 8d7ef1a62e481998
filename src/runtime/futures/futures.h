/* The futures adapter's own entry points (src/runtime/futures/), for its ops table (adapter.c). */
#ifndef AI_RUNTIME_FUTURES_H
#define AI_RUNTIME_FUTURES_H

#include "ai/async.h"
#include "ai/runtime.h"

/* What a futures-channel oneshot or mpsc receiver leaf waits for, or NULL. (wait.c) */
struct ai_wait *ai_futures_leaf_wait(struct ai_wait_walk *w, struct ai_await_node *leaf);

/* The futures of every LocalPool found among the threads' stack frame variables, as tasks.
 * (pools.c) */
struct ai_error *ai_futures_collect(const struct ai_runtime_ops *self, struct ai_async *as, const struct ai_stack *stacks,
				    struct ai_snapshot *snapshot, struct ai_snapshot_runtime *entry);

/* The futures of every ThreadPool, found through their wakers, as tasks; *tasks_ret says how
 * many. (thread_pool.c) */
void ai_futures_thread_pool_collect(struct ai_async *as, struct ai_snapshot *snapshot,
				    struct ai_snapshot_runtime *entry, size_t *tasks_ret);

#endif
