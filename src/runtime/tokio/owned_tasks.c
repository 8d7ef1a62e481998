/* Walking a runtime's task lists (OwnedTasks, one list or sharded; before 1.9 the workers' own
 * lists): every node validated, every walk bounded, every task added to the snapshot with its
 * decoded future. Part of the collection of tasks.c. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/runtime.h"
#include "ai/dwarf_reader.h"
#include "ai/util.h"
#include "layout.h"
#include "tokio.h"
#include "tasks_internal.h"

#define TK_MAX_TASKS 10000000u    /* a hard cap on tasks per runtime, whatever the lists say */
#define TK_COUNT_SLACK 64u        /* OwnedTasks.count may lag a push or a remove per thread */
#define TK_GUESS_MAX 4096u        /* cells read in one go up to this size (see step()) */
#define TK_PREALLOCATE_MAX (1u << 20) /* task slots made room for up front, at most */

/* ---- Walking OwnedTasks ---- */

/* T's name: computing a qualified name indexes the type's unit, so only when it is needed (the
 * await tree usually names the future). */
static const char *future_name(struct tk_vtable *vt)
{
	if (!vt->future_name && vt->future)
		vt->future_name = ai_type_qualified_name(vt->future);
	return vt->future_name ? vt->future_name : "?";
}

const char *tk_status_of(uint64_t state)
{
	if (state & TK_RUNNING)
		return "running";
	if (state & TK_COMPLETE)
		return "completed";
	if (state & TK_CANCELLED)
		return "cancelled";
	if (state & TK_NOTIFIED)
		return "scheduled";
	return "idle";
}

void tk_emit_task(struct tk *tk, const struct tk_runtime *rt, struct tk_vtable *vt,
		  uint64_t address, const uint8_t *cell)
{
	struct ai_snapshot_task *task = ai_snapshot_add_task(tk->snapshot);
	uint64_t state = tk_get_u64(cell, tk->header_state);
	task->runtime = xstrdup("tokio");
	task->kind = xstrdup("task");
	task->status = xstrdup(tk_status_of(state));
	const char *flavor = vt->flavor ? vt->flavor : rt->flavor;
	task->flavor = flavor ? xstrdup(flavor) : NULL;
	task->address = address;
	task->runtime_address = rt->owned;
	if (vt->has_id) {
		task->id = tk_get_u64(cell, vt->id);
		task->has_id = true;
		for (size_t i = 0; i < tk->current_count; i++)
			if (tk->currents[i].task_id == task->id)
				task->thread = tk->currents[i].tid;
	}
	struct ai_await_node *tree = &task->tree;
	const struct ai_variant *stage = NULL;
	struct tk_loc payload;
	bool has_payload = false;
	if (vt->has_stage)
		stage = tk_variant(vt->stage_type, cell + vt->stage, vt->read_size - vt->stage,
				   &payload, &has_payload);
	if (stage && stage->name && strcmp(stage->name, "Running") == 0 && has_payload) {
		ai_await_decode(tk->as, address + vt->stage + payload.offset, payload.type, tree);
	} else {
		/* Finished(output) or Consumed: nothing is awaited any more. */
		tree->type = xstrdup(future_name(vt));
		tree->address = address + vt->stage;
		tree->leaf = true;
		if (stage && stage->name)
			tree->state = xstrdup(stage->name);
		else
			tree->error = xstrdup(vt->has_stage ? "the task's Stage has no valid variant"
							    : "no DWARF for the task's Stage");
	}
	if (tree->function)
		task->future = xstrdup(tree->function);
	else if (tree->type)
		task->future = xstrdup(tree->type);
	else
		task->future = xstrdup(future_name(vt));
}

/* One linked list being walked. */
struct tk_cursor {
	uint64_t node, prev, tail;
	/* Brent's cycle detection, for when the prev links cannot be checked: the node seen at the
	 * last power of two steps. */
	uint64_t mark;
	size_t steps, power;
};

/* Takes one task of a list: validates it, emits it and moves to the next. False when the list
 * ends, or is left (after a warning) at a node that is not valid. */
