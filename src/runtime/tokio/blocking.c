/* tokio's spawn_blocking closures (docs/tokio-layouts.md, "spawn_blocking").
 *
 * spawn_blocking makes a task whose future is BlockingTask<F> { func: Option<F> } and whose
 * scheduler is BlockingSchedule; it is "unowned" (in no OwnedTasks: its Header.owner_id is 0), so
 * neither the list walk nor the scan lists it. While the closure runs, a thread of the blocking
 * pool is inside raw::poll<BlockingTask<F>, BlockingSchedule>(ptr: NonNull<Header>) (1.8 to
 * 1.54): that frame's `ptr` names the task, whose vtable gives its cell, id and state, and the
 * frames inside it are the closure's own. Each one is a task of kind "blocking": the thread that
 * runs it, the closure's type (F) as its future, and as its tree one node at the innermost frame
 * of the program's own code on that thread (the line it is blocked at). The runtime's own
 * closures (multi_thread's workers run as blocking tasks) are left out. Closures still queued in
 * the pool are listed by blocking_queue.c. How long one has run is not shown: tokio keeps no start
 * time, and a pool thread runs one closure after another, so the thread's own start time is not
 * the closure's. */
#include <stdlib.h>

#include "ai/util.h"
#include "tokio.h"

struct poll_ptr {
	struct tk *tk;
	uint64_t header;
};

static bool find_ptr(const struct ai_frame_var *var, void *arg)
{
	struct poll_ptr *p = arg;
	if (!var->is_parameter || !var->name || strcmp(var->name, "ptr") != 0)
		return true;
	const struct ai_type *type;
	struct ai_error *err = ai_types_get(p->tk->as->types, var->type_die, &type);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	type = tk_underlying(type);
	uint64_t value;
	/* NonNull<Header> { pointer: *const Header } */
	if (type->has_size && type->size == 8 && tk_read_u64(p->tk, var->address, &value) &&
	    tk_plausible(value, 8))
		p->header = value;
	return false;
}

/* BlockingTask<F>'s F, or NULL when T is no BlockingTask. */
static const struct ai_type *closure_of(const struct ai_type *t)
{
	struct tk_loc func;
	if (!t || t->kind != AI_TYPE_STRUCT || !t->name ||
	    strncmp(t->name, "BlockingTask<", strlen("BlockingTask<")) != 0 ||
	    !tk_field_quiet(TK_BLOCKING_TASK_FUNC, t, &func))
		return NULL;
	const struct ai_template_param *param = ai_type_find_template_param(t, "T");
	const struct ai_type *f = NULL;
	if (!param || ai_type_resolve(t, &param->type, &f))
		return t; /* (named by BlockingTask<F> itself) */
	return tk_underlying(f);
}

/* The innermost frame of the program's own code inside the poll frame at `poll`, else the
 * closure's own frame (the one BlockingTask::poll calls), else NULL. */
static const struct ai_frame *user_frame(struct tk *tk, const struct ai_stack *stack, size_t poll)
{
	for (size_t f = 0; f < poll; f++) {
		const struct ai_location *loc = &stack->frames[f].location;
		if (stack->frames[f].module == tk->main && loc->function && loc->file && loc->line &&
		    !ai_user_code_is_dependency(tk->as->user_code, loc->file))
			return &stack->frames[f];
	}
	for (size_t f = 1; f < poll; f++) {
		const char *fn = stack->frames[f].location.function;
		if (fn && strncmp(fn, "tokio::runtime::blocking::task::",
				  strlen("tokio::runtime::blocking::task::")) == 0)
			return stack->frames[f - 1].location.function ? &stack->frames[f - 1] : NULL;
	}
	return NULL;
}

void tk_blocking_emit(struct tk *tk, const struct ai_thread *thread, const struct ai_stack *stack,
		      size_t poll, uint64_t header)
{
	if (!tk->header_ok || tk->header_size > 256)
		return;
	uint8_t head[256];
	struct ai_error *err = tk_read(tk, head, header, tk->header_size);
	if (err) {
		ai_error_destroy(err);
		return;
	}
	struct tk_vtable *vt = tk_get_vtable(tk, tk_get_u64(head, tk->header_vtable));
	const struct ai_type *closure =
		vt->valid && vt->future ? closure_of(tk_underlying(vt->future)) : NULL;
	if (!closure)
		return; /* an ordinary task being polled: its runtime's list has it */
	uint8_t *cell = xmalloc(vt->read_size);
	err = tk_read(tk, cell, header, vt->read_size);
	if (err) {
		ai_error_destroy(err);
		free(cell);
		return;
	}
	/* The runtime's own closures are its machinery, not the program's work: multi_thread's
	 * workers are launched as blocking tasks (worker::Launch::launch, 1.8 to 1.54). */
	const char *name = ai_type_qualified_name(closure);
	if (name && strncmp(name, "tokio::runtime::", strlen("tokio::runtime::")) == 0) {
		free(cell);
		return;
	}
	for (size_t i = 0; i < tk->snapshot->task_count; i++) {
		if (tk->snapshot->tasks[i].address == header) {
			free(cell);
			return;
		}
	}
	struct ai_snapshot_task *task = ai_snapshot_add_task(tk->snapshot);
	task->runtime = xstrdup("tokio");
	task->kind = xstrdup("blocking");
	task->status = xstrdup(tk_status_of(tk_get_u64(cell, tk->header_state)));
	task->thread = thread ? thread->tid : 0;
	task->address = header;
	if (vt->has_id) {
		task->id = tk_get_u64(cell, vt->id);
		task->has_id = true;
	}
	task->future = xstrdup(name ? name : "?");
	/* The tree: where the closure is, on its thread (no future to decode: it is running); a
	 * queued one is only its type. */
	struct ai_await_node *tree = &task->tree;
	tree->type = xstrdup(task->future);
	tree->address = header;
	if (!thread) {
		free(cell);
		return;
	}
	const struct ai_frame *frame = user_frame(tk, stack, poll);
	if (frame) {
		tree->function = xstrdup(frame->location.function);
		if (frame->location.file) {
			tree->file = xstrdup(frame->location.file);
			tree->line = (int)frame->location.line;
			tree->dependency = ai_user_code_is_dependency(tk->as->user_code, tree->file);
		}
	} else {
		tree->error = xstrdup("no frame of the closure on its thread's stack");
	}
	free(cell);
}

void tk_blocking_collect(struct tk *tk, const struct ai_stack *stacks)
{
	if (!stacks)
		return;
	size_t len = strlen(TK_POLL_PREFIX);
	for (size_t t = 0; t < tk->as->target->thread_count; t++) {
		const struct ai_stack *stack = &stacks[t];
		for (size_t f = 0; f < stack->count; f++) {
			const char *fn = stack->frames[f].location.function;
			if (!fn || strncmp(fn, TK_POLL_PREFIX, len) != 0)
				continue;
			struct poll_ptr p = { tk, 0 };
			struct ai_error *err = ai_frame_vars(tk->as, &stack->frames[f], find_ptr, &p);
			ai_error_destroy(err);
			if (p.header)
				tk_blocking_emit(tk, &tk->as->target->threads[t], stack, f, p.header);
			break; /* the innermost poll is the one running */
		}
	}
}
