/* Several processes at once: `dump --pid C --pid S` of the peer_client / peer_server fixtures
 * (tests/fixtures/README.md), the client's read linked to the server's task, a cycle across the
 * two processes, `merge` of two dump files, and the options that select processes. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

struct pair {
	struct fixture server, client;
	char port[64]; /* what peer_server listens on: a port, or @NAME (unix) */
};

/* peer_server MODE, then peer_client on the port it prints; both ready. */
static void start_pair(struct pair *p, const char *version, const char *mode)
{
	const char *server_args[] = { mode, NULL };
	fixture_spawn(&p->server, version, "peer_server", server_args);
	char line[128];
	cr_assert(fgets(line, sizeof(line), p->server.out), "%s: peer_server printed nothing", version);
	cr_assert(sscanf(line, "listening %63s", p->port) == 1, "%s: peer_server printed '%s'", version, line);
	const char *client_args[] = { p->port, NULL };
	fixture_start(&p->client, version, "peer_client", client_args);
	fixture_expect_ready(&p->server);
}

static void stop_pair(struct pair *p)
{
	fixture_kill(&p->client);
	fixture_kill(&p->server);
}

static void dump_pair(struct pair *p, const char *format, struct tool_result *r)
{
	char c[16], s[16];
	snprintf(c, sizeof(c), "%d", (int)p->client.pid);
	snprintf(s, sizeof(s), "%d", (int)p->server.pid);
	const char *args[] = { "dump", "--pid", c, "--pid", s, "--format", format, "--color", "never", NULL };
	tool_run(r, 60, args);
	cr_assert_eq(tool_exit_code(r), 0, "dump of two processes failed: %s", r->err);
	if (strcmp(format, "text") == 0)
		tool_result_unwrap(r); /* a wait too long for a line goes on below it */
}

static json_t *parse(const char *text)
{
	return doc_parse(text, "dump");
}

/* The process of the document with that pid. */
static json_t *process_of(json_t *root, pid_t pid)
{
	return doc_item_by_int(json_object_get(root, "processes"), "pid", pid);
}

static json_t *task_of(json_t *process, const char *function)
{
	int count = 0;
	json_t *t = doc_find_task(json_object_get(process, "tasks"), function, NULL, NULL, &count);
	cr_assert_eq(count, 1, "%d tasks %s", count, function);
	return t;
}

Test(processes, client_linked_to_server_task_behind_mutex)
{
	require_fixtures();
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct pair p;
		start_pair(&p, *v, "mutex");
		struct tool_result r;
		dump_pair(&p, "json", &r);
		json_t *root = parse(r.out);
		cr_expect_str_eq(doc_str(root, "format"), "async-inspect-processes", "%s", *v);
		json_t *client = process_of(root, p.client.pid), *server = process_of(root, p.server.pid);
		cr_assert(client && server, "%s: both processes are listed", *v);
		cr_expect_str_eq(doc_str(client, "command"), "peer_client", "%s", *v);
		cr_expect_str_eq(doc_str(server, "command"), "peer_server", "%s", *v);
		json_t *request = task_of(client, "peer_client::request");
		json_t *handler = task_of(server, "peer_server::handle_conn");
		json_t *holder = task_of(server, "peer_server::holder");
		json_t *wait = doc_expect_wait(request, "io", "request");
		json_t *peer = json_object_get(wait, "peer");
		cr_assert(json_is_object(peer), "%s: the client's read has a peer", *v);
		cr_expect_eq(json_integer_value(json_object_get(peer, "pid")), p.server.pid, "%s", *v);
		cr_expect(json_equal(json_object_get(peer, "task"), json_object_get(handler, "id")),
			  "%s: the peer is handle_conn", *v);
		cr_expect(json_is_integer(json_object_get(peer, "fd")), "%s: the server's fd", *v);
		cr_expect(json_is_true(json_object_get(peer, "inspected")), "%s", *v);
		char addr[96];
		snprintf(addr, sizeof(addr), "127.0.0.1:%s", p.port);
		cr_expect_str_eq(doc_str(peer, "addr"), addr, "%s", *v);
		/* handle_conn keeps the stream while it waits on the Mutex the holder holds. */
		doc_expect_wait(handler, "mutex", "handle_conn");
		cr_expect_eq(json_array_size(json_object_get(holder, "held")), 1, "%s", *v);
		cr_expect_eq(json_array_size(json_object_get(root, "links")), 1, "%s", *v);
		cr_expect_eq(json_array_size(json_object_get(root, "deadlocks")), 0, "%s: no cycle", *v);
		json_int_t handler_id = json_integer_value(json_object_get(handler, "id"));
		json_int_t holder_id = json_integer_value(json_object_get(holder, "id"));
		json_decref(root);
		tool_result_free(&r);

		dump_pair(&p, "text", &r);
		char label[64], want[256];
		snprintf(label, sizeof(label), "[pid %d peer_client] Task", (int)p.client.pid);
		cr_expect(strstr(r.out, label), "%s: client tasks labelled:\n%s", *v, r.out);
		snprintf(label, sizeof(label), "[pid %d peer_server] Task", (int)p.server.pid);
		cr_expect(strstr(r.out, label), "%s: server tasks labelled:\n%s", *v, r.out);
		snprintf(want, sizeof(want), "-> pid %d (peer_server) Task %lld peer_server::handle_conn, which waits in lock Mutex<u64>",
			 (int)p.server.pid, (long long)handler_id);
		cr_expect(strstr(r.out, want), "%s: '%s' in:\n%s", *v, want, r.out);
		snprintf(want, sizeof(want), "held by Task %lld peer_server::holder", (long long)holder_id);
		cr_expect(strstr(r.out, want), "%s: '%s' in:\n%s", *v, want, r.out);
		cr_expect(strstr(r.out, "2 processes, 5 tasks and block_on futures; 1 socket wait linked"), "%s:\n%s", *v, r.out);
		tool_result_free(&r);
		stop_pair(&p);
	}
}

