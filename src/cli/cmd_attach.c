/* `async-inspect attach`: watch a running process, in the TUI on a terminal, or as a dump printed
 * every interval otherwise. ai_monitor() is shared with `run`. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/async.h"
#include "ai/breakpoint.h"
#include "ai/capture.h"
#include "ai/cli.h"
#include "ai/frontend.h"
#include "ai/live.h"
#include "ai/profile.h"
#include "ai/tui.h"
#include "ai/util.h"

/* Snapshots kept for the views: memory stays flat (see include/ai/live.h). */
#define HISTORY 8

static void print_usage(FILE *out)
{
	fprintf(out,
		"Usage: async-inspect attach --pid N [OPTIONS]\n"
		"       async-inspect attach (--pid N... | --pids A,B,C | --pgrep NAME | --cgroup PATH) [OPTIONS]\n"
		"\n"
		"Watch a running program: every task with where it is parked, what it waits on and\n"
		"for how long, refreshed every interval. On a terminal this is an interactive view\n"
		"(? shows its keys; q detaches and leaves the program running); otherwise, or with\n"
		"--no-tui, a dump is printed every interval until the program exits or Ctrl-C\n"
		"(which detaches, leaving it running).\n"
		"\n"
		"Options:\n"
		"  -p, --pid N            the process to watch; repeated (or --pids A,B,C, --pgrep\n"
		"                         NAME, --cgroup PATH), several at once: each task says its\n"
		"                         process, P shows one process or all, a wait on a socket\n"
		"                         names the task at its other end; each process is read in\n"
		"                         turn every interval, one that ends leaves the others on\n"
		"  -i, --interval TIME    time between snapshots (default 500ms)\n"
		"      --no-tui           print a dump every interval instead of the interactive view\n"
		"      --no-locals        leave saved locals out of the snapshots (lighter dumps and\n"
		"                         recordings, e.g. with 100,000 tasks)\n"
		"      --all-locals       compiler-generated locals too (__awaitee, drop flags)\n"
		"      --profile          add polls/s, busy (%% of a core) and scheduled-time (wake\n"
		"                         to poll) columns to the task list, from uprobes on the\n"
		"                         runtime's poll and wake functions (as `profile`; perf\n"
		"                         events: root or CAP_PERFMON); s sorts by them\n"
		"      --record FILE      also append every snapshot to FILE as one JSON line\n"
		"                         (see `async-inspect replay`)\n"
		"      --max-pause TIME   cap the pause each snapshot imposes (e.g. 5ms): memory is\n"
		"                         copied until then, the rest is read live and the tasks\n"
		"                         that needed it are marked; successive snapshots start\n"
		"                         their copy where the last one stopped\n"
		"      --debug-dir DIR    also look for separate debug files in DIR (by build-id\n"
		"                         under DIR/.build-id/, by .gnu_debuglink name, and split\n"
		"                         DWARF's .dwo files by name); repeatable\n"
		"      --user-crate NAME  count crate NAME's code as the program's own (see dump --help)\n"
		"      --color WHEN       auto (default: on a terminal), always or never\n"
		"      --break SPEC       stop when a task reaches SPEC (FILE:LINE of an .await, or\n"
		"                         FN: an async fn's first poll; spawn, complete: any task\n"
		"                         spawned / finished), print the task with its\n"
		"                         await chain on stdout and go on (repeatable); on a\n"
		"                         terminal (not --no-tui, --format json, --history) the\n"
		"                         live view stops at each hit on the task's details:\n"
		"                         c continues, n steps it, q detaches\n"
		"      --break-count N    after N hits remove the breakpoints and detach\n"
		"      --history          each record also shows its task's state transitions\n"
		"      --step TASK        stop each time task TASK (its id, or 0x address as dump\n"
		"                         prints it) changes state: print the await it left, the\n"
		"                         one it reached and the locals that changed\n"
		"      --step-count N     after N transitions (default 1) detach\n"
		"      --format text|json --break and --step records as text (default) or a JSON\n"
		"                         line each\n"
		"  -h, --help             show this help\n");
}

