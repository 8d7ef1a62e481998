/* Private to src/async/tokio*.c: what tokio.c knows about tokio's memory, in one table.
 *
 * Every field tokio.c reads is named here by its DWARF member path (alternatives by version), with
 * the size it must have. A field is resolved in the DWARF type at first use, and a field that is
 * missing or has another size gives one snapshot warning naming the type and the field, e.g.
 * "tokio 1.99.0: tokio::runtime::task::core::Header has no field `owner_id`"; the caller then
 * skips the check that needed it (optional fields) or stops collecting what needed it. Nothing
 * here reads at a fixed offset. See docs/tokio-layouts.md for the layouts of 1.8 to 1.54. */
#ifndef AI_ASYNC_TOKIO_LAYOUT_H
#define AI_ASYNC_TOKIO_LAYOUT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ai/snapshot.h"
#include "ai/types.h"

enum tk_field {
	/* tokio::runtime::context::Context (the thread-local CONTEXT) */
	TK_CONTEXT_HANDLE,   /* RefCell<Option<scheduler::Handle>> */
	TK_CONTEXT_TASK_ID,  /* Cell<Option<task::Id>>: the task this thread is polling */
	/* alloc::sync::Arc<T> and alloc::sync::ArcInner<T> */
	TK_ARC_POINTER,
	TK_ARC_INNER_DATA,   /* +16, or +128 when T is 128-aligned */
	/* <flavor>::Handle */
	TK_HANDLE_OWNED,     /* OwnedTasks<S> */
	/* OwnedTasks<S> */
	TK_OWNED_ID,         /* tasks carry it in Header.owner_id */
	TK_OWNED_LISTS,      /* 1.35+: Box<[Mutex<LinkedList<..>>]> */
	TK_OWNED_COUNT,      /* 1.35+: tasks in all shards */
	TK_OWNED_INNER,      /* up to 1.34: Mutex<OwnedTasksInner { list, closed }> */
	/* Box<[T]> */
	TK_SLICE_DATA,
	TK_SLICE_LENGTH,
	/* tokio::util::linked_list::LinkedList<L, T> */
	TK_LIST_HEAD,
	TK_LIST_TAIL,
	/* tokio::runtime::task::core::Header */
	TK_HEADER_STATE,
	TK_HEADER_VTABLE,
	TK_HEADER_OWNER_ID,
	TK_HEADER_NEXT,      /* before 1.23: the OwnedTasks links are in the Header */
	TK_HEADER_PREV,
	/* tokio::runtime::task::raw::Vtable */
	TK_VTABLE_POLL,
	TK_VTABLE_TRAILER_OFFSET,
	TK_VTABLE_SCHEDULER_OFFSET,
	TK_VTABLE_ID_OFFSET,
	/* tokio::runtime::task::harness::Harness<T, S> (a local of raw::poll<T, S>) */
	TK_HARNESS_CELL,
	/* tokio::runtime::task::core::Cell<T, S> */
	TK_CELL_CORE,
	TK_CELL_TRAILER,
	/* tokio::runtime::task::core::Core<T, S> */
	TK_CORE_SCHEDULER,
	TK_CORE_TASK_ID,
	TK_CORE_STAGE,
	/* tokio::runtime::task::core::Trailer */
	TK_TRAILER_NEXT,
	TK_TRAILER_PREV,
	/* tokio::runtime::runtime::Runtime, for handles found in stack frames */
	TK_RUNTIME_HANDLE,   /* scheduler::Handle (1.22+), runtime::spawner::Spawner (before) */
	/* tokio::runtime::handle::Handle, what CONTEXT holds before 1.22 */
	TK_RT_HANDLE_SCHEDULER, /* spawner: runtime::spawner::Spawner */
	/* tokio::runtime::<basic_scheduler|thread_pool>::Spawner, before 1.22 */
	TK_SPAWNER_SHARED,   /* Arc<Shared>, Shared holding `owned` */
	/* tokio::runtime::scheduler::multi_thread::worker::Worker */
	TK_WORKER_HANDLE,    /* Arc<multi_thread::handle::Handle> */
	/* Before 1.9 there is no OwnedTasks: each worker's Core, and the current_thread scheduler's
	 * Context, own a plain LinkedList of their tasks (1.8.5 checked). The frame of the scoped
	 * thread-local's set(t: &Context) gives the Context. */
	TK_WORKER_CONTEXT_CORE,   /* thread_pool::worker::Context: RefCell<Option<Box<Core>>> */
	TK_WORKER_CONTEXT_WORKER, /* Arc<Worker> */
	TK_WORKER_INDEX,          /* Worker.index */
	TK_CORE_TASKS,            /* thread_pool::worker::Core: LinkedList<Task, Header> */
	TK_SHARED_REMOTES,        /* thread_pool::worker::Shared: Box<[Remote]>, one per worker */
	TK_BASIC_CONTEXT_TASKS,   /* basic_scheduler::Context: RefCell<Tasks { owned, .. }> */
	TK_BASIC_CONTEXT_SHARED,  /* Arc<basic_scheduler::Shared> */
	/* LocalSet (local_set.c): LocalSet.context is Rc<Context> (1.24+) or Context (before);
	 * its tasks are in Context.owned (before 1.24) or Context.shared -> Shared.local_state.owned,
	 * a LocalOwnedTasks<Arc<Shared>> laid out as OwnedTasks up to 1.34 */
	TK_LOCAL_SET_CONTEXT,     /* tokio::task::local::LocalSet.context */
	TK_RC_POINTER,            /* alloc::rc::Rc<T>.ptr.pointer */
	TK_RC_INNER_VALUE,        /* alloc::rc::RcInner<T>.value (RcBox before rustc 1.84) */
	TK_LOCAL_CONTEXT_OWNED,   /* 1.9 to 1.23: Context.owned */
	TK_LOCAL_CONTEXT_TASKS,   /* before 1.9: Context.tasks: RefCell<Tasks { owned: LinkedList }> */
	TK_LOCAL_CONTEXT_SHARED,  /* Context.shared: Arc<Shared> */
	TK_LOCAL_SHARED_OWNED,    /* 1.24+: Shared.local_state.owned */
	TK_RUN_UNTIL_LOCAL_SET,   /* RunUntil<F>.local_set: &LocalSet */
	/* spawn_blocking (blocking.c) */
	TK_BLOCKING_TASK_FUNC,    /* tokio::runtime::blocking::task::BlockingTask<T>.func: Option<T> */
	TK_FIELD_COUNT,
};