Test(processes, cycle_across_processes)
{
	require_fixtures();
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct pair p;
		start_pair(&p, *v, "cycle");
		struct tool_result r;
		dump_pair(&p, "text", &r);
		cr_expect(strstr(r.out, "DEADLOCK across processes: 2 tasks wait on each other"), "%s:\n%s", *v, r.out);
		char want[160];
		snprintf(want, sizeof(want), "for the other end of the socket: pid %d (peer_server) Task", (int)p.server.pid);
		cr_expect(strstr(r.out, want), "%s: '%s' in:\n%s", *v, want, r.out);
		snprintf(want, sizeof(want), "for the other end of the socket: pid %d (peer_client) Task", (int)p.client.pid);
		cr_expect(strstr(r.out, want), "%s: '%s' in:\n%s", *v, want, r.out);
		tool_result_free(&r);

		dump_pair(&p, "json", &r);
		json_t *root = parse(r.out);
		json_t *cycles = json_object_get(root, "deadlocks");
		cr_assert_eq(json_array_size(cycles), 1, "%s: one cycle", *v);
		json_t *edges = json_object_get(json_array_get(cycles, 0), "edges");
		cr_assert_eq(json_array_size(edges), 2, "%s", *v);
		size_t i;
		json_t *e;
		json_array_foreach(edges, i, e) {
			cr_expect_str_eq(doc_str(e, "via"), "socket", "%s", *v);
			json_int_t from = json_integer_value(json_object_get(json_object_get(e, "from"), "pid"));
			json_int_t to = json_integer_value(json_object_get(json_object_get(e, "to"), "pid"));
			cr_expect(from != to, "%s: each edge crosses processes", *v);
		}
		cr_expect_eq(json_array_size(json_object_get(root, "links")), 2, "%s", *v);
		json_decref(root);
		tool_result_free(&r);
		stop_pair(&p);
	}
}

Test(processes, cycle_over_unix_socket)
{
	require_fixtures();
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct pair p;
		start_pair(&p, *v, "unix");
		struct tool_result r;
		dump_pair(&p, "json", &r);
		json_t *root = parse(r.out);
		json_t *client = process_of(root, p.client.pid), *server = process_of(root, p.server.pid);
		cr_assert(client && server, "%s", *v);
		json_t *request = task_of(client, "peer_client::request_unix");
		json_t *handler = task_of(server, "peer_server::handle_unix");
		json_t *peer = json_object_get(doc_expect_wait(request, "io", "request_unix"), "peer");
		cr_assert(json_is_object(peer), "%s: the client's read has a peer:\n%s", *v, r.out);
		cr_expect_eq(json_integer_value(json_object_get(peer, "pid")), p.server.pid, "%s", *v);
		cr_expect(json_equal(json_object_get(peer, "task"), json_object_get(handler, "id")), "%s", *v);
		json_t *back = json_object_get(doc_expect_wait(handler, "io", "handle_unix"), "peer");
		cr_assert(json_is_object(back), "%s: the server's read has a peer", *v);
		cr_expect_eq(json_integer_value(json_object_get(back, "pid")), p.client.pid, "%s", *v);
		cr_expect_eq(json_array_size(json_object_get(root, "deadlocks")), 1, "%s: the cycle", *v);
		json_decref(root);
		tool_result_free(&r);
		stop_pair(&p);
	}
}

/* Writes `dump --pid PID --format json` to path. */
static void dump_to_file(pid_t pid, const char *path)
{
	char s[16];
	snprintf(s, sizeof(s), "%d", (int)pid);
	const char *args[] = { "dump", "--pid", s, "--format", "json", NULL };
	struct tool_result r;
	tool_run(&r, 60, args);
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	FILE *f = fopen(path, "w");
	cr_assert(f);
	fputs(r.out, f);
	cr_assert(fclose(f) == 0);
	tool_result_free(&r);
}

/* The id of the DOT task node of that process whose future is function, whatever its task id (to
 * free), or NULL. */
static char *task_node(const char *dot, pid_t pid, const char *command, const char *function)
{
	char head[96], tail[160];
	snprintf(head, sizeof(head), "label=\"[pid %d %s] Task ", (int)pid, command);
	snprintf(tail, sizeof(tail), " %s\"];", function);
	for (const char *at = strstr(dot, head); at; at = strstr(at + 1, head)) {
		const char *end = strchr(at, '\n'), *found = strstr(at, tail);
		if (!found || (end && found > end))
			continue;
		const char *line = at;
		while (line > dot && line[-1] != '\n')
			line--;
		line += strspn(line, " ");
		return strndup(line, strcspn(line, " "));
	}
	return NULL;
}

