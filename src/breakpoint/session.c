/* The breakpoint loop: insert, run, and on each hit take a snapshot, find the task being polled
 * there, print it, and let the program go on; after --break-count hits remove them and detach. */
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include <capstone/capstone.h>

#include "ai/async.h"
#include "ai/breakpoint.h"
#include "ai/capture.h"
#include "ai/debuginfo.h"
#include "ai/frontend.h"
#include "ai/json_writer.h"
#include "ai/memory.h"
#include "ai/runtime.h"
#include "ai/util.h"

/* What the hits share: the history (--history, or NULL) and when the breakpoints went in. */
struct session {
	struct ai_break_history *history;
	uint64_t start_us;
};

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* The name of thread tid in the snapshot, or "". */
static const char *name_of_thread(const struct ai_snapshot *s, pid_t tid)
{
	for (size_t i = 0; i < s->thread_count; i++)
		if (s->threads[i].tid == tid && s->threads[i].name)
			return s->threads[i].name;
	return "";
}

/* The task part of a text record: its await chain as dump prints it and its history, or why it
 * is unknown (`missing` names what was looked for at address). */
static void print_task_part(struct session *ss, const struct ai_break_options *o, const struct ai_snapshot *s,
			    const struct ai_snapshot_task *task, const char *missing, uint64_t address)
{
	if (task) {
		struct ai_text_options text = { .color = o->color, .locals = o->locals };
		ai_print_task_text(stdout, s, task, &text);
		if (ss->history)
			ai_break_history_print(stdout, ss->history, task);
	} else {
		printf("  task: unknown (%s 0x%llx)\n", missing, (unsigned long long)address);
	}
	putchar('\n');
}

/* A JSON record's first members (format, version, hit, breakpoint) and, at the end, its task and
 * history; one line. */
static void begin_record_json(struct ai_json_writer *w, const struct ai_break_options *o,
			      const struct ai_break_site *site, uint64_t hit)
{
	ai_json_writer_init(w, stdout, false);
	ai_json_begin_object(w);
	ai_json_field_string(w, "format", "async-inspect-breakpoint-hit");
	ai_json_field_int(w, "version", 1);
	ai_json_field_uint(w, "hit", hit);
	ai_json_key(w, "breakpoint");
	ai_json_begin_object(w);
	ai_json_field_uint(w, "number", site->spec + 1);
	ai_json_field_string(w, "spec", o->specs[site->spec].text);
	ai_json_end_object(w);
}

static void end_record_json(struct session *ss, struct ai_json_writer *w, const struct ai_snapshot_task *task)
{
	ai_json_key(w, "task");
	if (task)
		ai_write_task_json(w, task);
	else
		ai_json_null(w);
	if (ss->history)
		ai_break_history_write_json(w, ss->history, task);
	ai_json_end_object(w);
	ai_json_writer_finish(w);
	putchar('\n');
}

static void print_text(struct session *ss, const struct ai_break_options *o, const struct ai_break_site *site, uint64_t hit,
		       const struct ai_snapshot *s, const struct ai_snapshot_task *task, uint64_t env, pid_t tid)
{
	const char *thread_name = name_of_thread(s, tid);
	printf("breakpoint %zu (%s) hit %llu: %s at %s:%u, thread %d \"%s\"\n", site->spec + 1,
	       o->specs[site->spec].text, (unsigned long long)hit, site->function, ai_short_path(site->file),
	       site->line, (int)tid, thread_name);
	print_task_part(ss, o, s, task, "no task's await tree holds the coroutine at", env);
}

static void print_json(struct session *ss, const struct ai_break_options *o, const struct ai_break_site *site, uint64_t hit,
		       const struct ai_snapshot_task *task, uint64_t env, pid_t tid)
{
	struct ai_json_writer w;
	begin_record_json(&w, o, site, hit);
	ai_json_field_string(&w, "function", site->function);
	ai_json_field_string(&w, "file", site->file);
	ai_json_field_uint(&w, "line", site->line);
	ai_json_field_int(&w, "thread", tid);
	ai_json_field_hex(&w, "coroutine", env);
	end_record_json(ss, &w, task);
}

