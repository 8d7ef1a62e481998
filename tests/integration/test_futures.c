/* `async-inspect dump` on the futures fixture (tests/fixtures/futures): futures::executor's
 * LocalPool futures (found through the LocalPool among main's stack frame variables) and ThreadPool
 * futures (through their wakers) as tasks, and block_on's future with the branches of
 * futures::join! and futures::select! as children, down to futures-channel oneshot and mpsc
 * receivers with their waits, at the fixture's `// @await:` lines. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

TestSuite(futures, .init = require_fixtures, .timeout = 300);

#define SRC "futures/src/bin/executors.rs"

static void expect_frame(json_t *node, const char *function, const char *marker)
{
	cr_assert_not_null(node, "no frame for %s", function);
	cr_expect_str_eq(doc_str(node, "function"), function);
	cr_expect_eq(json_integer_value(json_object_get(node, "line")), marker_line(SRC, marker),
		     "%s suspended at the line of '%s'", function, marker);
	cr_expect(strncmp(doc_str(node, "state"), "Suspend", 7) == 0, "%s state %s", function,
		  doc_str(node, "state"));
}

/* A futures task of the given flavor; its tree root. */
static json_t *expect_task(json_t *task, const char *flavor, const char *what)
{
	cr_assert_not_null(task, "no task %s", what);
	cr_expect_str_eq(doc_str(task, "runtime"), "futures", "%s", what);
	cr_expect_str_eq(doc_str(task, "flavor"), flavor, "%s", what);
	return json_object_get(task, "tree");
}

/* A receiver leaf with a channel_recv wait and one live sender. */
static void expect_recv(json_t *leaf, const char *type, const char *what)
{
	cr_assert_not_null(leaf, "%s: no leaf", what);
	cr_expect(json_is_true(json_object_get(leaf, "leaf")), "%s: %s is no leaf", what, doc_str(leaf, "type"));
	cr_expect(strncmp(doc_str(leaf, "type"), type, strlen(type)) == 0, "%s: leaf %s, expected %s", what,
		  doc_str(leaf, "type"), type);
	json_t *wait = json_object_get(leaf, "wait");
	cr_assert_not_null(wait, "%s: no wait", what);
	cr_expect_str_eq(doc_str(wait, "kind"), "channel_recv", "%s: %s", what, doc_str(wait, "description"));
	cr_expect_eq(json_integer_value(json_object_get(wait, "senders_alive")), 1, "%s", what);
}

/* The branch of node whose function is `function`. */
static json_t *branch(json_t *node, const char *function)
{
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(node, "children"), i, c) {
		if (strcmp(doc_str(c, "function"), function) == 0)
			return c;
	}
	return NULL;
}

