/* The cycles of a directed graph by depth-first search with an explicit stack (ai/cycles.h). */
#include "ai/cycles.h"

#include <stdlib.h>

#include "ai/util.h"

struct search {
	const struct ai_cycle_graph *g;
	unsigned char *color;   /* 0 white, 1 on the path, 2 done */
	size_t *path;           /* nodes on the current path */
	size_t *next;           /* next[k]: the next edge of path[k] to follow */
	size_t *pos;            /* pos[node]: its index in path while on it */
	size_t *edges;          /* scratch: the edges of a cycle found */
	size_t len;
};

static void push(struct search *s, size_t u)
{
	s->path[s->len] = u;
	s->next[s->len] = 0;
	s->pos[u] = s->len++;
	s->color[u] = 1;
}

static void search_from(struct search *s, size_t root, ai_cycle_found_fn *found, void *ctx)
{
	s->len = 0;
	push(s, root);
	while (s->len > 0) {
		size_t u = s->path[s->len - 1];
		if (s->next[s->len - 1] == s->g->out_count[u]) {
			s->color[u] = 2;
			s->len--;
			continue;
		}
		size_t to = s->g->to(s->g->ctx, u, s->next[s->len - 1]++);
		if (s->color[to] == 1) {
			/* The cycle path[from..len): the edge taken from each is the one before its
			 * next[] cursor, the closing one included. */
			size_t from = s->pos[to];
			for (size_t i = from; i < s->len; i++)
				s->edges[i - from] = s->next[i] - 1;
			found(ctx, s->path + from, s->edges, s->len - from);
		} else if (s->color[to] == 0) {
			push(s, to);
		}
	}
}

void ai_find_cycles(const struct ai_cycle_graph *graph, ai_cycle_found_fn *found, void *ctx)
{
	size_t n = graph->n ? graph->n : 1;
	struct search s = { .g = graph };
	s.color = xcalloc(n, 1);
	s.path = xcalloc(n, sizeof(*s.path));
	s.next = xcalloc(n, sizeof(*s.next));
	s.pos = xcalloc(n, sizeof(*s.pos));
	s.edges = xcalloc(n, sizeof(*s.edges));
	for (size_t i = 0; i < graph->n; i++) {
		if (s.color[i] == 0 && graph->out_count[i])
			search_from(&s, i, found, ctx);
	}
	free(s.color);
	free(s.path);
	free(s.next);
	free(s.pos);
	free(s.edges);
}
