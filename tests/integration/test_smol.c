/* `async-inspect dump` on the smol fixture (tests/fixtures/smol): the tasks spawned through
 * async-task (smol::spawn on the global executor, LocalExecutor::spawn), found by the async-task
 * adapter's vtable scan, with their executor, state and await trees down to the async-io,
 * async-channel and async-lock leaves, at the lines of the fixture's `// @await:` markers. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

TestSuite(smol, .init = require_fixtures, .timeout = 300);

#define SRC "smol/src/bin/nested.rs"

/* A suspended async fn frame at the line of `marker`. */
static void expect_frame(json_t *node, const char *function, const char *marker)
{
	cr_assert_not_null(node, "no frame for %s", function);
	cr_expect_str_eq(doc_str(node, "function"), function);
	cr_expect(strstr(doc_str(node, "file"), "nested.rs"), "%s in %s", function, doc_str(node, "file"));
	cr_expect_eq(json_integer_value(json_object_get(node, "line")), marker_line(SRC, marker),
		     "%s suspended at the line of '%s'", function, marker);
	cr_expect(strncmp(doc_str(node, "state"), "Suspend", 7) == 0, "%s state %s", function,
		  doc_str(node, "state"));
}

/* An idle async-executor task; its tree root. */
static json_t *expect_task(json_t *task, const char *what)
{
	cr_assert_not_null(task, "no task %s", what);
	cr_expect_str_eq(doc_str(task, "runtime"), "async-executor", "%s: its executor", what);
	cr_expect_str_eq(doc_str(task, "status"), "idle", "%s: parked, not scheduled", what);
	return json_object_get(task, "tree");
}

