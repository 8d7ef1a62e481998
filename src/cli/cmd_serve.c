/* `async-inspect serve`: the live web dashboard. This thread traced the target (ptrace answers
 * only its tracer), so it is the sampling thread: a snapshot every interval into the live model,
 * then the documents published to the server (src/serve), whose own threads answer requests. */
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
#include "ai/frontend.h"
#include "ai/live.h"
#include "ai/profile.h"
#include "ai/serve.h"
#include "ai/util.h"

/* serve --profile's CPU samples per second and thread, for the flamegraph (profile's default). */
#define SERVE_SAMPLE_RATE 99

/* Snapshots kept: the page shows the latest; the live model follows tasks across them. */
#define HISTORY 2
/* A recorded interval longer than this is shortened (as replay does). */
#define MAX_REPLAY_DELAY_MS 10000

static void print_usage(FILE *out)
{
	fprintf(out,
		"Usage: async-inspect serve (--pid N | --replay FILE | [OPTIONS] -- PROGRAM [ARGS...])\n"
		"\n"
		"Serve a live web dashboard of the program's tasks: a snapshot every interval, shown\n"
		"in the browser as a task table (sortable, filterable, j/k and Enter), each task's\n"
		"await tree with its locals, and a banner for deadlocks. Prints one line, the URL to\n"
		"open (it carries the access token), and serves until Ctrl-C, which detaches and\n"
		"leaves the program running (a PROGRAM launched after -- is killed).\n"
		"\n"
		"Only this machine can connect unless --bind says otherwise; every request needs the\n"
		"token; nothing a request does reaches the program.\n"
		"\n"
		"Options:\n"
		"  -p, --pid N            watch a running process; repeated, several at once: each\n"
		"                         is read in turn every interval, each row says its\n"
		"                         process, the header counts by process\n"
		"      --pgrep NAME, --cgroup PATH, --pids A,B,C\n"
		"                         the processes by name, cgroup or list\n"
		"      --replay FILE      serve a recording (--record) at its recorded intervals\n"
		"      --port P           the TCP port (default: a free one)\n"
		"      --bind ADDR        the address to listen on (default 127.0.0.1; another one\n"
		"                         lets other machines try to connect: a warning says so)\n"
		"  -i, --interval TIME    time between snapshots (default 500ms)\n"
		"      --profile          polls/s, busy (%% of a core) and scheduled-time columns in\n"
		"                         the table, from uprobes on the runtime's poll and wake\n"
		"                         functions (see attach --help), and the flamegraph tab\n"
		"                         (f): CPU samples at 99 Hz of the last 30 s as async-aware\n"
		"                         stacks; several processes: each its own probes, the\n"
		"                         flamegraph a root frame per process\n"
		"      --open             open the URL in the desktop's browser (xdg-open)\n"
		"      --record FILE      also append every snapshot to FILE as one JSON line\n"
		"      --max-pause TIME   cap the pause each snapshot imposes (see attach --help)\n"
		"      --no-locals        leave saved locals out of the snapshots\n"
		"      --all-locals       compiler-generated locals too (__awaitee, drop flags)\n"
		"      --debug-dir DIR    also look for separate debug files in DIR (see dump --help)\n"
		"      --user-crate NAME  count crate NAME's code as the program's own (see dump --help)\n"
		"  -h, --help             show this help\n"
		"\n"
		"Endpoints (GET): / the page, /api/snapshot (the dump --format json document),\n"
		"/api/tasks (the task table), /api/graph (the wait-for graph as Graphviz DOT),\n"
		"/api/flamegraph (--profile's CPU samples as a tree).\n");
}

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	interrupted = 1;
}

/* Sleeps up to ms, less when a signal comes. */
static void nap(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	nanosleep(&ts, NULL);
}

/* --open: the desktop's browser, in a grandchild (reparented away, so that the run loop's
 * waitpid(-1) never sees it). */
static void open_browser(const char *url)
{
	pid_t child = fork();
	if (child < 0) {
		fprintf(stderr, "async-inspect: --open: fork: %s\n", strerror(errno));
		return;
	}
	if (child == 0) {
		if (fork() != 0)
			_exit(0);
		setsid();
		int null = open("/dev/null", O_RDWR);
		if (null >= 0) {
			dup2(null, STDIN_FILENO);
			dup2(null, STDOUT_FILENO);
			dup2(null, STDERR_FILENO);
		}
		execlp("xdg-open", "xdg-open", url, (char *)NULL);
		_exit(127);
	}
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
}

