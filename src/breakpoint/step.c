/* `run` / `attach --step TASK`: the task is found in a snapshot (a launched program is sampled
 * until it appears), then each transition the stepper (stepper.c) reports is printed, until
 * --step-count of them; then the watchpoint goes and we detach. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/breakpoint.h"
#include "ai/capture.h"
#include "ai/frontend.h"
#include "ai/json_writer.h"
#include "ai/util.h"

/* How often a launched program is sampled until the task appears. */
#define WAIT_POLL_MS 20

/* --- printing ------------------------------------------------------------------------------ */

static void print_place_text(const char *label, const struct ai_await_node *n)
{
	if (!n) {
		printf("  %-8s (no coroutine)\n", label);
		return;
	}
	printf("  %-8s %s  %s", label, n->function, n->state ? n->state : "?");
	if (n->file)
		printf("  %s:%d", ai_short_path(n->file), n->line);
	else if (n->state && strcmp(n->state, "Unresumed") == 0)
		printf("  (not polled yet)");
	putchar('\n');
}

static void write_place_json(struct ai_json_writer *w, const char *key, const struct ai_await_node *n)
{
	ai_json_key(w, key);
	if (!n) {
		ai_json_null(w);
		return;
	}
	ai_json_begin_object(w);
	ai_json_field_string(w, "function", n->function);
	ai_json_field_string(w, "state", n->state);
	ai_json_field_string(w, "file", n->file);
	ai_json_field_int(w, "line", n->line);
	ai_json_end_object(w);
}

static void print_change_text(const struct ai_await_node *frame, const char *name, const char *before, const char *after,
			      void *arg)
{
	(void)arg;
	printf("  changed  %s = %s -> %s  (%s)\n", name, before ? before : "(none)", after ? after : "(gone)", frame->function);
}

static void write_change_json(const struct ai_await_node *frame, const char *name, const char *before, const char *after,
			      void *arg)
{
	struct ai_json_writer *w = arg;
	ai_json_begin_object(w);
	ai_json_field_string(w, "function", frame->function);
	ai_json_field_string(w, "name", name);
	ai_json_field_string(w, "before", before);
	ai_json_field_string(w, "after", after);
	ai_json_end_object(w);
}

static const char *thread_name(const struct ai_snapshot *s, pid_t tid)
{
	for (size_t i = 0; s && i < s->thread_count; i++)
		if (s->threads[i].tid == tid && s->threads[i].name)
			return s->threads[i].name;
	return "";
}

/* One transition: before (the task as last shown) to after (NULL: gone, i.e. completed). */
static void print_step(const struct ai_step_options *o, uint64_t n, const struct ai_step_transition *tr)
{
	const struct ai_snapshot_task *before = tr->before, *after = tr->after;
	const struct ai_await_node *left = tr->left, *reached = tr->reached;
	const struct ai_snapshot *snapshot = tr->snapshot;
	bool completed = tr->completed;
	pid_t tid = tr->thread;
	if (o->json) {
		struct ai_json_writer w;
		ai_json_writer_init(&w, stdout, false);
		ai_json_begin_object(&w);
		ai_json_field_string(&w, "format", "async-inspect-step");
		ai_json_field_int(&w, "version", 1);
		ai_json_field_uint(&w, "step", n);
		if (before->has_id)
			ai_json_field_uint(&w, "task_id", before->id);
		ai_json_field_hex(&w, "task_address", before->address);
		ai_json_field_bool(&w, "completed", completed);
		if (tid)
			ai_json_field_int(&w, "thread", tid);
		write_place_json(&w, "left", left);
		write_place_json(&w, "reached", reached);
		ai_json_key(&w, "changed");
		ai_json_begin_array(&w);
		if (after)
			ai_step_for_each_change(tr, write_change_json, &w);
		ai_json_end_array(&w);
		ai_json_key(&w, "task");
		if (after)
			ai_write_task_json(&w, after);
		else
			ai_json_null(&w);
		ai_json_end_object(&w);
		ai_json_writer_finish(&w);
		putchar('\n');
	} else {
		printf("step %llu: task ", (unsigned long long)n);
		if (before->has_id)
			printf("%llu", (unsigned long long)before->id);
		else
			printf("0x%llx", (unsigned long long)before->address);
		printf(" %s%s", before->future ? before->future : "?", completed ? " completed" : "");
		if (tid)
			printf(", thread %d \"%s\"", (int)tid, thread_name(snapshot, tid));
		putchar('\n');
		print_place_text("left", left);
		if (after && !(completed && !reached))
			print_place_text("reached", reached);
		else
			printf("  %-8s (the task is gone)\n", "reached");
		if (after) {
			ai_step_for_each_change(tr, print_change_text, NULL);
			struct ai_text_options text = { .color = o->color, .locals = o->locals };
			ai_print_task_text(stdout, snapshot, after, &text);
		}
		putchar('\n');
	}
	fflush(stdout);
}

/* --- the loop ------------------------------------------------------------------------------ */

static void async_options(const struct ai_step_options *o, struct ai_async_options *async)
{
	ai_async_options_default(async);
	async->locals = o->locals;
	async->all_locals = o->all_locals;
}

static struct ai_error *dump(struct ai_capture *capture, const struct ai_step_options *o, struct ai_snapshot **ret)
{
	struct ai_async_options async;
	async_options(o, &async);
	return ai_capture_dump(capture, AI_CAPTURE_KEEP_STOPPED, &async, ret);
}

