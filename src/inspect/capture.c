/* One snapshot of a target's threads: stop, unwind every thread while it is stopped, let it go
 * (resume or detach), and copy what the user will see into plain snapshot data. */
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include "ai/analysis.h"
#include "ai/async.h"
#include "ai/capture.h"
#include "ai/debuginfo.h"
#include "ai/elf_file.h"
#include "ai/memory.h"
#include "ai/runtime.h"
#include "ai/unwind.h"
#include "ai/util.h"
#include "ai/wait.h"

struct ai_capture {
	struct ai_target *target;  /* borrowed */
	struct ai_debuginfo *di;   /* owned */
	struct ai_async *as;       /* owned, created on the first dump: its type cache serves every
				    * later snapshot */
	size_t modules_seen;       /* the target's modules when the runtime's module was chosen */
	uint64_t max_pause_us;     /* --max-pause, 0: none */
	uint64_t cursor;           /* where the next capped copy starts (see ai_memory_freeze_capped) */
	ai_capture_progress_fn *progress; /* borrowed, with progress_arg; NULL: none */
	void *progress_arg;
	struct ai_capture_progress state; /* what the next progress call reports */
};

void ai_capture_set_max_pause(struct ai_capture *capture, uint64_t max_pause_us)
{
	capture->max_pause_us = max_pause_us;
}

void ai_capture_set_progress(struct ai_capture *capture, ai_capture_progress_fn *progress, void *arg)
{
	capture->progress = progress;
	capture->progress_arg = arg;
}

static void report(struct ai_capture *capture, enum ai_capture_progress_event event)
{
	if (!capture->progress)
		return;
	capture->state.event = event;
	capture->state.stopped_us = ai_now_us() - capture->target->stopped_at_us;
	capture->progress(&capture->state, capture->progress_arg);
}

static void on_chunk_copied(uint64_t bytes_copied, void *arg)
{
	struct ai_capture *capture = arg;
	capture->state.bytes_read = bytes_copied;
	report(capture, AI_CAPTURE_READING);
}

/* Time kept from the cap for resuming every thread after the copy. */
#define RESUME_RESERVE_US 300

/* Whether every await-tree node's future lies in memory the capped freeze copied. */
static bool tree_copied(const struct ai_memory *mem, const struct ai_await_node *node, unsigned depth)
{
	if (depth > 1024 || (node->address && !ai_memory_copied(mem, node->address, 1)))
		return false;
	for (size_t i = 0; i < node->child_count; i++)
		if (!tree_copied(mem, &node->children[i], depth + 1))
			return false;
	return true;
}

/* --max-pause: a task is sampled when its header and the futures of its await tree were all in
 * the copy; the others were (at least partly) read live after the target resumed. */
static void mark_read_live(const struct ai_memory *mem, struct ai_snapshot *snapshot)
{
	snapshot->tasks_sampled = 0;
	for (size_t i = 0; i < snapshot->task_count; i++) {
		struct ai_snapshot_task *t = &snapshot->tasks[i];
		t->read_live = (t->address && !ai_memory_copied(mem, t->address, 8)) || !tree_copied(mem, &t->tree, 0);
		snapshot->tasks_sampled += !t->read_live;
	}
}

/* Decodes the module holding the async runtime (ai_runtimes_choose_module): chosen again while it
 * is the executable and modules were mapped since (a plugin dlopen()ed after the last capture). */
static void choose_module(struct ai_capture *capture)
{
	size_t count = 0;
	while (ai_debuginfo_module_at(capture->di, count))
		count++;
	if (capture->modules_seen && (count == capture->modules_seen ||
				      capture->as->module != ai_debuginfo_main_module(capture->di)))
		return;
	capture->modules_seen = count;
	ai_runtimes_choose_module(capture->as);
}

struct ai_error *ai_capture_create(struct ai_target *target, struct ai_capture **ret)
{
	struct ai_debuginfo *di;
	struct ai_error *err = ai_debuginfo_create(target, &di);
	if (err)
		return err;
	err = ai_debuginfo_check_rust(di);
	if (err && target->kind == AI_TARGET_LIVE && !target->maps.count &&
	    !ai_maps_read(target->pid, &target->maps)) {
		/* Not stopped yet: a C host of a Rust library (an extension, a plugin) is told from
		 * its mapped modules, which /proc/PID/maps lists without a stop. */
		ai_error_destroy(err);
		ai_debuginfo_refresh(di);
		err = ai_debuginfo_check_rust(di);
	}
	if (err && err->code == AI_ERROR_UNSUPPORTED && target->launched) {
		/* Launched, it may not have loaded its Rust library yet. */
		struct ai_error *said = ai_error_create(err->code, "%s, nor is a library it has loaded so far (one it loads later with dlopen is not searched: attach once it is loaded)",
							err->message);
		ai_error_destroy(err);
		err = said;
	}
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
	ai_async_destroy(capture->as);
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
	else if (release == AI_CAPTURE_RESUME)
		ai_target_resume(target);
}