Test(processes, merge_links_two_dump_files)
{
	require_fixtures();
	const char *version = tokio_versions()[0];
	struct pair p;
	start_pair(&p, version, "mutex");
	char dir[] = "/tmp/ai-merge-XXXXXX", client_path[64], server_path[64];
	cr_assert(mkdtemp(dir));
	snprintf(client_path, sizeof(client_path), "%s/client.json", dir);
	snprintf(server_path, sizeof(server_path), "%s/server.json", dir);
	dump_to_file(p.client.pid, client_path);
	dump_to_file(p.server.pid, server_path);
	pid_t client_pid = p.client.pid, server_pid = p.server.pid;
	stop_pair(&p); /* merge needs only the files */

	struct tool_result r;
	const char *text_args[] = { "merge", client_path, server_path, "--color", "never", NULL };
	tool_run(&r, 60, text_args);
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	tool_result_unwrap(&r);
	cr_expect(strstr(r.out, "2 dumps taken within"), "%s", r.out);
	cr_expect(strstr(r.out, "(peer_server) Task") && strstr(r.out, "peer_server::handle_conn, which waits in lock Mutex<u64>"),
		  "the client's read names the server's task:\n%s", r.out);
	cr_expect(strstr(r.out, "1 socket wait linked"), "%s", r.out);
	tool_result_free(&r);

	const char *json_args[] = { "merge", "--format", "json", server_path, client_path, NULL };
	tool_run(&r, 60, json_args);
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	json_t *root = parse(r.out);
	json_t *links = json_object_get(root, "links");
	cr_assert_eq(json_array_size(links), 1);
	json_t *link = json_array_get(links, 0);
	cr_expect_str_eq(doc_str(json_object_get(link, "from"), "future"), "peer_client::request");
	cr_expect_str_eq(doc_str(json_object_get(link, "to"), "future"), "peer_server::handle_conn");
	json_decref(root);
	tool_result_free(&r);

	/* The joined graph as one machine's `dump --pid C --pid S --graph dot` draws it. */
	const char *dot_args[] = { "merge", "--graph", "dot", client_path, server_path, NULL };
	tool_run(&r, 60, dot_args);
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	char want[160];
	snprintf(want, sizeof(want), "subgraph cluster_p%d {\n  label=\"pid %d peer_client\";", (int)client_pid,
		 (int)client_pid);
	cr_expect(strstr(r.out, want), "one host: no host in the label:\n%s", r.out);
	char *client_node = task_node(r.out, client_pid, "peer_client", "peer_client::request");
	char *server_node = task_node(r.out, server_pid, "peer_server", "peer_server::handle_conn");
	cr_assert(client_node && server_node, "%s", r.out);
	snprintf(want, sizeof(want), "p%d_", (int)server_pid);
	cr_expect(strncmp(server_node, want, strlen(want)) == 0, "%s", server_node);
	const char *edge = dot_edge(r.out, client_node, server_node, "reads from the socket's other end");
	cr_expect(edge && !strstr(edge, "red"), "the socket edge, not on a cycle:\n%s", r.out);
	cr_expect(strstr(r.out, "[label=\"held by\"]") && !strstr(r.out, "color=red"), "the lock, no cycle:\n%s", r.out);
	free(client_node);
	free(server_node);
	tool_result_free(&r);
	const char *bad_graph[] = { "merge", "--graph", "svg", client_path, NULL };
	tool_run(&r, 60, bad_graph);
	cr_expect_eq(tool_exit_code(&r), 2, "%s", r.err);
	tool_result_free(&r);

	const char *bad_args[] = { "merge", client_path, "/nonexistent.json", NULL };
	tool_run(&r, 60, bad_args);
	cr_expect_eq(tool_exit_code(&r), 1);
	cr_expect(strstr(r.err, "/nonexistent.json"), "the error names the file: %s", r.err);
	tool_result_free(&r);
	unlink(client_path);
	unlink(server_path);
	rmdir(dir);
}