Test(futures, pools_tasks_and_join_select_branches)
{
	struct fixture f;
	fixture_start(&f, "futures", "executors", NULL);
	struct tool_result r;
	dump_fixture(&f, "json", &r);
	json_error_t error;
	json_t *root = json_loads(r.out, 0, &error);
	cr_assert(root, "invalid JSON: %s", error.text);

	json_t *rt, *fu = NULL;
	size_t i;
	json_array_foreach(json_object_get(root, "runtimes"), i, rt) {
		if (strcmp(doc_str(rt, "name"), "futures") == 0)
			fu = rt;
	}
	cr_assert_not_null(fu, "no futures runtime in %s", r.out);
	cr_expect_str_eq(doc_str(fu, "version"), "0.3.31", "the version from Cargo.lock");
	cr_expect(json_is_true(json_object_get(fu, "decoded")));
	cr_expect_eq(json_integer_value(json_object_get(fu, "instances")), 2, "a LocalPool and a ThreadPool");
	json_t *w;
	json_array_foreach(json_object_get(root, "warnings"), i, w) {
		cr_expect(!strstr(json_string_value(w), "futures"), "warning: %s", json_string_value(w));
	}

	json_t *tasks = json_object_get(root, "tasks");
	int n;
	/* LocalPool: spawn_local(local_level1(..).map(drop)), parked on a oneshot. */
	json_t *tree = expect_task(doc_find_task(tasks, "executors::local_level1", NULL, NULL, &n), "local_pool",
				   "local_level1");
	cr_expect_eq(n, 1);
	expect_frame(tree, "executors::local_level1", "@await: local-level1");
	expect_frame(doc_child(tree), "executors::local_level2", "@await: local-recv");
	expect_recv(doc_child(doc_child(tree)), "futures_channel::oneshot::Receiver<", "local_level2");
	/* spawn_local(local_next(..)): an mpsc Receiver's next(). */
	tree = expect_task(doc_find_task(tasks, "executors::local_next", NULL, NULL, &n), "local_pool", "local_next");
	cr_expect_eq(n, 1);
	expect_frame(tree, "executors::local_next", "@await: local-next");
	expect_recv(doc_child(tree), "futures_channel::mpsc::Receiver<", "local_next");

	/* ThreadPool: a waiting future, idle. */
	json_t *t = doc_find_task(tasks, "executors::pool_recv", NULL, NULL, &n);
	tree = expect_task(t, "thread_pool", "pool_recv");
	cr_expect_eq(n, 1);
	cr_expect_str_eq(doc_str(t, "status"), "idle");
	expect_frame(tree, "executors::pool_recv", "@await: pool-recv");
	expect_recv(doc_child(tree), "futures_channel::oneshot::Receiver<", "pool_recv");

	/* block_on(main_future): join!(join_a, join_b), join_b a select!(select_x, select_y). */
	json_t *main_node = NULL;
	json_array_foreach(tasks, i, t) {
		if (strcmp(doc_str(t, "kind"), "block_on") == 0 && !main_node)
			main_node = doc_find_node(json_object_get(t, "tree"), "executors::main_future", 0);
	}
	cr_assert_not_null(main_node, "no block_on of main_future in %s", r.out);
	json_t *join = doc_child(main_node);
	cr_assert_not_null(join);
	cr_expect_eq(json_array_size(json_object_get(join, "children")), 2, "join!'s two branches");
	json_t *a = branch(join, "executors::join_a"), *b = branch(join, "executors::join_b");
	expect_frame(a, "executors::join_a", "@await: join-a");
	expect_recv(doc_child(a), "futures_channel::oneshot::Receiver<", "join_a");
	cr_assert_not_null(b, "no join_b branch");
	json_t *select = doc_child(b);
	cr_assert_not_null(select);
	cr_expect_eq(json_array_size(json_object_get(select, "children")), 2, "select!'s two branches");
	json_t *x = branch(select, "executors::select_x"), *y = branch(select, "executors::select_y");
	expect_frame(x, "executors::select_x", "@await: select-x");
	expect_recv(doc_child(x), "futures_channel::oneshot::Receiver<", "select_x");
	expect_frame(y, "executors::select_y", "@await: select-y");
	expect_recv(doc_child(y), "futures_channel::mpsc::UnboundedReceiver<", "select_y");
	json_decref(root);
	tool_result_free(&r);

	/* The text dump. */
	dump_fixture(&f, "text", &r);
	cr_expect(strstr(r.out, "(futures, local_pool)"), "%s", r.out);
	cr_expect(strstr(r.out, "(futures, thread_pool)"), "%s", r.out);
	cr_expect(strstr(r.out, "(in futures::join!)"), "%s", r.out);
	cr_expect(strstr(r.out, "(in futures::select!)"), "%s", r.out);
	char *line = xasprintf("executors.rs:%d", marker_line(SRC, "@await: select-y"));
	cr_expect(strstr(r.out, line), "%s in %s", line, r.out);
	free(line);
	cr_expect(strstr(r.out, "oneshot recv @ 0x"), "%s", r.out);
	tool_result_free(&r);
	fixture_kill(&f);
}

#define TRY_SRC "futures/src/bin/try_join.rs"

/* futures::try_join!(try_a, try_b) under block_on: both branches as children, at their lines,
 * with their receivers' waits; the macro named try_join! (it shares join!'s source file). */