/* Stops the target and fills the snapshot's threads; the unwound stacks are kept in *stacks_ret
 * (one per target thread, same order) for the async decoders. */
static struct ai_error *capture_stacks(struct ai_capture *capture, bool symbolize,
				       struct ai_snapshot **snapshot_ret, struct ai_stack **stacks_ret)
{
	struct ai_target *target = capture->target;
	struct ai_error *err = ai_target_stop(target);
	if (err)
		return err;
	ai_debuginfo_refresh(capture->di);
	struct ai_snapshot *snapshot = ai_snapshot_create();
	snapshot->pid = target->pid;
	snapshot->exe = dup_or_null(target->exe_path);
	snapshot->core = dup_or_null(target->core_path);
	snapshot->captured_at_ms = wall_clock_ms();
	if (target->warning)
		ai_snapshot_add_warning(snapshot, "%s", target->warning);
	struct ai_stack *stacks = xcalloc(target->thread_count, sizeof(*stacks));
	for (size_t i = 0; i < target->thread_count; i++) {
		const struct ai_thread *thread = &target->threads[i];
		struct ai_snapshot_thread *st = ai_snapshot_add_thread(snapshot);
		st->tid = thread->tid;
		st->name = xstrdup(thread->name);
		st->state = thread->state;
		err = symbolize ? ai_unwind_thread(capture->di, thread, &stacks[i])
				: ai_unwind_thread_unsymbolized(capture->di, thread, &stacks[i]);
		if (err) {
			st->stack_error = xstrdup(err->message);
			ai_error_destroy(err);
			continue;
		}
		if (symbolize)
			copy_stack(st, &stacks[i]);
	}
	*snapshot_ret = snapshot;
	*stacks_ret = stacks;
	return NULL;
}

static void free_stacks(struct ai_stack *stacks, size_t count)
{
	for (size_t i = 0; i < count; i++)
		ai_stack_deinit(&stacks[i]);
	free(stacks);
}

struct ai_error *ai_capture_threads(struct ai_capture *capture, enum ai_capture_release release,
				    struct ai_snapshot **ret)
{
	struct ai_target *target = capture->target;
	struct ai_snapshot *snapshot;
	struct ai_stack *stacks;
	/* Only the unwinding needs the target stopped; naming the frames needs only the files. */
	struct ai_error *err = capture_stacks(capture, false, &snapshot, &stacks);
	size_t thread_count = target->thread_count;
	release_target(target, release);
	if (err)
		return err;
	for (size_t i = 0; i < thread_count; i++) {
		ai_stack_symbolize(capture->di, &stacks[i]);
		copy_stack(&snapshot->threads[i], &stacks[i]);
	}
	free_stacks(stacks, thread_count);
	snapshot->pause_us = target->kind == AI_TARGET_LIVE ? target->last_pause_us : 0;
	*ret = snapshot;
	return NULL;
}

/* Writable memory we copy to let the target go before decoding; beyond it, we decode with the
 * target stopped. */
#define FREEZE_MAX_BYTES ((uint64_t)512 << 20)