Test(processes, selecting_processes)
{
	require_fixtures();
	struct fixture f;
	fixture_start(&f, "c", "hello", NULL);
	char pid[16], other[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	snprintf(other, sizeof(other), "%d", (int)getpid());
	struct tool_result r;

	/* A second --pid no longer replaces the first in silence: attach watches both, and says
	 * of each why it cannot (neither is a Rust program); none read is a failure. */
	const char *attach_args[] = { "attach", "--no-tui", "--pid", pid, "--pid", other, NULL };
	tool_run(&r, 30, attach_args);
	cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
	char expect[128];
	snprintf(expect, sizeof(expect), "process %s has ended (", pid);
	cr_expect(strstr(r.err, expect) && strstr(r.err, "is not a Rust program"), "%s", r.err);
	snprintf(expect, sizeof(expect), "process %s has ended (", other);
	cr_expect(strstr(r.err, expect), "%s", r.err);
	tool_result_free(&r);
	const char *record_args[] = { "attach", "--no-tui", "--pid", pid, "--pid", other, "--record", "/dev/null", NULL };
	tool_run(&r, 30, record_args);
	cr_expect_eq(tool_exit_code(&r), 2, "%s", r.err);
	cr_expect(strstr(r.err, "--record takes one process, and 2 were given"), "%s", r.err);
	tool_result_free(&r);
	const char *threads_args[] = { "threads", "--pids", "1,2", NULL };
	tool_run(&r, 30, threads_args);
	cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
	cr_expect(strstr(r.err, "2 processes given: this command inspects one"), "%s", r.err);
	tool_result_free(&r);

	/* serve takes several too, and says of each why it cannot read it (nothing to serve: a
	 * failure); --record takes one. profile follows one process: a second one is refused. */
	const char *serve_args[] = { "serve", "--pid", pid, "--pids", other, NULL };
	tool_run(&r, 30, serve_args);
	cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
	snprintf(expect, sizeof(expect), "process %s has ended (", pid);
	cr_expect(strstr(r.err, expect) && strstr(r.err, "is not a Rust program"), "%s", r.err);
	tool_result_free(&r);
	const char *serve_record_args[] = { "serve", "--pid", "1", "--pids", "2,3", "--record", "/dev/null", NULL };
	tool_run(&r, 30, serve_record_args);
	cr_expect_eq(tool_exit_code(&r), 2, "%s", r.err);
	cr_expect(strstr(r.err, "--record takes one"), "%s", r.err);
	tool_result_free(&r);
	const char *profile_args[] = { "profile", "--pid", "1", "--pid", "2", NULL };
	tool_run(&r, 30, profile_args);
	/* profile takes several; when none of them can be profiled, each says why, exit 1. */
	cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
	cr_expect(strstr(r.err, "process 1: ") && strstr(r.err, "process 2: ") && strstr(r.err, "kernel thread"),
		  "%s", r.err);
	tool_result_free(&r);

	const char *none_args[] = { "dump", "--pgrep", "no-such-command-xyz", NULL };
	tool_run(&r, 30, none_args);
	cr_expect_eq(tool_exit_code(&r), 1);
	cr_expect(strstr(r.err, "--pgrep no-such-command-xyz: no process has that name"), "%s", r.err);
	tool_result_free(&r);
	const char *bad_args[] = { "dump", "--pids", "12,x", NULL };
	tool_run(&r, 30, bad_args);
	cr_expect_neq(tool_exit_code(&r), 0);
	cr_expect(strstr(r.err, "x"), "%s", r.err);
	tool_result_free(&r);

	fixture_kill(&f);

	/* --pgrep finds a process by its command name (the same process given twice is inspected
	 * once): a copy of a fixture under a name no other test uses. */
	char *hello = fixture_path("tokio-1.54", "nested"), name[32], copy[64], cmd[256];
	snprintf(name, sizeof(name), "aipg%d", (int)getpid());
	snprintf(copy, sizeof(copy), "/tmp/%s", name);
	snprintf(cmd, sizeof(cmd), "cp '%s' '%s'", hello, copy);
	cr_assert_eq(system(cmd), 0);
	free(hello);
	int out[2];
	cr_assert(pipe(out) == 0);
	pid_t child = fork();
	cr_assert(child >= 0);
	if (child == 0) {
		dup2(out[1], STDOUT_FILENO);
		close(out[0]);
		close(out[1]);
		execl(copy, copy, (char *)NULL);
		_exit(127);
	}
	close(out[1]);
	FILE *child_out = fdopen(out[0], "r");
	char line[64];
	cr_assert(fgets(line, sizeof(line), child_out), "the copy of nested printed nothing");
	snprintf(pid, sizeof(pid), "%d", (int)child);
	const char *pgrep_args[] = { "dump", "--pgrep", name, "--pid", pid, "--format", "json", NULL };
	tool_run(&r, 30, pgrep_args);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	fclose(child_out);
	unlink(copy);
	cr_expect_eq(tool_exit_code(&r), 0, "%s", r.err);
	char want[32];
	snprintf(want, sizeof(want), "\"pid\":%d,", (int)child);
	cr_expect(strstr(r.out, want), "%s", r.out);
	tool_result_free(&r);
}

/* The server is not inspected (the client and another program are): the client's read names the
 * process /proc shows at the other end, and no task of it. */
Test(processes, peer_outside_the_set_named_from_proc)
{
	require_fixtures();
	const char *v = "tokio-1.54";
	struct pair p;
	start_pair(&p, v, "mutex");
	struct fixture other;
	fixture_start(&other, v, "nested", NULL);
	char c[16], o[16], want[128];
	snprintf(c, sizeof(c), "%d", (int)p.client.pid);
	snprintf(o, sizeof(o), "%d", (int)other.pid);
	struct tool_result r;
	const char *text_args[] = { "dump", "--pid", c, "--pid", o, "--color", "never", NULL };
	tool_run(&r, 60, text_args);
	cr_expect_eq(tool_exit_code(&r), 0, "%s", r.err);
	tool_result_unwrap(&r);
	snprintf(want, sizeof(want), "waiting for read (fd ");
	cr_expect(strstr(r.out, want), "%s", r.out);
	snprintf(want, sizeof(want), "-> pid %d (peer_server), not inspected", (int)p.server.pid);
	cr_expect(strstr(r.out, want), "'%s' in:\n%s", want, r.out);
	tool_result_free(&r);

	const char *json_args[] = { "dump", "--pid", c, "--pid", o, "--format", "json", NULL };
	tool_run(&r, 60, json_args);
	cr_expect_eq(tool_exit_code(&r), 0, "%s", r.err);
	json_t *root = parse(r.out);
	json_t *request = task_of(process_of(root, p.client.pid), "peer_client::request");
	json_t *peer = json_object_get(doc_expect_wait(request, "io", "request"), "peer");
	cr_assert(json_is_object(peer), "the client's read has a peer: %s", r.out);
	cr_expect_eq(json_integer_value(json_object_get(peer, "pid")), p.server.pid);
	cr_expect_str_eq(doc_str(peer, "command"), "peer_server");
	cr_expect(json_is_false(json_object_get(peer, "inspected")));
	cr_expect(json_is_null(json_object_get(peer, "task")));
	cr_expect(json_is_integer(json_object_get(peer, "fd")));
	snprintf(want, sizeof(want), "127.0.0.1:%s", p.port);
	cr_expect_str_eq(doc_str(peer, "addr"), want);
	cr_expect_eq(json_array_size(json_object_get(root, "links")), 0, "no task-to-task link");
	json_decref(root);
	tool_result_free(&r);
	fixture_kill(&other);
	stop_pair(&p);
}

/* ---- attach of several processes ---- */

/* The final screen of `attach --pid C --pid S` in headless mode after `keys`. */
static char *attach_screen(const struct pair *p, const char *keys)
{
	char c[16], s[16];
	snprintf(c, sizeof(c), "%d", (int)p->client.pid);
	snprintf(s, sizeof(s), "%d", (int)p->server.pid);
	setenv("AI_TUI_HEADLESS", "200x30", 1);
	setenv("AI_TUI_KEYS", keys, 1);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "attach", "--pid", c, "--pid", s, NULL });
	unsetenv("AI_TUI_HEADLESS");
	unsetenv("AI_TUI_KEYS");
	cr_assert_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	char *out = r.out;
	r.out = NULL;
	tool_result_free(&r);
	return out;
}

