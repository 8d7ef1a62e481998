/* JSON output, streamed through our own writer (json_writer.c): a dump of 20,000 tasks is tens of
 * MB, and a document tree of it cost more time and memory than the decoding (issue 12). The
 * format is documented in docs/json-format.md; json_read.c reads it back (with jansson).
 *
 * One function per JSON object of the format, each writing its members in the documented order:
 * a new field goes into the function of its object, and a reader that does not know it ignores
 * it. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ai/frontend.h"
#include "ai/json_writer.h"
#include "ai/util.h"

/* A line number, or null when unknown (0). */
static void field_line(struct ai_json_writer *w, const char *key, int line)
{
	ai_json_key(w, key);
	if (line > 0)
		ai_json_int(w, line);
	else
		ai_json_null(w);
}

static void write_frame(struct ai_json_writer *w, const struct ai_snapshot_frame *f)
{
	ai_json_begin_object(w);
	ai_json_field_hex(w, "pc", f->pc);
	ai_json_field_string(w, "function", f->function);
	ai_json_field_string(w, "file", f->file);
	field_line(w, "line", f->line);
	ai_json_field_string(w, "module", f->module);
	ai_json_field_bool(w, "inlined", f->inlined);
	ai_json_end_object(w);
}

static void write_thread(struct ai_json_writer *w, const struct ai_snapshot_thread *t)
{
	ai_json_begin_object(w);
	ai_json_field_int(w, "tid", t->tid);
	ai_json_field_string(w, "name", t->name);
	ai_json_field_string(w, "state", ai_thread_state_name(t->state));
	ai_json_key(w, "state_code");
	ai_json_string_len(w, &t->state, 1);
	ai_json_key(w, "frames");
	ai_json_begin_array(w);
	for (size_t j = 0; j < t->frame_count; j++)
		write_frame(w, &t->frames[j]);
	ai_json_end_array(w);
	ai_json_field_string(w, "stack_error", t->stack_error);
	ai_json_end_object(w);
}

static void write_threads(struct ai_json_writer *w, const struct ai_snapshot *s)
{
	ai_json_begin_array(w);
	for (size_t i = 0; i < s->thread_count; i++)
		write_thread(w, &s->threads[i]);
	ai_json_end_array(w);
}

/* Ends the document: a newline, then out's own error state too (the writer only sees fwrite). */
static int finish(struct ai_json_writer *w, FILE *out)
{
	int r = ai_json_writer_finish(w);
	if (fputc('\n', out) == EOF || ferror(out))
		r = -1;
	return r;
}

int ai_print_threads_json(FILE *out, const struct ai_snapshot *s)
{
	struct ai_json_writer w;
	ai_json_writer_init(&w, out, true);
	ai_json_begin_object(&w);
	ai_json_field_string(&w, "format", "async-inspect-threads");
	ai_json_field_int(&w, "version", 1);
	ai_json_field_int(&w, "pid", s->pid);
	ai_json_field_string(&w, "exe", s->exe);
	ai_json_field_string(&w, "core", s->core);
	ai_json_field_int(&w, "captured_at_ms", s->captured_at_ms);
	ai_json_field_uint(&w, "pause_us", s->pause_us);
	ai_json_key(&w, "threads");
	write_threads(&w, s);
	ai_json_end_object(&w);
	return finish(&w, out);
}

