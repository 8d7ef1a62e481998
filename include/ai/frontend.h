/* Frontends: a snapshot printed for people (text) or programs (JSON). They see only snapshots. */
#ifndef AI_FRONTEND_H
#define AI_FRONTEND_H

#include <stdbool.h>
#include <stdio.h>

#include "ai/snapshot.h"

struct ai_text_options {
	bool color;
	bool locals; /* dump: print saved locals and arguments */
};

/* The `threads` view: every thread with its native stack, then a summary line. */
void ai_print_threads_text(FILE *out, const struct ai_snapshot *snapshot,
			   const struct ai_text_options *options);
/* The same as one JSON document (docs/json-format.md). Returns 0, or -1 if writing failed. */
int ai_print_threads_json(FILE *out, const struct ai_snapshot *snapshot);
/* The "threads" array of the JSON formats, for other documents that embed it (a json_t *). */
struct json_t;
struct json_t *ai_threads_json(const struct ai_snapshot *snapshot);

/* The `dump` view: warnings, every task as an await tree, then a summary line. */
void ai_print_dump_text(FILE *out, const struct ai_snapshot *snapshot, const struct ai_text_options *options);
/* The same as the versioned JSON document "async-inspect-snapshot" (docs/json-format.md). */
int ai_print_dump_json(FILE *out, const struct ai_snapshot *snapshot);
/* That document as a json_t * (a new reference), e.g. to write it as one JSON line. */
struct json_t *ai_dump_json(const struct ai_snapshot *snapshot);

/* `dump --graph dot`: the wait-for graph as Graphviz DOT. Nodes: tasks in an edge (t<index>,
 * boxes "Task N fn") and resources (r<index>, ellipses "Mutex<T> @ 0x..."; locks keyed by their
 * batch semaphore). Edges: task -> lock "waits for", lock -> task "held by", task -> task
 * "awaits join", task -> channel "receives on"/"sends on", task -> Notify "notified by". Edges of a
 * deadlock cycle are red. */
void ai_print_graph_dot(FILE *out, const struct ai_snapshot *snapshot);

/* A source path shortened for reading: crates from the cargo registry become "tokio-1.24.2/src/..",
 * the standard library "std/src/...". Returns a pointer into path. */
const char *ai_short_path(const char *path);

#endif