struct monitor {
	struct ai_target *target;   /* borrowed */
	struct ai_capture *capture; /* owned */
	FILE *record;               /* borrowed: --record, NULL when off or after a failed write */
	struct ai_async_options async_options;
	const char *record_path;
	int status;                 /* the wait status once the target exited */
	bool exited;
	struct ai_stepper *stepper; /* the TUI's `n`, while it waits; NULL otherwise */
	struct ai_break_session *breaks; /* --break in the TUI, or NULL */
	bool profile_wanted, profile_tried; /* --profile; its probes opened at the first sample */
	struct ai_live_profile *profile;    /* they are in, or NULL */
};

static struct ai_error *monitor_sample(void *arg, struct ai_snapshot **ret)
{
	struct monitor *m = arg;
	if (m->exited)
		return ai_error_create(AI_ERROR_TARGET_EXITED, "the program has exited");
	struct ai_snapshot *snapshot;
	struct ai_error *err = ai_capture_dump(m->capture, AI_CAPTURE_RESUME, &m->async_options, &snapshot);
	if (err)
		return err;
	if (m->record && ai_write_dump_json_line(m->record, snapshot) != 0) {
		/* The snapshot still counts; the recording stops, and says so on screen. */
		ai_snapshot_add_warning(snapshot, "writing the recording %s failed: recording stopped", m->record_path);
		m->record = NULL;
	}
	*ret = snapshot;
	return NULL;
}

/* --profile: the probes go in once the first snapshot has found the runtime (its poll functions),
 * then every sample gets the tasks' rates since the last. */
static void monitor_annotate(void *arg, struct ai_live *live, char *message, size_t size)
{
	struct monitor *m = arg;
	if (!m->profile_tried && !m->exited) {
		m->profile_tried = true;
		struct ai_error *err = ai_live_profile_open(m->capture, m->target->pid, &m->profile);
		if (err) {
			snprintf(message, size, "no profile columns: %s", err->message);
			ai_error_destroy(err);
		}
	}
	ai_live_profile_apply(m->profile, live);
}

static struct ai_error *monitor_run(void *arg, int timeout_ms, bool *exited_ret)
{
	struct monitor *m = arg;
	enum ai_run_event event = AI_RUN_EXITED;
	struct ai_error *err = m->exited ? NULL : ai_target_run(m->target, timeout_ms, &event, &m->status);
	ai_live_profile_read(m->profile); /* the kernel's buffers are bounded: read them often */
	if (err)
		return err;
	if (event == AI_RUN_EXITED)
		m->exited = true;
	*exited_ret = m->exited;
	return NULL;
}

static struct ai_error *monitor_set_paused(void *arg, bool paused)
{
	struct monitor *m = arg;
	if (m->exited)
		return NULL;
	return paused ? ai_target_stop(m->target) : ai_target_resume(m->target);
}

/* The TUI's `n`: a stepper (src/breakpoint/stepper.c) from a snapshot of this moment. */
static struct ai_error *monitor_step_begin(void *arg, const struct ai_snapshot_task *task)
{
	struct monitor *m = arg;
	if (m->exited)
		return ai_error_create(AI_ERROR_TARGET_EXITED, "the program has exited");
	struct ai_step_task want = { .by_address = !(task->has_id && task->kind && strcmp(task->kind, "task") == 0) };
	want.value = want.by_address ? task->address : task->id;
	struct ai_snapshot *snapshot;
	struct ai_error *err = ai_capture_dump(m->capture, AI_CAPTURE_KEEP_STOPPED, &m->async_options, &snapshot);
	if (!err && !ai_step_find_task(snapshot, &want)) {
		ai_snapshot_destroy(snapshot);
		err = ai_error_create(AI_ERROR_NOT_FOUND, "the task is gone");
	}
	if (!err)
		err = ai_stepper_create(m->target, m->capture, &m->async_options, &want, snapshot, &m->stepper);
	return err;
}

