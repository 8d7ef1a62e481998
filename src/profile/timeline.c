/* `profile --format speedscope|perfetto`: the polls kept in the profile's poll list (profile.c),
 * on a time line per thread.
 *
 * speedscope (https://www.speedscope.app/file-format-schema.json): first a sampled profile of the
 * flame stacks (stacks.c: what `folded` says, by CPU samples or by busy time), then one
 * evented profile per thread that polled: each poll opens its task's frames (the task, then its
 * await chain root first) and closes them when it returns.
 *
 * perfetto: Chrome's trace-event JSON, which Perfetto and chrome://tracing read: a track (tid) per
 * thread, a complete event ("X") per poll named by its task, and a flow ("s" then "f") from each
 * task's first wake after a poll to the poll that followed. Times are microseconds from the
 * window's start, with nanosecond decimals.
 *
 * Several processes (measured over one window): speedscope's sampled profile has each stack under
 * its process's frame ("pid N name") and a thread's evented profile is named "pid N name: thread
 * T"; perfetto has a process track per pid (its name "exe (pid N)") with its threads under it. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/json_writer.h"
#include "ai/profile.h"
#include "ai/util.h"

static char *task_label(const struct ai_profile_task *t)
{
	if (t->has_id)
		return xasprintf("task %" PRIu64 "%s%s", t->id, t->name ? " " : "", t->name ? t->name : "");
	return xasprintf("task @0x%" PRIx64, t->address);
}

static uint64_t since_start(const struct ai_profile *p, uint64_t ns)
{
	return ns > p->start_ns ? ns - p->start_ns : 0;
}

static uint64_t poll_end(const struct ai_profile *p, const struct ai_profile_poll *poll)
{
	return poll->end_ns ? poll->end_ns : p->end_ns;
}

/* ---- speedscope's frame table: names deduplicated (open addressing, indexes + 1) ---- */

struct frames {
	char **names; /* owned */
	size_t count, capacity;
	size_t *slots;
	size_t slot_count;
	/* per task (of every process: process k's tasks from base[k]): its frames (the label, then the
	 * chain) in `flat` from `first[t]`, `depth[t]` of them */
	size_t *flat, *first, *depth, *base;
	size_t flat_count, flat_capacity;
};