Test(futures, try_join_branches)
{
	struct fixture f;
	struct tool_result r;
	fixture_start(&f, "futures", "try_join", NULL);
	dump_fixture(&f, "json", &r);
	json_error_t error;
	json_t *root = json_loads(r.out, 0, &error);
	cr_assert_not_null(root, "invalid JSON: %s", error.text);
	json_t *main_node = NULL, *t;
	size_t i;
	json_array_foreach(json_object_get(root, "tasks"), i, t) {
		if (strcmp(doc_str(t, "kind"), "block_on") == 0 && !main_node)
			main_node = doc_find_node(json_object_get(t, "tree"), "try_join::main_future", 0);
	}
	cr_assert_not_null(main_node, "no block_on of main_future in %s", r.out);
	cr_expect_eq(json_integer_value(json_object_get(main_node, "line")), marker_line(TRY_SRC, "@await: try-join"));
	cr_expect_str_eq(doc_str(main_node, "macro"), "futures::try_join!");
	json_t *join = doc_child(main_node);
	cr_assert_not_null(join);
	cr_expect_eq(json_array_size(json_object_get(join, "children")), 2, "try_join!'s two branches\n%s", r.out);
	static const struct {
		const char *function, *marker;
	} branches[] = { { "try_join::try_a", "@await: try-a" }, { "try_join::try_b", "@await: try-b" } };
	for (size_t k = 0; k < AI_ARRAY_SIZE(branches); k++) {
		json_t *b = branch(join, branches[k].function);
		cr_assert_not_null(b, "no branch %s\n%s", branches[k].function, r.out);
		cr_expect_eq(json_integer_value(json_object_get(b, "line")), marker_line(TRY_SRC, branches[k].marker),
			     "%s", branches[k].function);
		expect_recv(doc_child(b), "futures_channel::oneshot::Receiver<", branches[k].function);
	}
	json_decref(root);
	tool_result_free(&r);
	dump_fixture(&f, "text", &r);
	cr_expect(strstr(r.out, "(in futures::try_join!)"), "%s", r.out);
	tool_result_free(&r);
	fixture_kill(&f);
}

#define ORDERED_SRC "futures/src/bin/ordered.rs"

/* A FuturesOrdered's members (its FuturesUnordered of OrderWrapper<F>) are children of the future
 * that awaits its next(), each at its line with its receiver's wait. */
Test(futures, futures_ordered_members)
{
	struct fixture f;
	struct tool_result r;
	fixture_start(&f, "futures", "ordered", NULL);
	dump_fixture(&f, "json", &r);
	json_error_t error;
	json_t *root = json_loads(r.out, 0, &error);
	cr_assert_not_null(root, "invalid JSON: %s", error.text);
	json_t *main_node = NULL, *t;
	size_t i;
	json_array_foreach(json_object_get(root, "tasks"), i, t) {
		if (strcmp(doc_str(t, "kind"), "block_on") == 0 && !main_node)
			main_node = doc_find_node(json_object_get(t, "tree"), "ordered::main_future", 0);
	}
	cr_assert_not_null(main_node, "no block_on of main_future in %s", r.out);
	cr_expect_eq(json_integer_value(json_object_get(main_node, "line")),
		     marker_line(ORDERED_SRC, "@await: ordered-outer"));
	json_t *set = doc_child(main_node);
	cr_assert_not_null(set);
	cr_expect(strstr(doc_str(set, "type"), "futures_ordered::OrderWrapper<"), "%s", doc_str(set, "type"));
	json_t *members = json_object_get(set, "children");
	cr_assert_eq(json_array_size(members), 3, "the three members\n%s", r.out);
	json_t *m;
	json_array_foreach(members, i, m) {
		cr_expect_str_eq(doc_str(m, "function"), "ordered::ordered_leaf");
		cr_expect_eq(json_integer_value(json_object_get(m, "line")), marker_line(ORDERED_SRC, "@await: ordered-leaf"));
		expect_recv(doc_child(m), "futures_channel::oneshot::Receiver<", "ordered_leaf");
	}
	json_decref(root);
	tool_result_free(&r);
	fixture_kill(&f);
}
