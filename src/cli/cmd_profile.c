/* `async-inspect profile`: every task poll and wake of a running program for a while, measured
 * with uprobes on the runtime's own functions (src/profile), without stopping it. A snapshot at
 * the start and one at the end (each a short pause, then a detach) name the tasks. Where perf
 * events are not allowed (or with --sampler ptrace), CPU samples are taken by stopping the
 * program at a low rate instead (src/profile/ptrace_sampler.c). */
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
#define PTRACE_DEFAULT_RATE 19 /* Hz: each ptrace sample stops the program (a dump's pause) */
#define PTRACE_MAX_RATE 100

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
		"  -p, --pid N          a running process (repeat it for several: each is\n"
		"                       labelled with its pid in every format)\n"
		"      --pgrep NAME, --cgroup PATH, --pids A,B,C\n"
		"                       the processes by name, cgroup or list\n"
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
		"      --sampler S      perf (uprobes and perf CPU samples), ptrace (CPU samples by\n"
		"                       stopping the program, %d Hz unless --rate, at most %d: busy\n"
		"                       time estimated from them, polls, wakes and scheduled time\n"
		"                       unknown) or auto (default: perf, ptrace where perf events\n"
		"                       are not allowed, saying so)\n"
		"      --max-pause TIME cap each ptrace sample's pause (as dump --max-pause)\n"
		"      --runtime-frames keep the runtime's own frames in the sampled stacks (else a\n"
		"                       run of them is one [tokio scheduler] frame)\n"
		"  -o, --output FILE    write it to FILE instead of stdout\n"
		"      --debug-dir DIR  also look for separate debug files in DIR (see dump --help)\n"
		"  -h, --help           show this help\n"
		"Ctrl-C ends the measure early; what was measured is printed.\n", PTRACE_DEFAULT_RATE,
		PTRACE_MAX_RATE);
}

static volatile sig_atomic_t stop_requested;

static void on_stop(int sig)
{
	(void)sig;
	stop_requested = 1;
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
	char **program;
	uint64_t duration_ms;
	bool duration_set;
	enum ai_profile_format format;
	FILE *out;
	unsigned rate;       /* CPU samples per second and thread, 0: none */
	bool rate_set;
	bool runtime_frames; /* keep the runtime's own frames in the samples' stacks */
	bool ptrace;         /* CPU samples by stopping the program (ptrace_sampler.c), no probes */
	uint64_t max_pause_us; /* of each ptrace sample (0: no cap) */
};

/* One process being profiled: its start snapshot, its probes and what they read. */
struct session {
	pid_t pid;
	struct ai_snapshot *start;
	struct ai_capture *capture; /* kept (detached) for the samples' debug info, with --rate, and
				     * for each ptrace sample */
	struct ai_target *target;
	struct ai_probe_point *points;
	size_t count;
	char *runtimes, *exe;
	struct ai_sample_folder *folder;
	struct ai_uprobes *u;       /* NULL once closed */
	bool opened;                /* its start snapshot taken, its probes (or sampler) ready */
	bool stopped;               /* its events stopped and read (session_stop) */
	struct ai_profile *profile;
	struct ai_profile_nesting nesting;
	uint64_t end;               /* its part of the window ended (it exited), or 0 */
	bool alive;
	struct ai_error *err;       /* it could not be profiled (or its probes failed) */
};

static void session_free(struct session *s)
{
	ai_profile_destroy(s->profile);
	ai_sample_folder_destroy(s->folder);
	if (s->capture)
		ai_capture_destroy(s->capture);
	if (s->target)
		ai_target_destroy(s->target);
	ai_snapshot_destroy(s->start);
	ai_probe_points_free(s->points, s->count);
	free(s->runtimes);
	free(s->exe);
	ai_error_destroy(s->err);
}

