/* The events of the probes (uprobes.c) into a profile's model (profile.c): each event's probe
 * point says what it means (a poll begins or ends, a wake, a release); CPU samples are unwound
 * and folded (samples.c) for the task their thread polls. Used by `profile` and by the live
 * view's profile columns (live_profile.c). */
#include "ai/profile.h"
#include "ai/runtime.h"
#include "ai/util.h"

/* Whether event e is the inner half of a nested wake (and is to be skipped): a wake that may call
 * another wake of the same task (ai_probe_point.wake_nests) makes the thread's next event, a wake
 * of that task, the same wake. Few threads wake at once. */
static bool nested_wake(struct ai_profile_nesting *n, const struct ai_probe_point *pt, const struct ai_uprobe_event *e)
{
	bool inner = false;
	for (size_t i = 0; i < n->count; i++) {
		if (n->open[i].tid != e->tid)
			continue;
		inner = pt->kind == AI_PROBE_WAKE && n->open[i].task == e->arg;
		n->open[i] = n->open[--n->count];
		break;
	}
	if (!inner && pt->kind == AI_PROBE_WAKE && pt->wake_nests && n->count < AI_ARRAY_SIZE(n->open)) {
		n->open[n->count].tid = e->tid;
		n->open[n->count++].task = e->arg;
	}
	return inner;
}

void ai_profile_feed(struct ai_profile *profile, const struct ai_probe_point *points, struct ai_profile_nesting *nesting,
		     struct ai_sample_folder *folder, const struct ai_uprobe_event *events, size_t count, uint64_t until)
{
	for (size_t i = 0; i < count; i++) {
		const struct ai_uprobe_event *e = &events[i];
		if (e->time_ns > until)
			break; /* (in time order) */
		if (e->sample) {
			if (!folder || e->time_ns < profile->start_ns)
				continue;
			bool chain;
			char *frames = ai_sample_folder_fold(folder, e->sample, e->tid,
							     ai_profile_polling(profile, e->tid), &chain);
			ai_profile_sample(profile, e->time_ns, e->tid, frames, chain);
			continue;
		}
		const struct ai_probe_point *pt = &points[e->probe];
		if (nested_wake(nesting, pt, e))
			continue;
		enum ai_profile_event_kind kind;
		switch (pt->kind) {
		case AI_PROBE_POLL:
			kind = e->ret ? AI_PROFILE_POLL_END : AI_PROFILE_POLL_BEGIN;
			break;
		case AI_PROBE_WAKE:
			kind = AI_PROFILE_WAKE;
			break;
		default:
			kind = AI_PROFILE_RELEASE;
			break;
		}
		ai_profile_event(profile, kind, e->time_ns, e->tid, e->arg, pt->future);
	}
}