static void summary_change(const struct ai_await_node *frame, const char *name, const char *before, const char *after,
			   void *arg)
{
	fprintf(arg, "\n  changed  %s = %s -> %s", name, before ? before : "(none)", after ? after : "(gone)");
}

static void summary_place(FILE *out, const char *label, const struct ai_await_node *n)
{
	fprintf(out, "\n  %-8s ", label);
	if (!n) {
		fputs("(the task is gone)", out);
		return;
	}
	fprintf(out, "%s  %s", n->function, n->state ? n->state : "?");
	if (n->file)
		fprintf(out, "  %s:%d", ai_short_path(n->file), n->line);
}

static struct ai_error *monitor_step_run(void *arg, int timeout_ms, bool *done_ret, bool *exited_ret,
					 struct ai_snapshot **snapshot_ret, char **summary_ret)
{
	struct monitor *m = arg;
	*done_ret = *exited_ret = false;
	enum ai_step_event event;
	struct ai_step_transition tr;
	struct ai_error *err = ai_stepper_run(m->stepper, timeout_ms, &event, &tr, &m->status);
	if (err)
		return err;
	if (event == AI_STEP_EXITED)
		m->exited = *exited_ret = true;
	if (event != AI_STEP_TRANSITION)
		return NULL;
	/* The TUI's own snapshot of the step (the stepper keeps its own), still all-stop. */
	if ((err = ai_capture_dump(m->capture, AI_CAPTURE_KEEP_STOPPED, &m->async_options, snapshot_ret)))
		return err;
	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	if (!out) {
		ai_snapshot_destroy(*snapshot_ret);
		return ai_error_from_errno(errno, "open_memstream");
	}
	fprintf(out, "step: the task %s", tr.completed ? "completed" : "changed state");
	if (tr.thread)
		fprintf(out, " on thread %d", (int)tr.thread);
	summary_place(out, "left", tr.left);
	summary_place(out, "reached", tr.reached);
	ai_step_for_each_change(&tr, summary_change, out);
	fclose(out);
	*summary_ret = text;
	*done_ret = true;
	return NULL;
}

static void monitor_step_end(void *arg)
{
	struct monitor *m = arg;
	ai_stepper_destroy(m->stepper);
	m->stepper = NULL;
}

/* The TUI's breakpoint mode: the session's next hit, with its snapshot and what it is. */
static struct ai_error *monitor_break_wait(void *arg, int timeout_ms, struct ai_tui_break_hit *ret)
{
	struct monitor *m = arg;
	memset(ret, 0, sizeof(*ret));
	ret->task = -1;
	enum ai_break_event event = AI_BREAK_EVENT_EXITED;
	struct ai_break_hit hit;
	struct ai_error *err = m->exited ? NULL : ai_break_session_wait(m->breaks, timeout_ms, &event, &hit, &m->status);
	ai_live_profile_read(m->profile);
	if (err)
		return err;
	ret->active = ai_break_session_active(m->breaks);
	if (event == AI_BREAK_EVENT_EXITED)
		m->exited = ret->exited = true;
	if (event != AI_BREAK_EVENT_HIT)
		return NULL;
	size_t size = 0;
	FILE *out = open_memstream(&ret->summary, &size);
	if (!out) {
		ai_snapshot_destroy(hit.snapshot);
		return ai_error_from_errno(errno, "open_memstream");
	}
	ai_break_hit_print_header(out, &hit);
	if (!hit.task)
		fprintf(out, "  task: unknown (no task found at 0x%llx)\n", (unsigned long long)hit.address);
	if (hit.last)
		fprintf(out, "  the last hit (--break-count %llu): the breakpoints are removed\n",
			(unsigned long long)hit.number);
	fclose(out);
	size_t len = strlen(ret->summary);
	if (len && ret->summary[len - 1] == '\n')
		ret->summary[len - 1] = '\0';
	ret->hit = true;
	ret->snapshot = hit.snapshot;
	ret->task = hit.task ? (long)(hit.task - hit.snapshot->tasks) : -1;
	return NULL;
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	interrupted = 1;
}

