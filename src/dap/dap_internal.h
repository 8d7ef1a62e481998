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
/* Launches it under ptrace (ai_target_launch) in its cwd with its environment added to ours, its
 * stdin /dev/null, its stdout and stderr pipes whose read ends are returned (close-on-exec). */
struct ai_error *dap_launch_program(const struct dap_launch *launch, struct ai_target **target_ret,
				    int *stdout_ret, int *stderr_ret);

#endif
