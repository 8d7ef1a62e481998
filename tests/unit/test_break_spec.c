/* The SPEC of --break (src/breakpoint/spec.c). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ai/breakpoint.h"
#include "ai/snapshot.h"

static void expect_bad(const char *text, const char *why);

Test(break_spec, file_and_line)
{
	struct ai_break_spec spec;
	cr_assert_null(ai_break_spec_parse("src/server.rs:88", &spec));
	cr_expect_eq(spec.kind, AI_BREAK_LINE);
	cr_expect_str_eq(spec.file, "src/server.rs");
	cr_expect_eq(spec.line, 88);
	cr_expect_str_eq(spec.text, "src/server.rs:88");
	ai_break_spec_deinit(&spec);
	/* Only the last colon separates the line: a path may hold colons. */
	cr_assert_null(ai_break_spec_parse("C:odd/dir/main.rs:7", &spec));
	cr_expect_str_eq(spec.file, "C:odd/dir/main.rs");
	cr_expect_eq(spec.line, 7);
	ai_break_spec_deinit(&spec);
}

Test(break_spec, resume)
{
	struct ai_break_spec spec;
	cr_assert_null(ai_break_spec_parse("server.rs:88@resume if n > 1", &spec));
	cr_expect_eq(spec.kind, AI_BREAK_LINE);
	cr_expect(spec.resume);
	cr_expect_str_eq(spec.file, "server.rs");
	cr_expect_eq(spec.line, 88);
	cr_expect_not_null(spec.cond);
	cr_expect_str_eq(spec.text, "server.rs:88@resume if n > 1");
	ai_break_spec_deinit(&spec);
	expect_bad("app::serve@resume", "@resume is for FILE:LINE");
}

Test(break_spec, spawn_and_complete)
{
	struct ai_break_spec spec;
	cr_assert_null(ai_break_spec_parse("spawn", &spec));
	cr_expect_eq(spec.kind, AI_BREAK_SPAWN);
	cr_expect_null(spec.function);
	ai_break_spec_deinit(&spec);
	cr_assert_null(ai_break_spec_parse("complete:app::{impl#0}::handle if task.id == 3", &spec));
	cr_expect_eq(spec.kind, AI_BREAK_COMPLETE);
	cr_expect_str_eq(spec.function, "app::{impl#0}::handle");
	cr_expect_not_null(spec.cond);
	cr_expect_str_eq(spec.text, "complete:app::{impl#0}::handle if task.id == 3");
	ai_break_spec_deinit(&spec);
	/* A crate called spawn is still a path: spawn::run is its async fn. */
	cr_assert_null(ai_break_spec_parse("spawn::run", &spec));
	cr_expect_eq(spec.kind, AI_BREAK_FUNCTION);
	ai_break_spec_deinit(&spec);
	expect_bad("spawn:", "expected spawn:FN");
	expect_bad("complete:3", "expected complete:FN");
}

Test(break_spec, async_fn_path)
{
	struct ai_break_spec spec;
	cr_assert_null(ai_break_spec_parse("app::net::serve", &spec));
	cr_expect_eq(spec.kind, AI_BREAK_FUNCTION);
	cr_expect_str_eq(spec.function, "app::net::serve");
	cr_expect_null(spec.file);
	ai_break_spec_deinit(&spec);
	cr_assert_null(ai_break_spec_parse("_start2", &spec));
	cr_expect_eq(spec.kind, AI_BREAK_FUNCTION);
	ai_break_spec_deinit(&spec);
	/* An async fn of an impl block, as DWARF names it. */
	cr_assert_null(ai_break_spec_parse("app::{impl#0}::handle", &spec));
	cr_expect_eq(spec.kind, AI_BREAK_FUNCTION);
	cr_expect_str_eq(spec.function, "app::{impl#0}::handle");
	ai_break_spec_deinit(&spec);
}

static void expect_bad(const char *text, const char *why)
{
	struct ai_break_spec spec;
	struct ai_error *err = ai_break_spec_parse(text, &spec);
	cr_assert_not_null(err, "'%s' accepted", text);
	cr_expect_eq(err->code, AI_ERROR_INVALID_ARGUMENT);
	cr_expect(strstr(err->message, why), "'%s': %s", text, err->message);
	ai_error_destroy(err);
}

