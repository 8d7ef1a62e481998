/* The live view's profile columns (`attach` / `run --profile`): the probes of `profile` (the
 * runtime's poll, wake and release functions, uprobes.c) left in for as long as the view runs,
 * their events read between samples into one model (profile.c, without histograms, released tasks
 * forgotten at every sample so that it stays the size of the tasks alive), and at each sample
 * every task's polls per second, busy share of a core and mean scheduled time over the interval
 * since the last, into the live model. The target is never stopped for it. */
#include <stdlib.h>
#include <time.h>

#include "ai/capture.h"
#include "ai/live.h"
#include "ai/profile.h"
#include "ai/runtime.h"
#include "ai/util.h"

struct ai_live_profile {
	struct ai_uprobes *uprobes;
	struct ai_probe_point *points;
	size_t point_count;
	struct ai_profile *model;
	struct ai_profile_nesting nesting;
	uint64_t opened_ns;
	/* serve --profile's flamegraph: CPU samples, folded as `profile` folds them */
	unsigned rate_hz;
	struct ai_sample_folder *folder;
	struct ai_live_flame *flame;
	char *no_samples; /* why not, or NULL */
};

struct ai_error *ai_live_profile_open(struct ai_capture *capture, pid_t pid, struct ai_live_profile **ret)
{
	struct ai_live_profile *lp = xcalloc(1, sizeof(*lp));
	char *runtimes;
	ai_capture_probe_points(capture, &lp->points, &lp->point_count, &runtimes);
	struct ai_error *err = NULL;
	if (!lp->point_count) {
		err = ai_error_create(AI_ERROR_UNSUPPORTED, "no task poll function of a runtime async-inspect can "
				      "profile (tokio, async-task) was found in process %d", (int)pid);
		goto fail;
	}
	struct ai_uprobe_spec *specs = xcalloc(lp->point_count, sizeof(*specs));
	for (size_t i = 0; i < lp->point_count; i++)
		specs[i] = (struct ai_uprobe_spec){
			.path = lp->points[i].path, .offset = lp->points[i].offset,
			.ret = lp->points[i].kind == AI_PROBE_POLL, .arg = lp->points[i].task_arg,
		};
	err = ai_uprobes_open(specs, lp->point_count, pid, &lp->uprobes);
	free(specs);
	if (err)
		goto fail;
	if ((err = ai_uprobes_enable(lp->uprobes))) {
		ai_uprobes_close(lp->uprobes);
		goto fail;
	}
	lp->opened_ns = ai_now_ns();
	lp->model = ai_profile_create(pid, NULL, runtimes, lp->point_count, lp->opened_ns);
	lp->model->no_histograms = true;
	free(runtimes);
	*ret = lp;
	return NULL;
fail:
	free(runtimes);
	ai_probe_points_free(lp->points, lp->point_count);
	free(lp);
	return err;
}

/* Reads what the kernel buffered; returns the time up to which the model is complete: the
 * events after it may not all have been taken yet. */
static uint64_t read_events(struct ai_live_profile *lp)
{
	uint64_t horizon = ai_now_ns();
	horizon = horizon > AI_UPROBES_ORDER_MARGIN_NS ? horizon - AI_UPROBES_ORDER_MARGIN_NS : 0;
	struct ai_error *err = ai_uprobes_poll(lp->uprobes, 0);
	if (err) {
		ai_error_destroy(err); /* nothing read this time; the next read tries again */
		return horizon;
	}
	const struct ai_uprobe_event *events;
	size_t count;
	ai_uprobes_take(lp->uprobes, false, &events, &count);
	ai_profile_feed(lp->model, lp->points, &lp->nesting, lp->folder, events, count, UINT64_MAX);
	return horizon;
}

void ai_live_profile_read(struct ai_live_profile *lp)
{
	if (lp)
		read_events(lp);
}

