/* tokio in a shared library: tests/fixtures/shlib's libai_plugin.so, loaded by C hosts without
 * tokio (DT_NEEDED and dlopen), as Python and Node extensions and plugins are. `dump` finds the
 * library's runtimes (one of them created and never entered by the host) and decodes their tasks
 * from the library's DWARF, with their awaits at lines of the library's source. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "support.h"

TestSuite(shlib, .init = require_fixtures, .timeout = 300);

#define LIB_SRC "shlib/src/lib.rs"

static const char *const hosts[] = { "host_needed", "host_dlopen", NULL };

/* The task (or block_on future) whose root future is function. */
static json_t *find_root(json_t *tasks, const char *function)
{
	size_t i;
	json_t *t;
	json_array_foreach(tasks, i, t) {
		const char *fn = json_string_value(json_object_get(json_object_get(t, "tree"), "function"));
		if (fn && strcmp(fn, function) == 0)
			return t;
	}
	return NULL;
}

static void expect_root(json_t *tasks, const char *host, const char *function, const char *kind,
			const char *flavor, const char *marker)
{
	json_t *t = find_root(tasks, function);
	cr_assert_not_null(t, "%s: no %s", host, function);
	json_t *tree = json_object_get(t, "tree");
	cr_expect_str_eq(json_string_value(json_object_get(t, "kind")), kind, "%s: %s", host, function);
	cr_expect_str_eq(json_string_value(json_object_get(t, "runtime")), "tokio", "%s: %s", host, function);
	cr_expect_str_eq(json_string_value(json_object_get(t, "flavor")), flavor, "%s: %s", host, function);
	const char *file = json_string_value(json_object_get(tree, "file"));
	cr_expect(file && strstr(file, "tests/fixtures/" LIB_SRC), "%s: %s in %s", host, function, file);
	cr_expect_eq(json_integer_value(json_object_get(tree, "line")), marker_line(LIB_SRC, marker),
		     "%s: %s", host, function);
}

Test(shlib, dump_json_lists_the_librarys_runtimes_and_tasks)
{
	for (const char *const *host = hosts; *host; host++) {
		struct fixture f;
		fixture_start(&f, "shlib", *host, NULL);
		struct tool_result r;
		dump_fixture(&f, "json", &r);
		json_error_t error;
		json_t *root = json_loads(r.out, 0, &error);
		cr_assert(root, "%s: invalid JSON: %s", *host, error.text);
		json_t *runtimes = json_object_get(root, "runtimes");
		cr_assert_eq(json_array_size(runtimes), 1, "%s", *host);
		json_t *tokio = json_array_get(runtimes, 0);
		cr_expect_str_eq(json_string_value(json_object_get(tokio, "name")), "tokio", "%s", *host);
		cr_expect_str_eq(json_string_value(json_object_get(tokio, "version")), "1.54.1", "%s", *host);
		cr_expect_eq(json_integer_value(json_object_get(tokio, "instances")), 2, "%s", *host);
		cr_expect(json_is_true(json_object_get(tokio, "decoded")), "%s", *host);
		const char *module = json_string_value(json_object_get(tokio, "module"));
		cr_expect(module && strstr(module, "/libai_plugin.so"), "%s: module %s", *host, module);
		json_t *tasks = json_object_get(root, "tasks");
		/* The multi_thread runtime was created and never entered by the host: its tasks all the same. */
		expect_root(tasks, *host, "ai_plugin::plugin_alpha", "task", "multi_thread", "@await: plugin-alpha");
		expect_root(tasks, *host, "ai_plugin::plugin_beta", "task", "multi_thread", "@await: plugin-beta");
		expect_root(tasks, *host, "ai_plugin::plugin_gamma", "task", "current_thread", "@await: plugin-gamma");
		expect_root(tasks, *host, "ai_plugin::run_current::{async_block#0}", "block_on", "current_thread",
			    "@await: plugin-main");
		json_t *alpha = find_root(tasks, "ai_plugin::plugin_alpha");
		json_t *gamma = find_root(tasks, "ai_plugin::plugin_gamma");
		cr_expect_str_neq(json_string_value(json_object_get(alpha, "runtime_address")),
				  json_string_value(json_object_get(gamma, "runtime_address")),
				  "%s: each task with its runtime", *host);
		cr_expect_eq(json_array_size(json_object_get(root, "warnings")), 0, "%s: %s", *host,
			     json_dumps(json_object_get(root, "warnings"), 0));
		json_decref(root);
		tool_result_free(&r);
		fixture_kill(&f);
	}
}

Test(shlib, dump_text_shows_the_awaits_in_the_librarys_source)
{
	for (const char *const *host = hosts; *host; host++) {
		struct fixture f;
		fixture_start(&f, "shlib", *host, NULL);
		struct tool_result r;
		dump_fixture(&f, "text", &r);
		tool_result_unwrap(&r);
		const struct { const char *function, *marker; } awaits[] = {
			{ "ai_plugin::plugin_alpha", "@await: plugin-alpha" },
			{ "ai_plugin::plugin_beta", "@await: plugin-beta" },
			{ "ai_plugin::plugin_gamma", "@await: plugin-gamma" },
			{ "ai_plugin::run_current::{async_block#0}", "@await: plugin-main" },
		};
		for (size_t i = 0; i < AI_ARRAY_SIZE(awaits); i++) {
			char *where = xasprintf("%s  Suspend0  %s/tests/fixtures/%s:%d", awaits[i].function,
						getenv("AI_SOURCE"), LIB_SRC, marker_line(LIB_SRC, awaits[i].marker));
			cr_expect(strstr(r.out, where), "%s: no \"%s\" in:\n%s", *host, where, r.out);
			free(where);
		}
		cr_expect(strstr(r.out, "└─ tokio::time::sleep::Sleep (leaf)  [sleep, "), "%s:\n%s", *host, r.out);
		cr_expect(strstr(r.out, "3 tasks (3 idle), 1 block_on future, 2 tokio runtimes (tokio 1.54.1) "
				 "in libai_plugin.so;"), "%s:\n%s", *host, r.out);
		tool_result_free(&r);
		fixture_kill(&f);
	}
}

/* From a core file: the library's mappings come from the core's NT_FILE note. */
Test(shlib, core_file_gives_the_same_tasks)
{
	struct fixture f;
	fixture_start(&f, "shlib", "host_needed", NULL);
	struct core_file cf;
	core_dump(&cf, &f);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--core", cf.path, "--exe", f.path, "--format", "json", NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	json_t *root = json_loads(r.out, 0, NULL);
	cr_assert(root);
	json_t *tasks = json_object_get(root, "tasks");
	expect_root(tasks, "core", "ai_plugin::plugin_alpha", "task", "multi_thread", "@await: plugin-alpha");
	expect_root(tasks, "core", "ai_plugin::plugin_gamma", "task", "current_thread", "@await: plugin-gamma");
	expect_root(tasks, "core", "ai_plugin::run_current::{async_block#0}", "block_on", "current_thread",
		    "@await: plugin-main");
	json_decref(root);
	tool_result_free(&r);
	core_remove(&cf);
	fixture_kill(&f);
}