Test(smol, spawned_tasks_with_executor_state_and_await_lines)
{
	struct fixture f;
	fixture_start(&f, "smol", "nested", NULL);
	struct tool_result r;
	dump_fixture(&f, "json", &r);
	json_error_t error;
	json_t *root = json_loads(r.out, 0, &error);
	cr_assert(root, "invalid JSON: %s", error.text);

	/* The runtime is found, with its version, and decoded. */
	json_t *rt, *runtimes = json_object_get(root, "runtimes"), *at = NULL;
	size_t i;
	json_array_foreach(runtimes, i, rt) {
		if (strcmp(doc_str(rt, "name"), "async-task") == 0)
			at = rt;
	}
	cr_assert_not_null(at, "no async-task runtime in %s", r.out);
	cr_expect_str_eq(doc_str(at, "version"), "4.7.1", "the version from Cargo.lock");
	cr_expect(json_is_true(json_object_get(at, "decoded")));
	json_t *w, *warnings = json_object_get(root, "warnings");
	json_array_foreach(warnings, i, w) {
		cr_expect(!strstr(json_string_value(w), "async-task"), "warning: %s", json_string_value(w));
	}

	json_t *tasks = json_object_get(root, "tasks");
	int n;
	/* smol::spawn(level1(0, Timer)): level1 -> level2 -> level3 -> async_io::Timer. */
	json_t *tree = expect_task(doc_find_task(tasks, "nested::level1", "id", "0", &n), "level1 id 0");
	cr_expect_eq(n, 1, "one level1 task with id 0");
	expect_frame(tree, "nested::level1", "@await: level1");
	cr_expect_str_eq(doc_local_value(tree, "name"), "\"task-0\"");
	expect_frame(doc_child(tree), "nested::level2", "@await: level2");
	expect_frame(doc_child(doc_child(tree)), "nested::level3", "@await: leaf-timer");
	doc_expect_leaf(doc_child(doc_child(doc_child(tree))), "async_io::Timer", "level1 id 0");
	/* Timer::after(1 day): a deadline, most of a day left. */
	json_t *wait = doc_expect_wait(doc_find_task(tasks, "nested::level1", "id", "0", &n), "sleep", "timer");
	cr_expect(json_integer_value(json_object_get(wait, "deadline_ns")) > 0);
	json_int_t left = json_integer_value(json_object_get(wait, "remaining_ms"));
	cr_expect(left > 3600 * 1000 && left <= 24 * 3600 * 1000, "time left %lld ms", (long long)left);

	/* smol::spawn(level1(1, Recv)): ... -> async_channel::Recv. */
	tree = expect_task(doc_find_task(tasks, "nested::level1", "id", "1", &n), "level1 id 1");
	cr_expect_eq(n, 1, "one level1 task with id 1");
	expect_frame(doc_child(doc_child(tree)), "nested::level3", "@await: leaf-recv");
	doc_expect_leaf(doc_child(doc_child(doc_child(tree))), "async_channel::Recv<", "level1 id 1");
	/* main keeps the channel's one Sender. */
	wait = doc_expect_wait(doc_find_task(tasks, "nested::level1", "id", "1", &n), "channel_recv", "recv");
	cr_expect_eq(json_integer_value(json_object_get(wait, "senders_alive")), 1);
	cr_expect(strncmp(doc_str(wait, "address"), "0x", 2) == 0);
	doc_find_task(tasks, "nested::level1", NULL, NULL, &n);
	cr_expect_eq(n, 2, "exactly the two level1 tasks spawned (no stale copy)");

	tree = expect_task(doc_find_task(tasks, "nested::sender", NULL, NULL, &n), "sender");
	cr_expect_eq(n, 1);
	expect_frame(tree, "nested::sender", "@await: leaf-send");
	doc_expect_leaf(doc_child(tree), "async_channel::Send<", "sender");
	wait = doc_expect_wait(doc_find_task(tasks, "nested::sender", NULL, NULL, &n), "channel_send", "send");
	cr_expect(json_is_true(json_object_get(wait, "receiver_alive")));

	tree = expect_task(doc_find_task(tasks, "nested::holder", NULL, NULL, &n), "holder");
	expect_frame(tree, "nested::holder", "@await: holder");
	doc_expect_leaf(doc_child(tree), "async_io::Timer", "holder");

	tree = expect_task(doc_find_task(tasks, "nested::waiter", NULL, NULL, &n), "waiter");
	expect_frame(tree, "nested::waiter", "@await: leaf-mutex");
	doc_expect_leaf(doc_child(tree), "async_lock::mutex::Lock<", "waiter");
	/* The waiter waits on the Mutex whose guard the holder keeps across its sleep. */
	wait = doc_expect_wait(doc_find_task(tasks, "nested::waiter", NULL, NULL, &n), "mutex", "waiter");
	cr_expect_str_eq(doc_str(wait, "type"), "Mutex<u64>");
	json_t *held = json_object_get(doc_find_task(tasks, "nested::holder", NULL, NULL, &n), "held");
	cr_assert_eq(json_array_size(held), 1, "the holder holds one guard");
	json_t *guard = json_array_get(held, 0);
	cr_expect_str_eq(doc_str(guard, "kind"), "mutex");
	cr_expect_str_eq(doc_str(guard, "local"), "guard");
	cr_expect_str_eq(doc_str(guard, "address"), doc_str(wait, "address"), "the same Mutex");
	cr_expect_eq(json_integer_value(json_object_get(guard, "line")), marker_line(SRC, "@await: holder"));
	cr_expect_eq(json_array_size(json_object_get(root, "deadlocks")), 0, "no deadlock: the holder sleeps");

	/* LocalExecutor::spawn(async move { .. }) on the main thread. */
	tree = expect_task(doc_find_task(tasks, "nested::main::{async_block#0}", NULL, NULL, &n), "local");
	cr_expect_eq(n, 1);
	expect_frame(tree, "nested::main::{async_block#0}", "@await: local");
	doc_expect_leaf(doc_child(tree), "async_channel::Recv<", "local");

	/* smol::block_on(local_ex.run(main future)): the root is the main future, parked on its
	 * channel recv, not the executor's run loop it was found in (named by driven_by). */
	json_t *main_node = NULL;
	json_array_foreach(tasks, i, rt) {
		if (strcmp(doc_str(rt, "kind"), "block_on") == 0 && !main_node) {
			main_node = doc_find_node(json_object_get(rt, "tree"), "nested::main::{async_block#1}", 0);
			if (!main_node)
				continue;
			/* smol::block_on is async-io's block_on: the root is async-io's. */
			cr_expect_str_eq(doc_str(rt, "runtime"), "async-io");
			cr_expect_eq(main_node, json_object_get(rt, "tree"), "the main future is the root");
			cr_expect_str_eq(doc_str(rt, "future"), "nested::main::{async_block#1}");
			cr_expect(strncmp(doc_str(rt, "driven_by"), "async_executor::", 16) == 0 &&
					  !strchr(doc_str(rt, "driven_by"), '<'),
				  "driven_by %s", doc_str(rt, "driven_by"));
		}
	}
	expect_frame(main_node, "nested::main::{async_block#1}", "@await: main");
	doc_expect_leaf(doc_child(main_node), "async_channel::Recv<", "main");

	json_decref(root);
	tool_result_free(&r);

	/* What a user reads in the text dump: the runtime, the executor, the lines. */
	dump_fixture(&f, "text", &r);
	cr_expect(strstr(r.out, "async-task 4.7.1"), "%s", r.out);
	cr_expect(strstr(r.out, "block_on  nested::main::{async_block#1}  on thread ") &&
			  strstr(r.out, "(driven by async_executor::"),
		  "the block_on header names the main future and its executor: %s", r.out);
	cr_expect(count_substr(r.out, "(async-executor") >= 6, "%s", r.out);
	cr_expect(!strstr(r.out, "Task 0 "), "id-less tasks are named by address: %s", r.out);
	char *line = xasprintf("nested.rs:%d", marker_line(SRC, "@await: leaf-timer"));
	cr_expect(strstr(r.out, line), "%s in %s", line, r.out);
	free(line);
	line = xasprintf("nested.rs:%d", marker_line(SRC, "@await: leaf-mutex"));
	cr_expect(strstr(r.out, line), "%s in %s", line, r.out);
	free(line);
	cr_expect(strstr(r.out, "holds Mutex<u64> @ "), "%s", r.out);
	tool_result_free(&r);
	fixture_kill(&f);
}

