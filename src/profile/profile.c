/* The profile model: what the poll, wake and release events of a window say of each task and
 * thread. A task is known by its header's address; a release ends that task, and the next one at
 * the address is a new row. Snapshots at the start and the end give tasks their ids, names and
 * await chains (never a guess: a task seen by neither keeps its poll function's future type).
 *
 * Definitions (docs/json-format.md repeats them):
 * - busy: the time between a poll's entry and its return (wall time on the thread);
 * - scheduled: from the first wake after a poll (or, for a wake during the poll, from the poll's
 *   end) to the next poll's entry;
 * - idle: the rest of the task's part of the window (the window itself for a task of the start
 *   snapshot, else from its first event; up to its release or the window's end). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/profile.h"
#include "ai/util.h"

struct ai_profile *ai_profile_create(pid_t pid, const char *exe, const char *runtimes,
				     size_t probe_count, uint64_t start_ns)
{
	struct ai_profile *p = xcalloc(1, sizeof(*p));
	p->pid = pid;
	p->exe = exe ? xstrdup(exe) : NULL;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	p->command = ai_read_small_file(path, NULL);
	if (p->command) {
		p->command[strcspn(p->command, "\n")] = '\0';
	} else {
		const char *base = exe ? strrchr(exe, '/') : NULL;
		p->command = xstrdup(base ? base + 1 : exe ? exe : "?");
	}
	p->runtimes = xstrdup(runtimes ? runtimes : "");
	p->probe_count = probe_count;
	p->start_ns = p->end_ns = start_ns;
	return p;
}

static void stacks_free(struct ai_profile_stack *stacks, size_t count)
{
	for (size_t i = 0; i < count; i++)
		free(stacks[i].frames);
	free(stacks);
}

static void task_deinit(struct ai_profile_task *t)
{
	stacks_free(t->stacks, t->stack_count);
	free(t->name);
	free(t->future);
	free(t->location);
	for (size_t i = 0; i < t->chain_count; i++)
		free(t->chain[i]);
	free(t->chain);
	free(t->scheduled_hist);
}

void ai_profile_destroy(struct ai_profile *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->task_count; i++)
		task_deinit(&p->tasks[i]);
	free(p->tasks);
	free(p->command);
	for (size_t i = 0; i < p->thread_count; i++) {
		free(p->threads[i].name);
		stacks_free(p->threads[i].stacks, p->threads[i].stack_count);
	}
	free(p->threads);
	for (size_t i = 0; i < p->warning_count; i++)
		free(p->warnings[i]);
	free(p->warnings);
	free(p->poll_list);
	free(p->map_keys);
	free(p->map_values);
	free(p->exe);
	free(p->runtimes);
	free(p);
}

static void add_warning(struct ai_profile *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void add_warning(struct ai_profile *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *text = NULL;
	if (vasprintf(&text, fmt, ap) < 0)
		abort();
	va_end(ap);
	AI_GROW(p->warnings, p->warning_capacity, p->warning_count + 1);
	p->warnings[p->warning_count++] = text;
}

/* ---- The live task at each address: open addressing, values are indexes + 1 (0: empty) ---- */

static size_t slot_of(const struct ai_profile *p, uint64_t key)
{
	uint64_t h = key * 0x9e3779b97f4a7c15ull;
	size_t i = (size_t)(h >> 20) & (p->map_capacity - 1);
	while (p->map_values[i] && p->map_keys[i] != key)
		i = (i + 1) & (p->map_capacity - 1);
	return i;
}

static void map_put(struct ai_profile *p, uint64_t key, size_t value)
{
	if ((p->map_used + 1) * 2 > p->map_capacity) {
		uint64_t *keys = p->map_keys;
		size_t *values = p->map_values, old = p->map_capacity;
		p->map_capacity = old ? old * 2 : 1024;
		p->map_keys = xcalloc(p->map_capacity, sizeof(*p->map_keys));
		p->map_values = xcalloc(p->map_capacity, sizeof(*p->map_values));
		for (size_t i = 0; i < old; i++) {
			if (!values[i] || values[i] == SIZE_MAX)
				continue;
			size_t s = slot_of(p, keys[i]);
			p->map_keys[s] = keys[i];
			p->map_values[s] = values[i];
		}
		free(keys);
		free(values);
	}
	size_t s = slot_of(p, key);
	if (!p->map_values[s])
		p->map_used++;
	p->map_keys[s] = key;
	p->map_values[s] = value + 1;
}