struct ai_error *ai_capture_dump(struct ai_capture *capture, enum ai_capture_release release,
				 const struct ai_async_options *options, struct ai_snapshot **ret)
{
	struct ai_target *target = capture->target;
	struct ai_error *err = NULL;
	if (!capture->as) {
		err = ai_async_create(target, capture->di, options, &capture->as);
		if (err) {
			release_target(target, release);
			return err;
		}
	}
	struct ai_snapshot *snapshot;
	struct ai_stack *stacks;
	err = capture_stacks(capture, false, &snapshot, &stacks);
	size_t thread_count = target->thread_count;
	if (err) {
		release_target(target, release);
		return err;
	}
	choose_module(capture);
	const char *crate;
	for (size_t i = 0; (crate = ai_user_code_unknown_crate(capture->as->user_code, i)); i++)
		ai_snapshot_add_warning(snapshot, "--user-crate %s: no crate of that name in the debug info of %s",
					crate, target->exe_path);
	/* tokio's Instant is CLOCK_MONOTONIC, one clock for every process: read it while the target
	 * is stopped, for the time left on its timers. */
	if (target->kind == AI_TARGET_LIVE) {
		snapshot->has_monotonic = true;
		snapshot->monotonic_ns = (int64_t)ai_now_ns();
	}
	/* Copy the writable memory (heap, stacks) and let the target run while we decode from the
	 * copy. It stays attached until the end so that read-only memory (vtables, relocated data)
	 * can still be read; a one-shot command then detaches with a second, brief stop. */
	uint64_t pause_us = 0, in_use = 0, capped_pause_us = 0;
	bool frozen = false, on_demand = false;
	struct ai_memory_freeze_stats capped = { 0 };
	if (target->kind == AI_TARGET_LIVE) {
		uint64_t bytes, *sps = xcalloc(thread_count, sizeof(*sps));
		for (size_t i = 0; i < thread_count; i++)
			sps[i] = target->threads[i].regs.rsp;
		struct ai_error *freeze_err = NULL;
		if (capture->max_pause_us) {
			snapshot->stop_us = ai_now_us() - target->stopped_at_us;
			uint64_t budget = capture->max_pause_us > RESUME_RESERVE_US ? capture->max_pause_us - RESUME_RESERVE_US : 0;
			freeze_err = ai_memory_freeze_capped(target->memory, &target->maps, sps, thread_count,
							     target->stopped_at_us + budget, &capture->cursor, &capped);
		} else {
			freeze_err = ai_memory_freeze(target->memory, &target->maps, sps, thread_count,
						      FREEZE_MAX_BYTES, &bytes);
			if (freeze_err && freeze_err->code == AI_ERROR_UNSUPPORTED) {
				/* Too much in use; counted again for the warning, as the pause is long now. */
				in_use = ai_memory_writable_in_use(target->memory, &target->maps, sps, thread_count);
				on_demand = true;
			}
		}
		free(sps);
		frozen = !on_demand && freeze_err == NULL;
		ai_error_destroy(freeze_err);
		if (on_demand) {
			/* Too much to copy up front: decode with the target stopped, copying what the
			 * decoders read as they read it, and say so before the long pause begins. */
			capture->state = (struct ai_capture_progress){ .pid = target->pid, .writable_bytes = in_use,
								      .limit_bytes = FREEZE_MAX_BYTES };
			report(capture, AI_CAPTURE_LONG_PAUSE);
			ai_memory_freeze_on_demand(target->memory, &target->maps, FREEZE_MAX_BYTES,
						   capture->progress ? on_chunk_copied : NULL, capture);
		}
		if (frozen && release == AI_CAPTURE_KEEP_STOPPED) {
			frozen = false; /* decoded from the stopped target itself: the copy is not needed */
		} else if (frozen) {
			ai_target_resume(target);
			pause_us = capped_pause_us = target->last_pause_us;
			/* What the capped copy left out is read live: through the page cache, one read
			 * per page rather than one per field (a page may then be older than the next,
			 * as it would be anyway; the thaw drops them). */
			if (capture->max_pause_us)
				ai_memory_set_caching(target->memory, true);
		}
	}
	for (size_t i = 0; i < thread_count; i++) {
		ai_stack_symbolize(capture->di, &stacks[i]);
		copy_stack(&snapshot->threads[i], &stacks[i]);
	}
	/* Every runtime's tasks first, then the futures block_on drives, as the user reads them. */
	err = ai_runtimes_collect(capture->as, stacks, snapshot);
	if (!err)
		err = ai_roots_collect(capture->as, stacks, snapshot);
	/* A task is named by the span its root future runs in. */
	for (size_t i = 0; !err && i < snapshot->task_count; i++)
		if (!snapshot->tasks[i].name && snapshot->tasks[i].tree.span)
			snapshot->tasks[i].name = xstrdup(snapshot->tasks[i].tree.span);
	/* Why each future waits and what each task holds (reads the frozen memory), then the
	 * wait-for graph, which needs only the snapshot. */
	if (!err) {
		ai_wait_collect(capture->as, snapshot);
		ai_analysis_deadlocks(snapshot);
	}
	if (!err && frozen && capture->max_pause_us) {
		snapshot->max_pause_us = capture->max_pause_us;
		mark_read_live(target->memory, snapshot);
	}
	free_stacks(stacks, thread_count);
	uint64_t read_on_demand = ai_memory_on_demand_bytes(target->memory);
	ai_memory_thaw(target->memory);
	if (frozen && capture->max_pause_us)
		ai_memory_set_caching(target->memory, false);
	if (release == AI_CAPTURE_DETACH || !frozen) {
		release_target(target, release);
		if (target->kind == AI_TARGET_LIVE && release != AI_CAPTURE_KEEP_STOPPED)
			pause_us += target->last_pause_us;
	}
	if (on_demand) {
		capture->state.bytes_read = read_on_demand;
		report(capture, AI_CAPTURE_RESUMED);
	}
	if (err) {
		ai_snapshot_destroy(snapshot);
		return err;
	}
	snapshot->pause_us = pause_us;
	/* The cap is on the stop that copies; a one-shot command's detach is a second, brief one. */
	if (snapshot->max_pause_us && capped_pause_us > snapshot->max_pause_us)
		ai_snapshot_add_warning(snapshot, "the pause (%.1f ms) passed the --max-pause cap (%.1f ms): stopping and unwinding the threads took %.1f ms of it",
					(double)capped_pause_us / 1000.0, (double)snapshot->max_pause_us / 1000.0,
					(double)snapshot->stop_us / 1000.0);
	if (snapshot->max_pause_us && release == AI_CAPTURE_DETACH && capped.bytes_copied < capped.bytes_total)
		ai_snapshot_add_warning(snapshot, "--max-pause %.1f ms: the process resumed after %.1f of its %.1f MiB of writable memory were copied; what the rest held was read live after it resumed, and %zu of %zu tasks needed some of it (marked \"read live\": they may have moved on since)",
					(double)snapshot->max_pause_us / 1000.0, (double)capped.bytes_copied / (1 << 20),
					(double)capped.bytes_total / (1 << 20), snapshot->task_count - snapshot->tasks_sampled,
					snapshot->task_count);
	if (on_demand)
		ai_snapshot_add_warning(snapshot, "process %d has %.0f MiB of writable memory in use, more than the %.0f MiB copied to let it run while decoding: it stayed stopped for %.2f s while it was decoded (%.1f MiB read); --max-pause caps the pause",
					(int)target->pid, (double)in_use / (1 << 20), (double)FREEZE_MAX_BYTES / (1 << 20),
					(double)pause_us / 1e6, (double)read_on_demand / (1 << 20));
	*ret = snapshot;
	return NULL;
}

