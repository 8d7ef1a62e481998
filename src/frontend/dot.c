/* `dump --graph dot`: the wait-for graph as Graphviz DOT (see include/ai/frontend.h). */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "ai/frontend.h"
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

/* Is task i's wait edge (or, with held or unpolled, the edge from that resource to task i) on a
 * deadlock cycle? */
static bool in_deadlock(const struct ai_snapshot *s, size_t from, size_t to, const void *held, bool wait_edge)
{
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
	return false;
}

static void print_edge(FILE *out, const char *from, size_t fi, const char *to, size_t ti, const char *label,
		       bool red)
{
	fprintf(out, "  %s%zu -> %s%zu [label=\"%s\"%s];\n", from, fi, to, ti, label,
		red ? ", color=red, fontcolor=red, penwidth=2" : "");
}

void ai_print_graph_dot(FILE *out, const struct ai_snapshot *s)
{
	struct graph g = { 0 };
	bool *shown = xcalloc(s->task_count ? s->task_count : 1, sizeof(*shown));
	/* Resources and the tasks that take part in an edge. */
	for (size_t i = 0; i < s->task_count; i++) {
		const struct ai_snapshot_task *t = &s->tasks[i];
		if (t->wait && is_resource(t->wait->kind) && wait_key(t->wait)) {
			resource_index(&g, wait_key(t->wait), t->wait->resource_type, t->wait->address);
			shown[i] = true;
		}
		for (size_t k = 0; k < t->held_count; k++) {
			resource_index(&g, held_key(&t->held[k]), t->held[k].resource_type, t->held[k].address);
			shown[i] = true;
		}
		for (size_t k = 0; k < t->unpolled_count; k++) {
			resource_index(&g, t->unpolled[k].semaphore, t->unpolled[k].resource_type, t->unpolled[k].address);
			shown[i] = true;
		}
		if (t->wait && strcmp(t->wait->kind, "join") == 0) {
			shown[i] = true;
			for (size_t j = 0; j < s->task_count; j++)
				shown[j] |= strcmp(s->tasks[j].kind, "task") == 0 && s->tasks[j].address == t->wait->address;
		}
	}
	fputs("digraph wait_for {\n  rankdir=LR;\n  node [fontname=\"monospace\"];\n", out);
	for (size_t i = 0; i < s->task_count; i++) {
		const struct ai_snapshot_task *t = &s->tasks[i];
		if (!shown[i])
			continue;
		fprintf(out, "  t%zu [shape=box, label=\"", i);
		if (t->has_id)
			fprintf(out, "Task %" PRIu64 " ", t->id);
		else
			fprintf(out, "%s ", t->kind);
		print_escaped(out, t->future ? t->future : "?");
		fputs("\"];\n", out);
	}
	for (size_t r = 0; r < g.count; r++) {
		fprintf(out, "  r%zu [shape=ellipse, label=\"", r);
		print_escaped(out, g.res[r].type ? g.res[r].type : "?");
		fprintf(out, " @ 0x%" PRIx64 "\"];\n", g.res[r].address);
	}
	for (size_t i = 0; i < s->task_count; i++) {
		const struct ai_snapshot_task *t = &s->tasks[i];
		const struct ai_wait *w = t->wait;
		if (w && is_resource(w->kind) && wait_key(w)) {
			size_t r = resource_index(&g, wait_key(w), w->resource_type, w->address);
			const char *label = is_lock(w->kind) ? "waits for" : strcmp(w->kind, "mpsc_send") == 0 ? "sends on"
					  : strcmp(w->kind, "notify") == 0 ? "notified by" : "receives on";
			print_edge(out, "t", i, "r", r, label, in_deadlock(s, i, 0, NULL, true));
		}
		if (w && strcmp(w->kind, "join") == 0) {
			for (size_t j = 0; j < s->task_count; j++) {
				if (strcmp(s->tasks[j].kind, "task") == 0 && s->tasks[j].address == w->address)
					print_edge(out, "t", i, "t", j, "awaits join", in_deadlock(s, i, j, NULL, true));
			}
		}
		for (size_t k = 0; k < t->held_count; k++) {
			const struct ai_held *h = &t->held[k];
			size_t r = resource_index(&g, held_key(h), h->resource_type, h->address);
			print_edge(out, "r", r, "t", i, h->semaphore ? "held by" : "sender held by", in_deadlock(s, 0, i, h, false));
		}
		for (size_t k = 0; k < t->unpolled_count; k++) {
			const struct ai_unpolled *u = &t->unpolled[k];
			size_t r = resource_index(&g, u->semaphore, u->resource_type, u->address);
			char label[160];
			snprintf(label, sizeof(label), "granted to unpolled `%s`", u->local ? u->local : "?");
			fprintf(out, "  r%zu -> t%zu [label=\"", r, i);
			print_escaped(out, label);
			fprintf(out, "\"%s];\n", in_deadlock(s, 0, i, u, false) ? ", color=red, fontcolor=red, penwidth=2" : "");
		}
	}
	fputs("}\n", out);
	free(g.res);
	free(shown);
}