static bool step(struct tk *tk, struct tk_runtime *rt, const struct tk_owned_layout *l,
		 uint64_t owner_id, struct tk_cursor *c)
{
	uint64_t node = c->node;
	if (!node) {
		if (l->has_tail && c->tail != c->prev)
			tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": a task list ends at 0x%" PRIx64
				", its tail is 0x%" PRIx64, rt->owned, c->prev, c->tail);
		return false;
	}
	if (!tk_plausible(node, 8)) {
		tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": task pointer 0x%" PRIx64
			" is not valid; the rest of its list is skipped", rt->owned, node);
		return false;
	}
	if (node == c->mark) {
		tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": a task list loops back to 0x%" PRIx64,
			rt->owned, node);
		return false;
	}
	if (++c->steps >= c->power) {
		c->mark = node;
		c->power = c->power ? 2 * c->power : 2;
		c->steps = 0;
	}
	/* One read for the whole cell: as many bytes as the biggest cell seen so far (the header
	 * alone when that runs off the mapping), then the rest if this cell is bigger. */
	size_t got = AI_MAX(AI_MIN(tk->read_guess, TK_GUESS_MAX), tk->header_size);
	uint8_t *cell = tk_scratch(tk, got);
	struct ai_error *err = tk_read(tk, cell, node, got);
	if (err && got > tk->header_size && err->code != AI_ERROR_TARGET_EXITED) {
		ai_error_destroy(err);
		got = tk->header_size;
		err = tk_read(tk, cell, node, got);
	}
	if (err) {
		if (err->code != AI_ERROR_TARGET_EXITED)
			tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": cannot read the task at 0x%" PRIx64
				"; the rest of its list is skipped", rt->owned, node);
		ai_error_destroy(err);
		return false;
	}
	uint64_t vtable = tk_get_u64(cell, tk->header_vtable);
	struct tk_vtable *vt = tk_get_vtable(tk, vtable);
	/* The task's S must be the runtime's: a vtable of another S is another runtime's task, or
	 * the node is no task at all. */
	if (vt->valid && l->scheduler && vt->matched_s != l->scheduler &&
	    vt->scheduler->name && l->scheduler->name &&
	    strcmp(vt->scheduler->name, l->scheduler->name) == 0)
		vt->matched_s = l->scheduler;
	if (!vt->valid || (l->scheduler && vt->matched_s != l->scheduler)) {
		tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": the task at 0x%" PRIx64 " has vtable "
			"0x%" PRIx64 ", not one of this runtime's tasks; the rest of its list "
			"is skipped", rt->owned, node, vtable);
		return false;
	}
	if (tk->has_owner_id && l->has_id && tk_get_u64(cell, tk->owner_id) != owner_id) {
		tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": the task at 0x%" PRIx64 " has owner "
			"id %" PRIu64 ", the runtime's is %" PRIu64 "; the rest of its list is "
			"skipped", rt->owned, node, tk_get_u64(cell, tk->owner_id), owner_id);
		return false;
	}
	if (vt->read_size > got) {
		cell = tk_scratch(tk, vt->read_size);
		err = tk_read(tk, cell, node, vt->read_size);
		if (err) {
			tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": cannot read the task at 0x%" PRIx64
				" (%" PRIu64 " bytes); the rest of its list is skipped", rt->owned,
				node, vt->read_size);
			ai_error_destroy(err);
			return false;
		}
		tk->read_guess = AI_MAX(tk->read_guess, vt->read_size);
	}
	/* The prev links, checked all along, rule out cycles. */
	if (tk->has_prev && tk_get_u64(cell, vt->links + tk->prev) != c->prev) {
		tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": the task at 0x%" PRIx64 " does not "
			"link back to 0x%" PRIx64 "; the rest of its list is skipped", rt->owned,
			node, c->prev);
		return false;
	}
	if (vt->has_scheduler && rt->arc_inner && tk_get_u64(cell, vt->scheduler_offset) != rt->arc_inner)
		tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": the task at 0x%" PRIx64 " names "
			"another scheduler (0x%" PRIx64 ")", rt->owned, node,
			tk_get_u64(cell, vt->scheduler_offset));
	c->prev = node;
	c->node = tk_get_u64(cell, vt->links + tk->next);
	tk_emit_task(tk, rt, vt, node, cell);
	rt->task_count++;
	return true;
}

