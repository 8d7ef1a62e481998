/* End-to-end tests of `serve`: the real binary on a tokio fixture, spoken to in raw HTTP over a
 * socket, as a browser (or an attacker's page) would. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ai/util.h"
#include "json_tree.h"
#include "serve_http.h"
#include "support.h"

#define CRATE "tokio-1.54"

static void expect_security_headers(const char *response)
{
	char *csp = header_of(response, "Content-Security-Policy");
	cr_expect(csp && strstr(csp, "default-src 'none'") && strstr(csp, "script-src 'self'") &&
			  !strstr(csp, "unsafe-inline") && !strstr(csp, "unsafe-eval"),
		  "CSP: %s", csp ? csp : "(none)");
	char *nosniff = header_of(response, "X-Content-Type-Options");
	cr_expect(nosniff && strcmp(nosniff, "nosniff") == 0, "%s", response);
	char *cors = header_of(response, "Access-Control-Allow-Origin");
	cr_expect_null(cors, "no CORS: %s", cors);
	free(csp);
	free(nosniff);
	free(cors);
}

static char *pid_text(pid_t pid)
{
	return xasprintf("%d", (int)pid);
}

/* Whether /proc/net/tcp has a listening socket on 127.0.0.1:port (and none on another address). */
static bool listens_on_loopback_only(int port)
{
	char *text = ai_read_small_file("/proc/net/tcp", NULL);
	cr_assert(text);
	char suffix[16];
	snprintf(suffix, sizeof(suffix), ":%04X", port);
	bool loopback = false, other = false;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		char local[64];
		unsigned state;
		if (sscanf(line, " %*d: %63s %*s %x", local, &state) != 2 || state != 0x0A)
			continue;
		char *colon = strchr(local, ':');
		if (!colon || strcmp(colon, suffix) != 0)
			continue;
		if (strncmp(local, "0100007F", 8) == 0)
			loopback = true;
		else
			other = true;
	}
	free(text);
	return loopback && !other;
}

Test(serve, token_host_methods_and_headers)
{
	struct fixture f;
	fixture_start(&f, CRATE, "deadlock_abba", NULL);
	char *pid = pid_text(f.pid);
	struct server s;
	serve_start(&s, (const char *[]){ "serve", "--pid", pid, "--interval", "200ms", NULL });
	cr_expect(listens_on_loopback_only(s.port), "bound to 127.0.0.1:%d only", s.port);

	/* No token: 401, with the security headers all the same. */
	char *r = http_get(&s, "GET", "/", NULL);
	cr_expect_eq(status_of(r), 401, "%s", r);
	expect_security_headers(r);
	free(r);
	r = http_get(&s, "GET", "/api/snapshot", NULL);
	cr_expect_eq(status_of(r), 401, "%s", r);
	free(r);
	r = http_get(&s, "GET", "/?token=00000000000000000000000000000000", NULL);
	cr_expect_eq(status_of(r), 401, "a wrong token: %s", r);
	free(r);
	char *bad_bearer = xasprintf("Authorization: Bearer %.31s\r\n", s.token);
	r = http_get(&s, "GET", "/api/tasks", bad_bearer);
	cr_expect_eq(status_of(r), 401, "a token cut short: %s", r);
	free(r);
	free(bad_bearer);

	/* The first load: the token in the query, answered with the page and the cookie. */
	char *path = xasprintf("/?token=%s", s.token);
	r = http_get(&s, "GET", path, NULL);
	cr_expect_eq(status_of(r), 200, "%s", r);
	expect_security_headers(r);
	char *type = header_of(r, "Content-Type");
	cr_expect(type && strncmp(type, "text/html", 9) == 0, "%s", type);
	free(type);
	char *cookie = header_of(r, "Set-Cookie");
	cr_assert(cookie, "%s", r);
	char *expected = xasprintf("=%s;", s.token);
	cr_expect(strstr(cookie, expected) && strstr(cookie, "HttpOnly") && strstr(cookie, "SameSite=Strict") &&
			  strstr(cookie, "Path=/"),
		  "Set-Cookie: %s", cookie);
	free(expected);
	/* No inline script: the page loads its code from /app.js. */
	cr_expect(strstr(body_of(r), "<script src=\"/app.js\"") != NULL, "%s", body_of(r));
	cr_expect_eq(count_substr(body_of(r), "<script"), 1, "%s", body_of(r));
	free(r);
	free(path);

	/* Then the cookie alone. */
	char *cookie_header = xasprintf("Cookie: %.*s\r\n", (int)strcspn(cookie, ";"), cookie);
	r = http_get(&s, "GET", "/app.js", cookie_header);
	cr_expect_eq(status_of(r), 200, "%s", r);
	type = header_of(r, "Content-Type");
	cr_expect(type && strncmp(type, "text/javascript", 15) == 0, "%s", type);
	free(type);
	free(r);
	r = http_get(&s, "GET", "/app.css", cookie_header);
	cr_expect_eq(status_of(r), 200, "%s", r);
	free(r);

	/* Or the token as a bearer. */
	char *bearer = xasprintf("Authorization: Bearer %s\r\n", s.token);
	r = http_get(&s, "GET", "/api/tasks", bearer);
	cr_expect_eq(status_of(r), 200, "%s", r);
	expect_security_headers(r);
	free(r);

	/* DNS rebinding: another name, or our address with another port, is refused. */
	char *request = xasprintf("GET /api/snapshot HTTP/1.1\r\nHost: evil.com:%d\r\n%sConnection: close\r\n\r\n",
				  s.port, bearer);
	r = http_raw(s.port, request);
	cr_expect_eq(status_of(r), 403, "%s", r);
	expect_security_headers(r);
	free(r);
	free(request);
	request = xasprintf("GET / HTTP/1.1\r\nHost: evil.com\r\n%sConnection: close\r\n\r\n", cookie_header);
	r = http_raw(s.port, request);
	cr_expect_eq(status_of(r), 403, "%s", r);
	free(r);
	free(request);
	request = xasprintf("GET / HTTP/1.1\r\nHost: localhost:%d\r\n%sConnection: close\r\n\r\n", s.port, bearer);
	r = http_raw(s.port, request);
	cr_expect_eq(status_of(r), 200, "localhost is ours: %s", r);
	free(r);
	free(request);

	/* Unknown paths, and anything but GET/HEAD. */
	r = http_get(&s, "GET", "/etc/passwd", bearer);
	cr_expect_eq(status_of(r), 404, "%s", r);
	expect_security_headers(r);
	free(r);
	r = http_get(&s, "GET", "/api/nothing", bearer);
	cr_expect_eq(status_of(r), 404, "%s", r);
	free(r);
	r = http_get(&s, "POST", "/api/snapshot", bearer);
	cr_expect_eq(status_of(r), 405, "%s", r);
	char *allow = header_of(r, "Allow");
	cr_expect(allow && strstr(allow, "GET"), "%s", r);
	expect_security_headers(r);
	free(allow);
	free(r);
	r = http_get(&s, "DELETE", "/", bearer);
	cr_expect_eq(status_of(r), 405, "%s", r);
	free(r);

	/* A request larger than the server takes is refused, and the server goes on. */
	char *big = xmalloc(256 * 1024);
	memset(big, 'a', 256 * 1024 - 1);
	big[256 * 1024 - 1] = '\0';
	char *huge = xasprintf("X-Padding: %s\r\n%s", big, bearer);
	r = http_get(&s, "GET", "/api/tasks", huge);
	cr_expect(status_of(r) == 431 || status_of(r) == 413 || status_of(r) == 400 || r[0] == '\0',
		  "an oversized request: %.200s", r);
	free(r);
	free(huge);
	free(big);
	r = http_get(&s, "GET", "/api/tasks", bearer);
	cr_expect_eq(status_of(r), 200, "%s", r);
	free(r);

	free(bearer);
	free(cookie_header);
	free(cookie);
	serve_stop(&s);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	cr_expect_eq(tracer_pid(f.pid), 0);
	free(pid);
	fixture_kill(&f);
}