static uint64_t hash(const char *s)
{
	uint64_t h = 1469598103934665603ull;
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static size_t frame_of(struct frames *f, const char *name)
{
	if ((f->count + 1) * 2 > f->slot_count) {
		free(f->slots);
		f->slot_count = f->slot_count ? f->slot_count * 2 : 256;
		f->slots = xcalloc(f->slot_count, sizeof(*f->slots));
		for (size_t i = 0; i < f->count; i++) {
			size_t s = (size_t)hash(f->names[i]) & (f->slot_count - 1);
			while (f->slots[s])
				s = (s + 1) & (f->slot_count - 1);
			f->slots[s] = i + 1;
		}
	}
	size_t s = (size_t)hash(name) & (f->slot_count - 1);
	for (; f->slots[s]; s = (s + 1) & (f->slot_count - 1))
		if (strcmp(f->names[f->slots[s] - 1], name) == 0)
			return f->slots[s] - 1;
	AI_GROW(f->names, f->capacity, f->count + 1);
	f->names[f->count] = xstrdup(name);
	f->slots[s] = ++f->count;
	return f->count - 1;
}

static void push_flat(struct frames *f, size_t frame)
{
	AI_GROW(f->flat, f->flat_capacity, f->flat_count + 1);
	f->flat[f->flat_count++] = frame;
}

/* Task t's frames: its label, then its await chain (or its future). */
static void task_frames(struct frames *f, const struct ai_profile_task *t, size_t index)
{
	f->first[index] = f->flat_count;
	char *label = task_label(t);
	push_flat(f, frame_of(f, label));
	free(label);
	if (t->chain_count)
		for (size_t c = 0; c < t->chain_count; c++)
			push_flat(f, frame_of(f, t->chain[c]));
	else
		push_flat(f, frame_of(f, t->future ? t->future : "<unknown future>"));
	f->depth[index] = f->flat_count - f->first[index];
}

static void frames_build(struct frames *f, const struct ai_profile *const *profiles, size_t count)
{
	*f = (struct frames){ 0 };
	f->base = xcalloc(count + 1, sizeof(*f->base));
	size_t total = 0;
	for (size_t k = 0; k < count; k++) {
		f->base[k] = total;
		total += profiles[k]->task_count;
	}
	f->first = xcalloc(total + 1, sizeof(*f->first));
	f->depth = xcalloc(total + 1, sizeof(*f->depth));
	for (size_t k = 0; k < count; k++)
		for (size_t i = 0; i < profiles[k]->task_count; i++)
			task_frames(f, &profiles[k]->tasks[i], f->base[k] + i);
}

static void frames_free(struct frames *f)
{
	for (size_t i = 0; i < f->count; i++)
		free(f->names[i]);
	free(f->names);
	free(f->slots);
	free(f->flat);
	free(f->first);
	free(f->depth);
	free(f->base);
}

static void event(struct ai_json_writer *w, const char *type, size_t frame, uint64_t at)
{
	ai_json_begin_object(w);
	ai_json_field_string(w, "type", type);
	ai_json_field_uint(w, "frame", frame);
	ai_json_field_uint(w, "at", at);
	ai_json_end_object(w);
}

static void close_poll(struct ai_json_writer *w, const struct frames *f, size_t task, uint64_t at)
{
	for (size_t d = f->depth[task]; d-- > 0;)
		event(w, "C", f->flat[f->first[task] + d], at);
}

/* One thread's polls as an evented profile. Polls on a thread nest (a poll inside a poll, as
 * block_in_place allows); one that a later poll of its task elsewhere ended early can outlast
 * the inner one only by that clock's skew: an inner poll is cut at its outer poll's end. */
static void thread_profile(struct ai_json_writer *w, const struct ai_profile *p, const struct frames *f,
			   size_t base, const struct ai_profile_thread *th, const char *process)
{
	struct {
		size_t task;
		uint64_t end;
	} stack[16];
	unsigned depth = 0;
	char *name = xasprintf("%s%sthread %u%s%s", process ? process : "", process ? ": " : "", th->tid,
			       th->name ? " " : "", th->name ? th->name : "");
	ai_json_begin_object(w);
	ai_json_field_string(w, "type", "evented");
	ai_json_field_string(w, "name", name);
	free(name);
	ai_json_field_string(w, "unit", "nanoseconds");
	ai_json_field_uint(w, "startValue", 0);
	ai_json_field_uint(w, "endValue", since_start(p, p->end_ns));
	ai_json_key(w, "events");
	ai_json_begin_array(w);
	for (size_t i = 0; i < p->poll_count; i++) {
		const struct ai_profile_poll *poll = &p->poll_list[i];
		if (poll->tid != th->tid)
			continue;
		uint64_t begin = since_start(p, poll->begin_ns), end = since_start(p, poll_end(p, poll));
		while (depth && stack[depth - 1].end <= begin) {
			depth--;
			close_poll(w, f, stack[depth].task, stack[depth].end);
		}
		if (depth == AI_ARRAY_SIZE(stack))
			continue; /* (deeper than any runtime nests polls) */
		if (depth && end > stack[depth - 1].end)
			end = stack[depth - 1].end;
		size_t task = base + poll->task;
		for (size_t d = 0; d < f->depth[task]; d++)
			event(w, "O", f->flat[f->first[task] + d], begin);
		stack[depth].task = task;
		stack[depth++].end = end;
	}
	while (depth) {
		depth--;
		close_poll(w, f, stack[depth].task, stack[depth].end);
	}
	ai_json_end_array(w);
	ai_json_end_object(w);
}

void ai_profile_write_speedscope(FILE *out, const struct ai_profile *const *profiles, size_t count)
{
	const struct ai_profile *p = profiles[0]; /* the rate is the same for all */
	struct frames f;
	frames_build(&f, profiles, count);
	/* The sampled profile's stacks, their frames in the same table (before it is written). */
	struct ai_flame_stack *stacks;
	size_t stack_count = ai_profile_flame_stacks_all(profiles, count, &stacks);
	size_t **stack_frames = xcalloc(stack_count + 1, sizeof(*stack_frames));
	for (size_t i = 0; i < stack_count; i++) {
		stack_frames[i] = xcalloc(stacks[i].count + 1, sizeof(**stack_frames));
		for (size_t d = 0; d < stacks[i].count; d++)
			stack_frames[i][d] = frame_of(&f, stacks[i].frames[d]);
	}
	struct ai_json_writer w;
	ai_json_writer_init(&w, out, false);
	ai_json_begin_object(&w);
	ai_json_field_string(&w, "$schema", "https://www.speedscope.app/file-format-schema.json");
	char *title;
	if (!ai_profile_labelled(profiles, count)) {
		title = xasprintf("async-inspect profile of process %d (%s)", (int)p->pid, p->exe ? p->exe : "?");
	} else {
		title = xstrdup("async-inspect profile of processes");
		for (size_t k = 0; k < count; k++) {
			char *frame = ai_profile_process_frame(profiles[k]), *longer;
			longer = xasprintf("%s%s %s", title, k ? "," : "", frame);
			free(frame);
			free(title);
			title = longer;
		}
	}
	ai_json_field_string(&w, "name", title);
	free(title);
	ai_json_field_string(&w, "exporter", "async-inspect");
	ai_json_field_uint(&w, "activeProfileIndex", 0);
	ai_json_key(&w, "shared");
	ai_json_begin_object(&w);
	ai_json_key(&w, "frames");
	ai_json_begin_array(&w);
	for (size_t i = 0; i < f.count; i++) {
		ai_json_begin_object(&w);
		ai_json_field_string(&w, "name", f.names[i]);
		ai_json_end_object(&w);
	}
	ai_json_end_array(&w);
	ai_json_end_object(&w);
	ai_json_key(&w, "profiles");
	ai_json_begin_array(&w);
	/* The flame stacks (stacks.c): by CPU samples, or the await chains by busy time. */
	bool samples = ai_profile_weighs_samples(p);
	uint64_t total = 0;
	for (size_t i = 0; i < stack_count; i++)
		total += stacks[i].weight;
	ai_json_begin_object(&w);
	ai_json_field_string(&w, "type", "sampled");
	ai_json_field_string(&w, "name", samples ? "CPU samples by task (await chains, then native frames)"
						 : "busy time by task (await chains)");
	ai_json_field_string(&w, "unit", samples ? "none" : "nanoseconds");
	ai_json_field_uint(&w, "startValue", 0);
	ai_json_field_uint(&w, "endValue", total);
	ai_json_key(&w, "samples");
	ai_json_begin_array(&w);
	for (size_t i = 0; i < stack_count; i++) {
		ai_json_begin_array(&w);
		for (size_t d = 0; d < stacks[i].count; d++)
			ai_json_uint(&w, stack_frames[i][d]);
		ai_json_end_array(&w);
	}
	ai_json_end_array(&w);
	ai_json_key(&w, "weights");
	ai_json_begin_array(&w);
	for (size_t i = 0; i < stack_count; i++)
		ai_json_uint(&w, stacks[i].weight);
	ai_json_end_array(&w);
	ai_json_end_object(&w);
	for (size_t i = 0; i < stack_count; i++)
		free(stack_frames[i]);
	free(stack_frames);
	ai_profile_flame_stacks_free(stacks, stack_count);
	for (size_t k = 0; k < count; k++) {
		char *process = ai_profile_labelled(profiles, count) ? ai_profile_process_frame(profiles[k]) : NULL;
		for (size_t i = 0; i < profiles[k]->thread_count; i++)
			if (profiles[k]->threads[i].polls)
				thread_profile(&w, profiles[k], &f, f.base[k], &profiles[k]->threads[i], process);
		free(process);
	}
	ai_json_end_array(&w);
	ai_json_end_object(&w);
	ai_json_writer_finish(&w);
	fputc('\n', out);
	frames_free(&f);
}

/* ---- perfetto ---- */

static void trace_common(struct ai_json_writer *w, const char *name, const char *ph, int pid, uint32_t tid)
{
	ai_json_field_string(w, "name", name);
	ai_json_field_string(w, "ph", ph);
	ai_json_field_int(w, "pid", pid);
	ai_json_field_uint(w, "tid", tid);
}

static void metadata(struct ai_json_writer *w, const char *what, int pid, uint32_t tid, const char *name)
{
	ai_json_begin_object(w);
	trace_common(w, what, "M", pid, tid);
	ai_json_key(w, "args");
	ai_json_begin_object(w);
	ai_json_field_string(w, "name", name);
	ai_json_end_object(w);
	ai_json_end_object(w);
}

static void flow(struct ai_json_writer *w, const char *ph, int pid, uint32_t tid, uint64_t ts_ns, size_t id)
{
	ai_json_begin_object(w);
	trace_common(w, "wake", ph, pid, tid);
	ai_json_field_string(w, "cat", "wake");
	ai_json_field_uint(w, "id", id);
	ai_json_key(w, "ts");
	ai_json_decimal(w, ts_ns, 3);
	if (strcmp(ph, "f") == 0)
		ai_json_field_string(w, "bp", "e"); /* bind to the poll that begins here */
	ai_json_end_object(w);
}

/* One process's track: its name, its threads', its polls and wake flows (ids from *flow_id on). */
static void process_events(struct ai_json_writer *w, const struct ai_profile *p, size_t *flow_id)
{
	int pid = (int)p->pid;
	/* An event's name: the task, and its root future when it has no name of its own. */
	char **labels = xcalloc(p->task_count + 1, sizeof(*labels));
	for (size_t i = 0; i < p->task_count; i++) {
		const struct ai_profile_task *t = &p->tasks[i];
		char *label = task_label(t);
		labels[i] = !t->name && t->future ? xasprintf("%s %s", label, t->future) : xstrdup(label);
		free(label);
	}
	char *process = xasprintf("%s (pid %d)", p->exe ? p->exe : "?", pid);
	metadata(w, "process_name", pid, (uint32_t)pid, process);
	free(process);
	for (size_t i = 0; i < p->thread_count; i++) {
		const struct ai_profile_thread *th = &p->threads[i];
		char *name = th->name ? xstrdup(th->name) : xasprintf("thread %u", th->tid);
		metadata(w, "thread_name", pid, th->tid, name);
		free(name);
	}
	for (size_t i = 0; i < p->poll_count; i++) {
		const struct ai_profile_poll *poll = &p->poll_list[i];
		const struct ai_profile_task *t = &p->tasks[poll->task];
		uint64_t begin = since_start(p, poll->begin_ns), end = since_start(p, poll_end(p, poll));
		size_t id = ++*flow_id;
		if (poll->wake_ns)
			flow(w, "s", pid, poll->wake_tid, since_start(p, poll->wake_ns), id);
		ai_json_begin_object(w);
		trace_common(w, labels[poll->task], "X", pid, poll->tid);
		ai_json_field_string(w, "cat", "poll");
		ai_json_key(w, "ts");
		ai_json_decimal(w, begin, 3);
		ai_json_key(w, "dur");
		ai_json_decimal(w, end > begin ? end - begin : 0, 3);
		ai_json_key(w, "args");
		ai_json_begin_object(w);
		ai_json_key(w, "task_id");
		if (t->has_id)
			ai_json_uint(w, t->id);
		else
			ai_json_null(w);
		ai_json_field_string(w, "name", t->name);
		ai_json_field_string(w, "future", t->future);
		ai_json_field_hex(w, "address", t->address);
		ai_json_end_object(w);
		ai_json_end_object(w);
		if (poll->wake_ns)
			flow(w, "f", pid, poll->tid, begin, id);
	}
	for (size_t i = 0; i < p->task_count; i++)
		free(labels[i]);
	free(labels);
}

void ai_profile_write_perfetto(FILE *out, const struct ai_profile *const *profiles, size_t count)
{
	uint64_t polls = 0, kept = 0, dropped = 0, lost = 0, window = 0;
	for (size_t k = 0; k < count; k++) {
		const struct ai_profile *p = profiles[k];
		polls += p->polls;
		kept += p->poll_count;
		dropped += p->polls_dropped;
		lost += p->lost;
		window = AI_MAX(window, since_start(p, p->end_ns));
	}
	struct ai_json_writer w;
	ai_json_writer_init(&w, out, false);
	ai_json_begin_object(&w);
	ai_json_field_string(&w, "displayTimeUnit", "ns");
	ai_json_key(&w, "otherData");
	ai_json_begin_object(&w);
	ai_json_field_string(&w, "exporter", "async-inspect");
	ai_json_field_string(&w, "runtimes", profiles[0]->runtimes);
	ai_json_field_uint(&w, "duration_ns", window);
	ai_json_field_uint(&w, "polls", polls);
	ai_json_field_uint(&w, "polls_kept", kept);
	ai_json_field_uint(&w, "polls_dropped", dropped);
	ai_json_field_uint(&w, "events_lost", lost);
	ai_json_end_object(&w);
	ai_json_key(&w, "traceEvents");
	ai_json_begin_array(&w);
	size_t flow_id = 0;
	for (size_t k = 0; k < count; k++)
		process_events(&w, profiles[k], &flow_id);
	ai_json_end_array(&w);
	ai_json_end_object(&w);
	ai_json_writer_finish(&w);
	fputc('\n', out);
}