/* --no-tui: a dump every interval on stdout. */
static struct ai_error *print_loop(struct monitor *m, const struct ai_monitor_options *options)
{
	if (!options->launched) {
		/* Ctrl-C ends the watch, not the process we are attached to; we then detach. */
		ai_catch_stop_signals(on_interrupt);
	}
	struct ai_live *live = ai_live_create(1);
	struct ai_text_options text = { .color = ai_use_color(stdout), .locals = true };
	struct ai_error *err = NULL;
	while (!interrupted && !m->exited) {
		struct ai_snapshot *snapshot;
		if ((err = monitor_sample(m, &snapshot))) {
			if (err->code != AI_ERROR_TARGET_EXITED)
				break;
			ai_error_destroy(err); /* it ended while we read it */
			err = NULL;
			if (!options->launched) {
				m->exited = true;
				break;
			}
			goto next; /* run: reap it, for its exit status */
		}
		ai_live_add(live, snapshot);
		if (options->quiet)
			goto next;
		printf("==== snapshot %" PRIu64 " (pause %" PRIu64 "us", live->sample_count, snapshot->pause_us);
		if (snapshot->max_pause_us)
			printf(", cap %" PRIu64 "us, sampled %zu of %zu tasks, stop %" PRIu64 "us", snapshot->max_pause_us,
			       snapshot->tasks_sampled, snapshot->task_count, snapshot->stop_us);
		printf(")\n");
		ai_print_dump_text(stdout, snapshot, &text);
		fflush(stdout);
	next:;
		bool exited;
		if ((err = monitor_run(m, (int)options->interval_ms, &exited)))
			break;
	}
	ai_live_destroy(live);
	return err;
}

struct ai_error *ai_monitor(struct ai_target *target, const struct ai_monitor_options *options,
			    struct ai_monitor_result *result)
{
	struct monitor m = { .target = target, .record = options->record, .record_path = options->record_path,
			     .profile_wanted = options->profile && options->tui };
	ai_async_options_default(&m.async_options);
	m.async_options.locals = !options->no_locals;
	m.async_options.all_locals = !options->no_locals && options->all_locals;
	/* A recording is a dump document per line: its locals carry the structured form too. */
	m.async_options.value_limits.structured = options->record != NULL;
	memset(result, 0, sizeof(*result));
	struct ai_error *err = ai_capture_create(target, &m.capture);
	if (err) {
		result->breaks_failed = options->tui && options->breaks; /* not a Rust program... */
		return err;
	}
	ai_capture_set_max_pause(m.capture, options->max_pause_us);
	interrupted = 0;
	if (options->tui && options->breaks &&
	    (err = ai_break_session_begin(target, m.capture, options->breaks, &m.breaks))) {
		result->breaks_failed = true;
		ai_capture_destroy(m.capture);
		return err;
	}
	if (options->tui) {
		struct ai_live *live = ai_live_create(HISTORY);
		struct ai_tui_source source = { .sample = monitor_sample, .run = monitor_run,
						.set_paused = monitor_set_paused, .arg = &m,
						.step_begin = monitor_step_begin, .step_run = monitor_step_run,
						.step_end = monitor_step_end,
						.break_wait = m.breaks ? monitor_break_wait : NULL,
						.annotate = m.profile_wanted ? monitor_annotate : NULL };
		struct ai_tui_options tui = {
			.interval_ms = options->interval_ms,
			.launched = options->launched,
			.output = options->output,
			.headless = getenv("AI_TUI_HEADLESS"),
			.keys = getenv("AI_TUI_KEYS"),
		};
		enum ai_tui_end end = AI_TUI_DETACH;
		err = ai_tui_run(live, &source, &tui, &end);
		ai_live_destroy(live);
		result->kill = end == AI_TUI_KILL;
		/* q, Ctrl-C, the program's end, an error: the int3s go before the detach. */
		ai_break_session_end(m.breaks);
		if (m.profile && isatty(STDERR_FILENO))
			fprintf(stderr, "async-inspect: removing the profile's probes (%zu perf events, which the "
				"kernel unregisters one at a time)...\n", ai_live_profile_event_count(m.profile));
		ai_live_profile_close(m.profile);
	} else {
		err = print_loop(&m, options);
	}
	ai_capture_destroy(m.capture);
	/* Its end may have been seen by a snapshot (it exited while being stopped), not by run. */
	result->exited = m.exited || target->exited;
	result->status = m.exited ? m.status : target->exit_status;
	return err;
}