/* A task of /api/snapshot by its root future. */
static json_t *task_by_future(json_t *tasks, const char *future)
{
	return doc_item_by_string(tasks, "future", future, 0);
}

Test(serve, api_documents_and_the_target_left_running)
{
	struct fixture f;
	fixture_start(&f, CRATE, "deadlock_abba", NULL);
	char *pid = pid_text(f.pid);
	struct server s;
	serve_start(&s, (const char *[]){ "serve", "--pid", pid, "--interval", "100ms", NULL });

	/* The dump's JSON document, with the fixture's tasks and their deadlock. */
	json_t *snap = get_json(&s, "/api/snapshot");
	cr_expect_str_eq(json_string_value(json_object_get(snap, "format")), "async-inspect-snapshot");
	cr_expect_eq(json_integer_value(json_object_get(snap, "pid")), f.pid);
	json_t *tasks = json_object_get(snap, "tasks");
	json_t *a = task_by_future(tasks, "deadlock_abba::task_a");
	json_t *b = task_by_future(tasks, "deadlock_abba::task_b");
	cr_expect(a && b, "the fixture's tasks task_a and task_b");
	cr_expect_eq(json_array_size(json_object_get(snap, "deadlocks")), 1);
	/* each local's structured value beside its summary, as dump writes them */
	json_t *locals = a ? json_object_get(json_object_get(a, "tree"), "locals") : NULL;
	cr_expect_gt(json_array_size(locals), 0, "task_a's locals");
	size_t li;
	json_t *local;
	json_array_foreach(locals, li, local)
		cr_expect(json_is_string(json_object_get(json_object_get(local, "structured"), "kind")),
			  "task_a's local %s has a structured value", doc_str(local, "name"));
	json_decref(snap);

	/* The task table: the same tasks, the await point at the fixture's marker lines. */
	json_t *table = get_json(&s, "/api/tasks");
	cr_expect_str_eq(json_string_value(json_object_get(table, "format")), "async-inspect-serve-tasks");
	cr_expect_str_eq(json_string_value(json_object_get(table, "source")), "attach");
	cr_expect_str_eq(json_string_value(json_object_get(table, "state")), "running");
	cr_expect_eq(json_integer_value(json_object_get(table, "interval_ms")), 100);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(table, "counts"), "deadlocked")), 2);
	json_t *cycles = json_object_get(table, "cycles");
	cr_expect_eq(json_array_size(cycles), 1);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(cycles, 0), "kind")), "deadlock");
	cr_expect_eq(json_array_size(json_object_get(json_array_get(cycles, 0), "tasks")), 2);
	json_t *rows = json_object_get(table, "tasks");
	json_t *ra = task_by_future(rows, "deadlock_abba::task_a");
	cr_assert(ra, "task_a in /api/tasks");
	cr_expect_str_eq(json_string_value(json_object_get(ra, "state")), "deadlocked");
	char *at = xasprintf("deadlock_abba.rs:%d", marker_line("tokio/src/bin/deadlock_abba.rs", "@await: abba-a-lock2"));
	const char *point = json_string_value(json_object_get(ra, "await_point"));
	cr_expect(point && strstr(point, at), "await point %s, want %s", point, at);
	cr_expect(json_string_value(json_object_get(ra, "wait")) &&
			  strstr(json_string_value(json_object_get(ra, "wait")), "Mutex<deadlock_abba::Ledger>"),
		  "wait of task_a");
	cr_expect(json_is_integer(json_object_get(ra, "unchanged_ms")));
	free(at);
	json_decref(table);

	/* The wait-for graph, as DOT, with the cycle in red. */
	char *bearer = xasprintf("Authorization: Bearer %s\r\n", s.token);
	char *r = http_get(&s, "GET", "/api/graph", bearer);
	cr_expect_eq(status_of(r), 200, "%s", r);
	cr_expect(strstr(body_of(r), "digraph") && strstr(body_of(r), "deadlock_abba::task_a") &&
			  strstr(body_of(r), "color=red"),
		  "%s", body_of(r));
	free(r);
	/* HEAD is a GET without the body. */
	r = http_get(&s, "HEAD", "/api/snapshot", bearer);
	cr_expect_eq(status_of(r), 200, "%s", r);
	cr_expect_str_eq(body_of(r), "");
	free(r);
	free(bearer);

	/* Ctrl-C detaches: the fixture runs on, untraced, and answers with its own state. */
	serve_stop(&s);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	cr_expect_eq(tracer_pid(f.pid), 0);
	free(pid);
	fixture_kill(&f);
}

