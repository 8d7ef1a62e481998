/* Futures driven by block_on on a thread's stack (DESIGN.md 5.2): #[tokio::main] and
 * #[tokio::test] (Runtime::block_on), futures::executor::block_on, any `block_on`.
 *
 * A frame that a runtime adapter calls its block_on (is_block_on_frame of include/ai/runtime.h),
 * or whose function path has a `block_on` segment (any executor), is searched for variables that
 * are a coroutine, or point to one (Pin<&mut F>, &mut F, Box<F>).
 *
 * The future is moved by value down the chain of block_on calls before it is pinned and polled, so
 * the outer frames hold stale copies (always in state Unresumed: a future is moved only before its
 * first poll). Per thread and per future type we keep the one that is live: one reached through a
 * pointer (the Pin<&mut F> being polled) first, then a copy that has been resumed, the innermost
 * frame first. Distinct types on one thread are distinct roots (a block_on nested in a future);
 * the same address on two threads is reported once. */
#include <inttypes.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "ai/async.h"
#include "ai/runtime.h"
#include "ai/util.h"

/* Pointers, Pins and wrappers followed from a frame variable to the coroutine. */
#define MAX_HOPS 8
/* Candidates per thread. */
#define MAX_CANDIDATES 64

struct candidate {
	uint64_t address;
	const struct ai_type *type;  /* the coroutine (candidates of one type are one future) */
	uint64_t root_address;       /* the outermost wrapper around it (tracing's Instrumented, */
	const struct ai_type *root_type; /* whose span names it), or the coroutine itself */
	size_t frame;     /* index in the stack, 0 = innermost */
	bool via_pointer; /* reached through Pin<&mut F> / &mut F: the future being polled */
	bool unresumed;   /* in state Unresumed: maybe a stale, moved-from copy */
};

struct collect_ctx {
	struct ai_async *as;
	size_t frame;
	struct candidate candidates[MAX_CANDIDATES];
	size_t count;
};