/* many_tasks 40: every task found once, and each kind's wait: the event_listener ones all on the
 * one Event, the lock ones all on the one Mutex. */
Test(smol, many_tasks_waits)
{
	struct fixture f;
	fixture_start(&f, "smol", "many_tasks", (const char *[]){ "40", NULL });
	struct tool_result r;
	dump_fixture(&f, "json", &r);
	json_error_t error;
	json_t *root = json_loads(r.out, 0, &error);
	cr_assert(root, "invalid JSON: %s", error.text);
	json_t *tasks = json_object_get(root, "tasks");
	static const struct { const char *future, *kind; } kinds[] = {
		{ "many_tasks::idle_timer", "sleep" },
		{ "many_tasks::idle_event", "notify" },
		{ "many_tasks::idle_recv", "channel_recv" },
		{ "many_tasks::idle_lock", "mutex" },
	};
	for (size_t k = 0; k < AI_ARRAY_SIZE(kinds); k++) {
		int n = 0;
		const char *address = NULL;
		json_t *t;
		size_t i;
		json_array_foreach(tasks, i, t) {
			if (strcmp(doc_str(t, "future"), kinds[k].future) != 0)
				continue;
			n++;
			json_t *wait = json_object_get(t, "wait");
			cr_expect_str_eq(doc_str(wait, "kind"), kinds[k].kind, "%s", kinds[k].future);
			if (strcmp(kinds[k].kind, "notify") == 0) {
				cr_expect(strstr(doc_str(wait, "description"), "event_listener Event @ 0x"), "%s",
					  doc_str(wait, "description"));
				cr_expect_str_eq(doc_str(wait, "type"), "Event");
			}
			if (strcmp(kinds[k].kind, "notify") == 0 || strcmp(kinds[k].kind, "mutex") == 0) {
				if (!address)
					address = doc_str(wait, "address");
				cr_expect_str_eq(doc_str(wait, "address"), address, "%s: one shared resource",
						 kinds[k].future);
			}
		}
		cr_expect_eq(n, 10, "%s: 10 of 40 tasks", kinds[k].future);
	}
	json_decref(root);
	tool_result_free(&r);
	fixture_kill(&f);
}