/* The start snapshot (then a detach) and the probes opened, disabled. */
static struct ai_error *session_open(struct session *s, const struct profile_args *args, pid_t child,
				     int *child_status, bool *child_exited)
{
	pid_t pid = s->pid;
	struct ai_error *err = snapshot_tasks(pid, &s->start, &s->capture, &s->target);
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
	ai_capture_probe_points(s->capture, &s->points, &s->count, &s->runtimes);
	s->exe = s->target->exe_path ? xstrdup(s->target->exe_path) : NULL;
	if (args->ptrace)
		ai_capture_set_max_pause(s->capture, args->max_pause_us);
	/* The capture's debug info names the CPU samples: it is kept (the target detached) till the end. */
	if (!args->rate) {
		ai_capture_destroy(s->capture);
		ai_target_destroy(s->target);
		s->capture = NULL;
		s->target = NULL;
	}
	if (!s->count)
		return ai_error_create(AI_ERROR_UNSUPPORTED, "process %d uses no runtime whose tasks async-inspect can "
				       "profile (tokio, async-task): no task poll function was found in %s", (int)pid,
				       s->exe ? s->exe : "its executable");
	if (args->ptrace) {
		s->folder = ai_sample_folder_create(ai_capture_debuginfo(s->capture), pid, s->points, s->count,
						    s->runtimes, args->runtime_frames);
		return NULL;
	}
	struct ai_uprobe_spec *specs = xcalloc(s->count, sizeof(*specs));
	for (size_t i = 0; i < s->count; i++)
		specs[i] = (struct ai_uprobe_spec){
			.path = s->points[i].path, .offset = s->points[i].offset,
			.ret = s->points[i].kind == AI_PROBE_POLL, .arg = s->points[i].task_arg,
		};
	err = ai_uprobes_open(specs, s->count, pid, &s->u);
	free(specs);
	if (!err && args->rate && (err = ai_uprobes_open_sampling(s->u, args->rate))) {
		ai_uprobes_close(s->u);
		s->u = NULL;
	}
	if (err)
		return err;
	if (args->rate)
		s->folder = ai_sample_folder_create(ai_capture_debuginfo(s->capture), pid, s->points, s->count,
						    s->runtimes, args->runtime_frames);
	return NULL;
}

/* The events read so far (all: every one, the probes stopped); none after `until`. */
static void session_read(struct session *s, int timeout_ms, bool all, uint64_t until)
{
	if (!s->err)
		s->err = ai_uprobes_poll(s->u, timeout_ms);
	const struct ai_uprobe_event *events;
	size_t n;
	ai_uprobes_take(s->u, all, &events, &n);
	ai_profile_feed(s->profile, s->points, &s->nesting, s->folder, events, n, until);
}

/* Its part of the window ends at `end`: its events stopped, the last ones read, the counts taken.
 * The probes are closed later, all together (ai_uprobes_close takes seconds: the kernel removes
 * them one by one), so that no other process's events pile up meanwhile. Two copies of one
 * binary share its probes (the kernel puts them in its page cache): until every process's events
 * are stopped, the others' still fill its ring buffers, which would overflow during a close,
 * losing a poll's exit and leaving its poll open (a task busy more than 100% of a core). */
static void session_stop(struct session *s, uint64_t end)
{
	ai_uprobes_disable(s->u);
	s->end = end;
	s->stopped = true;
	session_read(s, 0, true, end);
	s->profile->lost = ai_uprobes_lost(s->u);
	if (s->folder) {
		uint64_t unwound;
		ai_sample_folder_stats(s->folder, &unwound, &s->profile->samples_cut);
	}
}

