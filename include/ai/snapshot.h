/* A snapshot: an immutable capture of what a target was doing at one moment, as plain data that
 * owns all its strings. Frontends and analyses see only this, never the target or its DWARF. */
#ifndef AI_SNAPSHOT_H
#define AI_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ai_snapshot_frame {
	uint64_t pc;
	uint64_t cfa;
	char *function; /* Rust path as in DWARF, or the ELF symbol, or NULL when unknown */
	char *file;     /* source file, or NULL */
	int line;       /* 0 when unknown */
	char *module;   /* the ELF file the pc lies in, or NULL */
	bool inlined;   /* a frame of an inlined call inside the next physical frame */
};

struct ai_snapshot_thread {
	pid_t tid;
	char *name;
	char state; /* scheduler state letter before the stop ('R', 'S', ...), '?' if unknown */
	struct ai_snapshot_frame *frames;
	size_t frame_count, frame_capacity;
	char *stack_error; /* why the stack ends early, or NULL */
};

/* Whether a saved local holds a value (src/async/liveness.c). rustc keeps the slot of a local that
 * may be live at a suspend point, so a local moved (or never assigned) on the path taken holds
 * stale bytes: only AI_LOCAL_LIVE locals have a value. */
enum ai_local_state {
	AI_LOCAL_LIVE = 0,     /* initialised: `value` is its value */
	AI_LOCAL_MOVED,        /* its drop flag says moved or dropped */
	AI_LOCAL_MAYBE_MOVED,  /* some drop flag says moved, and which local it guards is unknown */
	AI_LOCAL_UNINIT,       /* assigned only after this suspend point */
};

/* "live", "moved", "maybe_moved", "uninit" (the JSON spelling); NULL if out of range. */
const char *ai_local_state_name(enum ai_local_state state);
/* The state of that JSON name; false if it is none. */
bool ai_local_state_parse(const char *name, enum ai_local_state *ret);

/* A saved local or argument of an await frame, printed in Rust syntax. */
struct ai_snapshot_local {
	char *name;
	char *type;  /* short type name, e.g. "Vec<u32>" */
	char *value; /* e.g. "[1, 2, 3]"; "<unreadable 0x...>" parts where memory could not be read;
		      * NULL unless state is AI_LOCAL_LIVE. value and structured are shared strings
		      * (ai/util.h: ai_shared_unref), one print for the locals of many tasks */
	char *structured; /* the same value as compact JSON (docs/json-format.md, "Structured
			   * values"), from the same walk; NULL when not asked for
			   * (ai_value_limits.structured) or not live */
	enum ai_local_state state;
	bool generated; /* compiler-generated (--all-locals only): __awaitee, a drop flag __N, a
			 * local declared inside a macro */
};

/* What a local shows people: its value, or "<moved>", "<maybe moved>", "<uninit>". */
const char *ai_local_text(const struct ai_snapshot_local *local);

/* One task of a set a wait is on (kind "join_set": tokio's JoinSet). */
struct ai_wait_member {
	uint64_t address;    /* the task's header */
	bool has_id;
	uint64_t id;
	char *status;        /* the task's status; NULL when it is not listed (finished) */
	bool notified;       /* in the set's notified list: woken, the next to be joined */
};

