/* Several processes in one view (dump --pid A --pid B, merge): text and the JSON document
 * "async-inspect-processes". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/frontend.h"
#include "ai/json_writer.h"
#include "ai/peers.h"
#include "ai/util.h"

static void print_step_task(FILE *out, const struct ai_process_set *set, const struct ai_cross_step *st)
{
	const struct ai_snapshot *s = set->snapshots[st->process];
	const struct ai_snapshot_task *t = &s->tasks[st->task];
	char *who = ai_process_set_name(set, st->process);
	fprintf(out, "%s ", who);
	free(who);
	if (t->has_id)
		fprintf(out, "Task %llu", (unsigned long long)t->id);
	else
		fputs(t->kind ? t->kind : "?", out);
	fprintf(out, " %s", t->future ? t->future : "?");
	if (t->tree.file && t->tree.line > 0)
		fprintf(out, " at %s:%d", ai_short_path(t->tree.file), t->tree.line);
}

static void print_cycles(FILE *out, const struct ai_process_set *set)
{
	for (size_t i = 0; i < set->deadlock_count; i++) {
		const struct ai_cross_deadlock *d = &set->deadlocks[i];
		bool across = false;
		for (size_t k = 0; k < d->count; k++)
			across |= d->steps[k].process != d->steps[0].process;
		fprintf(out, "DEADLOCK %s: %zu tasks wait on each other\n",
			across ? "across processes" : "through a socket", d->count);
		for (size_t k = 0; k < d->count; k++) {
			const struct ai_cross_step *st = &d->steps[k], *next = &d->steps[(k + 1) % d->count];
			fputs("  ", out);
			print_step_task(out, set, st);
			const struct ai_wait *w = st->wait;
			fprintf(out, "\n     waits in %s\n     %s ", w && w->description ? w->description : "?",
				st->via_peer ? "for the other end of the socket:" : "for");
			print_step_task(out, set, next);
			fputc('\n', out);
		}
		fputs("  Suggestion: a request must not wait for an answer that only the task it waits for can "
		      "send; look for a protocol step both sides take first (each reading before writing).\n\n", out);
	}
}

void ai_print_processes_text(FILE *out, const struct ai_process_set *set, const struct ai_text_options *options)
{
	for (size_t p = 0; p < set->count; p++) {
		const struct ai_snapshot *s = set->snapshots[p];
		char label[320];
		snprintf(label, sizeof(label), "pid %d %s", (int)s->pid, ai_process_command(s));
		fprintf(out, "=== process %d (%s)%s%s ===\n", (int)s->pid, ai_process_command(s), s->host ? " on " : "",
			s->host ? s->host : "");
		struct ai_text_options o = *options;
		o.process = label;
		ai_print_dump_text(out, s, &o);
		fputc('\n', out);
	}
	size_t tasks = 0;
	for (size_t p = 0; p < set->count; p++)
		tasks += set->snapshots[p]->task_count;
	print_cycles(out, set);
	fprintf(out, "%zu processes, %zu tasks and block_on futures; %zu socket wait%s linked to the task at the other "
		"end; %zu cycle%s through sockets\n", set->count, tasks, set->link_count, set->link_count == 1 ? "" : "s",
		set->deadlock_count, set->deadlock_count == 1 ? "" : "s");
}

/* {"pid": 2311, "task": 17} (task: its id, or its kind when it has none), with its future. */
static void write_step_ref(struct ai_json_writer *w, const struct ai_process_set *set, const struct ai_cross_step *st)
{
	const struct ai_snapshot *s = set->snapshots[st->process];
	const struct ai_snapshot_task *t = &s->tasks[st->task];
	ai_json_begin_object(w);
	ai_json_field_int(w, "pid", s->pid);
	ai_json_field_string(w, "command", ai_process_command(s));
	ai_json_field_string(w, "host", s->host);
	ai_json_key(w, "task");
	if (t->has_id)
		ai_json_uint(w, t->id);
	else
		ai_json_string(w, t->kind ? t->kind : "?");
	ai_json_field_string(w, "future", t->future);
	ai_json_end_object(w);
}

int ai_print_processes_json(FILE *out, const struct ai_process_set *set, bool pretty)
{
	struct ai_json_writer w;
	ai_json_writer_init(&w, out, pretty);
	ai_json_begin_object(&w);
	ai_json_field_string(&w, "format", "async-inspect-processes");
	ai_json_field_int(&w, "version", 1);
	ai_json_key(&w, "processes");
	ai_json_begin_array(&w);
	for (size_t p = 0; p < set->count; p++)
		ai_write_dump_json(&w, set->snapshots[p]);
	ai_json_end_array(&w);
	ai_json_key(&w, "links");
	ai_json_begin_array(&w);
	for (size_t p = 0; p < set->count; p++) {
		const struct ai_snapshot *s = set->snapshots[p];
		for (size_t i = 0; i < s->task_count; i++) {
			const struct ai_wait *wait = s->tasks[i].wait;
			if (!wait || !wait->peer || !wait->peer->has_task)
				continue;
			struct ai_cross_step from = { p, i, wait, true }, to = { wait->peer->process, wait->peer->task, NULL, false };
			ai_json_begin_object(&w);
			ai_json_key(&w, "from");
			write_step_ref(&w, set, &from);
			ai_json_key(&w, "to");
			write_step_ref(&w, set, &to);
			ai_json_field_string(&w, "local", wait->local_address);
			ai_json_field_string(&w, "peer", wait->peer_address);
			ai_json_field_int(&w, "fd", wait->fd);
			ai_json_field_int(&w, "peer_fd", wait->peer->fd);
			ai_json_end_object(&w);
		}
	}
	ai_json_end_array(&w);
	ai_json_key(&w, "deadlocks");
	ai_json_begin_array(&w);
	for (size_t i = 0; i < set->deadlock_count; i++) {
		const struct ai_cross_deadlock *d = &set->deadlocks[i];
		ai_json_begin_object(&w);
		ai_json_field_string(&w, "kind", "deadlock");
		ai_json_key(&w, "tasks");
		ai_json_begin_array(&w);
		for (size_t k = 0; k < d->count; k++)
			write_step_ref(&w, set, &d->steps[k]);
		ai_json_end_array(&w);
		ai_json_key(&w, "edges");
		ai_json_begin_array(&w);
		for (size_t k = 0; k < d->count; k++) {
			const struct ai_cross_step *st = &d->steps[k];
			ai_json_begin_object(&w);
			ai_json_key(&w, "from");
			write_step_ref(&w, set, st);
			ai_json_key(&w, "to");
			write_step_ref(&w, set, &d->steps[(k + 1) % d->count]);
			ai_json_field_string(&w, "via", st->via_peer ? "socket" : "wait");
			ai_json_field_string(&w, "wait", st->wait && st->wait->description ? st->wait->description : NULL);
			ai_json_end_object(&w);
		}
		ai_json_end_array(&w);
		ai_json_end_object(&w);
	}
	ai_json_end_array(&w);
	ai_json_end_object(&w);
	int r = ai_json_writer_finish(&w);
	if (fputc('\n', out) == EOF)
		r = -1;
	return r;
}
