/* The futures adapter: futures::executor (block_on, LocalPool::run*, ThreadPool). Its futures
 * are found on the stacks of the threads that drive them (src/async/roots.c); its combinators
 * (join!, select!, FuturesUnordered...) are shapes the await-tree decoder knows. */
#include <string.h>

#include "ai/util.h"
#include "futures.h"

static char *futures_detect(const struct ai_runtime_ops *self, struct ai_async *as)
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

static const struct ai_future_shape_rule futures_shapes[] = {
	/* what LocalPool and ThreadPool keep a spawned future as: a `*mut dyn Future` */
	{ "futures_task::future_obj::LocalFutureObj<", AI_SHAPE_TRANSPARENT, "future", NULL },
	{ "futures_task::future_obj::FutureObj<", AI_SHAPE_TRANSPARENT, "__0", NULL },
	{ "futures_util::stream::stream::next::Next<", AI_SHAPE_TRANSPARENT, "stream", NULL },
	{ "futures_util::stream::stream::collect::Collect<", AI_SHAPE_TRANSPARENT, "stream", NULL },
	{ "futures_util::stream::futures_ordered::FuturesOrdered<", AI_SHAPE_TRANSPARENT, "in_progress_queue", NULL },
	{ "futures_util::stream::futures_ordered::OrderWrapper<", AI_SHAPE_TRANSPARENT, "data", NULL },
	/* FutureExt::map: Map { inner: map::Map::Incomplete { future, f } | Complete } */
	{ "futures_util::future::future::Map<", AI_SHAPE_TRANSPARENT, "inner", NULL },
	{ "futures_util::future::future::map::Map<", AI_SHAPE_MAYBE_DONE, "Incomplete", NULL },
	{ "futures_util::future::future::fuse::Fuse<", AI_SHAPE_TRANSPARENT, "inner", NULL },
	{ "futures_util::future::maybe_done::MaybeDone<", AI_SHAPE_MAYBE_DONE, NULL, NULL },
	{ "futures_util::future::try_maybe_done::TryMaybeDone<", AI_SHAPE_MAYBE_DONE, NULL, NULL },
	{ "futures_util::future::poll_fn::PollFn<", AI_SHAPE_POLL_FN, NULL, NULL },
	{ "futures_util::future::join::Join", AI_SHAPE_MEMBER_PREFIX, "fut", NULL },
	{ "futures_util::future::try_join::TryJoin", AI_SHAPE_MEMBER_PREFIX, "fut", NULL },
	{ "futures_util::future::select::Select<", AI_SHAPE_OPTION_TUPLE, "inner", NULL },
	{ "futures_util::future::try_select::TrySelect<", AI_SHAPE_OPTION_TUPLE, "inner", NULL },
	{ "futures_util::future::join_all::JoinAll<", AI_SHAPE_JOIN_ALL, NULL, NULL },
	{ "futures_util::future::try_join_all::TryJoinAll<", AI_SHAPE_JOIN_ALL, NULL, NULL },
	{ "futures_util::stream::futures_unordered::FuturesUnordered<", AI_SHAPE_FUTURES_UNORDERED, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

/* join!, select!: futures-util-X.Y.Z/src/async_await/NAME[_mod].rs */
static const struct ai_macro_source futures_macros[] = {
	{ "futures-util", "/src/async_await/", "futures" },
	{ NULL, NULL, NULL },
};

const struct ai_runtime_ops ai_runtime_futures = {
	.name = "futures",
	.shapes = futures_shapes,
	.macros = futures_macros,
	.detect = futures_detect,
	.collect = ai_futures_collect,
	.is_block_on_frame = futures_block_on_frame,
	.leaf_wait = ai_futures_leaf_wait,
};
