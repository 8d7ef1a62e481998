/* Declarative runtimes: a runtime adapter described by a data file (docs/decoders/runtime.md).
 * load.c reads and checks the file; collect.c is the adapter every such file shares (detect and
 * collect read their decoder from ops->data). Everything in the target is found by the DWARF
 * names the file gives, never by offset. */
#ifndef AI_DECLARATIVE_H
#define AI_DECLARATIVE_H

#include "ai/runtime.h"

#define DECL_FORMAT "async-inspect-runtime"
#define DECL_VERSION 1

enum decl_container {
	DECL_VEC,   /* a std Vec<T> */
	DECL_SLICE, /* &[T], Box<[T]>: data_ptr and length */
	DECL_ARRAY, /* [T; N] */
	DECL_LIST,  /* a singly linked list: the head points to the first node, `next` to the next */
};

struct decl_state_value {
	char *key;    /* an enumerator's or variant's name, or an integer / bool in decimal */
	char *status; /* "scheduled", "running", "idle", "completed" ("done" in the file) */
};

/* The wait kinds a decoder file can give the runtime's leaf futures (waits[].kind). */
enum decl_wait_kind {
	DECL_WAIT_SLEEP,        /* deadline: a std Instant (or duration: a std Duration) */
	DECL_WAIT_CHANNEL_RECV, /* channel; senders: from the channel, the count of live senders */
	DECL_WAIT_CHANNEL_SEND, /* channel; receivers: from the channel, the count of live receivers */
	DECL_WAIT_MUTEX,        /* lock: the lock (the key the guards of `guards` name too); locked */
	DECL_WAIT_JOIN,         /* task: the awaited task (a pointer to what the task list holds) */
	DECL_WAIT_IO,           /* fd: an integer fd, or (absent) std's OwnedFd searched for; direction */
	DECL_WAIT_RWLOCK_READ,  /* lock; writer, readers: integers of the lock (decl_int) */
	DECL_WAIT_RWLOCK_WRITE, /* the same, for a write */
	DECL_WAIT_RWLOCK_UPGRADABLE_READ, /* lock; locked: the writer mutex's state, non-zero while a
					   * writer or an upgradable reader holds it (decl_int) */
	DECL_WAIT_RWLOCK_UPGRADE, /* lock; readers: the readers left, which an upgrade waits for */
	DECL_WAIT_SEMAPHORE,    /* semaphore; permits: its available permits (decl_int) */
};

/* Whether a wait kind is on a lock or semaphore, whose holders the finish pass names. */
static inline bool ai_decl_wait_is_lock(enum decl_wait_kind kind)
{
	return kind == DECL_WAIT_MUTEX || kind == DECL_WAIT_RWLOCK_READ || kind == DECL_WAIT_RWLOCK_WRITE ||
	       kind == DECL_WAIT_RWLOCK_UPGRADABLE_READ || kind == DECL_WAIT_RWLOCK_UPGRADE ||
	       kind == DECL_WAIT_SEMAPHORE;
}

/* An integer of a lock's state: (the integer at member, from the lock) & mask >> shift. */
struct decl_int {
	char *member;   /* NULL: not given */
	uint64_t mask;  /* all ones unless given */
	unsigned shift;
};

/* waits[i]: a leaf future type of the runtime and where its wait's details are. Member paths
 * (looked through as the task's are); NULL when not given. */
struct decl_wait {
	size_t index;    /* i, for messages: "waits[2].lock" */
	char *type;      /* a qualified name as DWARF names it; also its generic instances; or NULL */
	char *function;  /* or: the leaf is awaited in this async fn (its coroutine as the await tree
			  * names it, `async_rwlock::{impl#3}::write`), whose saved locals the paths
			  * start from */
	enum decl_wait_kind kind;
	char *path;      /* deadline / duration / channel / lock / task / fd, by kind */
	const char *key; /* which of those the file gave: "deadline", "duration", "channel"... */
	char *count;     /* the second path: channels' senders / receivers count, from the channel;
			  * a mutex's `locked` (non-zero while held), from the lock */
	char *direction; /* io: "read", "write", "read_write" or NULL */
	struct decl_int ints[2]; /* rwlock: writer, readers; upgradable read: locked; upgrade:
				  * readers; semaphore: permits */
};

/* guards[i]: a type whose live value in a coroutine's saved locals holds a lock (the wait-for graph
 * links a waiter on that lock to its holder). */
struct decl_guard {
	size_t index;
	char *type;
	const char *kind; /* the held entry's: "mutex", "rwlock_read", "rwlock_write",
			   * "rwlock_upgradable", "semaphore" */
	char *lock;      /* member path from the guard to the lock */
	char *locked;    /* member path from the lock to an integer or bool, non-zero while held, or NULL */
};

struct decl_runtime {
	struct ai_runtime_ops ops; /* .name is `runtime`, .data this */
	char *file;                /* the decoder file, for messages */
	char *runtime;
	/* detect: one of symbol and type; crate (its source directory) for the version */
	char *detect_symbol, *detect_type, *crate;
	/* tasks: the static or the thread-local (one of them), the member path to the container
	 * (NULL: the static, or the thread-local's value, is it) */
	char *tasks_static, *tasks_thread_local;
	char *tasks_path;
	enum decl_container container;
	char *next;                /* DECL_LIST: the member path from a node to the next */
	char *element;             /* the member path from an element to the task, or NULL */
	/* per task: member paths, NULL when not given (future is required) */
	char *future, *id, *name, *state;
	struct decl_state_value *values;
	size_t value_count;
	struct decl_wait *waits;
	size_t wait_count;
	struct decl_guard *guards;
	size_t guard_count;
};

/* wait.c: the ops of a file with waits or guards */
struct ai_wait *ai_decl_leaf_wait(struct ai_wait_walk *w, struct ai_await_node *leaf);
void ai_decl_held(struct ai_wait_walk *w, struct ai_snapshot_task *task, const struct ai_await_node *node);
void ai_decl_finish(struct ai_wait_walk *w, struct ai_snapshot *snapshot);

/* A value in the target: its type and address. */
struct decl_place {
	const struct ai_type *type;
	uint64_t address;
};

/* collect.c */
char *ai_decl_detect(const struct ai_runtime_ops *self, struct ai_async *as);
struct ai_error *ai_decl_collect(const struct ai_runtime_ops *self, struct ai_async *as,
				 const struct ai_stack *stacks, struct ai_snapshot *snapshot,
				 struct ai_snapshot_runtime *entry);
/* Follows a member path from p, looking through pointers (&T, *T, Box<T>), one-pointer wrappers
 * (NonNull, Unique, a newtype `__0`) and Option's Some where a name is not a member: NULL, or why
 * not (owned: "tinyexec::Sleep has no member when"). */
char *ai_decl_walk(struct ai_async *as, struct decl_place *p, const char *path);
/* Looks through pointers and wrappers to the value itself: NULL, or why not (owned; "None", "a
 * null ..." at the end of a list). */
char *ai_decl_deref(struct ai_async *as, struct decl_place *p);
/* An integer, bool or C-like enum (or a newtype of one) at p. */
bool ai_decl_read_uint(struct ai_async *as, struct decl_place p, uint64_t *ret);

#endif