/* The innermost frame of the hit thread in the program's own code: where it spawned the task. */
static const struct ai_snapshot_frame *own_frame(struct ai_capture *capture, const struct ai_snapshot *s, pid_t tid)
{
	for (size_t i = 0; i < s->thread_count; i++) {
		if (s->threads[i].tid != tid)
			continue;
		for (size_t f = 0; f < s->threads[i].frame_count; f++) {
			const struct ai_snapshot_frame *frame = &s->threads[i].frames[f];
			if (frame->file && frame->line && !ai_capture_is_dependency(capture, frame->file))
				return frame;
		}
	}
	return NULL;
}

static const char *event_name(const struct ai_break_spec *spec)
{
	return spec->kind == AI_BREAK_SPAWN ? "spawn" : "complete";
}

static void print_task_event_text(struct session *ss, const struct ai_break_options *o, const struct ai_break_site *site, uint64_t hit,
				  const struct ai_snapshot *s, const struct ai_snapshot_task *task,
				  const struct ai_snapshot_frame *at, uint64_t header, pid_t tid)
{
	const struct ai_break_spec *spec = &o->specs[site->spec];
	const char *thread_name = name_of_thread(s, tid);
	printf("breakpoint %zu (%s) hit %llu: ", site->spec + 1, spec->text, (unsigned long long)hit);
	if (task && task->has_id)
		printf("task %llu", (unsigned long long)task->id);
	else
		printf("a task");
	printf(" %s, thread %d \"%s\"\n", spec->kind == AI_BREAK_SPAWN ? "spawned" : "completed", (int)tid, thread_name);
	if (spec->kind == AI_BREAK_SPAWN) {
		if (at)
			printf("  spawned at %s:%d in %s\n", ai_short_path(at->file), at->line, at->function ? at->function : "?");
		else
			printf("  spawned at: unknown (no frame of the program's own code on thread %d)\n", (int)tid);
	}
	print_task_part(ss, o, s, task, "no task found at", header);
}

static void print_task_event_json(struct session *ss, const struct ai_break_options *o, const struct ai_break_site *site, uint64_t hit,
				  const struct ai_snapshot_task *task, const struct ai_snapshot_frame *at,
				  uint64_t header, pid_t tid)
{
	const struct ai_break_spec *spec = &o->specs[site->spec];
	struct ai_json_writer w;
	begin_record_json(&w, o, site, hit);
	ai_json_field_string(&w, "event", event_name(spec));
	ai_json_field_string(&w, "function", site->function);
	ai_json_field_int(&w, "thread", tid);
	ai_json_field_hex(&w, "header", header);
	if (spec->kind == AI_BREAK_SPAWN) {
		ai_json_key(&w, "spawned_at");
		if (at) {
			ai_json_begin_object(&w);
			ai_json_field_string(&w, "function", at->function ? at->function : "?");
			ai_json_field_string(&w, "file", at->file);
			ai_json_field_int(&w, "line", at->line);
			ai_json_end_object(&w);
		} else {
			ai_json_null(&w);
		}
	}
	end_record_json(ss, &w, task);
}

static const struct ai_snapshot_task *task_at(const struct ai_snapshot *s, uint64_t header)
{
	for (size_t i = 0; header && i < s->task_count; i++)
		if (s->tasks[i].address == header && s->tasks[i].kind && strcmp(s->tasks[i].kind, "task") == 0)
			return &s->tasks[i];
	return NULL;
}

/* A spawn or completion: the task is the one whose header the site's register (or the spawn
 * function's return value) holds; `spawn:FN` keeps only a task whose root future is FN. */