/* Why a future waits (src/async/wait.c): on a leaf node, and a copy on its task. */
struct ai_wait {
	char *kind;         /* "sleep", "timeout", "interval", "mutex", "rwlock", "semaphore", "join",
			     * "oneshot", "mpsc_recv", "mpsc_send", "notify", "broadcast", "watch",
			     * "io", "pending", "unknown" */
	char *description;  /* for people: "sleep, 59m58s left", "Mutex<bank::Ledger> @ 0x..." */
	char *resource_type; /* locks: "Mutex<bank::Ledger>", "Semaphore"...; join: "JoinHandle<u64>" */
	uint64_t address;    /* locks: the Mutex / RwLock / Semaphore; join: the awaited task's header */
	uint64_t semaphore;  /* locks: the batch semaphore inside it (the key of the wait-for graph) */
	/* timers */
	bool has_deadline;
	int64_t deadline_ns;   /* CLOCK_MONOTONIC of the target */
	bool has_remaining;    /* live targets only */
	int64_t remaining_ns;  /* deadline - now (negative: overdue) */
	/* locks */
	bool has_permits;
	uint64_t permits_available;
	uint64_t permits_wanted;   /* still needed by this waiter (0: granted, not yet polled) */
	bool queued;               /* in the semaphore's wait list */
	uint64_t place_in_line;    /* queued: 1-based place in that list, 1 served next; 0 unknown */
	/* join */
	bool has_target_id;
	uint64_t target_task_id;
	char *target_status;       /* the awaited task's status, NULL if not found */
	/* rwlock: "read", "write", "upgradable_read" or "upgrade"; NULL otherwise or when unknown */
	char *access;
	/* rwlock write / upgrade waits: the waiter already keeps new readers out (async-lock: it set
	 * the writer bit; tokio: it is queued in the fair semaphore), so a queued reader waits for it */
	bool bars_readers;
	/* channels (address: the shared channel state, oneshot::Inner or mpsc chan::Chan) */
	bool has_sender_alive;     /* oneshot */
	bool sender_alive;
	bool has_senders;          /* mpsc: live Senders (the channel's tx_count) */
	uint64_t senders_alive;
	uint64_t senders_own;      /* of those, saved locals of the waiting task itself */
	bool has_messages;         /* mpsc: messages queued (bounded: slots taken, incl. reserved) */
	uint64_t messages_queued;
	bool has_capacity;         /* bounded mpsc */
	uint64_t capacity;
	bool has_receiver_alive;   /* mpsc_send */
	bool receiver_alive;
	char *warning;             /* conditional evidence of a wait that cannot end, or NULL */
	/* broadcast (address: the channel's Shared; capacity, senders_alive above) */
	bool has_unseen;
	uint64_t unseen;           /* messages sent that this receiver has not seen (tail.pos - next) */
	/* watch (address: the channel's Shared; senders_alive above where the version counts them) */
	bool has_version;
	uint64_t version;          /* sends since the channel was made (tokio's Version / 2) */
	uint64_t seen_version;     /* the version this receiver has seen */
	bool has_closed;
	bool closed;               /* broadcast, watch: every Sender is gone */
	/* io: the fd of the socket / pipe / file, and (live targets) what /proc says of it */
	bool has_fd;
	int fd;
	char *direction;           /* "read", "write", "read_write", "connection" (accept), or NULL */
	char *fd_target;           /* the /proc/PID/fd link: "socket:[123]", "pipe:[45]", a path */
	char *socket_kind;         /* "TCP", "TCP6", "UDP", "UDP6", "unix" */
	char *local_address;       /* "127.0.0.1:8080"; unix: the path, or NULL */
	char *peer_address;        /* inet sockets that have one */
	char *socket_state;        /* "ESTABLISHED", "LISTEN", ... */
	uint64_t socket_inode;     /* the socket's inode; 0 when not known */
	uint64_t peer_inode;       /* unix: the socket at the other end (sock_diag); 0 when not known */
	/* several processes (dump --pid A --pid B, merge): the task at the socket's other end */
	struct ai_peer *peer;      /* owned, or NULL */
	/* join_set (address: the set): its tasks, when the set's lists were read whole */
	bool has_members;
	struct ai_wait_member *members; /* owned */
	size_t member_count;
};

/* The other end of a socket a task waits on, found in another inspected process or dump file
 * (src/analysis/peers.c: the 4-tuple of TCP sockets, the peer inode of unix ones). */
struct ai_peer {
	pid_t pid;
	char *command;       /* that process's command name, or NULL */
	char *host;          /* that process's host when the set spans hosts (merge), else NULL */
	char *address;       /* the other end's own address ("127.0.0.1:8080"), or NULL */
	int fd;              /* its fd in that process, -1 when unknown */
	bool has_task;       /* a task of that process holds it or waits on it */
	bool outside;        /* that process is not inspected: /proc shows it holds the other end */
	bool has_task_id;
	uint64_t task_id;    /* that task's runtime id, when has_task_id */
	char *task_future;   /* its root future ("server::handle_conn"), or NULL */
	size_t process;      /* (analyses) index into the set of snapshots */
	size_t task;         /* (analyses) index into that snapshot's tasks, when has_task */
	char *summary;       /* for people: "pid 2311 (server) task 17 server::handle_conn, which
			      * waits on Mutex<u64> @ 0x... held by task 4" */
};

/* A lock or permit a task holds: a guard saved in one of its coroutines. */
struct ai_held {
	char *kind;          /* "mutex", "rwlock_read", "rwlock_write", "semaphore"; and the Senders
			      * of channels some task receives on: "mpsc_sender", "oneshot_sender"
			      * (address: the channel, semaphore 0) */
	char *guard_type;    /* "MutexGuard<Ledger>", "Sender<u32>" */
	char *local;         /* the saved local's name */
	char *function;      /* the coroutine that holds it */
	char *file;          /* its suspend point */
	int line;
	uint64_t address;    /* the Mutex / RwLock / Semaphore */
	uint64_t semaphore;  /* the batch semaphore inside it */
	char *resource_type; /* "Mutex<bank::Ledger>" when known */
};

