/* Links between the snapshots of several processes through their sockets, and the wait-for
 * cycles that run through them: see include/ai/peers.h. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/analysis.h"
#include "ai/cycles.h"
#include "ai/peers.h"
#include "ai/util.h"

/* Cycles recorded at most (each is a few lines of output). */
#define MAX_CYCLES 256

void ai_process_set_init(struct ai_process_set *set)
{
	memset(set, 0, sizeof(*set));
}

void ai_process_set_add(struct ai_process_set *set, struct ai_snapshot *snapshot)
{
	AI_GROW(set->snapshots, set->capacity, set->count + 1);
	set->snapshots[set->count++] = snapshot;
}

void ai_process_set_deinit(struct ai_process_set *set)
{
	for (size_t i = 0; i < set->count; i++)
		ai_snapshot_destroy(set->snapshots[i]);
	free(set->snapshots);
	for (size_t i = 0; i < set->deadlock_count; i++)
		free(set->deadlocks[i].steps);
	free(set->deadlocks);
	memset(set, 0, sizeof(*set));
}

/* One end of a TCP connection that a task waits on or keeps. */
/* One end of a connection that a task waits on or keeps: TCP (local, peer addresses) or unix
 * (inode, peer inode). */
struct endpoint {
	size_t process, task;
	int fd;
	const char *local, *peer;
	uint64_t inode, peer_inode;
	bool waits; /* the task's wait is on it (else it is in task->fds) */
};

static bool is_tcp(const char *kind)
{
	return kind && (strcmp(kind, "TCP") == 0 || strcmp(kind, "TCP6") == 0);
}

static bool is_loopback(const char *address)
{
	return ai_starts_with(address, "127.") || ai_starts_with(address, "[::1]") ||
	       ai_starts_with(address, "[::ffff:127.");
}

/* Two snapshots can share a socket unless they come from different hosts and it is a loopback one
 * (every host has its own 127.0.0.1). */
static bool same_network(const struct ai_snapshot *a, const struct ai_snapshot *b, const char *address)
{
	if (!is_loopback(address) || !a->host || !b->host)
		return true;
	return strcmp(a->host, b->host) == 0;
}

struct endpoints {
	struct endpoint *v;
	size_t count, capacity;
};

static bool is_unix(const char *kind)
{
	return kind && strcmp(kind, "unix") == 0;
}

static void add_endpoint(struct endpoints *e, struct endpoint ep)
{
	if ((!ep.local || !ep.peer) && !(ep.inode && ep.peer_inode))
		return;
	AI_GROW(e->v, e->capacity, e->count + 1);
	e->v[e->count++] = ep;
}

static void collect_endpoints(const struct ai_process_set *set, struct endpoints *e)
{
	for (size_t p = 0; p < set->count; p++) {
		const struct ai_snapshot *s = set->snapshots[p];
		for (size_t i = 0; i < s->task_count; i++) {
			const struct ai_snapshot_task *t = &s->tasks[i];
			const struct ai_wait *w = t->wait;
			if (w && w->kind && strcmp(w->kind, "io") == 0 && w->has_fd && is_tcp(w->socket_kind))
				add_endpoint(e, (struct endpoint){ p, i, w->fd, w->local_address, w->peer_address, 0, 0, true });
			else if (w && w->kind && strcmp(w->kind, "io") == 0 && w->has_fd && is_unix(w->socket_kind))
				add_endpoint(e, (struct endpoint){ p, i, w->fd, NULL, NULL, w->socket_inode, w->peer_inode, true });
			for (size_t k = 0; k < t->fd_count; k++) {
				const struct ai_task_fd *f = &t->fds[k];
				if (is_tcp(f->socket_kind))
					add_endpoint(e, (struct endpoint){ p, i, f->fd, f->local_address, f->peer_address, 0, 0, false });
				else if (is_unix(f->socket_kind))
					add_endpoint(e, (struct endpoint){ p, i, f->fd, NULL, NULL, f->socket_inode, f->peer_inode, false });
			}
		}
	}
}

/* Unix sockets are the same only on one host (inodes are one kernel's); dumps that do not say
 * their host are taken as one host's. */
