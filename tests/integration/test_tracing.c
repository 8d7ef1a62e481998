/* `async-inspect dump` on the tracing fixture (tests/fixtures/tracing): #[tracing::instrument]
 * async fns show the await line of their body (the async block the attribute generates), under
 * the fn's name; a task whose root future runs in a span is named by it; tokio's own
 * "runtime.spawn" span (tokio_unstable + its tracing feature) names nothing; guards and waits
 * inside instrumented bodies are still found. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

TestSuite(tracing, .init = require_fixtures, .timeout = 300);

#define SRC "tracing/src/bin/instrumented.rs"

static void dump(const char *const *fixture_args, const char *format, struct tool_result *r)
{
	struct fixture f;
	fixture_start(&f, "tracing", "instrumented", fixture_args);
	char *pid = xasprintf("%d", (int)f.pid);
	tool_run(r, 120, (const char *[]){ "dump", "--pid", pid, "--format", format, NULL });
	free(pid);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S', "the fixture was left running");
	fixture_kill(&f);
	cr_assert_eq(tool_exit_code(r), 0, "dump --format %s: %s", format, r->err);
}

/* The one task whose root future is `function`. */
static json_t *task_of(json_t *tasks, const char *function)
{
	size_t i;
	json_t *t, *found = NULL;
	int n = 0;
	json_array_foreach(tasks, i, t) {
		if (strcmp(doc_str(json_object_get(t, "tree"), "function"), function) == 0) {
			found = t;
			n++;
		}
	}
	cr_assert_eq(n, 1, "%d tasks of %s", n, function);
	return found;
}

/* A coroutine frame of `function` suspended at the line of `marker`. */
static void expect_frame(json_t *node, const char *function, const char *marker)
{
	cr_assert_not_null(node, "no frame for %s", function);
	cr_expect_str_eq(doc_str(node, "function"), function);
	cr_expect(strstr(doc_str(node, "file"), "instrumented.rs"), "%s in %s", function, doc_str(node, "file"));
	cr_expect_eq(json_integer_value(json_object_get(node, "line")), marker_line(SRC, marker),
		     "%s suspended at the line of '%s', not %lld", function, marker,
		     (long long)json_integer_value(json_object_get(node, "line")));
	cr_expect(strncmp(doc_str(node, "state"), "Suspend", 7) == 0, "%s state %s", function, doc_str(node, "state"));
}

/* No frame of the tree is the async block #[instrument] generates (it is shown as its fn). */
static void expect_no_body_block(json_t *node, const char *fn)
{
	for (int depth = 0; node && depth < 16; depth++, node = doc_child(node))
		cr_expect(!strstr(doc_str(node, "function"), "{async_block#"), "%s: frame %s shown", fn,
			  doc_str(node, "function"));
}

static json_t *load(const struct tool_result *r)
{
	json_error_t error;
	json_t *root = json_loads(r->out, 0, &error);
	cr_assert(root, "invalid JSON: %s", error.text);
	return root;
}