static bool starts_with(const char *s, const char *prefix)
{
	return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

bool ai_path_has_segment(const char *function, const char *name)
{
	if (!function)
		return false;
	char segment[64];
	size_t n = 0, depth = 0;
	for (const char *p = function;; p++) {
		if (*p == '<') {
			depth++;
		} else if (*p == '>' && depth > 0) {
			depth--;
		} else if (depth > 0) {
			continue;
		} else if (*p == '\0' || (p[0] == ':' && p[1] == ':')) {
			segment[n] = '\0';
			if (strcmp(segment, name) == 0)
				return true;
			if (*p == '\0')
				return false;
			n = 0;
			p++;
		} else if (n < sizeof(segment) - 1) {
			segment[n++] = *p;
		}
	}
}

/* A frame a runtime adapter calls its block_on, or any function called block_on (executors we
 * have no adapter for). */
static bool is_block_on_frame(const char *function)
{
	return ai_runtime_of_block_on(function) || ai_path_has_segment(function, "block_on");
}

/* The runtime a block_on frame belongs to: its adapter, else its crate. */
static char *runtime_of(const char *function)
{
	const struct ai_runtime_ops *ops = ai_runtime_of_block_on(function);
	if (ops)
		return xstrdup(ops->name);
	const char *colon = strstr(function, "::");
	return colon ? xstrndup(function, (size_t)(colon - function)) : xstrdup(function);
}

static bool is_unresumed(struct ai_async *as, uint64_t address, const struct ai_type *type)
{
	if (!type->has_discr || !type->has_size || type->size > (1u << 20))
		return false;
	uint8_t *bytes = xmalloc(type->size ? type->size : 1);
	const struct ai_variant *variant = NULL;
	struct ai_error *err = ai_memory_read(as->target->memory, bytes, address, type->size);
	if (!err)
		err = ai_type_active_variant(type, bytes, type->size, &variant);
	free(bytes);
	if (err) {
		ai_error_destroy(err);
		return false;
	}
	return variant->name && strcmp(variant->name, "Unresumed") == 0;
}

/* A candidate of the frame being searched: the future at address, inside the outermost wrapper
 * root_type at root_address when there is one (root_type NULL: the future is its own root). */
static void add_candidate(struct collect_ctx *ctx, uint64_t address, const struct ai_type *type,
			  uint64_t root_address, const struct ai_type *root_type, bool via_pointer,
			  bool unresumed)
{
	if (ctx->count >= MAX_CANDIDATES)
		return;
	ctx->candidates[ctx->count++] = (struct candidate){
		.address = address,
		.type = type,
		.root_address = root_type ? root_address : address,
		.root_type = root_type ? root_type : type,
		.frame = ctx->frame,
		.via_pointer = via_pointer,
		.unresumed = unresumed,
	};
}

static bool collect_var(const struct ai_frame_var *var, void *arg)
{
	struct collect_ctx *ctx = arg;
	const struct ai_type *type;
	struct ai_error *err = ai_types_get(ctx->as->types, var->type_die, &type);
	uint64_t address = var->address, root_address = 0;
	const struct ai_type *root_type = NULL;
	bool via_pointer = false;
	for (int hops = 0; !err && hops <= MAX_HOPS; hops++) {
		err = ai_type_underlying(type, &type);
		if (err)
			break;
		if (ai_type_is_coroutine(type)) {
			add_candidate(ctx, address, type, root_address, root_type, via_pointer,
				      is_unresumed(ctx->as, address, type));
			break;
		}
		if (type->kind == AI_TYPE_POINTER) {
			uint64_t ptr;
			const struct ai_type *target;
			err = ai_type_target(type, &target);
			if (!err)
				err = ai_memory_read_u64(ctx->as->target->memory, address, &ptr);
			if (err)
				break;
			if (!ptr || ptr > 0x00007fffffffffffULL ||
			    (target->alignment && (ptr & (target->alignment - 1))))
				break;
			address = ptr;
			type = target;
			via_pointer = true;
			continue;
		}
		const char *name = ai_type_qualified_name(type);
		const struct ai_member *m;
		if (type->kind == AI_TYPE_STRUCT && starts_with(name, "core::pin::Pin<") &&
		    ((m = ai_type_find_member(type, "pointer")) ||
		     (m = ai_type_find_member(type, "__pointer")))) {
			err = ai_type_member_type(type, m, &type);
			address += m->offset;
			continue;
		}
		/* A wrapper (Instrumented<F>: what tokio's block_on polls with its tracing feature). */
		const struct ai_future_shape_rule *shape = ai_runtime_future_shape(name);
		if (type->kind == AI_TYPE_STRUCT && shape && shape->shape == AI_SHAPE_TRANSPARENT &&
		    ((m = ai_type_find_member(type, shape->member)) ||
		     (shape->alt && (m = ai_type_find_member(type, shape->alt))))) {
			if (!root_type) {
				root_address = address;
				root_type = type;
			}
			err = ai_type_member_type(type, m, &type);
			address += m->offset;
			continue;
		}
		/* A combinator being polled (async-global-executor's workers block_on a futures-lite
		 * Or of two executors' run futures). */
		if (type->kind == AI_TYPE_STRUCT && shape && via_pointer)
			add_candidate(ctx, address, type, root_address, root_type, true, false);
		break;
	}
	ai_error_destroy(err);
	return true;
}

/* Better = more likely the live future: through a pointer, then resumed, then innermost. */
static bool better(const struct candidate *a, const struct candidate *b)
{
	if (a->via_pointer != b->via_pointer)
		return a->via_pointer;
	if (a->unresumed != b->unresumed)
		return !a->unresumed;
	return a->frame < b->frame;
}

/* True if no node of the tree says it could not be read. */
static bool tree_clean(const struct ai_await_node *node, unsigned depth)
{
	if (node->error || depth > 64)
		return false;
	for (size_t i = 0; i < node->child_count; i++)
		if (!tree_clean(&node->children[i], depth + 1))
			return false;
	return true;
}

#define MAX_FRAME_SCAN (1u << 20)

/* The copy of a block_on future that block_on polls, when the frame variables name only stale
 * Unresumed ones: in an optimised build the pinned future has no DWARF location at the pc where
 * block_on parks (its variable is "optimized out"), but it lies in the stack memory [sp, cfa) of
 * one of the block_on frames. Every aligned place there holding a suspended state of the type,
 * whose await tree then decodes without an error, is a candidate: exactly one is taken, none or
 * several give false (then nothing is claimed). */
static bool find_polled_copy(struct ai_async *as, const struct ai_stack *stack,
			     const struct ai_type *type, uint64_t stale, uint64_t *ret)
{
	if (!type->has_size || !type->has_discr || type->size == 0 || type->size > MAX_FRAME_SCAN)
		return false;
	uint64_t align = type->alignment ? type->alignment : 8;
	size_t found = 0, last_physical = SIZE_MAX;
	uint64_t found_at = 0;
	uint8_t *buf = NULL;
	for (size_t i = 0; i < stack->count && found < 2; i++) {
		const struct ai_frame *frame = &stack->frames[i];
		if (frame->physical_index == last_physical || !is_block_on_frame(frame->location.function) ||
		    !frame->cfa || frame->cfa <= frame->sp || frame->cfa - frame->sp > MAX_FRAME_SCAN ||
		    frame->cfa - frame->sp < type->size)
			continue;
		last_physical = frame->physical_index;
		size_t len = (size_t)(frame->cfa - frame->sp);
		buf = xrealloc(buf, len);
		struct ai_error *err = ai_memory_read(as->target->memory, buf, frame->sp, len);
		if (err) {
			ai_error_destroy(err);
			continue;
		}
		uint64_t first = (frame->sp + align - 1) & ~(align - 1);
		for (uint64_t a = first; a + type->size <= frame->cfa && found < 2; a += align) {
			const struct ai_variant *variant;
			err = ai_type_active_variant(type, buf + (a - frame->sp), type->size, &variant);
			if (err) {
				ai_error_destroy(err);
				continue;
			}
			if (a == stale || !starts_with(variant->name, "Suspend"))
				continue;
			struct ai_await_node node = { 0 };
			ai_await_decode(as, a, type, &node);
			bool clean = node.child_count > 0 && tree_clean(&node, 0);
			ai_await_node_deinit(&node);
			if (clean && a != found_at) {
				found_at = a;
				found++;
			}
		}
	}
	free(buf);
	if (found != 1)
		return false;
	*ret = found_at;
	return true;
}

/* A node of the tree (the root included) at address, of the type named `type`. */
static bool has_node_at(const struct ai_await_node *node, uint64_t address, const char *type, unsigned depth)
{
	if (depth > 64)
		return false;
	if (node->address == address && node->type && strcmp(node->type, type) == 0)
		return true;
	for (size_t i = 0; i < node->child_count; i++) {
		if (has_node_at(&node->children[i], address, type, depth + 1))
			return true;
	}
	return false;
}

/* Whether the future at address (of the type named `type`) is a block_on root already, or a future
 * that a root of the same thread awaits: async-std's task::block_on hands the future to
 * async_io's block_on inside a LocalExecutor::run future, and both frames name it. */
static bool already_added(const struct ai_snapshot *snapshot, pid_t tid, uint64_t address, const char *type)
{
	for (size_t i = 0; i < snapshot->task_count; i++) {
		const struct ai_snapshot_task *t = &snapshot->tasks[i];
		if (!t->kind || strcmp(t->kind, "block_on") != 0)
			continue;
		if (t->address == address || (type && t->thread == tid && has_node_at(&t->tree, address, type, 0)))
			return true;
	}
	return false;
}

/* A node of the tree (not its root) of the type named `type` that has been resumed (by name:
 * each codegen unit has its own DIE of a type). */
static bool has_resumed_node(const struct ai_await_node *node, const char *type, unsigned depth)
{
	if (depth > 64)
		return false;
	for (size_t i = 0; i < node->child_count; i++) {
		const struct ai_await_node *c = &node->children[i];
		if ((c->type && strcmp(c->type, type) == 0 && !(c->state && strcmp(c->state, "Unresumed") == 0)) ||
		    has_resumed_node(c, type, depth + 1))
			return true;
	}
	return false;
}

/* Adds the root of candidate c, unless it is a stale copy of a future that one of the thread's
 * roots added since first_task holds, resumed (block_on moved it into a future it polls:
 * async-std's task::block_on wraps it and runs it on a LocalExecutor). */
static void add_root(struct ai_async *as, const struct ai_thread *thread, const struct ai_stack *stack,
		     struct ai_snapshot *snapshot, const struct candidate *c, const char *frame_function,
		     size_t first_task)
{
	uint64_t root_address = c->root_address;
	bool moved = false;
	/* Only stale copies were named (an optimised build): look for the polled one. */
	if (c->unresumed && !c->via_pointer && c->root_type == c->type)
		moved = find_polled_copy(as, stack, c->type, c->address, &root_address);
	if (already_added(snapshot, thread->tid, root_address, NULL))
		return;
	struct ai_await_node tree = { 0 };
	ai_await_decode(as, root_address, c->root_type, &tree);
	if (already_added(snapshot, thread->tid, root_address, tree.type)) {
		ai_await_node_deinit(&tree);
		return;
	}
	if (c->unresumed && !moved && !c->via_pointer && !tree.error && tree.state &&
	    strcmp(tree.state, "Unresumed") == 0) {
		for (size_t i = first_task; i < snapshot->task_count; i++) {
			if (snapshot->tasks[i].thread == thread->tid && tree.type &&
			    has_resumed_node(&snapshot->tasks[i].tree, tree.type, 0)) {
				ai_await_node_deinit(&tree);
				return;
			}
		}
		tree.error = xstrdup("maybe a stale copy: block_on moved the future it polls to "
				     "where the debug info gives no location (an optimised build?)");
	}
	struct ai_snapshot_task *task = ai_snapshot_add_task(snapshot);
	task->runtime = runtime_of(frame_function);
	task->kind = xstrdup("block_on");
	const struct ai_runtime_ops *ops = ai_runtime_find(task->runtime);
	const char *flavor = ops && ops->block_on_flavor ? ops->block_on_flavor(stack) : NULL;
	task->flavor = flavor ? xstrdup(flavor) : NULL;
	const char *label = ops && ops->block_on_label ? ops->block_on_label(stack) : NULL;
	if (label) {
		free(task->runtime);
		task->runtime = xstrdup(label);
	}
	task->thread = thread->tid;
	task->address = root_address;
	task->tree = tree;
	const char *future = task->tree.function ? task->tree.function : task->tree.type;
	task->future = future ? xstrdup(future) : NULL;
}

static void collect_thread(struct ai_async *as, const struct ai_thread *thread,
			   const struct ai_stack *stack, struct ai_snapshot *snapshot)
{
	struct collect_ctx *ctx = xcalloc(1, sizeof(*ctx));
	ctx->as = as;
	/* The runtime of each candidate: that of the frame it was found in. */
	const char *frame_function[MAX_CANDIDATES];
	size_t outermost = SIZE_MAX;
	for (size_t i = 0; i < stack->count; i++) {
		const struct ai_frame *frame = &stack->frames[i];
		if (!is_block_on_frame(frame->location.function))
			continue;
		outermost = i;
		size_t before = ctx->count;
		ctx->frame = i;
		struct ai_error *err = ai_frame_vars(as, frame, collect_var, ctx);
		ai_error_destroy(err); /* a frame we cannot read has no root for us */
		for (size_t c = before; c < ctx->count; c++)
			frame_function[c] = frame->location.function;
	}
	/* block_on got the future as `Pin<&mut dyn Future>` (as #[tokio::test] passes it): the
	 * future itself is a local of block_on's caller. */
	if (ctx->count == 0 && outermost != SIZE_MAX && outermost + 1 < stack->count) {
		ctx->frame = outermost + 1;
		struct ai_error *err = ai_frame_vars(as, &stack->frames[outermost + 1], collect_var, ctx);
		ai_error_destroy(err);
		for (size_t c = 0; c < ctx->count; c++)
			frame_function[c] = stack->frames[outermost].location.function;
	}
	bool taken[MAX_CANDIDATES] = { false };
	size_t best_of[MAX_CANDIDATES], best_count = 0;
	for (size_t i = 0; i < ctx->count; i++) {
		if (taken[i])
			continue;
		/* The best of the candidates of this type. */
		size_t best = i;
		for (size_t j = i; j < ctx->count; j++) {
			if (taken[j] || !ai_type_equal(ctx->candidates[j].type, ctx->candidates[i].type))
				continue;
			taken[j] = true;
			if (better(&ctx->candidates[j], &ctx->candidates[best]))
				best = j;
		}
		best_of[best_count++] = best;
	}
	/* The live roots first, then the maybe-stale copies, so that a copy whose future was moved
	 * into one of the live roots is recognised there. */
	size_t first_task = snapshot->task_count;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t k = 0; k < best_count; k++) {
			const struct candidate *c = &ctx->candidates[best_of[k]];
			if ((c->unresumed && !c->via_pointer) != (pass == 1))
				continue;
			add_root(as, thread, stack, snapshot, c, frame_function[best_of[k]], first_task);
		}
	}
	free(ctx);
}