static bool same_host(const struct ai_snapshot *a, const struct ai_snapshot *b)
{
	return !a->host || !b->host || strcmp(a->host, b->host) == 0;
}

static bool other_end(const struct ai_process_set *set, const struct endpoint *me, const struct endpoint *ep)
{
	if (ep->process == me->process && ep->task == me->task)
		return false;
	const struct ai_snapshot *a = set->snapshots[me->process], *b = set->snapshots[ep->process];
	if (me->local)
		return ep->local && strcmp(ep->local, me->peer) == 0 && strcmp(ep->peer, me->local) == 0 &&
		       same_network(a, b, me->local);
	return ep->inode && ep->inode == me->peer_inode && ep->peer_inode == me->inode && same_host(a, b);
}

/* The other end of `me`: a waiter on it first, then a keeper. */
static const struct endpoint *find_other_end(const struct ai_process_set *set, const struct endpoints *e,
					     const struct endpoint *me)
{
	const struct endpoint *keeper = NULL;
	for (size_t k = 0; k < e->count; k++) {
		const struct endpoint *ep = &e->v[k];
		if (!other_end(set, me, ep))
			continue;
		if (ep->waits)
			return ep;
		if (!keeper)
			keeper = ep;
	}
	return keeper;
}

const char *ai_process_command(const struct ai_snapshot *s)
{
	if (s->command)
		return s->command;
	const char *slash = s->exe ? strrchr(s->exe, '/') : NULL;
	return slash ? slash + 1 : s->exe ? s->exe : "?";
}

bool ai_process_set_spans_hosts(const struct ai_process_set *set)
{
	for (size_t p = 1; p < set->count; p++) {
		const char *a = set->snapshots[0]->host, *b = set->snapshots[p]->host;
		if ((a || b) && (!a || !b || strcmp(a, b) != 0))
			return true;
	}
	return false;
}

char *ai_process_set_name(const struct ai_process_set *set, size_t process)
{
	const struct ai_snapshot *s = set->snapshots[process];
	bool hosts = ai_process_set_spans_hosts(set) && s->host;
	return xasprintf("pid %d (%s)%s%s", (int)s->pid, ai_process_command(s), hosts ? " on " : "", hosts ? s->host : "");
}

/* "Task 17 server::handle_conn" or "block_on server::main". */
static char *task_text(const struct ai_snapshot_task *t)
{
	if (t->has_id)
		return xasprintf("Task %" PRIu64 " %s", t->id, t->future ? t->future : "?");
	if (t->kind && strcmp(t->kind, "task") == 0)
		return xasprintf("Task 0x%" PRIx64 " %s", t->address, t->future ? t->future : "?");
	return xasprintf("%s %s", t->kind ? t->kind : "?", t->future ? t->future : "?");
}

/* The task of s holding the lock of wait w (an exclusive guard on its semaphore), or NULL. */
static const struct ai_snapshot_task *lock_holder(const struct ai_snapshot *s, const struct ai_wait *w)
{
	if (!w->semaphore)
		return NULL;
	for (size_t i = 0; i < s->task_count; i++) {
		for (size_t k = 0; k < s->tasks[i].held_count; k++) {
			if (s->tasks[i].held[k].semaphore == w->semaphore)
				return &s->tasks[i];
		}
	}
	return NULL;
}

/* "pid 2311 (server) Task 17 server::handle_conn, which waits in lock Mutex<u64> @ 0x..., held
 * by Task 4 server::holder". */