struct serve {
	struct ai_server *server;     /* owned */
	struct ai_live *live;         /* owned */
	struct ai_live_set *set;      /* several processes (borrowed), or NULL */
	struct ai_serve_status status;
	char *message;                /* owned: status.message */
	/* a live target */
	struct ai_target *target;     /* owned */
	struct ai_capture *capture;   /* owned */
	struct ai_async_options async_options;
	FILE *record;                 /* --record, NULL when off or after a failed write */
	const char *record_path;
	/* --replay */
	struct ai_recording_reader *reader; /* owned */
	struct ai_snapshot *next;           /* owned: read ahead, for the interval to it */
	bool open_url;                      /* --open */
	bool announced;                     /* the URL was printed */
	/* --profile: the table's polls/s, busy and scheduled-time columns */
	bool profile_wanted, profile_tried;
	struct ai_live_profile *profile;
	char *no_profile;             /* owned: status.no_profile */
};


/* Publishes, and once the first snapshot is there, prints the URL: it answers at once. */
static void publish(struct serve *s)
{
	if (s->set)
		ai_server_publish_set(s->server, s->set, &s->status);
	else
		ai_server_publish(s->server, s->live, &s->status);
	if (s->announced)
		return;
	s->announced = true;
	printf("%s\n", ai_server_url(s->server));
	fflush(stdout);
	if (s->open_url)
		open_browser(ai_server_url(s->server));
}

static void set_message(struct serve *s, const char *state, char *message)
{
	free(s->message);
	s->message = message;
	s->status.state = state;
	s->status.message = message;
}

/* One snapshot of the live target into the model. Returns false once sampling has ended (the
 * program exited); an error ends serving. */
static struct ai_error *sample_live(struct serve *s, bool *more_ret)
{
	*more_ret = false;
	struct ai_snapshot *snapshot;
	struct ai_error *err = ai_capture_dump(s->capture, AI_CAPTURE_RESUME, &s->async_options, &snapshot);
	if (err) {
		if (err->code != AI_ERROR_TARGET_EXITED)
			return err;
		ai_error_destroy(err);
		return NULL;
	}
	if (s->record && ai_write_dump_json_line(s->record, snapshot) != 0) {
		ai_snapshot_add_warning(snapshot, "writing the recording %s failed: recording stopped", s->record_path);
		s->record = NULL;
	}
	ai_live_add(s->live, snapshot);
	ai_live_read_process(s->live, s->target->pid);
	if (s->profile_wanted && !s->profile_tried) {
		/* The probes go in once the first snapshot has found the runtime's poll functions. */
		s->profile_tried = true;
		struct ai_error *perr = ai_live_profile_open(s->capture, s->target->pid, &s->profile);
		if (perr) {
			fprintf(stderr, "async-inspect: no profile columns: %s\n", perr->message);
			set_message(s, s->status.state, xasprintf("no profile columns: %s", perr->message));
			s->no_profile = xasprintf("no profile: %s", perr->message);
			ai_error_destroy(perr);
		} else if ((perr = ai_live_profile_sample(s->profile, s->capture, SERVE_SAMPLE_RATE))) {
			/* the columns stay; the flamegraph tab says why it has none */
			fprintf(stderr, "async-inspect: no flamegraph: %s\n", perr->message);
			ai_error_destroy(perr);
		}
		s->status.profile = s->profile;
		s->status.no_profile = s->no_profile;
	}
	ai_live_profile_apply(s->profile, s->live);
	*more_ret = true;
	return NULL;
}

/* Runs the target until the next sample is due; false when it exited meanwhile. */
static struct ai_error *run_live(struct serve *s, bool *more_ret)
{
	enum ai_run_event event = AI_RUN_TIMEOUT;
	int status = 0;
	/* With the profile's probes in, their buffers are read every 50 ms meanwhile. */
	uint64_t end = ai_now_us() + s->status.interval_ms * 1000;
	do {
		uint64_t now = ai_now_us(), left = end > now ? end - now : 0;
		uint64_t slice_us = s->profile ? AI_MIN(left, 50000) : left;
		struct ai_error *err = ai_target_run(s->target, (int)(slice_us / 1000), &event, &status);
		if (err)
			return err;
		ai_live_profile_read(s->profile);
	} while (event != AI_RUN_EXITED && !interrupted && ai_now_us() < end);
	*more_ret = event != AI_RUN_EXITED;
	return NULL;
}

