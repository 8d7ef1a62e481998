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

/* Task i's state: its live model's (which knows the cycles across processes) when it has it. */
static const char *task_state(const struct ai_live *live, const struct ai_snapshot *s, size_t i)
{
	return live && s == ai_live_snapshot(live, 0) && i < live->task_count ? live->tasks[i].status
									      : ai_live_task_state(s, i);
}

/* The sample's own now in the target's CLOCK_MONOTONIC, the clock of tasks[].wait_deadline_ms. */
static void write_monotonic(struct ai_json_writer *w, const struct ai_snapshot *s)
{
	ai_json_key(w, "monotonic_ms");
	if (s && s->has_monotonic)
		ai_json_int(w, s->monotonic_ns / 1000000);
	else
		ai_json_null(w);
}

static void write_header(struct ai_json_writer *w, const struct ai_live *live, const struct ai_snapshot *s,
			 const struct ai_serve_status *status)
{
	ai_json_field_string(w, "source", status->source);
	ai_json_field_string(w, "state", status->state);
	ai_json_field_string(w, "message", status->message);
	ai_json_field_uint(w, "interval_ms", status->interval_ms);
	ai_json_field_uint(w, "samples", live->sample_count);
	ai_json_field_bool(w, "profiled", live->profiled);
	if (!s) {
		ai_json_field_null(w, "pid");
		return;
	}
	ai_json_field_int(w, "pid", s->pid);
	ai_json_field_string(w, "exe", s->exe);
	ai_json_field_int(w, "captured_at", s->captured_at_ms);
	write_monotonic(w, s);
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

/* The row of task i: first the fields that say what the task is doing, then those that move at
 * every sample even when it does nothing (its position, blocked-for, state history). Returns the
 * bytes of the first part in *stable_len: what tells a changed row from one that only aged. */
static void write_task(FILE *f, const struct ai_live *live, const struct ai_snapshot *s, size_t i,
		       const struct ai_live_member *member, const char *cwd, size_t *stable_len)
{
	const struct ai_snapshot_task *task = &s->tasks[i];
	struct ai_json_writer w;
	ai_json_writer_init(&w, f, false);
	ai_json_begin_object(&w);
	ai_json_key(&w, "id");
	if (task->has_id)
		ai_json_uint(&w, task->id);
	else
		ai_json_null(&w);
	char label[32];
	task_label(task, label, sizeof(label));
	ai_json_field_string(&w, "label", label);
	if (member) { /* several processes: whose task it is */
		ai_json_field_int(&w, "pid", member->pid);
		char *process = xasprintf("%d %s", (int)member->pid, member->command);
		ai_json_field_string(&w, "process", process);
		free(process);
	}
	ai_json_field_string(&w, "runtime", task->runtime);
	ai_json_field_string(&w, "kind", task->kind);
	ai_json_field_hex(&w, "address", task->address);
	ai_json_field_string(&w, "name", task->name);
	ai_json_field_string(&w, "state", task_state(live, s, i));
	ai_json_key(&w, "thread");
	if (task->thread)
		ai_json_int(&w, task->thread);
	else
		ai_json_null(&w);
	const struct ai_await_node *at = ai_live_await_point(task);
	ai_json_key(&w, "await_point");
	if (at && at->file) {
		char *point = xasprintf("%s:%d", display_path(at->file, cwd), at->line);
		ai_json_string(&w, point);
		free(point);
	} else {
		ai_json_null(&w);
	}
	const struct ai_wait *wait = task->wait;
	if (wait && wait->has_deadline && wait->has_remaining && s->has_monotonic) {
		/* A timer: its deadline in the target's CLOCK_MONOTONIC (as the header's monotonic_ms),
		 * not the countdown, which changes at every sample: the page counts down. */
		ai_json_field_string(&w, "wait", strcmp(wait->kind, "interval") == 0 ? "interval tick" : wait->kind);
		ai_json_field_int(&w, "wait_deadline_ms", wait->deadline_ns / 1000000);
	} else {
		ai_json_field_string(&w, "wait", wait ? (wait->description ? wait->description : wait->kind) : NULL);
	}
	if (wait && wait->peer && wait->peer->summary) /* several processes: the socket's other end */
		ai_json_field_string(&w, "peer", wait->peer->summary);
	ai_json_field_string(&w, "future", task->future ? task->future : task->tree.function);
	if (live->profiled && i < live->task_count) {
		/* --profile: rounded, so that a task that does nothing keeps its row unchanged */
		const struct ai_live_task *lt = &live->tasks[i];
		if (lt->has_profile) {
			ai_json_field_uint(&w, "polls_per_s", (uint64_t)(lt->polls_per_s + 0.5));
			ai_json_key(&w, "busy_percent");
			ai_json_decimal(&w, (uint64_t)(lt->busy_percent * 10 + 0.5), 1);
			ai_json_key(&w, "scheduled_mean_us");
			if (lt->scheduled_mean_ns)
				ai_json_uint(&w, (lt->scheduled_mean_ns + 500) / 1000);
			else
				ai_json_null(&w);
		} else {
			ai_json_field_null(&w, "polls_per_s");
			ai_json_field_null(&w, "busy_percent");
			ai_json_field_null(&w, "scheduled_mean_us");
		}
	}
	ai_json_writer_flush(&w);
	fflush(f);
	*stable_len = (size_t)ftello(f);
	ai_json_field_uint(&w, "index", i);
	ai_json_key(&w, "unchanged_ms");
	if (i < live->task_count)
		ai_json_int(&w, ai_live_unchanged_ms(live, i));
	else
		ai_json_null(&w);
	ai_json_key(&w, "history");
	if (i < live->task_count)
		ai_json_string_len(&w, live->tasks[i].history, AI_LIVE_STATE_HISTORY);
	else
		ai_json_null(&w);
	ai_json_end_object(&w);
	ai_json_writer_finish(&w);
	fflush(f);
}

/* Several processes: the facts of the whole (the first process's pid, runtimes and warnings
 * stand for the page's single-process fields), then `processes`, each with its counts. */
static void write_set_header(struct ai_json_writer *w, const struct ai_live_set *set,
			     const struct ai_serve_status *status)
{
	const struct ai_live_member *first = NULL;
	for (size_t p = 0; p < set->count && !first; p++)
		if (ai_live_snapshot(set->members[p].live, 0))
			first = &set->members[p];
	ai_json_field_string(w, "source", status->source);
	ai_json_field_string(w, "state", status->state);
	ai_json_field_string(w, "message", status->message);
	ai_json_field_uint(w, "interval_ms", status->interval_ms);
	ai_json_field_uint(w, "samples", set->sample_count);
	bool profiled = false; /* some process has the profile columns */
	for (size_t p = 0; p < set->count; p++)
		profiled |= set->members[p].live->profiled;
	ai_json_field_bool(w, "profiled", profiled);
	if (!first) {
		ai_json_field_null(w, "pid");
		return;
	}
	const struct ai_snapshot *fs = ai_live_snapshot(first->live, 0);
	ai_json_field_int(w, "pid", first->pid);
	ai_json_field_null(w, "exe");
	int64_t captured_at = 0;
	uint64_t pause_us = 0;
	size_t totals[AI_ARRAY_SIZE(states) + 1] = { 0 };
	ai_json_key(w, "processes");
	ai_json_begin_array(w);
	for (size_t p = 0; p < set->count; p++) {
		const struct ai_live_member *m = &set->members[p];
		const struct ai_snapshot *s = ai_live_snapshot(m->live, 0);
		ai_json_begin_object(w);
		ai_json_field_int(w, "pid", m->pid);
		ai_json_field_string(w, "command", m->command);
		ai_json_field_bool(w, "ended", m->ended);
		ai_json_field_string(w, "end_reason", m->ended ? m->end_reason : NULL);
		if (status->profiles) { /* --profile: whether its rows have the columns, else why not */
			ai_json_field_bool(w, "profiled", m->live->profiled);
			ai_json_field_string(w, "no_profile", status->no_profiles[p]);
		}
		ai_json_field_uint(w, "tasks", s ? s->task_count : 0);
		ai_json_key(w, "counts");
		ai_json_begin_object(w);
		size_t counts[AI_ARRAY_SIZE(states) + 1] = { 0 };
		for (size_t i = 0; s && i < s->task_count; i++) {
			const char *state = task_state(m->live, s, i);
			size_t k = 0;
			while (k < AI_ARRAY_SIZE(states) && strcmp(states[k], state) != 0)
				k++;
			counts[k]++;
			totals[k]++;
		}
		for (size_t k = 0; k < AI_ARRAY_SIZE(states); k++)
			ai_json_field_uint(w, states[k], counts[k]);
		ai_json_end_object(w);
		ai_json_end_object(w);
		if (s && s->captured_at_ms > captured_at)
			captured_at = s->captured_at_ms;
		if (s && m->sampled)
			pause_us = AI_MAX(pause_us, s->pause_us);
	}
	ai_json_end_array(w);
	ai_json_field_int(w, "captured_at", captured_at);
	write_monotonic(w, fs); /* one clock for the whole machine: the first process's sample */
	ai_json_field_uint(w, "pause_us", pause_us);
	ai_json_field_null(w, "cpu_percent");
	ai_json_field_null(w, "rss_bytes");
	ai_write_runtimes_json(w, fs);
	ai_json_key(w, "counts");
	ai_json_begin_object(w);
	for (size_t k = 0; k < AI_ARRAY_SIZE(states); k++)
		ai_json_field_uint(w, states[k], totals[k]);
	ai_json_end_object(w);
	/* Every process's own cycles, then those across processes (and through sockets), each task
	 * labelled with its process: "3 in pid 812 server". */
	size_t deadlocks = set->latest.deadlock_count;
	for (size_t k = 0; k < set->latest.count; k++)
		deadlocks += set->latest.snapshots[k]->deadlock_count;
	ai_json_field_uint(w, "deadlocks", deadlocks);
	ai_json_key(w, "cycles");
	ai_json_begin_array(w);
	char label[32], ref[128];
	for (size_t k = 0; k < set->latest.count; k++) {
		const struct ai_snapshot *s = set->latest.snapshots[k];
		const struct ai_live_member *m = &set->members[ai_live_set_member_of(set, k)];
		for (size_t d = 0; d < s->deadlock_count; d++) {
			const struct ai_deadlock *dl = &s->deadlocks[d];
			ai_json_begin_object(w);
			ai_json_field_string(w, "kind", dl->futurelock ? "futurelock" : "deadlock");
			ai_json_key(w, "tasks");
			ai_json_begin_array(w);
			for (size_t j = 0; j < dl->count; j++) {
				task_label(&s->tasks[dl->tasks[j]], label, sizeof(label));
				snprintf(ref, sizeof(ref), "%s in pid %d %s", label, (int)m->pid, m->command);
				ai_json_string(w, ref);
			}
			ai_json_end_array(w);
			ai_json_end_object(w);
		}
	}
	for (size_t d = 0; d < set->latest.deadlock_count; d++) {
		const struct ai_cross_deadlock *dl = &set->latest.deadlocks[d];
		bool across = false;
		for (size_t j = 0; j < dl->count; j++)
			across |= dl->steps[j].process != dl->steps[0].process;
		ai_json_begin_object(w);
		ai_json_field_string(w, "kind", across ? "deadlock across processes" : "deadlock through a socket");
		ai_json_key(w, "tasks");
		ai_json_begin_array(w);
		for (size_t j = 0; j < dl->count; j++) {
			const struct ai_cross_step *st = &dl->steps[j];
			const struct ai_live_member *m = &set->members[ai_live_set_member_of(set, st->process)];
			task_label(&set->latest.snapshots[st->process]->tasks[st->task], label, sizeof(label));
			snprintf(ref, sizeof(ref), "%s in pid %d %s", label, (int)m->pid, m->command);
			ai_json_string(w, ref);
		}
		ai_json_end_array(w);
		ai_json_end_object(w);
	}
	ai_json_end_array(w);
}

/* The header's members, as `"source":...,"state":...` without the braces: one process's
 * (live), or several (set). */
static char *header_members(const struct ai_live *live, const struct ai_live_set *set,
			    const struct ai_snapshot *s, const struct ai_serve_status *status)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	if (!f)
		abort(); /* out of memory, as xmalloc */
	struct ai_json_writer w;
	ai_json_writer_init(&w, f, false);
	ai_json_begin_object(&w);
	if (set)
		write_set_header(&w, set, status);
	else
		write_header(&w, live, s, status);
	ai_json_end_object(&w);
	ai_json_writer_finish(&w);
	fclose(f);
	/* "{...}" -> "..." */
	memmove(buf, buf + 1, len - 2);
	buf[len - 2] = '\0';
	return buf;
}