static char *summary(const struct ai_process_set *set, const struct ai_peer *peer)
{
	const struct ai_snapshot *s = set->snapshots[peer->process];
	char *who = ai_process_set_name(set, peer->process);
	if (!peer->has_task) {
		char *text = xasprintf("%s fd %d, which no task of it holds", who, peer->fd);
		free(who);
		return text;
	}
	const struct ai_snapshot_task *t = &s->tasks[peer->task];
	char *task = task_text(t);
	char *text;
	const struct ai_wait *w = t->wait;
	if (!w) {
		text = xasprintf("%s %s, which is %s", who, task, t->status ? t->status : "not waiting on one thing");
	} else {
		const struct ai_snapshot_task *holder = lock_holder(s, w);
		char *holder_text = holder ? task_text(holder) : NULL;
		const struct ai_peer *next = w->peer;
		char *next_text = NULL;
		if (next && next->has_task) {
			const struct ai_snapshot *ns = set->snapshots[next->process];
			char *nt = task_text(&ns->tasks[next->task]), *next_who = ai_process_set_name(set, next->process);
			next_text = xasprintf("%s %s", next_who, nt);
			free(next_who);
			free(nt);
		}
		text = xasprintf("%s %s, which waits in %s%s%s%s%s", who, task, w->description ? w->description : w->kind,
				 holder_text ? ", held by " : "", holder_text ? holder_text : "",
				 next_text ? ", answered by " : "", next_text ? next_text : "");
		free(holder_text);
		free(next_text);
	}
	free(task);
	free(who);
	return text;
}

static void link_waits(struct ai_process_set *set)
{
	struct endpoints e = { 0 };
	collect_endpoints(set, &e);
	for (size_t k = 0; k < e.count; k++) {
		const struct endpoint *ep = &e.v[k];
		if (!ep->waits)
			continue;
		struct ai_wait *w = (struct ai_wait *)set->snapshots[ep->process]->tasks[ep->task].wait;
		const struct endpoint *other = find_other_end(set, &e, ep);
		if (!other || w->peer)
			continue;
		const struct ai_snapshot *os = set->snapshots[other->process];
		const struct ai_snapshot_task *ot = &os->tasks[other->task];
		struct ai_peer *peer = xcalloc(1, sizeof(*peer));
		peer->pid = os->pid;
		peer->command = xstrdup(ai_process_command(os));
		peer->host = ai_process_set_spans_hosts(set) && os->host ? xstrdup(os->host) : NULL;
		peer->address = other->local ? xstrdup(other->local) : NULL;
		peer->fd = other->fd;
		peer->has_task = true;
		peer->process = other->process;
		peer->task = other->task;
		peer->has_task_id = ot->has_id;
		peer->task_id = ot->id;
		peer->task_future = ot->future ? xstrdup(ot->future) : NULL;
		w->peer = peer;
		set->link_count++;
	}
	/* Once every link is known: a summary may name the peer's own peer. */
	for (size_t p = 0; p < set->count; p++) {
		struct ai_snapshot *s = set->snapshots[p];
		for (size_t i = 0; i < s->task_count; i++) {
			struct ai_wait *w = (struct ai_wait *)s->tasks[i].wait;
			if (w && w->peer)
				w->peer->summary = summary(set, w->peer);
		}
	}
	free(e.v);
}

/* ---- the joined wait-for graph ---- */

struct edge {
	size_t to;
	bool via_peer;
};

struct graph {
	size_t n;
	size_t *offset;       /* offset[p]: node of snapshots[p]->tasks[0] */
	struct edge **out;
	size_t *out_count;
};

static void add_edge(struct graph *g, size_t from, size_t to, bool via_peer)
{
	for (size_t i = 0; i < g->out_count[from]; i++) {
		if (g->out[from][i].to == to)
			return;
	}
	g->out[from] = xrealloc(g->out[from], (g->out_count[from] + 1) * sizeof(struct edge));
	g->out[from][g->out_count[from]++] = (struct edge){ to, via_peer };
}

/* Waits on a socket that only the peer can end: reading (or writing to a full buffer) on an
 * established (unix: connected) connection, by a task that is idle or a block_on future. */
static bool blocks_on_peer(const struct ai_snapshot_task *t)
{
	const struct ai_wait *w = t->wait;
	if (!w || !w->peer || !w->peer->has_task || !w->direction || !w->socket_state ||
	    (strcmp(w->socket_state, "ESTABLISHED") != 0 && strcmp(w->socket_state, "CONNECTED") != 0))
		return false;
	if (strcmp(w->direction, "read") != 0 && strcmp(w->direction, "write") != 0 &&
	    strcmp(w->direction, "read_write") != 0)
		return false;
	if (t->kind && strcmp(t->kind, "block_on") == 0)
		return true;
	return t->status && strcmp(t->status, "idle") == 0;
}

