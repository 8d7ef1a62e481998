/* LocalSet tasks (spawn_local) and spawn_blocking closures, as `dump` shows them, on fixture
 * local_blocking (tests/fixtures/README.md) in every tokio version, 1.8 included. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

TestSuite(local_blocking, .init = require_fixtures, .timeout = 300);

#define SOURCE "tokio/src/bin/local_blocking.rs"

/* Every tokio fixture crate that builds local_blocking: the matrix and tokio-1.8. */
static const char **versions(size_t *count)
{
	static const char *v[32];
	size_t n = 0;
	for (const char *const *m = tokio_versions(); *m && n < 30; m++)
		v[n++] = *m;
	v[n++] = "tokio-1.8";
	v[n] = NULL;
	*count = n;
	return v;
}

static char *dump(const struct fixture *f, const char *version, const char *format)
{
	char *pid = xasprintf("%d", (int)f->pid);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, "--format", format, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s: %s", version, r.err);
	char *out = r.out;
	r.out = NULL;
	tool_result_free(&r);
	free(pid);
	return out;
}

/* The line after the first line holding `header`, or NULL. */
static char *line_after(const char *text, const char *header)
{
	const char *h = strstr(text, header);
	const char *next = h ? strchr(h, '\n') : NULL;
	if (!next)
		return NULL;
	next++;
	const char *end = strchr(next, '\n');
	return xstrndup(next, end ? (size_t)(end - next) : strlen(next));
}

Test(local_blocking, text_every_version)
{
	size_t count;
	const char **v = versions(&count);
	static const struct {
		const char *future, *marker;
	} locals[] = {
		{ "local_blocking::local_notify", "@await: local-notify" },
		{ "local_blocking::local_sleep", "@await: local-sleep" },
		{ "local_blocking::local_oneshot", "@await: local-oneshot" },
	};
	for (size_t i = 0; i < count; i++) {
		struct fixture f;
		fixture_start(&f, v[i], "local_blocking", NULL);
		char *text = dump(&f, v[i], "text");
		cr_expect(!strstr(text, "warning:"), "%s\n%s", v[i], text);
		for (size_t k = 0; k < AI_ARRAY_SIZE(locals); k++) {
			char *header = xasprintf("  %s  idle  (tokio, local_set)", locals[k].future);
			char *tree = line_after(text, header);
			cr_expect(tree, "%s: %s\n%s", v[i], header, text);
			/* the await line, as a user reads it (the file printed as the tool shortens it) */
			char *line = xasprintf("local_blocking.rs:%d", marker_line(SOURCE, locals[k].marker));
			cr_expect(tree && strstr(tree, line), "%s: %s at %s\n%s", v[i], locals[k].future,
				  line, text);
			free(line);
			free(tree);
			free(header);
		}
		const char *closure = "local_blocking::main::{async_block#0}::{closure_env#0}  running  "
				      "(tokio, spawn_blocking on thread ";
		cr_expect(strstr(text, closure), "%s\n%s", v[i], text);
		char *frame = line_after(text, closure);
		char *line = xasprintf("local_blocking.rs:%d", marker_line(SOURCE, "@block: blocking-recv"));
		cr_expect(frame && strstr(frame, "local_blocking::main::{async_block#0}::{closure#0}  ") &&
				  strstr(frame, line),
			  "%s: the blocking closure at %s\n%s", v[i], line, text);
		cr_expect(strstr(text, "3 tasks (3 idle), 1 blocking task, 1 block_on future, "
				       "1 tokio runtime"), "%s\n%s", v[i], text);
		free(line);
		free(frame);
		free(text);
		fixture_kill(&f);
	}
}

static json_t *task_by_future(json_t *root, const char *future)
{
	return doc_item_by_string(json_object_get(root, "tasks"), "future", future, 0);
}

/* The innermost node of a task's main await chain. */
static json_t *leaf_of(json_t *node)
{
	for (int depth = 0; depth < 64; depth++) {
		json_t *children = json_object_get(node, "children");
		if (!json_is_array(children) || json_array_size(children) != 1)
			break;
		node = json_array_get(children, 0);
	}
	return node;
}

