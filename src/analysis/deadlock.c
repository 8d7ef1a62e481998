/* The wait-for graph between tasks and its cycles (deadlocks): see include/ai/analysis.h. */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/analysis.h"
#include "ai/cycles.h"
#include "ai/util.h"

struct edge {
	size_t to;
	const struct ai_held *held;         /* the guard, or the Sender; NULL for a join or a futurelock */
	const struct ai_unpolled *unpolled; /* a futurelock: the future granted the lock */
};

struct graph {
	struct edge **out;   /* out[i]: edges of task i */
	size_t *out_count;
	/* A channel wait is woken by any of its Senders: out[i] of a channel waiter goes to every task
	 * holding one, and a cycle through it counts only if all of those are on the cycle. */
	bool *channel;
	size_t n;
};

/* Index entries: a key (task address, semaphore, channel) and who has it. */
struct entry {
	uint64_t key;
	size_t task;
	const struct ai_held *held;
	const struct ai_unpolled *unpolled;
};

static int cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	if (x->key != y->key)
		return x->key < y->key ? -1 : 1;
	return x->task < y->task ? -1 : x->task > y->task;
}

/* The first entry with key, or NULL; the entries with that key follow it. */
static const struct entry *lookup(const struct entry *v, size_t n, uint64_t key)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (v[mid].key < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && v[lo].key == key ? &v[lo] : NULL;
}

/* One past the last entry; NULL for an empty, unallocated table (NULL + 0 is undefined in C). */
static const struct entry *entries_end(const struct entry *v, size_t n)
{
	return v ? v + n : NULL;
}

static bool is_lock_wait(const struct ai_wait *w)
{
	return strcmp(w->kind, "mutex") == 0 || strcmp(w->kind, "rwlock") == 0 ||
	       strcmp(w->kind, "semaphore") == 0;
}

static bool is_sender(const struct ai_held *h)
{
	return strcmp(h->kind, "mpsc_sender") == 0 || strcmp(h->kind, "oneshot_sender") == 0;
}

/* Blocked for good unless someone else acts: idle tasks and block_on futures, not tasks that are
 * running or already woken. */
static bool can_block(const struct ai_snapshot_task *t)
{
	if (strcmp(t->kind, "block_on") == 0)
		return true;
	return t->status && strcmp(t->status, "idle") == 0;
}

static void add_edge(struct graph *g, size_t from, struct edge e)
{
	for (size_t i = 0; i < g->out_count[from]; i++) {
		if (g->out[from][i].to == e.to)
			return;
	}
	g->out[from] = xrealloc(g->out[from], (g->out_count[from] + 1) * sizeof(struct edge));
	g->out[from][g->out_count[from]++] = e;
}

/* Senders alive that a channel wait counts on, or 0 when it is not a wait on a message. */
static uint64_t senders_expected(const struct ai_wait *w)
{
	if (strcmp(w->kind, "mpsc_recv") == 0 && w->has_senders && w->address &&
	    (!w->has_messages || w->messages_queued == 0))
		return w->senders_alive;
	if (strcmp(w->kind, "oneshot") == 0 && w->has_sender_alive && w->sender_alive && w->address)
		return 1;
	return 0;
}

struct index {
	struct entry *v;
	size_t count, capacity;
};

static void index_add(struct index *ix, struct entry e)
{
	AI_GROW(ix->v, ix->capacity, ix->count + 1);
	ix->v[ix->count++] = e;
}

