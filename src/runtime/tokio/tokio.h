/* The tokio adapter (src/runtime/tokio/): its entry points, for its ops table (adapter.c) and the
 * tests, and the internals its files share (tasks.c and its parts, see tasks_internal.h:
 * runtimes, vtables, list walks, the scan; local_set.c: LocalSets; blocking.c: spawn_blocking
 * closures). The rest of the program reaches tokio only through ai_runtime_tokio. */
#ifndef AI_RUNTIME_TOKIO_H
#define AI_RUNTIME_TOKIO_H

#include <string.h>

#include "ai/async.h"
#include "ai/dwarf_reader.h"
#include "ai/runtime.h"
#include "layout.h"

extern const struct ai_runtime_ops ai_runtime_tokio;

/* Whether the executable has tokio's runtime (the CONTEXT thread-local): "" (its version is read
 * by the collection), or NULL. (tasks.c) */
char *ai_tokio_detect(const struct ai_runtime_ops *self, struct ai_async *as);

/* Adds every tokio task of every runtime found in the target to the snapshot, with its decoded
 * await tree, status, id and flavor; sets entry's version and instances. A binary without tokio
 * adds nothing and no error; a layout not understood adds a warning. stacks[i] is the unwound
 * stack of target->threads[i] (handles on stack frames, tasks being polled). (tasks.c) */
struct ai_error *ai_tokio_collect(const struct ai_runtime_ops *self, struct ai_async *as, const struct ai_stack *stacks,
				  struct ai_snapshot *snapshot, struct ai_snapshot_runtime *entry);

/* The cross-check and fallback of the list walk (DESIGN.md 5.5): every task header found by
 * scanning writable anonymous memory and the heap for words equal to a known task vtable (the
 * words of the executable's .data.rel.ro that point to a raw::poll<T, S>), validated as the walk
 * validates a task. Sorted, unique, owned by the caller (NULL when none). Completed tasks whose
 * JoinHandle is alive are found too. Bounded: 1 GiB scanned, 4M candidates. (tasks.c) */
struct ai_error *ai_tokio_scan_headers(struct ai_async *as, uint64_t **headers_ret,
				       size_t *count_ret);

/* The poll, wake and release functions of tokio's tasks, for `profile`: see
 * ai_runtime_ops.probe_points. (probes.c) */
void ai_tokio_probe_points(struct ai_async *as, struct ai_probe_point **points, size_t *count,
			   size_t *capacity);

/* The functions tokio's tasks are spawned and completed through, for breakpoints: see
 * ai_runtime_ops.lifecycle_points. (lifecycle.c) */
void ai_tokio_lifecycle_points(struct ai_async *as, struct ai_lifecycle_point **points, size_t *count,
			       size_t *capacity);

/* ---- Internals shared by the adapter's files ---- */

#define TK_MAX_RUNTIMES 1024u

/* Header.state bits (the same from 1.8 to 1.54) */
#define TK_RUNNING 0x01u
#define TK_COMPLETE 0x02u
#define TK_NOTIFIED 0x04u
#define TK_CANCELLED 0x20u

/* One task vtable: one (T, S), and what DWARF says of its cell. */
struct tk_vtable {
	uint64_t address;
	bool valid;
	const struct ai_type *future;    /* T (NULL if DWARF does not say) */
	const struct ai_type *scheduler; /* S */
	const struct ai_type *cell;      /* Cell<T, S>, or NULL (then the vtable's offsets) */
	const char *flavor;              /* from S: "multi_thread", "current_thread" or NULL */
	const char *future_name;         /* T's qualified name (borrowed from the types), on first
					  * need: see future_name() */
	char *poll_name;                 /* owned: the name of raw::poll<T, S> */
	uint64_t read_size;              /* bytes read per task: the cell */
	/* Offsets from the header (the cell's start): Trailer, the list links' owner (the Trailer,
	 * or before 1.23 the Header), Core.task_id, Core.scheduler and the Stage<T> in Core.stage. */
	uint64_t trailer, links;
	bool has_id, has_scheduler, has_stage;
	uint64_t id, scheduler_offset, stage;
	const struct ai_type *stage_type;  /* Stage<T> */
	const struct ai_type *matched_s;   /* the runtime S last found equal to ours */
};