/* serve --pid C --pid S of peer_client and peer_server: the table's rows say their process, the
 * header counts by process, the client's read names the server task at the socket's other end,
 * /api/snapshot is dump's document of several processes; the client ending leaves the server on. */
Test(serve, several_processes_labelled_and_one_ending)
{
	struct fixture server, client;
	fixture_spawn(&server, CRATE, "peer_server", (const char *[]){ "mutex", NULL });
	char line[128], port[64];
	cr_assert(fgets(line, sizeof(line), server.out), "peer_server printed nothing");
	cr_assert(sscanf(line, "listening %63s", port) == 1, "peer_server printed '%s'", line);
	fixture_start(&client, CRATE, "peer_client", (const char *[]){ port, NULL });
	fixture_expect_ready(&server);
	char *c = pid_text(client.pid), *sp = pid_text(server.pid);
	struct server s;
	serve_start(&s, (const char *[]){ "serve", "--pid", c, "--pid", sp, "--interval", "100ms", NULL });

	json_t *table = get_json(&s, "/api/tasks");
	json_t *processes = json_object_get(table, "processes");
	cr_assert_eq(json_array_size(processes), 2, "two processes in the header");
	cr_expect_eq(json_integer_value(json_object_get(json_array_get(processes, 0), "pid")), client.pid);
	cr_expect_str_eq(json_string_value(json_object_get(json_array_get(processes, 1), "command")), "peer_server");
	cr_expect_eq(json_integer_value(json_object_get(json_array_get(processes, 1), "tasks")), 3);
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(json_array_get(processes, 1), "counts"),
							"blocked")), 2);
	json_t *rows = json_object_get(table, "tasks");
	json_t *request = task_by_future(rows, "peer_client::request");
	json_t *handler = task_by_future(rows, "peer_server::handle_conn");
	cr_assert(request && handler, "both processes' tasks in /api/tasks");
	char *label = xasprintf("%d peer_client", (int)client.pid);
	cr_expect_str_eq(json_string_value(json_object_get(request, "process")), label);
	free(label);
	label = xasprintf("%d peer_server", (int)server.pid);
	cr_expect_str_eq(json_string_value(json_object_get(handler, "process")), label);
	free(label);
	const char *peer = json_string_value(json_object_get(request, "peer"));
	char *want = xasprintf("pid %d (peer_server) Task ", (int)server.pid);
	cr_expect(peer && strstr(peer, want) && strstr(peer, "peer_server::handle_conn"), "peer: %s", peer);
	free(want);
	json_decref(table);
	json_t *snap = get_json(&s, "/api/snapshot");
	cr_expect_str_eq(json_string_value(json_object_get(snap, "format")), "async-inspect-processes");
	cr_expect_eq(json_array_size(json_object_get(snap, "processes")), 2);
	json_decref(snap);

	/* The client ends: its row says so, the server goes on. */
	fixture_kill(&client);
	bool ended = false;
	uint64_t deadline = ai_now_us() + 30 * 1000000ULL;
	while (!ended && ai_now_us() < deadline) {
		table = get_json(&s, "/api/tasks");
		json_t *first = json_array_get(json_object_get(table, "processes"), 0);
		ended = json_is_true(json_object_get(first, "ended"));
		if (ended) {
			const char *message = json_string_value(json_object_get(table, "message"));
			cr_expect(message && strstr(message, "has ended (exited); the others go on"), "%s", message);
			cr_expect_str_eq(json_string_value(json_object_get(table, "state")), "running");
		}
		json_decref(table);
		if (!ended)
			nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
	}
	cr_expect(ended, "the client never shown ended");
	serve_stop(&s);
	cr_expect_eq(tracer_pid(server.pid), 0);
	cr_expect_eq(process_settles_in(server.pid, 'S'), 'S');
	fixture_kill(&server);
	free(c);
	free(sp);
}

/* serve --pid C --pid S of the pair in a cycle (each reads before it writes): /api/graph is the
 * graph over both, the socket edges across them red; /api/tasks says deadlocked and lists the
 * cycle with each task's process. */
