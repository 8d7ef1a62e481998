/* `serve --profile` of several processes: each process its own probes and CPU samples, the
 * table's profile columns per task of each process, the flamegraph with a root frame per process,
 * and a process whose runtime cannot be profiled saying why while the others are profiled. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/util.h"
#include "json_tree.h"
#include "serve_http.h"
#include "support.h"

#define CRATE "tokio-1.54"

static char *pid_text(pid_t pid)
{
	return xasprintf("%d", (int)pid);
}

/* The row of process pid whose root future is `future`, or NULL. */
static json_t *row_of(json_t *rows, pid_t pid, const char *future)
{
	json_t *row;
	size_t i;
	json_array_foreach(rows, i, row) {
		const char *f = json_string_value(json_object_get(row, "future"));
		if (f && strcmp(f, future) == 0 && json_integer_value(json_object_get(row, "pid")) == pid)
			return row;
	}
	return NULL;
}

/* The header's entry of process pid. */
static json_t *process_of(json_t *table, pid_t pid)
{
	return doc_item_by_int(json_object_get(table, "processes"), "pid", pid);
}

/* Two profiled tokio programs and a futures::executor one (no poll function of a runtime the
 * probes know): both spinners busy in their own process's rows, the executor's rows without the
 * columns and its header entry saying why; /api/flamegraph has a frame "pid P (profiled)" per
 * profiled process with its spinner under it, and names the executor as without samples. */
Test(serve_processes, profile_per_process, .timeout = 900)
{
	lock_profile_tests();
	struct fixture a, b, plain;
	fixture_start_with_stdin(&a, CRATE, "profiled", NULL);
	fixture_start_with_stdin(&b, CRATE, "profiled", NULL);
	fixture_start(&plain, "futures", "ordered", NULL);
	char *pa = pid_text(a.pid), *pb = pid_text(b.pid), *pp = pid_text(plain.pid);
	struct server s;
	serve_start(&s, (const char *[]){ "serve", "--pid", pa, "--pid", pb, "--pid", pp, "--profile", "--interval",
					  "300ms", NULL });
	char *bearer = xasprintf("Authorization: Bearer %s\r\n", s.token);
	free(read_events(&s, bearer, 4));
	free(bearer);

	json_t *table = get_json(&s, "/api/tasks");
	const char *refused = json_string_value(json_object_get(process_of(table, a.pid), "no_profile"));
	if (refused && strstr(refused, "perf")) {
		json_decref(table);
		serve_stop(&s);
		fixture_kill(&a);
		fixture_kill(&b);
		fixture_kill(&plain);
		cr_skip("perf uprobe events are not available here: %s", refused);
	}
	cr_expect(json_is_true(json_object_get(table, "profiled")));
	json_t *rows = json_object_get(table, "tasks");
	pid_t pids[] = { a.pid, b.pid };
	for (size_t k = 0; k < 2; k++) {
		json_t *process = process_of(table, pids[k]);
		cr_expect(json_is_true(json_object_get(process, "profiled")), "pid %d profiled", (int)pids[k]);
		cr_expect(json_is_null(json_object_get(process, "no_profile")));
		json_t *spinner = row_of(rows, pids[k], "profiled::spinner");
		json_t *sleeper = row_of(rows, pids[k], "profiled::sleeper");
		cr_assert(spinner && sleeper, "pid %d's spinner and sleeper rows", (int)pids[k]);
		cr_expect_gt(json_number_value(json_object_get(spinner, "busy_percent")), 0.0, "pid %d", (int)pids[k]);
		cr_expect_gt(json_integer_value(json_object_get(spinner, "polls_per_s")), 0, "pid %d", (int)pids[k]);
		cr_expect_eq(json_integer_value(json_object_get(sleeper, "polls_per_s")), 0);
	}
	json_t *unprofiled = process_of(table, plain.pid);
	cr_assert(unprofiled);
	cr_expect(json_is_false(json_object_get(unprofiled, "profiled")));
	const char *why = json_string_value(json_object_get(unprofiled, "no_profile"));
	cr_expect(why && strncmp(why, "no profile: ", 12) == 0 && strstr(why, "no task poll function"), "%s", why);
	cr_expect_gt(json_integer_value(json_object_get(unprofiled, "tasks")), 0, "its tasks are shown all the same");
	json_t *row;
	size_t i;
	json_array_foreach(rows, i, row) {
		if (json_integer_value(json_object_get(row, "pid")) == plain.pid)
			cr_expect(!json_object_get(row, "busy_percent") || json_is_null(json_object_get(row, "busy_percent")),
				  "an unprofiled process's row has no busy value");
	}
	json_decref(table);

	json_t *flame = get_json(&s, "/api/flamegraph");
	cr_assert(json_is_true(json_object_get(flame, "available")), "%s",
		  json_string_value(json_object_get(flame, "reason")));
	json_t *root = json_object_get(flame, "root");
	for (size_t k = 0; k < 2; k++) {
		char *name = xasprintf("pid %d (profiled)", (int)pids[k]);
		json_t *top = doc_item_by_string(json_object_get(root, "children"), "name", name, 0);
		cr_assert(top, "a root frame '%s'", name);
		cr_expect_eq(json_integer_value(json_object_get(top, "pid")), pids[k]);
		cr_expect(flame_find(top, "profiled::spinner"), "its spinner under %s", name);
		free(name);
	}
	json_t *processes = json_object_get(flame, "processes");
	cr_expect_eq(json_array_size(processes), 3);
	json_t *missing = doc_item_by_int(processes, "pid", plain.pid);
	cr_expect(json_is_false(json_object_get(missing, "available")));
	const char *reason = json_string_value(json_object_get(missing, "reason"));
	cr_expect(reason && strstr(reason, "no task poll function"), "%s", reason);
	json_decref(flame);

	serve_stop(&s);
	cr_expect_eq(tracer_pid(a.pid), 0);
	cr_expect_eq(tracer_pid(b.pid), 0);
	cr_expect_eq(tracer_pid(plain.pid), 0);
	fixture_kill(&a);
	fixture_kill(&b);
	fixture_kill(&plain);
	free(pa);
	free(pb);
	free(pp);
}

/* --profile with several processes is no longer refused; --record still is. */
Test(serve_processes, record_takes_one_process)
{
	struct tool_result r;
	tool_run(&r, 30, (const char *[]){ "serve", "--pid", "1", "--pid", "2", "--record", "x.jsonl", NULL });
	cr_expect_eq(tool_exit_code(&r), 2, "%s", r.err);
	cr_expect(strstr(r.err, "--record takes one"), "%s", r.err);
	tool_result_free(&r);
}

/* The page of `serve --pid C --pid S` in headless chromium (serve_browser.py --processes-links):
 * a deep link #task=PID:N opens that process's task, the graph draws each process's tasks under
 * a heading naming it with the socket edge across them, a click on a node sets the link to its
 * PID:N, and a hash change alone opens the other process's task. */
Test(serve_processes, deep_links_and_graph_in_a_real_browser, .timeout = 180)
{
	require_fixtures();
	if (access("/usr/bin/python3", X_OK) != 0)
		cr_skip_test("/usr/bin/python3 is not installed");
	char *server = fixture_path(CRATE, "peer_server");
	char *client = fixture_path(CRATE, "peer_client");
	const char *source = getenv("AI_SOURCE") ? getenv("AI_SOURCE") : ".";
	run_browser_script("serve_browser.py", (const char *[]){ server, source, "--processes-links", client, NULL });
	free(server);
	free(client);
}