static struct ai_error *on_task_hit(struct session *ss, struct ai_target *target, struct ai_capture *capture,
				    const struct ai_break_options *o, const struct ai_break_site *site, uint64_t hit,
				    bool *warned, bool *counted_ret)
{
	*counted_ret = false;
	pid_t tid = target->hit_tid;
	struct user_regs_struct regs = target->hit_regs;
	struct ai_async_options async;
	ai_async_options_default(&async);
	async.locals = o->locals;
	async.all_locals = o->all_locals;
	struct ai_snapshot *snapshot;
	struct ai_error *err = ai_capture_dump(capture, AI_CAPTURE_KEEP_STOPPED, &async, &snapshot);
	if (err) {
		ai_error_destroy(ai_target_resume(target));
		return err;
	}
	uint64_t header = 0;
	const struct ai_snapshot_task *task = NULL;
	if (site->task_in_return) {
		/* A pair of pointers comes back in rax:rdx, either naming the task; a bigger value
		 * in the caller's memory, whose address rax returns (System V's sret). */
		uint64_t words[4] = { regs.rax, regs.rdx, 0, 0 };
		struct ai_error *read_err = ai_memory_read(target->memory, &words[2], regs.rax, 2 * sizeof(uint64_t));
		ai_error_destroy(read_err);
		for (int i = 0; i < (read_err ? 2 : 4) && !task; i++)
			if ((task = task_at(snapshot, words[i])))
				header = words[i];
		if (!task)
			header = regs.rax;
	} else if (ai_break_reg_value(&regs, site->env_reg, &header)) {
		task = task_at(snapshot, header);
	}
	const struct ai_break_spec *spec = &o->specs[site->spec];
	if (ss->history)
		ai_break_history_observe(ss->history, snapshot, task, spec->kind == AI_BREAK_COMPLETE, now_us() - ss->start_us);
	bool keep = true;
	if (spec->function) {
		const char *root = task ? (task->tree.function ? task->tree.function : task->future) : NULL;
		if (!task && !warned[site->spec])
			fprintf(stderr, "async-inspect: breakpoint %zu (%s): the task at 0x%llx is not known here: not a hit (said once)\n",
				site->spec + 1, spec->text, (unsigned long long)header);
		warned[site->spec] |= !task;
		keep = root && strcmp(root, spec->function) == 0;
	}
	if (keep && spec->cond) {
		struct ai_break_env cond_env = { task, task ? &task->tree : NULL };
		char *why = NULL;
		enum ai_break_truth truth = ai_break_cond_eval(spec->cond, &cond_env, &why);
		if (truth == AI_BREAK_UNKNOWN && !warned[site->spec])
			fprintf(stderr, "async-inspect: breakpoint %zu (%s): the condition is unknown here (%s): not a hit (said once)\n",
				site->spec + 1, spec->text, why ? why : "?");
		warned[site->spec] |= truth == AI_BREAK_UNKNOWN;
		free(why);
		keep = truth == AI_BREAK_TRUE;
	}
	if (keep) {
		*counted_ret = true;
		const struct ai_snapshot_frame *at = spec->kind == AI_BREAK_SPAWN ? own_frame(capture, snapshot, tid) : NULL;
		if (o->json)
			print_task_event_json(ss, o, site, hit, task, at, header, tid);
		else
			print_task_event_text(ss, o, site, hit, snapshot, task, at, header, tid);
		fflush(stdout);
	}
	ai_snapshot_destroy(snapshot);
	return ai_target_resume(target);
}

/* The first call of a spawn function through a call site: a TASK breakpoint at its return
 * address, for every spawn spec of that function, so that this call's return and every later
 * one through the same site are seen. */
static struct ai_error *arm_return(struct ai_target *target, struct ai_break_sites *sites, uint64_t bias)
{
	uint64_t ret = 0;
	struct ai_error *err = ai_memory_read(target->memory, &ret, target->hit_regs.rsp, sizeof(ret));
	if (err)
		return err;
	uint64_t vaddr = ret - bias;
	for (size_t i = 0; i < sites->count; i++)
		if (sites->items[i].kind == AI_SITE_TASK && sites->items[i].task_in_return && sites->items[i].vaddr == vaddr)
			return NULL; /* armed already */
	if ((err = ai_target_stop(target)) || (err = ai_target_insert_breakpoint(target, ret))) {
		ai_error_destroy(ai_target_resume(target));
		return err;
	}
	size_t count = sites->count;
	for (size_t i = 0; i < count; i++) {
		struct ai_break_site *call = &sites->items[i];
		if (call->kind != AI_SITE_CALL || call->vaddr + bias != target->hit_address)
			continue;
		AI_GROW(sites->items, sites->capacity, sites->count + 1);
		call = &sites->items[i];
		sites->items[sites->count++] = (struct ai_break_site){
			.spec = call->spec,
			.kind = AI_SITE_TASK,
			.task_in_return = true,
			.vaddr = vaddr,
			.function = xstrdup(call->function),
		};
	}
	return ai_target_resume(target);
}