/* A file descriptor a coroutine of a task keeps in a live saved local (a TcpStream, a pipe...): the
 * end of a connection a task owns even while it waits on something else. Live targets only have
 * its /proc link and socket. */
struct ai_task_fd {
	int fd;
	char *local;         /* the saved local it was found in */
	char *function;      /* the coroutine that saves it */
	char *target;        /* the /proc/PID/fd link ("socket:[123]"), or NULL */
	char *socket_kind;   /* "TCP", "TCP6", "unix"..., or NULL */
	char *local_address;
	char *peer_address;
	char *socket_state;
	uint64_t socket_inode, peer_inode; /* as in struct ai_wait */
};

/* A future a task keeps alive but does not poll (a saved local, not on its await tree) that holds
 * a lock's permit or queues for it: a batch_semaphore::Acquire found by value, through Pin/Box, or
 * inside a nested coroutine's variant. Only the ones granted, or queued ahead of a waiter of
 * that lock, are recorded (src/async/wait.c). */
struct ai_unpolled {
	char *local;         /* the saved local it lives in (outermost), e.g. "fut" */
	char *future_type;   /* that local's type, short: "lock::{async_fn_env#0}<u32>" */
	char *function;      /* the coroutine whose variant saves the local */
	char *file;          /* that coroutine's suspend point */
	int line;
	uint64_t acquire;    /* the Acquire's address */
	char *kind;          /* "mutex", "rwlock", "semaphore" (of the lock), or "semaphore" */
	char *resource_type; /* "Mutex<u32>" when known */
	uint64_t address;    /* the lock (or the semaphore when the lock is not known) */
	uint64_t semaphore;  /* its batch semaphore */
	bool granted;        /* holds its permits: granted, not yet polled */
	uint64_t permits_wanted;
};

/* One edge of a deadlock cycle: task `from` waits for `resource`, held (or, for a join, being
 * run) by task `to`. Tasks are indexes into snapshot->tasks. */
struct ai_deadlock_edge {
	size_t from, to;
	const struct ai_wait *wait; /* borrowed: the waiting task's wait */
	const struct ai_held *held; /* borrowed: the holder's guard (a channel: the Sender held);
				     * NULL for a join or a futurelock */
	/* (futurelock) */
	const struct ai_unpolled *unpolled; /* borrowed: the future of `to` that was granted the lock
					     * `from` waits for (or queues ahead of it); else NULL */
};

struct ai_deadlock {
	size_t *tasks;       /* indexes into snapshot->tasks, in cycle order */
	struct ai_deadlock_edge *edges; /* edges[i] goes from tasks[i] to tasks[(i+1) % count] */
	size_t count;
	/* (futurelock) */
	bool futurelock;     /* an edge of the cycle is a lock granted to a future nobody polls */
};

/* One node of an await tree: a coroutine (async fn or block) parked at a suspend point, a
 * combinator (join!, select!, Timeout...) whose children are its branches, or a leaf future. */