static void write_wait(struct ai_json_writer *w, const struct ai_wait *wait)
{
	ai_json_begin_object(w);
	ai_json_field_string(w, "kind", wait->kind);
	ai_json_field_string(w, "description", wait->description);
	if (wait->resource_type)
		ai_json_field_string(w, "type", wait->resource_type);
	if (wait->address)
		ai_json_field_hex(w, "address", wait->address);
	if (wait->semaphore)
		ai_json_field_hex(w, "semaphore", wait->semaphore);
	if (wait->has_deadline)
		ai_json_field_int(w, "deadline_ns", wait->deadline_ns);
	if (wait->has_remaining)
		ai_json_field_int(w, "remaining_ms", wait->remaining_ns / 1000000);
	if (wait->has_permits)
		ai_json_field_uint(w, "permits_available", wait->permits_available);
	if (wait->semaphore) {
		ai_json_field_uint(w, "permits_wanted", wait->permits_wanted);
		ai_json_field_bool(w, "queued", wait->queued);
		if (wait->place_in_line)
			ai_json_field_uint(w, "place_in_line", wait->place_in_line);
	}
	if (wait->access)
		ai_json_field_string(w, "access", wait->access);
	if (wait->bars_readers)
		ai_json_field_bool(w, "bars_readers", true);
	if (wait->has_sender_alive)
		ai_json_field_bool(w, "sender_alive", wait->sender_alive);
	bool kind_is = wait->kind != NULL;
	if (wait->has_senders) {
		ai_json_field_uint(w, "senders_alive", wait->senders_alive);
		if (kind_is && strcmp(wait->kind, "mpsc_recv") == 0)
			ai_json_field_uint(w, "senders_own", wait->senders_own);
	}
	if (wait->has_messages)
		ai_json_field_uint(w, "messages_queued", wait->messages_queued);
	if (wait->has_capacity)
		ai_json_field_uint(w, "capacity", wait->capacity);
	if (wait->has_receiver_alive)
		ai_json_field_bool(w, "receiver_alive", wait->receiver_alive);
	if (wait->warning)
		ai_json_field_string(w, "warning", wait->warning);
	if (kind_is && strcmp(wait->kind, "join") == 0) {
		ai_json_key(w, "task");
		if (wait->has_target_id)
			ai_json_uint(w, wait->target_task_id);
		else
			ai_json_null(w);
		ai_json_field_string(w, "task_status", wait->target_status);
	}
	if (wait->has_unseen)
		ai_json_field_uint(w, "unseen", wait->unseen);
	if (wait->has_version) {
		ai_json_field_uint(w, "version", wait->version);
		ai_json_field_uint(w, "seen_version", wait->seen_version);
	}
	if (wait->has_closed)
		ai_json_field_bool(w, "closed", wait->closed);
	if (wait->has_members) {
		ai_json_key(w, "members");
		ai_json_begin_array(w);
		for (size_t i = 0; i < wait->member_count; i++) {
			const struct ai_wait_member *m = &wait->members[i];
			ai_json_begin_object(w);
			ai_json_key(w, "id");
			if (m->has_id)
				ai_json_uint(w, m->id);
			else
				ai_json_null(w);
			ai_json_field_hex(w, "address", m->address);
			ai_json_field_string(w, "status", m->status);
			ai_json_field_bool(w, "notified", m->notified);
			ai_json_end_object(w);
		}
		ai_json_end_array(w);
	}
	if (kind_is && strcmp(wait->kind, "io") == 0) {
		ai_json_key(w, "fd");
		if (wait->has_fd)
			ai_json_int(w, wait->fd);
		else
			ai_json_null(w);
		ai_json_field_string(w, "direction", wait->direction);
		if (wait->fd_target)
			ai_json_field_string(w, "fd_target", wait->fd_target);
		if (wait->socket_kind) {
			ai_json_key(w, "socket");
			ai_json_begin_object(w);
			ai_json_field_string(w, "kind", wait->socket_kind);
			ai_json_field_string(w, "local", wait->local_address);
			ai_json_field_string(w, "peer", wait->peer_address);
			ai_json_field_string(w, "state", wait->socket_state);
			if (wait->socket_inode)
				ai_json_field_uint(w, "inode", wait->socket_inode);
			if (wait->peer_inode)
				ai_json_field_uint(w, "peer_inode", wait->peer_inode);
			ai_json_end_object(w);
		}
	}
	if (wait->peer) {
		const struct ai_peer *p = wait->peer;
		ai_json_key(w, "peer");
		ai_json_begin_object(w);
		ai_json_field_int(w, "pid", p->pid);
		ai_json_field_string(w, "command", p->command);
		if (p->host)
			ai_json_field_string(w, "host", p->host);
		ai_json_key(w, "task");
		if (p->has_task_id)
			ai_json_uint(w, p->task_id);
		else
			ai_json_null(w);
		ai_json_field_string(w, "task_future", p->task_future);
		ai_json_key(w, "fd");
		if (p->fd >= 0)
			ai_json_int(w, p->fd);
		else
			ai_json_null(w);
		ai_json_field_string(w, "addr", p->address);
		ai_json_field_bool(w, "inspected", !p->outside);
		ai_json_field_string(w, "summary", p->summary);
		ai_json_end_object(w);
	}
	ai_json_end_object(w);
}

static void write_fd(struct ai_json_writer *w, const struct ai_task_fd *f)
{
	ai_json_begin_object(w);
	ai_json_field_int(w, "fd", f->fd);
	ai_json_field_string(w, "local", f->local);
	ai_json_field_string(w, "function", f->function);
	ai_json_field_string(w, "fd_target", f->target);
	if (f->socket_kind) {
		ai_json_key(w, "socket");
		ai_json_begin_object(w);
		ai_json_field_string(w, "kind", f->socket_kind);
		ai_json_field_string(w, "local", f->local_address);
		ai_json_field_string(w, "peer", f->peer_address);
		ai_json_field_string(w, "state", f->socket_state);
		if (f->socket_inode)
			ai_json_field_uint(w, "inode", f->socket_inode);
		if (f->peer_inode)
			ai_json_field_uint(w, "peer_inode", f->peer_inode);
		ai_json_end_object(w);
	}
	ai_json_end_object(w);
}

