/* Wait reasons and held resources (src/async/wait.c): a pass over a snapshot's await trees, made
 * after the tasks and block_on futures were collected and while the target's memory can still be
 * read. The pass is runtime-neutral: each runtime adapter (include/ai/runtime.h) says what its
 * own leaf futures wait for, which guards its coroutines hold, and adds passes across tasks; a
 * leaf no adapter knows gets kind "unknown" and its type, never a guess. Every field is found by
 * its DWARF member name (node->type_die names the type).
 *
 * What tokio's adapter decodes (src/runtime/tokio/wait_*.c):
 * - Leaves: tokio::time::Sleep (deadline, time left against snapshot->monotonic_ns; under a
 *   Timeout: kind "timeout"), batch_semaphore::Acquire (the semaphore, and the Mutex / RwLock /
 *   Semaphore it belongs to, from the `self` of the enclosing lock()/write()/read()/acquire()
 *   frame; permits available and still wanted), JoinHandle<T> (the awaited task's id and status).
 *   broadcast::Recv (capacity, unseen, senders), watch changed (a Notified on the channel's
 *   notify_rx: versions, closed, senders), I/O (Readiness, tokio::io::util futures: the fd as
 *   std's OwnedFd in the leaf or the saved locals above it, nearest first; on live targets its
 *   /proc link and socket).
 *   Any other leaf gets kind "unknown" and its type: never a guess.
 * - Held: saved locals of the active suspend variant of every coroutine that are MutexGuard,
 *   OwnedMutexGuard, RwLockReadGuard, RwLockWriteGuard, SemaphorePermit, OwnedSemaphorePermit.
 *   rustc keeps moved-out (dropped) guards in suspend variants, so a guard counts only when it is
 *   plausibly live: an exclusive guard (mutex, rwlock write) only if its semaphore has 0 permits
 *   available, and only if no other task also claims it (two claimants of one exclusive lock:
 *   at least one is stale, so neither counts).
 * - task->wait: the leaf wait at the end of the task's await chain when the chain is exclusive
 *   (no join!/select! branching on the way). */
#ifndef AI_WAIT_H
#define AI_WAIT_H

#include "ai/async.h"
#include "ai/snapshot.h"
#include "ai/sockets.h"

void ai_wait_collect(struct ai_async *as, struct ai_snapshot *snapshot);

/* ---- For runtime adapters: the walk, and reading values by DWARF member name ---- */

/* Ancestors kept while walking a tree (the lock frame of an Acquire is a few levels up). */
#define AI_WAIT_MAX_ANCESTORS 64

#define AI_WAIT_LIVE_MEMO 64

struct ai_wait_walk {
	struct ai_async *as;          /* borrowed */
	struct ai_memory *mem;        /* borrowed: the target's memory */
	struct ai_snapshot *snapshot; /* borrowed: being filled */
	/* the coroutines and combinators above the node being looked at, outermost first */
	const struct ai_await_node *ancestors[AI_WAIT_MAX_ANCESTORS];
	size_t depth;
	/* live targets: /proc/PID/net, read on the first I/O wait (ai_wait_sockets) */
	struct ai_socket_table sockets;
	bool sockets_read;
	/* which types can hold an fd at all (src/async/wait_io.c), memoized over the walk */
	void *fd_memo;
	/* ai_wait_live_locals' answer for the last coroutine (type DIE, address) and state struct
	 * asked about (the held ops ask about every node more than once); kept only for up to
	 * AI_WAIT_LIVE_MEMO locals, so that nothing needs freeing */
	const struct ai_type *live_vt;
	uint64_t live_die, live_address;
	bool live_memo[AI_WAIT_LIVE_MEMO];
};

/* A new wait of `kind` (owned by the caller, then by the node). */
struct ai_wait *ai_wait_new(const char *kind);
/* kind "sleep", "timeout" or "interval": deadline (CLOCK_MONOTONIC ns), the time left on a live
 * target, and the description. */
void ai_wait_set_deadline(struct ai_wait_walk *w, struct ai_wait *wait, int64_t deadline);
/* kind "join": the task whose header is at `task` (its id and status when the snapshot lists it),
 * and the description. */
void ai_wait_set_join_target(struct ai_wait_walk *w, struct ai_wait *wait, uint64_t task);
/* "59m58s", "1.250s", "2d3h4m". Owned by the caller. */
char *ai_wait_format_duration(int64_t ns);
/* "tokio::sync::mutex::Mutex<bank::Ledger>" -> "Mutex<bank::Ledger>". Owned by the caller. */
char *ai_wait_short_resource_name(const char *qualified);
const char *ai_wait_plural(uint64_t n);
/* mutex and rwlock_write guards: one holder at a time. */
bool ai_wait_is_exclusive(const char *kind);
/* The leaf at the end of an exclusive chain (one child at every level), or NULL. */
struct ai_await_node *ai_wait_chain_leaf(struct ai_await_node *node);
/* Removes task->held[k]. */
void ai_wait_drop_held(struct ai_snapshot_task *task, size_t k);

/* Types: through typedefs and qualifiers; a member's type; a coroutine's current-state struct
 * (its saved locals and arguments; NULL when t is no coroutine or the state is unknown); the
 * type of a DIE (NULL when unknown); the qualified name. */