Test(serve, graph_and_cycle_across_processes)
{
	struct fixture server, client;
	fixture_spawn(&server, CRATE, "peer_server", (const char *[]){ "cycle", NULL });
	char line[128], port[64];
	cr_assert(fgets(line, sizeof(line), server.out), "peer_server printed nothing");
	cr_assert(sscanf(line, "listening %63s", port) == 1, "peer_server printed '%s'", line);
	fixture_start(&client, CRATE, "peer_client", (const char *[]){ port, NULL });
	fixture_expect_ready(&server);
	char *c = pid_text(client.pid), *sp = pid_text(server.pid);
	struct server s;
	serve_start(&s, (const char *[]){ "serve", "--pid", c, "--pid", sp, "--interval", "100ms", NULL });

	char *bearer = xasprintf("Authorization: Bearer %s\r\n", s.token);
	char *r = http_get(&s, "GET", "/api/graph", bearer);
	cr_expect_eq(status_of(r), 200, "%s", r);
	const char *dot = body_of(r);
	char *want = xasprintf("subgraph cluster_p%d {", (int)server.pid);
	cr_expect(strstr(dot, want), "'%s' in %s", want, dot);
	free(want);
	want = xasprintf("[pid %d peer_client] Task ", (int)client.pid);
	cr_expect(strstr(dot, want) && strstr(dot, "peer_client::request"), "'%s' in %s", want, dot);
	free(want);
	/* Each end's task reads from the other: two socket edges, both on the cycle. */
	want = xasprintf("  p%d_t", (int)client.pid);
	char *to = xasprintf(" -> p%d_t", (int)server.pid);
	bool found = false;
	for (const char *l = dot; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		size_t n = strcspn(l, "\n");
		char *one = strndup(l, n);
		if (strncmp(one, want, strlen(want)) == 0 && strstr(one, to) && strstr(one, "reads from the socket's other end") &&
		    strstr(one, "color=red"))
			found = true;
		free(one);
	}
	cr_expect(found, "a red edge from the client's task to the server's in %s", dot);
	free(want);
	free(to);
	free(r);

	json_t *table = get_json(&s, "/api/tasks");
	cr_expect_eq(json_integer_value(json_object_get(table, "deadlocks")), 1);
	json_t *cycle = json_array_get(json_object_get(table, "cycles"), 0);
	cr_expect_str_eq(json_string_value(json_object_get(cycle, "kind")), "deadlock across processes");
	cr_expect_eq(json_array_size(json_object_get(cycle, "tasks")), 2);
	const char *first = json_string_value(json_array_get(json_object_get(cycle, "tasks"), 0));
	want = xasprintf(" in pid %d peer_client", (int)client.pid);
	cr_expect(first && strstr(first, want), "%s", first);
	free(want);
	json_t *request = task_by_future(json_object_get(table, "tasks"), "peer_client::request");
	cr_expect_str_eq(json_string_value(json_object_get(request, "state")), "deadlocked");
	json_decref(table);
	free(bearer);
	serve_stop(&s);
	cr_expect_eq(tracer_pid(server.pid), 0);
	cr_expect_eq(tracer_pid(client.pid), 0);
	fixture_kill(&client);
	fixture_kill(&server);
	free(c);
	free(sp);
}

/* serve of the client and a process it does not talk to: the server at the other end of the
 * client's socket is outside the set, named by pid and command in the row and in the graph. */
Test(serve, peer_outside_the_set_named)
{
	struct fixture server, client, other;
	fixture_spawn(&server, CRATE, "peer_server", (const char *[]){ "mutex", NULL });
	char line[128], port[64];
	cr_assert(fgets(line, sizeof(line), server.out), "peer_server printed nothing");
	cr_assert(sscanf(line, "listening %63s", port) == 1, "peer_server printed '%s'", line);
	fixture_start(&client, CRATE, "peer_client", (const char *[]){ port, NULL });
	fixture_expect_ready(&server);
	fixture_start(&other, CRATE, "nested", NULL);
	char *c = pid_text(client.pid), *o = pid_text(other.pid);
	struct server s;
	serve_start(&s, (const char *[]){ "serve", "--pid", c, "--pid", o, "--interval", "100ms", NULL });
	json_t *table = get_json(&s, "/api/tasks");
	json_t *request = task_by_future(json_object_get(table, "tasks"), "peer_client::request");
	const char *peer = json_string_value(json_object_get(request, "peer"));
	char *want = xasprintf("pid %d (peer_server), not inspected", (int)server.pid);
	cr_expect(peer && strstr(peer, want), "peer: %s", peer);
	json_decref(table);
	char *bearer = xasprintf("Authorization: Bearer %s\r\n", s.token);
	char *r = http_get(&s, "GET", "/api/graph", bearer);
	cr_expect_eq(status_of(r), 200, "%s", r);
	char *node = xasprintf("x0 [shape=ellipse, label=\"%s\"];", want);
	cr_expect(strstr(body_of(r), node), "'%s' in %s", node, body_of(r));
	free(node);
	free(r);
	free(bearer);
	free(want);
	serve_stop(&s);
	cr_expect_eq(tracer_pid(client.pid), 0);
	fixture_kill(&other);
	fixture_kill(&client);
	fixture_kill(&server);
	free(c);
	free(o);
}

/* /api/events: the token as everywhere, then one event per sample on one data line: first
 * `tasks`, the /api/tasks document (the task table, not every await tree), then `changes`, only
 * the rows that changed since the sample before: none in a deadlocked program. */
