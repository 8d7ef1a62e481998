#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/snapshot.h"
#include "ai/intern.h"
#include "ai/util.h"

/* The per-task arrays (children, locals, guards) grow from one element, not from AI_GROW's eight:
 * most await nodes have one child or none and a few locals, and a snapshot of a million tasks
 * paid 1.1 GB for the seven empty children of every root (160 bytes each). */
static void small_grow(void **items, size_t *capacity, size_t needed, size_t size)
{
	if (needed <= *capacity)
		return;
	size_t cap = *capacity ? *capacity * 2 : 1;
	while (cap < needed)
		cap *= 2;
	*items = xrealloc(*items, cap * size);
	*capacity = cap;
}
#define SMALL_GROW(items, capacity, needed) \
	small_grow((void **)&(items), &(capacity), (needed), sizeof(*(items)))

struct ai_snapshot *ai_snapshot_create(void)
{
	return xcalloc(1, sizeof(struct ai_snapshot));
}

static void thread_deinit(struct ai_snapshot_thread *thread)
{
	for (size_t i = 0; i < thread->frame_count; i++) {
		free(thread->frames[i].function);
		free(thread->frames[i].file);
		free(thread->frames[i].module);
	}
	free(thread->frames);
	free(thread->name);
	free(thread->stack_error);
}

void ai_wait_destroy(struct ai_wait *wait)
{
	if (!wait)
		return;
	free(wait->kind);
	free(wait->description);
	free(wait->resource_type);
	free(wait->target_status);
	free(wait->access);
	free(wait->warning);
	free(wait->direction);
	free(wait->fd_target);
	free(wait->socket_kind);
	free(wait->local_address);
	free(wait->peer_address);
	free(wait->socket_state);
	ai_peer_destroy(wait->peer);
	for (size_t i = 0; i < wait->member_count; i++)
		free(wait->members[i].status);
	free(wait->members);
	free(wait);
}

void ai_peer_destroy(struct ai_peer *peer)
{
	if (!peer)
		return;
	free(peer->command);
	free(peer->host);
	free(peer->address);
	free(peer->summary);
	free(peer->task_future);
	free(peer);
}

/* A string of a node: shared when the node is interned, else its own. */
static void free_name(const struct ai_await_node *node, char *s)
{
	if (node->interned)
		ai_shared_unref(s);
	else
		free(s);
}

static void intern_field(struct ai_intern *table, char **field)
{
	if (!*field)
		return;
	char *shared = ai_intern(table, *field);
	free(*field);
	*field = shared;
}

void ai_await_node_intern(struct ai_await_node *node, struct ai_intern *table)
{
	if (!node->interned) {
		intern_field(table, &node->function);
		intern_field(table, &node->type);
		intern_field(table, &node->state);
		intern_field(table, &node->file);
		intern_field(table, &node->macro);
		intern_field(table, &node->macro_file);
		for (size_t i = 0; i < node->local_count; i++) {
			intern_field(table, &node->locals[i].name);
			intern_field(table, &node->locals[i].type);
		}
		node->interned = true;
	}
	for (size_t i = 0; i < node->child_count; i++)
		ai_await_node_intern(&node->children[i], table);
}

void ai_await_node_deinit(struct ai_await_node *node)
{
	ai_wait_destroy(node->wait);
	for (size_t i = 0; i < node->local_count; i++) {
		free_name(node, node->locals[i].name);
		free_name(node, node->locals[i].type);
		ai_shared_unref(node->locals[i].value);
		ai_shared_unref(node->locals[i].structured);
	}
	free(node->locals);
	for (size_t i = 0; i < node->child_count; i++)
		ai_await_node_deinit(&node->children[i]);
	free(node->children);
	free_name(node, node->function);
	free_name(node, node->type);
	free_name(node, node->state);
	free_name(node, node->file);
	free_name(node, node->macro);
	free_name(node, node->macro_file);
	free(node->span);
	free(node->error);
	free(node->await_lines);
	memset(node, 0, sizeof(*node));
}

static void task_deinit(struct ai_snapshot_task *task)
{
	free(task->runtime);
	free(task->kind);
	free(task->status);
	free(task->flavor);
	free(task->future);
	free(task->driven_by);
	free(task->name);
	free(task->set_type);
	ai_await_node_deinit(&task->tree);
	for (size_t i = 0; i < task->held_count; i++) {
		struct ai_held *h = &task->held[i];
		free(h->kind);
		free(h->guard_type);
		free(h->local);
		free(h->function);
		free(h->file);
		free(h->resource_type);
	}
	free(task->held);
	for (size_t i = 0; i < task->unpolled_count; i++) {
		struct ai_unpolled *u = &task->unpolled[i];
		free(u->local);
		free(u->future_type);
		free(u->function);
		free(u->file);
		free(u->kind);
		free(u->resource_type);
	}
	free(task->unpolled);
	for (size_t i = 0; i < task->fd_count; i++) {
		struct ai_task_fd *f = &task->fds[i];
		free(f->local);
		free(f->function);
		free(f->target);
		free(f->socket_kind);
		free(f->local_address);
		free(f->peer_address);
		free(f->socket_state);
	}
	free(task->fds);
}