Test(local_blocking, json_every_version)
{
	size_t count;
	const char **v = versions(&count);
	static const struct {
		const char *future, *marker, *wait;
	} locals[] = {
		{ "local_blocking::local_notify", "@await: local-notify", "notify" },
		{ "local_blocking::local_sleep", "@await: local-sleep", "sleep" },
		{ "local_blocking::local_oneshot", "@await: local-oneshot", "oneshot" },
	};
	for (size_t i = 0; i < count; i++) {
		struct fixture f;
		fixture_start(&f, v[i], "local_blocking", NULL);
		char *out = dump(&f, v[i], "json");
		json_error_t error;
		json_t *root = json_loads(out, 0, &error);
		cr_assert(root, "%s: invalid JSON: %s", v[i], error.text);
		const char *set = NULL;
		for (size_t k = 0; k < AI_ARRAY_SIZE(locals); k++) {
			json_t *t = task_by_future(root, locals[k].future);
			cr_assert(t, "%s: no task %s\n%s", v[i], locals[k].future, out);
			cr_expect_str_eq(json_string_value(json_object_get(t, "kind")), "task");
			cr_expect_str_eq(json_string_value(json_object_get(t, "flavor")), "local_set");
			cr_expect_str_eq(json_string_value(json_object_get(t, "status")), "idle");
			json_t *tree = json_object_get(t, "tree");
			cr_expect_eq(json_integer_value(json_object_get(tree, "line")),
				     marker_line(SOURCE, locals[k].marker), "%s: %s", v[i], locals[k].future);
			json_t *wait = json_object_get(leaf_of(tree), "wait");
			cr_expect_str_eq(json_string_value(json_object_get(wait, "kind")), locals[k].wait,
					 "%s: %s", v[i], locals[k].future);
			/* one LocalSet: one list */
			const char *rt = json_string_value(json_object_get(t, "runtime_address"));
			cr_expect(rt, "%s", v[i]);
			if (!set)
				set = rt;
			cr_expect(rt && set && strcmp(rt, set) == 0, "%s", v[i]);
		}
		json_t *b = task_by_future(root, "local_blocking::main::{async_block#0}::{closure_env#0}");
		cr_assert(b, "%s: no blocking task\n%s", v[i], out);
		cr_expect_str_eq(json_string_value(json_object_get(b, "kind")), "blocking");
		cr_expect_str_eq(json_string_value(json_object_get(b, "status")), "running");
		json_t *tree = json_object_get(b, "tree");
		int line = marker_line(SOURCE, "@block: blocking-recv");
		cr_expect_str_eq(json_string_value(json_object_get(tree, "function")),
				 "local_blocking::main::{async_block#0}::{closure#0}", "%s", v[i]);
		cr_expect_eq(json_integer_value(json_object_get(tree, "line")), line, "%s", v[i]);
		/* its thread: one of the process's, whose native stack has the closure's frame */
		json_int_t tid = json_integer_value(json_object_get(b, "thread"));
		bool found = false;
		size_t k;
		json_t *th;
		json_array_foreach(json_object_get(root, "threads"), k, th) {
			if (json_integer_value(json_object_get(th, "tid")) != tid)
				continue;
			size_t n;
			json_t *fr;
			json_array_foreach(json_object_get(th, "frames"), n, fr) {
				const char *fn = json_string_value(json_object_get(fr, "function"));
				found |= fn && strstr(fn, "local_blocking::main::{async_block#0}::{closure#0}") &&
					 json_integer_value(json_object_get(fr, "line")) == line;
			}
		}
		cr_expect(found, "%s: thread %lld runs the closure at line %d", v[i], (long long)tid,
			  line);
		/* the block_on future is no task of the set */
		cr_expect_eq(json_array_size(json_object_get(root, "tasks")), 5, "%s", v[i]);
		json_decref(root);
		free(out);
		fixture_kill(&f);
	}
}

/* A LocalSet that no stack holds (leaked, never run): found by the scan of memory for its tasks'
 * vtables (1.24+, where a task's scheduler leads to its set's list), named as found that way;
 * before 1.24 the tasks come from the generic scan, without the set. */
Test(local_blocking, stashed_set_found_by_scan)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "local_blocking", (const char *[]){ "stashed", NULL });
		char *text = dump(&f, *v, "text");
		bool old = strcmp(*v, "tokio-1.19") == 0;
		const char *flavor = old ? "(tokio)" : "(tokio, local_set)";
		for (const char *const *fn = (const char *[]){ "local_blocking::local_notify",
							      "local_blocking::local_sleep", NULL };
		     *fn; fn++) {
			char *header = xasprintf("  %s  scheduled  %s\n", *fn, flavor);
			cr_expect(strstr(text, header), "%s: %s\n%s", *v, header, text);
			free(header);
		}
		cr_expect(strstr(text, old ? "tasks found by scanning memory"
					   : "tasks of 1 LocalSet found by scanning memory"),
			  "%s\n%s", *v, text);
		cr_expect(strstr(text, "2 tasks (2 scheduled), 0 block_on futures"), "%s\n%s", *v, text);
		free(text);
		fixture_kill(&f);
	}
}

/* The TUI (headless): the blocking task's details name its thread, and the threads view says
 * which thread runs it, with that thread's native stack. */
static char *tui_screen(const struct fixture *f, const char *size, const char *keys)
{
	char *pid = xasprintf("%d", (int)f->pid);
	setenv("AI_TUI_HEADLESS", size, 1);
	setenv("AI_TUI_KEYS", keys, 1);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "attach", "--pid", pid, NULL });
	unsetenv("AI_TUI_HEADLESS");
	unsetenv("AI_TUI_KEYS");
	cr_assert_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	char *out = r.out;
	r.out = NULL;
	tool_result_free(&r);
	free(pid);
	return out;
}

Test(local_blocking, tui_details_and_threads)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "local_blocking", NULL);
	/* sorted by id: the 3 local tasks (1-3), then the blocking closure (4) */
	char *s = tui_screen(&f, "200x40", "jjj\\n");
	cr_expect(strstr(s, "blocking 4  running"), "%s", s);
	cr_expect(strstr(s, "a spawn_blocking closure running on thread "), "%s", s);
	char *line = xasprintf("local_blocking::main::{async_block#0}::{closure#0} at "
			       "tests/fixtures/tokio/src/bin/local_blocking.rs:%d",
			       marker_line(SOURCE, "@block: blocking-recv"));
	cr_expect(strstr(s, line), "%s\n%s", line, s);
	free(s);
	s = tui_screen(&f, "200x400", "T"); /* (tall enough for every thread's stack) */
	cr_expect(strstr(s, "  running blocking 4 (local_blocking::main::{async_block#0}::{closure_env#0})"),
		  "%s", s);
	free(line);
	free(s);
	fixture_kill(&f);
}