/* The sites of the spawn and complete specs, at the functions the runtime adapters name. */
static struct ai_error *add_lifecycle_sites(struct ai_target *target, struct ai_capture *capture,
					    const struct ai_break_options *o, uint64_t bias,
					    struct ai_break_sites *sites)
{
	bool any = false;
	for (size_t i = 0; i < o->spec_count; i++)
		any |= o->specs[i].kind == AI_BREAK_SPAWN || o->specs[i].kind == AI_BREAK_COMPLETE;
	if (!any)
		return NULL;
	struct ai_async_options async; /* the decoder made here serves every hit's dump */
	ai_async_options_default(&async);
	async.locals = o->locals;
	async.all_locals = o->all_locals;
	struct ai_lifecycle_point *points;
	size_t count;
	struct ai_error *err = ai_capture_lifecycle_points(capture, &async, &points, &count);
	if (err)
		return err;
	static const int arg_regs[] = { X86_REG_RDI, X86_REG_RSI, X86_REG_RDX, X86_REG_RCX, X86_REG_R8, X86_REG_R9 };
	for (size_t i = 0; i < o->spec_count && !err; i++) {
		const struct ai_break_spec *spec = &o->specs[i];
		if (spec->kind != AI_BREAK_SPAWN && spec->kind != AI_BREAK_COMPLETE)
			continue;
		enum ai_lifecycle_kind want = spec->kind == AI_BREAK_SPAWN ? AI_LIFECYCLE_SPAWN : AI_LIFECYCLE_COMPLETE;
		size_t added = 0;
		for (size_t p = 0; p < count; p++) {
			if (points[p].kind != want || (!points[p].at_return && points[p].task_arg >= AI_ARRAY_SIZE(arg_regs)))
				continue;
			AI_GROW(sites->items, sites->capacity, sites->count + 1);
			sites->items[sites->count++] = (struct ai_break_site){
				.spec = i,
				.kind = points[p].at_return ? AI_SITE_CALL : AI_SITE_TASK,
				.vaddr = points[p].address - bias,
				.env_reg = points[p].at_return ? 0 : arg_regs[points[p].task_arg],
				.function = xstrdup(points[p].function),
			};
			added++;
		}
		if (!added)
			err = ai_error_create(AI_ERROR_INVALID_ARGUMENT,
					      "--break %s: no runtime in %s names a function its tasks %s through (not known for this runtime or its version)",
					      spec->text, target->exe_path ? target->exe_path : "the program",
					      want == AI_LIFECYCLE_SPAWN ? "are spawned" : "complete");
	}
	ai_lifecycle_points_free(points, count);
	return err;
}

/* Takes the snapshot of a hit and prints it, when the spec's condition (if any) holds: then
 * *counted_ret is true. */
static struct ai_error *on_hit(struct session *ss, struct ai_target *target, struct ai_capture *capture, const struct ai_break_options *o,
			       const struct ai_break_site *site, uint64_t env, uint64_t hit, bool *warned,
			       bool *counted_ret)
{
	*counted_ret = false;
	pid_t tid = target->hit_tid;
	struct ai_async_options async;
	ai_async_options_default(&async);
	async.locals = o->locals;
	async.all_locals = o->all_locals;
	struct ai_snapshot *snapshot;
	/* All-stop: every thread stays stopped until the record is out, so the program can neither
	 * move on nor end under the decoder, and its output after the hit comes after the record.
	 * The resume steps the hit thread over the int3. */
	struct ai_error *err = ai_capture_dump(capture, AI_CAPTURE_KEEP_STOPPED, &async, &snapshot);
	if (err) {
		ai_error_destroy(ai_target_resume(target));
		return err;
	}
	const struct ai_snapshot_task *task = ai_break_hit_task(snapshot, env, tid);
	const struct ai_break_spec *spec = &o->specs[site->spec];
	if (ss->history)
		ai_break_history_observe(ss->history, snapshot, task, false, now_us() - ss->start_us);
	if (spec->cond) {
		struct ai_break_env cond_env = { task, task ? ai_break_node_at(&task->tree, env) : NULL };
		char *why = NULL;
		enum ai_break_truth truth = ai_break_cond_eval(spec->cond, &cond_env, &why);
		/* Said once per breakpoint: it would be said at every pass. */
		if (truth == AI_BREAK_UNKNOWN && !warned[site->spec])
			fprintf(stderr, "async-inspect: breakpoint %zu (%s): the condition is unknown here (%s): not a hit (said once)\n",
				site->spec + 1, spec->text, why ? why : "?");
		warned[site->spec] |= truth == AI_BREAK_UNKNOWN;
		free(why);
		if (truth != AI_BREAK_TRUE) {
			ai_snapshot_destroy(snapshot);
			return ai_target_resume(target);
		}
	}
	*counted_ret = true;
	if (o->json)
		print_json(ss, o, site, hit, task, env, tid);
	else
		print_text(ss, o, site, hit, snapshot, task, env, tid);
	fflush(stdout);
	ai_snapshot_destroy(snapshot);
	return ai_target_resume(target);
}