struct ai_await_node {
	char *function; /* async fn or block path, e.g. "shop::place_order" or
			 * "shop::main::{async_block#0}"; NULL for nodes that are not coroutines */
	char *type;     /* the future's full type name */
	char *state;    /* coroutines: "Suspend0", "Unresumed", "Returned", "Panicked"; else NULL */
	char *file;     /* suspend point (the .await) of a coroutine; NULL if unknown. For a point
			 * a macro generated, the line of the macro's invocation in the user's file
			 * (or the macro's own source when that line is not known) */
	int line;
	bool dependency; /* file is a dependency's or the standard library's source, not the
			  * program's own (from the DWARF: ai/user_code.h) */
	char *macro;    /* "tokio::join!", "tokio::select!"... when the suspend point was generated
			 * by a macro (DWARF declares it in the macro's own source); NULL otherwise */
	char *macro_file; /* with macro: where DWARF declares the point, in the macro's source */
	int macro_line;
	char *span;     /* the name a wrapper gives the future (the tracing span it is instrumented
			 * with: `.instrument(span)`, #[tracing::instrument]); the innermost one when
			 * wrappers nest, runtimes' own spans left out; NULL when none */
	uint64_t address;
	uint64_t type_die; /* the DIE of `type` in the executable's DWARF, for later decoders; 0 if
			    * unknown (not printed) */
	bool leaf;      /* a future we do not look into: its type is what it waits on */
	struct ai_wait *wait; /* leaves: why it waits; NULL when not decoded (owned) */
	char *error;    /* why this node could not be read (the rest of the tree still prints) */
	struct ai_snapshot_local *locals;
	size_t local_count, local_capacity;
	struct ai_await_node *children;
	size_t child_count, child_capacity;
	/* Coroutines: every suspend point (.await) of the async fn or block, from its DWARF
	 * (the Suspend0..N states), in source order. Loops and branches make that order an
	 * approximation of progress, not a count of awaits done. */
	size_t await_count;  /* Suspend states; 0 for nodes that are not coroutines */
	size_t await_index;  /* 1-based place of the current suspend point in await_lines; 0 when
			      * not suspended or its line is unknown */
	int *await_lines;    /* await_count lines (owned), ascending; a macro's point counts at the
			      * line of its invocation; a point whose line in the function's file
			      * is unknown is 0, listed first */
	bool interned;       /* function, type, state, file, macro, macro_file and the locals' name
			      * and type are shared strings from an intern table (ai/intern.h;
			      * ai_await_node_intern), not owned copies */
};

/* An async runtime the executable uses (one adapter of src/runtime). */
struct ai_snapshot_runtime {
	char *name;       /* the adapter's name: "tokio", "async-task", "futures" */
	char *version;    /* its crate's version from the DWARF, or NULL when unknown */
	size_t instances; /* runtimes (schedulers, executors) of it found in the process */
	bool decoded;     /* false: found, but its tasks could not be read (a warning says why) */
	char *module;     /* owned: the path of the shared library it lives in, NULL for the
			   * executable */
};

struct ai_snapshot_task {
	uint64_t id;       /* the runtime's task id; valid when has_id */
	bool has_id;
	char *runtime;     /* the adapter's name (struct ai_snapshot_runtime) */
	char *kind;        /* "task", or "block_on" for a future driven by block_on on a thread */
	char *status;      /* "idle", "scheduled", "running", "completed", "cancelled"; NULL for block_on */
	char *flavor;      /* "multi_thread", "current_thread", or NULL when unknown */
	pid_t thread;      /* block_on roots, and tasks being polled right now; 0 otherwise */
	char *future;      /* the root future's function path (tree.function or its type) */
	char *name;        /* the task's name: the span of its root future (tree.span), NULL when it
			    * has none. tokio's Builder::name is not kept in task memory (only a
			    * subscriber sees it), so it cannot be shown */
	uint64_t address;  /* the task's header, or the block_on future's address */
	uint64_t runtime_address; /* tells runtimes apart: the address of the runtime's shared state */
	struct ai_await_node tree;
	char *driven_by;   /* block_on: the executor future (a dependency's, generics left out) whose
			    * run loop polls `tree`, the program's own future it was found in; NULL
			    * when block_on polls the program's future itself */
	const struct ai_wait *wait; /* the wait of the leaf its main await chain ends in (borrowed
				     * from that node), or NULL */
	struct ai_held *held;       /* guards it holds now (see wait.c for the liveness rule) */
	size_t held_count, held_capacity;
	/* (futurelock) */
	struct ai_unpolled *unpolled; /* lock futures it keeps but does not poll */
	size_t unpolled_count, unpolled_capacity;
	struct ai_task_fd *fds;     /* fds its coroutines' live saved locals hold (tokio I/O objects) */
	size_t fd_count, fd_capacity;
	/* The set it is a member of (a JoinSet some task awaits): the set's address, 0 when none is
	 * known, and its type ("JoinSet<u64>"). */
	uint64_t set_address;
	char *set_type;
	/* --max-pause: some of the memory its decoding read was not in the copy made while the target
	 * was stopped, and was read live afterwards, so its tree may mix two moments. */
	bool read_live;
};