/* The index of the live task at key, or SIZE_MAX. A released task's slot keeps its key with
 * value SIZE_MAX (a tombstone), so probing goes past it. */
static size_t map_get(const struct ai_profile *p, uint64_t key)
{
	if (!p->map_capacity)
		return SIZE_MAX;
	size_t s = slot_of(p, key);
	size_t v = p->map_values[s];
	return v && v != SIZE_MAX ? v - 1 : SIZE_MAX;
}

static void map_remove(struct ai_profile *p, uint64_t key)
{
	if (!p->map_capacity)
		return;
	size_t s = slot_of(p, key);
	if (p->map_values[s])
		p->map_values[s] = SIZE_MAX;
}

static unsigned generation_at(const struct ai_profile *p, uint64_t address)
{
	unsigned n = 0;
	for (size_t i = 0; i < p->task_count; i++)
		n += p->tasks[i].address == address;
	return n;
}

static size_t new_task(struct ai_profile *p, uint64_t address, uint64_t first_ns, bool counted_before)
{
	/* (a released address is rare: counting its earlier tasks linearly is cheap enough) */
	unsigned generation = counted_before ? generation_at(p, address) : 0;
	AI_GROW(p->tasks, p->task_capacity, p->task_count + 1);
	size_t index = p->task_count++;
	p->tasks[index] = (struct ai_profile_task){
		.address = address, .generation = generation, .first_ns = first_ns, .created = index,
	};
	map_put(p, address, index);
	return index;
}

/* The task now at address, made on its first event. */
static size_t task_at(struct ai_profile *p, uint64_t address, uint64_t time_ns)
{
	size_t i = map_get(p, address);
	if (i != SIZE_MAX)
		return i;
	bool seen = p->map_capacity && p->map_values[slot_of(p, address)] == SIZE_MAX;
	return new_task(p, address, time_ns, seen);
}

static struct ai_profile_thread *thread_of(struct ai_profile *p, uint32_t tid)
{
	/* Few threads: the last one used first, then a linear search. */
	size_t last = p->last_thread;
	if (last < p->thread_count && p->threads[last].tid == tid)
		return &p->threads[last];
	for (size_t i = 0; i < p->thread_count; i++)
		if (p->threads[i].tid == tid)
			return &p->threads[p->last_thread = i];
	AI_GROW(p->threads, p->thread_capacity, p->thread_count + 1);
	p->last_thread = p->thread_count++;
	p->threads[p->last_thread] = (struct ai_profile_thread){ .tid = tid };
	return &p->threads[p->last_thread];
}

/* ---- Names from snapshots ---- */

static void name_task(struct ai_profile_task *t, const struct ai_snapshot_task *s)
{
	t->has_id = s->has_id;
	t->id = s->id;
	free(t->name);
	t->name = s->name ? xstrdup(s->name) : NULL;
	free(t->future);
	t->future = s->future ? xstrdup(s->future) : NULL;
	free(t->location);
	t->location = s->tree.file && s->tree.line > 0 ? xasprintf("%s:%d", s->tree.file, s->tree.line) : NULL;
	for (size_t i = 0; i < t->chain_count; i++)
		free(t->chain[i]);
	free(t->chain);
	t->chain = NULL;
	t->chain_count = 0;
	size_t capacity = 0;
	/* The main chain: the first child of each node, as the text view's await line reads it. */
	const struct ai_await_node *n = &s->tree;
	for (unsigned depth = 0; n && depth < 256; depth++) {
		const char *what = n->function ? n->function : n->type;
		if (what) {
			AI_GROW(t->chain, capacity, t->chain_count + 1);
			t->chain[t->chain_count++] = xstrdup(what);
		}
		n = n->child_count ? &n->children[0] : NULL;
	}
}

bool ai_profile_measures(const struct ai_snapshot_task *s)
{
	/* block_on futures are not polled through the runtime's task poll: no events name them. */
	return s->address && (!s->kind || strcmp(s->kind, "block_on") != 0);
}

