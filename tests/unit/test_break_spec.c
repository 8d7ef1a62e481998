/* The SPEC of --break (src/breakpoint/spec.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "ai/breakpoint.h"

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
}