struct ai_task_fd *ai_snapshot_task_add_fd(struct ai_snapshot_task *task)
{
	SMALL_GROW(task->fds, task->fd_capacity, task->fd_count + 1);
	struct ai_task_fd *f = &task->fds[task->fd_count++];
	memset(f, 0, sizeof(*f));
	return f;
}

struct ai_unpolled *ai_snapshot_task_add_unpolled(struct ai_snapshot_task *task)
{
	SMALL_GROW(task->unpolled, task->unpolled_capacity, task->unpolled_count + 1);
	struct ai_unpolled *u = &task->unpolled[task->unpolled_count++];
	memset(u, 0, sizeof(*u));
	return u;
}

struct ai_held *ai_snapshot_task_add_held(struct ai_snapshot_task *task)
{
	SMALL_GROW(task->held, task->held_capacity, task->held_count + 1);
	struct ai_held *h = &task->held[task->held_count++];
	memset(h, 0, sizeof(*h));
	return h;
}

void ai_snapshot_destroy(struct ai_snapshot *snapshot)
{
	if (!snapshot)
		return;
	for (size_t i = 0; i < snapshot->thread_count; i++)
		thread_deinit(&snapshot->threads[i]);
	free(snapshot->threads);
	for (size_t i = 0; i < snapshot->task_count; i++)
		task_deinit(&snapshot->tasks[i]);
	free(snapshot->tasks);
	for (size_t i = 0; i < snapshot->deadlock_count; i++) {
		free(snapshot->deadlocks[i].tasks);
		free(snapshot->deadlocks[i].edges);
	}
	free(snapshot->deadlocks);
	for (size_t i = 0; i < snapshot->warning_count; i++)
		free(snapshot->warnings[i]);
	free(snapshot->warnings);
	for (size_t i = 0; i < snapshot->runtime_count; i++) {
		free(snapshot->runtimes[i].name);
		free(snapshot->runtimes[i].version);
		free(snapshot->runtimes[i].module);
	}
	free(snapshot->runtimes);
	free(snapshot->exe);
	free(snapshot->command);
	free(snapshot->host);
	free(snapshot->core);
	free(snapshot);
}

struct ai_snapshot_thread *ai_snapshot_add_thread(struct ai_snapshot *snapshot)
{
	AI_GROW(snapshot->threads, snapshot->thread_capacity, snapshot->thread_count + 1);
	struct ai_snapshot_thread *thread = &snapshot->threads[snapshot->thread_count++];
	memset(thread, 0, sizeof(*thread));
	thread->state = '?';
	return thread;
}

struct ai_snapshot_frame *ai_snapshot_thread_add_frame(struct ai_snapshot_thread *thread)
{
	AI_GROW(thread->frames, thread->frame_capacity, thread->frame_count + 1);
	struct ai_snapshot_frame *frame = &thread->frames[thread->frame_count++];
	memset(frame, 0, sizeof(*frame));
	return frame;
}

struct ai_snapshot_task *ai_snapshot_add_task(struct ai_snapshot *snapshot)
{
	AI_GROW(snapshot->tasks, snapshot->task_capacity, snapshot->task_count + 1);
	struct ai_snapshot_task *task = &snapshot->tasks[snapshot->task_count++];
	memset(task, 0, sizeof(*task));
	return task;
}

void ai_snapshot_add_warning(struct ai_snapshot *snapshot, const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	AI_GROW(snapshot->warnings, snapshot->warning_capacity, snapshot->warning_count + 1);
	snapshot->warnings[snapshot->warning_count++] = s;
}

struct ai_await_node *ai_await_node_add_child(struct ai_await_node *node)
{
	SMALL_GROW(node->children, node->child_capacity, node->child_count + 1);
	struct ai_await_node *child = &node->children[node->child_count++];
	memset(child, 0, sizeof(*child));
	return child;
}

struct ai_snapshot_local *ai_await_node_add_local(struct ai_await_node *node)
{
	SMALL_GROW(node->locals, node->local_capacity, node->local_count + 1);
	struct ai_snapshot_local *local = &node->locals[node->local_count++];
	memset(local, 0, sizeof(*local));
	return local;
}

static const char *const local_state_names[] = {
	[AI_LOCAL_LIVE] = "live",
	[AI_LOCAL_MOVED] = "moved",
	[AI_LOCAL_MAYBE_MOVED] = "maybe_moved",
	[AI_LOCAL_UNINIT] = "uninit",
};

const char *ai_local_state_name(enum ai_local_state state)
{
	return (size_t)state < AI_ARRAY_SIZE(local_state_names) ? local_state_names[state] : NULL;
}

