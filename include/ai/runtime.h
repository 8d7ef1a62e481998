/* Runtime adapters: everything async-inspect knows of one async runtime lives in its folder,
 * src/runtime/<name>/, behind this ops table (after drgn's struct drgn_language and htop's
 * per-platform folders). The rest of the program (await trees, waits, deadlock analysis,
 * frontends) is runtime-neutral: it calls the adapters through ai_runtimes_collect() and the
 * wait pass (src/async/wait.c), and never names a runtime.
 *
 * To add a runtime (docs/EXTENDING.md): a decoder file (src/runtime/declarative), or make
 * src/runtime/<name>/ with an `ai_runtime_<name>` ops table, list it in src/runtime/runtime.c,
 * and give it fixtures under tests/fixtures (docs/ARCHITECTURE.md). */
#ifndef AI_RUNTIME_H
#define AI_RUNTIME_H

#include "ai/async.h"
#include "ai/maps.h"
#include "ai/snapshot.h"
#include "ai/unwind.h"

struct ai_wait_walk; /* include/ai/wait.h */

/* How the await-tree decoder (src/async/await_tree.c) looks into a future type that is not a
 * coroutine: the shapes it knows, and each runtime's table of which of its types has which. */
enum ai_future_shape {
	AI_SHAPE_TRANSPARENT,  /* a wrapper: the future is member `member` (or `alt`) */
	AI_SHAPE_MAYBE_DONE,   /* an enum whose "Future" or "Some" variant (or the one `member`
				* names) is the future, in its __0 or `future`; any other variant
				* ends the node with its name as the state */
	AI_SHAPE_MEMBERS,      /* each member named in `member` and `alt` is a branch (Timeout) */
	AI_SHAPE_MEMBER_PREFIX, /* each member whose name starts with `member` is a branch (Join) */
	AI_SHAPE_OPTION_TUPLE, /* member `member` is Option<(A, B, ...)>: the tuple's fields (Select) */
	AI_SHAPE_POLL_FN,      /* a PollFn whose closure captures the branches: join!, select! */
	AI_SHAPE_JOIN_ALL,     /* futures' JoinAll: kind Small { elems: [MaybeDone] } | Big { fut } */
	AI_SHAPE_FUTURES_UNORDERED, /* futures' FuturesUnordered: the head_all -> next_all list */
};

struct ai_future_shape_rule {
	const char *prefix;  /* of the type's qualified name */
	enum ai_future_shape shape;
	const char *member, *alt;
};

/* A wrapper that names the future it wraps (tracing's Instrumented: the span it runs in): member
 * paths, through Option and references, to a &str each. */
struct ai_future_label_rule {
	const char *prefix;  /* of the wrapper type's qualified name */
	const char *name;    /* the label, e.g. "span.meta.name" */
	const char *origin;  /* who made it, e.g. "span.meta.target" (a span's module path) */
};

/* A crate whose macros' own source can hold a suspend point (join!, select!): a point whose file
 * is <crate dir>[-version]/<dir>NAME[_mod].rs is in macro "<prefix>::NAME!". */
struct ai_macro_source {
	const char *crate; /* the directory of the crate: this, or this followed by "-" */
	const char *dir;   /* under the crate, e.g. "/src/macros/" */
	const char *prefix;
};

/* A function of the runtime's own that `profile` (src/profile) puts a uprobe on. */
enum ai_probe_kind {
	AI_PROBE_POLL,    /* polls one task: entry and return are both probed */
	AI_PROBE_WAKE,    /* wakes (schedules) one task */
	AI_PROBE_RELEASE, /* frees one task: a later task may reuse its address */
};

struct ai_probe_point {
	enum ai_probe_kind kind;
	uint64_t address;  /* the function's first instruction, in the target */
	unsigned task_arg; /* the integer argument (0: the first) holding the task's address, as
			    * ai_snapshot_task.address gives it */
	char *function;    /* owned: the function's name, for messages */
	char *future;      /* owned: POLL: the future type every task it polls runs, or NULL */
	bool wake_nests;   /* WAKE: may begin by calling another probed wake of the same task (async-
			    * task's wake calls wake_by_ref): the thread's next event, a wake of that
			    * task, is the same wake */
	char *path;        /* owned: the ELF file it is in, and its offset there (set by */
	uint64_t offset;   /* ai_capture_probe_points from the target's mappings) */
};
void ai_probe_points_free(struct ai_probe_point *points, size_t count);

/* A function of the runtime's own that a task's spawn or end goes through, for `--break spawn` /
 * `--break complete` (src/breakpoint). */
