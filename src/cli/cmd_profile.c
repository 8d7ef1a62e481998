/* `async-inspect profile`: every task poll and wake of a running program for a while, measured
 * with uprobes on the runtime's own functions (src/profile), without stopping it. A snapshot at
 * the start and one at the end (each a short pause, then a detach) name the tasks. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ai/async.h"
#include "ai/capture.h"
#include "ai/cli.h"
#include "ai/profile.h"
#include "ai/runtime.h"
#include "ai/util.h"

#define POLL_MS 20
#define DEFAULT_RATE 99 /* Hz: not a divisor of the kernel's tick, as perf's default */
#define MAX_RATE 10000

static void print_usage(FILE *out)
{
	fprintf(out,
		"Usage: async-inspect profile [OPTIONS] (--pid N | -- PROGRAM [ARGS...])\n"
		"\n"
		"Measure every task poll and wake of a running program, without stopping it: uprobes\n"
		"on the runtime's own poll and wake functions (perf events; root or CAP_PERFMON).\n"
		"Prints, per task, polls, busy time (inside its polls), scheduled time (from a wake\n"
		"to the next poll: mean, p99, max), idle time, wakes and the longest poll, sorted by\n"
		"busy time; per thread totals; warnings (a poll longer than 10ms blocks its worker).\n"
		"Tasks are named by a snapshot at the start and one at the end (each a short pause).\n"
		"With PROGRAM: it is started, profiled until it exits (or DURATION, or Ctrl-C), and\n"
		"its exit status becomes ours.\n"
		"\n"
		"Options:\n"
		"  -p, --pid N          a running process\n"
		"      --pgrep NAME, --cgroup PATH, --pids A,B,C\n"
		"                       the process by name, cgroup or list (one: several\n"
		"                       are refused)\n"
		"  -d, --duration TIME  how long to measure (default 10s; with PROGRAM: until it exits)\n"
		"  -f, --format FMT     report (default), json (docs/json-format.md) or folded\n"
		"                       (flamegraph.pl's input: per task, its await chain then the\n"
		"                       native frames of its CPU samples, weighted by samples; per\n"
		"                       thread, its samples outside any poll), or svg (those stacks\n"
		"                       as a flame graph a browser opens; click to zoom, Ctrl-F to\n"
		"                       search), speedscope (speedscope.app: those stacks, and each\n"
		"                       thread's polls on a time line) or perfetto (Chrome trace\n"
		"                       JSON for ui.perfetto.dev: a track per thread, an event per\n"
		"                       poll, an arrow from each wake to the poll it led to; the\n"
		"                       first 1,000,000 polls are kept)\n"
		"  -r, --rate N         CPU samples per second of each thread (default 99; perf's\n"
		"                       cpu-clock, the stacks unwound afterwards: the program is\n"
		"                       never stopped). 0: no samples; the flame formats then weigh\n"
		"                       each task's await chain by its busy nanoseconds\n"
		"      --runtime-frames keep the runtime's own frames in the sampled stacks (else a\n"
		"                       run of them is one [tokio scheduler] frame)\n"
		"  -o, --output FILE    write it to FILE instead of stdout\n"
		"      --debug-dir DIR  also look for separate debug files in DIR (see dump --help)\n"
		"  -h, --help           show this help\n"
		"Ctrl-C ends the measure early; what was measured is printed.\n");
}

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Starts PROGRAM (not traced: it is attached to only for the snapshots); returns once it has
 * exec'd, or an error when it could not (a close-on-exec pipe carries exec's errno). */