const struct ai_type *ai_wait_underlying(const struct ai_type *t);
const struct ai_type *ai_wait_member_type(const struct ai_type *t, const struct ai_member *m);
const struct ai_type *ai_wait_state_struct(const struct ai_type *t, const char *state);
/* Which members of vt (the current state's struct of coroutine node) hold a live value: a new
 * array of vt->member_count flags (to free); a local moved or dropped per its drop flag, or
 * maybe so, is false (ai_await_local_states). */
bool *ai_wait_live_locals(struct ai_wait_walk *w, const struct ai_await_node *node, const struct ai_type *vt);
const struct ai_type *ai_wait_type_of_die(struct ai_wait_walk *w, uint64_t die);
const char *ai_wait_type_name(const struct ai_type *t);
/* "a.b.c" from a struct: the offset of c from the start of the outer value, and c's type. */
bool ai_wait_member_path(const struct ai_type *t, const char *path, uint64_t *offset_ret,
			 const struct ai_type **type_ret);
/* A bounded search for the first nested member named name (through wrappers of any version). */
bool ai_wait_find_nested(const struct ai_type *t, const char *name, unsigned depth, uint64_t *offset_ret,
			 const struct ai_type **type_ret);
/* The integer inside wrappers (AtomicUsize { inner: UnsafeCell { value } }, Nanoseconds(u32)). */
bool ai_wait_int_leaf(const struct ai_type *t, unsigned depth, uint64_t *offset_ret, uint64_t *size_ret);

/* Reads: false when the memory cannot be read or the value is not what it must be. */
bool ai_wait_read_uint(struct ai_wait_walk *w, uint64_t address, uint64_t size, uint64_t *ret);
/* The integer (behind any wrappers) of member path `path` of the value at address. */
bool ai_wait_read_int_path(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, const char *path,
			   uint64_t *ret);
/* The integer of the first member named name nested in t (through Mutex, UnsafeCell...). */
bool ai_wait_read_nested_int(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, const char *name,
			     uint64_t *ret);
/* A pointer member (&T, *const T, NonNull's `pointer`): its value and pointee type. */
bool ai_wait_read_pointer_path(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address,
			       const char *path, uint64_t *ptr_ret, const struct ai_type **pointee_ret);
/* Arc<T> at address: the address of T (ArcInner.data, whose offset DWARF gives) and T's type. */
bool ai_wait_read_arc(struct ai_wait_walk *w, const struct ai_type *arc, uint64_t address, uint64_t *data_ret,
		      const struct ai_type **data_type_ret);
/* The same with the ArcInner: its address and the strong count (0 if unreadable). */
bool ai_wait_read_arc_ex(struct ai_wait_walk *w, const struct ai_type *arc, uint64_t address, uint64_t *data_ret,
			 const struct ai_type **data_type_ret, uint64_t *inner_ret, uint64_t *strong_ret);
/* The Arc inside Some of an Option<Arc<T>> member `path` of the value at address; false for None. */
bool ai_wait_read_option_arc(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, const char *path,
			     uint64_t *data_ret, const struct ai_type **data_type_ret, uint64_t *strong_ret);
/* The pointer at the bottom of wrappers (Pin<Box<T>> = Pin { Box { Unique { NonNull { *const T } } } }). */
bool ai_wait_deref_wrapped(struct ai_wait_walk *w, const struct ai_type *t, uint64_t address, unsigned depth,
			   uint64_t *ptr_ret, const struct ai_type **type_ret);
/* The `self` (or `_ref__self`) of the coroutine node a in its current state, through && too. */
bool ai_wait_node_self(struct ai_wait_walk *w, const struct ai_await_node *a, uint64_t *ptr_ret,
		       const struct ai_type **type_ret);
/* The nearest enclosing coroutine (at most `levels` up) whose `self` has a type starting with one
 * of the NULL-terminated prefixes. */
bool ai_wait_enclosing_self(struct ai_wait_walk *w, const char *const *prefixes, size_t levels,
			    uint64_t *ptr_ret, const struct ai_type **type_ret);

/* ---- I/O waits (src/async/wait_io.c) ---- */

/* What an adapter tells the fd search of its runtime: the prefixes of the types that name the I/O
 * object an fd belongs to ("tokio::net::"; std's are known), and of the types never entered (its
 * reactor, which holds the poller's fd). NULL-terminated lists. */
struct ai_io_rules {
	const char *const *skip;
	const char *const *objects;
};

/* A wait of kind "io" on the fd that the leaf t at address, or else the nearest saved locals above
 * it, hold; direction "read", "write", "read_write", "connection", "connect", "copy" or NULL.
 * On a live target, the fd's /proc link and its socket (addresses, state, peer). */
struct ai_wait *ai_wait_decode_io(struct ai_wait_walk *w, const struct ai_io_rules *rules, const struct ai_type *t,
				  uint64_t address, const char *direction);
/* The fds in the live saved locals of coroutine node, added to task->fds once each, with their
 * /proc link and socket on live targets (the end of a connection a task keeps while it waits on
 * something else: src/analysis/peers.c links a waiter in another process to it). */
void ai_wait_find_fds(struct ai_wait_walk *w, const struct ai_io_rules *rules, struct ai_snapshot_task *task,
		      const struct ai_await_node *node);
/* Frees the walk's memo of the searches (ai_wait_collect, at the end of the walk). */
void ai_wait_fd_memo_free(struct ai_wait_walk *w);
bool ai_wait_name_ends_with(const char *name, const char *suffix);

#endif
