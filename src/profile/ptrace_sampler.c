/* `profile` without perf events (perf_event_open refused, or --sampler ptrace): CPU samples taken
 * by stopping the program. Each round attaches again to the kept target (ai_target_reattach: its
 * debug info and decoders serve from one round to the next), takes a snapshot of every thread and
 * task (ai_capture_dump without locals, the pause as dump's, --max-pause capping it), and lets it
 * go (a detach: between rounds the program runs untraced). Then, off the program's time:
 *
 * - a thread that was running (its scheduler state 'R' before the stop: on a CPU or waiting for
 *   one, as perf's cpu-clock would have caught it) is one sample; one asleep is not;
 * - the task it polls is the one the runtime's adapter found it polling (the snapshot task's
 *   `thread`, from the runtime's own record of each worker's current task);
 * - its native stack, unwound and symbolized by the capture, is folded as a perf sample's is
 *   (samples.c), so the flame formats draw the same async-aware stacks.
 *
 * Nothing is known of polls, wakes or scheduled time this way: the model says so
 * (ai_profile.ptrace_sampled); busy time is estimated from the samples at finish. */
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/capture.h"
#include "ai/profile.h"
#include "ai/unwind.h"
#include "ai/util.h"

/* A snapshot thread's frames as an unwound stack (names borrowed from the snapshot, no module:
 * samples.c then matches the poll functions by name). */
static void stack_of(const struct ai_snapshot_thread *th, struct ai_stack *stack)
{
	stack->frames = xcalloc(th->frame_count ? th->frame_count : 1, sizeof(*stack->frames));
	stack->count = th->frame_count;
	for (size_t i = 0; i < th->frame_count; i++) {
		const struct ai_snapshot_frame *f = &th->frames[i];
		stack->frames[i] = (struct ai_frame){
			.pc = f->pc, .cfa = f->cfa, .inlined = f->inlined,
			.location = { .function = f->function, .file = f->file,
				      .line = f->line > 0 ? (uint32_t)f->line : 0, .inlined = f->inlined },
		};
	}
	stack->stop_reason = th->stack_error; /* (only read) */
}

/* The task thread tid polls in the snapshot, one the profile measures, or NULL. */
static const struct ai_snapshot_task *polled_by(const struct ai_snapshot *snap, pid_t tid)
{
	for (size_t i = 0; i < snap->task_count; i++)
		if (snap->tasks[i].thread == tid && ai_profile_measures(&snap->tasks[i]))
			return &snap->tasks[i];
	return NULL;
}

struct ai_error *ai_ptrace_sample(struct ai_capture *capture, struct ai_target *target,
				  struct ai_sample_folder *folder, struct ai_profile *profile)
{
	struct ai_error *err = ai_target_reattach(target);
	if (err)
		return err;
	struct ai_async_options options;
	ai_async_options_default(&options);
	options.locals = false; /* a sample needs stacks and which task each thread polls */
	uint64_t time_ns = ai_now_us() * 1000u;
	struct ai_snapshot *snap;
	if ((err = ai_capture_dump(capture, AI_CAPTURE_DETACH, &options, &snap)))
		return err;
	uint64_t pause = target->last_pause_us;
	profile->ptrace_rounds++;
	profile->pause_total_us += pause;
	profile->pause_max_us = AI_MAX(profile->pause_max_us, pause);
	for (size_t i = 0; i < snap->thread_count; i++) {
		const struct ai_snapshot_thread *th = &snap->threads[i];
		if (th->state != 'R')
			continue; /* asleep: no CPU time to sample */
		const struct ai_snapshot_task *task = polled_by(snap, th->tid);
		struct ai_stack stack;
		stack_of(th, &stack);
		bool chain;
		char *frames = ai_sample_folder_fold_stack(folder, &stack, task != NULL, &chain);
		free(stack.frames);
		ai_profile_sample_task(profile, time_ns, (uint32_t)th->tid, task ? task->address : 0, frames, chain);
	}
	ai_snapshot_destroy(snap);
	return NULL;
}