void ai_profile_add_start(struct ai_profile *p, const struct ai_snapshot *snapshot)
{
	for (size_t i = 0; snapshot && i < snapshot->task_count; i++) {
		const struct ai_snapshot_task *s = &snapshot->tasks[i];
		if (!ai_profile_measures(s) || map_get(p, s->address) != SIZE_MAX)
			continue;
		size_t t = new_task(p, s->address, p->start_ns, false);
		p->tasks[t].in_start = true;
		if (s->status && strcmp(s->status, "scheduled") == 0)
			p->tasks[t].wake_pending_ns = p->start_ns; /* woken before the window */
		name_task(&p->tasks[t], s);
	}
}

/* ---- Events ---- */

/* Log-linear buckets: 16 per power of two, so a bucket's bound is within 1/16 of its values. */
static size_t bucket_of(uint64_t v)
{
	if (v < 16)
		return (size_t)v;
	unsigned msb = 63 - (unsigned)__builtin_clzll(v);
	size_t sub = (size_t)((v >> (msb - 4)) & 15);
	size_t b = (size_t)(msb - 3) * 16 + sub;
	return AI_MIN(b, (size_t)AI_PROFILE_HIST_BUCKETS - 1);
}

static uint64_t bucket_bound(size_t b)
{
	if (b < 16)
		return b;
	unsigned msb = (unsigned)(b / 16) + 3;
	uint64_t sub = b % 16;
	return ((16 + sub + 1) << (msb - 4)) - 1;
}

static void add_scheduled(const struct ai_profile *p, struct ai_profile_task *t, uint64_t ns)
{
	if (!t->scheduled_hist && !p->no_histograms)
		t->scheduled_hist = xcalloc(AI_PROFILE_HIST_BUCKETS, sizeof(*t->scheduled_hist));
	if (t->scheduled_hist)
		t->scheduled_hist[bucket_of(ns)]++;
	t->scheduled_ns += ns;
	t->scheduled_count++;
	if (ns > t->scheduled_max_ns)
		t->scheduled_max_ns = ns;
}

uint64_t ai_profile_task_scheduled_percentile(const struct ai_profile_task *t, double pct)
{
	if (!t->scheduled_count || !t->scheduled_hist)
		return 0;
	uint64_t want = (uint64_t)((double)t->scheduled_count * pct / 100.0 + 0.999999);
	if (want < 1)
		want = 1;
	uint64_t seen = 0;
	for (size_t b = 0; b < AI_PROFILE_HIST_BUCKETS; b++) {
		seen += t->scheduled_hist[b];
		if (seen >= want)
			return AI_MIN(bucket_bound(b), t->scheduled_max_ns);
	}
	return t->scheduled_max_ns;
}

/* Counts the poll of frame `f` of thread th as ended at time_ns. */
static void close_frame(struct ai_profile *p, struct ai_profile_thread *th, unsigned f, uint64_t time_ns)
{
	struct ai_profile_task *t = &p->tasks[th->stack[f].task];
	uint64_t begin = th->stack[f].begin_ns;
	uint64_t d = time_ns > begin ? time_ns - begin : 0;
	th->stack[f].closed = true;
	if (th->stack[f].poll)
		p->poll_list[th->stack[f].poll - 1].end_ns = AI_MAX(time_ns, begin);
	t->busy_ns += d;
	th->busy_ns += d;
	if (d > t->max_poll_ns) {
		t->max_poll_ns = d;
		t->max_poll_at_ns = begin;
	}
	if (d > AI_PROFILE_LONG_POLL_NS)
		t->long_polls++;
	if (t->polling)
		t->polling--;
	if (t->woken_while_polled && !t->polling) {
		t->woken_while_polled = false;
		if (!t->wake_pending_ns)
			t->wake_pending_ns = time_ns;
	}
}

static void end_poll(struct ai_profile *p, struct ai_profile_thread *th, uint64_t time_ns)
{
	th->depth--;
	if (!th->stack[th->depth].closed)
		close_frame(p, th, th->depth, time_ns);
}

/* A task runs on one thread at a time: when its next poll begins elsewhere, the poll of the
 * thread that rescheduled it is over, though that thread has not returned yet (the runtime
 * queues the task, wakes another worker, then returns; preempted meanwhile, it can take
 * milliseconds). Its poll is counted up to here. */
static void close_elsewhere(struct ai_profile *p, size_t task, const struct ai_profile_thread *here,
			    uint64_t time_ns)
{
	for (size_t i = 0; i < p->thread_count && p->tasks[task].polling; i++) {
		struct ai_profile_thread *th = &p->threads[i];
		if (th == here)
			continue;
		for (unsigned f = 0; f < th->depth; f++)
			if (th->stack[f].task == task && !th->stack[f].closed)
				close_frame(p, th, f, time_ns);
	}
}

