/* `/api/tasks`: the task table and the header of the page, from the live model, so that the page
 * shows the same state, await point and blocked-for as the TUI (src/live decides them). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/frontend.h"
#include "ai/json_writer.h"
#include "ai/serve.h"
#include "ai/util.h"

/* The states ai_live_task_state() gives, in the order the header counts them. */
static const char *const states[] = { "deadlocked", "running", "scheduled", "blocked", "idle", "block_on", "done" };

/* A source path relative to our working directory when under it, a dependency's from its crate
 * (as the TUI shows it). */
static const char *display_path(const char *path, const char *cwd)
{
	size_t n = strlen(cwd);
	if (n > 1 && strncmp(path, cwd, n) == 0 && path[n] == '/')
		return path + n + 1;
	return ai_short_path(path);
}

/* The id, t<tid> for a block_on future, "-" when neither (as the TUI names tasks). */
static void task_label(const struct ai_snapshot_task *task, char *buf, size_t size)
{
	if (task->has_id)
		snprintf(buf, size, "%llu", (unsigned long long)task->id);
	else if (task->thread)
		snprintf(buf, size, "t%d", (int)task->thread);
	else
		snprintf(buf, size, "-");
}

static void write_header(struct ai_json_writer *w, const struct ai_live *live, const struct ai_snapshot *s,
			 const struct ai_serve_status *status)
{
	ai_json_field_string(w, "source", status->source);
	ai_json_field_string(w, "state", status->state);
	ai_json_field_string(w, "message", status->message);
	ai_json_field_uint(w, "interval_ms", status->interval_ms);
	ai_json_field_uint(w, "samples", live->sample_count);
	if (!s) {
		ai_json_field_null(w, "pid");
		return;
	}
	ai_json_field_int(w, "pid", s->pid);
	ai_json_field_string(w, "exe", s->exe);
	ai_json_field_int(w, "captured_at", s->captured_at_ms);
	ai_json_field_uint(w, "pause_us", s->pause_us);
	ai_json_key(w, "cpu_percent");
	if (status->has_process && live->process.has_cpu)
		ai_json_int(w, (int64_t)(live->process.cpu_percent + 0.5));
	else
		ai_json_null(w);
	ai_json_key(w, "rss_bytes");
	if (status->has_process && live->process.has_rss)
		ai_json_uint(w, live->process.rss_bytes);
	else
		ai_json_null(w);
	ai_write_runtimes_json(w, s);
	ai_json_key(w, "counts");
	ai_json_begin_object(w);
	size_t counts[AI_ARRAY_SIZE(states) + 1] = { 0 };
	for (size_t i = 0; i < s->task_count; i++) {
		const char *state = ai_live_task_state(s, i);
		size_t k = 0;
		while (k < AI_ARRAY_SIZE(states) && strcmp(states[k], state) != 0)
			k++;
		counts[k]++;
	}
	for (size_t k = 0; k < AI_ARRAY_SIZE(states); k++)
		ai_json_field_uint(w, states[k], counts[k]);
	if (counts[AI_ARRAY_SIZE(states)])
		ai_json_field_uint(w, "other", counts[AI_ARRAY_SIZE(states)]);
	ai_json_end_object(w);
	ai_json_field_uint(w, "deadlocks", s->deadlock_count);
	/* The cycles by task label, for the page's banner without the whole snapshot. */
	ai_json_key(w, "cycles");
	ai_json_begin_array(w);
	for (size_t d = 0; d < s->deadlock_count; d++) {
		const struct ai_deadlock *dl = &s->deadlocks[d];
		ai_json_begin_object(w);
		ai_json_field_string(w, "kind", dl->futurelock ? "futurelock" : "deadlock");
		ai_json_key(w, "tasks");
		ai_json_begin_array(w);
		for (size_t k = 0; k < dl->count; k++) {
			char label[32];
			task_label(&s->tasks[dl->tasks[k]], label, sizeof(label));
			ai_json_string(w, label);
		}
		ai_json_end_array(w);
		ai_json_end_object(w);
	}
	ai_json_end_array(w);
	ai_write_warnings_json(w, s);
}

static void write_task(struct ai_json_writer *w, const struct ai_live *live, const struct ai_snapshot *s, size_t i,
		       const char *cwd)
{
	const struct ai_snapshot_task *task = &s->tasks[i];
	ai_json_begin_object(w);
	ai_json_field_uint(w, "index", i);
	ai_json_key(w, "id");
	if (task->has_id)
		ai_json_uint(w, task->id);
	else
		ai_json_null(w);
	char label[32];
	task_label(task, label, sizeof(label));
	ai_json_field_string(w, "label", label);
	ai_json_field_string(w, "runtime", task->runtime);
	ai_json_field_string(w, "kind", task->kind);
	ai_json_field_hex(w, "address", task->address);
	ai_json_field_string(w, "name", task->name);
	ai_json_field_string(w, "state", ai_live_task_state(s, i));
	ai_json_key(w, "thread");
	if (task->thread)
		ai_json_int(w, task->thread);
	else
		ai_json_null(w);
	ai_json_key(w, "unchanged_ms");
	if (i < live->task_count)
		ai_json_int(w, ai_live_unchanged_ms(live, i));
	else
		ai_json_null(w);
	const struct ai_await_node *at = ai_live_await_point(task);
	ai_json_key(w, "await_point");
	if (at && at->file) {
		char *point = xasprintf("%s:%d", display_path(at->file, cwd), at->line);
		ai_json_string(w, point);
		free(point);
	} else {
		ai_json_null(w);
	}
	const struct ai_wait *wait = task->wait;
	ai_json_field_string(w, "wait", wait ? (wait->description ? wait->description : wait->kind) : NULL);
	ai_json_field_string(w, "future", task->future ? task->future : task->tree.function);
	ai_json_key(w, "history");
	if (i < live->task_count)
		ai_json_string_len(w, live->tasks[i].history, AI_LIVE_STATE_HISTORY);
	else
		ai_json_null(w);
	ai_json_end_object(w);
}

char *ai_serve_tasks_json(const struct ai_live *live, const struct ai_serve_status *status, size_t *len_ret)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		abort(); /* out of memory, as xmalloc */
	char cwd[4096];
	if (!getcwd(cwd, sizeof(cwd)))
		strcpy(cwd, "/");
	const struct ai_snapshot *s = ai_live_snapshot(live, 0);
	struct ai_json_writer w;
	ai_json_writer_init(&w, f, false);
	ai_json_begin_object(&w);
	ai_json_field_string(&w, "format", "async-inspect-serve-tasks");
	ai_json_field_int(&w, "version", 1);
	write_header(&w, live, s, status);
	ai_json_key(&w, "tasks");
	ai_json_begin_array(&w);
	for (size_t i = 0; s && i < s->task_count; i++)
		write_task(&w, live, s, i, cwd);
	ai_json_end_array(&w);
	ai_json_end_object(&w);
	ai_json_writer_finish(&w);
	fputc('\n', f);
	fclose(f);
	*len_ret = len;
	return buf;
}
