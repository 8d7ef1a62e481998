/* The HTTP side of the `serve` tests (serve_http.c). */
#ifndef AI_TESTS_SERVE_HTTP_H
#define AI_TESTS_SERVE_HTTP_H

#include <jansson.h>
#include <stdio.h>

#include "support.h"

/* A running `serve`: its process, the port and token of the URL it printed. */
struct server {
	struct tool_process process;
	int port;
	char token[64];
	char *url;
};

/* Reads the one line serve prints: http://127.0.0.1:P/?token=T. */
void read_url(struct server *s, FILE *out);
/* Starts the tool with args (["serve", ...]) and reads its URL. */
void serve_start(struct server *s, const char *const *args);
/* SIGINT, as Ctrl-C: it must end with status 0. */
void serve_stop(struct server *s);
/* Sends request as is and returns everything the server answered before closing. */
char *http_raw(int port, const char *request);
/* GET path with Host 127.0.0.1:P and the extra header lines (each ending in \r\n). */
char *http_get(const struct server *s, const char *method, const char *path, const char *headers);
int status_of(const char *response);
/* The value of a response header (a copy), or NULL. */
char *header_of(const char *response, const char *name);
const char *body_of(const char *response);
/* GET path with the token: its JSON document (200 and application/json asserted). */
json_t *get_json(const struct server *s, const char *path);
/* /api/events until `count` events have come whole (HTTP/1.0): the response so far. */
char *read_events(const struct server *s, const char *headers, int count);
/* The node named `name` under a flamegraph node (depth first), or NULL. */
json_t *flame_find(json_t *node, const char *name);
/* Runs tests/integration/NAME (a Selenium script) with python3 and args after the tool: expects
 * exit 0, skips the test on 77 (no chromium, chromedriver or selenium), saying why. */
void run_browser_script(const char *name, const char *const *args);

#endif