/* The task-list row whose FUTURE is `future`, or NULL (a static buffer). */
static const char *row_of(const char *screen, const char *future)
{
	static char line[1024];
	for (const char *s = screen; s && *s; s = strchr(s, '\n') ? strchr(s, '\n') + 1 : NULL) {
		size_t n = strcspn(s, "\n"), m = strlen(future);
		if (n > m && n < sizeof(line) && strncmp(s + n - m, future, m) == 0 && s[n - m - 1] == ' ') {
			memcpy(line, s, n);
			line[n] = '\0';
			return line;
		}
	}
	return NULL;
}

Test(processes, attach_tui_labels_filters_and_links_the_processes)
{
	require_fixtures();
	const char *v = "tokio-1.54";
	struct pair p;
	start_pair(&p, v, "mutex");
	char client[64], server[64], want[256];
	snprintf(client, sizeof(client), " %d peer_client ", (int)p.client.pid);
	snprintf(server, sizeof(server), " %d peer_server ", (int)p.server.pid);

	/* Every task of both, each row with its process; counts by process in the header. */
	char *s = attach_screen(&p, "");
	cr_expect(strstr(s, "async-inspect  2 processes  tasks 5:"), "%s", s);
	snprintf(want, sizeof(want), "pid %d peer_client  tasks 2: 1 blocked 1 block_on", (int)p.client.pid);
	cr_expect(strstr(s, want), "'%s' in\n%s", want, s);
	snprintf(want, sizeof(want), "pid %d peer_server  tasks 3: 2 blocked 1 block_on", (int)p.server.pid);
	cr_expect(strstr(s, want), "'%s' in\n%s", want, s);
	const char *row = row_of(s, "peer_client::request");
	cr_expect(row && strstr(row, client) && strstr(row, "blocked"), "client row '%s' in\n%s", row, s);
	row = row_of(s, "peer_server::handle_conn");
	cr_expect(row && strstr(row, server) && strstr(row, "blocked"), "server row '%s' in\n%s", row, s);
	row = row_of(s, "peer_server::holder");
	cr_expect(row && strstr(row, server), "holder row '%s' in\n%s", row, s);
	free(s);

	/* P: the client's tasks only; P again: the server's; once more: all. */
	s = attach_screen(&p, "P");
	cr_expect(row_of(s, "peer_client::request") && !row_of(s, "peer_server::handle_conn"), "%s", s);
	snprintf(want, sizeof(want), "process: pid %d (peer_client)", (int)p.client.pid);
	cr_expect(strstr(s, want) && strstr(s, "(2 of 5 shown)"), "'%s' in\n%s", want, s);
	free(s);
	s = attach_screen(&p, "PP");
	cr_expect(!row_of(s, "peer_client::request") && row_of(s, "peer_server::handle_conn") &&
		  row_of(s, "peer_server::holder"), "%s", s);
	free(s);
	s = attach_screen(&p, "PPP");
	cr_expect(row_of(s, "peer_client::request") && row_of(s, "peer_server::handle_conn"), "%s", s);
	cr_expect(strstr(s, "process: all"), "%s", s);
	free(s);

	/* The client task's details: its read, linked to the server task behind the mutex. */
	s = attach_screen(&p, "P/request\\n\\n");
	cr_expect(strstr(s, "Task details"), "%s", s);
	snprintf(want, sizeof(want), "in process %d (peer_client)", (int)p.client.pid);
	cr_expect(strstr(s, want), "'%s' in\n%s", want, s);
	snprintf(want, sizeof(want), "-> pid %d (peer_server) Task ", (int)p.server.pid);
	const char *link = strstr(s, want);
	cr_expect(link && strstr(link, "peer_server::handle_conn, which waits in lock Mutex<u64>"), "'%s' in\n%s",
		  want, s);
	free(s);

	/* The help lists the key. */
	s = attach_screen(&p, "?");
	cr_expect(strstr(s, "P  ") && strstr(s, "several processes: show the next one only"), "%s", s);
	free(s);
	cr_expect_eq(tracer_pid(p.client.pid), 0);
	cr_expect_eq(tracer_pid(p.server.pid), 0);
	stop_pair(&p);
}

