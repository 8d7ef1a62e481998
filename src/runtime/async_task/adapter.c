/* The async-task adapter: the tasks of every executor built on async-task 4.x (smol,
 * async-executor, async-std), found through the task vtables async-task emits (tasks.c), and
 * smol's / async-io's block_on frames. */
#include <string.h>

#include "ai/util.h"
#include "async_task.h"

static char *async_task_detect(const struct ai_runtime_ops *self, struct ai_async *as)
{
	if (!ai_runtime_crate_linked(as, "async_task"))
		return NULL;
	char *version = ai_runtime_crate_version(as, "async-task");
	return version ? version : xstrdup("");
}

/* async_io::block_on (smol::block_on is a re-export of it) and async-std's task::block_on. */
static bool async_task_block_on_frame(const char *function)
{
	return (strncmp(function, "async_io::", 10) == 0 || strncmp(function, "async_std::", 11) == 0 ||
		strncmp(function, "smol::", 6) == 0) &&
	       ai_path_has_segment(function, "block_on");
}

/* The crate that drives a block_on on this stack: the outermost frame of a known one, so that
 * async-std's task::block_on (which calls async-global-executor's, which calls async-io's) is
 * async-std's, and a thread async-global-executor started is that executor's. */
static const char *async_task_block_on_label(const struct ai_stack *stack)
{
	static const struct { const char *crate, *label; } known[] = {
		{ "async_std::", "async-std" },
		{ "async_global_executor::", "async-global-executor" },
		{ "smol::", "smol" },
		{ "async_io::", "async-io" },
	};
	for (size_t i = stack->count; i-- > 0;) {
		const char *function = stack->frames[i].location.function;
		for (size_t k = 0; function && k < AI_ARRAY_SIZE(known); k++)
			if (strncmp(function, known[k].crate, strlen(known[k].crate)) == 0)
				return known[k].label;
	}
	return NULL;
}

/* The wrappers and combinators of the executors and of futures-lite (which smol re-exports). */
static const struct ai_future_shape_rule async_task_shapes[] = {
	/* async-executor wraps every spawned future to remove it from its Slab on drop */
	{ "async_executor::AsyncCallOnDrop<", AI_SHAPE_TRANSPARENT, "future", NULL },
	/* async-std's task locals (id, name) around every future it spawns or blocks on */
	{ "async_std::task::builder::SupportTaskLocals<", AI_SHAPE_TRANSPARENT, "future", NULL },
	/* task::sleep(dur) is io::timeout(dur, future::pending()): the async-io Timer is the wait */
	{ "async_std::io::timeout::Timeout<async_std::future::pending::pending::", AI_SHAPE_TRANSPARENT,
	  "timeout", NULL },
	{ "async_std::io::timeout::Timeout<", AI_SHAPE_MEMBERS, "future", "timeout" },
	{ "futures_lite::future::Or<", AI_SHAPE_MEMBERS, "future1", "future2" },
	{ "futures_lite::future::Race<", AI_SHAPE_MEMBERS, "future1", "future2" },
	{ NULL, 0, NULL, NULL },
};

/* A coroutine's guards (wait_locks.c), and the fds it keeps (the end of a connection it owns
 * while it waits on something else). */
static void async_task_held(struct ai_wait_walk *w, struct ai_snapshot_task *task, const struct ai_await_node *node)
{
	ai_async_task_held(w, task, node);
	ai_wait_find_fds(w, &ai_async_task_io_rules, task, node);
}

const struct ai_runtime_ops ai_runtime_async_task = {
	.name = "async-task",
	.shapes = async_task_shapes,
	.detect = async_task_detect,
	.collect = ai_async_task_collect,
	.is_block_on_frame = async_task_block_on_frame,
	.block_on_label = async_task_block_on_label,
	.leaf_wait = ai_async_task_leaf_wait,
	.held = async_task_held,
	.finish = ai_async_task_finish,
	.probe_points = ai_async_task_probe_points,
};
