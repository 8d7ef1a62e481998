/* The live model: a ring buffer of snapshots and tasks followed across them (include/ai/live.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/live.h"
#include "ai/util.h"

struct ai_live *ai_live_create(size_t history)
{
	struct ai_live *live = xcalloc(1, sizeof(*live));
	live->ring_capacity = history ? history : 1;
	live->ring = xcalloc(live->ring_capacity, sizeof(*live->ring));
	return live;
}

void ai_live_destroy(struct ai_live *live)
{
	if (!live)
		return;
	for (size_t i = 0; i < live->ring_capacity; i++)
		ai_snapshot_destroy(live->ring[i]);
	free(live->ring);
	free(live->tasks);
	free(live);
}

const struct ai_snapshot *ai_live_snapshot(const struct ai_live *live, size_t age)
{
	if (age >= live->ring_count)
		return NULL;
	size_t i = (live->ring_head + live->ring_capacity - 1 - age) % live->ring_capacity;
	return live->ring[i];
}

static uint64_t hash_bytes(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ULL; /* FNV-1a */
	}
	return h;
}

static uint64_t hash_string(uint64_t h, const char *s)
{
	h = hash_bytes(h, s ? s : "", s ? strlen(s) + 1 : 1);
	return hash_bytes(h, s ? "+" : "-", 1);
}

static uint64_t hash_node(uint64_t h, const struct ai_await_node *node, unsigned depth)
{
	h = hash_string(h, node->function);
	h = hash_string(h, node->state);
	h = hash_string(h, node->file);
	h = hash_bytes(h, &node->line, sizeof(node->line));
	h = hash_bytes(h, &node->child_count, sizeof(node->child_count));
	if (depth > 1000)
		return h;
	for (size_t i = 0; i < node->child_count; i++)
		h = hash_node(h, &node->children[i], depth + 1);
	return h;
}

uint64_t ai_live_tree_hash(const struct ai_await_node *tree)
{
	return hash_node(0xcbf29ce484222325ULL, tree, 0);
}

const struct ai_await_node *ai_live_await_point(const struct ai_snapshot_task *task)
{
	/* The program's own code says more than the inside of a runtime: the deepest .await in a
	 * file that is not a dependency's, else the deepest one. A future with several children
	 * (join!, select!) waits on all of them: below it, its first branch is no more "the" point
	 * than the others, so the walk ends there once the program's own line was met. */
	const struct ai_await_node *node = &task->tree, *found = NULL, *own = NULL;
	for (unsigned depth = 0; node && depth < 1000; depth++) {
		if (node->file && node->line > 0) {
			found = node;
			if (!node->dependency)
				own = node;
		}
		if (node->child_count > 1 && own)
			break;
		node = node->child_count ? &node->children[0] : NULL;
	}
	return own ? own : found;
}

static bool in_deadlock(const struct ai_snapshot *snapshot, size_t index)
{
	for (size_t i = 0; i < snapshot->deadlock_count; i++) {
		for (size_t j = 0; j < snapshot->deadlocks[i].count; j++) {
			if (snapshot->deadlocks[i].tasks[j] == index)
				return true;
		}
	}
	return false;
}

const char *ai_live_task_state(const struct ai_snapshot *snapshot, size_t index)
{
	const struct ai_snapshot_task *task = &snapshot->tasks[index];
	if (in_deadlock(snapshot, index))
		return "deadlocked";
	if (!task->status)
		return task->kind && strcmp(task->kind, "block_on") == 0 ? "block_on" : "idle";
	if (strcmp(task->status, "completed") == 0 || strcmp(task->status, "cancelled") == 0)
		return "done";
	if (strcmp(task->status, "idle") == 0)
		return task->wait ? "blocked" : "idle";
	if (strcmp(task->status, "running") == 0 || strcmp(task->status, "scheduled") == 0)
		return task->status;
	return "idle";
}

char ai_live_state_letter(const char *state)
{
	static const struct {
		const char *state;
		char letter;
	} letters[] = {
		{ "running", 'R' }, { "scheduled", 'S' }, { "blocked", 'B' }, { "deadlocked", 'D' },
		{ "idle", 'I' },    { "block_on", 'O' },  { "done", 'X' },
	};
	for (size_t i = 0; i < AI_ARRAY_SIZE(letters); i++) {
		if (strcmp(state, letters[i].state) == 0)
			return letters[i].letter;
	}
	return '?';
}

void ai_live_read_process(struct ai_live *live, pid_t pid)
{
	struct ai_live_process *p = &live->process;
	p->has_cpu = p->has_rss = false;
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	uint64_t now_us = ai_now_us();
	char *stat = ai_read_small_file(path, NULL);
	/* utime and stime are fields 14 and 15; the name (field 2) may hold spaces and parentheses,
	 * so count from its last ')'. */
	const char *rest = stat ? strrchr(stat, ')') : NULL;
	unsigned long long utime, stime;
	if (rest && sscanf(rest + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
			   &stime) == 2) {
		uint64_t ticks = utime + stime;
		long hz = sysconf(_SC_CLK_TCK);
		if (p->has_previous && now_us > p->previous_us && ticks >= p->previous_ticks && hz > 0) {
			p->cpu_percent = (double)(ticks - p->previous_ticks) * 1e8 / (double)hz /
					 (double)(now_us - p->previous_us);
			p->has_cpu = true;
		}
		p->has_previous = true;
		p->previous_ticks = ticks;
		p->previous_us = now_us;
	} else {
		p->has_previous = false;
	}
	free(stat);
	snprintf(path, sizeof(path), "/proc/%d/statm", (int)pid);
	char *statm = ai_read_small_file(path, NULL);
	unsigned long long pages;
	long page_size = sysconf(_SC_PAGESIZE);
	if (statm && sscanf(statm, "%*u %llu", &pages) == 1 && page_size > 0) {
		p->rss_bytes = pages * (uint64_t)page_size;
		p->has_rss = true;
	}
	free(statm);
}