/* The pair in a cycle: dump --graph dot draws both processes with the red socket edges; the
 * TUI's graph (g) shows the cycle across them as a deadlock, as dump does, and the rows say
 * deadlocked. */
Test(processes, graph_and_cycle_across_processes_in_dot_and_tui)
{
	require_fixtures();
	const char *v = "tokio-1.54";
	struct pair p;
	start_pair(&p, v, "cycle");
	char c[16], s[16], want[256];
	snprintf(c, sizeof(c), "%d", (int)p.client.pid);
	snprintf(s, sizeof(s), "%d", (int)p.server.pid);
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "dump", "--pid", c, "--pid", s, "--graph", "dot", NULL });
	cr_expect_eq(tool_exit_code(&r), 0, "%s", r.err);
	snprintf(want, sizeof(want), "subgraph cluster_p%d {\n  label=\"pid %d peer_client\";", (int)p.client.pid,
		 (int)p.client.pid);
	cr_expect(strstr(r.out, want), "'%s' in\n%s", want, r.out);
	snprintf(want, sizeof(want), "[pid %d peer_server] Task ", (int)p.server.pid);
	cr_expect(strstr(r.out, want), "'%s' in\n%s", want, r.out);
	snprintf(want, sizeof(want), " -> p%d_t", (int)p.server.pid);
	const char *edge = strstr(r.out, want);
	cr_expect(edge && strstr(edge, "reads from the socket's other end\", color=red"), "a red socket edge in\n%s", r.out);
	tool_result_free(&r);

	char *screen = attach_screen(&p, "g");
	cr_expect(strstr(screen, "2 processes  tasks 4: 2 deadlocked"), "%s", screen);
	cr_expect(strstr(screen, "DEADLOCK across processes: 2 tasks wait on each other"), "%s", screen);
	snprintf(want, sizeof(want), "for the other end of the socket: pid %d (peer_server) task ", (int)p.server.pid);
	cr_expect(strstr(screen, want), "'%s' in\n%s", want, screen);
	snprintf(want, sizeof(want), "for the other end of the socket: pid %d (peer_client) task ", (int)p.client.pid);
	cr_expect(strstr(screen, want), "'%s' in\n%s", want, screen);
	free(screen);
	const char *row = NULL;
	screen = attach_screen(&p, "");
	row = row_of(screen, "peer_client::request");
	cr_expect(row && strstr(row, "deadlocked"), "row '%s' in\n%s", row, screen);
	free(screen);
	cr_expect_eq(tracer_pid(p.client.pid), 0);
	cr_expect_eq(tracer_pid(p.server.pid), 0);
	stop_pair(&p);
}

/* A peer outside the watched set: the TUI's details name it by pid and command, as dump does. */
Test(processes, attach_names_the_peer_outside_the_set)
{
	require_fixtures();
	const char *v = "tokio-1.54";
	struct pair p;
	start_pair(&p, v, "mutex");
	struct fixture other;
	fixture_start(&other, v, "nested", NULL);
	char c[16], o[16], want[128];
	snprintf(c, sizeof(c), "%d", (int)p.client.pid);
	snprintf(o, sizeof(o), "%d", (int)other.pid);
	setenv("AI_TUI_HEADLESS", "200x30", 1);
	setenv("AI_TUI_KEYS", "/request\\n\\n", 1);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "attach", "--pid", c, "--pid", o, NULL });
	unsetenv("AI_TUI_HEADLESS");
	unsetenv("AI_TUI_KEYS");
	cr_expect_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect(strstr(r.out, "Task details"), "%s", r.out);
	snprintf(want, sizeof(want), "-> pid %d (peer_server), not inspected", (int)p.server.pid);
	cr_expect(strstr(r.out, want), "'%s' in\n%s", want, r.out);
	tool_result_free(&r);
	cr_expect_eq(tracer_pid(p.client.pid), 0);
	fixture_kill(&other);
	stop_pair(&p);
}

