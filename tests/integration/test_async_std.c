/* `async-inspect dump` on the async-std fixture (tests/fixtures/async-std): the tasks async-std
 * spawns (task::spawn, task::Builder::name, task::spawn_local) through async-global-executor and
 * async-task, labelled async-std with its task ids and names, their await trees down to the
 * async-io Timer of task::sleep, async-channel and async-lock leaves at the fixture's
 * `// @await:` lines, and main's future under task::block_on. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

TestSuite(async_std, .init = require_fixtures, .timeout = 300);

#define SRC "async-std/src/bin/nested.rs"

static void expect_frame(json_t *node, const char *function, const char *marker)
{
	cr_assert_not_null(node, "no frame for %s", function);
	cr_expect_str_eq(doc_str(node, "function"), function);
	cr_expect_eq(json_integer_value(json_object_get(node, "line")), marker_line(SRC, marker),
		     "%s suspended at the line of '%s'", function, marker);
	cr_expect(strncmp(doc_str(node, "state"), "Suspend", 7) == 0, "%s state %s", function,
		  doc_str(node, "state"));
}

/* The leaf the chain under node ends in. */
static json_t *chain_leaf(json_t *node)
{
	for (int i = 0; node && i < 64; i++) {
		if (json_is_true(json_object_get(node, "leaf")))
			return node;
		node = doc_child(node);
	}
	return NULL;
}

/* An idle async-std task with a task id; its tree root. */
static json_t *expect_task(json_t *task, const char *what)
{
	cr_assert_not_null(task, "no task %s", what);
	cr_expect_str_eq(doc_str(task, "runtime"), "async-std", "%s: spawned by async-std", what);
	cr_expect_str_eq(doc_str(task, "status"), "idle", "%s: parked, not scheduled", what);
	cr_expect(json_integer_value(json_object_get(task, "id")) > 0, "%s: its TaskId", what);
	return json_object_get(task, "tree");
}