static void identify(struct ai_live_task *lt, const struct ai_snapshot_task *task)
{
	memset(lt, 0, sizeof(*lt));
	lt->block_on = task->kind && strcmp(task->kind, "block_on") == 0;
	if (lt->block_on) {
		lt->thread = task->thread;
		lt->key = task->address;
	} else {
		lt->runtime_address = task->runtime_address;
		lt->key = task->has_id ? task->id : task->address;
	}
}

static int compare_identity(const void *a, const void *b)
{
	const struct ai_live_task *x = *(const struct ai_live_task *const *)a;
	const struct ai_live_task *y = *(const struct ai_live_task *const *)b;
	if (x->block_on != y->block_on)
		return x->block_on ? 1 : -1;
	if (x->runtime_address != y->runtime_address)
		return x->runtime_address < y->runtime_address ? -1 : 1;
	if (x->thread != y->thread)
		return x->thread < y->thread ? -1 : 1;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return 0;
}

void ai_live_add(struct ai_live *live, struct ai_snapshot *snapshot)
{
	ai_live_add_marked(live, snapshot, NULL);
}

void ai_live_add_marked(struct ai_live *live, struct ai_snapshot *snapshot, const bool *deadlocked)
{
	/* The previous tasks, sorted by identity for lookups (n log n for 20000 tasks). */
	size_t old_count = live->task_count;
	struct ai_live_task *old = live->tasks;
	struct ai_live_task **sorted = xcalloc(old_count ? old_count : 1, sizeof(*sorted));
	for (size_t i = 0; i < old_count; i++)
		sorted[i] = &old[i];
	qsort(sorted, old_count, sizeof(*sorted), compare_identity);

	struct ai_live_task *tasks = xcalloc(snapshot->task_count ? snapshot->task_count : 1, sizeof(*tasks));
	for (size_t i = 0; i < snapshot->task_count; i++) {
		struct ai_live_task *lt = &tasks[i];
		identify(lt, &snapshot->tasks[i]);
		lt->tree_hash = ai_live_tree_hash(&snapshot->tasks[i].tree);
		snprintf(lt->status, sizeof(lt->status), "%s",
			 deadlocked && deadlocked[i] ? "deadlocked" : ai_live_task_state(snapshot, i));
		const struct ai_live_task *key = lt;
		struct ai_live_task **found = old_count ? bsearch(&key, sorted, old_count, sizeof(*sorted),
								  compare_identity) : NULL;
		char letter = ai_live_state_letter(lt->status);
		if (!found) {
			lt->first_seen_ms = lt->changed_ms = snapshot->captured_at_ms;
			lt->samples = 1;
			memset(lt->history, ' ', sizeof(lt->history));
			lt->history[AI_LIVE_STATE_HISTORY - 1] = letter;
			continue;
		}
		const struct ai_live_task *prev = *found;
		memcpy(lt->history, prev->history + 1, AI_LIVE_STATE_HISTORY - 1);
		lt->history[AI_LIVE_STATE_HISTORY - 1] = letter;
		lt->first_seen_ms = prev->first_seen_ms;
		lt->samples = prev->samples + 1;
		lt->transitions = prev->transitions;
		lt->changed_ms = prev->changed_ms;
		lt->profile_seen = prev->profile_seen;
		lt->profile_polls = prev->profile_polls;
		lt->profile_busy_ns = prev->profile_busy_ns;
		lt->profile_sched_ns = prev->profile_sched_ns;
		lt->profile_sched_count = prev->profile_sched_count;
		lt->profile_at_ns = prev->profile_at_ns;
		bool tree_changed = prev->tree_hash != lt->tree_hash;
		if (tree_changed)
			lt->changed_ms = snapshot->captured_at_ms;
		if (tree_changed || strcmp(prev->status, lt->status) != 0)
			lt->transitions++;
	}
	free(sorted);
	free(old);
	live->tasks = tasks;
	live->task_count = live->task_capacity = snapshot->task_count;

	ai_snapshot_destroy(live->ring[live->ring_head]);
	live->ring[live->ring_head] = snapshot;
	live->ring_head = (live->ring_head + 1) % live->ring_capacity;
	if (live->ring_count < live->ring_capacity)
		live->ring_count++;
	live->sample_count++;
}

int64_t ai_live_unchanged_ms(const struct ai_live *live, size_t index)
{
	const struct ai_snapshot *latest = ai_live_snapshot(live, 0);
	if (!latest || index >= live->task_count)
		return 0;
	int64_t ms = latest->captured_at_ms - live->tasks[index].changed_ms;
	return ms > 0 ? ms : 0;
}