Test(serve, events_stream_the_task_table_then_its_changes)
{
	struct fixture f;
	fixture_start(&f, CRATE, "deadlock_abba", NULL);
	char *pid = pid_text(f.pid);
	struct server s;
	serve_start(&s, (const char *[]){ "serve", "--pid", pid, "--interval", "100ms", NULL });

	char *r = http_get(&s, "GET", "/api/events", NULL);
	cr_expect_eq(status_of(r), 401, "%s", r);
	free(r);

	char *bearer = xasprintf("Authorization: Bearer %s\r\n", s.token);
	r = read_events(&s, bearer, 3);
	cr_expect_eq(status_of(r), 200, "%.300s", r);
	char *type = header_of(r, "Content-Type");
	cr_expect(type && strcmp(type, "text/event-stream") == 0, "%s", type);
	free(type);
	expect_security_headers(r);
	const char *at = body_of(r);
	long long captured[3] = { 0 };
	for (int k = 0; k < 3; k++) {
		const char *head = k ? "event: changes\ndata: " : "event: tasks\ndata: ";
		cr_assert(strncmp(at, head, strlen(head)) == 0, "event %d: %.200s", k, at);
		at += strlen(head);
		const char *end = strstr(at, "\n\n");
		cr_assert(end, "event %d ends", k);
		cr_expect(memchr(at, '\n', (size_t)(end - at)) == NULL, "one data line");
		json_error_t error;
		json_t *doc = json_loadb(at, (size_t)(end - at), 0, &error);
		cr_assert(doc, "event %d: not JSON (%s)", k, error.text);
		cr_expect_str_eq(json_string_value(json_object_get(doc, "format")),
				 k ? "async-inspect-serve-changes" : "async-inspect-serve-tasks");
		cr_expect_eq(json_integer_value(json_object_get(doc, "pid")), f.pid);
		cr_expect_eq(json_integer_value(json_object_get(doc, "deadlocks")), 1, "the header's counts too");
		captured[k] = json_integer_value(json_object_get(doc, "captured_at"));
		if (k == 0) {
			cr_expect(task_by_future(json_object_get(doc, "tasks"), "deadlock_abba::task_a") != NULL);
		} else {
			cr_expect_eq(json_integer_value(json_object_get(doc, "previous_captured_at")), captured[k - 1]);
			cr_expect_eq(json_array_size(json_object_get(doc, "changed")), 0, "%.*s", (int)(end - at), at);
			cr_expect_eq(json_array_size(json_object_get(doc, "removed")), 0);
			cr_expect_null(json_object_get(doc, "order"), "the same tasks in the same order");
		}
		json_decref(doc);
		at = end + 2;
	}
	cr_expect(captured[1] > captured[0] && captured[2] > captured[1], "three snapshots: %lld, %lld, %lld",
		  captured[0], captured[1], captured[2]);
	free(r);
	free(bearer);

	serve_stop(&s);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	cr_expect_eq(tracer_pid(f.pid), 0);
	free(pid);
	fixture_kill(&f);
}

/* A sleeping task's row carries its deadline (in the clock of the header's monotonic_ms), not
 * the countdown: a row changes only when the task does, so `changes` at idle sleepers is empty. */
Test(serve, changes_at_sleeping_tasks_hold_no_row)
{
	struct fixture f;
	fixture_start(&f, CRATE, "many_tasks", (const char *[]){ "40", NULL });
	char *pid = pid_text(f.pid);
	struct server s;
	serve_start(&s, (const char *[]){ "serve", "--pid", pid, "--interval", "100ms", NULL });

	char *bearer = xasprintf("Authorization: Bearer %s\r\n", s.token);
	char *r = read_events(&s, bearer, 4);
	cr_expect_eq(status_of(r), 200, "%.300s", r);
	const char *at = body_of(r);
	for (int k = 0; k < 4; k++) {
		at = strstr(at, "data: ");
		cr_assert(at, "event %d", k);
		at += 6;
		const char *end = strstr(at, "\n\n");
		cr_assert(end, "event %d ends", k);
		json_error_t error;
		json_t *doc = json_loadb(at, (size_t)(end - at), 0, &error);
		cr_assert(doc, "event %d: not JSON (%s)", k, error.text);
		cr_expect_eq(json_integer_value(json_object_get(doc, "version")), 2);
		json_t *now = json_object_get(doc, "monotonic_ms");
		cr_expect(json_is_integer(now), "the sample's own now");
		if (k == 0) {
			size_t sleepers = 0;
			json_t *tasks = json_object_get(doc, "tasks"), *t;
			size_t i;
			json_array_foreach(tasks, i, t) {
				const char *future = json_string_value(json_object_get(t, "future"));
				if (!future || strcmp(future, "many_tasks::idle_sleep") != 0)
					continue;
				sleepers++;
				cr_expect_str_eq(json_string_value(json_object_get(t, "wait")), "sleep");
				json_t *deadline = json_object_get(t, "wait_deadline_ms");
				cr_expect(json_is_integer(deadline), "a deadline");
				/* time::sleep(1 day): about a day after the sample's now */
				long long left = json_integer_value(deadline) - json_integer_value(now);
				cr_expect(left > 23 * 3600 * 1000LL && left <= 24 * 3600 * 1000LL, "%lld ms left", left);
			}
			cr_expect_eq(sleepers, 10, "task i sleeps when i %% 4 is 0");
		} else {
			cr_expect_str_eq(json_string_value(json_object_get(doc, "format")), "async-inspect-serve-changes");
			cr_expect_eq(json_array_size(json_object_get(doc, "changed")), 0, "%.*s", (int)(end - at), at);
		}
		json_decref(doc);
		at = end + 2;
	}
	free(r);
	free(bearer);

	serve_stop(&s);
	cr_expect_eq(tracer_pid(f.pid), 0);
	free(pid);
	fixture_kill(&f);
}