/* Reads the tool's output up to a line containing `needle`; false at its end. */
static bool read_until(FILE *out, const char *needle, char *line, size_t size)
{
	while (fgets(line, (int)size, out)) {
		if (strstr(line, needle))
			return true;
	}
	return false;
}

Test(processes, attach_no_tui_prints_both_and_goes_on_when_one_ends)
{
	require_fixtures();
	const char *v = "tokio-1.54";
	struct pair p;
	start_pair(&p, v, "mutex");
	char c[16], s[16], want[256], line[8192];
	snprintf(c, sizeof(c), "%d", (int)p.client.pid);
	snprintf(s, sizeof(s), "%d", (int)p.server.pid);
	struct tool_process tp;
	tool_spawn(&tp, (const char *[]){ "attach", "--pid", c, "--pid", s, "--interval", "100ms", "--no-tui",
					  "--color", "never", NULL });
	/* Two samples of both, the client's read linked to the server's task. */
	for (int k = 0; k < 2; k++) {
		cr_assert(read_until(tp.out, "==== snapshot ", line, sizeof(line)), "no snapshot %d", k + 1);
		cr_expect(strstr(line, "(2 processes)"), "%s", line);
		snprintf(want, sizeof(want), "-> pid %d (peer_server) Task ", (int)p.server.pid);
		cr_expect(read_until(tp.out, want, line, sizeof(line)), "no link to the server in snapshot %d", k + 1);
	}
	/* The client ends: the server goes on alone. */
	pid_t client = p.client.pid;
	fixture_kill(&p.client);
	snprintf(want, sizeof(want), "==== process %d has ended (exited); the others go on", (int)client);
	cr_expect(read_until(tp.out, want, line, sizeof(line)), "'%s' never printed", want);
	cr_expect(read_until(tp.out, "==== snapshot ", line, sizeof(line)) && strstr(line, "(1 process)"), "%s", line);
	snprintf(want, sizeof(want), "=== process %d (peer_server)", (int)p.server.pid);
	cr_expect(read_until(tp.out, want, line, sizeof(line)), "'%s' never printed", want);
	kill(tp.pid, SIGINT);
	struct tool_result r;
	tool_finish(&tp, 60, &r);
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	cr_expect_eq(tracer_pid(p.server.pid), 0);
	cr_expect_eq(process_settles_in(p.server.pid, 'S'), 'S');
	tool_result_free(&r);
	fixture_kill(&p.server);
}

/* Two hosts' dumps (tests/data/merge_cycle/README.md: real dumps of peer_client and peer_server in
 * their cycle, edited into web-1 and db-1, both pid 1, linked by 10.0.0.x addresses): merge finds
 * the deadlock across the hosts, in text and in the DOT graph. */
Test(processes, merge_cross_host_cycle)
{
	const char *source = getenv("AI_SOURCE") ? getenv("AI_SOURCE") : ".";
	char client[512], server[512];
	snprintf(client, sizeof(client), "%s/tests/data/merge_cycle/client.json", source);
	snprintf(server, sizeof(server), "%s/tests/data/merge_cycle/server.json", source);
	struct tool_result r;
	const char *text_args[] = { "merge", client, server, "--color", "never", NULL };
	tool_run(&r, 60, text_args);
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	tool_result_unwrap(&r);
	cr_expect(strstr(r.out, "=== process 1 (peer_client) on web-1 ===") && strstr(r.out, "=== process 1 (peer_server) on db-1 ==="),
		  "%s", r.out);
	cr_expect(strstr(r.out, "DEADLOCK across processes: 2 tasks wait on each other"), "%s", r.out);
	/* Both are pid 1: each reference names its host too. */
	cr_expect(strstr(r.out, "waits in TCP 10.0.0.5:40712 -> 10.0.0.9:8080 ESTABLISHED, waiting for read (fd 9)\n"
				"     for the other end of the socket: pid 1 (peer_server) on db-1 Task 3 peer_server::handle_conn"),
		  "the client's wait leads to the server's task:\n%s", r.out);
	cr_expect(strstr(r.out, "for the other end of the socket: pid 1 (peer_client) on web-1 Task 3 peer_client::request"), "%s", r.out);
	cr_expect(strstr(r.out, "-> pid 1 (peer_server) on db-1 Task 3 peer_server::handle_conn, which waits in TCP"), "%s", r.out);
	cr_expect(strstr(r.out, "answered by pid 1 (peer_client) on web-1 Task 3 peer_client::request"), "%s", r.out);
	cr_expect(strstr(r.out, "2 socket waits linked to the task at the other end; 1 cycle through sockets"), "%s", r.out);
	tool_result_free(&r);

	const char *dot_args[] = { "merge", "--graph", "dot", client, server, NULL };
	tool_run(&r, 60, dot_args);
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect(strncmp(r.out, "digraph wait_for {\n", 19) == 0, "%s", r.out);
	/* Both are pid 1: one cluster each all the same, named by host. */
	cr_expect(strstr(r.out, "subgraph cluster_p1_0 {\n  label=\"pid 1 peer_client on web-1\";"), "%s", r.out);
	cr_expect(strstr(r.out, "subgraph cluster_p1_1 {\n  label=\"pid 1 peer_server on db-1\";"), "%s", r.out);
	char *client_node = dot_node(r.out, "[pid 1 peer_client] Task 3 peer_client::request");
	char *server_node = dot_node(r.out, "[pid 1 peer_server] Task 3 peer_server::handle_conn");
	cr_assert(client_node && server_node, "%s", r.out);
	cr_expect_str_neq(client_node, server_node);
	const char *there = dot_edge(r.out, client_node, server_node, "reads from the socket's other end");
	const char *back = dot_edge(r.out, server_node, client_node, "reads from the socket's other end");
	cr_expect(there && strstr(there, "color=red"), "the client's edge, red on the cycle:\n%s", r.out);
	cr_expect(back && strstr(back, "color=red"), "the server's edge, red on the cycle:\n%s", r.out);
	free(client_node);
	free(server_node);
	tool_result_free(&r);

	const char *json_args[] = { "merge", "--format", "json", client, server, NULL };
	tool_run(&r, 60, json_args);
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	json_t *root = parse(r.out);
	cr_expect_eq(json_array_size(json_object_get(root, "deadlocks")), 1, "%s", r.out);
	cr_expect_eq(json_array_size(json_object_get(root, "links")), 2, "%s", r.out);
	/* Each link's ends are told apart by host: both are pid 1. */
	size_t i;
	json_t *link;
	json_array_foreach(json_object_get(root, "links"), i, link) {
		const char *from = json_string_value(json_object_get(json_object_get(link, "from"), "host"));
		const char *to = json_string_value(json_object_get(json_object_get(link, "to"), "host"));
		cr_expect(from && to && strcmp(from, to) != 0, "link %zu: hosts %s and %s", i, from ? from : "null", to ? to : "null");
	}
	json_t *client_task = NULL;
	json_array_foreach(json_object_get(json_array_get(json_object_get(root, "processes"), 0), "tasks"), i, link) {
		if (json_object_get(link, "wait") && json_object_get(json_object_get(link, "wait"), "peer"))
			client_task = link;
	}
	cr_assert_not_null(client_task, "the client's task waits with a peer");
	cr_expect_str_eq(json_string_value(json_object_get(json_object_get(json_object_get(client_task, "wait"), "peer"), "host")),
			 "db-1");
	json_decref(root);
	tool_result_free(&r);
}