Test(break_spec, errors_say_what_is_wrong)
{
	expect_bad("main.rs:0", "out of range");
	expect_bad("main.rs:99999999999", "out of range");
	expect_bad("main.rs:x", "expected FILE:LINE");
	expect_bad("main.rs", "expected FILE:LINE of an .await or the path of an async fn");
	expect_bad("", "expected FILE:LINE");
	expect_bad("app::", "expected FILE:LINE");
	expect_bad("::serve", "expected FILE:LINE");
	expect_bad("a b", "expected FILE:LINE");
	expect_bad(":5", "expected FILE:LINE");
	expect_bad("app::{impl#0", "expected FILE:LINE");
	expect_bad("app::{}::f", "expected FILE:LINE");
}

/* Conditions over a hand-made frame, as the value printer prints locals. */
static struct ai_snapshot_local locals[] = {
	{ .name = "i", .type = "u64", .value = "3" },
	{ .name = "name", .type = "String", .value = "\"conn-2\"" },
	{ .name = "cfg", .type = "Config", .value = "Config { name: \"a, b}\", version: 3, inner: Inner { depth: -2 } }" },
	{ .name = "done", .type = "bool", .value = "false" },
	{ .name = "gone", .type = "String", .state = AI_LOCAL_MOVED },
	{ .name = "v", .type = "Vec<u32>", .value = "[1, 2]" },
	{ .name = "count", .type = "Arc<Mutex<u32>>", .value = "Arc(strong 2, weak 0) Mutex(locked) 8" },
	{ .name = "shared", .type = "Arc<Config>",
	  .value = "Arc(strong 1, weak 0) Config { version: Arc(strong 3, weak 0) 4, kind: Line(3) }" },
};

static enum ai_break_truth eval(const char *text, char **why_ret)
{
	struct ai_await_node frame = { .function = "app::serve", .locals = locals,
				       .local_count = sizeof(locals) / sizeof(locals[0]) };
	struct ai_snapshot_task task = { .id = 7, .has_id = true, .name = "worker", .status = "running" };
	struct ai_break_env env = { &task, &frame };
	struct ai_break_cond *cond;
	struct ai_error *err = ai_break_cond_parse(text, &cond);
	cr_assert_null(err, "%s: %s", text, err ? err->message : "");
	enum ai_break_truth truth = ai_break_cond_eval(cond, &env, why_ret);
	ai_break_cond_destroy(cond);
	return truth;
}

static void expect_truth(const char *text, enum ai_break_truth want)
{
	char *why = NULL;
	enum ai_break_truth got = eval(text, &why);
	cr_expect_eq(got, want, "`%s`: %d, not %d (%s)", text, got, want, why ? why : "");
	free(why);
}

Test(break_cond, comparisons_and_logic)
{
	expect_truth("i == 3", AI_BREAK_TRUE);
	expect_truth("i != 3", AI_BREAK_FALSE);
	expect_truth("i >= 3 && i < 4", AI_BREAK_TRUE);
	expect_truth("i > 3 || name == \"conn-2\"", AI_BREAK_TRUE);
	expect_truth("!(i == 3)", AI_BREAK_FALSE);
	expect_truth("name < \"conn-3\"", AI_BREAK_TRUE);
	expect_truth("done == false && !done", AI_BREAK_TRUE);
	expect_truth("task.id == 7 && task.name == \"worker\" && task.status == \"running\"", AI_BREAK_TRUE);
	/* Fields of printed structs, strings holding the separators. */
	expect_truth("cfg.version == 3", AI_BREAK_TRUE);
	expect_truth("cfg.name == \"a, b}\"", AI_BREAK_TRUE);
	expect_truth("cfg.inner.depth < 0", AI_BREAK_TRUE);
	/* The value after a summary's states (Arc's counts, a lock's state). */
	expect_truth("count == 8", AI_BREAK_TRUE);
	expect_truth("shared.version == 4", AI_BREAK_TRUE);
	expect_truth("shared.kind == 3", AI_BREAK_UNKNOWN);
}

Test(break_cond, unknown_is_not_false)
{
	char *why = NULL;
	cr_expect_eq(eval("nope == 1", &why), AI_BREAK_UNKNOWN);
	cr_expect(why && strstr(why, "no local nope"), "%s", why);
	free(why);
	why = NULL;
	cr_expect_eq(eval("gone == \"x\"", &why), AI_BREAK_UNKNOWN);
	cr_expect(why && strstr(why, "gone is <moved>"), "%s", why);
	free(why);
	expect_truth("v == 1", AI_BREAK_UNKNOWN);
	expect_truth("i == \"3\"", AI_BREAK_UNKNOWN);
	expect_truth("cfg.missing == 1", AI_BREAK_UNKNOWN);
	/* Kleene logic: one side decides. */
	expect_truth("nope == 1 && i == 4", AI_BREAK_FALSE);
	expect_truth("nope == 1 || i == 3", AI_BREAK_TRUE);
	expect_truth("nope == 1 || i == 4", AI_BREAK_UNKNOWN);
}

