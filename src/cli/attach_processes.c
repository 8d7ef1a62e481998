/* `attach --pid A --pid B`: several processes watched together. Each is attached only while a
 * snapshot of it is taken, one after the other at every interval (as `dump` does): two traced
 * processes would share one waitpid(-1) event loop, and a process not traced between samples
 * cannot be left stopped or traced by us. The snapshots of one sample are linked through their
 * sockets (src/analysis/peers.c) and each joins its own live model (ai_live_set). A process's
 * target and capture (its debug info, indexes and the decoders' caches) are kept from one sample
 * to the next while it lives and runs the same executable: a sample re-attaches, it does not
 * reopen the debug info. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ai/async.h"
#include "ai/capture.h"
#include "ai/cli.h"
#include "ai/frontend.h"
#include "ai/live.h"
#include "ai/peers.h"
#include "ai/profile.h"
#include "ai/tui.h"
#include "ai/util.h"

/* Snapshots kept per process for the views (as for one process). */
#define HISTORY 8

struct ai_process_sampler {
	const struct ai_monitor_options *options;
	struct ai_async_options async_options;
	struct ai_live_set *set;  /* the TUI's model; NULL with --no-tui */
	const int *pids;
	size_t count;
	bool *ended;              /* per process: it exited or can no longer be read */
	char **end_reasons;       /* owned, per process, once ended */
	struct ai_target **held;  /* `p`: the processes attached and stopped while paused (owned) */
	struct ai_target **targets;   /* per process, owned: detached between samples, or NULL */
	struct ai_capture **captures; /* per process, owned, over targets[p]; NULL with it */
	unsigned long long *started;  /* per process: its start time (/proc/PID/stat), 0: unknown */
	bool read_any;            /* some process gave a snapshot: else the exit status says failure */
	/* serve --profile (ai_process_sampler_profile): per process, its live profile over
	 * captures[p] (closed before it), opened at its first snapshot, or why not */
	bool profile;
	unsigned sample_rate_hz;
	bool *profile_tried;
	struct ai_live_profile **profiles;
	char **no_profiles;
};

/* Whether the process is gone: no /proc entry, or a zombie its parent has not reaped. Else
 * *started_ret (when not NULL) is its start time since boot, in clock ticks (0: unknown): another
 * process given the same pid later starts later. */
static bool process_gone(int pid, unsigned long long *started_ret)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	char *stat = ai_read_small_file(path, NULL);
	/* The name (field 2) may hold spaces and parentheses: count from its last ')'. */
	const char *rest = stat ? strrchr(stat, ')') : NULL;
	bool gone = !rest || rest[1] == '\0' || rest[2] == 'Z' || rest[2] == 'X';
	unsigned long long started = 0;
	if (!gone && started_ret &&
	    sscanf(rest + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d %*d %*d %llu",
		   &started) != 1)
		started = 0;
	if (started_ret)
		*started_ret = started;
	free(stat);
	return gone;
}

/* Forgets process p's target and capture (detached already: it runs on), and its profile, which
 * borrows the capture's debug info (another one is opened at the next snapshot, if any). */
static void drop_target(struct ai_process_sampler *m, size_t p)
{
	if (m->profiles && m->profiles[p]) {
		ai_live_profile_close(m->profiles[p]);
		m->profiles[p] = NULL;
		m->profile_tried[p] = false;
	}
	ai_capture_destroy(m->captures[p]);
	ai_target_destroy(m->targets[p]);
	m->captures[p] = NULL;
	m->targets[p] = NULL;
}