/* attach --profile of several processes: the TUI's POLLS/S, BUSY% and SCHED columns for the tasks
 * of each, from each process's own probes; both run on untraced afterwards. Skipped where perf
 * uprobe events are refused. */
Test(processes, attach_profile_columns_per_process)
{
	struct fixture a, b;
	fixture_start_with_stdin(&a, "tokio-1.54", "profiled", NULL);
	fixture_start_with_stdin(&b, "smol", "profiled", NULL);
	char *pa = xasprintf("%d", (int)a.pid), *pb = xasprintf("%d", (int)b.pid);
	setenv("AI_TUI_HEADLESS", "220x20", 1);
	setenv("AI_TUI_KEYS", "\\<Tick>\\<Tick>sssss", 1);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "attach", "--pid", pa, "--pid", pb, "--profile", "--interval", "1s", NULL });
	unsetenv("AI_TUI_HEADLESS");
	unsetenv("AI_TUI_KEYS");
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	if (strstr(r.err, "no profile: ") && strstr(r.err, "perf events are not allowed"))
		cr_skip("perf uprobe events are not available here: %s", r.err);
	cr_expect(strstr(r.out, "PROCESS            STATE        FOR>= POLLS/S  BUSY%   SCHED"), "%s", r.out);
	cr_expect(strstr(r.out, "sort: busy"), "%s", r.out);
	/* Each process's spinner is busy: its row has a BUSY% above 0 (fields: ID PID COMMAND STATE
	 * FOR POLLS BUSY ...). */
	const char *pids[] = { pa, pb };
	for (size_t k = 0; k < 2; k++) {
		bool found = false;
		for (const char *line = r.out; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
			size_t len = strcspn(line, "\n");
			char *row = xstrndup(line, len);
			char id[32], pid[32], command[64], state[32], since[32], polls[32], busy[32];
			if (strstr(row, "profiled::spinner") &&
			    sscanf(row, "%31s %31s %63s %31s %31s %31s %31s", id, pid, command, state, since, polls, busy) == 7 &&
			    strcmp(pid, pids[k]) == 0) {
				found = true;
				cr_expect_gt(strtod(busy, NULL), 0.0, "pid %s: the spinner is never busy: %s", pids[k], r.out);
				cr_expect_gt(strtod(polls, NULL), 0.0, "pid %s: the spinner is never polled: %s", pids[k], r.out);
			}
			free(row);
		}
		cr_expect(found, "pid %s has its spinner row: %s", pids[k], r.out);
	}
	tool_result_free(&r);
	struct fixture *both[] = { &a, &b };
	for (size_t k = 0; k < 2; k++) {
		cr_expect_eq(tracer_pid(both[k]->pid), 0, "still traced after the view");
		cr_assert_eq(write(both[k]->in_fd, "quit\n", 5), 5);
		int status = fixture_wait(both[k]);
		cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
		fixture_kill(both[k]);
	}
	free(pa);
	free(pb);
}