/* A poll into the poll list, with the wake that led to it; its index + 1, or 0: not kept. */
static size_t keep_poll(struct ai_profile *p, size_t task, uint32_t tid, uint64_t time_ns)
{
	struct ai_profile_task *t = &p->tasks[task];
	uint64_t wake_ns = t->flow_wake_ns;
	uint32_t wake_tid = t->flow_wake_tid;
	t->flow_wake_ns = 0;
	if (!p->poll_cap)
		return 0;
	if (p->poll_count >= p->poll_cap) {
		p->polls_dropped++;
		return 0;
	}
	AI_GROW(p->poll_list, p->poll_capacity, p->poll_count + 1);
	p->poll_list[p->poll_count++] = (struct ai_profile_poll){
		.task = task, .tid = tid, .wake_tid = wake_tid, .begin_ns = time_ns, .wake_ns = wake_ns,
	};
	return p->poll_count;
}

void ai_profile_event(struct ai_profile *p, enum ai_profile_event_kind kind, uint64_t time_ns,
		      uint32_t tid, uint64_t task, const char *future)
{
	if (time_ns < p->start_ns)
		return;
	struct ai_profile_thread *th = thread_of(p, tid);
	switch (kind) {
	case AI_PROFILE_POLL_BEGIN: {
		size_t i = task_at(p, task, time_ns);
		struct ai_profile_task *t = &p->tasks[i];
		if (!t->future && future)
			t->future = xstrdup(future);
		t->polls++;
		p->polls++;
		th->polls++;
		if (t->polling)
			close_elsewhere(p, i, th, time_ns);
		if (t->wake_pending_ns) {
			add_scheduled(p, t, time_ns - AI_MIN(t->wake_pending_ns, time_ns));
			t->wake_pending_ns = 0;
		}
		t->polling++;
		if (th->depth < AI_ARRAY_SIZE(th->stack)) {
			size_t kept = keep_poll(p, i, tid, time_ns);
			th->stack[th->depth++] = (typeof(th->stack[0])){ .task = i, .begin_ns = time_ns, .poll = kept };
		} else {
			th->overflow++;
			t->flow_wake_ns = 0;
		}
		break;
	}
	case AI_PROFILE_POLL_END:
		if (th->overflow)
			th->overflow--;
		else if (th->depth)
			end_poll(p, th, time_ns);
		else
			p->unmatched_ends++; /* its entry came before the window */
		break;
	case AI_PROFILE_WAKE: {
		size_t i = task_at(p, task, time_ns);
		struct ai_profile_task *t = &p->tasks[i];
		t->wakes++;
		p->wakes++;
		if (th->depth) {
			if (th->stack[th->depth - 1].task == i)
				t->self_wakes++;
			else
				t->task_wakes++;
		}
		if (!t->flow_wake_ns) {
			t->flow_wake_ns = time_ns;
			t->flow_wake_tid = tid;
		}
		if (t->polling)
			t->woken_while_polled = true;
		else if (!t->wake_pending_ns)
			t->wake_pending_ns = time_ns;
		break;
	}
	case AI_PROFILE_RELEASE: {
		size_t i = map_get(p, task);
		p->releases++;
		if (i == SIZE_MAX)
			break;
		p->tasks[i].released = true;
		p->tasks[i].released_ns = time_ns;
		p->tasks[i].wake_pending_ns = 0;
		map_remove(p, task);
		break;
	}
	}
}

bool ai_profile_polling(struct ai_profile *p, uint32_t tid)
{
	const struct ai_profile_thread *th = thread_of(p, tid);
	return th->depth && !th->stack[th->depth - 1].closed;
}

/* Counts a sample of `frames` (taken) in a list of stacks; a few distinct ones per task. */
static void count_stack(struct ai_profile_stack **stacks, size_t *count, size_t *capacity, char *frames, bool chain)
{
	for (size_t i = *count; i-- > 0;) {
		if ((*stacks)[i].chain == chain && strcmp((*stacks)[i].frames, frames) == 0) {
			(*stacks)[i].count++;
			free(frames);
			return;
		}
	}
	AI_GROW(*stacks, *capacity, *count + 1);
	(*stacks)[(*count)++] = (struct ai_profile_stack){ .frames = frames, .count = 1, .chain = chain };
}

