/* Why each future waits, and which locks each task holds: the runtime-neutral pass over a
 * snapshot's await trees that asks the runtime adapters about their own futures (see
 * include/ai/wait.h). */
#include <stdlib.h>
#include <string.h>

#include "ai/runtime.h"
#include "ai/sockets.h"
#include "ai/util.h"
#include "ai/wait.h"

__attribute__((noinline)) bool ai_wait_is_exclusive(const char *kind)
{
	return strcmp(kind, "mutex") == 0 || strcmp(kind, "rwlock_write") == 0;
}

/* std's futures, whatever the runtime. */
static struct ai_wait *std_leaf_wait(struct ai_wait_walk *w, struct ai_await_node *node, const char *name)
{
	(void)w;
	if (ai_starts_with(name, "core::future::pending::Pending<")) {
		/* std::future::pending(): a future that never completes, by definition. */
		struct ai_wait *wait = ai_wait_new("pending");
		wait->resource_type = xstrdup("std::future::Pending");
		wait->description = xstrdup("pending forever (std::future::pending never completes)");
		return wait;
	}
	return NULL;
}

/* Asks every adapter, then std; a leaf nobody knows is "unknown" with its type. */
static void decode_leaf(struct ai_wait_walk *w, struct ai_await_node *node)
{
	struct ai_wait *wait = NULL;
	for (const struct ai_runtime_ops *const *ops = ai_runtimes_all(); *ops && !wait; ops++)
		if ((*ops)->leaf_wait)
			wait = (*ops)->leaf_wait(w, node);
	const struct ai_type *t = ai_wait_type_of_die(w, node->type_die);
	const char *name = t ? ai_wait_type_name(t) : node->type;
	if (!wait)
		wait = std_leaf_wait(w, node, name);
	if (!wait) {
		wait = ai_wait_new("unknown");
		wait->resource_type = xstrdup(name ? name : "?");
		wait->description = xasprintf("unknown (%s)", name ? name : "?");
	}
	node->wait = wait;
}

static void walk(struct ai_wait_walk *w, struct ai_snapshot_task *task, struct ai_await_node *node)
{
	if (node->error)
		return;
	if (node->leaf) {
		decode_leaf(w, node);
	} else {
		for (const struct ai_runtime_ops *const *ops = ai_runtimes_all(); *ops; ops++)
			if ((*ops)->held)
				(*ops)->held(w, task, node);
	}
	if (w->depth == AI_WAIT_MAX_ANCESTORS)
		return;
	w->ancestors[w->depth++] = node;
	for (size_t i = 0; i < node->child_count; i++)
		walk(w, task, &node->children[i]);
	w->depth--;
}

struct ai_await_node *ai_wait_chain_leaf(struct ai_await_node *node)
{
	for (unsigned depth = 0; depth < 4096; depth++) {
		if (node->leaf)
			return node;
		if (node->child_count != 1)
			return NULL;
		node = &node->children[0];
	}
	return NULL;
}

void ai_wait_drop_held(struct ai_snapshot_task *task, size_t k)
{
	struct ai_held *h = &task->held[k];
	free(h->kind);
	free(h->guard_type);
	free(h->local);
	free(h->function);
	free(h->file);
	free(h->resource_type);
	memmove(h, h + 1, (task->held_count - k - 1) * sizeof(*h));
	task->held_count--;
}



void ai_wait_collect(struct ai_async *as, struct ai_snapshot *snapshot)
{
	struct ai_wait_walk w = { .as = as, .mem = as->target->memory, .snapshot = snapshot };
	for (size_t i = 0; i < snapshot->task_count; i++) {
		struct ai_snapshot_task *task = &snapshot->tasks[i];
		w.depth = 0;
		walk(&w, task, &task->tree);
		struct ai_await_node *leaf = ai_wait_chain_leaf(&task->tree);
		task->wait = leaf ? leaf->wait : NULL;
	}
	for (const struct ai_runtime_ops *const *ops = ai_runtimes_all(); *ops; ops++)
		if ((*ops)->finish)
			(*ops)->finish(&w, snapshot);
	/* An exclusive lock whose permit was granted to a future nobody polled yet: no guard of it
	 * can be live, whatever saved locals say. */
	for (size_t i = 0; i < snapshot->task_count; i++) {
		const struct ai_snapshot_task *task = &snapshot->tasks[i];
		for (size_t k = 0; k < task->unpolled_count; k++) {
			if (!task->unpolled[k].granted)
				continue;
			for (size_t j = 0; j < snapshot->task_count; j++) {
				struct ai_snapshot_task *o = &snapshot->tasks[j];
				for (size_t l = 0; l < o->held_count;) {
					if (o->held[l].semaphore == task->unpolled[k].semaphore && ai_wait_is_exclusive(o->held[l].kind))
						ai_wait_drop_held(o, l);
					else
						l++;
				}
			}
		}
	}
	ai_socket_table_deinit(&w.sockets);
	ai_wait_fd_memo_free(&w);
	/* Two tasks claiming one exclusive lock: at least one guard is stale; trust neither. */
	for (size_t i = 0; i < snapshot->task_count; i++) {
		struct ai_snapshot_task *task = &snapshot->tasks[i];
		for (size_t k = 0; k < task->held_count;) {
			struct ai_held *h = &task->held[k];
			bool shared = false;
			for (size_t j = 0; j < snapshot->task_count && ai_wait_is_exclusive(h->kind); j++) {
				const struct ai_snapshot_task *o = &snapshot->tasks[j];
				for (size_t l = 0; j != i && l < o->held_count; l++)
					shared |= o->held[l].semaphore == h->semaphore;
			}
			if (shared) {
				/* Remove this claim in every task. */
				uint64_t sem = h->semaphore;
				for (size_t j = 0; j < snapshot->task_count; j++) {
					struct ai_snapshot_task *o = &snapshot->tasks[j];
					for (size_t l = 0; l < o->held_count;) {
						if (o->held[l].semaphore == sem && ai_wait_is_exclusive(o->held[l].kind))
							ai_wait_drop_held(o, l);
						else
							l++;
					}
				}
				k = 0;
				continue;
			}
			k++;
		}
	}
}