/* /api/source: the file a frame names, and no other. */
Test(serve, source_of_a_frame_only)
{
	struct fixture f;
	fixture_start(&f, CRATE, "deadlock_abba", NULL);
	char *pid = pid_text(f.pid);
	struct server s;
	serve_start(&s, (const char *[]){ "serve", "--pid", pid, "--interval", "100ms", NULL });

	json_t *snap = get_json(&s, "/api/snapshot");
	json_t *a = task_by_future(json_object_get(snap, "tasks"), "deadlock_abba::task_a");
	cr_assert(a, "task_a");
	const char *file = json_string_value(json_object_get(json_object_get(a, "tree"), "file"));
	cr_assert(file && strstr(file, "deadlock_abba.rs"), "task_a's frame names its file: %s", file);
	char *bearer = xasprintf("Authorization: Bearer %s\r\n", s.token);

	char *path = xasprintf("/api/source?file=%s", file);
	char *r = http_get(&s, "GET", path, bearer);
	cr_expect_eq(status_of(r), 200, "%.300s", r);
	char *type = header_of(r, "Content-Type");
	cr_expect(type && strncmp(type, "text/plain", 10) == 0, "%s", type);
	free(type);
	expect_security_headers(r);
	cr_expect(strstr(body_of(r), "@await: abba-a-lock2") != NULL, "the fixture's source: %.200s", body_of(r));
	free(r);
	free(path);

	/* Anything else is not found: another file, a ../ walk from a named one, a relative one,
	 * the same escaped, none at all. */
	char *dir = xstrndup(file, (size_t)(strrchr(file, '/') - file));
	char *tricks[] = {
		xasprintf("/api/source?file=/etc/passwd"),
		xasprintf("/api/source?file=%s/../../../../../../../../etc/passwd", dir),
		xasprintf("/api/source?file=%s/./deadlock_abba.rs", dir),
		xasprintf("/api/source?file=../../../../../../etc/passwd"),
		xasprintf("/api/source?file=%%2e%%2e%%2f%%2e%%2e%%2fetc%%2fpasswd"),
		xasprintf("/api/source"),
		xasprintf("/api/source/../../etc/passwd?file=/etc/passwd"),
	};
	for (size_t i = 0; i < sizeof(tricks) / sizeof(tricks[0]); i++) {
		r = http_get(&s, "GET", tricks[i], bearer);
		cr_expect(status_of(r) == 404 || status_of(r) == 400, "%s: %.200s", tricks[i], r);
		cr_expect(strstr(body_of(r), "root:") == NULL, "%s", tricks[i]);
		free(r);
		free(tricks[i]);
	}
	free(dir);
	/* And the token as everywhere. */
	path = xasprintf("/api/source?file=%s", file);
	r = http_get(&s, "GET", path, NULL);
	cr_expect_eq(status_of(r), 401, "%.200s", r);
	free(r);
	free(path);
	free(bearer);
	json_decref(snap);

	serve_stop(&s);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	cr_expect_eq(tracer_pid(f.pid), 0);
	free(pid);
	fixture_kill(&f);
}

/* `serve -- PROGRAM`: what it launched is killed on Ctrl-C, and nothing else. */
Test(serve, launched_program_is_killed_on_ctrl_c)
{
	require_fixtures();
	char *path = fixture_path(CRATE, "deadlock_abba");
	struct server s;
	tool_spawn(&s.process, (const char *[]){ "serve", "--interval", "100ms", "--", path, NULL });
	/* Both lines on the same stdout, in either order: the fixture's ready line and the URL. */
	int child = 0;
	char line[512];
	s.url = NULL;
	while ((!child || !s.url) && fgets(line, sizeof(line), s.process.out)) {
		if (sscanf(line, "ready %d", &child) == 1)
			continue;
		if (strncmp(line, "http://", 7) == 0) {
			line[strcspn(line, "\n")] = '\0';
			s.url = xstrdup(line);
			cr_assert(sscanf(line, "http://127.0.0.1:%d/?token=%63s", &s.port, s.token) == 2, "%s", line);
		}
	}
	cr_assert(child > 0 && s.url, "ready line and URL");
	json_t *table = get_json(&s, "/api/tasks");
	cr_expect_str_eq(json_string_value(json_object_get(table, "source")), "run");
	cr_expect_eq(json_integer_value(json_object_get(table, "pid")), child);
	json_decref(table);
	serve_stop(&s);
	cr_expect_eq(process_state(child), '?', "the launched program is gone");
	free(path);
}

/* A recording of one line: `dump --format json` of a fixture of CRATE, written to the file made
 * from template name (mkstemp); the fixture is gone afterwards. */
static void record_one_dump(const char *bin, const char *const *args, char *name)
{
	struct fixture f;
	fixture_start(&f, CRATE, bin, args);
	char *pid = pid_text(f.pid);
	struct tool_result d;
	tool_run(&d, 120, (const char *[]){ "dump", "--pid", pid, "--format", "json", NULL });
	cr_assert_eq(tool_exit_code(&d), 0, "%s", d.err);
	fixture_kill(&f);
	int fd = mkstemp(name);
	cr_assert(fd >= 0);
	cr_assert(write(fd, d.out, strlen(d.out)) == (ssize_t)strlen(d.out));
	close(fd);
	tool_result_free(&d);
	free(pid);
}

/* --replay: a recording (here one `dump --format json` line) served without the program. */
Test(serve, replay_of_a_recording)
{
	char name[] = "/tmp/ai-serve-replay-XXXXXX";
	record_one_dump("deadlock_abba", NULL, name);

	struct server s;
	serve_start(&s, (const char *[]){ "serve", "--replay", name, NULL });
	json_t *table = get_json(&s, "/api/tasks");
	cr_expect_str_eq(json_string_value(json_object_get(table, "source")), "replay");
	cr_expect_str_eq(json_string_value(json_object_get(table, "state")), "ended");
	cr_expect(task_by_future(json_object_get(table, "tasks"), "deadlock_abba::task_b") != NULL);
	json_decref(table);
	json_t *snap = get_json(&s, "/api/snapshot");
	cr_expect(task_by_future(json_object_get(snap, "tasks"), "deadlock_abba::task_a") != NULL);
	json_decref(snap);
	serve_stop(&s);
	unlink(name);
}

