/* tokio before the full matrix (tokio-1.8: no OwnedTasks, no task ids, lists per worker), and a
 * tokio whose layout is not known (tokio-unknown: a made-up 1.99.0): what a user sees. tokio-1.19
 * runs the whole matrix (tokio_versions). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

TestSuite(tokio_old, .init = require_fixtures);

static json_t *dump_json(struct fixture *f)
{
	char *pid = xasprintf("%d", (int)f->pid);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, "--format", "json", NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect_str_empty(r.err);
	json_error_t error;
	json_t *root = json_loads(r.out, 0, &error);
	cr_assert(root, "invalid JSON: %s", error.text);
	tool_result_free(&r);
	free(pid);
	return root;
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* The task whose root future is `function` (the k-th one). */
static json_t *task_of(json_t *root, const char *function, size_t k)
{
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(root, "tasks"), i, t) {
		if (strcmp(str(t, "kind"), "task") == 0 && str(t, "future") &&
		    strcmp(str(t, "future"), function) == 0 && k-- == 0)
			return t;
	}
	return NULL;
}

static void expect_frame(json_t *node, const char *bin, const char *function, const char *marker)
{
	char *full = xasprintf("%s::shapes::%s", bin, function);
	cr_assert_not_null(node, "no frame for %s", full);
	cr_expect_str_eq(str(node, "function"), full);
	free(full);
	cr_expect(strstr(str(node, "file"), "tokio/src/shapes.rs"), "%s in %s", function, str(node, "file"));
	cr_expect_eq(json_integer_value(json_object_get(node, "line")), marker_line("tokio/src/shapes.rs", marker),
		     "%s suspended at the line of '%s'", function, marker);
}

/* The five level1 -> level4 chains of nested / current_thread, each ending in its leaf wait. */
static void check_nested(const char *bin, const char *flavor)
{
	static const struct {
		const char *marker, *kind;
	} leaves[] = {
		{ "@await: level4-oneshot", "oneshot" }, { "@await: level4-sleep", "sleep" },
		{ "@await: level4-notify", "notify" },   { "@await: level4-mpsc", "mpsc_recv" },
		{ "@await: level4-mutex", "mutex" },
	};
	struct fixture f;
	fixture_start(&f, "tokio-1.8", bin, NULL);
	json_t *root = dump_json(&f);
	fixture_kill(&f);
	json_t *rt = json_array_get(json_object_get(root, "runtimes"), 0);
	cr_expect_str_eq(str(rt, "name"), "tokio");
	cr_expect_str_eq(str(rt, "version"), "1.8.5");
	cr_expect_eq(json_integer_value(json_object_get(rt, "instances")), 1);
	cr_expect(json_is_true(json_object_get(rt, "decoded")));
	cr_expect_eq(json_array_size(json_object_get(root, "warnings")), 0, "%s: warnings", bin);
	size_t tasks = 0, i;
	json_t *t;
	json_array_foreach(json_object_get(root, "tasks"), i, t)
		tasks += strcmp(str(t, "kind"), "task") == 0;
	cr_expect_eq(tasks, 7, "%s: 7 spawned tasks, %zu listed", bin, tasks);
	char *level1 = xasprintf("%s::shapes::level1", bin);
	char *block_fn = xasprintf("%s::shapes::spawn_all::{async_block#0}", bin);
	for (size_t k = 0; k < AI_ARRAY_SIZE(leaves); k++) {
		/* level1's `id` is the chain's number */
		json_t *task = NULL;
		for (size_t n = 0; (t = task_of(root, level1, n)); n++) {
			char id[8];
			snprintf(id, sizeof(id), "%zu", k);
			const char *v = doc_local_value(json_object_get(t, "tree"), "id");
			if (v && strcmp(v, id) == 0)
				task = t;
		}
		cr_assert_not_null(task, "%s: level1 with id %zu", bin, k);
		cr_expect_str_eq(str(task, "flavor"), flavor);
		cr_expect_str_eq(str(task, "status"), "idle");
		cr_expect(json_is_null(json_object_get(task, "id")), "tasks have no ids before tokio 1.9");
		json_t *n1 = json_object_get(task, "tree");
		expect_frame(n1, bin, "level1", "@await: level1");
		json_t *n2 = doc_child(n1);
		expect_frame(n2, bin, "level2", "@await: level2");
		json_t *n3 = doc_child(n2);
		expect_frame(n3, bin, "level3", "@await: level3");
		json_t *n4 = doc_child(n3);
		expect_frame(n4, bin, "level4", leaves[k].marker);
		json_t *wait = json_object_get(task, "wait");
		cr_expect_str_eq(str(wait, "kind"), leaves[k].kind, "%s: chain %zu", bin, k);
	}
	/* spawn_all's block awaits level1 task 1 by its JoinHandle: named by its address. */
	json_t *block = task_of(root, block_fn, 0);
	cr_assert_not_null(block);
	json_t *join = json_object_get(block, "wait");
	cr_expect_str_eq(str(join, "kind"), "join");
	cr_expect_str_eq(str(join, "task_status"), "idle");
	bool listed = false;
	json_array_foreach(json_object_get(root, "tasks"), i, t)
		listed |= str(t, "address") && strcmp(str(t, "address"), str(join, "address")) == 0;
	cr_expect(listed, "the joined task %s is listed", str(join, "address"));
	free(level1);
	free(block_fn);
	json_decref(root);
}