static struct ai_error *launch(char *const argv[], pid_t *pid_ret)
{
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0)
		return ai_error_from_errno(errno, "pipe");
	pid_t pid = fork();
	if (pid < 0)
		return ai_error_from_errno(errno, "fork");
	if (pid == 0) {
		close(fds[0]);
		execvp(argv[0], argv);
		int e = errno;
		if (write(fds[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(127);
	}
	close(fds[1]);
	int e = 0;
	ssize_t n;
	while ((n = read(fds[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(fds[0]);
	if (n == sizeof(e)) {
		waitpid(pid, NULL, 0);
		return ai_error_from_errno(e, "cannot run %s", argv[0]);
	}
	*pid_ret = pid;
	return NULL;
}

/* A snapshot of the tasks (then a detach); NULL with the error when the process is gone. With
 * capture_ret, the capture is kept (for the probe points), with target_ret its target. */
static struct ai_error *snapshot_tasks(pid_t pid, struct ai_snapshot **ret, struct ai_capture **capture_ret,
				       struct ai_target **target_ret)
{
	struct ai_target *target;
	struct ai_error *err = ai_target_attach(pid, &target);
	if (err)
		return err;
	struct ai_capture *capture;
	struct ai_async_options options;
	ai_async_options_default(&options);
	options.locals = false; /* names and await chains are all a profile shows */
	err = ai_capture_create(target, &capture);
	if (!err) {
		err = ai_capture_dump(capture, AI_CAPTURE_DETACH, &options, ret);
		if (err || !capture_ret)
			ai_capture_destroy(capture);
		else
			*capture_ret = capture;
	}
	if (err || !target_ret)
		ai_target_destroy(target);
	else
		*target_ret = target;
	return err;
}

/* Reaps whatever of our child has ended: with __WALL, also a thread of it that exited while a
 * snapshot had it attached (its exit is reported to us, its tracer, and the program cannot be
 * reaped before it). Returns true once the program itself was reaped (*status set). */
static bool reap_child(pid_t child, int *status, bool block)
{
	for (;;) {
		int st;
		pid_t r = waitpid(-1, &st, __WALL | (block ? 0 : WNOHANG));
		if (r < 0 && errno == EINTR)
			continue;
		if (r == child) {
			*status = st;
			return true;
		}
		if (r <= 0)
			return r < 0; /* ECHILD: nothing left to wait for */
	}
}

static bool process_alive(pid_t pid, pid_t child, int *status)
{
	if (child)
		return !reap_child(child, status, false);
	return kill(pid, 0) == 0 || errno == EPERM;
}

struct profile_args {
	pid_t pid;
	char **program;
	uint64_t duration_ms;
	bool duration_set;
	enum ai_profile_format format;
	FILE *out;
	unsigned rate;       /* CPU samples per second and thread, 0: none */
	bool runtime_frames; /* keep the runtime's own frames in the samples' stacks */
};

static struct ai_error *profile_target(const struct profile_args *args, pid_t pid, pid_t child,
				       int *child_status, bool *child_exited)
{
	ai_target_install_signal_handlers();
	struct ai_snapshot *start = NULL;
	struct ai_capture *capture = NULL;
	struct ai_target *target = NULL;
	struct ai_error *err = snapshot_tasks(pid, &start, &capture, &target);
	if (err && child && err->code == AI_ERROR_TARGET_EXITED) {
		/* The probes go on once its runtime is found in it, which takes a snapshot of it running. */
		ai_error_destroy(err);
		*child_exited = reap_child(child, child_status, true);
		return ai_error_create(AI_ERROR_TARGET_EXITED, "%s exited before its profile could begin (the "
				       "probes are placed once its runtime is found in the running process); "
				       "profile a longer run, or one already running with --pid", args->program[0]);
	}
	if (err)
		return err;
	struct ai_probe_point *points;
	size_t count;
	char *runtimes;
	ai_capture_probe_points(capture, &points, &count, &runtimes);
	char *exe = target->exe_path ? xstrdup(target->exe_path) : NULL;
	/* The capture's debug info names the CPU samples: it is kept (the target detached) till the end. */
	struct ai_sample_folder *folder = NULL;
	if (!args->rate) {
		ai_capture_destroy(capture);
		ai_target_destroy(target);
		capture = NULL;
		target = NULL;
	}
	if (!count) {
		err = ai_error_create(AI_ERROR_UNSUPPORTED, "process %d uses no runtime whose tasks async-inspect can "
				      "profile (tokio, async-task): no task poll function was found in %s", (int)pid,
				      exe ? exe : "its executable");
		goto out;
	}
	struct ai_uprobe_spec *specs = xcalloc(count, sizeof(*specs));
	for (size_t i = 0; i < count; i++)
		specs[i] = (struct ai_uprobe_spec){
			.path = points[i].path, .offset = points[i].offset,
			.ret = points[i].kind == AI_PROBE_POLL, .arg = points[i].task_arg,
		};
	struct ai_uprobes *u = NULL;
	err = ai_uprobes_open(specs, count, pid, &u);
	free(specs);
	if (!err && args->rate && (err = ai_uprobes_open_sampling(u, args->rate)))
		ai_uprobes_close(u);
	if (err)
		goto out;
	if (args->rate)
		folder = ai_sample_folder_create(ai_capture_debuginfo(capture), pid, points, count, runtimes,
						 args->runtime_frames);
	/* From here to the close, Ctrl-C ends the measure instead of us. */
	ai_catch_stop_signals(on_stop);
	err = ai_uprobes_enable(u);
	uint64_t begin = now_ns();
	struct ai_profile *profile = ai_profile_create(pid, exe, runtimes, count, begin);
	profile->sample_rate = args->rate;
	struct ai_profile_nesting nesting = { .count = 0 };
	if (args->format == AI_PROFILE_SPEEDSCOPE || args->format == AI_PROFILE_PERFETTO)
		profile->poll_cap = AI_PROFILE_POLL_CAP; /* the timelines draw every poll */
	ai_profile_add_start(profile, start);
	char sampling[64] = "";
	if (args->rate)
		snprintf(sampling, sizeof(sampling), ", CPU samples at %u Hz", args->rate);
	fprintf(stderr, "async-inspect: profiling process %d (%s, %zu functions probed%s)%s; Ctrl-C to stop\n",
			(int)pid, runtimes, count, sampling, args->duration_set || !child ? "" : " until it exits");
	uint64_t deadline = begin + args->duration_ms * 1000000u;
	bool alive = true;
	while (!err && !stop_requested && (alive = process_alive(pid, child, child_status)) &&
	       (!args->duration_set && child ? true : now_ns() < deadline)) {
		const struct ai_uprobe_event *events;
		size_t n;
		err = ai_uprobes_poll(u, POLL_MS);
		ai_uprobes_take(u, false, &events, &n);
		ai_profile_feed(profile, points, &nesting, folder, events, n);
	}
	uint64_t end = now_ns();
	if (!alive && child)
		*child_exited = true;
	if (!err)
		err = ai_uprobes_poll(u, 0);
	const struct ai_uprobe_event *events;
	size_t n;
	ai_uprobes_take(u, true, &events, &n);
	ai_profile_feed(profile, points, &nesting, folder, events, n);
	profile->lost = ai_uprobes_lost(u);
	if (folder) {
		uint64_t unwound;
		ai_sample_folder_stats(folder, &unwound, &profile->samples_cut);
	}
	/* The kernel unregisters the events one by one, each after a grace period: say why we wait. */
	if (isatty(STDERR_FILENO))
		fprintf(stderr, "async-inspect: removing the probes (%zu perf events, which the kernel "
			"unregisters one at a time)...\n", ai_uprobes_event_count(u));
	ai_uprobes_close(u);
	ai_catch_stop_signals(SIG_DFL);

	struct ai_snapshot *last = NULL;
	if (!err && (alive = process_alive(pid, child, child_status))) {
		struct ai_error *e = snapshot_tasks(pid, &last, NULL, NULL);
		if (e) { /* (it may have exited meanwhile) */
			fprintf(stderr, "async-inspect: warning: no snapshot at the end of the profile, so tasks "
				"are named by the one at the start only: %s\n", e->message);
			ai_error_destroy(e);
		}
	} else if (!alive && child) {
		*child_exited = true;
	}
	profile->target_exited = !alive;
	ai_profile_finish(profile, end, last);
	if (!err && ai_profile_write(args->out, profile, args->format) < 0)
		err = ai_error_from_errno(errno, "cannot write the profile");
	ai_snapshot_destroy(last);
	ai_profile_destroy(profile);
out:
	ai_sample_folder_destroy(folder);
	if (capture)
		ai_capture_destroy(capture);
	if (target)
		ai_target_destroy(target);
	ai_snapshot_destroy(start);
	ai_probe_points_free(points, count);
	free(runtimes);
	free(exe);
	return err;
}

int ai_cmd_profile(int argc, char **argv)
{
	static const struct option long_options[] = {
		AI_PID_LONG_OPTIONS,
		{ "duration", required_argument, NULL, 'd' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ "debug-dir", required_argument, NULL, 'D' },
		{ "rate", required_argument, NULL, 'r' },
		{ "runtime-frames", no_argument, NULL, 'R' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct profile_args args = { .duration_ms = 10000, .format = AI_PROFILE_REPORT, .rate = DEFAULT_RATE };
	const char *output = NULL;
	struct ai_error *err;
	int opt, pid = 0;
	struct ai_target_options targets = { 0 };
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+p:d:f:o:h", long_options, NULL)) != -1) {
		switch (opt) {
		case 'p':
		case AI_OPT_PIDS:
		case AI_OPT_PGREP:
		case AI_OPT_CGROUP:
			if ((err = ai_target_add_pids(&targets, opt, optarg)))
				return ai_fail(err);
			pid = targets.pid;
			break;
		case 'd':
			if ((err = ai_parse_duration(optarg, &args.duration_ms)))
				return ai_fail(err);
			if (!args.duration_ms)
				return ai_usage_error("profile", "--duration %s is too short (at least 1ms)", optarg);
			args.duration_set = true;
			break;
		case 'f':
			if (strcmp(optarg, "report") == 0)
				args.format = AI_PROFILE_REPORT;
			else if (strcmp(optarg, "json") == 0)
				args.format = AI_PROFILE_JSON;
			else if (strcmp(optarg, "folded") == 0)
				args.format = AI_PROFILE_FOLDED;
			else if (strcmp(optarg, "svg") == 0)
				args.format = AI_PROFILE_SVG;
			else if (strcmp(optarg, "speedscope") == 0)
				args.format = AI_PROFILE_SPEEDSCOPE;
			else if (strcmp(optarg, "perfetto") == 0)
				args.format = AI_PROFILE_PERFETTO;
			else
				return ai_usage_error("profile", "invalid format '%s' (report, json, folded, svg, speedscope "
						      "or perfetto)", optarg);
			break;
		case 'o':
			output = optarg;
			break;
		case 'D':
			if ((err = ai_parse_debug_dir(optarg)))
				return ai_fail(err);
			break;
		case 'r': {
			char *end;
			errno = 0;
			unsigned long rate = strtoul(optarg, &end, 10);
			if (end == optarg || *end || errno || optarg[0] == '-' || rate > MAX_RATE)
				return ai_usage_error("profile", "invalid --rate '%s' (samples per second, 0 to %d; "
						      "0: no CPU samples)", optarg, MAX_RATE);
			args.rate = (unsigned)rate;
			break;
		}
		case 'R':
			args.runtime_frames = true;
			break;
		case 'h':
			print_usage(stdout);
			return AI_EXIT_OK;
		default:
			return ai_usage_error("profile", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		args.program = argv + optind;
	/* Its probes and its report are one program's; a second --pid must not replace the first. */
	if (targets.pid_count > 1)
		return ai_usage_error("profile", "profile follows one process, and %zu were given (%d, %d%s); "
				      "profile each one on its own", targets.pid_count, targets.pids[0],
				      targets.pids[1], targets.pid_count > 2 ? ", ..." : "");
	if (!pid == !args.program)
		return ai_usage_error("profile", pid ? "give --pid or a PROGRAM, not both"
						     : "give --pid N, or -- PROGRAM [ARGS...]");
	if ((err = ai_uprobes_available()))
		return ai_fail(err);
	args.out = stdout;
	if (output && !(args.out = fopen(output, "w")))
		return ai_fail(ai_error_from_errno(errno, "cannot write %s", output));

	pid_t child = 0;
	if (args.program && (err = launch(args.program, &child))) {
		if (args.out != stdout)
			fclose(args.out);
		return ai_fail(err);
	}
	int child_status = 0;
	bool child_exited = false;
	err = profile_target(&args, child ? child : pid, child, &child_status, &child_exited);
	int status = err ? ai_fail(err) : AI_EXIT_OK;
	if (args.out != stdout && fclose(args.out) != 0 && status == AI_EXIT_OK)
		status = ai_fail(ai_error_from_errno(errno, "cannot write %s", output));
	if (child) {
		/* The program's status becomes ours, as with `run`. */
		if (!child_exited)
			reap_child(child, &child_status, true);
		if (status == AI_EXIT_OK)
			status = WIFEXITED(child_status) ? WEXITSTATUS(child_status)
							 : 128 + WTERMSIG(child_status);
	}
	return status;
}
