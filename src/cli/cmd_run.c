/* `async-inspect run`: launch a program under inspection. Its stdin, stdout, stderr and
 * environment stay its own, and its exit status becomes ours. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/capture.h"
#include "ai/cli.h"
#include "ai/frontend.h"
#include "ai/util.h"

static void print_usage(FILE *out)
{
	fprintf(out,
		"Usage: async-inspect run [OPTIONS] [--] PROGRAM [ARGS...]\n"
		"\n"
		"Run PROGRAM under inspection. It keeps its own stdin, stdout, stderr and\n"
		"environment; signals sent to it (Ctrl-C too) reach it as without us, and its exit\n"
		"status becomes async-inspect's. On a terminal (and without --dump-after or\n"
		"--timeout) it opens the live task view of `attach`; q then asks whether to kill\n"
		"PROGRAM or detach and leave it running.\n"
		"\n"
		"Options:\n"
		"      --dump-after DURATION  once DURATION has passed (e.g. 500ms, 5s, 2m), print\n"
		"                             every task's await tree and every thread's stack\n"
		"                             to stderr (as `dump` does) and let it go on\n"
		"      --timeout DURATION     if PROGRAM has not finished after DURATION, print\n"
		"                             the same dump to stderr (and go on waiting)\n"
		"      --fail-on-hang         with --timeout: after the dump, kill PROGRAM and\n"
		"                             exit with status 124 (as timeout(1))\n"
		"      --record FILE          append every snapshot to FILE as one JSON line (see\n"
		"                             `async-inspect replay`); without the interactive view\n"
		"                             a snapshot is recorded every 500ms, silently, until\n"
		"                             PROGRAM exits\n"
		"      --max-pause TIME       cap the pause each snapshot imposes (see attach --help)\n"
		"      --color WHEN           auto (default: on a terminal), always or never\n"
		"  -h, --help                 show this help\n");
}

/* Dies the way the program died, so that our caller sees the same status. */
static int exit_like(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status)) {
		int sig = WTERMSIG(status);
		struct rlimit no_core = { 0, 0 };
		setrlimit(RLIMIT_CORE, &no_core); /* the program dumped its own core if it was to */
		signal(sig, SIG_DFL);
		sigset_t set;
		sigemptyset(&set);
		sigaddset(&set, sig);
		sigprocmask(SIG_UNBLOCK, &set, NULL);
		fflush(NULL);
		raise(sig);
		return 128 + sig;
	}
	return AI_EXIT_FAILURE;
}

/* The dump view (tasks and block_on futures), then every thread's stack, on stderr. */
static void dump_to_stderr(struct ai_target *target)
{
	struct ai_capture *capture;
	struct ai_snapshot *snapshot;
	struct ai_error *err = ai_capture_create(target, &capture);
	if (!err) {
		err = ai_capture_dump(capture, AI_CAPTURE_RESUME, NULL, &snapshot);
		ai_capture_destroy(capture);
	}
	if (err) {
		ai_error_print(err, stderr);
		ai_error_destroy(err);
		return;
	}
	struct ai_text_options text = { .color = ai_use_color(stderr), .locals = true };
	ai_print_dump_text(stderr, snapshot, &text);
	fputc('\n', stderr);
	ai_print_threads_text(stderr, snapshot, &text);
	ai_snapshot_destroy(snapshot);
}

/* The --timeout argument as the user wrote it. */
static const char *argv_duration(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
			return argv[i + 1];
		if (strncmp(argv[i], "--timeout=", 10) == 0)
			return argv[i] + 10;
	}
	return "the timeout";
}