/* How to walk one OwnedTasks<S> type. */
struct tk_owned_layout {
	const struct ai_type *type;
	bool ok;
	bool sharded;
	bool has_id, has_count, has_tail;
	uint64_t id, count;             /* offsets in OwnedTasks */
	uint64_t lists_data, lists_length;
	uint64_t stride;                /* bytes per shard */
	uint64_t list;                  /* the LinkedList: in a shard, or in OwnedTasks */
	uint64_t head, tail;            /* in LinkedList */
	const struct ai_type *scheduler; /* S, or NULL */
};

/* One plain list of tasks of a runtime before 1.9 (a worker's Core's, or the basic scheduler's). */
struct tk_core_list {
	uint64_t address;    /* the LinkedList */
	uint64_t worker;     /* the worker's index (0 for current_thread) */
};

struct tk_runtime {
	uint64_t owned;      /* the OwnedTasks address: the runtime's identity (before 1.9: the
			      * scheduler's Shared) */
	bool from_frame;     /* found only in a stack frame: dropped quietly if its list is no list */
	bool dropped;
	bool unsupported;    /* its layout (or where its lists are) is not understood */
	bool local;          /* a LocalSet's LocalOwnedTasks (local_set.c), not a runtime */
	uint64_t arc_inner;  /* its handle's ArcInner: what Core.scheduler of its tasks holds (0:
			      * not checked) */
	const char *flavor;
	size_t layout;       /* index into tk.layouts */
	size_t first_task, task_count; /* of the snapshot's tasks */
	/* Before 1.9: no OwnedTasks but one list per worker, found in stack frames. */
	bool per_core;
	uint64_t workers;    /* how many lists there are (Shared.remotes), 0 if unknown */
	struct tk_core_list *lists; /* owned */
	size_t list_count, list_capacity;
};

/* The task a thread polls right now (CONTEXT.current_task_id). */
struct tk_current {
	pid_t tid;
	uint64_t task_id;
};

struct tk {
	struct ai_async *as;
	struct ai_memory *mem;
	struct ai_snapshot *snapshot;
	struct ai_module *main;
	struct ai_elf_file *symbols;     /* the executable's symbol table (borrowed) */
	struct ai_dwarf_reader *reader;
	struct tk_env env;
	char *version;
	size_t thread_count;
	bool exited;                     /* a read found the process gone */

	/* The CONTEXT thread-local. */
	bool has_context_symbol;
	uint64_t tls_value;              /* st_value: offset in the TLS block */
	char *tls_name;                  /* owned: its mangled name */
	uint64_t accessor;               /* file vaddr of a function of CONTEXT's own, or 0 */
	uint64_t tls_block_offset;       /* fs_base - this = the block's start */
	const struct ai_type *storage;   /* the thread-local's storage type */
	uint64_t context;                /* Context in the storage */
	bool has_state;
	struct tk_loc state;             /* the storage's state, in the storage */
	struct tk_loc handle_option;     /* Option<scheduler::Handle>, in the storage */
	bool has_task_id;
	struct tk_loc task_id_option;    /* Option<task::Id>, in the storage */

	/* Header, Vtable and Trailer (one type each in every version) */
	bool header_tried, header_ok;
	uint64_t header_size, header_state, header_vtable, owner_id;
	bool has_owner_id;
	uint64_t vtable_size, poll;
	bool has_vt_trailer, has_vt_scheduler, has_vt_id;
	uint64_t vt_trailer, vt_scheduler, vt_id;
	bool trailer_ok;
	const struct ai_type *trailer_type;
	uint64_t trailer_size, next, prev; /* next and prev: in the Trailer, or the Header */
	bool has_prev, links_in_header;
	bool per_core;                   /* tokio before 1.9: no owner ids, task ids */

	struct tk_vtable *vtables;       /* owned */
	size_t vtable_count, vtable_capacity;
	uint32_t *vtable_index;          /* open addressing: index + 1; 0 empty */
	size_t vtable_index_size;

	struct tk_owned_layout *layouts;
	size_t layout_count, layout_capacity;
	struct tk_runtime *runtimes;
	size_t runtime_count, runtime_capacity;
	struct tk_current *currents;
	size_t current_count, current_capacity;