static void build(const struct ai_snapshot *s, struct graph *g)
{
	g->n = s->task_count;
	size_t n = g->n ? g->n : 1;
	g->out = xcalloc(n, sizeof(*g->out));
	g->out_count = xcalloc(n, sizeof(*g->out_count));
	g->channel = xcalloc(n, sizeof(*g->channel));
	/* Tasks by header address; guards by semaphore; Senders by channel; granted futures by
	 * semaphore. */
	struct index tasks = { 0 }, guards = { 0 }, senders = { 0 }, granted = { 0 }, writers = { 0 };
	for (size_t i = 0; i < s->task_count; i++) {
		const struct ai_snapshot_task *t = &s->tasks[i];
		if (strcmp(t->kind, "task") == 0)
			index_add(&tasks, (struct entry){ t->address, i, NULL, NULL });
		/* Writers in line on an RwLock, which readers queue behind. */
		if (t->wait && t->wait->bars_readers && t->wait->semaphore && can_block(t))
			index_add(&writers, (struct entry){ t->wait->semaphore, i, NULL, NULL });
		for (size_t k = 0; k < t->held_count; k++) {
			const struct ai_held *h = &t->held[k];
			if (is_sender(h))
				index_add(&senders, (struct entry){ h->address, i, h, NULL });
			else
				index_add(&guards, (struct entry){ h->semaphore, i, h, NULL });
		}
		for (size_t k = 0; k < t->unpolled_count; k++) {
			if (t->unpolled[k].granted)
				index_add(&granted, (struct entry){ t->unpolled[k].semaphore, i, NULL, &t->unpolled[k] });
		}
	}
	if (tasks.count > 1)
		qsort(tasks.v, tasks.count, sizeof(struct entry), cmp_entry);
	if (guards.count > 1)
		qsort(guards.v, guards.count, sizeof(struct entry), cmp_entry);
	if (senders.count > 1)
		qsort(senders.v, senders.count, sizeof(struct entry), cmp_entry);
	if (granted.count > 1)
		qsort(granted.v, granted.count, sizeof(struct entry), cmp_entry);
	if (writers.count > 1)
		qsort(writers.v, writers.count, sizeof(struct entry), cmp_entry);
	const struct entry *end;
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
			bool holder = false;
			const struct entry *e = lookup(guards.v, guards.count, w->semaphore);
			for (end = entries_end(guards.v, guards.count); e && e < end && e->key == w->semaphore; e++) {
				if (!ai_held_blocks(w, e->held))
					continue;
				holder = true;
				if (e->task != i)
					add_edge(g, i, (struct edge){ e->task, e->held, NULL });
			}
			/* A reader queued behind a writer in line waits for that writer. */
			e = lookup(writers.v, writers.count, w->semaphore);
			for (end = entries_end(writers.v, writers.count); e && e < end && e->key == w->semaphore; e++) {
				if (e->task != i && ai_wait_bars_reader(w, s->tasks[e->task].wait)) {
					holder = true;
					add_edge(g, i, (struct edge){ e->task, NULL, NULL });
				}
			}
			/* No guard holds it: a future granted the lock but not polled (a futurelock), in
			 * a task that is not about to poll it (woken or running: a grant in flight). */
			e = holder ? NULL : lookup(granted.v, granted.count, w->semaphore);
			for (end = entries_end(granted.v, granted.count); e && e < end && e->key == w->semaphore; e++) {
				if (can_block(&s->tasks[e->task]))
					add_edge(g, i, (struct edge){ e->task, NULL, e->unpolled });
			}
		} else if (strcmp(w->kind, "join") == 0) {
			const struct entry *e = lookup(tasks.v, tasks.count, w->address);
			const struct ai_snapshot_task *o = e ? &s->tasks[e->task] : NULL;
			if (o && e->task != i &&
			    !(o->status && (strcmp(o->status, "completed") == 0 || strcmp(o->status, "cancelled") == 0)))
				add_edge(g, i, (struct edge){ e->task, NULL, NULL });
		} else if (senders_expected(w) > 0) {
			/* Only when every live Sender was found (a stale copy in some variant would make
			 * more, a Sender out of any task's reach fewer: then nothing is claimed). */
			const struct entry *first = lookup(senders.v, senders.count, w->address), *e;
			size_t found = 0;
			end = entries_end(senders.v, senders.count);
			for (e = first; e && e < end && e->key == w->address; e++)
				found++;
			if (found != senders_expected(w))
				continue;
			g->channel[i] = true;
			for (e = first; e && e < end && e->key == w->address; e++) {
				if (e->task != i)
					add_edge(g, i, (struct edge){ e->task, e->held, NULL });
			}
		}
	}
	free(tasks.v);
	free(guards.v);
	free(senders.v);
	free(granted.v);
	free(writers.v);
}

struct dfs {
	const struct graph *g;
	struct ai_snapshot *s;
	size_t *mark;           /* scratch for set comparisons: mark[task] == stamp */
	size_t stamp;
};

/* A cycle already reported (the same set of tasks)? */
static bool known(struct dfs *d, const size_t *cycle, size_t len)
{
	d->stamp++;
	for (size_t i = 0; i < len; i++)
		d->mark[cycle[i]] = d->stamp;
	for (size_t k = 0; k < d->s->deadlock_count; k++) {
		const struct ai_deadlock *dl = &d->s->deadlocks[k];
		size_t same = 0;
		for (size_t i = 0; dl->count == len && i < len; i++)
			same += d->mark[dl->tasks[i]] == d->stamp;
		if (dl->count == len && same == len)
			return true;
	}
	return false;
}