/* The uprobes' window: from the probes enabled to every process's events stopped and read. */
static void measure_uprobes(const struct profile_args *args, struct session *sessions, size_t count, pid_t child,
			    int *child_status, size_t open)
{
	for (size_t i = 0; i < count; i++) {
		struct session *s = &sessions[i];
		if (s->u)
			s->err = ai_uprobes_enable(s->u); /* (then its part ends at once, the error said) */
	}
	uint64_t begin = ai_now_ns();
	char sampling[64] = "";
	if (args->rate)
		snprintf(sampling, sizeof(sampling), ", CPU samples at %u Hz", args->rate);
	for (size_t i = 0; i < count; i++) {
		struct session *s = &sessions[i];
		if (!s->u)
			continue;
		s->alive = true;
		s->profile = ai_profile_create(s->pid, s->exe, s->runtimes, s->count, begin);
		s->profile->sample_rate = args->rate;
		s->profile->of_several = count > 1;
		if (args->format == AI_PROFILE_SPEEDSCOPE || args->format == AI_PROFILE_PERFETTO)
			s->profile->poll_cap = AI_PROFILE_POLL_CAP; /* the timelines draw every poll */
		ai_profile_add_start(s->profile, s->start);
		fprintf(stderr, "async-inspect: profiling process %d (%s, %zu functions probed%s)%s; Ctrl-C to stop\n",
			(int)s->pid, s->runtimes, s->count, sampling, args->duration_set || !child ? "" : " until it exits");
	}
	uint64_t deadline = begin + args->duration_ms * 1000000u;
	/* Each process's rings are waited on in turn: the wait is shared among those still measured. */
	int timeout = (int)AI_MAX(1, POLL_MS / open);
	size_t measured = open;
	while (measured && !stop_requested && (!args->duration_set && child ? true : ai_now_ns() < deadline)) {
		for (size_t i = 0; i < count; i++) {
			struct session *s = &sessions[i];
			if (!s->u || s->stopped)
				continue;
			if (!s->err && (s->alive = process_alive(s->pid, child, child_status)))
				session_read(s, timeout, false, UINT64_MAX);
			if (s->err || !s->alive) {
				/* Its part ends here, with what was gathered; the others go on. */
				session_stop(s, ai_now_ns());
				measured--;
				if (!s->alive && count > 1)
					fprintf(stderr, "async-inspect: process %d exited during the profile: its part "
						"ends with what was gathered until then\n", (int)s->pid);
			}
		}
	}
	uint64_t end = ai_now_ns();
	/* Every process's events stop first (quick), then each is read to the end of the window. */
	for (size_t i = 0; i < count; i++)
		if (sessions[i].u && !sessions[i].stopped)
			ai_uprobes_disable(sessions[i].u);
	for (size_t i = 0; i < count; i++)
		if (sessions[i].u && !sessions[i].stopped)
			session_stop(&sessions[i], end);
	/* The kernel unregisters the events one by one, each after a grace period: say why we wait. */
	size_t events = 0;
	for (size_t i = 0; i < count; i++)
		events += sessions[i].u ? ai_uprobes_event_count(sessions[i].u) : 0;
	if (events && isatty(STDERR_FILENO))
		fprintf(stderr, "async-inspect: removing the probes (%zu perf events, which the kernel "
			"unregisters one at a time)...\n", events);
	for (size_t i = 0; i < count; i++) {
		ai_uprobes_close(sessions[i].u);
		sessions[i].u = NULL;
	}
}

/* The ptrace sampler's window: a round every 1/rate s (each process stopped in turn, then let go)
 * until the duration, Ctrl-C, or the end of every process. */
