/* --history: each task's state transitions seen at the breakpoints' hits.
 *
 * Every hit takes a snapshot of every task (all-stop), so each hit is a sample of all of them: a
 * task whose state (the innermost coroutine of the program's own code on its main await chain:
 * function, state, line) differs from the last one kept gets an entry, and the hit task always
 * does (its breakpoint is a transition, even back to the state it was in). The hit task's entry is observed where it
 * happened ("hit": the breakpoint is the transition); any other task's is only seen at that
 * moment ("snapshot": it changed at some time since the previous hit). A task no longer in a
 * snapshot has ended: its history goes. The last AI_BREAK_HISTORY entries of each are kept. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/breakpoint.h"
#include "ai/frontend.h"
#include "ai/json_writer.h"
#include "ai/snapshot.h"
#include "ai/util.h"

struct entry {
	uint64_t t_us;
	char *function, *state, *file; /* owned; state and file may be NULL */
	int line;
	bool at_hit;
};

struct task_history {
	char *runtime;                 /* owned */
	uint64_t runtime_address, id, address;
	bool has_id;
	bool seen;                     /* in the latest snapshot */
	struct entry entries[AI_BREAK_HISTORY]; /* a ring: the oldest at first */
	size_t first, count;
	uint64_t total;                /* transitions seen, kept or not */
};

struct ai_break_history {
	struct task_history *tasks;
	size_t count, capacity;
};

struct ai_break_history *ai_break_history_create(void)
{
	return xcalloc(1, sizeof(struct ai_break_history));
}

static void entry_deinit(struct entry *e)
{
	free(e->function);
	free(e->state);
	free(e->file);
}

static void task_history_deinit(struct task_history *h)
{
	for (size_t i = 0; i < h->count; i++)
		entry_deinit(&h->entries[(h->first + i) % AI_BREAK_HISTORY]);
	free(h->runtime);
}

void ai_break_history_destroy(struct ai_break_history *history)
{
	if (!history)
		return;
	for (size_t i = 0; i < history->count; i++)
		task_history_deinit(&history->tasks[i]);
	free(history->tasks);
	free(history);
}

static bool same_task(const struct task_history *h, const struct ai_snapshot_task *t)
{
	if (strcmp(h->runtime, t->runtime ? t->runtime : "") != 0 || h->runtime_address != t->runtime_address ||
	    h->has_id != t->has_id)
		return false;
	return t->has_id ? h->id == t->id : h->address == t->address;
}

static struct task_history *find(struct ai_break_history *history, const struct ai_snapshot_task *t)
{
	for (size_t i = 0; i < history->count; i++)
		if (same_task(&history->tasks[i], t))
			return &history->tasks[i];
	return NULL;
}

/* The innermost coroutine of the program's own code on the task's main await chain (first
 * children): the runtime's and libraries' own async fns below it say little of where the task
 * stands. The innermost coroutine when none is the program's, else the root. */
