/* Frontends: a snapshot printed for people (text) or programs (JSON). They see only snapshots. */
#ifndef AI_FRONTEND_H
#define AI_FRONTEND_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "ai/error.h"
#include "ai/snapshot.h"

struct ai_text_options {
	bool color;
	bool locals; /* dump: print saved locals and arguments */
	bool full_values; /* --full-values: no value cut to fit a line (else lines stay in 160 columns) */
	const char *process; /* several processes: every task's label, "pid 2311 server" (borrowed), or NULL */
};

/* The `threads` view: every thread with its native stack, then a summary line. */
void ai_print_threads_text(FILE *out, const struct ai_snapshot *snapshot,
			   const struct ai_text_options *options);
/* The same as one JSON document (docs/json-format.md), indented. Returns 0, or -1 if writing
 * failed. */
int ai_print_threads_json(FILE *out, const struct ai_snapshot *snapshot);

/* The `dump` view: warnings, every task as an await tree, then a summary line. */
void ai_print_dump_text(FILE *out, const struct ai_snapshot *snapshot, const struct ai_text_options *options);
/* One task of the dump view: its header line and await tree (breakpoint hits). */
void ai_print_task_text(FILE *out, const struct ai_snapshot *snapshot, const struct ai_snapshot_task *task,
			const struct ai_text_options *options);
/* The same as the versioned JSON document "async-inspect-snapshot" (docs/json-format.md),
 * streamed as it is written (no document tree in memory): compact on one line, or indented for
 * people with `pretty`; then a newline. Returns 0, or -1 if writing failed. */
int ai_print_dump_json(FILE *out, const struct ai_snapshot *snapshot, bool pretty);
/* That document as the next value of a JSON writer (e.g. inside a larger document). */
struct ai_json_writer;
void ai_write_dump_json(struct ai_json_writer *writer, const struct ai_snapshot *snapshot);
/* One task object of that document ("tasks" items) as the next value of a JSON writer. */
void ai_write_task_json(struct ai_json_writer *writer, const struct ai_snapshot_task *task);
/* The "runtimes" and "warnings" members of that document (key and array) into the open object of a
 * writer, for documents that carry the snapshot's header (serve's /api/tasks). */
void ai_write_runtimes_json(struct ai_json_writer *writer, const struct ai_snapshot *snapshot);
void ai_write_warnings_json(struct ai_json_writer *writer, const struct ai_snapshot *snapshot);
/* That document as a json_t * (a new reference), for code that edits it before writing it (test's
 * --trace) and for tests: written, then parsed by jansson, so it is exactly what is printed. */
struct json_t;
struct json_t *ai_dump_json(const struct ai_snapshot *snapshot);

/* Appends the dump document to `out` as one line (a recording, --record) and flushes it. Returns 0,
 * or -1 if writing failed. */
int ai_write_dump_json_line(FILE *out, const struct ai_snapshot *snapshot);

/* Reads an "async-inspect-snapshot" document (version 1) back into a snapshot: everything
 * ai_dump_json writes; unknown keys are ignored. A wrong type or a dangling reference is an
 * AI_ERROR_INVALID_ARGUMENT naming the key path. (json_read.c) */
struct ai_error *ai_snapshot_from_json(const struct json_t *root, struct ai_snapshot **ret);

/* A recording: one snapshot document per line, as --record writes it. */
struct ai_recording_reader;
struct ai_error *ai_recording_open(const char *path, struct ai_recording_reader **ret);
void ai_recording_close(struct ai_recording_reader *rec);
/* The next snapshot, or *snapshot_ret NULL at the end. A last line cut short (a recorder that
 * died mid-write) ends the recording with *warning_ret saying so (owned by the caller); any other
 * bad line is an error "FILE:LINE: ...". Blank lines are skipped. */
struct ai_error *ai_recording_next(struct ai_recording_reader *rec, struct ai_snapshot **snapshot_ret,
				   char **warning_ret);
/* The line number of the last line read. */
unsigned long ai_recording_line(const struct ai_recording_reader *rec);

/* `dump --graph dot`: the wait-for graph as Graphviz DOT. Nodes: tasks in an edge (t<index>,
 * boxes "Task N fn") and resources (r<index>, ellipses "Mutex<T> @ 0x..."; locks keyed by their
 * batch semaphore). Edges: task -> lock "waits for", lock -> task "held by", task -> task
 * "awaits join", task -> channel "receives on"/"sends on", task -> Notify "notified by". Edges of a
 * deadlock cycle are red. */
void ai_print_graph_dot(FILE *out, const struct ai_snapshot *snapshot);
/* The wait-for graph over several processes (ai/peers.h, after ai_analysis_peers): each process
 * a `subgraph cluster_p<pid>` of its own graph, node ids prefixed `p<pid>_` (p812_t3, p812_r0;
 * `p<pid>_<index>_` when dumps of several hosts share a pid, as merge may join), its label
 * "pid N command" (with " on HOST" when the dumps come from several hosts) and task labels by
 * "[pid N command] "; then the socket edges, task -> the task at the other end
 * ("reads from the socket's other end" / "writes to ...", red on a cycle across processes) or
 * task -> x<k>, an ellipse "pid N (command), not inspected". A cycle across processes reddens its
 * edges inside each process too. */
struct ai_process_set;
void ai_print_processes_graph_dot(FILE *out, const struct ai_process_set *set);

/* Several processes (dump --pid A --pid B, merge: ai/peers.h): each process's dump with its tasks
 * labelled by pid and command, then the socket links and the cycles through them. JSON: the
 * document "async-inspect-processes" (docs/json-format.md), one snapshot document per process.
 * (src/frontend/processes.c) */
struct ai_process_set;
void ai_print_processes_text(FILE *out, const struct ai_process_set *set, const struct ai_text_options *options);
int ai_print_processes_json(FILE *out, const struct ai_process_set *set, bool pretty);

/* OTLP/JSON (src/frontend/otlp.c): the snapshots of set as one ExportTraceServiceRequest of
 * opentelemetry-proto, one trace (trace_id) for the whole set, a resourceSpans per process, a span
 * per task with a child span per await-tree node (docs/json-format.md, "OTLP"). version: the
 * tool's, for the instrumentation scope. set may hold a single snapshot and no links. */
struct ai_json_writer;
void ai_write_otlp_json(struct ai_json_writer *writer, const struct ai_process_set *set, const uint8_t trace_id[16],
			const char *version);

/* A source path shortened for reading: crates from the cargo registry become "tokio-1.24.2/src/..",
 * the standard library "std/src/...". Returns a pointer into path. */
const char *ai_short_path(const char *path);

#endif
