/* The --break printer: a record per hit on stdout (text, or a JSON line), the program going on
 * after each; after --break-count hits (or at its end) the breakpoints are removed and we detach.
 * The hits come from the session (session.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/breakpoint.h"
#include "ai/debuginfo.h"
#include "ai/frontend.h"
#include "ai/json_writer.h"
#include "ai/snapshot.h"
#include "ai/util.h"

void ai_break_hit_print_header(FILE *out, const struct ai_break_hit *hit)
{
	const struct ai_break_site *site = hit->site;
	const struct ai_break_spec *spec = hit->spec;
	fprintf(out, "breakpoint %zu (%s) hit %llu: ", site->spec + 1, spec->text, (unsigned long long)hit->number);
	if (site->kind != AI_SITE_TASK) {
		fprintf(out, "%s at %s:%u", site->function, ai_short_path(site->file), site->line);
		if (site->module && !site->module->is_main)
			fprintf(out, " in %s", strrchr(site->module->path, '/') ? strrchr(site->module->path, '/') + 1
										 : site->module->path);
		fprintf(out, ", thread %d \"%s\"\n", (int)hit->tid, hit->thread_name);
		return;
	}
	if (hit->task && hit->task->has_id)
		fprintf(out, "task %llu", (unsigned long long)hit->task->id);
	else
		fprintf(out, "a task");
	fprintf(out, " %s, thread %d \"%s\"\n", spec->kind == AI_BREAK_SPAWN ? "spawned" : "completed", (int)hit->tid,
		hit->thread_name);
	if (spec->kind != AI_BREAK_SPAWN)
		return;
	const struct ai_snapshot_frame *at = hit->spawned_at;
	if (at)
		fprintf(out, "  spawned at %s:%d in %s\n", ai_short_path(at->file), at->line, at->function ? at->function : "?");
	else
		fprintf(out, "  spawned at: unknown (no frame of the program's own code on thread %d)\n", (int)hit->tid);
}

/* The task part of a text record: its await chain as dump prints it and its history, or why it
 * is unknown (`missing` names what was looked for at the hit's address). */
static void print_task_part(struct ai_break_history *history, const struct ai_break_options *o,
			    const struct ai_break_hit *hit, const char *missing)
{
	if (hit->task) {
		struct ai_text_options text = { .color = o->color, .locals = o->locals };
		ai_print_task_text(stdout, hit->snapshot, hit->task, &text);
		if (history)
			ai_break_history_print(stdout, history, hit->task);
	} else {
		printf("  task: unknown (%s 0x%llx)\n", missing, (unsigned long long)hit->address);
	}
	putchar('\n');
}

/* A JSON record's first members (format, version, hit, breakpoint) and, at the end, its task and
 * history; one line. */
static void begin_record_json(struct ai_json_writer *w, const struct ai_break_hit *hit)
{
	ai_json_writer_init(w, stdout, false);
	ai_json_begin_object(w);
	ai_json_field_string(w, "format", "async-inspect-breakpoint-hit");
	ai_json_field_int(w, "version", 1);
	ai_json_field_uint(w, "hit", hit->number);
	ai_json_key(w, "breakpoint");
	ai_json_begin_object(w);
	ai_json_field_uint(w, "number", hit->site->spec + 1);
	ai_json_field_string(w, "spec", hit->spec->text);
	ai_json_end_object(w);
}

static void end_record_json(struct ai_break_history *history, struct ai_json_writer *w, const struct ai_break_hit *hit)
{
	ai_json_key(w, "task");
	if (hit->task)
		ai_write_task_json(w, hit->task);
	else
		ai_json_null(w);
	if (history)
		ai_break_history_write_json(w, history, hit->task);
	ai_json_end_object(w);
	ai_json_writer_finish(w);
	putchar('\n');
}

/* An .await or an async fn's first poll. */
static void print_line_hit(struct ai_break_history *history, const struct ai_break_options *o, const struct ai_break_hit *hit)
{
	const struct ai_break_site *site = hit->site;
	if (!o->json) {
		ai_break_hit_print_header(stdout, hit);
		print_task_part(history, o, hit, "no task's await tree holds the coroutine at");
		return;
	}
	struct ai_json_writer w;
	begin_record_json(&w, hit);
	ai_json_field_string(&w, "function", site->function);
	ai_json_field_string(&w, "file", site->file);
	ai_json_field_uint(&w, "line", site->line);
	if (site->module && !site->module->is_main)
		ai_json_field_string(&w, "module", site->module->path);
	ai_json_field_int(&w, "thread", hit->tid);
	ai_json_field_hex(&w, "coroutine", hit->address);
	end_record_json(history, &w, hit);
}

/* A spawn or a completion. */
static void print_task_event(struct ai_break_history *history, const struct ai_break_options *o, const struct ai_break_hit *hit)
{
	const struct ai_break_spec *spec = hit->spec;
	const struct ai_snapshot_frame *at = hit->spawned_at;
	if (!o->json) {
		ai_break_hit_print_header(stdout, hit);
		print_task_part(history, o, hit, "no task found at");
		return;
	}
	struct ai_json_writer w;
	begin_record_json(&w, hit);
	ai_json_field_string(&w, "event", spec->kind == AI_BREAK_SPAWN ? "spawn" : "complete");
	ai_json_field_string(&w, "function", hit->site->function);
	ai_json_field_int(&w, "thread", hit->tid);
	ai_json_field_hex(&w, "header", hit->address);
	if (spec->kind == AI_BREAK_SPAWN) {
		ai_json_key(&w, "spawned_at");
		if (at) {
			ai_json_begin_object(&w);
			ai_json_field_string(&w, "function", at->function ? at->function : "?");
			ai_json_field_string(&w, "file", at->file);
			ai_json_field_int(&w, "line", at->line);
			ai_json_end_object(&w);
		} else {
			ai_json_null(&w);
		}
	}
	end_record_json(history, &w, hit);
}

struct ai_error *ai_break_run(struct ai_target *target, const struct ai_break_options *o,
			      struct ai_break_result *result)
{
	memset(result, 0, sizeof(*result));
	struct ai_break_session *session;
	struct ai_error *err = ai_break_session_begin(target, NULL, o, &session);
	if (err)
		return err;
	while (!o->break_count || result->hits < o->break_count) {
		enum ai_break_event event;
		struct ai_break_hit hit;
		if ((err = ai_break_session_wait(session, -1, &event, &hit, &result->status)))
			break;
		if (event == AI_BREAK_EVENT_EXITED) {
			result->exited = true;
			break;
		}
		if (event != AI_BREAK_EVENT_HIT)
			continue;
		if (hit.site->kind == AI_SITE_TASK)
			print_task_event(ai_break_session_history(session), o, &hit);
		else
			print_line_hit(ai_break_session_history(session), o, &hit);
		fflush(stdout);
		ai_snapshot_destroy(hit.snapshot);
		result->hits = hit.number;
		/* All-stop until the record is out: the program's output after the hit comes after
		 * it. The resume steps the hit thread over the int3. */
		if ((err = ai_target_resume(target)))
			break;
	}
	/* Every path out removes the int3s: detaching does, with every thread stopped. */
	ai_break_session_end(session);
	if (!result->exited)
		ai_target_detach(target);
	return err;
}