/* A recorded timer counts down in --replay as it does live: the recording carries the target's
 * monotonic clock (monotonic_ns), so each timer row has its deadline in that clock. */
Test(serve, replay_keeps_the_timers_deadlines)
{
	char name[] = "/tmp/ai-serve-replay-XXXXXX";
	record_one_dump("many_tasks", (const char *[]){ "40", NULL }, name);

	struct server s;
	serve_start(&s, (const char *[]){ "serve", "--replay", name, NULL });
	json_t *table = get_json(&s, "/api/tasks");
	json_t *now = json_object_get(table, "monotonic_ms");
	cr_expect(json_is_integer(now), "the recording's own now");
	size_t sleepers = 0, i;
	json_t *t;
	json_array_foreach(json_object_get(table, "tasks"), i, t) {
		const char *future = json_string_value(json_object_get(t, "future"));
		if (!future || strcmp(future, "many_tasks::idle_sleep") != 0)
			continue;
		sleepers++;
		json_t *deadline = json_object_get(t, "wait_deadline_ms");
		cr_expect(json_is_integer(deadline), "a deadline, not the recorded text");
		long long left = json_integer_value(deadline) - json_integer_value(now);
		cr_expect(left > 23 * 3600 * 1000LL && left <= 24 * 3600 * 1000LL, "%lld ms left", left);
	}
	cr_expect_eq(sleepers, 10, "task i sleeps when i %% 4 is 0");
	json_decref(table);
	serve_stop(&s);
	unlink(name);
}

/* serve --profile's /api/flamegraph: the spinner task's CPU samples under its own frame (the
 * task's address, as its row's), its async fn then the function it spins in. */
Test(serve, flamegraph_of_the_profiled_tasks, .timeout = 900)
{
	lock_profile_tests();
	struct fixture f;
	fixture_start_with_stdin(&f, CRATE, "profiled", NULL);
	char *pid = pid_text(f.pid);
	struct server s;
	serve_start(&s, (const char *[]){ "serve", "--pid", pid, "--profile", "--interval", "300ms", NULL });
	char *bearer = xasprintf("Authorization: Bearer %s\r\n", s.token);
	free(read_events(&s, bearer, 4));
	free(bearer);
	json_t *flame = get_json(&s, "/api/flamegraph");
	cr_expect_str_eq(json_string_value(json_object_get(flame, "format")), "async-inspect-serve-flamegraph");
	if (!json_is_true(json_object_get(flame, "available"))) {
		const char *reason = json_string_value(json_object_get(flame, "reason"));
		cr_expect(reason && strstr(reason, "perf"), "the one-line reason: %s", reason);
		json_decref(flame);
		serve_stop(&s);
		fixture_kill(&f);
		cr_skip("perf events are not available here: %s", reason);
	}
	json_t *root = json_object_get(flame, "root");
	cr_expect_gt(json_integer_value(json_object_get(root, "value")), 0, "samples");
	json_t *spinner = flame_find(root, "profiled::spinner");
	cr_assert(spinner, "the spinner's async fn in the stacks");
	cr_expect(flame_find(spinner, "profiled::spin"), "the function it spins in, under it");
	/* The task's frame, one level under the root, carries the task's address. */
	json_t *tasks = get_json(&s, "/api/tasks");
	json_t *row = doc_item_by_string(json_object_get(tasks, "tasks"), "future", "profiled::spinner", 0);
	cr_assert(row);
	const char *address = json_string_value(json_object_get(row, "address"));
	json_t *task = NULL, *child;
	size_t i;
	json_array_foreach(json_object_get(root, "children"), i, child) {
		const char *a = json_string_value(json_object_get(child, "address"));
		if (a && strcmp(a, address) == 0)
			task = child;
	}
	cr_assert(task, "a frame of task %s", address);
	cr_expect(strncmp(json_string_value(json_object_get(task, "name")), "task ", 5) == 0);
	cr_expect(flame_find(task, "profiled::spinner"), "its async fn under it");
	json_decref(tasks);
	json_decref(flame);
	serve_stop(&s);
	free(pid);
	cr_expect_eq(tracer_pid(f.pid), 0);
	fixture_kill(&f);
}

/* Without --profile the flamegraph says how to get one. */
Test(serve, flamegraph_without_profile_says_how)
{
	struct fixture f;
	fixture_start(&f, CRATE, "deadlock_abba", NULL);
	char *pid = pid_text(f.pid);
	struct server s;
	serve_start(&s, (const char *[]){ "serve", "--pid", pid, "--interval", "100ms", NULL });
	char *r = http_get(&s, "GET", "/api/flamegraph", NULL);
	cr_expect_eq(status_of(r), 401, "the token as everywhere: %.200s", r);
	free(r);
	json_t *flame = get_json(&s, "/api/flamegraph");
	cr_expect(json_is_false(json_object_get(flame, "available")));
	const char *reason = json_string_value(json_object_get(flame, "reason"));
	cr_expect(reason && strstr(reason, "serve with --profile"), "%s", reason);
	cr_expect(json_is_null(json_object_get(flame, "root")));
	json_decref(flame);
	serve_stop(&s);
	free(pid);
	cr_expect_eq(tracer_pid(f.pid), 0);
	fixture_kill(&f);
}