/* Whether the subtree holds a coroutine of the program's own code. */
static bool holds_own_code(const struct ai_await_node *node, unsigned depth)
{
	if (depth > 64)
		return false;
	if (node->function && !node->dependency)
		return true;
	for (size_t i = 0; i < node->child_count; i++)
		if (holds_own_code(&node->children[i], depth + 1))
			return true;
	return false;
}

/* The one coroutine of the program's own code that the executor's futures at the top of a
 * block_on tree lead to: each node on the way is a dependency's coroutine or a combinator
 * below one, and exactly one branch of each holds the program's code. NULL when the root is
 * the program's own, or the way is not one path. */
static struct ai_await_node *own_root_below(struct ai_await_node *root)
{
	if (!root->function || !root->dependency || root->error)
		return NULL;
	struct ai_await_node *node = root;
	for (unsigned depth = 0; depth < 64; depth++) {
		struct ai_await_node *next = NULL;
		for (size_t i = 0; i < node->child_count; i++) {
			if (!holds_own_code(&node->children[i], 0))
				continue;
			if (next)
				return NULL; /* two branches of the program's own: keep the executor's node */
			next = &node->children[i];
		}
		if (!next || next->leaf)
			return NULL;
		if (next->function && !next->dependency)
			return next;
		if (next->function == NULL && next->error)
			return NULL;
		node = next;
	}
	return NULL;
}