static void write_held(struct ai_json_writer *w, const struct ai_held *h)
{
	ai_json_begin_object(w);
	ai_json_field_string(w, "kind", h->kind);
	ai_json_field_string(w, "type", h->resource_type);
	ai_json_field_hex(w, "address", h->address);
	ai_json_field_hex(w, "semaphore", h->semaphore);
	ai_json_field_string(w, "guard", h->guard_type);
	ai_json_field_string(w, "local", h->local);
	ai_json_field_string(w, "function", h->function);
	ai_json_field_string(w, "file", h->file);
	field_line(w, "line", h->line);
	ai_json_end_object(w);
}

static void write_unpolled(struct ai_json_writer *w, const struct ai_unpolled *u)
{
	ai_json_begin_object(w);
	ai_json_field_string(w, "local", u->local);
	ai_json_field_string(w, "future", u->future_type);
	ai_json_field_string(w, "function", u->function);
	ai_json_field_string(w, "file", u->file);
	field_line(w, "line", u->line);
	ai_json_field_hex(w, "acquire", u->acquire);
	ai_json_field_string(w, "kind", u->kind ? u->kind : "semaphore");
	ai_json_field_string(w, "type", u->resource_type);
	ai_json_field_hex(w, "address", u->address);
	ai_json_field_hex(w, "semaphore", u->semaphore);
	ai_json_field_bool(w, "granted", u->granted);
	ai_json_field_uint(w, "permits_wanted", u->permits_wanted);
	ai_json_end_object(w);
}

/* The local's structured value (written by the value printer as compact JSON), or for a local
 * with no value its state: `{"kind":"moved"}`. Absent when the dump did not build it. */
static void write_structured(struct ai_json_writer *w, const struct ai_snapshot_local *l)
{
	if (l->state != AI_LOCAL_LIVE) {
		ai_json_key(w, "structured");
		ai_json_begin_object(w);
		ai_json_field_string(w, "kind", ai_local_state_name(l->state));
		ai_json_end_object(w);
	} else if (l->structured) {
		ai_json_key(w, "structured");
		ai_json_raw(w, l->structured, strlen(l->structured));
	}
}

static void write_node(struct ai_json_writer *w, const struct ai_await_node *node)
{
	ai_json_begin_object(w);
	ai_json_field_string(w, "function", node->function);
	ai_json_field_string(w, "type", node->type);
	ai_json_field_string(w, "state", node->state);
	ai_json_field_string(w, "file", node->file);
	field_line(w, "line", node->line);
	ai_json_field_hex(w, "address", node->address);
	ai_json_key(w, "locals");
	ai_json_begin_array(w);
	for (size_t i = 0; i < node->local_count; i++) {
		const struct ai_snapshot_local *l = &node->locals[i];
		ai_json_begin_object(w);
		ai_json_field_string(w, "name", l->name);
		ai_json_field_string(w, "type", l->type);
		ai_json_field_string(w, "value", l->value);
		write_structured(w, l);
		ai_json_field_string(w, "state", ai_local_state_name(l->state));
		if (l->generated)
			ai_json_field_bool(w, "generated", true);
		ai_json_end_object(w);
	}
	ai_json_end_array(w);
	/* Await trees nest as deep as --depth allows (10,000): the writer's own stack grows, ours
	 * recurses once per level, as the decoder did. */
	ai_json_key(w, "children");
	ai_json_begin_array(w);
	for (size_t i = 0; i < node->child_count; i++)
		write_node(w, &node->children[i]);
	ai_json_end_array(w);
	if (node->macro) {
		ai_json_field_string(w, "macro", node->macro);
		if (node->macro_file) {
			ai_json_field_string(w, "macro_file", node->macro_file);
			field_line(w, "macro_line", node->macro_line);
		}
	}
	if (node->span)
		ai_json_field_string(w, "span", node->span);
	if (node->await_count) {
		ai_json_key(w, "awaits");
		ai_json_begin_object(w);
		ai_json_field_uint(w, "count", node->await_count);
		ai_json_key(w, "current");
		if (node->await_index)
			ai_json_uint(w, node->await_index);
		else
			ai_json_null(w);
		ai_json_key(w, "lines");
		ai_json_begin_array(w);
		for (size_t i = 0; i < node->await_count; i++) {
			if (node->await_lines[i] > 0)
				ai_json_int(w, node->await_lines[i]);
			else
				ai_json_null(w);
		}
		ai_json_end_array(w);
		ai_json_end_object(w);
	}
	if (node->leaf)
		ai_json_field_bool(w, "leaf", true);
	if (node->dependency)
		ai_json_field_bool(w, "dependency", true);
	if (node->wait) {
		ai_json_key(w, "wait");
		write_wait(w, node->wait);
	}
	if (node->error)
		ai_json_field_string(w, "error", node->error);
	ai_json_end_object(w);
}