struct ai_error *ai_open_recording(const char *path, FILE **ret)
{
	FILE *file = fopen(path, "w");
	if (!file)
		return ai_error_from_errno(errno, "cannot write the recording %s", path);
	*ret = file;
	return NULL;
}

bool ai_monitor_wants_tui(bool no_tui)
{
	if (no_tui)
		return false;
	const char *headless = getenv("AI_TUI_HEADLESS");
	if (headless && *headless)
		return true;
	return isatty(STDOUT_FILENO) && isatty(STDIN_FILENO);
}

/* --break: a record per hit on stdout; after --break-count hits (or when the program ends), the
 * breakpoints are removed and we detach. */
static int attach_with_breakpoints(int pid, struct ai_break_cli *breaks)
{
	ai_target_install_signal_handlers();
	struct ai_target *target;
	struct ai_error *err = ai_target_attach(pid, &target);
	if (err) {
		ai_break_cli_deinit(breaks);
		return ai_fail(err);
	}
	bool exited = false;
	int status = 0;
	int code = ai_break_command(target, breaks, &exited, &status);
	ai_break_cli_deinit(breaks);
	ai_target_destroy(target); /* detaches, if not done: the program goes on without us */
	if (code >= 0)
		return code;
	if (exited)
		fprintf(stderr, "async-inspect: process %d has exited\n", pid);
	return AI_EXIT_OK;
}

/* --break on a terminal: the live view in its breakpoint mode; q detaches (the int3s go). */
static int attach_tui_with_breakpoints(int pid, struct ai_break_cli *breaks, struct ai_monitor_options *options)
{
	ai_target_install_signal_handlers();
	struct ai_target *target;
	struct ai_error *err = ai_target_attach(pid, &target);
	if (err) {
		ai_break_cli_deinit(breaks);
		return ai_fail(err);
	}
	struct ai_break_options break_options = ai_break_cli_options(breaks);
	options->tui = true;
	options->breaks = &break_options;
	struct ai_monitor_result result;
	err = ai_monitor(target, options, &result);
	int code = AI_EXIT_OK;
	if (err && result.breaks_failed)
		code = ai_break_setup_failed(target, err);
	else if (err)
		code = ai_fail(err);
	ai_target_destroy(target); /* detaches: the program goes on without us */
	ai_break_cli_deinit(breaks);
	if (code == AI_EXIT_OK && result.exited)
		fprintf(stderr, "async-inspect: process %d has exited\n", pid);
	return code;
}