/* Whether the executable of pid is still `exe` (an exec replaces it: its debug info then too). */
static bool same_executable(int pid, const char *exe)
{
	char link[64], buf[4096];
	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	ssize_t n = readlink(link, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	return exe && strcmp(buf, exe) == 0;
}

/* Process p attached, with its capture: the ones of the last sample, attached again, or new ones. */
static struct ai_error *attach_one(struct ai_process_sampler *m, size_t p)
{
	if (m->targets[p] && !same_executable(m->pids[p], m->targets[p]->exe_path))
		drop_target(m, p);
	if (m->targets[p]) {
		struct ai_error *err = ai_target_reattach(m->targets[p]);
		if (err)
			drop_target(m, p);
		return err;
	}
	struct ai_error *err = ai_target_attach(m->pids[p], &m->targets[p]);
	if (err)
		return err;
	if ((err = ai_capture_create(m->targets[p], &m->captures[p]))) {
		drop_target(m, p); /* detaches: it runs on */
		return err;
	}
	ai_capture_set_max_pause(m->captures[p], m->options->max_pause_us);
	return NULL;
}

static void end_process(struct ai_process_sampler *m, size_t p, const char *reason)
{
	if (m->ended[p])
		return;
	m->ended[p] = true;
	m->end_reasons[p] = xstrdup(reason);
	if (m->profile && !m->no_profiles[p])
		m->no_profiles[p] = xasprintf("no profile: the process has ended (%s)", reason);
	if (m->set)
		ai_live_set_end(m->set, p, reason);
}

/* One snapshot of process p: attached, read, detached. NULL when it has ended (or cannot be read:
 * it is then ended too, with the reason). */
static struct ai_snapshot *sample_one(struct ai_process_sampler *m, size_t p)
{
	if (m->ended[p])
		return NULL;
	unsigned long long started;
	if (process_gone(m->pids[p], &started) || (m->started[p] && started && started != m->started[p])) {
		end_process(m, p, "exited"); /* gone, or its pid is another process's now */
		drop_target(m, p);
		return NULL;
	}
	m->started[p] = started;
	struct ai_snapshot *snapshot = NULL;
	struct ai_error *err = attach_one(m, p);
	if (!err) {
		err = ai_capture_dump(m->captures[p], AI_CAPTURE_DETACH, &m->async_options, &snapshot);
		ai_target_detach(m->targets[p]); /* detached already, or now: it runs on without us */
	}
	if (err) {
		drop_target(m, p);
		bool exited = err->code == AI_ERROR_TARGET_EXITED || process_gone(m->pids[p], NULL);
		end_process(m, p, exited ? "exited" : err->message);
		ai_error_destroy(err);
		return NULL;
	}
	ai_snapshot_label_process(snapshot);
	m->read_any = true;
	return snapshot;
}

/* --profile: process p's probes, once its first snapshot has found the runtime's poll functions;
 * when refused, why (the others are profiled all the same). */
static void open_profile(struct ai_process_sampler *m, size_t p)
{
	if (!m->profile || m->profile_tried[p] || !m->captures[p])
		return;
	m->profile_tried[p] = true;
	free(m->no_profiles[p]);
	m->no_profiles[p] = NULL;
	struct ai_error *err = ai_live_profile_open(m->captures[p], m->pids[p], &m->profiles[p]);
	if (err) {
		fprintf(stderr, "async-inspect: process %d: no profile: %s\n", m->pids[p], err->message);
		m->no_profiles[p] = xasprintf("no profile: %s", err->message);
		ai_error_destroy(err);
		return;
	}
	if (m->sample_rate_hz &&
	    (err = ai_live_profile_sample(m->profiles[p], m->captures[p], m->sample_rate_hz))) {
		/* the columns stay; its flamegraph says why it has none */
		fprintf(stderr, "async-inspect: process %d: no flamegraph: %s\n", m->pids[p], err->message);
		ai_error_destroy(err);
	}
}

static size_t running(const struct ai_process_sampler *m)
{
	size_t n = 0;
	for (size_t p = 0; p < m->count; p++)
		n += !m->ended[p];
	return n;
}

/* ---- The TUI's source ---- */

static void multi_sample_set(void *arg, struct ai_live_set *set)
{
	struct ai_process_sampler *m = arg;
	struct ai_snapshot **snapshots = xcalloc(m->count, sizeof(*snapshots));
	for (size_t p = 0; p < m->count; p++)
		if ((snapshots[p] = sample_one(m, p)))
			open_profile(m, p);
	ai_live_set_add(set, snapshots);
	/* each profile into its process's newest tasks (the set took the snapshots) */
	for (size_t p = 0; m->profile && p < m->count; p++)
		if (set->members[p].sampled)
			ai_live_profile_apply(m->profiles[p], set->members[p].live);
	free(snapshots);
}

static struct ai_error *multi_run(void *arg, int timeout_ms, bool *exited_ret)
{
	struct ai_process_sampler *m = arg;
	/* Nothing is traced between samples: only time passes. A process that ends is seen at the
	 * next sample. With --profile the probes' buffers are read every 50 ms meanwhile. */
	for (int left = running(m) ? timeout_ms : 0; left > 0;) {
		int slice = m->profile ? AI_MIN(left, 50) : left;
		nanosleep(&(struct timespec){ slice / 1000, (long)(slice % 1000) * 1000000L }, NULL);
		left -= slice;
		if (m->profile)
			ai_process_sampler_read_profiles(m);
	}
	*exited_ret = running(m) == 0;
	return NULL;
}

static void release_held(struct ai_process_sampler *m)
{
	for (size_t p = 0; p < m->count; p++) {
		if (!m->held[p])
			continue;
		struct ai_error *err = ai_target_resume(m->held[p]);
		if (err)
			ai_error_destroy(err);
		ai_target_destroy(m->held[p]); /* detaches: it runs on */
		m->held[p] = NULL;
	}
}

/* `p`: every process still running is attached and stopped until resumed. */
static struct ai_error *multi_set_paused(void *arg, bool paused)
{
	struct ai_process_sampler *m = arg;
	if (!paused) {
		release_held(m);
		return NULL;
	}
	for (size_t p = 0; p < m->count; p++) {
		if (m->ended[p] || m->held[p])
			continue;
		struct ai_error *err = ai_target_attach(m->pids[p], &m->held[p]);
		if (!err && (err = ai_target_stop(m->held[p]))) {
			ai_target_destroy(m->held[p]);
			m->held[p] = NULL;
		}
		if (err) {
			release_held(m);
			return ai_error_wrap(err, "pausing process %d", m->pids[p]);
		}
	}
	return NULL;
}

/* ---- --no-tui: the text of dump every interval ---- */

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	interrupted = 1;
}