Test(tracing, instrumented_fns_show_their_body_and_span_names)
{
	struct tool_result r;
	dump(NULL, "json", &r);
	json_t *root = load(&r);
	json_t *tasks = json_object_get(root, "tasks");

	/* #[instrument] fetch_order -> #[instrument] load_row -> Notify */
	json_t *t = task_of(tasks, "instrumented::fetch_order");
	cr_expect_str_eq(doc_str(t, "name"), "fetch_order", "named by its span");
	json_t *tree = json_object_get(t, "tree");
	expect_frame(tree, "instrumented::fetch_order", "@await: instr-outer");
	cr_expect_str_eq(doc_str(tree, "span"), "fetch_order");
	expect_frame(doc_child(tree), "instrumented::load_row", "@await: instr-inner");
	cr_expect_str_eq(doc_str(doc_child(tree), "span"), "load_row");
	cr_expect_str_eq(doc_str(doc_child(doc_child(tree)), "type"), "tokio::sync::notify::Notified");
	cr_expect_str_eq(doc_str(json_object_get(t, "wait"), "kind"), "notify");
	expect_no_body_block(tree, "fetch_order");

	/* #[instrument(name = "checkout-span")] checkout -> pay (plain) -> sleep */
	t = task_of(tasks, "instrumented::checkout");
	cr_expect_str_eq(doc_str(t, "name"), "checkout-span", "the span's name, not the fn's");
	tree = json_object_get(t, "tree");
	expect_frame(tree, "instrumented::checkout", "@await: checkout");
	expect_frame(doc_child(tree), "instrumented::pay", "@await: pay");
	cr_expect_str_eq(doc_str(json_object_get(t, "wait"), "kind"), "sleep");
	expect_no_body_block(tree, "checkout");

	/* A generic #[instrument] fn: its body block's type carries the arguments. */
	t = task_of(tasks, "instrumented::generic_wait<u16>");
	cr_expect_str_eq(doc_str(t, "name"), "generic_wait");
	expect_frame(json_object_get(t, "tree"), "instrumented::generic_wait<u16>", "@await: generic-wait");

	/* async { .. }.instrument(info_span!("my-span")) */
	t = task_of(tasks, "instrumented::main::{async_block#0}::{async_block#0}");
	cr_expect_str_eq(doc_str(t, "name"), "my-span");
	tree = json_object_get(t, "tree");
	expect_frame(tree, "instrumented::main::{async_block#0}::{async_block#0}", "@await: span-block");
	expect_frame(doc_child(tree), "instrumented::spanned_leaf", "@await: span-leaf");

	/* Builder::name: the name lives only in tokio's span fields, which only a subscriber sees;
	 * tokio's own span ("runtime.spawn") names no task. */
	t = task_of(tasks, "instrumented::main::{async_block#0}::{async_block#1}");
	cr_expect(json_is_null(json_object_get(t, "name")), "named %s", doc_str(t, "name"));
	expect_frame(json_object_get(t, "tree"), "instrumented::main::{async_block#0}::{async_block#1}",
		     "@await: named-task");

	/* A guard saved in an instrumented body is held by its fn, at the body's line; its waiter
	 * waits for that Mutex. */
	t = task_of(tasks, "instrumented::hold_lock");
	cr_expect_str_eq(doc_str(t, "name"), "hold_lock");
	expect_frame(json_object_get(t, "tree"), "instrumented::hold_lock", "@await: hold-lock");
	json_t *held = json_object_get(t, "held");
	cr_assert_eq(json_array_size(held), 1, "the holder holds one guard");
	json_t *guard = json_array_get(held, 0);
	cr_expect_str_eq(doc_str(guard, "kind"), "mutex");
	cr_expect_str_eq(doc_str(guard, "local"), "guard");
	cr_expect_str_eq(doc_str(guard, "function"), "instrumented::hold_lock");
	cr_expect_eq(json_integer_value(json_object_get(guard, "line")), marker_line(SRC, "@await: hold-lock"));
	t = task_of(tasks, "instrumented::main::{async_block#0}::{async_block#2}");
	json_t *wait = json_object_get(t, "wait");
	cr_expect_str_eq(doc_str(wait, "kind"), "mutex", "the waiter: %s", doc_str(wait, "description"));
	cr_expect_str_eq(doc_str(wait, "address"), doc_str(guard, "address"), "the held Mutex");

	/* main, driven by block_on inside tokio's Instrumented: the live future, not a stale copy. */
	t = task_of(tasks, "instrumented::main::{async_block#0}");
	cr_expect_str_eq(doc_str(t, "kind"), "block_on");
	expect_frame(json_object_get(t, "tree"), "instrumented::main::{async_block#0}", "@await: main");

	size_t i;
	json_array_foreach(tasks, i, t)
		cr_expect(strcmp(doc_str(t, "name"), "runtime.spawn") != 0, "tokio's span named task %s",
			  doc_str(t, "future"));
	json_decref(root);
	tool_result_free(&r);
}

Test(tracing, text_headers_carry_the_names)
{
	struct tool_result r;
	dump(NULL, "text", &r);
	cr_expect(strstr(r.out, "\"fetch_order\"  instrumented::fetch_order  idle"), "%s", r.out);
	cr_expect(strstr(r.out, "\"checkout-span\"  instrumented::checkout  idle"), "%s", r.out);
	cr_expect(strstr(r.out, "\"my-span\"  instrumented::main::{async_block#0}::{async_block#0}  idle"), "%s",
		  r.out);
	char *line = xasprintf("instrumented.rs:%d", marker_line(SRC, "@await: instr-inner"));
	cr_expect(strstr(r.out, line), "load_row's body line %s in %s", line, r.out);
	free(line);
	cr_expect(!strstr(r.out, "runtime.spawn"), "%s", r.out);
	cr_expect(!strstr(r.out, "fetch_order::{async_block"), "%s", r.out);
	tool_result_free(&r);
}

/* Without a subscriber every span is disabled: #[instrument] awaits its body directly, and the
 * frames still show the body's lines; a disabled span keeps no name in memory, so none shows. */
Test(tracing, without_a_subscriber)
{
	struct tool_result r;
	dump((const char *[]){ "no-subscriber", NULL }, "json", &r);
	json_t *root = load(&r);
	json_t *tasks = json_object_get(root, "tasks");
	json_t *t = task_of(tasks, "instrumented::fetch_order");
	json_t *tree = json_object_get(t, "tree");
	expect_frame(tree, "instrumented::fetch_order", "@await: instr-outer");
	expect_frame(doc_child(tree), "instrumented::load_row", "@await: instr-inner");
	expect_no_body_block(tree, "fetch_order");
	size_t i;
	json_array_foreach(tasks, i, t)
		cr_expect(json_is_null(json_object_get(t, "name")), "task %s named %s", doc_str(t, "future"),
			  doc_str(t, "name"));
	json_decref(root);
	tool_result_free(&r);
}