static void write_task(struct ai_json_writer *w, const struct ai_snapshot_task *task)
{
	ai_json_begin_object(w);
	ai_json_key(w, "id");
	if (task->has_id)
		ai_json_uint(w, task->id);
	else
		ai_json_null(w);
	ai_json_field_string(w, "runtime", task->runtime);
	ai_json_field_string(w, "kind", task->kind ? task->kind : "task");
	ai_json_field_string(w, "status", task->status);
	ai_json_field_string(w, "flavor", task->flavor);
	ai_json_key(w, "thread");
	if (task->thread)
		ai_json_int(w, task->thread);
	else
		ai_json_null(w);
	ai_json_field_string(w, "name", task->name);
	ai_json_field_string(w, "future", task->future);
	if (task->driven_by)
		ai_json_field_string(w, "driven_by", task->driven_by);
	ai_json_field_hex(w, "address", task->address);
	ai_json_key(w, "runtime_address");
	if (task->runtime_address)
		ai_json_hex(w, task->runtime_address);
	else
		ai_json_null(w);
	ai_json_key(w, "tree");
	write_node(w, &task->tree);
	ai_json_key(w, "wait");
	if (task->wait)
		write_wait(w, task->wait);
	else
		ai_json_null(w);
	ai_json_key(w, "held");
	ai_json_begin_array(w);
	for (size_t i = 0; i < task->held_count; i++)
		write_held(w, &task->held[i]);
	ai_json_end_array(w);
	ai_json_key(w, "unpolled");
	ai_json_begin_array(w);
	for (size_t i = 0; i < task->unpolled_count; i++)
		write_unpolled(w, &task->unpolled[i]);
	ai_json_end_array(w);
	if (task->fd_count) {
		ai_json_key(w, "fds");
		ai_json_begin_array(w);
		for (size_t i = 0; i < task->fd_count; i++)
			write_fd(w, &task->fds[i]);
		ai_json_end_array(w);
	}
	if (task->set_address) {
		ai_json_key(w, "set");
		ai_json_begin_object(w);
		ai_json_field_string(w, "type", task->set_type);
		ai_json_field_hex(w, "address", task->set_address);
		ai_json_end_object(w);
	}
	if (task->read_live)
		ai_json_field_bool(w, "sampled", false);
	ai_json_end_object(w);
}

void ai_write_task_json(struct ai_json_writer *w, const struct ai_snapshot_task *task)
{
	write_task(w, task);
}

/* A task in a cycle: its id, or its kind ("block_on") when it has none. */
static void write_task_ref(struct ai_json_writer *w, const struct ai_snapshot_task *t)
{
	if (t->has_id)
		ai_json_uint(w, t->id);
	else
		ai_json_string(w, t->kind);
}

static void write_deadlock(struct ai_json_writer *w, const struct ai_snapshot *s, const struct ai_deadlock *d)
{
	ai_json_begin_object(w);
	ai_json_field_string(w, "kind", d->futurelock ? "futurelock" : "deadlock");
	ai_json_key(w, "tasks");
	ai_json_begin_array(w);
	for (size_t k = 0; k < d->count; k++)
		write_task_ref(w, &s->tasks[d->tasks[k]]);
	ai_json_end_array(w);
	ai_json_key(w, "edges");
	ai_json_begin_array(w);
	for (size_t k = 0; k < d->count; k++) {
		const struct ai_deadlock_edge *e = &d->edges[k];
		ai_json_begin_object(w);
		ai_json_key(w, "from");
		write_task_ref(w, &s->tasks[e->from]);
		ai_json_key(w, "to");
		write_task_ref(w, &s->tasks[e->to]);
		ai_json_key(w, "resource");
		ai_json_begin_object(w);
		ai_json_field_string(w, "kind", e->wait->kind);
		ai_json_field_string(w, "type", e->wait->resource_type);
		ai_json_field_hex(w, "address", e->wait->address);
		ai_json_end_object(w);
		if (e->held) {
			ai_json_key(w, "held_by");
			write_held(w, e->held);
		}
		if (e->unpolled) {
			ai_json_key(w, "granted_to");
			write_unpolled(w, e->unpolled);
		}
		ai_json_end_object(w);
	}
	ai_json_end_array(w);
	ai_json_end_object(w);
}