int ai_cmd_attach(int argc, char **argv)
{
	static const struct option long_options[] = {
		AI_PID_LONG_OPTIONS,
		{ "no-tui", no_argument, NULL, 'n' },
		{ "color", required_argument, NULL, 'C' },
		AI_MONITOR_LONG_OPTIONS,
		AI_MONITOR_PROFILE_OPTION,
		AI_BREAK_LONG_OPTIONS,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ai_monitor_options options = { .interval_ms = 500 };
	bool no_tui = false;
	struct ai_break_cli breaks = { 0 };
	int pid = 0, opt, status;
	struct ai_target_options targets = { 0 };
	struct ai_error *err;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+p:i:h", long_options, NULL)) != -1) {
		switch (opt) {
		case 'p':
		case AI_OPT_PIDS:
		case AI_OPT_PGREP:
		case AI_OPT_CGROUP:
			if ((err = ai_target_add_pids(&targets, opt, optarg)))
				return ai_fail(err);
			pid = targets.pid;
			break;
		case 'n':
			no_tui = true;
			break;
		case 'C':
			ai_color_option = optarg;
			break;
		case 'h':
			print_usage(stdout);
			return AI_EXIT_OK;
		default:
			if ((status = ai_parse_break_option("attach", opt, optarg, &breaks)) >= 0) {
				if (status) {
					ai_break_cli_deinit(&breaks);
					return status;
				}
				break;
			}
			if ((status = ai_parse_monitor_option("attach", opt, optarg, &options)) < 0)
				return ai_usage_error("attach", "unknown or incomplete option '%s'", argv[optind - 1]);
			if (status)
				return status;
		}
	}
	if (optind < argc || !pid) {
		ai_break_cli_deinit(&breaks);
		if (optind < argc)
			return ai_usage_error("attach", "unexpected argument '%s'", argv[optind]);
		return ai_usage_error("attach", "no process: give --pid N");
	}
	/* Several processes: each is read in turn at every interval (src/cli/attach_processes.c). */
	if (targets.pid_count > 1) {
		bool with_breaks = breaks.count || breaks.break_count || breaks.json || breaks.history;
		ai_break_cli_deinit(&breaks);
		if (with_breaks || options.record_path)
			return ai_usage_error("attach", "%s takes one process, and %zu were given",
					      with_breaks ? "--break" : "--record", targets.pid_count);
		options.tui = ai_monitor_wants_tui(no_tui);
		if (options.profile && !options.tui)
			return ai_usage_error("attach", AI_PROFILE_NEEDS_TUI);
		return ai_monitor_processes(targets.pids, targets.pid_count, &options);
	}
	bool breaking;
	if ((status = ai_break_cli_check("attach", &breaks, &breaking))) {
		ai_break_cli_deinit(&breaks);
		return status;
	}
	if (breaking && options.record_path) {
		ai_break_cli_deinit(&breaks);
		return ai_usage_error("attach", "--break and --step do not combine with --record");
	}
	if (breaking) {
		breaks.no_locals = options.no_locals;
		breaks.all_locals = options.all_locals;
		if (ai_break_cli_wants_tui(&breaks, no_tui))
			return attach_tui_with_breakpoints(pid, &breaks, &options);
		if (options.profile) {
			ai_break_cli_deinit(&breaks);
			return ai_usage_error("attach", AI_PROFILE_NEEDS_TUI);
		}
		return attach_with_breakpoints(pid, &breaks);
	}
	options.tui = ai_monitor_wants_tui(no_tui);
	if (options.profile && !options.tui)
		return ai_usage_error("attach", AI_PROFILE_NEEDS_TUI);
	if (options.record_path && (err = ai_open_recording(options.record_path, &options.record)))
		return ai_fail(err);

	ai_target_install_signal_handlers();
	struct ai_target *target;
	if ((err = ai_target_attach(pid, &target))) {
		if (options.record)
			fclose(options.record);
		return ai_fail(err);
	}
	struct ai_monitor_result result;
	err = ai_monitor(target, &options, &result);
	ai_target_destroy(target); /* detaches: the program goes on without us */
	if (options.record)
		fclose(options.record);
	if (err)
		return ai_fail(err);
	if (result.exited)
		fprintf(stderr, "async-inspect: process %d has exited\n", pid);
	return AI_EXIT_OK;
}