	uint8_t *buf;                    /* scratch for cells */
	size_t buf_size;
	size_t read_guess;               /* the biggest cell read so far */
};

static inline uint64_t tk_get_u64(const uint8_t *bytes, uint64_t offset)
{
	uint64_t v;
	memcpy(&v, bytes + offset, 8);
	return v;
}

/* A pointer that may point to a tokio object: aligned, in user space, not in the zero page. */
static inline bool tk_plausible(uint64_t address, uint64_t align)
{
	return address >= 4096 && address < (1ULL << 47) && (address & (align - 1)) == 0;
}

/* (tasks.c) Reads target memory; a read that finds the process gone sets tk->exited. */
struct ai_error *tk_read(struct tk *tk, void *buf, uint64_t address, size_t size);
bool tk_read_u64(struct tk *tk, uint64_t address, uint64_t *ret);
/* (runtimes.c) The T of an Arc<T> value at address: where it is and its type. */
bool tk_arc_data(struct tk *tk, const struct ai_type *arc_type, uint64_t address,
		 uint64_t *data_ret, const struct ai_type **type_ret);
/* The walk plan of an OwnedTasks<S> (or LocalOwnedTasks<S>) type, resolved once per type. */
struct tk_owned_layout *tk_owned_layout_of(struct tk *tk, const struct ai_type *owned,
					   size_t *index_ret);
struct tk_runtime *tk_find_runtime(struct tk *tk, uint64_t owned);
/* Before 1.9: one plain list of tasks (the LinkedList at list, of DWARF type list_type) of the
 * runtime named by its Shared at shared. */
void tk_add_core_list(struct tk *tk, const struct ai_type *shared_type, uint64_t shared,
		      const char *flavor, const struct ai_type *list_type, uint64_t list, uint64_t worker);
/* (vtables.c) The vtable at address, resolved on first sight (vt->valid says if it is usable). */
struct tk_vtable *tk_get_vtable(struct tk *tk, uint64_t address);
/* (header_scan.c) The task at `address` if it is one (validated as the list walk validates a
 * node), read whole into tk's scratch (*cell_ret); else NULL. */
struct tk_vtable *tk_check_candidate(struct tk *tk, uint64_t address, const uint8_t **cell_ret);
/* The scan of memory for task headers (DESIGN.md 5.5) restricted to the vtables `keep` keeps:
 * nothing is read when it keeps none. Sorted, unique, owned by the caller. */
size_t tk_scan_headers_of(struct tk *tk, bool (*keep)(struct tk *tk, struct tk_vtable *vt),
			  uint64_t **ret);
/* (owned_tasks.c) "running", "completed", "cancelled", "scheduled" or "idle" from Header.state. */
const char *tk_status_of(uint64_t state);

/* (local_set.c) Adds the task list of every LocalSet found in the threads' stacks to
 * tk->runtimes (local = true, flavor "local_set"); ai_tokio_collect walks them as runtimes. */
void tk_local_sets_from_stacks(struct tk *tk, const struct ai_stack *stacks);
/* The last resort, when no LocalSet was found in a stack and the executable has tasks of a
 * LocalSet's scheduler: the LocalSets of the tasks found by scanning memory for those tasks'
 * vtables (1.24+, where a task's scheduler leads to its set's list). */
void tk_local_sets_from_scan(struct tk *tk);

/* (blocking.c) Adds a task of kind "blocking" for every spawn_blocking closure that a thread of
 * a blocking pool runs now (its raw::poll<BlockingTask<F>, S> frame). */
void tk_blocking_collect(struct tk *tk, const struct ai_stack *stacks);
/* Adds the spawn_blocking task whose header is at `header`, unless it is the runtime's own or
 * listed already: running on `thread` inside the poll frame stack->frames[poll], or queued (thread
 * NULL). */
void tk_blocking_emit(struct tk *tk, const struct ai_thread *thread, const struct ai_stack *stack,
		      size_t poll, uint64_t header);
/* (blocking_queue.c) Adds a task of kind "blocking" without a thread for every closure queued in
 * a blocking pool (found from its threads' Inner::run frames), not started yet. */
void tk_blocking_queue_collect(struct tk *tk, const struct ai_stack *stacks);

#endif