static void expect_parse_error(const char *text, const char *why)
{
	struct ai_break_cond *cond;
	struct ai_error *err = ai_break_cond_parse(text, &cond);
	cr_assert_not_null(err, "`%s` parsed", text);
	cr_expect(strstr(err->message, why), "`%s`: %s", text, err->message);
	ai_error_destroy(err);
}

Test(break_cond, syntax_errors)
{
	expect_parse_error("i == ", "ends where a value should be");
	expect_parse_error("i == 3 3", "unexpected text");
	expect_parse_error("(i == 3", "expected ')'");
	expect_parse_error("name == \"x", "unterminated string");
	expect_parse_error("i = 3", "unexpected text");
	expect_parse_error("i == 3x", "bad integer");
}

Test(break_spec, with_condition)
{
	struct ai_break_spec spec;
	cr_assert_null(ai_break_spec_parse("server.rs:88 if conn.id == 3", &spec));
	cr_expect_eq(spec.kind, AI_BREAK_LINE);
	cr_expect_str_eq(spec.file, "server.rs");
	cr_expect_eq(spec.line, 88);
	cr_expect_not_null(spec.cond);
	ai_break_spec_deinit(&spec);
	struct ai_error *err = ai_break_spec_parse("app::serve if (", &spec);
	cr_assert_not_null(err);
	cr_expect(strstr(err->message, "--break app::serve if (: condition"), "%s", err->message);
	ai_error_destroy(err);
}

/* DAP's evaluate: the value of a path (the printer's text), a task field, a literal, a
 * comparison; unknown with why. */
static char *value_of(const char *text, char **why_ret)
{
	struct ai_await_node frame = { .function = "app::serve", .locals = locals,
				       .local_count = sizeof(locals) / sizeof(locals[0]) };
	struct ai_snapshot_task task = { .id = 7, .has_id = true, .name = "worker", .status = "running" };
	struct ai_break_env env = { &task, &frame };
	struct ai_break_cond *cond;
	struct ai_error *err = ai_break_cond_parse(text, &cond);
	cr_assert_null(err, "%s: %s", text, err ? err->message : "");
	char *value = ai_break_cond_value(cond, &env, why_ret);
	ai_break_cond_destroy(cond);
	return value;
}

static void expect_value(const char *text, const char *want)
{
	char *why = NULL;
	char *got = value_of(text, &why);
	if (want)
		cr_expect(got && strcmp(got, want) == 0, "`%s`: %s, not %s (%s)", text, got ? got : "unknown", want,
			  why ? why : "");
	else
		cr_expect(!got && why, "`%s`: %s, not unknown", text, got ? got : "?");
	free(got);
	free(why);
}

Test(break_cond, values_for_evaluate)
{
	expect_value("i", "3");
	expect_value("cfg.inner", "Inner { depth: -2 }");
	expect_value("cfg.name", "\"a, b}\"");
	expect_value("v", "[1, 2]");
	expect_value("task.id", "7");
	expect_value("task.name", "\"worker\"");
	expect_value("42", "42");
	expect_value("i == 3 && task.id > 0", "true");
	expect_value("done", "false");
	expect_value("gone", NULL);
	expect_value("nope", NULL);
	expect_value("cfg.nope", NULL);
	char *why = NULL;
	free(value_of("gone == 1", &why));
	cr_expect(why && strstr(why, "gone is"), "%s", why ? why : "(none)");
	free(why);
}

/* --step TASK: a decimal id or a 0x address; anything else says what it expects. */
Test(break_spec, step_task)
{
	struct ai_step_task task;
	cr_assert_null(ai_step_parse_task("3", &task));
	cr_expect(!task.by_address);
	cr_expect_eq(task.value, 3);
	cr_assert_null(ai_step_parse_task("0x55d0c8b1ae00", &task));
	cr_expect(task.by_address);
	cr_expect_eq(task.value, 0x55d0c8b1ae00ULL);
	static const char *const bad[] = { "", "-1", "0x", "nine", "3x", "0xzz", "99999999999999999999999", NULL };
	for (size_t i = 0; bad[i]; i++) {
		struct ai_error *err = ai_step_parse_task(bad[i], &task);
		cr_expect(err && strstr(err->message, "expected a task id"), "'%s' is refused", bad[i]);
		ai_error_destroy(err);
	}
}
