/* `run` / `attach --break SPEC`: the options, and the breakpoint session of src/breakpoint. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/breakpoint.h"
#include "ai/cli.h"
#include "ai/util.h"

int ai_parse_break_option(const char *command, int opt, const char *arg, struct ai_break_cli *b)
{
	struct ai_error *err;
	char *end;
	switch (opt) {
	case 'B':
		AI_GROW(b->specs, b->capacity, b->count + 1);
		if ((err = ai_break_spec_parse(arg, &b->specs[b->count]))) {
			int status = ai_usage_error(command, "%s", err->message);
			ai_error_destroy(err);
			return status;
		}
		b->count++;
		return 0;
	case 'N':
		b->break_count = strtoull(arg, &end, 10);
		if (!*arg || *end || b->break_count == 0)
			return ai_usage_error(command, "--break-count %s: expected a number of hits (1 or more)", arg);
		return 0;
	case 'Y':
		b->history = true;
		return 0;
	case 'f':
		if (strcmp(arg, "json") != 0 && strcmp(arg, "text") != 0)
			return ai_usage_error(command, "--format %s: expected text or json", arg);
		b->json = strcmp(arg, "json") == 0;
		return 0;
	default:
		return -1;
	}
}

void ai_break_cli_deinit(struct ai_break_cli *b)
{
	for (size_t i = 0; i < b->count; i++)
		ai_break_spec_deinit(&b->specs[i]);
	free(b->specs);
	memset(b, 0, sizeof(*b));
}

int ai_break_command(struct ai_target *target, const struct ai_break_cli *b, bool *exited_ret, int *status_ret)
{
	struct ai_break_options options = {
		.specs = b->specs,
		.spec_count = b->count,
		.break_count = b->break_count,
		.json = b->json,
		.color = !b->json && ai_use_color(stdout),
		.locals = !b->no_locals,
		.all_locals = !b->no_locals && b->all_locals,
		.history = b->history,
	};
	struct ai_break_result result;
	struct ai_error *err = ai_break_run(target, &options, &result);
	if (err) {
		bool usage = err->code == AI_ERROR_INVALID_ARGUMENT;
		if (target->launched && target->is_stopped) {
			/* The breakpoints could not be set: it never ran past its exec, so nothing of
			 * it is lost by killing it. */
			kill(target->pid, SIGKILL);
			enum ai_run_event event;
			int status;
			struct ai_error *run_err;
			while (!(run_err = ai_target_run(target, -1, &event, &status)) && event != AI_RUN_EXITED)
				;
			ai_error_destroy(run_err);
		}
		ai_error_print(err, stderr);
		ai_error_destroy(err);
		return usage ? AI_EXIT_USAGE : AI_EXIT_FAILURE;
	}
	*exited_ret = result.exited;
	*status_ret = result.status;
	return -1;
}