void ai_profile_sample(struct ai_profile *p, uint64_t time_ns, uint32_t tid, char *frames, bool chain)
{
	if (time_ns < p->start_ns) {
		free(frames);
		return;
	}
	struct ai_profile_thread *th = thread_of(p, tid);
	p->samples++;
	if (th->depth && !th->stack[th->depth - 1].closed) {
		struct ai_profile_task *t = &p->tasks[th->stack[th->depth - 1].task];
		t->samples++;
		count_stack(&t->stacks, &t->stack_count, &t->stack_capacity, frames, chain);
	} else {
		th->samples++;
		count_stack(&th->stacks, &th->stack_count, &th->stack_capacity, frames, false);
	}
}

void ai_profile_sample_task(struct ai_profile *p, uint64_t time_ns, uint32_t tid, uint64_t address, char *frames,
			    bool chain)
{
	if (!address) {
		ai_profile_sample(p, time_ns, tid, frames, chain);
		return;
	}
	size_t index = task_at(p, address, time_ns); /* (may move the tasks) */
	struct ai_profile_task *t = &p->tasks[index];
	thread_of(p, tid);
	p->samples++;
	t->samples++;
	count_stack(&t->stacks, &t->stack_count, &t->stack_capacity, frames, chain);
}

size_t ai_profile_task_index(const struct ai_profile *p, uint64_t address)
{
	return map_get(p, address);
}

uint64_t ai_profile_task_busy_until(const struct ai_profile *p, size_t task, uint64_t now_ns)
{
	uint64_t busy = p->tasks[task].busy_ns;
	for (size_t i = 0; i < p->thread_count; i++) {
		const struct ai_profile_thread *th = &p->threads[i];
		for (unsigned f = 0; f < th->depth; f++) {
			if (th->stack[f].task == task && !th->stack[f].closed && now_ns > th->stack[f].begin_ns)
				busy += now_ns - th->stack[f].begin_ns;
		}
	}
	return busy;
}

void ai_profile_forget_released(struct ai_profile *p)
{
	size_t *moved = xcalloc(p->task_count ? p->task_count : 1, sizeof(*moved));
	size_t kept = 0;
	for (size_t i = 0; i < p->task_count; i++) {
		if (p->tasks[i].released) {
			task_deinit(&p->tasks[i]);
			moved[i] = SIZE_MAX;
			continue;
		}
		moved[i] = kept;
		p->tasks[kept] = p->tasks[i];
		p->tasks[kept].created = kept;
		kept++;
	}
	p->task_count = kept;
	/* The map again, without the released tasks' tombstones. */
	free(p->map_keys);
	free(p->map_values);
	p->map_keys = NULL;
	p->map_values = NULL;
	p->map_capacity = p->map_used = 0;
	for (size_t i = 0; i < kept; i++)
		map_put(p, p->tasks[i].address, i);
	/* A poll still open of a task gone is over: its frame is closed, never read again. */
	for (size_t i = 0; i < p->thread_count; i++) {
		struct ai_profile_thread *th = &p->threads[i];
		for (unsigned f = 0; f < th->depth; f++) {
			size_t to = moved[th->stack[f].task];
			if (to == SIZE_MAX)
				th->stack[f].closed = true;
			th->stack[f].task = to;
		}
	}
	free(moved);
}

uint64_t ai_profile_task_idle_ns(const struct ai_profile *p, const struct ai_profile_task *t)
{
	uint64_t from = t->in_start ? p->start_ns : t->first_ns;
	uint64_t to = t->released ? t->released_ns : p->end_ns;
	uint64_t span = to > from ? to - from : 0;
	uint64_t used = t->busy_ns + t->scheduled_ns;
	return span > used ? span - used : 0;
}