/* Every channel waiter on the cycle must have all its Senders' holders on the cycle (the
 * cycle's tasks are marked with the current stamp). */
static bool channels_closed(struct dfs *d, const size_t *cycle, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		size_t u = cycle[i];
		for (size_t k = 0; d->g->channel[u] && k < d->g->out_count[u]; k++) {
			if (d->mark[d->g->out[u][k].to] != d->stamp)
				return false;
		}
	}
	return true;
}

/* A cycle of the search (ai/cycles.h): a deadlock unless already reported or open to a Sender. */
static void record(void *ctx, const size_t *cycle, const size_t *edges, size_t len)
{
	struct dfs *d = ctx;
	if (known(d, cycle, len) || !channels_closed(d, cycle, len))
		return;
	struct ai_snapshot *s = d->s;
	AI_GROW(s->deadlocks, s->deadlock_capacity, s->deadlock_count + 1);
	struct ai_deadlock *dl = &s->deadlocks[s->deadlock_count++];
	memset(dl, 0, sizeof(*dl));
	dl->count = len;
	dl->tasks = xcalloc(len, sizeof(*dl->tasks));
	dl->edges = xcalloc(len, sizeof(*dl->edges));
	for (size_t i = 0; i < len; i++) {
		const struct edge *e = &d->g->out[cycle[i]][edges[i]];
		dl->tasks[i] = cycle[i];
		dl->edges[i].from = cycle[i];
		dl->edges[i].to = cycle[(i + 1) % len];
		dl->edges[i].wait = s->tasks[cycle[i]].wait;
		dl->edges[i].held = e->held;
		dl->edges[i].unpolled = e->unpolled;
		dl->futurelock |= e->unpolled != NULL;
	}
}

static size_t edge_to(void *ctx, size_t u, size_t k)
{
	const struct graph *g = ctx;
	return g->out[u][k].to;
}

static void print_task(char *buf, size_t size, const struct ai_snapshot_task *t)
{
	if (t->has_id)
		snprintf(buf, size, "Task %" PRIu64 " %s", t->id, t->future ? t->future : "?");
	else
		snprintf(buf, size, "%s %s", t->kind, t->future ? t->future : "?");
}

static const char *base_name(const char *path)
{
	const char *slash = path ? strrchr(path, '/') : NULL;
	return slash ? slash + 1 : path ? path : "?";
}

/* Conditional evidence (see ai/analysis.h). */
static void warnings(struct ai_snapshot *s, const struct graph *g)
{
	char name[256], owner[256];
	/* The unpolled futures still queued (usually none). */
	struct entry *queued = NULL;
	size_t queued_count = 0, queued_capacity = 0;
	for (size_t j = 0; j < s->task_count; j++) {
		for (size_t k = 0; k < s->tasks[j].unpolled_count; k++) {
			if (s->tasks[j].unpolled[k].granted)
				continue;
			AI_GROW(queued, queued_capacity, queued_count + 1);
			queued[queued_count++] = (struct entry){ s->tasks[j].unpolled[k].semaphore, j, NULL,
								 &s->tasks[j].unpolled[k] };
		}
	}
	for (size_t i = 0; i < s->task_count; i++) {
		const struct ai_snapshot_task *t = &s->tasks[i];
		if (!t->wait)
			continue;
		print_task(name, sizeof(name), t);
		if (t->wait->warning)
			ai_snapshot_add_warning(s, "%s waits in %s: %s", name,
						t->wait->description ? t->wait->description : t->wait->kind,
						t->wait->warning);
		/* Futures queued ahead (not yet granted): a futurelock as soon as the lock is released. */
		for (size_t q = 0; is_lock_wait(t->wait) && t->wait->queued && t->wait->permits_wanted > 0 &&
				   q < queued_count; q++) {
			size_t j = queued[q].task;
			const struct ai_unpolled *u = queued[q].unpolled;
			if (u->semaphore != t->wait->semaphore)
				continue;
			print_task(owner, sizeof(owner), &s->tasks[j]);
			ai_snapshot_add_warning(s, "futurelock ahead: %s waits for %s @ 0x%" PRIx64 " behind the future "
						"`%s` (%s) that %s keeps in %s at %s:%d but no longer polls: the lock "
						"goes to that future when released, and then nobody can take it",
						name, u->resource_type ? u->resource_type : u->kind, u->address, u->local,
						u->future_type ? u->future_type : "?", j == i ? "the task itself" : owner,
						u->function ? u->function : "?", base_name(u->file), u->line);
		}
		for (size_t k = 0; k < g->out_count[i]; k++) {
			const struct ai_unpolled *u = g->out[i][k].unpolled;
			if (!u)
				continue;
			print_task(owner, sizeof(owner), &s->tasks[g->out[i][k].to]);
			ai_snapshot_add_warning(s, "futurelock: %s waits for %s @ 0x%" PRIx64 ", which no guard holds: "
						"it was granted to the future `%s` (%s) that %s keeps in %s at %s:%d "
						"but no longer polls",
						name, u->resource_type ? u->resource_type : u->kind, u->address, u->local,
						u->future_type ? u->future_type : "?", g->out[i][k].to == i ? "the task itself" : owner,
						u->function ? u->function : "?", base_name(u->file), u->line);
		}
	}
	free(queued);
}