static void measure_ptrace(const struct profile_args *args, struct session *sessions, size_t count, pid_t child,
			   int *child_status, size_t open)
{
	uint64_t begin = ai_now_ns();
	for (size_t i = 0; i < count; i++) {
		struct session *s = &sessions[i];
		if (!s->opened)
			continue;
		s->alive = true;
		s->profile = ai_profile_create(s->pid, s->exe, s->runtimes, 0, begin); /* (no probes placed) */
		s->profile->sample_rate = args->rate;
		s->profile->ptrace_sampled = true;
		s->profile->of_several = count > 1;
		ai_profile_add_start(s->profile, s->start);
		fprintf(stderr, "async-inspect: profiling process %d (%s, ptrace sampling at %u Hz)%s; Ctrl-C to stop\n",
			(int)s->pid, s->runtimes, args->rate, args->duration_set || !child ? "" : " until it exits");
	}
	uint64_t deadline = begin + args->duration_ms * 1000000u, period = 1000000000u / args->rate, next = begin;
	size_t measured = open;
	while (measured && !stop_requested && (!args->duration_set && child ? true : ai_now_ns() < deadline)) {
		for (size_t i = 0; i < count && !stop_requested; i++) {
			struct session *s = &sessions[i];
			if (!s->opened || s->end)
				continue;
			struct ai_error *err = NULL;
			if ((s->alive = process_alive(s->pid, child, child_status)) &&
			    (err = ai_ptrace_sample(s->capture, s->target, s->folder, s->profile)) &&
			    !(s->alive = process_alive(s->pid, child, child_status))) {
				ai_error_destroy(err); /* it exited meanwhile: no error */
				err = NULL;
			}
			if (err || !s->alive) {
				s->err = err;
				s->end = ai_now_ns();
				measured--;
				if (!s->alive && count > 1)
					fprintf(stderr, "async-inspect: process %d exited during the profile: its part "
						"ends with what was gathered until then\n", (int)s->pid);
			}
		}
		next += period;
		uint64_t now = ai_now_ns(), until = next;
		if (!(!args->duration_set && child) && until > deadline)
			until = deadline;
		if (until <= now) {
			next = AI_MAX(next, now); /* (a round took longer than the period: the rate is lower) */
			continue;
		}
		uint64_t wait = until - now;
		struct timespec ts = { .tv_sec = (time_t)(wait / 1000000000u), .tv_nsec = (long)(wait % 1000000000u) };
		nanosleep(&ts, NULL); /* (Ctrl-C ends it early: no SA_RESTART) */
	}
	uint64_t end = ai_now_ns();
	for (size_t i = 0; i < count; i++) {
		struct session *s = &sessions[i];
		if (!s->opened)
			continue;
		if (!s->end)
			s->end = end;
		uint64_t unwound;
		ai_sample_folder_stats(s->folder, &unwound, &s->profile->samples_cut);
	}
}

/* Profiles the processes of sessions[0..count) over one window (with child: the one launched);
 * each is written unless it failed. The status: a process that could not be profiled is an error
 * on stderr (already printed when there are several), and AI_EXIT_FAILURE. */