static int compare_busy(const void *a, const void *b)
{
	const struct ai_profile_task *x = a, *y = b;
	if (x->busy_ns != y->busy_ns)
		return x->busy_ns > y->busy_ns ? -1 : 1;
	if (x->polls != y->polls)
		return x->polls > y->polls ? -1 : 1;
	if (x->has_id != y->has_id)
		return x->has_id ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static char *thread_name(pid_t pid, uint32_t tid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task/%u/comm", (int)pid, tid);
	char *text = ai_read_small_file(path, NULL);
	if (text)
		text[strcspn(text, "\n")] = '\0';
	return text;
}

static void format_ms(char *buf, size_t size, uint64_t ns)
{
	snprintf(buf, size, "%.1f ms", (double)ns / 1e6);
}

void ai_profile_finish(struct ai_profile *p, uint64_t end_ns, const struct ai_snapshot *end)
{
	p->end_ns = AI_MAX(end_ns, p->start_ns);
	/* Polls still running at the end count up to it. */
	for (size_t i = 0; i < p->thread_count; i++) {
		struct ai_profile_thread *th = &p->threads[i];
		while (th->depth)
			end_poll(p, th, p->end_ns);
		th->name = thread_name(p->pid, th->tid);
	}
	/* ptrace sampling: busy time is each task's share of the rounds, over the window. */
	for (size_t i = 0; p->ptrace_sampled && p->ptrace_rounds && i < p->task_count; i++)
		p->tasks[i].busy_ns = (uint64_t)((double)p->tasks[i].samples / (double)p->ptrace_rounds *
						 (double)(p->end_ns - p->start_ns));
	for (size_t i = 0; end && i < end->task_count; i++) {
		const struct ai_snapshot_task *s = &end->tasks[i];
		if (!ai_profile_measures(s))
			continue;
		size_t t = map_get(p, s->address);
		if (t == SIZE_MAX)
			t = new_task(p, s->address, p->end_ns, true);
		p->tasks[t].in_end = true;
		name_task(&p->tasks[t], s);
	}
	if (p->task_count > 1) /* tasks is NULL when none was seen */
		qsort(p->tasks, p->task_count, sizeof(*p->tasks), compare_busy);
	if (p->poll_count) { /* the poll list names tasks by their index before the sort */
		size_t *moved = xcalloc(p->task_count, sizeof(*moved));
		for (size_t i = 0; i < p->task_count; i++)
			moved[p->tasks[i].created] = i;
		for (size_t i = 0; i < p->poll_count; i++)
			p->poll_list[i].task = moved[p->poll_list[i].task];
		free(moved);
	}
	/* The index is of no use once sorted. */
	free(p->map_keys);
	free(p->map_values);
	p->map_keys = NULL;
	p->map_values = NULL;
	p->map_capacity = p->map_used = 0;

	for (size_t i = 0; i < p->task_count; i++) {
		const struct ai_profile_task *t = &p->tasks[i];
		char who[96], a[32], b[32];
		if (t->has_id)
			snprintf(who, sizeof(who), "task %llu", (unsigned long long)t->id);
		else
			snprintf(who, sizeof(who), "task @ 0x%llx", (unsigned long long)t->address);
		if (t->long_polls) {
			format_ms(a, sizeof(a), t->max_poll_ns);
			add_warning(p, "%s%s%s%s: %llu poll%s longer than %llu ms (the longest %s): it blocks its worker "
				    "thread meanwhile", who, t->name ? " (" : "", t->name ? t->name : "",
				    t->name ? ")" : "", (unsigned long long)t->long_polls, t->long_polls == 1 ? "" : "s",
				    AI_PROFILE_LONG_POLL_NS / 1000000, a);
		}
		if (t->wake_pending_ns && !t->released && p->end_ns - t->wake_pending_ns > 100000000) {
			format_ms(b, sizeof(b), p->end_ns - t->wake_pending_ns);
			add_warning(p, "%s: woken %s before the end and not polled since", who, b);
		}
		if (t->wakes >= 100 && t->self_wakes * 2 > t->wakes)
			add_warning(p, "%s: %llu of its %llu wakes came from its own polls (it wakes itself in a loop)",
				    who, (unsigned long long)t->self_wakes, (unsigned long long)t->wakes);
	}
	if (p->polls_dropped)
		add_warning(p, "the timeline keeps the first %zu polls: the %llu after them are counted but not drawn",
			    p->poll_count, (unsigned long long)p->polls_dropped);
	if (p->samples_cut && p->samples_cut * 10 >= p->samples)
		add_warning(p, "%llu of the %llu CPU samples could not be unwound to their thread's first frame "
			    "(no unwind information, or a stack deeper than the %d KiB copied): their stacks are "
			    "cut short", (unsigned long long)p->samples_cut, (unsigned long long)p->samples,
			    AI_CPU_SAMPLE_STACK / 1024);
	if (p->lost)
		add_warning(p, "%llu events were lost (a ring buffer was full): the counts are lower bounds",
			    (unsigned long long)p->lost);
}
