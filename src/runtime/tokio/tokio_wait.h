/* The tokio adapter's waits (src/runtime/tokio/wait_*.c, unpolled.c): what its leaf futures wait
 * for, the guards its coroutines hold, and the passes across tasks (include/ai/wait.h). Private
 * to the folder. */
#ifndef AI_RUNTIME_TOKIO_WAIT_H
#define AI_RUNTIME_TOKIO_WAIT_H

#include "ai/wait.h"

/* The ops of the adapter (adapter.c). */
struct ai_wait *tk_leaf_wait(struct ai_wait_walk *w, struct ai_await_node *node);
void tk_find_guards(struct ai_wait_walk *w, struct ai_snapshot_task *task, const struct ai_await_node *node);
void tk_wait_finish(struct ai_wait_walk *w, struct ai_snapshot *snapshot);

/* Timers (wait_timers.c) */
struct ai_wait *tk_decode_sleep(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address);
struct ai_wait *tk_decode_interval(struct ai_wait_walk *w);
bool tk_sleep_deadline(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, int64_t *ns_ret);

/* Locks (wait_locks.c) */
/* "mutex", "rwlock" or "semaphore" for a lock type, with the offset of its batch semaphore. */
const char *tk_lock_kind(const struct ai_type *t, uint64_t *sem_offset_ret);
bool tk_enclosing_lock(struct ai_wait_walk *w, uint64_t sem, uint64_t *address_ret, const struct ai_type **type_ret,
		       const char **kind_ret, const char **access_ret);
bool tk_semaphore_available(struct ai_wait_walk *w, uint64_t sem, const struct ai_type *sem_type, uint64_t *ret);
struct ai_wait *tk_decode_acquire(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address);
void tk_rwlock_addresses(struct ai_wait_walk *w, struct ai_snapshot *snapshot);
/* finish: a reader queued behind writers in line says "behind the writer Task N ..." (the
 * wait-for graph links them the same way: ai_wait_bars_reader). (wait_locks.c) */
void tk_rwlock_queue(struct ai_snapshot *snapshot);

/* Channels (wait_channels.c) */
extern const char *const TK_MPSC_SENDERS[];
/* An mpsc chan::Chan<T, S> at chan: senders alive, capacity and messages queued into wait's
 * has_* fields; *sem_ret the bounded channel's batch semaphore, or 0. */
void tk_chan_figures(struct ai_wait_walk *w, const struct ai_type *chan_t, uint64_t chan, struct ai_wait *wait,
		     uint64_t *sem_ret);
bool tk_decode_mpsc_send(struct ai_wait_walk *w, struct ai_wait *wait, uint64_t sem);
struct ai_wait *tk_decode_mpsc_recv(struct ai_wait_walk *w);
struct ai_wait *tk_decode_oneshot(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address);
struct ai_wait *tk_decode_notified(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address);
struct ai_wait *tk_decode_broadcast(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address);
struct ai_wait *tk_decode_watch(struct ai_wait_walk *w, uint64_t notify);
void tk_channel_warning(struct ai_wait_walk *w, struct ai_snapshot_task *task);

/* Summaries of tokio's sync types for the value printer (values.c): the adapter's value_summary. */
bool tk_value_summary(struct ai_memory *mem, const struct ai_type *type, uint64_t address, char **text_ret,
		      const char **inner_ret);

/* I/O (wait_io.c) */
const char *tk_io_util_direction(const char *name);
const char *tk_readiness_direction(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address);
const char *tk_registration_direction(struct ai_wait_walk *w);
/* tokio's I/O objects and the types that hold no fd of the program, for ai_wait_decode_io */
extern const struct ai_io_rules tk_io_rules;

/* Join (wait_leaf.c): the task header a JoinHandle at address points to. */
bool tk_join_target(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, uint64_t *header_ret);

/* JoinSet (wait_join_set.c): the set of the join_next frame above the leaf, with its tasks; and
 * each of those tasks labelled with its set (task->set_address), once every wait is known. */
struct ai_wait *tk_decode_join_set(struct ai_wait_walk *w);
void tk_join_set_members(struct ai_snapshot *snapshot);

/* Lock futures nobody polls, Senders saved in tasks (unpolled.c) */
void tk_scan_saved(struct ai_wait_walk *w, struct ai_snapshot *snapshot);

#endif
