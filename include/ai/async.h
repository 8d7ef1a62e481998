/* The async layer, runtime-neutral: decodes futures from a stopped target's memory with its DWARF
 * (await trees) and finds the futures driven by block_on on a thread's stack (roots). The tasks of
 * each runtime come from its adapter (include/ai/runtime.h). Its output is snapshot data (struct
 * ai_await_node, ai_snapshot_task).
 *
 * Everything is found by DWARF name and bounded: a bad pointer or a layout not understood gives a
 * node with `error` set (or a snapshot warning naming the type and missing field), never a crash
 * or a loop. */
#ifndef AI_ASYNC_H
#define AI_ASYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ai/debuginfo.h"
#include "ai/error.h"
#include "ai/snapshot.h"
#include "ai/target.h"
#include "ai/types.h"
#include "ai/unwind.h"
#include "ai/user_code.h"
#include "ai/value.h"

struct ai_async_options {
	bool locals;              /* decode saved locals and arguments (--no-locals turns it off) */
	bool all_locals;          /* --all-locals: compiler-generated ones too (__awaitee, drop
				   * flags __N, locals a macro such as select! declares) */
	unsigned max_depth;       /* await frames below a root before "..." (--depth); default 64 */
	size_t max_nodes;         /* nodes per tree; default 1000 */
	struct ai_value_limits value_limits;
	bool full_values;         /* --full-values: value_limits are ai_value_limits_full, and text
				   * views print every value whole */
};

void ai_async_options_default(struct ai_async_options *options);

struct ai_macro_sites;
struct ai_drop_glue_cache;

/* Shared by the decoders of one capture. */
struct ai_async {
	struct ai_target *target;   /* borrowed; stopped (or a core) while decoding */
	struct ai_debuginfo *di;    /* borrowed */
	struct ai_module *module;   /* borrowed: the module whose DWARF is decoded: the executable,
				     * or the library that holds the program's async runtime
				     * (ai_runtimes_choose_module) */
	struct ai_dwarf *dwarf;     /* borrowed: that module's DWARF (fast reader) */
	struct ai_types *types;     /* owned: the type model over that DWARF */
	struct ai_user_code *user_code; /* owned: the program's own files versus dependencies' */
	struct ai_async_options options;
	struct ai_macro_sites *macro_sites; /* owned; the user's lines of macros' suspend points,
					     * by coroutine type, made on first need */
	struct ai_drop_glue_cache *drop_glue; /* owned: what drop_flags.c learnt, per coroutine */
	struct ai_intern *names;    /* owned: the await trees' names, interned (ai_await_decode) */
};

struct ai_error *ai_async_create(struct ai_target *target, struct ai_debuginfo *di,
				 const struct ai_async_options *options, struct ai_async **ret);
void ai_async_destroy(struct ai_async *as);
/* Decodes module's DWARF from now on (its types, user code and caches made anew): for a runtime
 * in a shared library. module must have DWARF (ai_module_dwarf). */
void ai_async_set_module(struct ai_async *as, struct ai_module *module);

/* Decodes the future of `type` at `address` into `node` (zeroed by the caller): a coroutine's
 * state, suspend point and locals with its __awaitee as child, through Pin/Box/&mut and
 * Pin<Box<dyn Future>> (concrete type from the vtable), combinators as children, anything else a
 * leaf named by its type. Never fails: problems become node->error. (await_tree.c) */
void ai_await_decode(struct ai_async *as, uint64_t address, const struct ai_type *type,
		     struct ai_await_node *node);

/* What the drop glue of a coroutine says of one of its drop flags (drop_flags.c). */
enum ai_drop_flag {
	AI_DROP_FLAG_UNKNOWN, /* the glue is not found or not understood, or the flag not tied */
	AI_DROP_FLAG_UNUSED,  /* the glue never reads it: it guards no saved local */
	AI_DROP_FLAG_GUARDS,  /* it guards the saved local at *local_ret (an offset in the coroutine) */
};