enum ai_lifecycle_kind {
	AI_LIFECYCLE_SPAWN,    /* a new task is made and listed with the runtime's tasks */
	AI_LIFECYCLE_COMPLETE, /* a task has finished (its output stored, or cancelled) */
};

struct ai_lifecycle_point {
	enum ai_lifecycle_kind kind;
	uint64_t address;  /* the function's first instruction, in the target */
	bool at_return;    /* the task is its return value (in an integer return register, as
			    * ai_snapshot_task.address gives it) once it returns to its caller:
			    * only then is it listed; else it is argument task_arg at the entry */
	unsigned task_arg;
	char *function;    /* owned: the function's name, for messages */
};
void ai_lifecycle_points_free(struct ai_lifecycle_point *points, size_t count);

struct ai_runtime_ops {
	const char *name; /* as users know it: "tokio", "async-task", "futures" */

	/* An adapter made at run time from a decoder file (src/runtime/declarative): its decoder,
	 * which detect and collect read through `self`; NULL for the C adapters. */
	const void *data;

	/* The runtime's own wrappers and combinators, ended by a rule with a NULL prefix; and the
	 * sources of its macros, ended by a NULL crate. Either may be NULL. */
	const struct ai_future_shape_rule *shapes;
	const struct ai_macro_source *macros;

	/* The crates (as a label's origin spells them: "tokio") whose labels are the runtime's own
	 * (tokio wraps every task in a span of its own with its `tracing` feature): they say
	 * nothing of the task, and are not shown. NULL-terminated, or NULL. */
	const char *const *own_label_origins;

	/* Whether the executable uses the runtime: its crate's version as the DWARF's file paths
	 * give it ("1.24.2"), "" when the runtime is there but its version is unknown, NULL when
	 * it is not there (collect may still set the version). Owned by the caller. Cheap: no
	 * target memory is read. */
	char *(*detect)(const struct ai_runtime_ops *self, struct ai_async *as);

	/* Adds the runtime's tasks, with their decoded await trees, to the snapshot; `entry` is the
	 * runtime's line of snapshot->runtimes (the adapter sets instances and, when it found the
	 * runtime but could not decode it, decoded = false with a warning that names the version).
	 * stacks[i] is the unwound stack of target->threads[i]. An error only when the target went
	 * away; layouts not understood are warnings. May be NULL (a runtime of waits only). */
	struct ai_error *(*collect)(const struct ai_runtime_ops *self, struct ai_async *as,
				    const struct ai_stack *stacks, struct ai_snapshot *snapshot,
				    struct ai_snapshot_runtime *entry);

	/* Whether `function` (a stack frame's Rust path) is one of the runtime's block_on frames,
	 * whose parameters and locals hold the future it drives (src/async/roots.c). May be NULL. */
	bool (*is_block_on_frame)(const char *function);

	/* The scheduler flavor a block_on on this stack runs in ("multi_thread"...), or NULL.
	 * May be NULL. */
	const char *(*block_on_flavor)(const struct ai_stack *stack);

	/* The runtime a block_on root on this stack is labelled with when it is not the adapter's
	 * name: the crate that drives it (async-task's adapter: "async-std" under async-std's
	 * task::block_on), or NULL. May be NULL. */
	const char *(*block_on_label)(const struct ai_stack *stack);

	/* Why a leaf future waits, when it is one of the runtime's own futures: a new wait
	 * (ai_wait_new), or NULL when the leaf is not the runtime's. May be NULL. */
	struct ai_wait *(*leaf_wait)(struct ai_wait_walk *walk, struct ai_await_node *leaf);

	/* The guards (locks, permits, Senders) of the runtime's own types that the saved locals of
	 * a coroutine node hold: added to task->held. May be NULL. */
	void (*held)(struct ai_wait_walk *walk, struct ai_snapshot_task *task,
		     const struct ai_await_node *coroutine);

	/* After every task's waits and guards are known: passes across tasks (a channel's senders,
	 * lock futures nobody polls...). May be NULL. */
	void (*finish)(struct ai_wait_walk *walk, struct ai_snapshot *snapshot);

	/* A summary of one of the runtime's own types for the value printer (a lock's state, a
	 * channel's queue), as include/ai/value.h's ai_value_summary_fn; false when the type is
	 * not the runtime's. May be NULL. */
	ai_value_summary_fn *value_summary;

