/* Fuzz harness: the breakpoint SPEC and condition parser (src/breakpoint/spec.c, condition.c), and
 * the condition's evaluation over printed values. The input's first line is the SPEC (with its
 * ` if EXPR`); each later line is the printed value of a local of the hit frame, named `a`, `b`,
 * `cfg`, ... in turn, which the condition's paths (`cfg.version`) pick fields from. The first
 * line is also read as a computed member of a declarative summary (src/debuginfo/summary_expr.c),
 * its paths all read as the line's length. */
#include <stdlib.h>
#include <string.h>

#include "ai/breakpoint.h"
#include "ai/snapshot.h"
#include "ai/summaries.h"
#include "ai/util.h"
#include "fuzz.h"

#define MAX_LOCALS 4

static bool read_any_path(void *ctx, const char *path, size_t len, int64_t *ret, char **why_ret)
{
	(void)path;
	(void)why_ret;
	*ret = (int64_t)len + *(const int64_t *)ctx;
	return true;
}

int ai_fuzz_break(const uint8_t *data, size_t size)
{
	char *text = xstrndup((const char *)data, size);
	char *values = strchr(text, '\n');
	if (values)
		*values++ = '\0';
	int64_t base = (int64_t)strlen(text), value;
	struct ai_summary_expr_reader reader = { read_any_path, &base };
	char *expr_why = ai_summary_expr_check(text);
	free(expr_why);
	ai_summary_expr_eval(text, &reader, &value, &expr_why);
	free(expr_why);
	struct ai_break_spec spec;
	struct ai_error *err = ai_break_spec_parse(text, &spec);
	if (err) {
		ai_error_destroy(err);
		free(text);
		return 0;
	}
	static char *names[MAX_LOCALS] = { "a", "b", "cfg", "n" };
	struct ai_snapshot_local locals[MAX_LOCALS] = { 0 };
	size_t count = 0;
	while (values && count < MAX_LOCALS) {
		char *next = strchr(values, '\n');
		if (next)
			*next++ = '\0';
		locals[count] = (struct ai_snapshot_local){ .name = names[count], .type = "T", .value = values,
							    .state = AI_LOCAL_LIVE };
		count++;
		values = next;
	}
	struct ai_await_node frame = { .function = "app::serve", .locals = locals, .local_count = count };
	struct ai_snapshot_task task = { .id = 7, .has_id = true, .status = "idle", .name = "worker" };
	if (spec.cond) {
		struct ai_break_env envs[] = { { &task, &frame }, { NULL, &frame }, { &task, NULL } };
		for (size_t i = 0; i < AI_ARRAY_SIZE(envs); i++) {
			char *why = NULL;
			ai_break_cond_eval(spec.cond, &envs[i], &why);
			free(why);
		}
	}
	ai_break_spec_deinit(&spec);
	free(text);
	return 0;
}