static struct ai_error *insert_all(struct ai_target *target, struct ai_debuginfo *di, struct ai_capture *capture,
				   const struct ai_break_options *o, struct ai_break_sites *sites,
				   uint64_t *bias_ret)
{
	struct ai_error *err = ai_break_resolve(di, o->specs, o->spec_count, sites);
	if (err)
		return err;
	/* Looking an address of it up opens the executable's module, which computes its load bias. */
	struct ai_module *main = ai_debuginfo_main_module(di);
	if (ai_debuginfo_find_module(di, main->start) != main || main->error)
		return ai_error_create(AI_ERROR_OTHER, "cannot find where %s is loaded in process %d: %s", main->path,
				       (int)target->pid, main->error ? main->error : "not mapped");
	uint64_t bias = main->bias;
	if ((err = add_lifecycle_sites(target, capture, o, bias, sites)))
		return err;
	for (size_t i = 0; i < sites->count && !err; i++)
		err = ai_target_insert_breakpoint(target, sites->items[i].vaddr + bias);
	*bias_ret = bias;
	return err;
}

struct ai_error *ai_break_run(struct ai_target *target, const struct ai_break_options *o,
			      struct ai_break_result *result)
{
	memset(result, 0, sizeof(*result));
	struct ai_error *err = ai_target_stop(target);
	if (err)
		return err;
	struct ai_debuginfo *di = NULL;
	struct ai_capture *capture = NULL;
	struct ai_break_sites sites = { 0 };
	uint64_t bias = 0;
	err = ai_debuginfo_create(target, &di);
	if (!err)
		err = ai_debuginfo_check_rust(di);
	if (!err)
		err = ai_capture_create(target, &capture);
	if (!err)
		err = insert_all(target, di, capture, o, &sites, &bias);
	if (err) {
		/* Left stopped: a launched program is killed before it runs, an attached one
		 * detached, by the caller. */
		ai_target_remove_breakpoints(target);
		ai_capture_destroy(capture);
		ai_debuginfo_destroy(di);
		ai_break_sites_deinit(&sites);
		return err;
	}
	bool *warned = xcalloc(o->spec_count, sizeof(*warned));
	struct session ss = { .history = o->history ? ai_break_history_create() : NULL, .start_us = now_us() };
	if ((err = ai_target_resume(target)))
		goto out;
	while (!o->break_count || result->hits < o->break_count) {
		enum ai_run_event event;
		int status;
		if ((err = ai_target_run(target, -1, &event, &status)))
			break;
		if (event == AI_RUN_EXITED) {
			result->exited = true;
			result->status = status;
			break;
		}
		if (event != AI_RUN_BREAKPOINT)
			continue;
		for (size_t i = 0; i < sites.count; i++) {
			uint64_t env;
			if (sites.items[i].vaddr + bias != target->hit_address)
				continue;
			bool counted = false;
			if (sites.items[i].kind == AI_SITE_CALL)
				err = arm_return(target, &sites, bias);
			else if (sites.items[i].kind == AI_SITE_TASK)
				err = on_task_hit(&ss, target, capture, o, &sites.items[i], result->hits + 1, warned, &counted);
			else if (!ai_break_site_hit(target, &sites.items[i], &env))
				continue;
			else
				err = on_hit(&ss, target, capture, o, &sites.items[i], env, result->hits + 1, warned, &counted);
			result->hits += counted;
			break;
		}
		if (err)
			break;
	}
out:
	/* Every path out removes the int3s: detaching does, with every thread stopped. */
	if (!result->exited)
		ai_target_detach(target);
	free(warned);
	ai_break_history_destroy(ss.history);
	ai_capture_destroy(capture);
	ai_debuginfo_destroy(di);
	ai_break_sites_deinit(&sites);
	return err;
}
