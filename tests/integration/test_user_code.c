/* Which frames are the program's own and which its dependencies', told from the DWARF: on the
 * userdeps fixture (tests/fixtures/userdeps), whose tokio is vendored outside any cargo registry
 * path and whose `helper` is a path dependency outside its workspace; --user-crate overrides. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

TestSuite(user_code, .init = require_fixtures, .timeout = 300);

/* The tree of the task whose root future is userdeps::app_task, from dump's JSON (owned). */
static json_t *dump_tree(struct fixture *f, const char *const *extra, json_t **root_ret,
			 struct tool_result *r)
{
	char *pid = xasprintf("%d", (int)f->pid);
	const char *args[12] = { "dump", "--pid", pid, "--format", "json" };
	size_t n = 5;
	for (size_t i = 0; extra && extra[i] && n < 11; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	tool_run(r, 120, args);
	free(pid);
	cr_assert_eq(tool_exit_code(r), 0, "dump: %s", r->err);
	json_error_t error;
	json_t *root = json_loads(r->out, 0, &error);
	cr_assert(root, "invalid JSON: %s", error.text);
	size_t i;
	json_t *t;
	json_array_foreach(json_object_get(root, "tasks"), i, t) {
		json_t *tree = json_object_get(t, "tree");
		if (strcmp(doc_str(tree, "function"), "userdeps::app_task") == 0) {
			*root_ret = root;
			return tree;
		}
	}
	cr_assert_fail("no task runs userdeps::app_task:\n%s", r->out);
	return NULL;
}

static json_t *first_child(json_t *node)
{
	json_t *children = json_object_get(node, "children");
	cr_assert(json_array_size(children) > 0, "%s has no child", doc_str(node, "function"));
	return json_array_get(children, 0);
}

static void expect_frame(json_t *node, const char *function, const char *file, const char *marker,
			 bool dependency)
{
	cr_expect_str_eq(doc_str(node, "function"), function);
	if (marker)
		cr_expect_eq(json_integer_value(json_object_get(node, "line")), marker_line(file, marker),
			     "%s at the line of '%s'", function, marker);
	cr_expect_eq(json_is_true(json_object_get(node, "dependency")), dependency,
		     "%s (%s) %s be a dependency's", function, doc_str(node, "file"),
		     dependency ? "should" : "should not");
}

Test(user_code, vendored_and_path_dependencies_are_not_the_programs_own)
{
	struct fixture f;
	fixture_start(&f, "userdeps", "userdeps", NULL);
	struct tool_result r;
	json_t *root;
	json_t *app = dump_tree(&f, NULL, &root, &r);
	expect_frame(app, "userdeps::app_task", "userdeps/app/src/main.rs", "app-task", false);
	json_t *helper = first_child(app);
	expect_frame(helper, "helper::wait_here", "userdeps/helper/src/lib.rs", "helper-recv", true);
	json_t *recv = first_child(helper);
	cr_expect(strstr(doc_str(recv, "file"), "/vendor/tokio"), "tokio is vendored: %s", doc_str(recv, "file"));
	cr_expect(strstr(doc_str(recv, "function"), "recv"), "tokio's recv: %s", doc_str(recv, "function"));
	cr_expect(json_is_true(json_object_get(recv, "dependency")), "vendored tokio is a dependency");
	json_decref(root);
	tool_result_free(&r);
	fixture_kill(&f);
}

Test(user_code, user_crate_makes_a_dependency_the_programs_own)
{
	struct fixture f;
	fixture_start(&f, "userdeps", "userdeps", NULL);
	struct tool_result r;
	json_t *root;
	/* '-' and '_' are the same in crate names; an unknown crate is warned of, not an error. */
	json_t *app = dump_tree(&f, (const char *[]){ "--user-crate", "helper", "--user-crate", "no-such-crate", NULL },
				&root, &r);
	expect_frame(app, "userdeps::app_task", "userdeps/app/src/main.rs", "app-task", false);
	json_t *helper = first_child(app);
	expect_frame(helper, "helper::wait_here", "userdeps/helper/src/lib.rs", "helper-recv", false);
	cr_expect(json_is_true(json_object_get(first_child(helper), "dependency")), "tokio stays a dependency");
	char *warnings = json_dumps(json_object_get(root, "warnings"), JSON_ENCODE_ANY);
	cr_expect(warnings && strstr(warnings, "--user-crate no-such-crate"), "the unknown crate is warned of: %s",
		  warnings ? warnings : "(none)");
	free(warnings);
	json_decref(root);
	tool_result_free(&r);
	fixture_kill(&f);
}