/* A task's wait, of kind io, with its socket: the fd is the one /proc shows for that socket. */
static json_t *expect_io_wait(pid_t pid, json_t *tasks, const char *function, const char *direction,
			      const char *state)
{
	int n;
	json_t *wait = doc_expect_wait(doc_find_task(tasks, function, NULL, NULL, &n), "io", function);
	cr_assert_not_null(wait);
	cr_expect_str_eq(doc_str(wait, "direction"), direction, "%s", function);
	char *link = xasprintf("/proc/%d/fd/%lld", (int)pid, (long long)doc_int(wait, "fd"));
	char target[128] = "";
	ssize_t len = readlink(link, target, sizeof(target) - 1);
	target[len > 0 ? len : 0] = '\0';
	cr_expect(strncmp(target, "socket:[", 8) == 0, "%s: fd %s is %s", function, link, target);
	cr_expect_str_eq(doc_str(wait, "fd_target"), target, "%s", function);
	free(link);
	json_t *sock = json_object_get(wait, "socket");
	cr_expect_str_eq(doc_str(sock, "kind"), "TCP", "%s", function);
	cr_expect_str_eq(doc_str(sock, "state"), state, "%s", function);
	return sock;
}

/* smol's sockets (async-io's Async<T> under async-net): a read on each end of one connection and
 * an accept, each with its fd and TCP socket from /proc; the main future joins a task. */
Test(smol, io_waits_name_their_sockets_and_a_join_its_task)
{
	struct fixture f;
	fixture_start(&f, "smol", "io", NULL);
	struct tool_result r;
	dump_fixture(&f, "json", &r);
	json_t *root = doc_parse(r.out, "dump");
	json_t *tasks = json_object_get(root, "tasks");

	json_t *client = expect_io_wait(f.pid, tasks, "io::client_read", "read", "ESTABLISHED");
	json_t *server = expect_io_wait(f.pid, tasks, "io::server_read", "read", "ESTABLISHED");
	json_t *listener = expect_io_wait(f.pid, tasks, "io::accept_next", "connection", "LISTEN");
	/* the two ends of one connection, to the listener's port */
	cr_expect_str_eq(doc_str(client, "peer"), doc_str(server, "local"));
	cr_expect_str_eq(doc_str(server, "peer"), doc_str(client, "local"));
	cr_expect_str_eq(doc_str(client, "peer"), doc_str(listener, "local"));
	int n;
	json_t *reader = doc_find_task(tasks, "io::client_read", NULL, NULL, &n);
	json_t *leaf = doc_child(json_object_get(reader, "tree"));
	doc_expect_leaf(leaf, "futures_lite::io::ReadFuture<", "client_read");
	json_t *wait = json_object_get(reader, "wait");
	char *want = xasprintf("TCP %s -> %s ESTABLISHED, waiting for read (fd %lld)", doc_str(client, "local"),
			       doc_str(client, "peer"), (long long)doc_int(wait, "fd"));
	cr_expect_str_eq(doc_str(wait, "description"), want);
	free(want);

	/* smol::block_on(.. spawn(client_read(..)).await): a join on that task, by its address */
	json_t *main = NULL, *t;
	size_t i;
	json_array_foreach(tasks, i, t) {
		if (strcmp(doc_str(t, "kind"), "block_on") == 0 && strcmp(doc_str(json_object_get(t, "tree"), "function"), "io::main::{async_block#0}") == 0)
			main = t;
	}
	cr_assert_not_null(main, "%s", r.out);
	json_t *join = doc_expect_wait(main, "join", "main");
	cr_expect_str_eq(doc_str(join, "address"), doc_str(reader, "address"), "the client task");
	want = xasprintf("join Task %s (idle)", doc_str(reader, "address"));
	cr_expect_str_eq(doc_str(join, "description"), want);
	free(want);
	json_decref(root);
	tool_result_free(&r);

	/* smol's executor threads, between tasks: idle, not an unknown leaf */
	dump_fixture(&f, "text", &r);
	tool_result_unwrap(&r);
	cr_expect(strstr(r.out, "[idle: the executor waits for a task to run]"), "%s", r.out);
	cr_expect(!strstr(r.out, "unknown (futures_lite::future::PollFn<async_executor::"), "%s", r.out);
	tool_result_free(&r);
	fixture_kill(&f);
}
