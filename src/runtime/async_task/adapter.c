/* The async-task adapter: the tasks of every executor built on async-task 4.x (smol,
 * async-executor, async-std), found through the task vtables async-task emits (tasks.c), and
 * smol's / async-io's block_on frames. */
#include <string.h>

#include "ai/util.h"
#include "async_task.h"

static char *async_task_detect(struct ai_async *as)
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

const struct ai_runtime_ops ai_runtime_async_task = {
	.name = "async-task",
	.detect = async_task_detect,
	.collect = ai_async_task_collect,
	.is_block_on_frame = async_task_block_on_frame,
	.leaf_wait = ai_async_task_leaf_wait,
	.held = ai_async_task_held,
};
