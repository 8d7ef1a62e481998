/* The generic fallback for executors no runtime adapter knows (issue 13, item 5): the futures a
 * thread is polling right now, from its stack.
 *
 * A coroutine's poll body is a subprogram `path::{async_fn#N}` (or `{async_block#N}`) whose
 * parameter (unnamed in rustc 1.95's DWARF), a Pin<&mut ENV>, is the coroutine. On a thread that nothing else explains (no
 * task, block_on future or blocking closure of it, and no frame of a detected runtime's crate),
 * the chain of such frames, outermost first, is the future being polled and what it awaits: one
 * task of kind block_on and runtime "fallback". Its nodes are the frames, each at
 * the line it runs now (from the stack: live, where the coroutine's saved state would be stale
 * mid-poll). A warning says that only this fallback found it. A future parked between polls
 * leaves no frame: only an executor's block_on frame (roots.c) or an adapter finds those. */
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/runtime.h"
#include "ai/user_code.h"
#include "ai/util.h"

#define MAX_HOPS 4
#define MAX_CHAIN 64

struct self_var {
	struct ai_async *as;
	uint64_t address;
	const struct ai_type *type;
};

/* The coroutine a parameter reaches through pointers and Pin. */
static bool find_self(const struct ai_frame_var *var, void *arg)
{
	struct self_var *s = arg;
	if (!var->is_parameter)
		return true;
	const struct ai_type *type;
	struct ai_error *err = ai_types_get(s->as->types, var->type_die, &type);
	uint64_t address = var->address;
	for (int hops = 0; !err && hops <= MAX_HOPS; hops++) {
		if ((err = ai_type_underlying(type, &type)))
			break;
		if (ai_type_is_coroutine(type)) {
			if (hops > 0) { /* (by pointer: the coroutine being resumed) */
				s->address = address;
				s->type = type;
			}
			break;
		}
		const char *name = ai_type_qualified_name(type);
		const struct ai_member *m;
		if (type->kind == AI_TYPE_POINTER) {
			uint64_t ptr;
			const struct ai_type *target;
			if ((err = ai_type_target(type, &target)) ||
			    (err = ai_memory_read_u64(s->as->target->memory, address, &ptr)))
				break;
			if (!ptr || ptr > 0x00007fffffffffffULL)
				break;
			address = ptr;
			type = target;
		} else if (type->kind == AI_TYPE_STRUCT && name && strncmp(name, "core::pin::Pin<", 15) == 0 &&
			   ((m = ai_type_find_member(type, "pointer")) || (m = ai_type_find_member(type, "__pointer")))) {
			err = ai_type_member_type(type, m, &type);
			address += m->offset;
		} else {
			break;
		}
	}
	ai_error_destroy(err);
	return !s->type;
}

/* "a::b::{async_fn#0}" -> true (and the coroutine's function "a::b" in *len); async blocks keep
 * their whole path, as the decoder names them. */
static bool is_poll_body(const char *function, size_t *len)
{
	const char *last = function ? strrchr(function, ':') : NULL;
	if (!last || last == function || last[-1] != ':')
		return false;
	if (strncmp(last + 1, "{async_fn#", 10) == 0) {
		*len = (size_t)(last - 1 - function);
		return true;
	}
	if (strncmp(last + 1, "{async_block#", 13) == 0) {
		*len = strlen(function);
		return true;
	}
	return false;
}

/* Whether something else lists what the thread does, or a runtime the adapters decode runs it. */
static bool explained(const struct ai_snapshot *snapshot, pid_t tid, const struct ai_stack *stack)
{
	for (size_t i = 0; i < snapshot->task_count; i++)
		if (snapshot->tasks[i].thread == tid)
			return true;
	for (size_t r = 0; r < snapshot->runtime_count; r++) {
		/* an adapter's name, as its crate's path spells it: "async-task" -> "async_task::" */
		char *crate = xasprintf("%s::", snapshot->runtimes[r].name);
		for (char *p = crate; *p; p++)
			if (*p == '-')
				*p = '_';
		bool found = false;
		for (size_t f = 0; f < stack->count && !found; f++) {
			const char *fn = stack->frames[f].location.function;
			found = fn && strncmp(fn, crate, strlen(crate)) == 0;
		}
		free(crate);
		if (found)
			return true;
	}
	return false;
}

static void collect_thread(struct ai_async *as, const struct ai_thread *thread, const struct ai_stack *stack,
			   struct ai_snapshot *snapshot, size_t *found)
{
	if (explained(snapshot, thread->tid, stack))
		return;
	size_t chain[MAX_CHAIN], count = 0;
	struct self_var selves[MAX_CHAIN];
	/* outermost first */
	for (size_t f = stack->count; f-- > 0 && count < MAX_CHAIN;) {
		size_t len;
		if (!is_poll_body(stack->frames[f].location.function, &len))
			continue;
		struct self_var s = { as, 0, NULL };
		ai_error_destroy(ai_frame_vars(as, &stack->frames[f], find_self, &s));
		if (!s.type)
			continue;
		chain[count] = f;
		selves[count++] = s;
	}
	if (!count)
		return;
	struct ai_snapshot_task *task = ai_snapshot_add_task(snapshot);
	task->runtime = xstrdup("fallback");
	task->kind = xstrdup("block_on");
	task->thread = thread->tid;
	task->address = selves[0].address;
	struct ai_await_node *node = &task->tree;
	for (size_t i = 0; i < count; i++) {
		if (i > 0)
			node = ai_await_node_add_child(node);
		const struct ai_location *loc = &stack->frames[chain[i]].location;
		size_t len;
		is_poll_body(loc->function, &len);
		node->function = xstrndup(loc->function, len);
		const char *type = ai_type_qualified_name(selves[i].type);
		node->type = xstrdup(type ? type : node->function);
		node->address = selves[i].address;
		node->type_die = selves[i].type->die_offset;
		if (loc->file) {
			node->file = xstrdup(loc->file);
			node->line = (int)loc->line;
			node->dependency = ai_user_code_is_dependency(as->user_code, node->file);
		}
	}
	task->future = xstrdup(task->tree.function);
	(*found)++;
}

void ai_poll_frames_collect(struct ai_async *as, const struct ai_stack *stacks, struct ai_snapshot *snapshot)
{
	size_t found = 0;
	for (size_t i = 0; i < as->target->thread_count; i++)
		collect_thread(as, &as->target->threads[i], &stacks[i], snapshot, &found);
	if (found)
		ai_snapshot_add_warning(snapshot, "%zu future%s found only by the generic fallback (being polled "
					"on a thread no runtime adapter explains; futures parked between polls "
					"there are not seen)", found, found == 1 ? "" : "s");
}
