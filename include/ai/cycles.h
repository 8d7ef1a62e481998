/* The cycles of a directed graph, for the analyses (src/analysis/cycles.c): one iterative search
 * that the wait-for graph of a snapshot (deadlock.c) and the joined graphs of several processes
 * (peers.c) share. */
#ifndef AI_CYCLES_H
#define AI_CYCLES_H

#include <stddef.h>

/* n nodes; node u has out_count[u] edges, and its edge k goes to node to(ctx, u, k). */
struct ai_cycle_graph {
	size_t n;
	const size_t *out_count; /* borrowed */
	size_t (*to)(void *ctx, size_t u, size_t k);
	void *ctx;
};

/* One cycle: nodes[i] -> nodes[(i + 1) % len] through edge edges[i] of nodes[i]. Both arrays are
 * borrowed for the call only. */
typedef void ai_cycle_found_fn(void *ctx, const size_t *nodes, const size_t *edges, size_t len);

/* Depth-first search from every unvisited node with edges, in index order, with an explicit stack
 * (a chain of 100,000 tasks must not overflow ours): every back edge to a node on the current path
 * closes a cycle, reported to found(ctx, ...). The same set of nodes can be reported more than
 * once (through different edges): callers that want each set once say so themselves. */
void ai_find_cycles(const struct ai_cycle_graph *graph, ai_cycle_found_fn *found, void *ctx);

#endif
