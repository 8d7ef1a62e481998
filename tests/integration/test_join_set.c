/* tokio JoinSet members and spawn_blocking closures queued in the blocking pool, as `dump` shows
 * them, on fixture join_set (tests/fixtures/README.md) in every tokio version of the matrix. */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

TestSuite(join_set, .init = require_fixtures, .timeout = 300);

#define SOURCE "tokio/src/bin/join_set.rs"

/* The matrix but 1.19, where JoinSet needs tokio_unstable (the fixture is not built there). */
static bool skipped(const char *version)
{
	return strcmp(version, "tokio-1.19") == 0;
}

static char *dump(const struct fixture *f, const char *version, const char *format)
{
	char *pid = xasprintf("%d", (int)f->pid);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, "--format", format, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s: %s", version, r.err);
	cr_expect(!strstr(r.err, "warning"), "%s: %s", version, r.err);
	char *out = r.out;
	r.out = NULL;
	tool_result_free(&r);
	free(pid);
	return out;
}

static json_t *task_by_future(json_t *root, const char *future)
{
	return doc_item_by_string(json_object_get(root, "tasks"), "future", future, 0);
}

static json_t *block_on(json_t *root)
{
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(root, "tasks"), i, t) {
		if (strcmp(json_string_value(json_object_get(t, "kind")), "block_on") == 0)
			return t;
	}
	return NULL;
}

/* The innermost node of a main await chain. */
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

static const char *const members[] = {
	"join_set::member_sleep",
	"join_set::member_notify",
	"join_set::member_oneshot",
};

Test(join_set, members_every_version)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		if (skipped(*v))
			continue;
		struct fixture f;
		fixture_start(&f, *v, "join_set", NULL);
		char *out = dump(&f, *v, "json");
		json_error_t error;
		json_t *root = json_loads(out, 0, &error);
		cr_assert(root, "%s: invalid JSON: %s", *v, error.text);
		/* The block_on future awaits join_next at its marker; its wait is the set, naming the
		 * three members' ids, and nothing else. */
		json_t *main = block_on(root);
		cr_assert(main, "%s: no block_on future\n%s", *v, out);
		cr_expect_eq(json_integer_value(json_object_get(json_object_get(main, "tree"), "line")),
			     marker_line(SOURCE, "@await: join-next"), "%s", *v);
		json_t *wait = json_object_get(leaf_of(json_object_get(main, "tree")), "wait");
		cr_assert(json_is_object(wait), "%s: no wait on the join_next leaf\n%s", *v, out);
		cr_expect_str_eq(json_string_value(json_object_get(wait, "kind")), "join_set", "%s", *v);
		cr_expect_str_eq(json_string_value(json_object_get(wait, "type")), "JoinSet<u64>", "%s", *v);
		const char *set = json_string_value(json_object_get(wait, "address"));
		json_t *listed = json_object_get(wait, "members");
		cr_assert_eq(json_array_size(listed), 3, "%s: members\n%s", *v, out);
		const char *description = json_string_value(json_object_get(wait, "description"));
		for (size_t k = 0; k < AI_ARRAY_SIZE(members); k++) {
			json_t *t = task_by_future(root, members[k]);
			cr_assert(t, "%s: no task %s\n%s", *v, members[k], out);
			json_int_t id = json_integer_value(json_object_get(t, "id"));
			bool found = false;
			size_t i;
			json_t *m;
			json_array_foreach(listed, i, m) {
				found |= json_integer_value(json_object_get(m, "id")) == id;
			}
			cr_expect(found, "%s: %s (Task %lld) not among the set's members\n%s", *v, members[k],
				  (long long)id, out);
			char *named = xasprintf("Task %lld (idle)", (long long)id);
			cr_expect(description && strstr(description, named), "%s: %s in \"%s\"", *v, named,
				  description);
			free(named);
			/* each member says which set it is in */
			json_t *in = json_object_get(t, "set");
			cr_expect(json_is_object(in), "%s: %s has no set", *v, members[k]);
			cr_expect_str_eq(json_string_value(json_object_get(in, "address")), set, "%s", *v);
			cr_expect_str_eq(json_string_value(json_object_get(in, "type")), "JoinSet<u64>", "%s", *v);
		}
		/* the task outside the set is in none */
		json_t *outsider = task_by_future(root, "join_set::outsider");
		cr_assert(outsider, "%s: no outsider\n%s", *v, out);
		cr_expect(!json_object_get(outsider, "set"), "%s: the outsider is in a set", *v);
		json_decref(root);
		free(out);
		fixture_kill(&f);
	}
}

Test(join_set, text_every_version)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		if (skipped(*v))
			continue;
		struct fixture f;
		fixture_start(&f, *v, "join_set", NULL);
		char *text = dump(&f, *v, "text");
		cr_expect(!strstr(text, "warning:"), "%s\n%s", *v, text);
		for (size_t k = 0; k < AI_ARRAY_SIZE(members); k++) {
			char *header = xasprintf("  %s  idle  (tokio, current_thread, in JoinSet<u64> @ 0x", members[k]);
			cr_expect(strstr(text, header), "%s: %s\n%s", *v, header, text);
			free(header);
		}
		cr_expect(strstr(text, "join_set::outsider  idle  (tokio, current_thread)\n"), "%s\n%s", *v, text);
		cr_expect(strstr(text, "[join_next on JoinSet<u64> @ 0x"), "%s\n%s", *v, text);
		cr_expect(strstr(text, ": 3 tasks: Task "), "%s\n%s", *v, text);
		/* the blocking pool: one closure running, two queued behind it */
		cr_expect(strstr(text, "join_set::main::{async_block#0}::{closure_env#0}  running  (tokio, "
				       "spawn_blocking on thread "), "%s\n%s", *v, text);
		for (int n = 1; n <= 2; n++) {
			char *queued = xasprintf("join_set::main::{async_block#0}::{closure_env#%d}  scheduled  "
						 "(tokio, spawn_blocking, queued: no thread yet)", n);
			cr_expect(strstr(text, queued), "%s: %s\n%s", *v, queued, text);
			free(queued);
		}
		cr_expect(strstr(text, "4 tasks (4 idle), 3 blocking tasks, 1 block_on future, 1 tokio runtime"),
			  "%s\n%s", *v, text);
		free(text);
		fixture_kill(&f);
	}
}

Test(join_set, queued_blocking_json)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		if (skipped(*v))
			continue;
		struct fixture f;
		fixture_start(&f, *v, "join_set", NULL);
		char *out = dump(&f, *v, "json");
		json_error_t error;
		json_t *root = json_loads(out, 0, &error);
		cr_assert(root, "%s: invalid JSON: %s", *v, error.text);
		for (int n = 1; n <= 2; n++) {
			char *future = xasprintf("join_set::main::{async_block#0}::{closure_env#%d}", n);
			json_t *t = task_by_future(root, future);
			cr_assert(t, "%s: no task %s\n%s", *v, future, out);
			cr_expect_str_eq(json_string_value(json_object_get(t, "kind")), "blocking", "%s", *v);
			cr_expect_str_eq(json_string_value(json_object_get(t, "status")), "scheduled", "%s", *v);
			cr_expect(json_is_null(json_object_get(t, "thread")), "%s: %s has a thread", *v, future);
			cr_expect(json_is_integer(json_object_get(t, "id")), "%s: %s has no id", *v, future);
			free(future);
		}
		json_decref(root);
		free(out);
		fixture_kill(&f);
	}
}
