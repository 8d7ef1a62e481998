/* `async-inspect run`: launch a program under inspection. Its stdin, stdout, stderr and
 * environment stay its own, and its exit status becomes ours. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/breakpoint.h"
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
		"      --output FILE          under the interactive view, where PROGRAM's stdout and\n"
		"                             stderr go (default: $TMPDIR/async-inspect-PROGRAM-PID.log);\n"
		"                             the o key shows its tail, and it keeps writing there\n"
		"                             after a detach. Otherwise its output is left alone\n"
		"  -i, --interval TIME        time between snapshots of the live view or the\n"
		"                             recording (default 500ms)\n"
		"      --record FILE          append every snapshot to FILE as one JSON line (see\n"
		"                             `async-inspect replay`); without the interactive view\n"
		"                             a snapshot is recorded every interval, silently, until\n"
		"                             PROGRAM exits\n"
		"      --max-pause TIME       cap the pause each snapshot imposes (see attach --help)\n"
		"      --no-locals            leave saved locals out of the live view's snapshots\n"
		"                             and the recording\n"
		"      --all-locals           compiler-generated locals too (__awaitee, drop flags)\n"
		"      --debug-dir DIR        also look for separate debug files in DIR (see dump --help)\n"
		"      --user-crate NAME      count crate NAME's code as the program's own (see dump --help)\n"
		"      --color WHEN           auto (default: on a terminal), always or never\n"
		"      --no-tui               never open the live view\n"
		"      --profile              the live view's task list gets polls/s, busy and\n"
		"                             scheduled-time columns (see attach --help)\n"
		"      --break SPEC           stop when a task reaches SPEC, print the task (its\n"
		"                             await chain with locals) on stdout and go on; SPEC is\n"
		"                             FILE:LINE of an .await or FN, an async fn's path (its\n"
		"                             first poll), spawn or complete (any task spawned /\n"
		"                             finished; spawn:FN, complete:FN). Repeatable. On a\n"
		"                             terminal (not --no-tui, --format json, --history)\n"
		"                             the live view stops at each hit on the task's\n"
		"                             details: c continues, n steps it, q detaches\n"
		"      --break-count N        after N hits remove the breakpoints and detach\n"
		"      --history              each record also shows its task's state transitions\n"
		"      --step TASK            stop each time task TASK (its id, or 0x address for\n"
		"                             runtimes without ids, as dump prints them) changes\n"
		"                             state: print the await it left, the one it reached\n"
		"                             and the locals that changed; waits for TASK to appear\n"
		"      --step-count N         after N transitions (default 1) detach\n"
		"      --format text|json     --break and --step records as text (default) or one\n"
		"                             JSON line each\n"
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

/* Under the TUI the program's stdout and stderr would garble the screen: they go to a file. It is
 * opened before the launch (the default one under a temporary name, renamed once the pid is
 * known) and our own stdout and stderr are swapped for it around the fork, so the program
 * inherits it. */
struct output_file {
	char *path; /* owned */
	int fd;
	bool chosen; /* --output: the user's, not renamed */
};

static struct ai_error *output_open(struct output_file *out, const char *requested, const char *program)
{
	int fd;
	char *path;
	if (requested) {
		path = xstrdup(requested);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	} else {
		const char *dir = getenv("TMPDIR");
		const char *base = strrchr(program, '/');
		path = xasprintf("%s/async-inspect-%s-XXXXXX.log", dir && *dir ? dir : "/tmp", base ? base + 1 : program);
		fd = mkostemps(path, 4, O_CLOEXEC);
	}
	if (fd < 0) {
		struct ai_error *err = ai_error_from_errno(errno, "%s", path);
		free(path);
		return err;
	}
	out->path = path;
	out->fd = fd;
	out->chosen = requested != NULL;
	return NULL;
}