/* Walks the lists in lockstep, one task of each in turn: tokio puts task id i in shard
 * i & mask and allocates cells in spawn order, so this goes through the heap in address order
 * (each list alone would jump by shard-count cells, a page or more at each step). At most
 * `bound` tasks in all. */
static void walk_lists(struct tk *tk, struct tk_runtime *rt, const struct tk_owned_layout *l,
		       uint64_t owner_id, struct tk_cursor *cursors, size_t count, size_t bound)
{
	/* cursors[0 .. live) are the lists not finished, kept in order (ended ones are dropped
	 * after each round, so that many short lists cost no more than their tasks). */
	size_t live = count;
	while (live > 0) {
		size_t kept = 0;
		for (size_t i = 0; i < live; i++) {
			if (cursors[i].node && rt->task_count >= bound) {
				tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": stopped walking its tasks "
					"after %zu (more than its count)", rt->owned, rt->task_count);
				return;
			}
			if (step(tk, rt, l, owner_id, &cursors[i]))
				cursors[kept++] = cursors[i];
		}
		live = kept;
	}
}

/* A runtime whose task list cannot be walked: a warning, or, for a handle that only a stack
 * frame gave (maybe a stale variable), no runtime at all. */
static void give_up(struct tk *tk, struct tk_runtime *rt, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void give_up(struct tk *tk, struct tk_runtime *rt, const char *fmt, ...)
{
	if (rt->from_frame) {
		rt->dropped = true;
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	tk_vwarn(&tk->env, fmt, ap);
	va_end(ap);
}

/* Before 1.9: the lists of the workers found in the stacks. */
static void walk_core_lists(struct tk *tk, struct tk_runtime *rt)
{
	if (!rt->list_count) {
		rt->unsupported = true;
		tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": its scheduler has no OwnedTasks (%s has no "
			"field `%s`), and no worker's list of tasks was found in the threads' stacks",
			rt->owned, tk_fields[TK_HANDLE_OWNED].owner, tk_fields[TK_HANDLE_OWNED].paths[0]);
		return;
	}
	const struct tk_owned_layout *l = &tk->layouts[rt->layout];
	size_t size = l->type->has_size ? l->type->size : 0;
	uint8_t list[256];
	if (!l->ok || !tk->header_ok || tk->header_size > 256 || size < l->head + 8 ||
	    size > sizeof(list)) {
		rt->unsupported = true;
		return; /* (warned when resolved) */
	}
	struct tk_cursor *cursors = xcalloc(rt->list_count, sizeof(*cursors));
	size_t n = 0;
	for (size_t i = 0; i < rt->list_count; i++) {
		struct ai_error *err = tk_read(tk, list, rt->lists[i].address, size);
		if (err) {
			ai_error_destroy(err);
			continue;
		}
		cursors[n].node = tk_get_u64(list, l->head);
		cursors[n].tail = l->has_tail ? tk_get_u64(list, l->tail) : 0;
		n++;
	}
	walk_lists(tk, rt, l, 0, cursors, n, TK_MAX_TASKS);
	free(cursors);
	if (rt->workers && rt->list_count < rt->workers)
		tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": the lists of %zu of its %" PRIu64 " workers "
			"were found (a worker's list is in reach only while the worker parks or polls "
			"a task): the tasks of the others are not shown", rt->owned, rt->list_count,
			rt->workers);
}

