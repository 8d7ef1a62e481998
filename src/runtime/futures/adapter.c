/* The futures adapter: futures::executor (block_on, LocalPool::run*, ThreadPool). Its futures
 * are found on the stacks of the threads that drive them (src/async/roots.c); its combinators
 * (join!, select!, FuturesUnordered...) are decoded by the await-tree decoder. */
#include <string.h>

#include "ai/runtime.h"
#include "ai/util.h"

static char *futures_detect(struct ai_async *as)
{
	if (!ai_runtime_crate_linked(as, "futures_executor"))
		return NULL;
	char *version = ai_runtime_crate_version(as, "futures-executor");
	return version ? version : xstrdup("");
}

/* block_on, and run_executor, which block_on and LocalPool's run, run_until drive futures in. */
static bool futures_block_on_frame(const char *function)
{
	return strncmp(function, "futures_executor::", 18) == 0 &&
	       (ai_path_has_segment(function, "block_on") || ai_path_has_segment(function, "run_executor"));
}

const struct ai_runtime_ops ai_runtime_futures = {
	.name = "futures",
	.detect = futures_detect,
	.is_block_on_frame = futures_block_on_frame,
};