/* serve --profile: the table's polls/s, busy and scheduled columns, from the probes left in while
 * it serves: after three samples the spinner is busy, a sleeper is never polled, the block_on
 * future is not measured; the target runs on untraced after Ctrl-C. */
Test(serve, profile_columns, .timeout = 900)
{
	lock_profile_tests();
	struct fixture f;
	fixture_start_with_stdin(&f, CRATE, "profiled", NULL);
	char *pid = pid_text(f.pid);
	struct server s;
	serve_start(&s, (const char *[]){ "serve", "--pid", pid, "--profile", "--interval", "300ms", NULL });
	char *bearer = xasprintf("Authorization: Bearer %s\r\n", s.token);
	free(read_events(&s, bearer, 3));
	free(bearer);
	json_t *doc = get_json(&s, "/api/tasks");
	const char *message = json_string_value(json_object_get(doc, "message"));
	if (message && strstr(message, "perf events are not allowed")) {
		json_decref(doc);
		serve_stop(&s);
		fixture_kill(&f);
		cr_skip("perf uprobe events are not available here: %s", message);
	}
	cr_expect(json_is_true(json_object_get(doc, "profiled")), "profiled: %s", message ? message : "");
	json_t *tasks = json_object_get(doc, "tasks");
	json_t *spinner = doc_item_by_string(tasks, "future", "profiled::spinner", 0);
	json_t *sleeper = doc_item_by_string(tasks, "future", "profiled::sleeper", 0);
	json_t *root = doc_item_by_string(tasks, "kind", "block_on", 0);
	cr_assert(spinner && sleeper && root);
	cr_expect_gt(json_number_value(json_object_get(spinner, "busy_percent")), 0.0);
	cr_expect_gt(json_integer_value(json_object_get(spinner, "polls_per_s")), 0);
	cr_expect_eq(json_integer_value(json_object_get(sleeper, "polls_per_s")), 0);
	cr_expect(json_is_null(json_object_get(sleeper, "scheduled_mean_us")), "a sleeper is never woken");
	cr_expect(json_is_null(json_object_get(root, "busy_percent")), "block_on is not measured");
	json_decref(doc);
	serve_stop(&s);
	free(pid);
	cr_expect_eq(tracer_pid(f.pid), 0);
	fixture_kill(&f);
}

Test(serve, usage_errors)
{
	struct tool_result r;
	tool_run(&r, 30, (const char *[]){ "serve", NULL });
	cr_expect_eq(tool_exit_code(&r), 2);
	cr_expect(strstr(r.err, "--pid") != NULL, "%s", r.err);
	tool_result_free(&r);
	tool_run(&r, 30, (const char *[]){ "serve", "--pid", "1", "--replay", "x.jsonl", NULL });
	cr_expect_eq(tool_exit_code(&r), 2, "%s", r.err);
	tool_result_free(&r);
	tool_run(&r, 30, (const char *[]){ "serve", "--replay", "/nonexistent/rec.jsonl", NULL });
	cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
	tool_result_free(&r);
	tool_run(&r, 30, (const char *[]){ "serve", "--port", "70000", "--replay", "x", NULL });
	cr_expect_eq(tool_exit_code(&r), 2, "%s", r.err);
	tool_result_free(&r);
}

/* serve --profile's flamegraph tab in headless chromium (tests/integration/serve_browser_flame.py):
 * it draws the profiled spinner's frames, the search marks the matching ones, a click zooms, the
 * selected task's own flamegraph; a sleeper's wait counts down in the page. Skipped without
 * chromium, chromium-driver, python3-selenium or perf events. */
Test(serve, flamegraph_in_a_real_browser, .timeout = 900)
{
	require_fixtures();
	if (access("/usr/bin/python3", X_OK) != 0)
		cr_skip_test("/usr/bin/python3 is not installed");
	lock_profile_tests();
	char *fixture = fixture_path(CRATE, "profiled");
	run_browser_script("serve_browser_flame.py", (const char *[]){ fixture, NULL });
	free(fixture);
}

/* The page of `serve --pid C --pid S` (peer_client waiting on peer_server's task behind a Mutex)
 * in headless chromium: each row's process in the id column, the filter by it, the graph with the
 * tasks of both processes and the socket edge between them (serve_browser.py --processes). */
Test(serve, several_processes_in_a_real_browser, .timeout = 180)
{
	require_fixtures();
	if (access("/usr/bin/python3", X_OK) != 0)
		cr_skip_test("/usr/bin/python3 is not installed");
	char *server = fixture_path("tokio-1.54", "peer_server");
	char *client = fixture_path("tokio-1.54", "peer_client");
	const char *source = getenv("AI_SOURCE") ? getenv("AI_SOURCE") : ".";
	run_browser_script("serve_browser.py", (const char *[]){ server, source, "--processes", client, NULL });
	free(server);
	free(client);
}

/* The page in headless chromium through Selenium (tests/integration/serve_browser.py): the table
 * lists the fixture's tasks, blocked-for grows, a click opens the await tree at the marker's
 * line, j/k, Esc, the filter, sorting, a #task= deep link, the deadlock banner, no console
 * error (CSP). Skipped, saying why, without chromium, chromium-driver or python3-selenium. */
Test(serve, page_in_a_real_browser, .timeout = 180)
{
	require_fixtures();
	if (access("/usr/bin/python3", X_OK) != 0)
		cr_skip_test("/usr/bin/python3 is not installed");
	char *fixture = fixture_path(CRATE, "deadlock_abba");
	const char *source = getenv("AI_SOURCE") ? getenv("AI_SOURCE") : ".";
	run_browser_script("serve_browser.py", (const char *[]){ fixture, source, NULL });
	free(fixture);
}