void ai_live_profile_apply(struct ai_live_profile *lp, struct ai_live *live)
{
	const struct ai_snapshot *snapshot = ai_live_snapshot(live, 0);
	if (!lp || !snapshot)
		return;
	uint64_t now = read_events(lp);
	live->profiled = true;
	for (size_t i = 0; i < live->task_count && i < snapshot->task_count; i++) {
		struct ai_live_task *lt = &live->tasks[i];
		lt->has_profile = false;
		if (!ai_profile_measures(&snapshot->tasks[i]))
			continue;
		uint64_t polls = 0, busy = 0, sched = 0, sched_count = 0, first = lp->opened_ns;
		size_t t = ai_profile_task_index(lp->model, snapshot->tasks[i].address);
		if (t != SIZE_MAX) {
			const struct ai_profile_task *pt = &lp->model->tasks[t];
			polls = pt->polls;
			busy = ai_profile_task_busy_until(lp->model, t, now);
			sched = pt->scheduled_ns;
			sched_count = pt->scheduled_count;
			first = AI_MAX(first, pt->first_ns);
		}
		/* Counts since the last apply, or since the probes (or the task) began. */
		if (!lt->profile_seen) {
			lt->profile_polls = lt->profile_busy_ns = lt->profile_sched_ns = lt->profile_sched_count = 0;
			lt->profile_at_ns = first;
		}
		uint64_t span = now > lt->profile_at_ns ? now - lt->profile_at_ns : 0;
		/* A task gone and another at its address: counts back to zero, measured from its start. */
		if (polls < lt->profile_polls || busy < lt->profile_busy_ns || sched_count < lt->profile_sched_count) {
			lt->profile_polls = lt->profile_busy_ns = lt->profile_sched_ns = lt->profile_sched_count = 0;
			span = now > first ? now - first : 0;
		}
		if (span) {
			lt->has_profile = true;
			lt->polls_per_s = (double)(polls - lt->profile_polls) * 1e9 / (double)span;
			lt->busy_percent = (double)(busy - lt->profile_busy_ns) * 100.0 / (double)span;
			uint64_t n = sched_count - lt->profile_sched_count;
			lt->scheduled_mean_ns = n ? (sched - lt->profile_sched_ns) / n : 0;
		}
		lt->profile_seen = true;
		lt->profile_polls = polls;
		lt->profile_busy_ns = busy;
		lt->profile_sched_ns = sched;
		lt->profile_sched_count = sched_count;
		lt->profile_at_ns = now;
	}
	if (lp->flame)
		ai_live_flame_take(lp->flame, lp->model, snapshot, now);
	ai_profile_forget_released(lp->model);
}

struct ai_error *ai_live_profile_sample(struct ai_live_profile *lp, struct ai_capture *capture, unsigned rate_hz)
{
	/* The sampling events are opened disabled, as the probes were: enabling every event again
	 * starts them (the probes' are on already). */
	struct ai_error *err = ai_uprobes_open_sampling(lp->uprobes, rate_hz);
	if (!err)
		err = ai_uprobes_enable(lp->uprobes);
	if (err) {
		free(lp->no_samples);
		lp->no_samples = xstrdup(err->message);
		return err;
	}
	char *runtimes = xstrdup(lp->model->runtimes ? lp->model->runtimes : "");
	lp->folder = ai_sample_folder_create(ai_capture_debuginfo(capture), lp->model->pid, lp->points,
					     lp->point_count, runtimes, false);
	free(runtimes);
	lp->model->sample_rate = rate_hz;
	lp->rate_hz = rate_hz;
	lp->flame = ai_live_flame_create();
	return NULL;
}

void ai_live_profile_write_flame(FILE *out, const struct ai_live_profile *lp)
{
	if (lp && lp->flame)
		ai_live_flame_write(out, lp->flame, lp->rate_hz);
	else
		ai_live_flame_write_unavailable(out, lp && lp->no_samples ? lp->no_samples
				: "no CPU samples: the probes are in but sampling was not asked for");
}

void ai_live_profile_write_flames(FILE *out, const struct ai_live_profile *const *profiles, const char *const *why_not,
				  const int *pids, const char *const *commands, size_t count)
{
	struct ai_live_flame_part *parts = xcalloc(count ? count : 1, sizeof(*parts));
	char **labels = xcalloc(count ? count : 1, sizeof(*labels));
	unsigned rate_hz = 0;
	for (size_t k = 0; k < count; k++) {
		const struct ai_live_profile *lp = profiles[k];
		labels[k] = xasprintf("pid %d (%s)", pids[k], commands[k]);
		parts[k] = (struct ai_live_flame_part){
			.pid = pids[k], .label = labels[k], .flame = lp ? lp->flame : NULL,
			.reason = lp && lp->flame ? NULL : lp && lp->no_samples ? lp->no_samples
				  : !lp && why_not[k] ? why_not[k]
				  : lp ? "no CPU samples: the probes are in but sampling was not asked for"
				  : "no profile yet: its probes go in at its first snapshot",
		};
		if (lp && lp->flame)
			rate_hz = lp->rate_hz;
	}
	ai_live_flame_write_parts(out, parts, count, rate_hz);
	for (size_t k = 0; k < count; k++)
		free(labels[k]);
	free(labels);
	free(parts);
}

uint64_t ai_live_profile_lost(const struct ai_live_profile *lp)
{
	return lp ? ai_uprobes_lost(lp->uprobes) : 0;
}

size_t ai_live_profile_event_count(const struct ai_live_profile *lp)
{
	return lp ? ai_uprobes_event_count(lp->uprobes) : 0;
}

void ai_live_profile_close(struct ai_live_profile *lp)
{
	if (!lp)
		return;
	ai_uprobes_close(lp->uprobes);
	ai_sample_folder_destroy(lp->folder);
	ai_live_flame_destroy(lp->flame);
	free(lp->no_samples);
	ai_profile_destroy(lp->model);
	ai_probe_points_free(lp->points, lp->point_count);
	free(lp);
}