static uint64_t fnv1a(const char *data, size_t len, uint64_t hash)
{
	for (size_t i = 0; i < len; i++)
		hash = (hash ^ (unsigned char)data[i]) * 0x100000001b3ULL;
	return hash;
}

static int compare_rows(const void *a, const void *b)
{
	const struct ai_serve_row *x = a, *y = b;
	return x->address < y->address ? -1 : x->address > y->address;
}

static const struct ai_serve_row *find_row(const struct ai_serve_row *sorted, size_t count, uint64_t address)
{
	struct ai_serve_row key = { .address = address };
	return count ? bsearch(&key, sorted, count, sizeof(*sorted), compare_rows) : NULL;
}

/* Whether a `changes` document from `previous` to this sample can be built: both have a
 * snapshot, this one is the next sample (or the same one again), and no two tasks share an
 * address, the key the page matches rows by. */
static bool changes_possible(const struct ai_serve_tasks *previous, const struct ai_serve_tasks *t)
{
	if (!previous || !previous->has_snapshot || !t->has_snapshot || !previous->unique || !t->unique)
		return false;
	return t->samples == previous->samples || t->samples == previous->samples + 1;
}

/* The table of one process (set NULL: lives[0]) or of every member of set. */
static void build(struct ai_live *const *lives, const struct ai_live_set *set, const struct ai_serve_status *status,
		  const struct ai_serve_tasks *previous, struct ai_serve_tasks *t)
{
	memset(t, 0, sizeof(*t));
	char cwd[4096];
	if (!getcwd(cwd, sizeof(cwd)))
		strcpy(cwd, "/");
	size_t parts = set ? set->count : 1;
	const struct ai_snapshot *s0 = ai_live_snapshot(lives[0], 0);
	t->samples = set ? set->sample_count : lives[0]->sample_count;
	for (size_t p = 0; p < parts; p++) {
		const struct ai_snapshot *s = ai_live_snapshot(lives[p], 0);
		t->has_snapshot |= s != NULL;
		t->captured_at = s && s->captured_at_ms > t->captured_at ? s->captured_at_ms : t->captured_at;
		t->count += s ? s->task_count : 0;
	}
	t->rows = xcalloc(t->count ? t->count : 1, sizeof(*t->rows));
	t->sorted = xcalloc(t->count ? t->count : 1, sizeof(*t->sorted));

	char *header = header_members(lives[0], set, s0, status);
	char *row = NULL, *doc = NULL;
	size_t row_size = 0, doc_len = 0;
	FILE *row_file = open_memstream(&row, &row_size);
	FILE *f = open_memstream(&doc, &doc_len);
	if (!row_file || !f)
		abort();
	fprintf(f, "{\"format\":\"async-inspect-serve-tasks\",\"version\":2,%s,\"tasks\":[", header);
	/* The rows that changed, for the `changes` document. */
	char *changed = NULL;
	size_t changed_len = 0;
	FILE *changed_file = open_memstream(&changed, &changed_len);
	if (!changed_file)
		abort();
	size_t changed_count = 0;
	for (size_t p = 0, n = 0; p < parts; p++) {
	const struct ai_live *live = lives[p];
	const struct ai_snapshot *s = ai_live_snapshot(live, 0);
	for (size_t i = 0; s && i < s->task_count; i++, n++) {
		fseeko(row_file, 0, SEEK_SET);
		size_t stable_len;
		write_task(row_file, live, s, i, set ? &set->members[p] : NULL, cwd, &stable_len);
		size_t row_len = (size_t)ftello(row_file);
		if (n)
			fputc(',', f);
		fwrite(row, 1, row_len, f);
		struct ai_serve_row *r = &t->rows[n];
		r->address = s->tasks[i].address;
		/* a task whose tree changed (blocked-for starts again) changed even if its line did not */
		uint64_t changed_ms = i < live->task_count ? (uint64_t)live->tasks[i].changed_ms : 0;
		r->signature = fnv1a((const char *)&changed_ms, sizeof(changed_ms),
				     fnv1a(row, stable_len, 0xcbf29ce484222325ULL));
		const struct ai_serve_row *before = previous ? find_row(previous->sorted, previous->count, r->address) : NULL;
		if (!before || before->signature != r->signature) {
			if (changed_count++)
				fputc(',', changed_file);
			fwrite(row, 1, row_len, changed_file);
		}
	}
	}
	fputs("]}\n", f);
	fclose(f);
	fclose(row_file);
	fclose(changed_file);
	free(row);
	t->json = doc;
	t->len = doc_len;

	memcpy(t->sorted, t->rows, t->count * sizeof(*t->rows));
	qsort(t->sorted, t->count, sizeof(*t->sorted), compare_rows);
	t->unique = true;
	for (size_t i = 1; i < t->count; i++)
		if (t->sorted[i].address == t->sorted[i - 1].address)
			t->unique = false;

	if (changes_possible(previous, t)) {
		char *buf = NULL;
		size_t len = 0;
		f = open_memstream(&buf, &len);
		if (!f)
			abort();
		fprintf(f, "{\"format\":\"async-inspect-serve-changes\",\"version\":2,%s,"
			   "\"previous_captured_at\":%lld,\"previous_samples\":%zu,\"changed\":[",
			header, (long long)previous->captured_at, previous->samples);
		fwrite(changed, 1, changed_len, f);
		fputs("],\"removed\":[", f);
		size_t removed = 0;
		for (size_t i = 0; i < previous->count; i++)
			if (!find_row(t->sorted, t->count, previous->rows[i].address))
				fprintf(f, "%s\"0x%llx\"", removed++ ? "," : "", (unsigned long long)previous->rows[i].address);
		fputc(']', f);
		/* The order only when it is not the previous one. */
		bool same_order = t->count == previous->count;
		for (size_t i = 0; same_order && i < t->count; i++)
			same_order = t->rows[i].address == previous->rows[i].address;
		if (!same_order) {
			fputs(",\"order\":[", f);
			for (size_t i = 0; i < t->count; i++)
				fprintf(f, "%s\"0x%llx\"", i ? "," : "", (unsigned long long)t->rows[i].address);
			fputc(']', f);
		}
		fputs("}\n", f);
		fclose(f);
		t->changes = buf;
		t->changes_len = len;
	}
	free(changed);
	free(header);
}

void ai_serve_tasks_build(const struct ai_live *live, const struct ai_serve_status *status,
			  const struct ai_serve_tasks *previous, struct ai_serve_tasks *t)
{
	struct ai_live *lives[] = { (struct ai_live *)live };
	build(lives, NULL, status, previous, t);
}

void ai_serve_tasks_build_set(const struct ai_live_set *set, const struct ai_serve_status *status,
			      const struct ai_serve_tasks *previous, struct ai_serve_tasks *t)
{
	struct ai_live **lives = xcalloc(set->count ? set->count : 1, sizeof(*lives));
	for (size_t p = 0; p < set->count; p++)
		lives[p] = set->members[p].live;
	build(lives, set, status, previous, t);
	free(lives);
}

void ai_serve_tasks_release(struct ai_serve_tasks *t)
{
	free(t->json);
	free(t->changes);
	free(t->rows);
	free(t->sorted);
	memset(t, 0, sizeof(*t));
}
