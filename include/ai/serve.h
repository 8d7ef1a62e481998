/* `serve`: the web dashboard (src/serve). A frontend: it sees snapshots only, never the target.
 *
 * The sampling side (src/cli/cmd_serve.c, the thread that traced the target) builds the documents
 * of every endpoint from the live model and publishes them; libmicrohttpd's own threads answer
 * requests from the latest published set, holding the lock only to take a reference, so a slow
 * or vanished client never stalls sampling and no request reaches the target.
 *
 * Security (issue 16): loopback unless --bind says otherwise; a 128-bit token from getrandom on
 * every request (?token= once, then an HttpOnly SameSite=Strict cookie, or Authorization: Bearer),
 * compared in constant time; the Host header must name the bound address or localhost with our
 * port (DNS rebinding); GET and HEAD only; no CORS headers; a strict Content-Security-Policy. */
#ifndef AI_SERVE_H
#define AI_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ai/error.h"
#include "ai/live.h"

struct ai_live_profile;

struct ai_server_options {
	const char *bind; /* an IPv4 or IPv6 literal; NULL: 127.0.0.1 */
	uint16_t port;    /* 0: a free one */
};

struct ai_server;

/* Binds, draws the token and starts the server's threads (with every signal blocked in them, so
 * that Ctrl-C and SIGCHLD reach the sampling thread). Until the first ai_server_publish, the API
 * answers 503. */
struct ai_error *ai_server_start(const struct ai_server_options *options, struct ai_server **ret);
/* Ends the event streams, stops the threads (waiting for requests in flight) and frees
 * everything. NULL is a no-op. */
void ai_server_stop(struct ai_server *server);
/* "http://127.0.0.1:P/?token=TOKEN" (owned by the server). */
const char *ai_server_url(const struct ai_server *server);
uint16_t ai_server_port(const struct ai_server *server);
/* Whether the bound address is a loopback one. */
bool ai_server_is_loopback(const struct ai_server *server);

/* What the page's header shows beside the snapshot. */
struct ai_serve_status {
	const char *source;    /* "attach", "run" or "replay" */
	const char *state;     /* "running", "exited", "ended" (replay) or "error" */
	const char *message;   /* why sampling stopped or failed, or NULL */
	uint64_t interval_ms;
	bool has_process;      /* live->process was read (a live target) */
	/* serve --profile: its probes and CPU samples (/api/flamegraph), or NULL; then no_profile
	 * says why (NULL: --profile was not asked for) */
	const struct ai_live_profile *profile;
	const char *no_profile;
	/* serve --profile of several processes (ai_server_publish_set): per member of the set, its
	 * profile or NULL, and then why not (NULL: not tried yet); profiles NULL: no --profile */
	const struct ai_live_profile *const *profiles;
	const char *const *no_profiles;
};

/* Builds every document from the latest snapshot of live (and its tracking) and makes them the
 * ones requests get, and wakes the event streams (/api/events) that wait for a new snapshot:
 * each client's stream sends the latest one from libmicrohttpd's threads, so publishing never
 * waits for a client. Called by the sampling thread only. live may hold no snapshot yet. */
void ai_server_publish(struct ai_server *server, const struct ai_live *live, const struct ai_serve_status *status);

/* The same over several processes (serve --pid A --pid B): /api/snapshot is the
 * "async-inspect-processes" document of the latest sample, the table's rows say their process
 * (pid, process), its header counts by process (processes), each with its profile's state
 * (profiled, no_profile); /api/graph spans the processes; /api/flamegraph has a root frame per
 * process. */
void ai_server_publish_set(struct ai_server *server, const struct ai_live_set *set,
			   const struct ai_serve_status *status);

/* One row of the task table, as the next sample's `changes` document compares it. */
struct ai_serve_row {
	uint64_t address;   /* the task's: the key rows are matched by */
	uint64_t signature; /* a hash of what the row says, less what moves at every sample */
};

/* The task table of one sample: the `/api/tasks` document (docs/json-format.md,
 * "async-inspect-serve-tasks"): one summary line per task of the latest snapshot as the task
 * table shows it, and the header's facts; and the `changes` document from the previous sample's
 * table, with only the rows that changed ("async-inspect-serve-changes"). (tasks_json.c) */
struct ai_serve_tasks {
	char *json;     /* malloc'd, len bytes; the caller may take it (then set it NULL) */
	size_t len;
	char *changes;  /* malloc'd, changes_len bytes, or NULL when not possible from previous */
	size_t changes_len;
	struct ai_serve_row *rows;   /* by position in the snapshot */
	struct ai_serve_row *sorted; /* the same, by address */
	size_t count;
	size_t samples;              /* the live model's sample count */
	int64_t captured_at;
	bool has_snapshot;
	bool unique;                 /* no two tasks at one address */
};

/* previous may be NULL (then no changes document). */
void ai_serve_tasks_build(const struct ai_live *live, const struct ai_serve_status *status,
			  const struct ai_serve_tasks *previous, struct ai_serve_tasks *tasks);
/* The table of every process of the set, each row with its process. */
void ai_serve_tasks_build_set(const struct ai_live_set *set, const struct ai_serve_status *status,
			      const struct ai_serve_tasks *previous, struct ai_serve_tasks *tasks);
void ai_serve_tasks_release(struct ai_serve_tasks *tasks);

/* The embedded page (src/serve/web, turned into C at build time by src/serve/embed.sh). */
struct ai_web_file {
	const char *path;          /* "/app.js" */
	const char *content_type;
	const unsigned char *data;
	size_t len;
};
/* The file served at path, or NULL. "/" is the page. */
const struct ai_web_file *ai_web_file(const char *path);

/* The security checks and routes of one request, a pure function of its headers (route.c), so
 * that they are tested and fuzzed without a socket. What the server is: */
struct ai_serve_guard {
	const char *token;      /* the hex token (32 digits) */
	uint16_t port;
	const char *bound_host; /* "127.0.0.1:P" or "[::1]:P" */
	bool wildcard;          /* bound to 0.0.0.0 or :: */
};
/* What the request says; NULL for what it lacks. */
struct ai_serve_request {
	const char *method, *url;
	const char *host;          /* the Host header */
	const char *query_token;   /* ?token= */
	const char *cookie_token;  /* the value of our cookie */
	const char *authorization; /* the Authorization header */
};
enum ai_serve_route {
	AI_SERVE_FORBIDDEN,      /* 403: the Host header is not ours (DNS rebinding) */
	AI_SERVE_UNAUTHORIZED,   /* 401: no right token in the query, cookie or Bearer header */
	AI_SERVE_NOT_ALLOWED,    /* 405: not GET or HEAD */
	AI_SERVE_SNAPSHOT,       /* /api/snapshot */
	AI_SERVE_TASKS,          /* /api/tasks */
	AI_SERVE_GRAPH,          /* /api/graph */
	AI_SERVE_FLAMEGRAPH,     /* /api/flamegraph: serve --profile's CPU samples as a tree */
	AI_SERVE_EVENTS,         /* /api/events: the task table as Server-Sent Events */
	AI_SERVE_SOURCE,         /* /api/source?file=PATH: a file the snapshot's await trees name */
	AI_SERVE_FILE,           /* a file of the page: `file` */
	AI_SERVE_NOT_FOUND,      /* 404 */
};
struct ai_serve_decision {
	enum ai_serve_route route;
	const struct ai_web_file *file; /* AI_SERVE_FILE */
	bool set_cookie;                /* the token came in the query: send it back as our cookie */
};
struct ai_serve_decision ai_serve_route(const struct ai_serve_guard *guard, const struct ai_serve_request *request);

#endif