static struct ai_error *launch_with_output(char **argv, struct output_file *out, bool stopped, struct ai_target **ret)
{
	fflush(stdout);
	fflush(stderr);
	int saved_out = fcntl(STDOUT_FILENO, F_DUPFD_CLOEXEC, 3);
	int saved_err = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
	if (saved_out < 0 || saved_err < 0) {
		int errnum = errno;
		if (saved_out >= 0)
			close(saved_out);
		return ai_error_from_errno(errnum, "dup");
	}
	dup2(out->fd, STDOUT_FILENO);
	dup2(out->fd, STDERR_FILENO);
	struct ai_error *err = stopped ? ai_target_launch_stopped(argv, ret) : ai_target_launch(argv, ret);
	dup2(saved_out, STDOUT_FILENO);
	dup2(saved_err, STDERR_FILENO);
	close(saved_out);
	close(saved_err);
	close(out->fd);
	out->fd = -1;
	if (err) {
		if (!out->chosen)
			unlink(out->path);
		return err;
	}
	if (!out->chosen) {
		const char *base = strrchr(argv[0], '/');
		const char *dir = getenv("TMPDIR");
		char *named = xasprintf("%s/async-inspect-%s-%d.log", dir && *dir ? dir : "/tmp",
					base ? base + 1 : argv[0], (int)(*ret)->pid);
		if (rename(out->path, named) == 0) {
			free(out->path);
			out->path = named;
		} else {
			free(named);
		}
	}
	return NULL;
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

/* A detached child is still ours to wait for: its end, and its status, are ours. */
static struct ai_error *wait_for_end(struct ai_target *target, int *status)
{
	ai_target_detach(target);
	enum ai_run_event event;
	struct ai_error *err = NULL;
	if (target->exited)
		*status = target->exit_status; /* it ended while the detach stopped it */
	else
		while (!(err = ai_target_run(target, -1, &event, status)) && event != AI_RUN_EXITED)
			;
	return err;
}

/* --break on a terminal: the live view in its breakpoint mode (the program launched stopped at
 * its exec, its output in a file as under the view). q detaches; we then wait for its end, as
 * the printer does, and end as it did. */
static int run_tui_with_breakpoints(char **argv, struct ai_break_cli *breaks, struct ai_monitor_options *monitor,
				    const char *output)
{
	struct output_file out = { .fd = -1 };
	struct ai_target *target;
	struct ai_error *err = output_open(&out, output, argv[0]);
	if (!err && (err = launch_with_output(argv, &out, true, &target)))
		free(out.path);
	else if (!err && (err = ai_target_run_to_entry(target))) {
		ai_target_destroy(target);
		free(out.path);
	}
	if (err) {
		ai_break_cli_deinit(breaks);
		return ai_fail(err);
	}
	ai_target_install_signal_handlers();
	ai_target_forward_signals(target->pid);
	struct ai_break_options options = ai_break_cli_options(breaks);
	monitor->tui = true;
	monitor->output = out.path;
	monitor->breaks = &options;
	struct ai_monitor_result result;
	err = ai_monitor(target, monitor, &result);
	int code = -1, status = result.status;
	if (err && result.breaks_failed) {
		code = ai_break_setup_failed(target, err); /* never ran: killed */
		err = NULL;
	} else {
		fprintf(stderr, "async-inspect: the output of %s is in %s\n", argv[0], out.path);
	}
	if (err) {
		ai_error_print(err, stderr);
		ai_error_destroy(err);
		code = AI_EXIT_FAILURE;
	}
	if (code < 0 && result.kill && !result.exited) {
		kill(target->pid, SIGKILL);
	}
	if (code < 0 && !result.exited && !target->exited) {
		if (!result.kill)
			fprintf(stderr, "async-inspect: detached; waiting for %s to end\n", argv[0]);
		if ((err = wait_for_end(target, &status)))
			code = ai_fail(err);
	}
	ai_target_destroy(target);
	ai_break_cli_deinit(breaks);
	free(out.path);
	return code >= 0 ? code : exit_like(status);
}

/* --break: the program starts with the breakpoints in (launched stopped at its exec), prints a
 * record per hit on our stdout, and ends as it would have. */
static int run_with_breakpoints(char **argv, struct ai_break_cli *breaks)
{
	struct ai_target *target;
	struct ai_error *err = ai_target_launch_stopped(argv, &target);
	/* Its DT_NEEDED libraries mapped, for breakpoints in them. */
	if (!err && (err = ai_target_run_to_entry(target)))
		ai_target_destroy(target);
	if (err) {
		ai_break_cli_deinit(breaks);
		return ai_fail(err);
	}
	ai_target_install_signal_handlers();
	ai_target_forward_signals(target->pid);
	bool exited = false;
	int status = 0;
	int code = ai_break_command(target, breaks, &exited, &status);
	ai_break_cli_deinit(breaks);
	if (!exited && target->exited)
		status = target->exit_status; /* it ended while the detach stopped it */
	if (!exited && !target->exited) {
		/* Detached: it is still our child, so its end is ours to wait for. */
		enum ai_run_event event;
		while (!(err = ai_target_run(target, -1, &event, &status)) && event != AI_RUN_EXITED)
			;
		if (err) {
			ai_target_destroy(target);
			return ai_fail(err);
		}
	}
	ai_target_destroy(target);
	return code >= 0 ? code : exit_like(status);
}

int ai_cmd_run(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "dump-after", required_argument, NULL, 'd' },
		{ "timeout", required_argument, NULL, 't' },
		{ "fail-on-hang", no_argument, NULL, 'F' },
		{ "color", required_argument, NULL, 'C' },
		{ "output", required_argument, NULL, 'o' },
		{ "no-tui", no_argument, NULL, 'n' },
		AI_MONITOR_LONG_OPTIONS,
		AI_MONITOR_PROFILE_OPTION,
		AI_BREAK_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *output = NULL;
	struct ai_monitor_options monitor = { .interval_ms = 500, .launched = true };
	uint64_t dump_after_ms = 0;
	bool dump_after = false;
	uint64_t timeout_ms = 0;
	bool timeout = false, fail_on_hang = false, no_tui = false;
	struct ai_break_cli breaks = { 0 };
	struct ai_error *err;
	int opt, parsed;
	optind = 1;
	opterr = 0;
	/* '+': options end at the program's name, so its own options are left alone. */
	while ((opt = getopt_long(argc, argv, "+hi:", long_options, NULL)) != -1) {
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
		case 'o':
			output = optarg;
			break;
		case 'n':
			no_tui = true;
			break;
		case 'h':
			print_usage(stdout);
			return AI_EXIT_OK;
		default:
			if ((parsed = ai_parse_break_option("run", opt, optarg, &breaks)) >= 0) {
				if (parsed) {
					ai_break_cli_deinit(&breaks);
					return parsed;
				}
				break;
			}
			if ((parsed = ai_parse_monitor_option("run", opt, optarg, &monitor)) < 0)
				return ai_usage_error("run", "unknown or incomplete option '%s'", argv[optind - 1]);
			if (parsed)
				return parsed;
		}
	}
	if (optind >= argc) {
		ai_break_cli_deinit(&breaks);
		return ai_usage_error("run", "no program to run");
	}
	if (fail_on_hang && !timeout)
		return ai_usage_error("run", "--fail-on-hang needs --timeout");
	if (timeout && dump_after)
		return ai_usage_error("run", "--dump-after and --timeout cannot be combined");
	if (timeout) {
		dump_after = true;
		dump_after_ms = timeout_ms;
	}
	if (dump_after && (monitor.record_path || monitor.max_pause_us))
		return ai_usage_error("run", "--record and --max-pause do not combine with --dump-after or --timeout");

	bool breaking;
	if ((parsed = ai_break_cli_check("run", &breaks, &breaking))) {
		ai_break_cli_deinit(&breaks);
		return parsed;
	}
	if (breaking) {
		if (dump_after || monitor.record_path) {
			ai_break_cli_deinit(&breaks);
			return ai_usage_error("run", "--break and --step do not combine with --dump-after, --timeout or --record");
		}
		breaks.no_locals = monitor.no_locals;
		breaks.all_locals = monitor.all_locals;
		if (ai_break_cli_wants_tui(&breaks, no_tui))
			return run_tui_with_breakpoints(argv + optind, &breaks, &monitor, output);
		if (monitor.profile) {
			ai_break_cli_deinit(&breaks);
			return ai_usage_error("run", AI_PROFILE_NEEDS_TUI);
		}
		return run_with_breakpoints(argv + optind, &breaks);
	}

	/* On a terminal, with nothing else asked for: the live view (q asks kill or detach). */
	bool tui = !dump_after && !no_tui && ai_monitor_wants_tui(false);
	if (monitor.profile && !tui)
		return ai_usage_error("run", AI_PROFILE_NEEDS_TUI);
	if (output && !tui)
		fprintf(stderr, "async-inspect: --output is for the interactive view; %s's output is left alone\n",
			argv[optind]);
	if (monitor.record_path && (err = ai_open_recording(monitor.record_path, &monitor.record)))
		return ai_fail(err);
	struct output_file out = { .fd = -1 };
	struct ai_target *target;
	if (tui && (err = output_open(&out, output, argv[optind]))) {
		if (monitor.record)
			fclose(monitor.record);
		return ai_fail(err);
	}
	err = tui ? launch_with_output(argv + optind, &out, false, &target) : ai_target_launch(argv + optind, &target);
	if (err) {
		free(out.path);
		if (monitor.record)
			fclose(monitor.record);
		return ai_fail(err);
	}
	ai_target_install_signal_handlers();
	ai_target_forward_signals(target->pid);

	enum ai_run_event event;
	int status = 0;
	if (tui || monitor.record) {
		monitor.tui = tui;
		monitor.quiet = !tui;
		monitor.output = out.path;
		struct ai_monitor_result result;
		err = ai_monitor(target, &monitor, &result);
		if (monitor.record)
			fclose(monitor.record);
		if (tui)
			fprintf(stderr, "async-inspect: the output of %s is in %s\n", argv[optind], out.path);
		free(out.path);
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