void ai_write_runtimes_json(struct ai_json_writer *w, const struct ai_snapshot *s)
{
	ai_json_key(w, "runtimes");
	ai_json_begin_array(w);
	for (size_t i = 0; i < s->runtime_count; i++) {
		const struct ai_snapshot_runtime *rt = &s->runtimes[i];
		ai_json_begin_object(w);
		ai_json_field_string(w, "name", rt->name);
		ai_json_field_string(w, "version", rt->version);
		ai_json_field_uint(w, "instances", rt->instances);
		ai_json_field_bool(w, "decoded", rt->decoded);
		if (rt->module)
			ai_json_field_string(w, "module", rt->module);
		ai_json_end_object(w);
	}
	ai_json_end_array(w);
}

void ai_write_warnings_json(struct ai_json_writer *w, const struct ai_snapshot *s)
{
	ai_json_key(w, "warnings");
	ai_json_begin_array(w);
	for (size_t i = 0; i < s->warning_count; i++)
		ai_json_string(w, s->warnings[i]);
	ai_json_end_array(w);
}

void ai_write_dump_json(struct ai_json_writer *w, const struct ai_snapshot *s)
{
	ai_json_begin_object(w);
	ai_json_field_string(w, "format", "async-inspect-snapshot");
	ai_json_field_int(w, "version", 2);
	ai_json_field_int(w, "pid", s->pid);
	ai_json_field_string(w, "exe", s->exe);
	if (s->command)
		ai_json_field_string(w, "command", s->command);
	if (s->host)
		ai_json_field_string(w, "host", s->host);
	ai_json_field_string(w, "core", s->core);
	ai_json_field_int(w, "captured_at", s->captured_at_ms);
	ai_json_field_uint(w, "pause_us", s->pause_us);
	if (s->has_monotonic) /* the clock of the timers' deadline_ns: replay counts down from it */
		ai_json_field_int(w, "monotonic_ns", s->monotonic_ns);
	ai_write_runtimes_json(w, s);
	ai_write_warnings_json(w, s);
	ai_json_key(w, "threads");
	write_threads(w, s);
	ai_json_key(w, "tasks");
	ai_json_begin_array(w);
	for (size_t i = 0; i < s->task_count; i++)
		write_task(w, &s->tasks[i]);
	ai_json_end_array(w);
	ai_json_key(w, "deadlocks");
	ai_json_begin_array(w);
	for (size_t i = 0; i < s->deadlock_count; i++)
		write_deadlock(w, s, &s->deadlocks[i]);
	ai_json_end_array(w);
	if (s->max_pause_us) {
		ai_json_field_uint(w, "max_pause_us", s->max_pause_us);
		ai_json_field_uint(w, "tasks_sampled", s->tasks_sampled);
		ai_json_field_uint(w, "stop_us", s->stop_us);
	}
	ai_json_end_object(w);
}

int ai_print_dump_json(FILE *out, const struct ai_snapshot *s, bool pretty)
{
	struct ai_json_writer w;
	ai_json_writer_init(&w, out, pretty);
	ai_write_dump_json(&w, s);
	return finish(&w, out);
}

int ai_write_dump_json_line(FILE *out, const struct ai_snapshot *s)
{
	int r = ai_print_dump_json(out, s, false);
	if (fflush(out) != 0)
		r = -1;
	return r;
}

json_t *ai_dump_json(const struct ai_snapshot *s)
{
	char *text = NULL;
	size_t len = 0;
	FILE *mem = open_memstream(&text, &len);
	if (!mem)
		abort(); /* out of memory, as xmalloc would */
	struct ai_json_writer w;
	ai_json_writer_init(&w, mem, false);
	ai_write_dump_json(&w, s);
	int r = ai_json_writer_finish(&w);
	if (fclose(mem) != 0 || r != 0)
		abort();
	json_error_t error;
	json_t *root = json_loadb(text, len, 0, &error);
	if (!root) {
		/* The writer's output is always valid JSON: anything else is our bug. */
		fprintf(stderr, "async-inspect: internal error: the JSON written does not read back: %s\n", error.text);
		abort();
	}
	free(text);
	return root;
}
