/* `dump --graph dot`: the wait-for graph as Graphviz DOT (see include/ai/frontend.h). */
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ai/frontend.h"
#include "ai/peers.h"
#include "ai/util.h"

/* A resource node: a lock (keyed by its batch semaphore), a channel or a Notify (by address). */
struct resource {
	uint64_t key;
	const char *type;
	uint64_t address;
};

struct graph {
	struct resource *res;
	size_t count, capacity;
};

static size_t resource_index(struct graph *g, uint64_t key, const char *type, uint64_t address)
{
	for (size_t i = 0; i < g->count; i++) {
		if (g->res[i].key == key)
			return i;
	}
	AI_GROW(g->res, g->capacity, g->count + 1);
	g->res[g->count] = (struct resource){ key, type, address };
	return g->count++;
}

/* A DOT string literal's body: " and \ escaped. */
static void print_escaped(FILE *out, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			fputc('\\', out);
		fputc(*s, out);
	}
}

static bool is_lock(const char *kind)
{
	return strcmp(kind, "mutex") == 0 || strcmp(kind, "rwlock") == 0 || strcmp(kind, "semaphore") == 0;
}

static bool is_resource(const char *kind)
{
	return is_lock(kind) || strcmp(kind, "mpsc_recv") == 0 || strcmp(kind, "mpsc_send") == 0 ||
	       strcmp(kind, "oneshot") == 0 || strcmp(kind, "notify") == 0 || strcmp(kind, "broadcast") == 0 ||
	       strcmp(kind, "watch") == 0;
}

static uint64_t wait_key(const struct ai_wait *w)
{
	return is_lock(w->kind) && w->semaphore ? w->semaphore : w->address;
}

/* Guards are keyed by their lock's semaphore, Senders (semaphore 0) by their channel. */
static uint64_t held_key(const struct ai_held *h)
{
	return h->semaphore ? h->semaphore : h->address;
}

/* What a cycle across processes reddens in one process's graph: task `waiter` waits for `next`
 * (its wait edge; the held, unpolled or join edge into next from what it waits on). */
struct red_pair {
	size_t waiter, next;
};

struct body {
	const struct ai_snapshot *s;
	const char *prefix;          /* "" (one process) or "p<pid>_": the node ids' prefix */
	const char *label;           /* the tasks' labels' prefix: "" or "[pid N command] " */
	const bool *shown;           /* the tasks in an edge */
	const struct red_pair *red;  /* from cycles across processes */
	size_t red_count;
};

/* Is task i's wait edge (or, with held or unpolled, the edge from that resource to task i) on a
 * deadlock cycle? */
static bool in_deadlock(const struct body *b, size_t from, size_t to, const void *held, bool wait_edge,
			uint64_t key)
{
	const struct ai_snapshot *s = b->s;
	for (size_t d = 0; d < s->deadlock_count; d++) {
		const struct ai_deadlock *dl = &s->deadlocks[d];
		for (size_t k = 0; k < dl->count; k++) {
			const struct ai_deadlock_edge *e = &dl->edges[k];
			if (wait_edge && e->from == from)
				return true;
			if (!wait_edge && e->to == to && ((const void *)e->held == held || (const void *)e->unpolled == held))
				return true;
		}
	}
	for (size_t k = 0; k < b->red_count; k++) {
		const struct red_pair *r = &b->red[k];
		if (wait_edge && r->waiter == from && (to == SIZE_MAX || r->next == to))
			return true;
		if (!wait_edge && r->next == to && s->tasks[r->waiter].wait && wait_key(s->tasks[r->waiter].wait) == key)
			return true;
	}
	return false;
}

static void print_edge(FILE *out, const struct body *b, char from, size_t fi, char to, size_t ti, const char *label,
		       bool red)
{
	fprintf(out, "  %s%c%zu -> %s%c%zu [label=\"", b->prefix, from, fi, b->prefix, to, ti);
	print_escaped(out, label);
	fprintf(out, "\"%s];\n", red ? ", color=red, fontcolor=red, penwidth=2" : "");
}

/* Which tasks of s take part in an edge of its own graph (shown[i] set), and its resources. */
static void find_shown(const struct ai_snapshot *s, struct graph *g, bool *shown)
{
	for (size_t i = 0; i < s->task_count; i++) {
		const struct ai_snapshot_task *t = &s->tasks[i];
		if (t->wait && is_resource(t->wait->kind) && wait_key(t->wait)) {
			resource_index(g, wait_key(t->wait), t->wait->resource_type, t->wait->address);
			shown[i] = true;
		}
		for (size_t k = 0; k < t->held_count; k++) {
			resource_index(g, held_key(&t->held[k]), t->held[k].resource_type, t->held[k].address);
			shown[i] = true;
		}
		for (size_t k = 0; k < t->unpolled_count; k++) {
			resource_index(g, t->unpolled[k].semaphore, t->unpolled[k].resource_type, t->unpolled[k].address);
			shown[i] = true;
		}
		if (t->wait && strcmp(t->wait->kind, "join") == 0) {
			shown[i] = true;
			for (size_t j = 0; j < s->task_count; j++)
				shown[j] |= strcmp(s->tasks[j].kind, "task") == 0 && s->tasks[j].address == t->wait->address;
		}
	}
}

