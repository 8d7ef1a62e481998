/* The tokio adapter's ops table: runtimes and tasks (tasks.c and its parts, layout.c), block_on
 * frames, waits (wait_*.c, unpolled.c), profile probes (probes.c). */
#include <string.h>

#include "tokio.h"
#include "tokio_wait.h"

static bool tokio_block_on_frame(const char *function)
{
	return strncmp(function, "tokio::", 7) == 0 && ai_path_has_segment(function, "block_on");
}

/* "multi_thread" or "current_thread" if the stack runs in such a scheduler, else NULL. */
static const char *tokio_block_on_flavor(const struct ai_stack *stack)
{
	for (size_t i = 0; i < stack->count; i++) {
		const char *f = stack->frames[i].location.function;
		if (!f || strncmp(f, "tokio::", 7) != 0)
			continue;
		/* (before 1.22: runtime::thread_pool and runtime::basic_scheduler) */
		if (strstr(f, "scheduler::multi_thread::") || strstr(f, "runtime::thread_pool::"))
			return "multi_thread";
		if (strstr(f, "scheduler::current_thread::") || strstr(f, "runtime::basic_scheduler::"))
			return "current_thread";
	}
	return NULL;
}

static const struct ai_future_shape_rule tokio_shapes[] = {
	{ "tokio::loom::std::unsafe_cell::UnsafeCell<", AI_SHAPE_TRANSPARENT, "__0", NULL },
	/* tokio 1.47+: cooperative(fut) around broadcast recv, watch changed, ... */
	{ "tokio::task::coop::Coop<", AI_SHAPE_TRANSPARENT, "fut", NULL },
	/* tokio_unstable + its `tracing` feature: Mutex::lock, Semaphore::acquire, Sleep... */
	{ "tokio::util::trace::InstrumentedAsyncOp<", AI_SHAPE_TRANSPARENT, "inner", NULL },
	/* LocalSet::run_until: the future it drives while it runs the set's tasks */
	{ "tokio::task::local::RunUntil<", AI_SHAPE_TRANSPARENT, "future", NULL },
	{ "tokio::future::maybe_done::MaybeDone<", AI_SHAPE_MAYBE_DONE, NULL, NULL },
	{ "tokio::time::timeout::Timeout<", AI_SHAPE_MEMBERS, "value", "delay" },
	{ "tokio::future::poll_fn::PollFn<", AI_SHAPE_POLL_FN, NULL, NULL },
	{ NULL, 0, NULL, NULL },
};

/* join!, select!, try_join!: tokio-X.Y.Z/src/macros/NAME.rs */
static const struct ai_macro_source tokio_macros[] = {
	{ "tokio", "/src/macros/", "tokio" },
	{ NULL, NULL, NULL },
};

/* With `--cfg tokio_unstable` and its `tracing` feature, tokio wraps every task and block_on
 * future in a span of target "tokio::task" named "runtime.spawn" (src/util/trace.rs). */
static const char *const tokio_own_label_origins[] = { "tokio", NULL };

/* A coroutine's guards, and the fds it keeps (the end of a connection it owns while it waits on
 * something else: src/analysis/peers.c links a waiter in another process to it). */
static void tk_held(struct ai_wait_walk *w, struct ai_snapshot_task *task, const struct ai_await_node *node)
{
	tk_find_guards(w, task, node);
	ai_wait_find_fds(w, &tk_io_rules, task, node);
}

const struct ai_runtime_ops ai_runtime_tokio = {
	.name = "tokio",
	.shapes = tokio_shapes,
	.macros = tokio_macros,
	.own_label_origins = tokio_own_label_origins,
	.detect = ai_tokio_detect,
	.collect = ai_tokio_collect,
	.is_block_on_frame = tokio_block_on_frame,
	.block_on_flavor = tokio_block_on_flavor,
	.leaf_wait = tk_leaf_wait,
	.held = tk_held,
	.value_summary = tk_value_summary,
	.finish = tk_wait_finish,
	.probe_points = ai_tokio_probe_points,
	.lifecycle_points = ai_tokio_lifecycle_points,
};