static void exited_message(struct serve *s)
{
	int status = s->target->exit_status;
	char *why;
	if (!s->target->launched)
		why = xasprintf("process %d has exited", (int)s->target->pid);
	else if (WIFSIGNALED(status))
		why = xasprintf("process %d was killed by signal %d", (int)s->target->pid, WTERMSIG(status));
	else
		why = xasprintf("process %d exited with status %d", (int)s->target->pid, WEXITSTATUS(status));
	fprintf(stderr, "async-inspect: %s; still serving its last snapshot (Ctrl-C to stop)\n", why);
	set_message(s, "exited", why);
}

static struct ai_error *serve_live(struct serve *s)
{
	bool more = true;
	struct ai_error *err = NULL;
	while (!interrupted && more) {
		if ((err = sample_live(s, &more)))
			return err;
		if (!more)
			break;
		publish(s);
		if ((err = run_live(s, &more)))
			return err;
	}
	if (!more) {
		exited_message(s);
		publish(s);
	}
	return NULL;
}

static struct ai_error *serve_replay(struct serve *s)
{
	while (!interrupted && s->next) {
		struct ai_snapshot *snapshot = s->next;
		char *warning = NULL;
		struct ai_error *err = ai_recording_next(s->reader, &s->next, &warning);
		if (err) {
			/* A bad line: what came before it is shown, and the replay ends there. */
			set_message(s, "ended", xstrdup(err->message));
			ai_error_destroy(err);
			s->next = NULL;
		} else if (warning) {
			set_message(s, "ended", warning);
		}
		int64_t at = snapshot->captured_at_ms;
		ai_live_add(s->live, snapshot);
		uint64_t delay = s->next && s->next->captured_at_ms > at
					 ? (uint64_t)AI_MIN(s->next->captured_at_ms - at, (int64_t)MAX_REPLAY_DELAY_MS)
					 : 0;
		if (s->next)
			s->status.interval_ms = delay;
		else if (!s->message)
			set_message(s, "ended", xasprintf("end of the recording (%llu snapshots)",
							   (unsigned long long)s->live->sample_count));
		else
			s->status.state = "ended";
		publish(s);
		for (uint64_t waited = 0; !interrupted && waited < delay; waited += 100)
			nap(AI_MIN(delay - waited, (uint64_t)100));
	}
	return NULL;
}

/* serve --pid A --pid B: each process read in turn every interval (src/cli/attach_processes.c:
 * attached only while read), the page over one live model per process; one that ends leaves the
 * others on. --profile: each process its own probes (never stopped for them: they need no
 * ptrace), read every 50 ms between samples; one refused shows why and the others go on. */