static void build(const struct ai_process_set *set, struct graph *g)
{
	g->offset = xcalloc(set->count + 1, sizeof(*g->offset));
	for (size_t p = 0; p < set->count; p++)
		g->offset[p + 1] = g->offset[p] + set->snapshots[p]->task_count;
	g->n = g->offset[set->count];
	g->out = xcalloc(g->n ? g->n : 1, sizeof(*g->out));
	g->out_count = xcalloc(g->n ? g->n : 1, sizeof(*g->out_count));
	for (size_t p = 0; p < set->count; p++) {
		const struct ai_snapshot *s = set->snapshots[p];
		struct ai_wait_for_edge *edges;
		size_t count = ai_analysis_wait_for_edges(s, &edges);
		for (size_t k = 0; k < count; k++)
			add_edge(g, g->offset[p] + edges[k].from, g->offset[p] + edges[k].to, false);
		free(edges);
		for (size_t i = 0; i < s->task_count; i++) {
			const struct ai_snapshot_task *t = &s->tasks[i];
			if (blocks_on_peer(t))
				add_edge(g, g->offset[p] + i, g->offset[t->wait->peer->process] + t->wait->peer->task, true);
		}
	}
}

static void node_of(const struct ai_process_set *set, const struct graph *g, size_t node, size_t *p_ret, size_t *i_ret)
{
	size_t p = 0;
	while (p + 1 < set->count && g->offset[p + 1] <= node)
		p++;
	*p_ret = p;
	*i_ret = node - g->offset[p];
}

struct dfs {
	struct ai_process_set *set;
	const struct graph *g;
	size_t **seen;       /* node sets of the cycles recorded, sorted */
};

static int cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	return (x > y) - (x < y);
}

/* A cycle of the search (ai/cycles.h), recorded when it uses a socket edge and is new. */
static void record(void *ctx, const size_t *cycle, const size_t *edges, size_t len)
{
	struct dfs *d = ctx;
	struct ai_process_set *set = d->set;
	bool peer = false;
	for (size_t i = 0; i < len; i++)
		peer |= d->g->out[cycle[i]][edges[i]].via_peer;
	if (!peer || set->deadlock_count >= MAX_CYCLES)
		return;
	size_t *sorted = xcalloc(len, sizeof(*sorted));
	memcpy(sorted, cycle, len * sizeof(*sorted));
	qsort(sorted, len, sizeof(*sorted), cmp_size);
	for (size_t k = 0; k < set->deadlock_count; k++) {
		if (set->deadlocks[k].count == len && memcmp(d->seen[k], sorted, len * sizeof(*sorted)) == 0) {
			free(sorted);
			return;
		}
	}
	AI_GROW(set->deadlocks, set->deadlock_capacity, set->deadlock_count + 1);
	d->seen = xrealloc(d->seen, set->deadlock_capacity * sizeof(*d->seen));
	d->seen[set->deadlock_count] = sorted;
	struct ai_cross_deadlock *dl = &set->deadlocks[set->deadlock_count++];
	dl->count = len;
	dl->steps = xcalloc(len, sizeof(*dl->steps));
	for (size_t i = 0; i < len; i++) {
		struct ai_cross_step *st = &dl->steps[i];
		node_of(set, d->g, cycle[i], &st->process, &st->task);
		st->wait = set->snapshots[st->process]->tasks[st->task].wait;
		st->via_peer = d->g->out[cycle[i]][edges[i]].via_peer;
	}
}

static size_t edge_to(void *ctx, size_t u, size_t k)
{
	const struct graph *g = ctx;
	return g->out[u][k].to;
}

void ai_analysis_peers(struct ai_process_set *set)
{
	link_waits(set);
	struct graph g;
	build(set, &g);
	struct dfs d = { .set = set, .g = &g };
	struct ai_cycle_graph cg = { .n = g.n, .out_count = g.out_count, .to = edge_to, .ctx = &g };
	ai_find_cycles(&cg, record, &d);
	for (size_t k = 0; k < set->deadlock_count; k++)
		free(d.seen[k]);
	free(d.seen);
	for (size_t i = 0; i < g.n; i++)
		free(g.out[i]);
	free(g.out);
	free(g.out_count);
	free(g.offset);
}