static const struct ai_await_node *state_node(const struct ai_snapshot_task *t)
{
	const struct ai_await_node *node = &t->tree, *own = NULL, *any = NULL;
	for (int depth = 0; depth < 256; depth++) {
		if (node->function && node->state) {
			any = node;
			if (!node->dependency)
				own = node;
		}
		if (!node->child_count)
			break;
		node = &node->children[0];
	}
	return own ? own : any ? any : t->tree.function ? &t->tree : NULL;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static void add_entry(struct task_history *h, struct entry e)
{
	if (h->count == AI_BREAK_HISTORY) {
		entry_deinit(&h->entries[h->first]);
		h->first = (h->first + 1) % AI_BREAK_HISTORY;
		h->count--;
	}
	h->entries[(h->first + h->count) % AI_BREAK_HISTORY] = e;
	h->count++;
	h->total++;
}

void ai_break_history_observe(struct ai_break_history *history, const struct ai_snapshot *snapshot,
			      const struct ai_snapshot_task *hit, bool completed, uint64_t t_us)
{
	for (size_t i = 0; i < history->count; i++)
		history->tasks[i].seen = false;
	for (size_t i = 0; i < snapshot->task_count; i++) {
		const struct ai_snapshot_task *t = &snapshot->tasks[i];
		if (!t->kind || strcmp(t->kind, "task") != 0)
			continue;
		struct task_history *h = find(history, t);
		if (!h) {
			AI_GROW(history->tasks, history->capacity, history->count + 1);
			h = &history->tasks[history->count++];
			*h = (struct task_history){ .runtime = xstrdup(t->runtime ? t->runtime : ""),
						    .runtime_address = t->runtime_address, .id = t->id,
						    .address = t->address, .has_id = t->has_id };
		}
		h->seen = true;
		const struct ai_await_node *node = state_node(t);
		struct entry e = { .t_us = t_us, .at_hit = t == hit };
		if (t == hit && completed) {
			e.function = xstrdup(t->future ? t->future : "?");
			e.state = xstrdup("completed");
		} else if (node) {
			e.function = xstrdup(node->function);
			e.state = node->state ? xstrdup(node->state) : NULL;
			e.file = node->file ? xstrdup(node->file) : NULL;
			e.line = node->line;
		} else {
			continue; /* nothing known of its state */
		}
		const struct entry *last = h->count ? &h->entries[(h->first + h->count - 1) % AI_BREAK_HISTORY] : NULL;
		/* A hit is a transition even back to the same state (a loop's await): the
		 * breakpoint saw it happen. */
		if (last && !e.at_hit && str_eq(last->function, e.function) && str_eq(last->state, e.state) &&
		    str_eq(last->file, e.file) && last->line == e.line) {
			entry_deinit(&e);
			continue;
		}
		add_entry(h, e);
	}
	/* Tasks gone from the snapshot have ended (or their address was reused). */
	size_t kept = 0;
	for (size_t i = 0; i < history->count; i++) {
		if (history->tasks[i].seen)
			history->tasks[kept++] = history->tasks[i];
		else
			task_history_deinit(&history->tasks[i]);
	}
	history->count = kept;
}

void ai_break_history_print(FILE *out, struct ai_break_history *history, const struct ai_snapshot_task *task)
{
	struct task_history *h = task ? find(history, task) : NULL;
	if (!h || !h->count)
		return;
	fprintf(out, "  history (%llu transition%s seen", (unsigned long long)h->total, h->total == 1 ? "" : "s");
	if (h->total > h->count)
		fprintf(out, ", the last %zu", h->count);
	fprintf(out, "; hit: at its breakpoint, snapshot: seen at another hit):\n");
	for (size_t i = 0; i < h->count; i++) {
		const struct entry *e = &h->entries[(h->first + i) % AI_BREAK_HISTORY];
		fprintf(out, "    +%llu.%03llus  %s  %s", (unsigned long long)(e->t_us / 1000000),
			(unsigned long long)(e->t_us / 1000 % 1000), e->function, e->state ? e->state : "?");
		if (e->file)
			fprintf(out, "  %s:%d", ai_short_path(e->file), e->line);
		fprintf(out, "  (%s)\n", e->at_hit ? "hit" : "snapshot");
	}
}

void ai_break_history_write_json(struct ai_json_writer *w, struct ai_break_history *history,
				 const struct ai_snapshot_task *task)
{
	struct task_history *h = task ? find(history, task) : NULL;
	ai_json_key(w, "history");
	ai_json_begin_object(w);
	ai_json_field_uint(w, "total", h ? h->total : 0);
	ai_json_key(w, "transitions");
	ai_json_begin_array(w);
	for (size_t i = 0; h && i < h->count; i++) {
		const struct entry *e = &h->entries[(h->first + i) % AI_BREAK_HISTORY];
		ai_json_begin_object(w);
		ai_json_field_uint(w, "t_us", e->t_us);
		ai_json_field_string(w, "function", e->function);
		ai_json_key(w, "state");
		if (e->state)
			ai_json_string(w, e->state);
		else
			ai_json_null(w);
		ai_json_key(w, "file");
		if (e->file)
			ai_json_string(w, e->file);
		else
			ai_json_null(w);
		ai_json_field_int(w, "line", e->line);
		ai_json_field_string(w, "seen", e->at_hit ? "hit" : "snapshot");
		ai_json_end_object(w);
	}
	ai_json_end_array(w);
	ai_json_end_object(w);
}