static int serve_processes(const struct ai_target_options *targets, const struct ai_monitor_options *monitor,
			   const struct ai_server_options *server_options, bool open_url)
{
	pid_t *ids = xcalloc(targets->pid_count, sizeof(*ids));
	for (size_t p = 0; p < targets->pid_count; p++)
		ids[p] = targets->pids[p];
	struct ai_live_set *set = ai_live_set_create(ids, targets->pid_count, HISTORY);
	free(ids);
	struct ai_process_sampler *sampler = ai_process_sampler_create(targets->pids, targets->pid_count, monitor, set);
	ai_catch_stop_signals(on_interrupt); /* Ctrl-C and SIGTERM end serving */
	struct serve s = { .set = set, .open_url = open_url,
			   .status = { .interval_ms = monitor->interval_ms, .state = "running", .source = "attach" } };
	const struct ai_live_profile **profiles = NULL;
	const char **no_profiles = NULL;
	if (monitor->profile) {
		ai_process_sampler_profile(sampler, SERVE_SAMPLE_RATE);
		profiles = xcalloc(set->count, sizeof(*profiles));
		no_profiles = xcalloc(set->count, sizeof(*no_profiles));
		s.status.profiles = profiles;
		s.status.no_profiles = no_profiles;
	}
	/* The first sample before the server: when no process can be read there is nothing to serve. */
	ai_process_sampler_sample(sampler);
	bool any = false;
	for (size_t p = 0; p < set->count; p++)
		any |= set->members[p].sampled;
	struct ai_error *err = any ? ai_server_start(server_options, &s.server) : NULL;
	for (bool first = true; any && !err && !interrupted && ai_process_sampler_running(sampler); first = false) {
		if (!first)
			ai_process_sampler_sample(sampler);
		size_t running = ai_process_sampler_running(sampler);
		if (!running) {
			set_message(&s, "exited", xstrdup("every process has ended"));
		} else if (running < set->count) {
			char *ended = NULL;
			for (size_t p = 0; p < set->count; p++) {
				const struct ai_live_member *m = &set->members[p];
				if (!m->ended)
					continue;
				char *more = xasprintf("%s%spid %d (%s) has ended (%s)", ended ? ended : "", ended ? "; " : "",
						       (int)m->pid, m->command, m->end_reason);
				free(ended);
				ended = more;
			}
			char *message = xasprintf("%s; the others go on", ended);
			free(ended);
			set_message(&s, "running", message);
		}
		for (size_t p = 0; profiles && p < set->count; p++)
			profiles[p] = ai_process_sampler_profile_of(sampler, p, &no_profiles[p]);
		publish(&s);
		/* with probes in, their buffers are read every 50 ms meanwhile */
		uint64_t step = profiles ? 50 : 100;
		for (uint64_t waited = 0; running && !interrupted && waited < monitor->interval_ms; waited += step) {
			nap(AI_MIN(monitor->interval_ms - waited, step));
			ai_process_sampler_read_profiles(sampler);
		}
	}
	/* Every process ended: the last snapshots stay on the page until Ctrl-C. */
	while (any && !err && !interrupted)
		nap(200);
	ai_server_stop(s.server);
	free(s.message);
	free(profiles);
	free(no_profiles);
	int status = ai_process_sampler_destroy(sampler);
	ai_live_set_destroy(set);
	if (err)
		return ai_fail(err);
	return status;
}