/* One process's nodes and edges (its resources found by find_shown in g). */
static void print_body(FILE *out, const struct body *b, struct graph *g)
{
	const struct ai_snapshot *s = b->s;
	for (size_t i = 0; i < s->task_count; i++) {
		const struct ai_snapshot_task *t = &s->tasks[i];
		if (!b->shown[i])
			continue;
		fprintf(out, "  %st%zu [shape=box, label=\"", b->prefix, i);
		print_escaped(out, b->label);
		if (t->has_id)
			fprintf(out, "Task %" PRIu64 " ", t->id);
		else
			fprintf(out, "%s ", t->kind);
		print_escaped(out, t->future ? t->future : "?");
		fputs("\"];\n", out);
	}
	for (size_t r = 0; r < g->count; r++) {
		fprintf(out, "  %sr%zu [shape=ellipse, label=\"", b->prefix, r);
		print_escaped(out, g->res[r].type ? g->res[r].type : "?");
		fprintf(out, " @ 0x%" PRIx64 "\"];\n", g->res[r].address);
	}
	for (size_t i = 0; i < s->task_count; i++) {
		const struct ai_snapshot_task *t = &s->tasks[i];
		const struct ai_wait *w = t->wait;
		if (w && is_resource(w->kind) && wait_key(w)) {
			size_t r = resource_index(g, wait_key(w), w->resource_type, w->address);
			const char *label = is_lock(w->kind) ? "waits for" : strcmp(w->kind, "mpsc_send") == 0 ? "sends on"
					  : strcmp(w->kind, "notify") == 0 ? "notified by" : "receives on";
			print_edge(out, b, 't', i, 'r', r, label, in_deadlock(b, i, SIZE_MAX, NULL, true, 0));
		}
		if (w && strcmp(w->kind, "join") == 0) {
			for (size_t j = 0; j < s->task_count; j++) {
				if (strcmp(s->tasks[j].kind, "task") == 0 && s->tasks[j].address == w->address)
					print_edge(out, b, 't', i, 't', j, "awaits join", in_deadlock(b, i, j, NULL, true, 0));
			}
		}
		for (size_t k = 0; k < t->held_count; k++) {
			const struct ai_held *h = &t->held[k];
			size_t r = resource_index(g, held_key(h), h->resource_type, h->address);
			print_edge(out, b, 'r', r, 't', i, h->semaphore ? "held by" : "sender held by",
				   in_deadlock(b, 0, i, h, false, held_key(h)));
		}
		for (size_t k = 0; k < t->unpolled_count; k++) {
			const struct ai_unpolled *u = &t->unpolled[k];
			size_t r = resource_index(g, u->semaphore, u->resource_type, u->address);
			char label[160];
			snprintf(label, sizeof(label), "granted to unpolled `%s`", u->local ? u->local : "?");
			print_edge(out, b, 'r', r, 't', i, label, in_deadlock(b, 0, i, u, false, u->semaphore));
		}
	}
}

static const char HEAD[] = "digraph wait_for {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n";

void ai_print_graph_dot(FILE *out, const struct ai_snapshot *s)
{
	struct graph g = { 0 };
	bool *shown = xcalloc(s->task_count ? s->task_count : 1, sizeof(*shown));
	find_shown(s, &g, shown);
	fputs(HEAD, out);
	print_body(out, &(struct body){ .s = s, .prefix = "", .label = "", .shown = shown }, &g);
	fputs("}\n", out);
	free(g.res);
	free(shown);
}

/* Whether the socket edge from task i of process p is on a cycle across processes. */
static bool on_cross_cycle(const struct ai_process_set *set, size_t p, size_t i)
{
	for (size_t d = 0; d < set->deadlock_count; d++) {
		const struct ai_cross_deadlock *dl = &set->deadlocks[d];
		for (size_t k = 0; k < dl->count; k++)
			if (dl->steps[k].process == p && dl->steps[k].task == i && dl->steps[k].via_peer)
				return true;
	}
	return false;
}

/* The node ids' prefix of process p: "p<pid>_", or "p<pid>_<p>_" when another dump of the set has
 * that pid too (merge of several hosts: each may have its pid 1). */
static void node_prefix(const struct ai_process_set *set, size_t p, char *buf, size_t size)
{
	pid_t pid = set->snapshots[p]->pid;
	bool shared = false;
	for (size_t q = 0; q < set->count && !shared; q++)
		shared = q != p && set->snapshots[q]->pid == pid;
	if (shared)
		snprintf(buf, size, "p%d_%zu_", (int)pid, p);
	else
		snprintf(buf, size, "p%d_", (int)pid);
}