/* The ids of the snapshot's tasks, for an error that says which there are. */
static char *task_list(const struct ai_snapshot *s)
{
	char *text = NULL;
	size_t size = 0, n = 0;
	FILE *out = open_memstream(&text, &size);
	if (!out)
		return xstrdup("?");
	for (size_t i = 0; s && i < s->task_count; i++) {
		const struct ai_snapshot_task *t = &s->tasks[i];
		if (n == 20) {
			fputs(", ...", out);
			break;
		}
		if (t->has_id)
			fprintf(out, "%s%llu", n ? ", " : "", (unsigned long long)t->id);
		else
			fprintf(out, "%s0x%llx", n ? ", " : "", (unsigned long long)t->address);
		n++;
	}
	if (!n)
		fputs("none", out);
	fclose(out);
	return text;
}

/* The snapshot in which the task is found (target left stopped), or the error saying why not:
 * attached, it must be there now; launched, it is waited for until the program ends. */
static struct ai_error *find_first(struct ai_target *target, struct ai_capture *capture, const struct ai_step_options *o,
				   struct ai_break_result *result, struct ai_snapshot **ret)
{
	char *last_error = NULL;
	struct ai_snapshot *seen = NULL; /* the last snapshot taken, for the error */
	for (;;) {
		struct ai_snapshot *s = NULL;
		struct ai_error *err = dump(capture, o, &s);
		if (!err && ai_step_find_task(s, &o->task)) {
			ai_snapshot_destroy(seen);
			free(last_error);
			*ret = s;
			return NULL;
		}
		if (err && !o->wait) {
			free(last_error);
			ai_snapshot_destroy(seen);
			return err;
		}
		if (err) {
			free(last_error);
			last_error = xstrdup(err->message);
			ai_error_destroy(err);
		} else {
			ai_snapshot_destroy(seen);
			seen = s;
		}
		if (!o->wait)
			break;
		enum ai_run_event event;
		int status = 0;
		if (!(err = ai_target_run(target, WAIT_POLL_MS, &event, &status)) && event == AI_RUN_EXITED) {
			result->exited = true;
			result->status = status;
			break;
		}
		if (err) {
			free(last_error);
			ai_snapshot_destroy(seen);
			return err;
		}
	}
	char *tasks = task_list(seen);
	struct ai_error *err = ai_error_create(AI_ERROR_NOT_FOUND, "--step %s: %s in process %d%s (its tasks %s: %s)%s%s",
					       o->task_text, o->task.by_address ? "no task at that address" : "no task with that id",
					       (int)target->pid, result->exited ? ", which ran to its end without it" : "",
					       result->exited ? "last seen" : "now", tasks,
					       last_error ? "; the last snapshot failed: " : "", last_error ? last_error : "");
	free(tasks);
	free(last_error);
	ai_snapshot_destroy(seen);
	return err;
}

static struct ai_error *step_loop(struct ai_target *target, struct ai_capture *capture,
				  const struct ai_step_options *o, struct ai_break_result *result)
{
	struct ai_snapshot *first = NULL;
	struct ai_error *err = find_first(target, capture, o, result, &first);
	if (err)
		return err;
	struct ai_async_options async;
	async_options(o, &async);
	struct ai_stepper *stepper;
	if ((err = ai_stepper_create(target, capture, &async, &o->task, first, &stepper)))
		return ai_error_wrap(err, "--step %s", o->task_text);
	const char *fallback = ai_stepper_fallback(stepper);
	if (fallback)
		fprintf(stderr, "async-inspect: --step %s: stepping with breakpoints at the stores of the task's state, not a hardware watchpoint (%s)\n",
			o->task_text, fallback);
	while (result->hits < o->count) {
		enum ai_step_event event;
		struct ai_step_transition tr;
		int status = 0;
		if ((err = ai_stepper_run(stepper, -1, &event, &tr, &status)))
			break;
		if (event == AI_STEP_EXITED) {
			result->exited = true;
			result->status = status;
			fprintf(stderr, "async-inspect: --step %s: the program ended after %llu of %llu steps\n", o->task_text,
				(unsigned long long)result->hits, (unsigned long long)o->count);
			break;
		}
		if (event != AI_STEP_TRANSITION)
			continue;
		result->hits++;
		print_step(o, result->hits, &tr);
		if (tr.completed) {
			if (result->hits < o->count)
				fprintf(stderr, "async-inspect: --step %s: the task completed after %llu of %llu steps\n",
					o->task_text, (unsigned long long)result->hits, (unsigned long long)o->count);
			break;
		}
	}
	ai_stepper_destroy(stepper);
	return err;
}

struct ai_error *ai_step_run(struct ai_target *target, const struct ai_step_options *o, struct ai_break_result *result)
{
	memset(result, 0, sizeof(*result));
	struct ai_error *err = ai_target_stop(target);
	if (err)
		return err;
	struct ai_capture *capture = NULL;
	err = ai_capture_create(target, &capture);
	if (!err)
		err = step_loop(target, capture, o, result);
	/* Every path out, errors included, clears the watchpoint and detaches: the program runs on
	 * to its own end. */
	if (!result->exited)
		ai_target_detach(target);
	ai_capture_destroy(capture);
	return err;
}
