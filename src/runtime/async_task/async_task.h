/* The async-task adapter's own entry points (src/runtime/async_task/), for its ops table
 * (adapter.c); the rest of the program reaches async-task only through ai_runtime_async_task. */
#ifndef AI_RUNTIME_ASYNC_TASK_H
#define AI_RUNTIME_ASYNC_TASK_H

#include "ai/async.h"
#include "ai/runtime.h"
#include "ai/wait.h"

extern const struct ai_runtime_ops ai_runtime_async_task;

/* Adds every live async-task task (smol, async-executor, async-std) to the snapshot, found by
 * scanning writable memory for task headers that point at a task vtable, each labelled with its
 * executor's crate and decoded from its future. A layout not understood is a warning naming the
 * version, and entry->decoded = false. (tasks.c) */
struct ai_error *ai_async_task_collect(const struct ai_runtime_ops *self, struct ai_async *as, const struct ai_stack *stacks,
				       struct ai_snapshot *snapshot,
				       struct ai_snapshot_runtime *entry);

/* An I/O wait of async-io's readiness futures or of futures-lite's / async-std's read and write
 * futures, or NULL when t is none of them; async-io's I/O objects for the fd search. (wait_io.c) */
struct ai_wait *ai_async_task_io_wait(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address);
extern const struct ai_io_rules ai_async_task_io_rules;

/* What an async-io, async-channel or async-lock leaf waits for, or NULL. (wait.c) */
struct ai_wait *ai_async_task_leaf_wait(struct ai_wait_walk *w, struct ai_await_node *leaf);

/* async-lock's Mutex, RwLock and Semaphore futures: what the one at address (of type t) waits
 * for, or NULL when t is none of them. (wait_locks.c) */
struct ai_wait *ai_async_task_lock_wait(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address);

/* finish: names the tasks whose guards hold the lock each blocked async-lock wait waits for, or
 * says "holder unknown". (wait_locks.c) */
void ai_async_task_finish(struct ai_wait_walk *w, struct ai_snapshot *snapshot);

/* The async-lock guards (MutexGuard[Arc], RwLockReadGuard, RwLockWriteGuard[Arc],
 * SemaphoreGuard[Arc]) a coroutine's saved locals hold while the lock's state confirms them:
 * added to task->held. (wait_locks.c) */
void ai_async_task_held(struct ai_wait_walk *w, struct ai_snapshot_task *task,
			const struct ai_await_node *coroutine);

/* RawTask<F, T, S, M>::run, wake, wake_by_ref and destroy, for `profile` (ops.probe_points).
 * (probes.c) */
void ai_async_task_probe_points(struct ai_async *as, struct ai_probe_point **points, size_t *count,
				size_t *capacity);

/* async-std's SupportTaskLocals<F>, which wraps every future async-std spawns. (async_std.c) */
bool ai_async_std_is_wrapper(const char *type_name);

/* The id and the name (task::Builder::name) of the async-std task whose SupportTaskLocals is at
 * address, into task->id and task->name; left alone when they cannot be read. (async_std.c) */
void ai_async_std_task_locals(struct ai_async *as, uint64_t address, const struct ai_type *wrapper,
			      struct ai_snapshot *snapshot, struct ai_snapshot_task *task);

#endif