void tk_walk_runtime(struct tk *tk, struct tk_runtime *rt)
{
	rt->first_task = tk->snapshot->task_count;
	if (rt->per_core) {
		walk_core_lists(tk, rt);
		return;
	}
	const struct tk_owned_layout *l = &tk->layouts[rt->layout];
	if (!l->ok || !tk->header_ok || tk->header_size > 256) {
		rt->unsupported = !rt->from_frame;
		return; /* (warned when resolved) */
	}
	size_t size = l->type->has_size ? l->type->size : 0;
	uint8_t owned[1024];
	if (size == 0 || size > sizeof(owned)) {
		give_up(tk, rt, "%s has an odd size (%zu bytes)", tk_fields[TK_OWNED_ID].owner, size);
		return;
	}
	struct ai_error *err = tk_read(tk, owned, rt->owned, size);
	if (err) {
		ai_error_destroy(err);
		give_up(tk, rt, "cannot read the task list of the runtime at 0x%" PRIx64, rt->owned);
		return;
	}
	uint64_t owner_id = l->has_id ? tk_get_u64(owned, l->id) : 0;
	if (!l->sharded) {
		struct tk_cursor c = {
			.node = tk_get_u64(owned, l->list + l->head),
			.tail = l->has_tail ? tk_get_u64(owned, l->list + l->tail) : 0,
		};
		if (c.node && !tk_plausible(c.node, 8)) {
			give_up(tk, rt, "runtime at 0x%" PRIx64 ": its task list starts at 0x%" PRIx64,
				rt->owned, c.node);
			return;
		}
		walk_lists(tk, rt, l, owner_id, &c, 1, TK_MAX_TASKS);
		return;
	}
	uint64_t data = tk_get_u64(owned, l->lists_data), length = tk_get_u64(owned, l->lists_length);
	uint64_t count = l->has_count ? tk_get_u64(owned, l->count) : 0;
	/* tokio makes a power of two of shards, at most 65536 */
	if (length == 0 || length > TK_MAX_SHARDS || (length & (length - 1)) || !tk_plausible(data, 8)) {
		give_up(tk, rt, "runtime at 0x%" PRIx64 ": %" PRIu64 " task list shards at 0x%" PRIx64
			" make no sense", rt->owned, length, data);
		return;
	}
	size_t bound = TK_MAX_TASKS;
	if (l->has_count)
		bound = AI_MIN(count + TK_COUNT_SLACK + tk->thread_count, (uint64_t)TK_MAX_TASKS);
	size_t shards_size = (size_t)(length * l->stride);
	uint8_t *shards = xmalloc(shards_size);
	err = tk_read(tk, shards, data, shards_size);
	if (err) {
		ai_error_destroy(err);
		free(shards);
		give_up(tk, rt, "runtime at 0x%" PRIx64 ": cannot read its %" PRIu64 " task list "
			"shards at 0x%" PRIx64, rt->owned, length, data);
		return;
	}
	/* Room for them all at once (the snapshot's array would grow step by step). */
	if (l->has_count && count <= TK_PREALLOCATE_MAX)
		AI_GROW(tk->snapshot->tasks, tk->snapshot->task_capacity,
			tk->snapshot->task_count + count);
	struct tk_cursor *cursors = xcalloc(length, sizeof(*cursors));
	for (uint64_t i = 0; i < length; i++) {
		const uint8_t *shard = shards + i * l->stride + l->list;
		cursors[i].node = tk_get_u64(shard, l->head);
		cursors[i].tail = l->has_tail ? tk_get_u64(shard, l->tail) : 0;
	}
	free(shards);
	walk_lists(tk, rt, l, owner_id, cursors, length, bound);
	free(cursors);
	/* The count is updated after a push or remove, under the shard lock: a thread stopped in
	 * between leaves it off by one. */
	uint64_t walked = rt->task_count;
	if (l->has_count && (walked + tk->thread_count < count || walked > count + tk->thread_count))
		tk_warn(&tk->env, "runtime at 0x%" PRIx64 ": its task count says %" PRIu64
			", its lists hold %" PRIu64, rt->owned, count, walked);
}

/* Tasks of a runtime by id (a runtime's tasks stay together, in the order runtimes were found). */
int tk_compare_tasks(const void *a, const void *b)
{
	const struct ai_snapshot_task *x = a, *y = b;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return x->address < y->address ? -1 : x->address > y->address;
}