Test(tokio_old, tokio_1_8_nested_multi_thread)
{
	check_nested("nested", "multi_thread");
}

Test(tokio_old, tokio_1_8_nested_current_thread)
{
	check_nested("current_thread", "current_thread");
}

/* 20000 tasks on 2 workers: every worker's list is walked. */
Test(tokio_old, tokio_1_8_many_tasks)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.8", "many_tasks", NULL);
	char *pid = xasprintf("%d", (int)f.pid);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, NULL });
	fixture_kill(&f);
	cr_expect_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect(strstr(r.out, "\n20000 tasks (20000 idle), 1 block_on future, 1 tokio runtime (tokio 1.8.5);"),
		  "%s", strrchr(r.out, '\n') ? r.out + strlen(r.out) - AI_MIN(strlen(r.out), 300) : r.out);
	cr_expect_null(strstr(r.out, "warning:"));
	tool_result_free(&r);
	free(pid);
}

/* A tokio whose layout is not known: an error naming the version, a failing exit status, and
 * "not decoded" rather than a plain "0 tasks". */
Test(tokio_old, unknown_layout_is_an_error_not_zero_tasks)
{
	struct fixture f;
	fixture_start(&f, "tokio-unknown", "unknown_layout", NULL);
	char *pid = xasprintf("%d", (int)f.pid);
	for (int json = 0; json < 2; json++) {
		struct tool_result r;
		tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, json ? "--format" : NULL, "json", NULL });
		cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
		cr_expect(strstr(r.err, "async-inspect: error: tokio 1.99.0 is used by process ") &&
			  strstr(r.err, "its tasks could not be decoded"), "%s", r.err);
		cr_expect(strstr(r.out, "tokio 1.99.0: its task layout is not supported"), "%s", r.out);
		if (json) {
			json_error_t error;
			json_t *root = json_loads(r.out, 0, &error);
			cr_assert(root, "invalid JSON: %s", error.text);
			json_t *rt = json_array_get(json_object_get(root, "runtimes"), 0);
			cr_expect_str_eq(str(rt, "version"), "1.99.0");
			cr_expect(json_is_false(json_object_get(rt, "decoded")));
			json_decref(root);
		} else {
			cr_expect(strstr(r.out, "\n0 tasks, 0 block_on futures, tokio 1.99.0 (not decoded);"), "%s", r.out);
		}
		tool_result_free(&r);
	}
	fixture_kill(&f);
	free(pid);
}