static int profile_processes(const struct profile_args *args, struct session *sessions, size_t count, pid_t child,
			     int *child_status, bool *child_exited)
{
	ai_target_install_signal_handlers();
	size_t open = 0;
	int status = AI_EXIT_OK;
	for (size_t i = 0; i < count; i++) {
		struct session *s = &sessions[i];
		struct ai_error *err = session_open(s, args, child, child_status, child_exited);
		if (!err) {
			s->opened = true;
			open++;
			continue;
		}
		if (s->u) {
			ai_uprobes_close(s->u);
			s->u = NULL;
		}
		/* The others are still worth measuring; the exit status says one failed. */
		status = count > 1 ? ai_fail(ai_error_wrap(err, "process %d", (int)s->pid)) : ai_fail(err);
		s->alive = false;
	}
	if (!open)
		return AI_EXIT_FAILURE;
	/* From here to the close, Ctrl-C ends the measure instead of us. */
	ai_catch_stop_signals(on_stop);
	if (args->ptrace)
		measure_ptrace(args, sessions, count, child, child_status, open);
	else
		measure_uprobes(args, sessions, count, child, child_status, open);
	ai_catch_stop_signals(SIG_DFL);

	const struct ai_profile **written = xcalloc(count, sizeof(*written));
	size_t written_count = 0;
	for (size_t i = 0; i < count; i++) {
		struct session *s = &sessions[i];
		if (!s->profile)
			continue; /* it could not be profiled: said above */
		if (s->err) {
			status = count > 1 ? ai_fail(ai_error_wrap(s->err, "process %d", (int)s->pid)) : ai_fail(s->err);
			s->err = NULL;
			continue;
		}
		struct ai_snapshot *last = NULL;
		if (s->alive && (s->alive = process_alive(s->pid, child, child_status))) {
			struct ai_error *e = snapshot_tasks(s->pid, &last, NULL, NULL);
			if (e) { /* (it may have exited meanwhile) */
				fprintf(stderr, "async-inspect: warning: no snapshot of process %d at the end of the "
					"profile, so its tasks are named by the one at the start only: %s\n",
					(int)s->pid, e->message);
				ai_error_destroy(e);
			}
		}
		if (!s->alive && child)
			*child_exited = true;
		s->profile->target_exited = !s->alive;
		ai_profile_finish(s->profile, s->end, last);
		ai_snapshot_destroy(last);
		written[written_count++] = s->profile;
	}
	if (written_count && ai_profile_write(args->out, written, written_count, args->format) < 0)
		status = ai_fail(ai_error_from_errno(errno, "cannot write the profile"));
	free(written);
	return written_count ? status : AI_EXIT_FAILURE;
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
		{ "sampler", required_argument, NULL, 'S' },
		{ "max-pause", required_argument, NULL, 'M' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct profile_args args = { .duration_ms = 10000, .format = AI_PROFILE_REPORT, .rate = DEFAULT_RATE };
	const char *output = NULL, *sampler = "auto";
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
			args.rate_set = true;
			break;
		}
		case 'S':
			if (strcmp(optarg, "auto") && strcmp(optarg, "perf") && strcmp(optarg, "ptrace"))
				return ai_usage_error("profile", "invalid --sampler '%s' (auto, perf or ptrace)", optarg);
			sampler = optarg;
			break;
		case 'M': {
			int rc = ai_parse_max_pause("profile", optarg, &args.max_pause_us);
			if (rc)
				return rc;
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
	if (!pid == !args.program)
		return ai_usage_error("profile", pid ? "give --pid or a PROGRAM, not both"
						     : "give --pid N, or -- PROGRAM [ARGS...]");
	args.ptrace = strcmp(sampler, "ptrace") == 0;
	if (args.max_pause_us && strcmp(sampler, "perf") == 0)
		return ai_usage_error("profile", "--max-pause caps the pause of ptrace sampling; perf events never "
				      "stop the program");
	if (!args.ptrace && (err = ai_uprobes_available())) {
		/* Where perf events are not allowed, CPU samples by ptrace still say where the time goes. */
		if (strcmp(sampler, "auto") || !args.rate)
			return ai_fail(err);
		args.ptrace = true;
		fprintf(stderr, "async-inspect: %s; falling back to ptrace sampling at %u Hz (each sample stops the "
			"program for a moment)\n", err->message,
			args.rate_set ? AI_MIN(args.rate, PTRACE_MAX_RATE) : PTRACE_DEFAULT_RATE);
		ai_error_destroy(err);
	}
	if (args.ptrace) {
		if (args.rate_set && !args.rate)
			return ai_usage_error("profile", "--rate 0 leaves ptrace sampling nothing to measure");
		args.rate = args.rate_set ? AI_MIN(args.rate, PTRACE_MAX_RATE) : PTRACE_DEFAULT_RATE;
	} else if (args.max_pause_us) {
		return ai_usage_error("profile", "--max-pause caps the pause of ptrace sampling; perf events never "
				      "stop the program");
	}
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
	size_t count = child ? 1 : targets.pid_count;
	struct session *sessions = xcalloc(count, sizeof(*sessions));
	for (size_t i = 0; i < count; i++)
		sessions[i].pid = child ? child : targets.pids[i];
	int status = profile_processes(&args, sessions, count, child, &child_status, &child_exited);
	for (size_t i = 0; i < count; i++)
		session_free(&sessions[i]);
	free(sessions);
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
