/* The async layer: decodes futures from a stopped target's memory with its DWARF, and finds the
 * futures there are: tokio's tasks (the runtime adapter) and the futures driven by block_on on a
 * thread's stack (roots). Its output is snapshot data (struct ai_await_node, ai_snapshot_task).
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
#include "ai/value.h"

struct ai_async_options {
	bool locals;              /* decode saved locals and arguments (--no-locals turns it off) */
	unsigned max_depth;       /* await frames below a root before "..." (--depth); default 64 */
	size_t max_nodes;         /* nodes per tree; default 1000 */
	struct ai_value_limits value_limits;
};

void ai_async_options_default(struct ai_async_options *options);

/* Shared by the decoders of one capture. */
struct ai_async {
	struct ai_target *target;   /* borrowed; stopped (or a core) while decoding */
	struct ai_debuginfo *di;    /* borrowed */
	struct ai_dwarf *dwarf;     /* borrowed: the executable's DWARF (fast reader) */
	struct ai_types *types;     /* owned: the type model over the executable's DWARF */
	struct ai_async_options options;
};

struct ai_error *ai_async_create(struct ai_target *target, struct ai_debuginfo *di,
				 const struct ai_async_options *options, struct ai_async **ret);
void ai_async_destroy(struct ai_async *as);

/* Decodes the future of `type` at `address` into `node` (zeroed by the caller): a coroutine's
 * state, suspend point and locals with its __awaitee as child, through Pin/Box/&mut and
 * Pin<Box<dyn Future>> (concrete type from the vtable), combinators as children, anything else a
 * leaf named by its type. Never fails: problems become node->error. (await_tree.c) */
void ai_await_decode(struct ai_async *as, uint64_t address, const struct ai_type *type,
		     struct ai_await_node *node);

/* Adds every tokio task of every runtime found in the target to the snapshot, with its decoded
 * await tree, status, id and flavor; sets snapshot->tokio_version and runtime_count. A binary
 * without tokio adds nothing and no error; a layout not understood adds a warning. stacks[i] is
 * the unwound stack of target->threads[i] (handles on stack frames, tasks being polled). (tokio.c) */
struct ai_error *ai_tokio_collect(struct ai_async *as, const struct ai_stack *stacks,
				  struct ai_snapshot *snapshot);

/* The cross-check and fallback of the list walk (DESIGN.md 5.5): every task header found by
 * scanning writable anonymous memory and the heap for words equal to a known task vtable (the
 * words of the executable's .data.rel.ro that point to a raw::poll<T, S>), validated as the walk
 * validates a task. Sorted, unique, owned by the caller (NULL when none). Completed tasks whose
 * JoinHandle is alive are found too. Bounded: 1 GiB scanned, 4M candidates. (tokio.c) */
struct ai_error *ai_tokio_scan_headers(struct ai_async *as, uint64_t **headers_ret,
				       size_t *count_ret);

/* Adds a "block_on" task for every future driven by block_on on a thread (#[tokio::main],
 * #[tokio::test], Runtime::block_on, futures::executor::block_on), found among the parameters
 * and locals of its stack frames. (roots.c) */
struct ai_error *ai_roots_collect(struct ai_async *as, const struct ai_stack *stacks,
				  struct ai_snapshot *snapshot);

/* The variables (parameters and locals) of one stack frame that are live at its pc, with their
 * addresses in target memory (DW_AT_location evaluated against the frame's registers and
 * DW_AT_frame_base). Variables in registers only, or not live, are skipped. (frame_vars.c) */
struct ai_frame_var {
	const char *name;        /* borrowed from the DWARF */
	uint64_t type_die;       /* its type's DIE offset (for ai_types_get) */
	uint64_t address;
	bool is_parameter;
};
typedef bool ai_frame_var_fn(const struct ai_frame_var *var, void *arg); /* false: stop */
struct ai_error *ai_frame_vars(struct ai_async *as, const struct ai_frame *frame,
			       ai_frame_var_fn *fn, void *arg);

#endif
