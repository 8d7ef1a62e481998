/* One snapshot of a target's threads: stop, unwind every thread while it is stopped, let it go
 * (resume or detach), and copy what the user will see into plain snapshot data. */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "ai/capture.h"
#include "ai/debuginfo.h"
#include "ai/unwind.h"
#include "ai/util.h"

struct ai_capture {
	struct ai_target *target;  /* borrowed */
	struct ai_debuginfo *di;   /* owned */
};

struct ai_error *ai_capture_create(struct ai_target *target, struct ai_capture **ret)
{
	struct ai_debuginfo *di;
	struct ai_error *err = ai_debuginfo_create(target, &di);
	if (err)
		return err;
	err = ai_debuginfo_check_rust(di);
	if (err) {
		ai_debuginfo_destroy(di);
		return err;
	}
	struct ai_capture *capture = xcalloc(1, sizeof(*capture));
	capture->target = target;
	capture->di = di;
	*ret = capture;
	return NULL;
}

void ai_capture_destroy(struct ai_capture *capture)
{
	if (!capture)
		return;
	ai_debuginfo_destroy(capture->di);
	free(capture);
}

static char *dup_or_null(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

static void copy_stack(struct ai_snapshot_thread *out, const struct ai_stack *stack)
{
	for (size_t i = 0; i < stack->count; i++) {
		const struct ai_frame *f = &stack->frames[i];
		struct ai_snapshot_frame *sf = ai_snapshot_thread_add_frame(out);
		sf->pc = f->pc;
		sf->cfa = f->cfa;
		sf->function = dup_or_null(f->location.function ? f->location.function : f->symbol);
		sf->file = dup_or_null(f->location.file);
		sf->line = (int)f->location.line;
		sf->module = dup_or_null(f->module ? f->module->path : NULL);
		sf->inlined = f->inlined;
	}
	out->stack_error = dup_or_null(stack->stop_reason);
}

static int64_t wall_clock_ms(void)
{
	struct timeval tv;
	gettimeofday(&tv, NULL);
	return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

static void release_target(struct ai_target *target, enum ai_capture_release release)
{
	if (release == AI_CAPTURE_DETACH)
		ai_target_detach(target);
	else
		ai_target_resume(target);
}

struct ai_error *ai_capture_threads(struct ai_capture *capture, enum ai_capture_release release,
				    struct ai_snapshot **ret)
{
	struct ai_target *target = capture->target;
	struct ai_error *err = ai_target_stop(target);
	if (err) {
		release_target(target, release);
		return err;
	}
	ai_debuginfo_refresh(capture->di);
	struct ai_snapshot *snapshot = ai_snapshot_create();
	snapshot->pid = target->pid;
	snapshot->exe = dup_or_null(target->exe_path);
	snapshot->core = dup_or_null(target->core_path);
	snapshot->captured_at_ms = wall_clock_ms();
	for (size_t i = 0; i < target->thread_count; i++) {
		const struct ai_thread *thread = &target->threads[i];
		struct ai_snapshot_thread *st = ai_snapshot_add_thread(snapshot);
		st->tid = thread->tid;
		st->name = xstrdup(thread->name);
		st->state = thread->state;
		struct ai_stack stack;
		err = ai_unwind_thread(capture->di, thread, &stack);
		if (err) {
			st->stack_error = xstrdup(err->message);
			ai_error_destroy(err);
			continue;
		}
		copy_stack(st, &stack);
		ai_stack_deinit(&stack);
	}
	release_target(target, release);
	snapshot->pause_us = target->kind == AI_TARGET_LIVE ? target->last_pause_us : 0;
	*ret = snapshot;
	return NULL;
}
