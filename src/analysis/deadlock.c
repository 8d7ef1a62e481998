/* The wait-for graph between tasks and its cycles (deadlocks): see include/ai/analysis.h. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/analysis.h"
#include "ai/util.h"

struct edge {
	size_t to;
	const struct ai_held *held; /* NULL for a join */
};

struct graph {
	struct edge **out;   /* out[i]: edges of task i */
	size_t *out_count;
	size_t n;
};

static bool is_lock_wait(const struct ai_wait *w)
{
	return strcmp(w->kind, "mutex") == 0 || strcmp(w->kind, "rwlock") == 0 ||
	       strcmp(w->kind, "semaphore") == 0;
}

/* Blocked for good unless someone else acts: idle tasks and block_on futures, not tasks that are
 * running or already woken. */
static bool can_block(const struct ai_snapshot_task *t)
{
	if (strcmp(t->kind, "block_on") == 0)
		return true;
	return t->status && strcmp(t->status, "idle") == 0;
}

static void add_edge(struct graph *g, size_t from, size_t to, const struct ai_held *held)
{
	for (size_t i = 0; i < g->out_count[from]; i++) {
		if (g->out[from][i].to == to)
			return;
	}
	g->out[from] = xrealloc(g->out[from], (g->out_count[from] + 1) * sizeof(struct edge));
	g->out[from][g->out_count[from]++] = (struct edge){ to, held };
}

static void build(const struct ai_snapshot *s, struct graph *g)
{
	g->n = s->task_count;
	g->out = xcalloc(g->n ? g->n : 1, sizeof(*g->out));
	g->out_count = xcalloc(g->n ? g->n : 1, sizeof(*g->out_count));
	for (size_t i = 0; i < s->task_count; i++) {
		const struct ai_snapshot_task *t = &s->tasks[i];
		const struct ai_wait *w = t->wait;
		if (!w || !can_block(t))
			continue;
		if (is_lock_wait(w)) {
			/* A granted Acquire (no permits wanted) or one not queued is not blocked. */
			if (!w->queued || w->permits_wanted == 0 || !w->semaphore ||
			    (w->has_permits && w->permits_available >= w->permits_wanted))
				continue;
			for (size_t j = 0; j < s->task_count; j++) {
				const struct ai_snapshot_task *o = &s->tasks[j];
				for (size_t k = 0; j != i && k < o->held_count; k++) {
					if (o->held[k].semaphore == w->semaphore)
						add_edge(g, i, j, &o->held[k]);
				}
			}
		} else if (strcmp(w->kind, "join") == 0 && w->has_target_id) {
			for (size_t j = 0; j < s->task_count; j++) {
				const struct ai_snapshot_task *o = &s->tasks[j];
				if (j != i && strcmp(o->kind, "task") == 0 && o->address == w->address &&
				    !(o->status && (strcmp(o->status, "completed") == 0 ||
						    strcmp(o->status, "cancelled") == 0)))
					add_edge(g, i, j, NULL);
			}
		}
	}
}

/* A cycle already reported (the same set of tasks)? */
static bool known(const struct ai_snapshot *s, const size_t *cycle, size_t len)
{
	for (size_t d = 0; d < s->deadlock_count; d++) {
		const struct ai_deadlock *dl = &s->deadlocks[d];
		if (dl->count != len)
			continue;
		size_t same = 0;
		for (size_t i = 0; i < len; i++) {
			for (size_t j = 0; j < len; j++)
				same += dl->tasks[j] == cycle[i];
		}
		if (same == len)
			return true;
	}
	return false;
}

struct dfs {
	const struct graph *g;
	struct ai_snapshot *s;
	unsigned char *color;   /* 0 white, 1 on the stack, 2 done */
	size_t *stack;          /* tasks on the current path */
	const struct ai_held **via; /* via[k]: the held of the edge stack[k] -> stack[k+1] */
	size_t len;
};