Test(async_std, spawned_tasks_with_names_ids_waits_and_await_lines)
{
	struct fixture f;
	fixture_start(&f, "async-std", "nested", NULL);
	struct tool_result r;
	dump_fixture(&f, "json", &r);
	json_error_t error;
	json_t *root = json_loads(r.out, 0, &error);
	cr_assert(root, "invalid JSON: %s", error.text);

	json_t *rt, *at = NULL;
	size_t i;
	json_array_foreach(json_object_get(root, "runtimes"), i, rt) {
		if (strcmp(doc_str(rt, "name"), "async-task") == 0)
			at = rt;
	}
	cr_assert_not_null(at, "no async-task runtime in %s", r.out);
	cr_expect(json_is_true(json_object_get(at, "decoded")));
	json_t *w;
	json_array_foreach(json_object_get(root, "warnings"), i, w) {
		cr_expect(!strstr(json_string_value(w), "async-task"), "warning: %s", json_string_value(w));
	}

	json_t *tasks = json_object_get(root, "tasks"), *t;
	int n;
	/* task::spawn(level1(0, Sleep)): level1 -> level2 -> level3 -> task::sleep's Timer. */
	t = doc_find_task(tasks, "nested::level1", "id", "0", &n);
	json_t *tree = expect_task(t, "level1 id 0");
	cr_expect_eq(n, 1, "one level1 task with id 0");
	cr_expect(json_is_null(json_object_get(t, "name")), "an unnamed task has no name");
	expect_frame(tree, "nested::level1", "@await: level1");
	expect_frame(doc_child(tree), "nested::level2", "@await: level2");
	expect_frame(doc_child(doc_child(tree)), "nested::level3", "@await: leaf-sleep");
	doc_expect_leaf(chain_leaf(tree), "async_io::Timer", "level1 id 0");
	json_t *wait = doc_expect_wait(t, "sleep", "sleep");
	json_int_t left = json_integer_value(json_object_get(wait, "remaining_ms"));
	cr_expect(left > 3600 * 1000 && left <= 24 * 3600 * 1000, "time left %lld ms", (long long)left);

	/* task::spawn(level1(1, Recv)): ... -> async_channel::Recv (async_std::channel). */
	t = doc_find_task(tasks, "nested::level1", "id", "1", &n);
	tree = expect_task(t, "level1 id 1");
	expect_frame(doc_child(doc_child(tree)), "nested::level3", "@await: leaf-recv");
	doc_expect_leaf(doc_child(doc_child(doc_child(tree))), "async_channel::Recv<", "level1 id 1");
	wait = doc_expect_wait(t, "channel_recv", "recv");
	cr_expect_eq(json_integer_value(json_object_get(wait, "senders_alive")), 1);
	doc_find_task(tasks, "nested::level1", NULL, NULL, &n);
	cr_expect_eq(n, 2, "exactly the two level1 tasks spawned");

	/* The holder keeps the async_std::sync::Mutex (async-lock's) locked; the waiter waits on it. */
	json_t *holder = doc_find_task(tasks, "nested::holder", NULL, NULL, &n);
	tree = expect_task(holder, "holder");
	expect_frame(tree, "nested::holder", "@await: holder");
	doc_expect_leaf(chain_leaf(tree), "async_io::Timer", "holder");
	json_t *waiter = doc_find_task(tasks, "nested::waiter", NULL, NULL, &n);
	tree = expect_task(waiter, "waiter");
	expect_frame(tree, "nested::waiter", "@await: leaf-mutex");
	doc_expect_leaf(doc_child(tree), "async_lock::mutex::Lock<", "waiter");
	wait = doc_expect_wait(waiter, "mutex", "waiter");
	json_t *held = json_object_get(holder, "held");
	cr_assert_eq(json_array_size(held), 1, "the holder holds one guard");
	cr_expect_str_eq(doc_str(json_array_get(held, 0), "address"), doc_str(wait, "address"), "the same Mutex");

	/* task::Builder::new().name("named-task"): named by it. */
	t = doc_find_task(tasks, "nested::named", NULL, NULL, &n);
	tree = expect_task(t, "named");
	cr_expect_eq(n, 1);
	cr_expect_str_eq(doc_str(t, "name"), "named-task");
	expect_frame(tree, "nested::named", "@await: named");
	doc_expect_leaf(doc_child(tree), "async_channel::Recv<", "named");

	/* task::spawn_local from main's future. */
	t = doc_find_task(tasks, "nested::main::{async_block#0}::{async_block#0}", NULL, NULL, &n);
	tree = expect_task(t, "local");
	cr_expect_eq(n, 1);
	expect_frame(tree, "nested::main::{async_block#0}::{async_block#0}", "@await: local");

	/* task::block_on(main future), under async-global-executor's LocalExecutor::run. */
	json_t *main_node = NULL, *main_root = NULL;
	json_array_foreach(tasks, i, t) {
		if (strcmp(doc_str(t, "kind"), "block_on") == 0 && !main_node) {
			json_t *hit = doc_find_node(json_object_get(t, "tree"), "nested::main::{async_block#0}", 0);
			if (hit && strncmp(doc_str(hit, "state"), "Suspend", 7) == 0) {
				main_node = hit;
				main_root = t;
			}
		}
	}
	/* async-std's task::block_on drives it: the root is async-std's, not async-task's (which
	 * drives no block_on); the worker threads' roots are async-global-executor's. */
	cr_assert_not_null(main_root);
	cr_expect_str_eq(doc_str(main_root, "runtime"), "async-std");
	/* Its root is the main future, not the LocalExecutor::run loop it was found in. */
	cr_expect_eq(main_node, json_object_get(main_root, "tree"), "the main future is the root");
	cr_expect_str_eq(doc_str(main_root, "future"), "nested::main::{async_block#0}");
	cr_expect(strncmp(doc_str(main_root, "driven_by"), "async_executor::", 16) == 0,
		  "driven_by %s", doc_str(main_root, "driven_by"));
	json_array_foreach(tasks, i, t) {
		if (strcmp(doc_str(t, "kind"), "block_on") == 0 && t != main_root)
			cr_expect_str_eq(doc_str(t, "runtime"), "async-global-executor", "%s", doc_str(t, "future"));
	}
	expect_frame(main_node, "nested::main::{async_block#0}", "@await: main");
	/* The copies block_on moved from are not shown as roots of their own; the worker threads'
	 * roots are the futures-lite Or they poll. */
	json_array_foreach(tasks, i, t) {
		json_t *tr = json_object_get(t, "tree");
		if (strcmp(doc_str(t, "kind"), "block_on") == 0)
			cr_expect(!strstr(doc_str(tr, "error"), "stale") && strcmp(doc_str(tr, "state"), "Unresumed") != 0,
				  "block_on root %s: %s %s", doc_str(t, "future"), doc_str(tr, "state"), doc_str(tr, "error"));
	}
	doc_expect_leaf(doc_child(main_node), "async_channel::Recv<", "main");
	json_decref(root);
	tool_result_free(&r);

	/* The text dump: the executor label, the name, the lines. */
	dump_fixture(&f, "text", &r);
	cr_expect(count_substr(r.out, "(async-std)") >= 6, "%s", r.out);
	cr_expect(strstr(r.out, "\"named-task\"  nested::named"), "%s", r.out);
	char *line = xasprintf("nested.rs:%d", marker_line(SRC, "@await: leaf-sleep"));
	cr_expect(strstr(r.out, line), "%s in %s", line, r.out);
	free(line);
	cr_expect(strstr(r.out, "holds Mutex<u64> @ "), "%s", r.out);
	tool_result_free(&r);
	fixture_kill(&f);
}