	/* The runtime's task poll, wake and release functions, for `profile`: appended to *points
	 * (count and capacity as AI_GROW keeps them). Found from the executable's symbols and
	 * DWARF; adds none when they are not found. May be NULL (the runtime cannot be profiled). */
	void (*probe_points)(struct ai_async *as, struct ai_probe_point **points, size_t *count,
			     size_t *capacity);

	/* The functions a task's spawn and completion go through, for breakpoints: appended to
	 * *points as probe_points does. May be NULL. */
	void (*lifecycle_points)(struct ai_async *as, struct ai_lifecycle_point **points, size_t *count,
				 size_t *capacity);
};

/* The C adapters, in the order their tasks are listed; NULL-terminated. */
extern const struct ai_runtime_ops *const ai_runtimes[];

/* Every adapter: the C ones, then those registered from decoder files, in load order;
 * NULL-terminated. Valid until the next ai_runtime_register or ai_runtime_unregister_all. */
const struct ai_runtime_ops *const *ai_runtimes_all(void);

/* Adds an adapter made at run time (borrowed: it must outlive its registration). False when an
 * adapter of that name is already there. Not thread-safe: call it before captures begin. */
bool ai_runtime_register(const struct ai_runtime_ops *ops);
/* Forgets every registered adapter (the C ones stay). */
void ai_runtime_unregister_all(void);

/* The value printer's summary (ai_value_limits.summary) of every adapter's own types: the
 * first adapter's value_summary that takes the type. */
bool ai_runtimes_value_summary(struct ai_memory *mem, const struct ai_type *type, uint64_t address,
			       char **text_ret, const char **inner_ret);

/* Points as at the module that holds the program's async runtime: the executable if an adapter
 * detects one there (the usual case, and the answer when none is found anywhere), else the first
 * other module with Rust DWARF in which one does: the shared library of a C or Rust host that
 * links or dlopen()s a Rust library using tokio (Python and Node extensions, plugins). Call it
 * once the target's modules are mapped (the target stopped). */
void ai_runtimes_choose_module(struct ai_async *as);
/* Whether an adapter detects a runtime in the module as decodes (after choose_module). */
bool ai_runtimes_detected(struct ai_async *as);

/* Detects every runtime in the executable (snapshot->runtimes) and lets each collect its tasks.
 * Warns, never fails, when no runtime is found; fails only when the target went away. */
struct ai_error *ai_runtimes_collect(struct ai_async *as, const struct ai_stack *stacks,
				     struct ai_snapshot *snapshot);

/* The probe points of every runtime detected in the executable (ai_runtime_ops.probe_points),
 * with the name of the runtime each belongs to in *runtimes_ret (owned, ", "-separated; "" when
 * none); owned by the caller (ai_probe_points_free). */
void ai_runtimes_probe_points(struct ai_async *as, struct ai_probe_point **points_ret,
			      size_t *count_ret, char **runtimes_ret);

/* The lifecycle points of every runtime detected in the executable (ai_runtime_ops.lifecycle_points);
 * owned by the caller (ai_lifecycle_points_free). */
void ai_runtimes_lifecycle_points(struct ai_async *as, struct ai_lifecycle_point **points_ret,
				  size_t *count_ret);

/* For the adapters' probe and lifecycle points: every symbol of the executable's symbol table
 * with an address, each address once (the first alias that visit takes), visit(sym, its runtime
 * address, ctx) returning whether it took the symbol. Nothing when the executable has none. */
struct ai_elf_symbol;
void ai_runtime_each_symbol(struct ai_async *as,
			    bool (*visit)(struct ai_elf_symbol *sym, uint64_t address, void *ctx), void *ctx);
/* Where one module's TLS block is on every thread (tls.c). */
struct ai_tls_module {
	bool is_main;          /* the executable: its block is at fs_base - block_offset */
	uint64_t block_offset;
	uint64_t module_id;    /* any other module: its TLS module id, its block found in the DTV */
};
struct ai_memory;
struct ai_module;
/* Sets *ret up for module (opened), reading its TLS module id from the target when it is not the
 * executable: AI_ERROR_NOT_FOUND when it has no TLS, AI_ERROR_UNSUPPORTED when nothing says its
 * module id (only TLS descriptors). */
struct ai_error *ai_tls_module_init(struct ai_memory *mem, struct ai_module *module,
				    struct ai_tls_module *ret);
/* The address on the thread whose thread pointer is fs_base of the module's TLS symbol of
 * st_value: false if that thread has no block of the module (it never used its thread-locals)
 * or its DTV cannot be read. */
bool ai_tls_address(struct ai_memory *mem, const struct ai_tls_module *tls, uint64_t fs_base,
		    uint64_t st_value, uint64_t *ret);