/* Whether the set's dumps come from more than one host (merge): the clusters then say which. */
static bool several_hosts(const struct ai_process_set *set)
{
	for (size_t p = 1; p < set->count; p++) {
		const char *a = set->snapshots[0]->host, *b = set->snapshots[p]->host;
		if ((a || b) && (!a || !b || strcmp(a, b) != 0))
			return true;
	}
	return false;
}

void ai_print_processes_graph_dot(FILE *out, const struct ai_process_set *set)
{
	size_t n = set->count;
	struct graph *graphs = xcalloc(n ? n : 1, sizeof(*graphs));
	bool **shown = xcalloc(n ? n : 1, sizeof(*shown));
	for (size_t p = 0; p < n; p++) {
		const struct ai_snapshot *s = set->snapshots[p];
		shown[p] = xcalloc(s->task_count ? s->task_count : 1, sizeof(**shown));
		find_shown(s, &graphs[p], shown[p]);
	}
	/* Both ends of a socket edge are shown. */
	for (size_t p = 0; p < n; p++) {
		const struct ai_snapshot *s = set->snapshots[p];
		for (size_t i = 0; i < s->task_count; i++) {
			const struct ai_peer *peer = s->tasks[i].wait ? s->tasks[i].wait->peer : NULL;
			if (!peer || (!peer->outside && (!peer->has_task || peer->process >= n)))
				continue;
			shown[p][i] = true;
			if (!peer->outside && peer->task < set->snapshots[peer->process]->task_count)
				shown[peer->process][peer->task] = true;
		}
	}
	fputs(HEAD, out);
	bool hosts = several_hosts(set);
	struct red_pair *red = NULL;
	size_t red_capacity = 0;
	for (size_t p = 0; p < n; p++) {
		const struct ai_snapshot *s = set->snapshots[p];
		/* The steps of the cycles across processes that stay in this one. */
		size_t red_count = 0;
		for (size_t d = 0; d < set->deadlock_count; d++) {
			const struct ai_cross_deadlock *dl = &set->deadlocks[d];
			for (size_t k = 0; k < dl->count; k++) {
				const struct ai_cross_step *st = &dl->steps[k], *next = &dl->steps[(k + 1) % dl->count];
				if (st->process != p || st->via_peer || next->process != p)
					continue;
				AI_GROW(red, red_capacity, red_count + 1);
				red[red_count++] = (struct red_pair){ st->task, next->task };
			}
		}
		char prefix[48], label[128];
		node_prefix(set, p, prefix, sizeof(prefix));
		snprintf(label, sizeof(label), "[pid %d %s] ", (int)s->pid, ai_process_command(s));
		/* cluster_p812_ from the prefix p812_: one cluster per dump even when pids repeat. */
		fprintf(out, "  subgraph cluster_%.*s {\n  label=\"pid %d ", (int)strlen(prefix) - 1, prefix, (int)s->pid);
		print_escaped(out, ai_process_command(s));
		if (hosts && s->host) {
			fputs(" on ", out);
			print_escaped(out, s->host);
		}
		fputs("\";\n", out);
		print_body(out, &(struct body){ .s = s, .prefix = prefix, .label = label, .shown = shown[p],
						.red = red, .red_count = red_count }, &graphs[p]);
		fputs("  }\n", out);
	}
	/* The socket edges: to the task at the other end, or to a process outside the set. */
	size_t outside = 0;
	for (size_t p = 0; p < n; p++) {
		const struct ai_snapshot *s = set->snapshots[p];
		for (size_t i = 0; i < s->task_count; i++) {
			const struct ai_wait *w = s->tasks[i].wait;
			const struct ai_peer *peer = w ? w->peer : NULL;
			if (!peer)
				continue;
			char label[96], from[48], to[48];
			node_prefix(set, p, from, sizeof(from));
			snprintf(label, sizeof(label), "%s the socket's other end",
				 w->direction && strcmp(w->direction, "write") == 0 ? "writes to" : "reads from");
			if (peer->outside) {
				fprintf(out, "  x%zu [shape=ellipse, label=\"pid %d (", outside, (int)peer->pid);
				print_escaped(out, peer->command ? peer->command : "?");
				fputs("), not inspected\"];\n", out);
				fprintf(out, "  %st%zu -> x%zu [label=\"%s\"];\n", from, i, outside++, label);
			} else if (peer->has_task && peer->process < n &&
				   peer->task < set->snapshots[peer->process]->task_count) {
				node_prefix(set, peer->process, to, sizeof(to));
				fprintf(out, "  %st%zu -> %st%zu [label=\"%s\"%s];\n", from, i, to, peer->task, label,
					on_cross_cycle(set, p, i) ? ", color=red, fontcolor=red, penwidth=2" : "");
			}
		}
	}
	fputs("}\n", out);
	for (size_t p = 0; p < n; p++) {
		free(graphs[p].res);
		free(shown[p]);
	}
	free(graphs);
	free(shown);
	free(red);
}