struct ai_snapshot {
	pid_t pid;
	char *exe;
	char *command;       /* the process's command name (/proc/PID/comm), or NULL when not read */
	char *host;          /* the host it ran on (dump of a live process), or NULL when not known */
	char *core;          /* the core file, or NULL for a live process */
	int64_t captured_at_ms; /* wall clock, ms since the epoch */
	uint64_t pause_us;   /* how long the target was stopped for this snapshot (0 for cores) */
	/* --max-pause: the cap on pause_us (0: none), and how many tasks were decoded wholly from the
	 * memory copied within it (the others have read_live set). */
	uint64_t max_pause_us;
	size_t tasks_sampled;
	uint64_t stop_us; /* --max-pause: of pause_us, the time stopping and unwinding the threads took
			   * before the copy began (the cap cannot shorten it) */
	struct ai_snapshot_thread *threads;
	size_t thread_count, thread_capacity;
	/* The async view (dump). */
	struct ai_snapshot_task *tasks;
	size_t task_count, task_capacity;
	struct ai_snapshot_runtime *runtimes; /* the runtimes the executable uses, in adapter order */
	size_t runtime_count, runtime_capacity;
	char **warnings;      /* things the user should know (a layout not understood...) */
	size_t warning_count, warning_capacity;
	/* The target's CLOCK_MONOTONIC when it was stopped, for timers; live targets only. */
	bool has_monotonic;
	int64_t monotonic_ns;
	/* Cycles of the wait-for graph (src/analysis). */
	struct ai_deadlock *deadlocks;
	size_t deadlock_count, deadlock_capacity;
};

struct ai_snapshot *ai_snapshot_create(void);
void ai_snapshot_destroy(struct ai_snapshot *snapshot);
struct ai_snapshot_thread *ai_snapshot_add_thread(struct ai_snapshot *snapshot);
struct ai_snapshot_frame *ai_snapshot_thread_add_frame(struct ai_snapshot_thread *thread);

struct ai_snapshot_task *ai_snapshot_add_task(struct ai_snapshot *snapshot);
/* A new line of snapshot->runtimes (name copied, version owned: may be NULL), decoded true. */
struct ai_snapshot_runtime *ai_snapshot_add_runtime(struct ai_snapshot *snapshot, const char *name,
						    char *version);
/* The line of runtime `name`, or NULL. */
const struct ai_snapshot_runtime *ai_snapshot_runtime(const struct ai_snapshot *snapshot, const char *name);
/* Runtimes (schedulers) found in the process, over every adapter. */
size_t ai_snapshot_runtime_instances(const struct ai_snapshot *snapshot);
void ai_snapshot_add_warning(struct ai_snapshot *snapshot, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
struct ai_await_node *ai_await_node_add_child(struct ai_await_node *node);
struct ai_snapshot_local *ai_await_node_add_local(struct ai_await_node *node);
struct ai_held *ai_snapshot_task_add_held(struct ai_snapshot_task *task);
struct ai_unpolled *ai_snapshot_task_add_unpolled(struct ai_snapshot_task *task);
struct ai_task_fd *ai_snapshot_task_add_fd(struct ai_snapshot_task *task);
void ai_peer_destroy(struct ai_peer *peer);
void ai_wait_destroy(struct ai_wait *wait);
struct ai_intern;
/* Replaces the names of node and of the nodes below it (see `interned`) by table's shared
 * strings: the trees of many tasks then hold one copy of each function, type and file. */
void ai_await_node_intern(struct ai_await_node *node, struct ai_intern *table);
/* Frees what the node owns (not the node itself). */
void ai_await_node_deinit(struct ai_await_node *node);

/* What a task waits for, in one line: its wait's description when its await chain is exclusive,
 * else the waits of the branches of its first join!/select!/timeout joined by " | "
 * ("recv(channel) | sleep, 59m58s left"); "" when nothing is known. Written into buf (always
 * terminated, cut to size); returns buf. */
const char *ai_task_wait_summary(const struct ai_snapshot_task *task, char *buf, size_t size);

/* Whether a guard like `held` on the lock a task waits for in `wait` keeps it waiting, by the
 * wait's access and the guard's kind: an RwLock's reader waits only for the writer (other
 * readers share the lock with it; a writer waiting in line is ai_wait_bars_reader's);
 * upgradable_read for the writer or the upgradable reader; upgrade for the plain readers (the
 * upgrading task gave up its upgradable guard); any other lock wait for every guard. */
bool ai_held_blocks(const struct ai_wait *wait, const struct ai_held *held);
/* Whether `other`, a wait on the same lock, keeps a task waiting in `wait`: a queued reader of
 * an RwLock waits for the writers (or the upgrade) already in line before it (ahead of it by
 * place_in_line when both places are known; any queued one when not). */
bool ai_wait_bars_reader(const struct ai_wait *wait, const struct ai_wait *other);

/* A word for a scheduler state letter: "running", "sleeping", "disk-sleep", ... */
const char *ai_thread_state_name(char state);

#endif