bool ai_local_state_parse(const char *name, enum ai_local_state *ret)
{
	for (size_t i = 0; name && i < AI_ARRAY_SIZE(local_state_names); i++) {
		if (strcmp(name, local_state_names[i]) == 0) {
			*ret = (enum ai_local_state)i;
			return true;
		}
	}
	return false;
}

const char *ai_local_text(const struct ai_snapshot_local *local)
{
	switch (local->state) {
	case AI_LOCAL_LIVE:
		return local->value ? local->value : "?";
	case AI_LOCAL_MOVED:
		return "<moved>";
	case AI_LOCAL_MAYBE_MOVED:
		return "<maybe moved>";
	case AI_LOCAL_UNINIT:
		return "<uninit>";
	}
	return "?";
}

const char *ai_thread_state_name(char state)
{
	switch (state) {
	case 'R': return "running";
	case 'S': return "sleeping";
	case 'D': return "disk-sleep";
	case 'T': return "stopped";
	case 't': return "tracing-stop";
	case 'Z': return "zombie";
	case 'X': return "dead";
	case 'I': return "idle";
	default: return "unknown";
	}
}

struct ai_snapshot_runtime *ai_snapshot_add_runtime(struct ai_snapshot *snapshot, const char *name,
						    char *version)
{
	AI_GROW(snapshot->runtimes, snapshot->runtime_capacity, snapshot->runtime_count + 1);
	struct ai_snapshot_runtime *rt = &snapshot->runtimes[snapshot->runtime_count++];
	*rt = (struct ai_snapshot_runtime){ .name = xstrdup(name), .version = version, .decoded = true };
	return rt;
}

const struct ai_snapshot_runtime *ai_snapshot_runtime(const struct ai_snapshot *snapshot, const char *name)
{
	for (size_t i = 0; i < snapshot->runtime_count; i++)
		if (strcmp(snapshot->runtimes[i].name, name) == 0)
			return &snapshot->runtimes[i];
	return NULL;
}

size_t ai_snapshot_runtime_instances(const struct ai_snapshot *snapshot)
{
	size_t n = 0;
	for (size_t i = 0; i < snapshot->runtime_count; i++)
		n += snapshot->runtimes[i].instances;
	return n;
}

static void append(char *buf, size_t size, size_t *used, const char *text)
{
	if (*used + 1 >= size)
		return;
	int n = snprintf(buf + *used, size - *used, "%s", text);
	*used = n < 0 ? *used : AI_MIN(size - 1, *used + (size_t)n);
}

static void node_wait_summary(const struct ai_await_node *node, char *buf, size_t size, size_t *used,
			      unsigned depth)
{
	while (depth++ < 4096 && !node->leaf && node->child_count == 1)
		node = &node->children[0];
	if (depth > 4096)
		return;
	if (node->leaf) {
		if (node->wait)
			append(buf, size, used, node->wait->description ? node->wait->description : node->wait->kind);
		return;
	}
	bool first = true;
	for (size_t i = 0; i < node->child_count; i++) {
		size_t before = *used;
		if (!first)
			append(buf, size, used, " | ");
		size_t mark = *used;
		node_wait_summary(&node->children[i], buf, size, used, depth);
		if (*used == mark) {
			/* (a branch that says nothing: no separator either) */
			*used = before;
			buf[before] = '\0';
		} else {
			first = false;
		}
	}
}

bool ai_held_blocks(const struct ai_wait *wait, const struct ai_held *held)
{
	if (!wait->access || strcmp(wait->kind, "rwlock") != 0 || !held->kind ||
	    strncmp(held->kind, "rwlock_", 7) != 0)
		return true;
	if (strcmp(wait->access, "read") == 0)
		return strcmp(held->kind, "rwlock_write") == 0;
	if (strcmp(wait->access, "upgradable_read") == 0)
		return strcmp(held->kind, "rwlock_write") == 0 || strcmp(held->kind, "rwlock_upgradable") == 0;
	if (strcmp(wait->access, "upgrade") == 0)
		return strcmp(held->kind, "rwlock_read") == 0;
	return true;
}

bool ai_wait_bars_reader(const struct ai_wait *wait, const struct ai_wait *other)
{
	return wait != other && strcmp(wait->kind, "rwlock") == 0 && wait->access && strcmp(wait->access, "read") == 0 &&
	       wait->queued && wait->semaphore && strcmp(other->kind, "rwlock") == 0 &&
	       other->semaphore == wait->semaphore && other->bars_readers &&
	       (!wait->place_in_line || !other->place_in_line || other->place_in_line < wait->place_in_line);
}

const char *ai_task_wait_summary(const struct ai_snapshot_task *task, char *buf, size_t size)
{
	if (!size)
		return buf;
	buf[0] = '\0';
	if (task->wait) {
		snprintf(buf, size, "%s", task->wait->description ? task->wait->description : task->wait->kind);
		return buf;
	}
	size_t used = 0;
	node_wait_summary(&task->tree, buf, size, &used, 0);
	return buf;
}