int ai_cmd_serve(int argc, char **argv)
{
	static const struct option long_options[] = {
		AI_PID_LONG_OPTIONS,
		{ "replay", required_argument, NULL, 'Y' },
		{ "port", required_argument, NULL, 'P' },
		{ "bind", required_argument, NULL, 'B' },
		{ "open", no_argument, NULL, 'O' },
		AI_MONITOR_LONG_OPTIONS,
		AI_MONITOR_PROFILE_OPTION,
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ai_monitor_options monitor = { .interval_ms = 500 };
	struct ai_server_options server_options = { 0 };
	const char *replay = NULL;
	bool open_url = false;
	int pid = 0, opt, status;
	struct ai_error *err;
	struct ai_target_options targets = { 0 };
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
		case 'Y':
			replay = optarg;
			break;
		case 'P': {
			char *end;
			errno = 0;
			long port = strtol(optarg, &end, 10);
			if (end == optarg || *end || errno || port < 0 || port > 65535)
				return ai_usage_error("serve", "invalid port '%s'", optarg);
			server_options.port = (uint16_t)port;
			break;
		}
		case 'B':
			server_options.bind = optarg;
			break;
		case 'O':
			open_url = true;
			break;
		case 'h':
			print_usage(stdout);
			return AI_EXIT_OK;
		default:
			if ((status = ai_parse_monitor_option("serve", opt, optarg, &monitor)) < 0)
				return ai_usage_error("serve", "unknown or incomplete option '%s'", argv[optind - 1]);
			if (status)
				return status;
		}
	}
	bool launch = optind < argc;
	/* Several processes: one live model each, read in turn. */
	if (targets.pid_count > 1) {
		if (launch || replay || monitor.record_path)
			return ai_usage_error("serve", "several processes are watched with --pid only: %s takes one",
					      monitor.record_path ? "--record" : launch ? "-- PROGRAM" : "--replay");
		return serve_processes(&targets, &monitor, &server_options, open_url);
	}
	if ((pid != 0) + (replay != NULL) + launch != 1)
		return ai_usage_error("serve", "give one of --pid N, --replay FILE or -- PROGRAM [ARGS]");
	if (replay && (monitor.record_path || monitor.max_pause_us || monitor.no_locals || monitor.all_locals ||
		       monitor.profile))
		return ai_usage_error("serve", "--record, --max-pause, --profile and the locals options are for a live "
				      "program");

	struct serve s = { .status = { .interval_ms = monitor.interval_ms, .state = "running" } };
	s.record_path = monitor.record_path;
	s.profile_wanted = monitor.profile;
	if (replay) {
		s.status.source = "replay";
		char *warning = NULL;
		if ((err = ai_recording_open(replay, &s.reader)))
			return ai_fail(err);
		if (!(err = ai_recording_next(s.reader, &s.next, &warning)) && !s.next)
			err = ai_error_create(AI_ERROR_INVALID_ARGUMENT, "%s: no snapshot in this recording%s%s", replay,
					      warning ? ": " : "", warning ? warning : "");
		free(warning);
		if (err) {
			ai_recording_close(s.reader);
			return ai_fail(err);
		}
		ai_catch_stop_signals(on_interrupt);
	} else {
		if (monitor.record_path && (err = ai_open_recording(monitor.record_path, &s.record)))
			return ai_fail(err);
		if (launch) {
			s.status.source = "run";
			err = ai_target_launch(argv + optind, &s.target);
			if (!err) {
				ai_target_install_signal_handlers();
				/* Signals other processes send us (but those that stop serving) go to it. */
				ai_target_forward_signals(s.target->pid);
			}
		} else {
			s.status.source = "attach";
			ai_target_install_signal_handlers();
			err = ai_target_attach(pid, &s.target);
		}
		if (err) {
			if (s.record)
				fclose(s.record);
			return ai_fail(err);
		}
		/* Ctrl-C and SIGTERM end serving; crash signals still detach on their way. */
		ai_catch_stop_signals(on_interrupt);
		s.status.has_process = true;
		ai_async_options_default(&s.async_options);
		s.async_options.locals = !monitor.no_locals;
		s.async_options.all_locals = !monitor.no_locals && monitor.all_locals;
		/* /api/snapshot is dump's JSON: each local's structured value too, for the page */
		s.async_options.value_limits.structured = true;
		if (!(err = ai_capture_create(s.target, &s.capture)))
			ai_capture_set_max_pause(s.capture, monitor.max_pause_us);
	}

	if (!err)
		err = ai_server_start(&server_options, &s.server);
	if (!err) {
		s.live = ai_live_create(HISTORY);
		if (!ai_server_is_loopback(s.server))
			fprintf(stderr,
				"async-inspect: warning: listening on %s, not a loopback address: other machines can "
				"reach this server (the token is still needed)\n",
				server_options.bind);
		s.open_url = open_url;
		err = replay ? serve_replay(&s) : serve_live(&s);
		/* Ended without Ctrl-C (the program exited, the recording ended): the last snapshot
		 * stays on the page until Ctrl-C. */
		while (!err && !interrupted)
			nap(200);
	}

	ai_server_stop(s.server);
	if (s.profile && isatty(STDERR_FILENO))
		fprintf(stderr, "async-inspect: removing the profile's probes (%zu perf events, which the kernel "
			"unregisters one at a time)...\n", ai_live_profile_event_count(s.profile));
	ai_live_profile_close(s.profile);
	free(s.no_profile);
	ai_live_destroy(s.live);
	free(s.message);
	ai_capture_destroy(s.capture);
	if (s.target && s.target->launched && !s.target->exited) {
		/* Ours: it goes with us, as `run` kills what it launched when asked to. */
		enum ai_run_event event;
		int st;
		struct ai_error *kill_err;
		kill(s.target->pid, SIGKILL);
		while (!(kill_err = ai_target_run(s.target, -1, &event, &st)) && event != AI_RUN_EXITED)
			;
		if (kill_err)
			ai_error_destroy(kill_err);
	}
	ai_target_destroy(s.target); /* detaches: an attached program goes on without us */
	if (s.record)
		fclose(s.record);
	ai_snapshot_destroy(s.next);
	ai_recording_close(s.reader);
	if (err)
		return ai_fail(err);
	return AI_EXIT_OK;
}
