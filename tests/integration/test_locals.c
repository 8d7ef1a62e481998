/* Saved locals as `dump` shows them on the `locals` fixture, for every tokio version: a local
 * dropped or moved before the await is `<moved>` (its slot holds freed memory), the same local
 * kept alive in another task of the same fn is its value, and the compiler's own fields
 * (`__awaitee`, drop flags `__N`) appear only with --all-locals. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "support.h"

TestSuite(locals, .init = require_fixtures, .timeout = 300);

static char *dump(pid_t pid, const char *format, bool all)
{
	char *p = xasprintf("%d", (int)pid);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", p, "--format", format,
					    all ? "--all-locals" : "--locals", NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "dump: %s", r.err);
	char *out = r.out;
	r.out = NULL;
	tool_result_free(&r);
	free(p);
	return out;
}

/* The frame lines of text (with their continuation lines) that hold every one of the needles. */
static int lines_with(const char *wrapped, const char *a, const char *b)
{
	int n = 0;
	char *text = text_unwrapped(wrapped);
	for (const char *line = text; line && *line;) {
		const char *end = strchr(line, '\n');
		size_t len = end ? (size_t)(end - line) : strlen(line);
		char *copy = xstrndup(line, len);
		n += strstr(copy, a) && (!b || strstr(copy, b));
		free(copy);
		line = end ? end + 1 : NULL;
	}
	free(text);
	return n;
}

/* The branchy task whose local `note` has this state, or NULL. */
static json_t *note_local(json_t *tasks, const char *state, const char *value)
{
	size_t i, j;
	json_t *t, *l;
	json_array_foreach(tasks, i, t) {
		json_t *tree = json_object_get(t, "tree");
		const char *fn = json_string_value(json_object_get(tree, "function"));
		if (!fn || strcmp(fn, "locals::branchy") != 0)
			continue;
		json_array_foreach(json_object_get(tree, "locals"), j, l) {
			const char *name = json_string_value(json_object_get(l, "name"));
			const char *st = json_string_value(json_object_get(l, "state"));
			const char *v = json_string_value(json_object_get(l, "value"));
			if (name && strcmp(name, "note") == 0 && st && strcmp(st, state) == 0 &&
			    (value ? v && strcmp(v, value) == 0 : json_is_null(json_object_get(l, "value"))))
				return l;
		}
	}
	return NULL;
}

Test(locals, moved_locals_are_never_printed_as_values)
{
	int branch = marker_line("tokio/src/bin/locals.rs", "@await: locals-branch");
	char *at_branch = xasprintf("locals.rs:%d", branch);
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "locals", NULL);
		char *text = dump(f.pid, "text", false);
		char *all = dump(f.pid, "text", true);
		char *json = dump(f.pid, "json", false);
		fixture_kill(&f);

		/* branchy(drop both), branchy(keep both), branchy(drop spare only). */
		cr_expect_eq(lines_with(text, at_branch, NULL), 3, "%s: 3 branchy tasks at %s:\n%s", *v,
			     at_branch, text);
		cr_expect_eq(lines_with(text, at_branch, "note = <moved>, spare = <moved>"), 1,
			     "%s: both dropped:\n%s", *v, text);
		cr_expect_eq(lines_with(text, at_branch, "note = \"locals-note\", spare = [4, 5, 6]"), 1,
			     "%s: both kept:\n%s", *v, text);
		cr_expect_eq(lines_with(text, at_branch, "note = \"locals-note\", spare = <moved>"), 1,
			     "%s: spare dropped, note kept:\n%s", *v, text);
		/* handoff(send): parcel moved into the spawned owner; handoff(keep): still there. */
		cr_expect_eq(lines_with(text, "locals::handoff ", "parcel = <moved>, used = 13"), 1,
			     "%s:\n%s", *v, text);
		cr_expect_eq(lines_with(text, "locals::handoff ", "parcel = \"locals-parcel\", used = 13"),
			     1, "%s:\n%s", *v, text);
		cr_expect_eq(lines_with(text, "locals::owner ", "parcel = \"locals-parcel\""), 1,
			     "%s: the owner has it:\n%s", *v, text);
		/* Enums saved across the await. */
		cr_expect_eq(lines_with(text, "locals::choose ",
					"maybe = Some(\"locals-maybe\"), shape = Poly([Dot, Line(3)])"), 1,
			     "%s:\n%s", *v, text);
		cr_expect_eq(lines_with(text, "locals::choose ", "maybe = None, shape = Line(9)"), 1,
			     "%s:\n%s", *v, text);
		/* The compiler's fields: only with --all-locals, and a moved local stays <moved>. */
		cr_expect_null(strstr(text, "__awaitee ="), "%s: __awaitee in the default view", *v);
		cr_expect_null(strstr(text, "__5 ="), "%s: a drop flag in the default view", *v);
		cr_expect_gt(count_substr(all, "__awaitee = "), 0, "%s:\n%s", *v, all);
		cr_expect_eq(lines_with(all, at_branch, "__5 = false"), 2, "%s:\n%s", *v, all);
		cr_expect_eq(lines_with(all, at_branch, "note = <moved>"), 1, "%s:\n%s", *v, all);

		json_error_t error;
		json_t *root = json_loads(json, 0, &error);
		cr_assert_not_null(root, "%s: %s", *v, error.text);
		json_t *tasks = json_object_get(root, "tasks");
		cr_expect_not_null(note_local(tasks, "moved", NULL), "%s: note moved, value null", *v);
		cr_expect_not_null(note_local(tasks, "live", "\"locals-note\""), "%s: note live", *v);
		cr_expect_null(strstr(json, "\"generated\""), "%s: no generated local by default", *v);
		json_decref(root);
		free(text);
		free(all);
		free(json);
	}
	free(at_branch);
}

/* Post-mortem: the drop glue's code comes from the executable, the flags from the core. */
Test(locals, the_same_from_a_core_file)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "locals", NULL);
	struct core_file cf;
	core_dump(&cf, &f);
	char *core = cf.path;
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--core", core, "--exe", f.path, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect_eq(lines_with(r.out, "locals::branchy ", "note = <moved>, spare = <moved>"), 1, "%s", r.out);
	cr_expect_eq(lines_with(r.out, "locals::branchy ", "note = \"locals-note\", spare = <moved>"), 1,
		     "%s", r.out);
	cr_expect_eq(lines_with(r.out, "locals::handoff ", "parcel = <moved>"), 1, "%s", r.out);
	tool_result_free(&r);
	core_remove(&cf);
	fixture_kill(&f);
}
