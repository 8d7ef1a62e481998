/* What the files of src/dap share: the connection (protocol.c) and the launch (launch.c). */
#ifndef AI_DAP_INTERNAL_H
#define AI_DAP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "ai/error.h"
#include "ai/target.h"

/* One client: JSON messages framed by a `Content-Length: N` header and an empty line. */
struct dap_conn {
	int in_fd, out_fd;   /* borrowed */
	char *buf;           /* owned: bytes read and not yet parsed */
	size_t len, cap;
	json_int_t seq;      /* of the last message we sent */
	bool eof;            /* the client closed its end */
};

void dap_conn_init(struct dap_conn *conn, int in_fd, int out_fd);
void dap_conn_deinit(struct dap_conn *conn);
/* Reads what in_fd holds now (one read; it is readable); sets eof at its end. */
struct ai_error *dap_conn_fill(struct dap_conn *conn);
/* The next whole message already read, or NULL in *ret when there is none yet. A header or a
 * body that is not a JSON object is an error: the stream cannot be trusted after it. */
struct ai_error *dap_conn_next(struct dap_conn *conn, json_t **ret);
/* Sends msg (stolen) with the next seq. */
struct ai_error *dap_send(struct dap_conn *conn, json_t *msg);
/* A response to request: success with body (stolen, may be NULL), or failure with message. */
struct ai_error *dap_respond(struct dap_conn *conn, const json_t *request, json_t *body);
struct ai_error *dap_respond_error(struct dap_conn *conn, const json_t *request, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
struct ai_error *dap_event(struct dap_conn *conn, const char *event, json_t *body);

/* A program to launch: what the launch request said. */
struct dap_launch {
	const char *program;      /* borrowed from the request */
	const char *const *args;  /* argv with program first, NULL-terminated (borrowed) */
	const char *cwd;          /* or NULL */
	json_t *env;              /* an object of NAME: value (or null: unset), or NULL (borrowed) */
};
/* Launches it under ptrace, stopped at its exec (ai_target_launch_stopped), in its cwd with its environment added to ours, its
 * stdin /dev/null, its stdout and stderr pipes whose read ends are returned (close-on-exec). */
struct ai_error *dap_launch_program(const struct dap_launch *launch, struct ai_target **target_ret,
				    int *stdout_ret, int *stderr_ret);

/* Breakpoints (breakpoints.c): the editor's source breakpoints as async breakpoints, and the
 * int3s of `next`. */
struct dap_breakpoints;
struct ai_break_cond;
struct ai_break_site;
struct ai_await_node;
struct dap_breakpoints *dap_breakpoints_create(void);
void dap_breakpoints_destroy(struct dap_breakpoints *b);
/* setBreakpoints of one source (args: the request's arguments): the response's body. Resolved
 * against the target's DWARF when there is one, written in at once. */
json_t *dap_breakpoints_set(struct dap_breakpoints *b, const json_t *args);
/* The program is there (attach, launch; borrowed) or gone (NULL): every breakpoint is resolved
 * again and written in; returns the breakpoints as `breakpoint` event bodies' "breakpoint"s. */
json_t *dap_breakpoints_set_target(struct dap_breakpoints *b, struct ai_target *target);
/* What the target's breakpoint stop (target->hit_*) is. */
struct dap_hit {
	json_int_t id;                    /* the editor's breakpoint whose state it is in, or 0 */
	const struct ai_break_cond *cond; /* its condition, or NULL */
	bool *warned;                     /* its condition was said to be unknown once */
	const char *spec_text;
	bool step;                        /* a park of the task `next` follows */
	uint64_t env;                     /* the coroutine */
	const struct ai_break_site *site;
};
/* False: no breakpoint of ours is in its state there (not a hit). */
bool dap_breakpoints_match(struct dap_breakpoints *b, struct dap_hit *ret);
/* next: int3s at every .await of coroutine (a node of the task's tree, its outer coroutine) that
 * count when that coroutine (by address) parks there. *note_ret (owned) says which awaits were
 * not found, or is NULL. */
struct ai_error *dap_breakpoints_step(struct dap_breakpoints *b, const struct ai_await_node *coroutine,
				      char **note_ret);
void dap_breakpoints_step_end(struct dap_breakpoints *b);
bool dap_breakpoints_stepping(const struct dap_breakpoints *b);

#endif