/* Tasks whose JoinHandle chain leads back to themselves, whether blocked or not: each task awaits
 * at most one JoinHandle, so the chains form a functional graph, walked once (O(n log n)). */
static void join_cycles(struct ai_snapshot *s)
{
	size_t n = s->task_count;
	struct index tasks = { 0 };
	for (size_t i = 0; i < n; i++) {
		if (strcmp(s->tasks[i].kind, "task") == 0)
			index_add(&tasks, (struct entry){ s->tasks[i].address, i, NULL, NULL });
	}
	if (tasks.count > 1)
		qsort(tasks.v, tasks.count, sizeof(struct entry), cmp_entry);
	size_t *next = xcalloc(n ? n : 1, sizeof(*next)), *path = xcalloc(n ? n : 1, sizeof(*path));
	unsigned char *state = xcalloc(n ? n : 1, 1); /* 0 unseen, 1 on the current walk, 2 done */
	for (size_t i = 0; i < n; i++) {
		const struct ai_wait *w = s->tasks[i].wait;
		const struct entry *e = w && strcmp(w->kind, "join") == 0
						? lookup(tasks.v, tasks.count, w->address) : NULL;
		next[i] = e ? e->task : SIZE_MAX;
	}
	char name[256];
	for (size_t i = 0; i < n; i++) {
		size_t len = 0, j = i;
		while (j != SIZE_MAX && state[j] == 0) {
			state[j] = 1;
			path[len++] = j;
			j = next[j];
		}
		if (j != SIZE_MAX && state[j] == 1) {
			size_t from = 0;
			while (path[from] != j)
				from++;
			for (size_t k = from; k < len; k++) {
				print_task(name, sizeof(name), &s->tasks[path[k]]);
				ai_snapshot_add_warning(s, "%s awaits a JoinHandle chain of %zu task%s that leads back to itself",
							name, len - from, len - from > 1 ? "s" : "");
			}
		}
		for (size_t k = 0; k < len; k++)
			state[path[k]] = 2;
	}
	free(tasks.v);
	free(next);
	free(path);
	free(state);
}

void ai_analysis_deadlocks(struct ai_snapshot *snapshot)
{
	struct graph g;
	build(snapshot, &g);
	struct dfs d = { .g = &g, .s = snapshot };
	d.mark = xcalloc(g.n ? g.n : 1, sizeof(*d.mark));
	struct ai_cycle_graph cg = { .n = g.n, .out_count = g.out_count, .to = edge_to, .ctx = &g };
	ai_find_cycles(&cg, record, &d);
	warnings(snapshot, &g);
	join_cycles(snapshot);
	for (size_t i = 0; i < g.n; i++)
		free(g.out[i]);
	free(g.out);
	free(g.out_count);
	free(g.channel);
	free(d.mark);
}

size_t ai_analysis_wait_for_edges(const struct ai_snapshot *snapshot, struct ai_wait_for_edge **ret)
{
	struct graph g;
	build(snapshot, &g);
	struct ai_wait_for_edge *edges = NULL;
	size_t count = 0, capacity = 0;
	for (size_t i = 0; i < g.n; i++) {
		for (size_t k = 0; !(g.channel[i] && g.out_count[i] > 1) && k < g.out_count[i]; k++) {
			AI_GROW(edges, capacity, count + 1);
			edges[count++] = (struct ai_wait_for_edge){ i, g.out[i][k].to, g.out[i][k].held };
		}
		free(g.out[i]);
	}
	free(g.out);
	free(g.out_count);
	free(g.channel);
	*ret = edges;
	return count;
}