/* A function path without its generic arguments: "async_executor::{impl#11}::run". */
static char *without_generics(const char *function)
{
	const char *lt = strchr(function, '<');
	return lt ? xstrndup(function, (size_t)(lt - function)) : xstrdup(function);
}

/* block_on(executor.run(future)) (async-std's task::block_on, smol's block_on of a
 * LocalExecutor): the root the user reads is their own future, not the executor's run loop,
 * whose other branch only ticks the executor's queue. Re-root such a tree at the program's
 * future and name the executor future it was found in (driven_by). */
static void root_at_own_future(struct ai_snapshot_task *task)
{
	struct ai_await_node *own = own_root_below(&task->tree);
	if (!own)
		return;
	struct ai_await_node kept = *own;
	memset(own, 0, sizeof(*own)); /* now owned by kept; the rest of the old tree is freed */
	task->driven_by = without_generics(task->tree.function);
	ai_await_node_deinit(&task->tree);
	task->tree = kept;
	task->address = kept.address;
	free(task->future);
	const char *future = kept.function ? kept.function : kept.type;
	task->future = future ? xstrdup(future) : NULL;
}

struct ai_error *ai_roots_collect(struct ai_async *as, const struct ai_stack *stacks,
				  struct ai_snapshot *snapshot)
{
	size_t first = snapshot->task_count;
	for (size_t i = 0; i < as->target->thread_count; i++)
		collect_thread(as, &as->target->threads[i], &stacks[i], snapshot);
	ai_poll_frames_collect(as, stacks, snapshot);
	/* Last: the roots above were matched against the whole trees. */
	for (size_t i = first; i < snapshot->task_count; i++)
		if (snapshot->tasks[i].kind && strcmp(snapshot->tasks[i].kind, "block_on") == 0)
			root_at_own_future(&snapshot->tasks[i]);
	return NULL;
}