int ai_cmd_run(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "dump-after", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' },
		{ "fail-on-hang", no_argument, NULL, 'F' },
		{ "color", required_argument, NULL, 'C' },
		{ "record", required_argument, NULL, 'R' },
		{ "max-pause", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *record_path = NULL;
	uint64_t max_pause_ms = 0;
	uint64_t dump_after_ms = 0;
	bool dump_after = false;
	uint64_t timeout_ms = 0;
	bool timeout = false, fail_on_hang = false;
	struct ai_error *err;
	int opt;
	optind = 1;
	opterr = 0;
	/* '+': options end at the program's name, so its own options are left alone. */
	while ((opt = getopt_long(argc, argv, "+h", long_options, NULL)) != -1) {
		switch (opt) {
		case 'd':
			if ((err = ai_parse_duration(optarg, &dump_after_ms)))
				return ai_fail(err);
			dump_after = true;
			break;
		case 't':
			if ((err = ai_parse_duration(optarg, &timeout_ms)))
				return ai_fail(err);
			timeout = true;
			break;
		case 'F':
			fail_on_hang = true;
			break;
		case 'C':
			ai_color_option = optarg;
			break;
		case 'R':
			record_path = optarg;
			break;
		case 'M':
			if ((err = ai_parse_duration(optarg, &max_pause_ms)))
				return ai_fail(err);
			if (max_pause_ms < 1)
				return ai_usage_error("run", "--max-pause %s is too short (at least 1ms)", optarg);
			break;
		case 'h':
			print_usage(stdout);
			return AI_EXIT_OK;
		default:
			return ai_usage_error("run", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return ai_usage_error("run", "no program to run");
	if (fail_on_hang && !timeout)
		return ai_usage_error("run", "--fail-on-hang needs --timeout");
	if (timeout && dump_after)
		return ai_usage_error("run", "--dump-after and --timeout cannot be combined");
	if (timeout) {
		dump_after = true;
		dump_after_ms = timeout_ms;
	}
	if (dump_after && (record_path || max_pause_ms))
		return ai_usage_error("run", "--record and --max-pause do not combine with --dump-after or --timeout");
	FILE *record = NULL;
	if (record_path && (err = ai_open_recording(record_path, &record)))
		return ai_fail(err);

	struct ai_target *target;
	if ((err = ai_target_launch(argv + optind, &target))) {
		if (record)
			fclose(record);
		return ai_fail(err);
	}
	ai_target_install_signal_handlers();
	ai_target_forward_signals(target->pid);

	enum ai_run_event event;
	int status = 0;
	/* On a terminal, with nothing else asked for: the live view (q asks kill or detach). */
	bool tui = !dump_after && ai_monitor_wants_tui(false);
	if (tui || record) {
		struct ai_monitor_options monitor = { .interval_ms = 500, .tui = tui, .launched = true, .quiet = !tui,
						      .record = record, .record_path = record_path,
						      .max_pause_us = max_pause_ms * 1000 };
		struct ai_monitor_result result;
		err = ai_monitor(target, &monitor, &result);
		if (record)
			fclose(record);
		if (!err && result.kill && !result.exited) {
			kill(target->pid, SIGKILL);
			while (!(err = ai_target_run(target, -1, &event, &status)) && event != AI_RUN_EXITED)
				;
			result.exited = !err;
			result.status = status;
		}
		ai_target_destroy(target);
		if (err)
			return ai_fail(err);
		return result.exited ? exit_like(result.status) : AI_EXIT_OK;
	}
	err = ai_target_run(target, dump_after ? (int)dump_after_ms : -1, &event, &status);
	if (!err && event == AI_RUN_TIMEOUT) {
		if (timeout)
			fprintf(stderr, "async-inspect: %s has not finished after %s: it hangs\n", argv[optind],
				argv_duration(argc, argv));
		dump_to_stderr(target);
		if (fail_on_hang) {
			kill(target->pid, SIGKILL);
			while (!(err = ai_target_run(target, -1, &event, &status)) && event != AI_RUN_EXITED)
				;
			ai_target_destroy(target);
			if (err)
				return ai_fail(err);
			return AI_EXIT_HANG;
		}
		err = ai_target_run(target, -1, &event, &status);
	}
	if (err) {
		ai_target_destroy(target); /* detaches: the program goes on without us */
		return ai_fail(err);
	}
	ai_target_destroy(target);
	return exit_like(status);
}