struct ai_error *ai_capture_lifecycle_points(struct ai_capture *capture, const struct ai_async_options *options,
					     struct ai_lifecycle_point **points_ret, size_t *count_ret)
{
	*points_ret = NULL;
	*count_ret = 0;
	if (!capture->as) {
		struct ai_error *err = ai_async_create(capture->target, capture->di, options, &capture->as);
		if (err)
			return err;
	}
	choose_module(capture);
	ai_runtimes_lifecycle_points(capture->as, points_ret, count_ret);
	return NULL;
}

bool ai_capture_has_runtime(struct ai_capture *capture)
{
	return capture->as && ai_runtimes_detected(capture->as);
}

struct ai_types *ai_capture_types(struct ai_capture *capture)
{
	return capture->as ? capture->as->types : NULL;
}

struct ai_module *ai_capture_module(struct ai_capture *capture)
{
	return capture->as ? capture->as->module : NULL;
}

struct ai_debuginfo *ai_capture_debuginfo(struct ai_capture *capture)
{
	return capture->di;
}

bool ai_capture_is_dependency(const struct ai_capture *capture, const char *file)
{
	return !capture->as || ai_user_code_is_dependency(capture->as->user_code, file);
}

void ai_capture_probe_points(struct ai_capture *capture, struct ai_probe_point **points_ret,
			     size_t *count_ret, char **runtimes_ret)
{
	if (!capture->as) {
		*points_ret = NULL;
		*count_ret = 0;
		*runtimes_ret = xstrdup("");
		return;
	}
	struct ai_probe_point *points;
	size_t count, kept = 0;
	ai_runtimes_probe_points(capture->as, &points, &count, runtimes_ret);
	/* uprobes are placed by file and offset: the PT_LOAD segment that maps the address says it. */
	for (size_t i = 0; i < count; i++) {
		struct ai_module *module = ai_debuginfo_find_module(capture->di, points[i].address);
		const struct ai_elf_file *elf = module && !module->error ? module->elf : NULL;
		uint64_t vaddr = elf ? points[i].address - module->bias : 0;
		for (size_t s = 0; elf && s < elf->phnum && !points[i].path; s++) {
			const GElf_Phdr *ph = &elf->phdrs[s];
			if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X) && vaddr >= ph->p_vaddr &&
			    vaddr < ph->p_vaddr + ph->p_filesz) {
				points[i].path = xstrdup(module->path);
				points[i].offset = vaddr - ph->p_vaddr + ph->p_offset;
			}
		}
		if (points[i].path) {
			points[kept++] = points[i];
		} else {
			free(points[i].function);
			free(points[i].future);
		}
	}
	*points_ret = points;
	*count_ret = kept;
}