/* Whether member m of a coroutine's variant struct is a drop flag: an unnamed `__N` bool. */
bool ai_drop_flag_member(const struct ai_type *variant, const struct ai_member *m);

/* Which saved local the drop flag at offset `flag` of `coroutine` guards, read from the
 * machine code of its drop glue, drop_in_place<coroutine> (cached per type). */
enum ai_drop_flag ai_drop_flag_guard(struct ai_async *as, const struct ai_type *coroutine,
				     uint64_t flag, uint64_t *local_ret);
void ai_drop_glue_cache_destroy(struct ai_drop_glue_cache *cache);

/* One drop flag read by the drop glue: kind is AI_DROP_FLAG_GUARDS (with local) or
 * AI_DROP_FLAG_UNKNOWN. A flag the glue never reads has none. */
struct ai_drop_flag_use {
	uint64_t flag;
	enum ai_drop_flag kind;
	uint64_t local;
};

/* Reads the x86-64 code of a drop glue (size bytes at vaddr address) for the flags at offsets
 * flags[]: *uses_ret (owned by the caller) says what each flag read guards. false (and no uses) if
 * the code cannot all be decoded. */
bool ai_drop_glue_read(const uint8_t *code, size_t size, uint64_t address, const uint64_t *flags,
		       size_t flag_count, struct ai_drop_flag_use **uses_ret, size_t *count_ret);

/* The liveness of the saved locals of coroutine `type` at `address` whose current state's struct
 * is vt: states[i] for vt->members[i] (vt->member_count entries), AI_LOCAL_LIVE unless a drop
 * flag says the local was moved or dropped, or it is an async fn's argument slot its body moved
 * from. bytes (size of them, from address; may be NULL) are the coroutine's, already read; the
 * rest is read from the target. (liveness.c) */
void ai_await_local_states(struct ai_async *as, const struct ai_type *type,
			   const struct ai_type *vt, uint64_t address, const uint8_t *bytes,
			   size_t size, enum ai_local_state *states);
/* True if the Unresumed state of coroutine `type` has a member of m's name at m's offset: m is an
 * upvar (an async fn's argument, a block's capture). */
bool ai_coroutine_unresumed_has(const struct ai_type *type, const struct ai_member *m);

/* Adds a "block_on" task for every future driven by block_on on a thread (a frame that a runtime
 * adapter calls its block_on, or any function named block_on), found among the parameters and
 * locals of its stack frames; labelled with the adapter's name. (roots.c) */
struct ai_error *ai_roots_collect(struct ai_async *as, const struct ai_stack *stacks,
				  struct ai_snapshot *snapshot);

/* The generic fallback, run by ai_roots_collect last: on each thread that no task, root or
 * detected runtime explains, the future it is polling now, from the `self` of its coroutine poll
 * frames; a task of kind block_on and runtime "fallback", with a warning. (poll_frames.c) */
void ai_poll_frames_collect(struct ai_async *as, const struct ai_stack *stacks, struct ai_snapshot *snapshot);

/* True if a segment of a Rust path, outside generic arguments, is `name`:
 * ("tokio::runtime::scheduler::current_thread::{impl#8}::block_on::{closure#0}<F>", "block_on").
 * (roots.c) */
bool ai_path_has_segment(const char *function, const char *name);

/* The variables (parameters and locals) of one stack frame that are live at its pc, with their
 * addresses in target memory (DW_AT_location evaluated against the frame's registers and
 * DW_AT_frame_base). Variables in registers only, or not live, are skipped. (frame_vars.c) */
struct ai_frame_var {
	const char *name;        /* borrowed from the DWARF; NULL for an unnamed parameter */
	uint64_t type_die;       /* its type's DIE offset (for ai_types_get) */
	uint64_t address;
	bool is_parameter;
};
typedef bool ai_frame_var_fn(const struct ai_frame_var *var, void *arg); /* false: stop */
struct ai_error *ai_frame_vars(struct ai_async *as, const struct ai_frame *frame,
			       ai_frame_var_fn *fn, void *arg);

#endif
