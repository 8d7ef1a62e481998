/* Computed members of declarative summaries: the expression language (src/debuginfo/summary_expr.c). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ai/summaries.h"

/* Member paths: "a" is 6, "b.c" is -2, anything else is not an integer. */
static bool read_path(void *ctx, const char *path, size_t len, int64_t *ret, char **why_ret)
{
	int *reads = ctx;
	(*reads)++;
	if (len == 1 && path[0] == 'a') {
		*ret = 6;
		return true;
	}
	if (len == 3 && strncmp(path, "b.c", 3) == 0) {
		*ret = -2;
		return true;
	}
	*why_ret = strndup(path, len);
	return false;
}

static int64_t eval(const char *text)
{
	int reads = 0;
	struct ai_summary_expr_reader reader = { read_path, &reads };
	int64_t v = 0;
	char *why = NULL;
	cr_assert(ai_summary_expr_eval(text, &reader, &v, &why), "%s: %s", text, why);
	cr_expect_null(ai_summary_expr_check(text), "%s", text);
	return v;
}

static void expect_error(const char *text, const char *why_expected)
{
	int reads = 0;
	struct ai_summary_expr_reader reader = { read_path, &reads };
	int64_t v = 0;
	char *why = NULL;
	cr_expect_not(ai_summary_expr_eval(text, &reader, &v, &why), "%s gave %lld", text, (long long)v);
	cr_expect(why && strstr(why, why_expected), "%s: '%s', not '%s'", text, why, why_expected);
	free(why);
}

Test(summary_expr, precedence_as_rust)
{
	cr_expect_eq(eval("1 + 2 * 3"), 7);
	cr_expect_eq(eval("(1 + 2) * 3"), 9);
	cr_expect_eq(eval("1 << 4 | 1"), 17);
	cr_expect_eq(eval("0x10 >> 2"), 4);
	cr_expect_eq(eval("7 & 3 ^ 1"), 2); /* & binds tighter than ^ */
	cr_expect_eq(eval("3 > 2 == 1"), 1);
	cr_expect_eq(eval("2 <= 1"), 0);
	cr_expect_eq(eval("-5 / 2"), -2);
	cr_expect_eq(eval("-5 % 2"), -1);
	cr_expect_eq(eval("~0 >> 63"), 1); /* logical shift, as on usize */
	cr_expect_eq(eval("!0 + !7"), 1);
	cr_expect_eq(eval("10 - 2 - 3"), 5); /* left-associative */
}

Test(summary_expr, member_paths)
{
	cr_expect_eq(eval("a * 10 + b.c"), 58);
	cr_expect_eq(eval("a>>1"), 3);
	expect_error("a + x.y", "x.y");
}

Test(summary_expr, errors_say_why)
{
	expect_error("1 / 0", "division by zero");
	expect_error("a % (a - 6)", "division by zero");
	expect_error("1 << 64", "outside 0..63");
	expect_error("1 >> -1", "outside 0..63");
	char *why = ai_summary_expr_check("a +");
	cr_expect(why && strstr(why, "an operand is missing at the end"), "%s", why);
	free(why);
	why = ai_summary_expr_check("(a");
	cr_expect(why && strstr(why, "expected ')'"), "%s", why);
	free(why);
	why = ai_summary_expr_check("a $ 2");
	cr_expect(why && strstr(why, "unexpected '$ 2'"), "%s", why);
	free(why);
	why = ai_summary_expr_check("12ab");
	cr_expect(why && strstr(why, "malformed"), "%s", why);
	free(why);
	why = ai_summary_expr_check("");
	cr_expect(why != NULL);
	free(why);
	/* bounded nesting */
	char deep[200];
	memset(deep, '(', 100);
	strcpy(deep + 100, "1");
	memset(deep + 101, ')', 98);
	deep[199] = '\0';
	why = ai_summary_expr_check(deep);
	cr_expect(why && strstr(why, "nested too deeply"), "%s", why);
	free(why);
	/* INT64_MIN / -1 wraps instead of trapping */
	cr_expect_eq(eval("(-9223372036854775807 - 1) / -1"), INT64_MIN);
}
