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
	case AI_OPT_STEP: {
		struct ai_step_task task;
		if ((err = ai_step_parse_task(arg, &task))) {
			int status = ai_usage_error(command, "%s", err->message);
			ai_error_destroy(err);
			return status;
		}
		b->step = arg;
		return 0;
	}
	case AI_OPT_STEP_COUNT:
		b->step_count = strtoull(arg, &end, 10);
		if (!*arg || *end || b->step_count == 0)
			return ai_usage_error(command, "--step-count %s: expected a number of transitions (1 or more)", arg);
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

int ai_break_cli_check(const char *command, const struct ai_break_cli *b, bool *set_ret)
{
	*set_ret = b->count || b->step;
	if (b->step && b->count)
		return ai_usage_error(command, "--step and --break do not combine: step a task, or break on SPECs");
	if (b->step && (b->break_count || b->history))
		return ai_usage_error(command, "--break-count and --history are for --break; --step takes --step-count");
	if (!b->step && b->step_count)
		return ai_usage_error(command, "--step-count is for --step");
	if (!*set_ret && (b->break_count || b->json || b->history))
		return ai_usage_error(command, "--break-count, --format and --history are for --break or --step");
	return 0;
}

struct ai_break_options ai_break_cli_options(const struct ai_break_cli *b)
{
	return (struct ai_break_options){
		.specs = b->specs,
		.spec_count = b->count,
		.break_count = b->break_count,
		.json = b->json,
		.color = !b->json && ai_use_color(stdout),
		.locals = !b->no_locals,
		.all_locals = !b->no_locals && b->all_locals,
		.history = b->history,
	};
}

bool ai_break_cli_wants_tui(const struct ai_break_cli *b, bool no_tui)
{
	return b->count && !b->step && !b->json && !b->history && ai_monitor_wants_tui(no_tui);
}

int ai_break_setup_failed(struct ai_target *target, struct ai_error *err)
{
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

/* --step: the steps of step.c; on an error the program runs on without us all the same. */
static int step_command(struct ai_target *target, const struct ai_break_cli *b, bool *exited_ret, int *status_ret)
{
	struct ai_step_options options = {
		.task_text = b->step,
		.count = b->step_count ? b->step_count : 1,
		.wait = target->launched,
		.json = b->json,
		.color = !b->json && ai_use_color(stdout),
		.locals = !b->no_locals,
		.all_locals = !b->no_locals && b->all_locals,
	};
	struct ai_error *err = ai_step_parse_task(b->step, &options.task);
	struct ai_break_result result = { 0 };
	if (!err)
		err = ai_step_run(target, &options, &result);
	*exited_ret = result.exited;
	*status_ret = result.status;
	if (err) {
		ai_error_print(err, stderr);
		ai_error_destroy(err);
		return AI_EXIT_FAILURE;
	}
	return -1;
}

int ai_break_command(struct ai_target *target, const struct ai_break_cli *b, bool *exited_ret, int *status_ret)
{
	if (b->step)
		return step_command(target, b, exited_ret, status_ret);
	*exited_ret = false;
	struct ai_break_options options = ai_break_cli_options(b);
	struct ai_break_result result;
	struct ai_error *err = ai_break_run(target, &options, &result);
	if (err)
		return ai_break_setup_failed(target, err);
	*exited_ret = result.exited;
	*status_ret = result.status;
	return -1;
}
