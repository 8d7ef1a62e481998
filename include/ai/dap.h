/* The Debug Adapter Protocol server (`async-inspect dap`): editors (VS Code, nvim-dap, Helix, Zed,
 * Emacs) see every task as a thread, its await chain as its stack and its saved locals as
 * variables. It is a frontend: it reads snapshots (include/ai/snapshot.h) and drives the target
 * only through capture and target, as `attach` does.
 *
 *   protocol.c     Content-Length framing of JSON messages over a pair of fds
 *   session.c      the requests and events, the target's life (attach, launch, core, pause,
 *                  continue, disconnect, terminate)
 *   launch.c       a launched program's cwd, environment and stdio (its output becomes events)
 *   breakpoints.c  the editor's source breakpoints as async breakpoints (src/breakpoint), and
 *                  the int3s that `next` follows a task with
 *   model.c        what the editor sees of one snapshot: threads, frames, scopes, variables, with
 *                  thread ids that stay the same across snapshots
 *   value_tree.c   a local's structured value (the printer's JSON) as parts for lazy expansion,
 *                  and the summary text of each part
 */
#ifndef AI_DAP_H
#define AI_DAP_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "ai/error.h"
#include "ai/snapshot.h"

/* Serves one session over in_fd / out_fd (borrowed) until the client disconnects or closes its
 * end; the target is detached (or, if launched and the client asks, killed) before it returns. */
struct ai_error *ai_dap_serve(int in_fd, int out_fd);

/* ---- The model of one snapshot (model.c) ---- */

/* Thread ids by identity (a task's runtime and id, a block_on root's thread and future, an OS
 * thread's tid), kept from one snapshot to the next so that the editor's selection stays. */
struct ai_dap_ids;
struct ai_dap_ids *ai_dap_ids_create(void);
void ai_dap_ids_destroy(struct ai_dap_ids *ids);

struct ai_dap_model;
/* The model of snapshot (borrowed: it must outlive the model); ids are assigned from and into
 * `ids` (borrowed). */
struct ai_dap_model *ai_dap_model_create(const struct ai_snapshot *snapshot, struct ai_dap_ids *ids);
void ai_dap_model_destroy(struct ai_dap_model *model);

/* The bodies of the responses, as new JSON objects; NULL with *message_ret set (static text)
 * when an id is not known in this snapshot. */
json_t *ai_dap_model_threads(struct ai_dap_model *model);
json_t *ai_dap_model_stack_trace(struct ai_dap_model *model, json_int_t thread_id, json_int_t start,
				 json_int_t levels, const char **message_ret);
json_t *ai_dap_model_scopes(struct ai_dap_model *model, json_int_t frame_id, const char **message_ret);
/* variables: filter is the request's ("named", "indexed") or NULL for all; start and count page
 * over what the filter keeps. */
json_t *ai_dap_model_variables(struct ai_dap_model *model, json_int_t reference, const char *filter,
			       json_int_t start, json_int_t count, const char **message_ret);
/* The thread id the editor should show first after a stop: the first task's, else the first
 * thread's; 0 when there is none. */
json_int_t ai_dap_model_first_thread(const struct ai_dap_model *model);
/* The thread id of a task of the snapshot (0 if it is not one); the task of a thread id (NULL
 * for an OS thread or an unknown id); the task and await node of a frame id (false if unknown;
 * *node_ret NULL for a frame that is not an await frame). For breakpoints, next and evaluate. */
json_int_t ai_dap_model_task_thread(const struct ai_dap_model *model, const struct ai_snapshot_task *task);
const struct ai_snapshot_task *ai_dap_model_thread_task(const struct ai_dap_model *model, json_int_t thread_id);
bool ai_dap_model_frame(const struct ai_dap_model *model, json_int_t frame_id,
			const struct ai_snapshot_task **task_ret, const struct ai_await_node **node_ret);
/* The body of an evaluate response whose value is text: {result, variablesReference}; when the
 * expression is a local of node (may be NULL) or a path into it, the reference expands it into its
 * parts as the local's does. */
json_t *ai_dap_model_evaluate_body(struct ai_dap_model *model, const struct ai_await_node *node,
				  const char *expression, const char *text);
/* The body of the asyncInspect/deadlock event: the snapshot's wait-for cycles with the thread
 * ids of their tasks; NULL when there is none. */
json_t *ai_dap_model_deadlocks(struct ai_dap_model *model);

/* ---- Structured values (value_tree.c) ---- */

/* A local's structured value (its `structured` JSON, docs/json-format.md) as the editor's tree.
 * A part is a field (by name; a tuple's by index), a list's item (`[2]`, indexed), a map's entry
 * (named by its key), a pointer's or Arc's target (`*`), or a plain fact (`len`, `strong`): value
 * is the part's JSON (borrowed from the value; NULL for a fact, whose text is set). */
struct ai_dap_value_part {
	char *name;            /* owned */
	const json_t *value;   /* or NULL */
	char *text;            /* owned, or NULL (then the text is ai_dap_value_text(value)) */
	bool indexed;
};
struct ai_dap_value_parts {
	struct ai_dap_value_part *parts; /* the named ones first, then the indexed ones */
	size_t count, capacity, named, indexed;
};

/* The summary of a structured value in the value printer's syntax (`Config { name: "a", .. }`,
 * `[1, 2, … (1000 items)]`, `<moved>`), cut at 1024 bytes: a new string. */
char *ai_dap_value_text(const json_t *value);
/* The parts value expands into (none for a scalar, a string, a value that is not there); free
 * them with ai_dap_value_parts_free. */
void ai_dap_value_parts_of(const json_t *value, struct ai_dap_value_parts *parts);
void ai_dap_value_parts_free(struct ai_dap_value_parts *parts);
/* The part of value at path (`owner`, `.cfg.name`, `[2]`, `0`: fields and items, through
 * pointers, Arcs and wrappers), or NULL; an empty path is value itself. */
const json_t *ai_dap_value_find(const json_t *value, const char *path);

#endif