/* The type names tokio.c looks for inside other types (by DW_AT_name, which for a generic type
 * carries its qualified arguments). */
#define TK_NAME_OPTION_HANDLE "Option<tokio::runtime::scheduler::Handle>"
/* Before 1.22, CONTEXT is RefCell<Option<runtime::Handle>> (there is no Context struct). */
#define TK_NAME_OPTION_RT_HANDLE "Option<tokio::runtime::handle::Handle>"
#define TK_NAME_LINKED_LIST "LinkedList<"
#define TK_NAME_STAGE "Stage<"
#define TK_NAME_HEADER "Header"
#define TK_NAME_CELL "Cell<"
#define TK_POLL_PREFIX "tokio::runtime::task::raw::poll<"
#define TK_CONTEXT_SYMBOL_PREFIX "tokio::runtime::context::CONTEXT::"

struct tk_field_spec {
	const char *owner;       /* the type, as named in warnings */
	const char *paths[3];    /* member paths "a.b.c", newest tokio first; NULL-terminated */
	uint64_t size;           /* the byte size the field must have; 0 for any */
	bool optional;           /* only a check or a detail depends on it */
};

extern const struct tk_field_spec tk_fields[TK_FIELD_COUNT];

/* Where one collection puts its warnings: each different message once. */
struct tk_env {
	struct ai_snapshot *snapshot; /* borrowed */
	const char *version;          /* "1.24.2", or "(unknown version)" */
	const char *module;           /* borrowed: the shared library tokio is in, NULL for the
				       * executable */
	char **warned;                /* owned: messages given so far */
	size_t warned_count, warned_capacity;
};

void tk_env_deinit(struct tk_env *env);
/* Adds "tokio <version>: <message>" ("tokio <version> in <library>: ...") to the snapshot's warnings, once per message. */
void tk_warn(struct tk_env *env, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tk_vwarn(struct tk_env *env, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/* A place inside a value: its offset from the start of the value and its type. */
struct tk_loc {
	uint64_t offset;
	const struct ai_type *type;
};

/* Resolves field in owner (a type of the kind the table says). Returns false, after a warning
 * naming the type and the field, when owner has no such field or it has another size. */
bool tk_field(struct tk_env *env, enum tk_field field, const struct ai_type *owner,
	      struct tk_loc *ret);
/* The same without a warning (for probing which layout family a type belongs to). */
bool tk_field_quiet(enum tk_field field, const struct ai_type *owner, struct tk_loc *ret);

/* A member path "a.b.c" through struct and union members (typedefs followed). */
bool tk_member_path(const struct ai_type *owner, const char *path, struct tk_loc *ret);

/* A value nested in type (type itself, or through struct, union and typedef members, at most a
 * few levels down; not through pointers or enum variants) whose type matches. */
typedef bool tk_type_match_fn(const struct ai_type *type, const void *arg);
bool tk_find_within(const struct ai_type *type, tk_type_match_fn *match, const void *arg,
		    struct tk_loc *ret);
/* The type a pointer nested in type points to (through members, enum variants and pointers
 * themselves, a few levels down), when it matches: e.g. Header in Option<NonNull<Header>>. */
const struct ai_type *tk_find_pointee(const struct ai_type *type, tk_type_match_fn *match,
				      const void *arg);

/* Matchers: DW_AT_name equal to arg; DW_AT_name starting with arg; the same DIE as arg (a
 * const struct ai_type *), or a type of the same name and size. */
bool tk_match_name(const struct ai_type *type, const void *arg);
bool tk_match_prefix(const struct ai_type *type, const void *arg);
bool tk_match_same(const struct ai_type *type, const void *arg);

/* The active variant of the enum value in bytes (size bytes from the enum's start) and, when it
 * has one, its payload `__0` (offset from the enum's start). NULL if none is active (garbage). */
const struct ai_variant *tk_variant(const struct ai_type *type, const void *bytes, size_t size,
				    struct tk_loc *payload_ret, bool *has_payload_ret);
/* The name of the value of a field-less enum or a Rust enum (e.g. a thread-local's State);
 * NULL if not readable. */
const char *tk_enum_value_name(const struct ai_type *type, const void *bytes, size_t size);

/* type with typedefs followed; type itself if that fails. */
const struct ai_type *tk_underlying(const struct ai_type *type);
/* A member's type, or NULL. */
const struct ai_type *tk_member_type(const struct ai_type *owner, const struct ai_member *member);

#endif
