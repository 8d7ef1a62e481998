/* The generic fallback for an executor no adapter knows (src/async/poll_frames.c), as `dump` shows
 * it on fixture plain/tiny_executor: a hand-written std-only executor whose future blocks inside
 * its poll. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

TestSuite(fallback, .init = require_fixtures, .timeout = 120);

#define SRC "plain/src/bin/tiny_executor.rs"

Test(fallback, poll_frames_of_an_unknown_executor)
{
	struct fixture f;
	struct tool_result r;
	fixture_start(&f, "plain", "tiny_executor", NULL);
	dump_fixture(&f, "json", &r);
	json_error_t error;
	json_t *root = json_loads(r.out, 0, &error);
	cr_assert_not_null(root, "invalid JSON: %s", error.text);
	json_t *tasks = json_object_get(root, "tasks");
	cr_assert_eq(json_array_size(tasks), 1, "%s", r.out);
	json_t *t = json_array_get(tasks, 0);
	cr_expect_str_eq(doc_str(t, "runtime"), "fallback");
	cr_expect_str_eq(doc_str(t, "kind"), "block_on");
	cr_expect_str_eq(doc_str(t, "future"), "tiny_executor::outer_job");
	cr_expect_eq(json_integer_value(json_object_get(t, "thread")), f.pid, "on the main thread");
	json_t *outer = json_object_get(t, "tree");
	cr_expect_str_eq(doc_str(outer, "function"), "tiny_executor::outer_job");
	cr_expect_eq(json_integer_value(json_object_get(outer, "line")), marker_line(SRC, "@await: tiny-inner"));
	json_t *inner = doc_child(outer);
	cr_assert_not_null(inner, "%s", r.out);
	cr_expect_str_eq(doc_str(inner, "function"), "tiny_executor::inner_job");
	cr_expect_eq(json_integer_value(json_object_get(inner, "line")), marker_line(SRC, "@block: tiny-recv"),
		     "inner_job at the blocking call it makes inside its poll");
	bool warned = false;
	size_t i;
	json_t *w;
	json_array_foreach(json_object_get(root, "warnings"), i, w) {
		warned |= strstr(json_string_value(w), "only by the generic fallback") != NULL;
	}
	cr_expect(warned, "no warning that only the fallback found it: %s", r.out);
	json_decref(root);
	tool_result_free(&r);
	dump_fixture(&f, "text", &r);
	cr_expect(strstr(r.out, "block_on  tiny_executor::outer_job  on thread "), "%s", r.out);
	cr_expect(strstr(r.out, "(fallback: polled now by an executor no adapter knows)"), "%s", r.out);
	cr_expect(strstr(r.out, "warning: 1 future found only by the generic fallback"), "%s", r.out);
	tool_result_free(&r);
	fixture_kill(&f);
}