static void print_loop(struct ai_process_sampler *m)
{
	ai_catch_stop_signals(on_interrupt);
	struct ai_text_options text = { .color = ai_use_color(stdout), .locals = m->async_options.locals };
	uint64_t sample = 0;
	while (!interrupted && running(m)) {
		struct ai_process_set set;
		ai_process_set_init(&set);
		for (size_t p = 0; p < m->count && !interrupted; p++) {
			bool was_ended = m->ended[p];
			struct ai_snapshot *snapshot = sample_one(m, p);
			if (snapshot)
				ai_process_set_add(&set, snapshot);
			else if (!was_ended)
				printf("==== process %d has ended (%s); %s\n", m->pids[p], m->end_reasons[p],
				       running(m) ? "the others go on" : "none is left");
		}
		if (set.count) {
			ai_analysis_peers(&set);
			ai_name_outside_peers(&set);
			printf("==== snapshot %" PRIu64 " (%zu process%s)\n", ++sample, set.count,
			       set.count == 1 ? "" : "es");
			ai_print_processes_text(stdout, &set, &text);
		}
		fflush(stdout);
		ai_process_set_deinit(&set);
		uint64_t ms = m->options->interval_ms;
		if (!interrupted && running(m))
			nanosleep(&(struct timespec){ (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L }, NULL);
	}
}

struct ai_process_sampler *ai_process_sampler_create(const int *pids, size_t count,
						     const struct ai_monitor_options *options, struct ai_live_set *set)
{
	struct ai_process_sampler *m = xcalloc(1, sizeof(*m));
	m->options = options;
	m->pids = pids;
	m->count = count;
	m->set = set;
	ai_async_options_default(&m->async_options);
	m->async_options.locals = !options->no_locals;
	m->async_options.all_locals = !options->no_locals && options->all_locals;
	m->ended = xcalloc(count, sizeof(*m->ended));
	m->end_reasons = xcalloc(count, sizeof(*m->end_reasons));
	m->held = xcalloc(count, sizeof(*m->held));
	m->targets = xcalloc(count, sizeof(*m->targets));
	m->captures = xcalloc(count, sizeof(*m->captures));
	m->started = xcalloc(count, sizeof(*m->started));
	if (set)
		set->name_outside = ai_name_outside_peers; /* the TUI's details and serve name them too */
	ai_target_install_signal_handlers(); /* a crash while one is attached detaches it */
	return m;
}

void ai_process_sampler_profile(struct ai_process_sampler *m, unsigned rate_hz)
{
	if (m->profile)
		return;
	m->profile = true;
	m->sample_rate_hz = rate_hz;
	m->profile_tried = xcalloc(m->count, sizeof(*m->profile_tried));
	m->profiles = xcalloc(m->count, sizeof(*m->profiles));
	m->no_profiles = xcalloc(m->count, sizeof(*m->no_profiles));
}

void ai_process_sampler_read_profiles(struct ai_process_sampler *m)
{
	for (size_t p = 0; m->profile && p < m->count; p++)
		ai_live_profile_read(m->profiles[p]);
}

const struct ai_live_profile *ai_process_sampler_profile_of(const struct ai_process_sampler *m, size_t p,
							    const char **why_not)
{
	*why_not = m->profile && p < m->count ? m->no_profiles[p] : NULL;
	return m->profile && p < m->count ? m->profiles[p] : NULL;
}

void ai_process_sampler_sample(struct ai_process_sampler *m)
{
	multi_sample_set(m, m->set);
}

size_t ai_process_sampler_running(const struct ai_process_sampler *m)
{
	return running(m);
}

int ai_process_sampler_destroy(struct ai_process_sampler *m)
{
	release_held(m);
	size_t events = 0;
	for (size_t p = 0; m->profile && p < m->count; p++)
		events += ai_live_profile_event_count(m->profiles[p]);
	if (events && isatty(STDERR_FILENO))
		fprintf(stderr, "async-inspect: removing the profile's probes (%zu perf events, which the kernel "
			"unregisters one at a time)...\n", events);
	for (size_t p = 0; p < m->count; p++) {
		drop_target(m, p);
		if (m->ended[p])
			fprintf(stderr, "async-inspect: process %d has ended (%s)\n", m->pids[p], m->end_reasons[p]);
		free(m->end_reasons[p]);
		if (m->profile)
			free(m->no_profiles[p]);
	}
	free(m->profile_tried);
	free(m->profiles);
	free(m->no_profiles);
	int status = m->read_any ? AI_EXIT_OK : AI_EXIT_FAILURE; /* none could be read: each said why */
	free(m->end_reasons);
	free(m->ended);
	free(m->held);
	free(m->targets);
	free(m->captures);
	free(m->started);
	free(m);
	return status;
}

int ai_monitor_processes(const int *pids, size_t count, const struct ai_monitor_options *options)
{
	struct ai_live_set *set = NULL;
	if (options->tui) {
		pid_t *ids = xcalloc(count, sizeof(*ids));
		for (size_t p = 0; p < count; p++)
			ids[p] = pids[p];
		set = ai_live_set_create(ids, count, HISTORY);
		free(ids);
	}
	struct ai_process_sampler *m = ai_process_sampler_create(pids, count, options, set);
	if (set && options->profile)
		ai_process_sampler_profile(m, 0); /* the columns only: the TUI has no flamegraph */
	int status = AI_EXIT_OK;
	if (set) {
		struct ai_tui_source source = { .run = multi_run, .set_paused = multi_set_paused, .arg = m,
						.sample_set = multi_sample_set };
		struct ai_tui_options tui = {
			.interval_ms = options->interval_ms,
			.headless = getenv("AI_TUI_HEADLESS"),
			.keys = getenv("AI_TUI_KEYS"),
		};
		enum ai_tui_end end = AI_TUI_DETACH;
		struct ai_error *err = ai_tui_run_set(set, &source, &tui, &end);
		release_held(m); /* q while paused: they go on */
		if (err)
			status = ai_fail(err);
	} else {
		print_loop(m);
	}
	int sampled = ai_process_sampler_destroy(m);
	ai_live_set_destroy(set);
	return status == AI_EXIT_OK ? sampled : status;
}
