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
 *   value_parse.c  the parts of a value summary (`Account { id: 3, .. }`), for lazy expansion
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
json_t *ai_dap_model_variables(struct ai_dap_model *model, json_int_t reference, json_int_t start,
			       json_int_t count, const char **message_ret);
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
/* The body of an evaluate response for a value summary: {result, variablesReference}, the
 * reference expanding it into its parts as a local's does. */
json_t *ai_dap_model_evaluate_body(struct ai_dap_model *model, const char *text);
/* The body of the asyncInspect/deadlock event: the snapshot's wait-for cycles with the thread
 * ids of their tasks; NULL when there is none. */
json_t *ai_dap_model_deadlocks(struct ai_dap_model *model);

/* ---- Value summaries (value_parse.c) ---- */

/* One part of a value printed in Rust syntax: a field (`id`), a map entry's key, or, when name is
 * NULL, the index-th element of a list (`[2]`, bracket set) or field of a tuple (`0`). Pointers
 * are into the parsed text. */
struct ai_dap_value_part {
	const char *name;
	size_t name_len;
	size_t index;
	bool bracket;
	const char *value;
	size_t value_len;
};

/* Splits the summary `text` (as ai_value_format prints it) into its parts: a struct's fields,
 * a tuple's or tuple variant's fields, a list's elements, a map's entries. Returns how many
 * (at most max written to parts); 0 for a scalar, a string, a value cut short (`Name {..}`) or
 * text that is not understood. The count may pass max: only max are written. */
size_t ai_dap_value_parts(const char *text, struct ai_dap_value_part *parts, size_t max);

#endif