/* The offset of the executable's static TLS block below the thread pointer (x86-64, variant II,
 * glibc's offset for the first module): a TLS symbol's address on a thread is fs_base - offset +
 * st_value. False when it has no PT_TLS. */
struct ai_elf_file;
bool ai_runtime_tls_block_offset(struct ai_elf_file *elf, uint64_t *ret);
/* The function at address as the debug info names it (the innermost of an inline chain), else
 * fallback; owned. */
char *ai_runtime_function_at(struct ai_async *as, uint64_t address, const char *fallback);
/* The first generic argument of function, a demangled name that starts with prefix (which ends
 * at the opening '<'): up to the first comma outside brackets; owned. NULL when function does not
 * start with prefix or has no such comma. */
char *ai_runtime_first_generic_arg(const char *function, const char *prefix);

/* The shape of the future type called `name`, from the language's own rules (core, std) and
 * then every adapter's; NULL when none applies. */
const struct ai_future_shape_rule *ai_runtime_future_shape(const char *name);
/* The same for a type whose name is `name` (its qualified name), worked out once per type and
 * kept on it until an adapter is registered or unregistered: a state machine's members are
 * matched once, not once per task. */
const struct ai_future_shape_rule *ai_runtime_future_shape_of(const struct ai_type *type, const char *name);

/* The label rule of the wrapper type called `name` (runtime-neutral: tracing's spans), or NULL. */
const struct ai_future_label_rule *ai_runtime_future_label(const char *name);

/* Whether a label made in `origin` ("tokio::task") is some runtime's own. */
bool ai_runtime_own_label(const char *origin);

/* "tokio::join!" for a file in a runtime's macro sources, else NULL. Owned by the caller. */
char *ai_runtime_macro_name(const char *file);

/* The same for a suspend point at `line` of `file`, telling try_NAME! from NAME! when one source
 * defines both (read from the source on disk, when it is there). Owned by the caller. */
char *ai_runtime_macro_name_at(const char *file, int line);

/* The adapter called `name`, or NULL. */
const struct ai_runtime_ops *ai_runtime_find(const char *name);

/* The adapter whose block_on frame `function` is, or NULL. */
const struct ai_runtime_ops *ai_runtime_of_block_on(const char *function);

/* Whether the executable's ELF symbols name the crate `crate` (as rustc spells it in paths:
 * "futures_executor"); for adapters whose runtime has no symbol of its own to look for. */
bool ai_runtime_crate_linked(struct ai_async *as, const char *crate);

/* "0.3.31" when `path` holds a directory "<dir_name>-0.3.31/" as cargo and Debian unpack crates
 * (not "<dir_name>-util-0.7.1"), or NULL. Owned by the caller. */
char *ai_runtime_version_from_path(const char *path, const char *dir_name);

/* The version of the crate whose source directory is `dir_name` ("futures-executor"), from the
 * file names and compilation directories of the executable's DWARF line tables; NULL when no
 * unit names one. Owned by the caller. */
char *ai_runtime_crate_version(struct ai_async *as, const char *dir_name);

/* ---- For adapters: objects found by the addresses they hold (scan.c) ---- */

/* Where a scan found words whose value is one of its targets. */
struct ai_word_scan {
	uint64_t *words;      /* owned: the words' addresses, sorted and unique */
	size_t count;
	uint64_t scanned;     /* bytes read */
	bool stopped_bytes;   /* stopped before reading past max_bytes */
	bool stopped_words;   /* stopped at max_words */
	bool exited;          /* a read found the process gone */
};
void ai_word_scan_deinit(struct ai_word_scan *scan);

/* The mappings a scan of writable memory reads: anonymous read-write memory and the heap. */
bool ai_scan_writable_mapping(const struct ai_mapping *m);

/* Every aligned word of the executable's .data.rel.ro (its vtables and other relocated constants)
 * whose value is in `targets` (sorted, unique, count > 0): at most max_words; nothing when the
 * section is missing or bigger than max_bytes. */
void ai_scan_relro(struct ai_async *as, const uint64_t *targets, size_t count, uint64_t max_bytes,
		   size_t max_words, struct ai_word_scan *ret);

/* The same over the process's writable memory (ai_scan_writable_mapping), read in 1 MiB chunks:
 * at most max_bytes read and max_words found. */
void ai_scan_writable(struct ai_async *as, const uint64_t *targets, size_t count, uint64_t max_bytes,
		      size_t max_words, struct ai_word_scan *ret);

#endif