static void record(struct dfs *d, size_t from_pos, const struct ai_held *last_held)
{
	size_t len = d->len - from_pos;
	const size_t *cycle = d->stack + from_pos;
	if (known(d->s, cycle, len))
		return;
	AI_GROW(d->s->deadlocks, d->s->deadlock_capacity, d->s->deadlock_count + 1);
	struct ai_deadlock *dl = &d->s->deadlocks[d->s->deadlock_count++];
	dl->count = len;
	dl->tasks = xcalloc(len, sizeof(*dl->tasks));
	dl->edges = xcalloc(len, sizeof(*dl->edges));
	for (size_t i = 0; i < len; i++) {
		dl->tasks[i] = cycle[i];
		dl->edges[i].from = cycle[i];
		dl->edges[i].to = cycle[(i + 1) % len];
		dl->edges[i].wait = d->s->tasks[cycle[i]].wait;
		dl->edges[i].held = i + 1 < len ? d->via[from_pos + i] : last_held;
	}
}

/* Iterative bounds: the path is at most n long; recursion depth is bounded by n as well. */
static void visit(struct dfs *d, size_t u)
{
	d->color[u] = 1;
	d->stack[d->len++] = u;
	for (size_t i = 0; i < d->g->out_count[u]; i++) {
		const struct edge *e = &d->g->out[u][i];
		if (d->color[e->to] == 1) {
			size_t pos = 0;
			while (d->stack[pos] != e->to)
				pos++;
			record(d, pos, e->held);
		} else if (d->color[e->to] == 0) {
			d->via[d->len - 1] = e->held;
			visit(d, e->to);
		}
	}
	d->len--;
	d->color[u] = 2;
}

static void print_task(char *buf, size_t size, const struct ai_snapshot_task *t)
{
	if (t->has_id)
		snprintf(buf, size, "Task %" PRIu64 " %s", t->id, t->future ? t->future : "?");
	else
		snprintf(buf, size, "%s %s", t->kind, t->future ? t->future : "?");
}

/* The task whose header a join wait names, or SIZE_MAX. */
static size_t join_target(const struct ai_snapshot *s, const struct ai_wait *w)
{
	if (!w || strcmp(w->kind, "join") != 0 || !w->has_target_id)
		return SIZE_MAX;
	for (size_t j = 0; j < s->task_count; j++) {
		if (strcmp(s->tasks[j].kind, "task") == 0 && s->tasks[j].address == w->address)
			return j;
	}
	return SIZE_MAX;
}

/* Conditional evidence (see ai/analysis.h). */
static void warnings(struct ai_snapshot *s)
{
	char name[256];
	for (size_t i = 0; i < s->task_count; i++) {
		const struct ai_snapshot_task *t = &s->tasks[i];
		if (!t->wait)
			continue;
		print_task(name, sizeof(name), t);
		if (t->wait->warning)
			ai_snapshot_add_warning(s, "%s waits in %s: %s", name,
						t->wait->description ? t->wait->description : t->wait->kind,
						t->wait->warning);
		/* A JoinHandle chain that comes back to the task itself. */
		size_t j = join_target(s, t->wait), steps = 0;
		while (j != SIZE_MAX && j != i && steps++ < s->task_count)
			j = join_target(s, s->tasks[j].wait);
		if (j == i)
			ai_snapshot_add_warning(s, "%s awaits a JoinHandle chain of %zu task%s that leads back to itself",
						name, steps + 1, steps ? "s" : "");
	}
}

void ai_analysis_deadlocks(struct ai_snapshot *snapshot)
{
	struct graph g;
	build(snapshot, &g);
	struct dfs d = { .g = &g, .s = snapshot };
	size_t n = g.n ? g.n : 1;
	d.color = xcalloc(n, 1);
	d.stack = xcalloc(n, sizeof(*d.stack));
	d.via = xcalloc(n, sizeof(*d.via));
	for (size_t i = 0; i < g.n; i++) {
		if (d.color[i] == 0 && g.out_count[i])
			visit(&d, i);
	}
	for (size_t i = 0; i < g.n; i++)
		free(g.out[i]);
	free(g.out);
	free(g.out_count);
	free(d.color);
	free(d.stack);
	free(d.via);
	warnings(snapshot);
}
