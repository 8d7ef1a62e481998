/* JSON output through jansson. The format is documented in docs/json-format.md. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ai/frontend.h"
#include "ai/util.h"

static json_t *string_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *hex(uint64_t value)
{
	char buf[32];
	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)value);
	return json_string(buf);
}

static json_t *thread_json(const struct ai_snapshot_thread *t)
{
	json_t *frames = json_array();
	for (size_t j = 0; j < t->frame_count; j++) {
		const struct ai_snapshot_frame *f = &t->frames[j];
		json_t *frame = json_pack("{s:o, s:o, s:o, s:o, s:o, s:b}",
			"pc", hex(f->pc),
			"function", string_or_null(f->function),
			"file", string_or_null(f->file),
			"line", f->line > 0 ? json_integer(f->line) : json_null(),
			"module", string_or_null(f->module),
			"inlined", f->inlined);
		json_array_append_new(frames, frame);
	}
	char state[2] = { t->state, '\0' };
	return json_pack("{s:i, s:o, s:s, s:s, s:o, s:o}",
		"tid", (int)t->tid,
		"name", string_or_null(t->name),
		"state", ai_thread_state_name(t->state),
		"state_code", state,
		"frames", frames,
		"stack_error", string_or_null(t->stack_error));
}

json_t *ai_threads_json(const struct ai_snapshot *s)
{
	json_t *threads = json_array();
	for (size_t i = 0; i < s->thread_count; i++)
		json_array_append_new(threads, thread_json(&s->threads[i]));
	return threads;
}

int ai_print_threads_json(FILE *out, const struct ai_snapshot *s)
{
	json_t *root = json_pack("{s:s, s:i, s:i, s:o, s:o, s:I, s:I, s:o}",
		"format", "async-inspect-threads",
		"version", 2,
		"pid", (int)s->pid,
		"exe", string_or_null(s->exe),
		"core", string_or_null(s->core),
		"captured_at_ms", (json_int_t)s->captured_at_ms,
		"pause_us", (json_int_t)s->pause_us,
		"threads", ai_threads_json(s));
	int r = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', out);
	json_decref(root);
	return r;
}

static json_t *wait_json(const struct ai_wait *w)
{
	json_t *obj = json_pack("{s:s, s:o}", "kind", w->kind, "description", string_or_null(w->description));
	if (w->resource_type)
		json_object_set_new(obj, "type", json_string(w->resource_type));
	if (w->address)
		json_object_set_new(obj, "address", hex(w->address));
	if (w->semaphore)
		json_object_set_new(obj, "semaphore", hex(w->semaphore));
	if (w->has_deadline)
		json_object_set_new(obj, "deadline_ns", json_integer(w->deadline_ns));
	if (w->has_remaining)
		json_object_set_new(obj, "remaining_ms", json_integer(w->remaining_ns / 1000000));
	if (w->has_permits)
		json_object_set_new(obj, "permits_available", json_integer((json_int_t)w->permits_available));
	if (w->semaphore) {
		json_object_set_new(obj, "permits_wanted", json_integer((json_int_t)w->permits_wanted));
		json_object_set_new(obj, "queued", json_boolean(w->queued));
	}
	if (w->access)
		json_object_set_new(obj, "access", json_string(w->access));
	if (w->has_sender_alive)
		json_object_set_new(obj, "sender_alive", json_boolean(w->sender_alive));
	if (w->has_senders) {
		json_object_set_new(obj, "senders_alive", json_integer((json_int_t)w->senders_alive));
		if (strcmp(w->kind, "mpsc_recv") == 0)
			json_object_set_new(obj, "senders_own", json_integer((json_int_t)w->senders_own));
	}
	if (w->has_messages)
		json_object_set_new(obj, "messages_queued", json_integer((json_int_t)w->messages_queued));
	if (w->has_capacity)
		json_object_set_new(obj, "capacity", json_integer((json_int_t)w->capacity));
	if (w->has_receiver_alive)
		json_object_set_new(obj, "receiver_alive", json_boolean(w->receiver_alive));
	if (w->warning)
		json_object_set_new(obj, "warning", json_string(w->warning));
	if (strcmp(w->kind, "join") == 0) {
		json_object_set_new(obj, "task", w->has_target_id ? json_integer((json_int_t)w->target_task_id)
								  : json_null());
		json_object_set_new(obj, "task_status", string_or_null(w->target_status));
	}
	if (w->has_unseen)
		json_object_set_new(obj, "unseen", json_integer((json_int_t)w->unseen));
	if (w->has_version) {
		json_object_set_new(obj, "version", json_integer((json_int_t)w->version));
		json_object_set_new(obj, "seen_version", json_integer((json_int_t)w->seen_version));
	}
	if (w->has_closed)
		json_object_set_new(obj, "closed", json_boolean(w->closed));
	if (strcmp(w->kind, "io") == 0) {
		json_object_set_new(obj, "fd", w->has_fd ? json_integer(w->fd) : json_null());
		json_object_set_new(obj, "direction", string_or_null(w->direction));
		if (w->fd_target)
			json_object_set_new(obj, "fd_target", json_string(w->fd_target));
		if (w->socket_kind)
			json_object_set_new(obj, "socket", json_pack("{s:s, s:o, s:o, s:o}",
				"kind", w->socket_kind,
				"local", string_or_null(w->local_address),
				"peer", string_or_null(w->peer_address),
				"state", string_or_null(w->socket_state)));
	}
	return obj;
}

static json_t *held_json(const struct ai_held *h)
{
	return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
		"kind", h->kind,
		"type", string_or_null(h->resource_type),
		"address", hex(h->address),
		"semaphore", hex(h->semaphore),
		"guard", string_or_null(h->guard_type),
		"local", string_or_null(h->local),
		"function", string_or_null(h->function),
		"file", string_or_null(h->file),
		"line", h->line > 0 ? json_integer(h->line) : json_null());
}

static json_t *unpolled_json(const struct ai_unpolled *u)
{
	return json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:s, s:o, s:o, s:o, s:b, s:I}",
		"local", string_or_null(u->local),
		"future", string_or_null(u->future_type),
		"function", string_or_null(u->function),
		"file", string_or_null(u->file),
		"line", u->line > 0 ? json_integer(u->line) : json_null(),
		"acquire", hex(u->acquire),
		"kind", u->kind ? u->kind : "semaphore",
		"type", string_or_null(u->resource_type),
		"address", hex(u->address),
		"semaphore", hex(u->semaphore),
		"granted", u->granted,
		"permits_wanted", (json_int_t)u->permits_wanted);
}

static json_t *node_json(const struct ai_await_node *node)
{
	json_t *locals = json_array();
	for (size_t i = 0; i < node->local_count; i++) {
		const struct ai_snapshot_local *l = &node->locals[i];
		json_array_append_new(locals, json_pack("{s:o, s:o, s:o}", "name", string_or_null(l->name),
							"type", string_or_null(l->type), "value",
							string_or_null(l->value)));
	}
	json_t *children = json_array();
	for (size_t i = 0; i < node->child_count; i++)
		json_array_append_new(children, node_json(&node->children[i]));
	json_t *obj = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
		"function", string_or_null(node->function),
		"type", string_or_null(node->type),
		"state", string_or_null(node->state),
		"file", string_or_null(node->file),
		"line", node->line > 0 ? json_integer(node->line) : json_null(),
		"address", hex(node->address),
		"locals", locals,
		"children", children);
	if (node->macro)
		json_object_set_new(obj, "macro", json_string(node->macro));
	if (node->await_count) {
		json_t *lines = json_array();
		for (size_t i = 0; i < node->await_count; i++)
			json_array_append_new(lines, node->await_lines[i] > 0 ?
					      json_integer(node->await_lines[i]) : json_null());
		json_object_set_new(obj, "awaits", json_pack("{s:I, s:o, s:o}",
			"count", (json_int_t)node->await_count,
			"current", node->await_index ? json_integer((json_int_t)node->await_index) : json_null(),
			"lines", lines));
	}
	if (node->leaf)
		json_object_set_new(obj, "leaf", json_true());
	if (node->wait)
		json_object_set_new(obj, "wait", wait_json(node->wait));
	if (node->error)
		json_object_set_new(obj, "error", json_string(node->error));
	return obj;
}

static json_t *task_json(const struct ai_snapshot_task *task)
{
	json_t *held = json_array();
	for (size_t i = 0; i < task->held_count; i++)
		json_array_append_new(held, held_json(&task->held[i]));
	json_t *obj = json_pack("{s:o, s:o, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:o}",
		"id", task->has_id ? json_integer((json_int_t)task->id) : json_null(),
		"runtime", string_or_null(task->runtime),
		"kind", task->kind ? task->kind : "task",
		"status", string_or_null(task->status),
		"flavor", string_or_null(task->flavor),
		"thread", task->thread ? json_integer(task->thread) : json_null(),
		"future", string_or_null(task->future),
		"address", hex(task->address),
		"runtime_address", task->runtime_address ? hex(task->runtime_address) : json_null(),
		"tree", node_json(&task->tree));
	json_object_set_new(obj, "wait", task->wait ? wait_json(task->wait) : json_null());
	json_object_set_new(obj, "held", held);
	json_t *unpolled = json_array();
	for (size_t i = 0; i < task->unpolled_count; i++)
		json_array_append_new(unpolled, unpolled_json(&task->unpolled[i]));
	json_object_set_new(obj, "unpolled", unpolled);
	if (task->read_live)
		json_object_set_new(obj, "sampled", json_false());
	return obj;
}

static json_t *task_ref(const struct ai_snapshot_task *t)
{
	return t->has_id ? json_integer((json_int_t)t->id) : json_string(t->kind);
}

static json_t *deadlocks_json(const struct ai_snapshot *s)
{
	json_t *out = json_array();
	for (size_t i = 0; i < s->deadlock_count; i++) {
		const struct ai_deadlock *d = &s->deadlocks[i];
		json_t *tasks = json_array(), *edges = json_array();
		for (size_t k = 0; k < d->count; k++) {
			const struct ai_deadlock_edge *e = &d->edges[k];
			json_array_append_new(tasks, task_ref(&s->tasks[d->tasks[k]]));
			json_t *resource = json_pack("{s:s, s:o, s:o}",
				"kind", e->wait->kind,
				"type", string_or_null(e->wait->resource_type),
				"address", hex(e->wait->address));
			json_t *edge = json_pack("{s:o, s:o, s:o}",
				"from", task_ref(&s->tasks[e->from]),
				"to", task_ref(&s->tasks[e->to]),
				"resource", resource);
			if (e->held)
				json_object_set_new(edge, "held_by", held_json(e->held));
			if (e->unpolled)
				json_object_set_new(edge, "granted_to", unpolled_json(e->unpolled));
			json_array_append_new(edges, edge);
		}
		json_array_append_new(out, json_pack("{s:s, s:o, s:o}", "kind", d->futurelock ? "futurelock" : "deadlock",
						     "tasks", tasks, "edges", edges));
	}
	return out;
}

json_t *ai_dump_json(const struct ai_snapshot *s)
{
	json_t *tasks = json_array();
	for (size_t i = 0; i < s->task_count; i++)
		json_array_append_new(tasks, task_json(&s->tasks[i]));
	json_t *warnings = json_array();
	for (size_t i = 0; i < s->warning_count; i++)
		json_array_append_new(warnings, json_string(s->warnings[i]));
	json_t *runtimes = json_array();
	for (size_t i = 0; i < s->runtime_count; i++) {
		const struct ai_snapshot_runtime *rt = &s->runtimes[i];
		json_array_append_new(runtimes, json_pack("{s:s, s:o, s:I, s:b}", "name", rt->name,
			"version", string_or_null(rt->version), "instances", (json_int_t)rt->instances,
			"decoded", rt->decoded));
	}
	json_t *root = json_pack("{s:s, s:i, s:i, s:o, s:o, s:I, s:I, s:o, s:o, s:o, s:o}",
		"format", "async-inspect-snapshot",
		"version", 2,
		"pid", (int)s->pid,
		"exe", string_or_null(s->exe),
		"core", string_or_null(s->core),
		"captured_at", (json_int_t)s->captured_at_ms,
		"pause_us", (json_int_t)s->pause_us,
		"runtimes", runtimes,
		"warnings", warnings,
		"threads", ai_threads_json(s),
		"tasks", tasks);
	json_object_set_new(root, "deadlocks", deadlocks_json(s));
	if (s->max_pause_us) {
		json_object_set_new(root, "max_pause_us", json_integer((json_int_t)s->max_pause_us));
		json_object_set_new(root, "tasks_sampled", json_integer((json_int_t)s->tasks_sampled));
		json_object_set_new(root, "stop_us", json_integer((json_int_t)s->stop_us));
	}
	return root;
}

int ai_write_dump_json_line(FILE *out, const struct ai_snapshot *s)
{
	json_t *root = ai_dump_json(s);
	int r = json_dumpf(root, out, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(root);
	if (r == 0 && (fputc('\n', out) == EOF || fflush(out) != 0))
		r = -1;
	return r;
}

int ai_print_dump_json(FILE *out, const struct ai_snapshot *s)
{
	json_t *root = ai_dump_json(s);
	int r = json_dumpf(root, out, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	fputc('\n', out);
	json_decref(root);
	return r;
}
