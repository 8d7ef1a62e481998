/* The breakpoint session: inserts the breakpoints, and at each stop on one takes an all-stop
 * snapshot, finds the task being polled there and checks the spec's condition: a hit goes to the
 * caller (the printer of printer.c, or the TUI) with the target stopped; anything else lets the
 * program go on. After --break-count hits the breakpoints are removed.
 *
 * A FILE:LINE or FN spec that no module mapped at the start has waits for the libraries the
 * program loads later, as gdb's pending breakpoints do: an int3 on the dynamic linker's r_brk
 * (rendezvous.c) stops the program at each change of its link map; once the map is consistent,
 * each module in it not searched yet is resolved with its own load bias and its sites go in
 * before the program goes on. A spec still found nowhere when the session ends is said in one
 * line. */
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include <capstone/capstone.h>

#include "ai/async.h"
#include "ai/breakpoint.h"
#include "ai/capture.h"
#include "ai/debuginfo.h"
#include "ai/memory.h"
#include "ai/runtime.h"
#include "ai/util.h"

struct ai_break_session {
	struct ai_target *target;      /* borrowed */
	struct ai_capture *capture;    /* borrowed or owned (own_capture) */
	bool own_capture;
	const struct ai_break_options *o; /* borrowed */
	struct ai_async_options async;
	struct ai_break_sites sites;
	bool *warned;                  /* per spec: an unknown condition or task said once */
	struct ai_break_history *history; /* --history, or NULL */
	uint64_t start_us;             /* when the breakpoints went in */
	uint64_t hits;
	bool active;                   /* the breakpoints are in */
	bool exited;
	/* Specs waiting for a library (FILE:LINE, FN): pending[i], absent[i] why none had it. */
	bool *pending;
	struct ai_error **absent;
	uint64_t r_debug, r_brk;       /* the rendezvous; r_brk 0 when no spec waits */
	struct ai_module **searched;   /* the modules the pending specs were looked for in */
	size_t searched_count, searched_capacity;
	size_t loaded;                 /* libraries searched after a dlopen */
};

/* The name of thread tid in the snapshot, or "". */
static const char *name_of_thread(const struct ai_snapshot *s, pid_t tid)
{
	for (size_t i = 0; i < s->thread_count; i++)
		if (s->threads[i].tid == tid && s->threads[i].name)
			return s->threads[i].name;
	return "";
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

static const struct ai_snapshot_task *task_at(const struct ai_snapshot *s, uint64_t header)
{
	for (size_t i = 0; header && i < s->task_count; i++)
		if (s->tasks[i].address == header && s->tasks[i].kind && strcmp(s->tasks[i].kind, "task") == 0)
			return &s->tasks[i];
	return NULL;
}

/* Whether spec's condition holds at this stop (none: it does); an unknown one is said once. */
static bool condition_holds(struct ai_break_session *s, const struct ai_break_site *site,
			    const struct ai_break_env *env)
{
	const struct ai_break_spec *spec = &s->o->specs[site->spec];
	if (!spec->cond)
		return true;
	char *why = NULL;
	enum ai_break_truth truth = ai_break_cond_eval(spec->cond, env, &why);
	/* Said once per breakpoint: it would be said at every pass. */
	if (truth == AI_BREAK_UNKNOWN && !s->warned[site->spec])
		fprintf(stderr, "async-inspect: breakpoint %zu (%s): the condition is unknown here (%s): not a hit (said once)\n",
			site->spec + 1, spec->text, why ? why : "?");
	s->warned[site->spec] |= truth == AI_BREAK_UNKNOWN;
	free(why);
	return truth == AI_BREAK_TRUE;
}

/* A spawn or completion: the task is the one whose header the site's register (or the spawn
 * function's return value) holds; `spawn:FN` keeps only a task whose root future is FN. */
static bool task_hit(struct ai_break_session *s, const struct ai_break_site *site, struct ai_break_hit *hit)
{
	struct ai_target *target = s->target;
	struct user_regs_struct regs = target->hit_regs;
	struct ai_snapshot *snapshot = hit->snapshot;
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
	const struct ai_break_spec *spec = &s->o->specs[site->spec];
	if (s->history)
		ai_break_history_observe(s->history, snapshot, task, spec->kind == AI_BREAK_COMPLETE, ai_now_us() - s->start_us);
	hit->task = task;
	hit->address = header;
	if (spec->function) {
		const char *root = task ? (task->tree.function ? task->tree.function : task->future) : NULL;
		if (!task && !s->warned[site->spec])
			fprintf(stderr, "async-inspect: breakpoint %zu (%s): the task at 0x%llx is not known here: not a hit (said once)\n",
				site->spec + 1, spec->text, (unsigned long long)header);
		s->warned[site->spec] |= !task;
		if (!root || strcmp(root, spec->function) != 0)
			return false;
	}
	struct ai_break_env env = { task, task ? &task->tree : NULL };
	if (!condition_holds(s, site, &env))
		return false;
	hit->spawned_at = spec->kind == AI_BREAK_SPAWN ? own_frame(s->capture, snapshot, hit->tid) : NULL;
	return true;
}

/* An .await or an async fn's first poll, by the coroutine at env. */
static bool state_hit(struct ai_break_session *s, const struct ai_break_site *site, uint64_t env,
		      struct ai_break_hit *hit)
{
	const struct ai_snapshot_task *task = ai_break_hit_task(hit->snapshot, env, hit->tid);
	if (s->history)
		ai_break_history_observe(s->history, hit->snapshot, task, false, ai_now_us() - s->start_us);
	hit->task = task;
	hit->address = env;
	struct ai_break_env cond_env = { task, task ? ai_break_node_at(&task->tree, env) : NULL };
	return condition_holds(s, site, &cond_env);
}

/* A stop on a TASK or STATE site: its snapshot, all-stop (the program can neither move on nor
 * end under the decoder, and its output after the hit comes after the record). True with *hit
 * filled and the target stopped when it counts; otherwise the target runs again. */
static struct ai_error *examine(struct ai_break_session *s, const struct ai_break_site *site, uint64_t env,
				bool *counted_ret, struct ai_break_hit *hit)
{
	*counted_ret = false;
	memset(hit, 0, sizeof(*hit));
	hit->site = site;
	hit->spec = &s->o->specs[site->spec];
	hit->tid = s->target->hit_tid;
	struct ai_error *err = ai_capture_dump(s->capture, AI_CAPTURE_KEEP_STOPPED, &s->async, &hit->snapshot);
	if (err) {
		hit->snapshot = NULL;
		ai_error_destroy(ai_target_resume(s->target));
		return err;
	}
	hit->thread_name = name_of_thread(hit->snapshot, hit->tid);
	bool counted = site->kind == AI_SITE_TASK ? task_hit(s, site, hit) : state_hit(s, site, env, hit);
	if (!counted) {
		ai_snapshot_destroy(hit->snapshot);
		memset(hit, 0, sizeof(*hit));
		return ai_target_resume(s->target);
	}
	*counted_ret = true;
	hit->number = ++s->hits;
	if (s->o->break_count && s->hits >= s->o->break_count) {
		/* The target is stopped: the int3s go now, and the hit thread runs the original code. */
		ai_target_remove_breakpoints(s->target);
		s->active = false;
		hit->last = true;
	}
	return NULL;
}

/* The first call of a spawn function through a call site: a TASK breakpoint at its return
 * address, for every spawn spec of that function, so that this call's return and every later
 * one through the same site are seen. */
static struct ai_error *arm_return(struct ai_target *target, struct ai_break_sites *sites)
{
	uint64_t ret = 0;
	struct ai_error *err = ai_memory_read(target->memory, &ret, target->hit_regs.rsp, sizeof(ret));
	if (err)
		return err;
	for (size_t i = 0; i < sites->count; i++)
		if (sites->items[i].kind == AI_SITE_TASK && sites->items[i].task_in_return &&
		    ai_break_site_address(&sites->items[i]) == ret)
			return NULL; /* armed already */
	if ((err = ai_target_stop(target)) || (err = ai_target_insert_breakpoint(target, ret))) {
		ai_error_destroy(ai_target_resume(target));
		return err;
	}
	size_t count = sites->count;
	for (size_t i = 0; i < count; i++) {
		struct ai_break_site *call = &sites->items[i];
		if (call->kind != AI_SITE_CALL || ai_break_site_address(call) != target->hit_address)
			continue;
		AI_GROW(sites->items, sites->capacity, sites->count + 1);
		call = &sites->items[i];
		sites->items[sites->count++] = (struct ai_break_site){
			.spec = call->spec,
			.kind = AI_SITE_TASK,
			.task_in_return = true,
			.vaddr = ret, /* a runtime address: no module */
			.function = xstrdup(call->function),
		};
	}
	return ai_target_resume(target);
}

/* The sites of the spawn and complete specs, at the functions the runtime adapters name (runtime
 * addresses, in the module that holds the runtime). */
static bool is_lifecycle(const struct ai_break_spec *spec)
{
	return spec->kind == AI_BREAK_SPAWN || spec->kind == AI_BREAK_COMPLETE;
}

/* The sites of the spawn and complete specs (only_pending: of those pending). With the
 * rendezvous (s->pending), a spec is pending while no runtime is found: it may be in a library
 * loaded later. */
static struct ai_error *add_lifecycle_sites(struct ai_break_session *s, bool only_pending)
{
	struct ai_target *target = s->target;
	const struct ai_break_options *o = s->o;
	struct ai_break_sites *sites = &s->sites;
	bool any = false;
	for (size_t i = 0; i < o->spec_count; i++)
		any |= is_lifecycle(&o->specs[i]) && (!only_pending || s->pending[i]);
	if (!any)
		return NULL;
	struct ai_async_options async; /* the decoder made here serves every hit's dump */
	ai_async_options_default(&async);
	async.locals = o->locals;
	async.all_locals = o->all_locals;
	struct ai_lifecycle_point *points;
	size_t count;
	struct ai_error *err = ai_capture_lifecycle_points(s->capture, &async, &points, &count);
	if (err)
		return err;
	static const int arg_regs[] = { X86_REG_RDI, X86_REG_RSI, X86_REG_RDX, X86_REG_RCX, X86_REG_R8, X86_REG_R9 };
	for (size_t i = 0; i < o->spec_count && !err; i++) {
		const struct ai_break_spec *spec = &o->specs[i];
		if (!is_lifecycle(spec) || (only_pending && !s->pending[i]))
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
				.vaddr = points[p].address,
				.env_reg = points[p].at_return ? 0 : arg_regs[points[p].task_arg],
				.function = xstrdup(points[p].function),
			};
			added++;
		}
		if (added && s->pending)
			s->pending[i] = false;
		if (added || (only_pending && s->pending[i]))
			continue;
		err = ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				      "--break %s: no runtime in %s names a function its tasks %s through (not known for this runtime or its version)",
				      spec->text, target->exe_path ? target->exe_path : "the program",
				      want == AI_LIFECYCLE_SPAWN ? "are spawned" : "complete");
		/* A runtime that names none (tokio before 1.9) is the error; none at all may be in a
		 * library loaded later. */
		if (s->pending && !ai_capture_has_runtime(s->capture)) {
			s->pending[i] = true;
			s->absent[i] = err;
			err = NULL;
		}
	}
	ai_lifecycle_points_free(points, count);
	return err;
}

static bool was_searched(const struct ai_break_session *s, const struct ai_module *m)
{
	for (size_t i = 0; i < s->searched_count; i++)
		if (s->searched[i] == m)
			return true;
	return false;
}

static void note_searched(struct ai_break_session *s, struct ai_module *m)
{
	if (!m || was_searched(s, m))
		return;
	AI_GROW(s->searched, s->searched_capacity, s->searched_count + 1);
	s->searched[s->searched_count++] = m;
}

static bool any_pending(const struct ai_break_session *s)
{
	for (size_t i = 0; s->pending && i < s->o->spec_count; i++)
		if (s->pending[i])
			return true;
	return false;
}

/* A module of the link map (ai_rendezvous_modules): pending specs are looked for in it once. */
struct link_walk {
	struct ai_break_session *s;
	struct ai_debuginfo *di;
	size_t first_new;  /* sites from here on are new */
	bool only_note;    /* at the start: the modules mapped then were searched already */
	size_t new_modules;
	struct ai_error *err;
};

static void on_link_module(void *arg, uint64_t l_addr, const char *name, uint64_t l_ld)
{
	struct link_walk *w = arg;
	/* l_ld, its dynamic section, lies in the module's mappings: the module, opened (and its
	 * load bias computed from its mappings, which must agree with ld.so's l_addr). */
	struct ai_module *m = ai_debuginfo_find_module(w->di, l_ld);
	if (w->err || !m || was_searched(w->s, m))
		return;
	note_searched(w->s, m);
	if (w->only_note || m->is_main || m->is_vdso || m->error)
		return;
	w->new_modules++;
	if (m->bias != l_addr) {
		fprintf(stderr, "async-inspect: %s: its load bias from /proc/%d/maps (0x%llx) is not the dynamic linker's (0x%llx): not searched for breakpoints\n",
			name, (int)w->s->target->pid, (unsigned long long)m->bias, (unsigned long long)l_addr);
		return;
	}
	struct ai_break_session *s = w->s;
	bool searched = false;
	w->err = ai_break_resolve_in(w->di, m, s->o->specs, s->o->spec_count, s->pending, &searched, &s->sites);
	s->loaded += searched;
}

/* The stopped target's link map: each module not searched yet is, and the new sites go in.
 * only_note: just note the modules (those the first resolution searched). */
static struct ai_error *walk_link_map(struct ai_break_session *s, struct ai_debuginfo *di, bool only_note)
{
	bool consistent; /* not yet: nothing to look at until ld.so says so again */
	ai_debuginfo_refresh(di);
	struct link_walk w = { .s = s, .di = di, .first_new = s->sites.count, .only_note = only_note };
	struct ai_error *err = ai_rendezvous_modules(s->target, s->r_debug, &consistent, on_link_module, &w);
	if (!err)
		err = w.err;
	else
		ai_error_destroy(w.err);
	/* A runtime in a new library: the spawn and complete specs waiting for one. */
	bool lifecycle = false;
	for (size_t i = 0; !err && w.new_modules && i < s->o->spec_count; i++)
		lifecycle |= s->pending[i] && is_lifecycle(&s->o->specs[i]);
	if (lifecycle)
		err = add_lifecycle_sites(s, true);
	struct ai_break_sites added = { .items = s->sites.items + w.first_new, .count = s->sites.count - w.first_new };
	if (!err && added.count)
		err = ai_break_insert_sites(s->target, di, &added);
	return err;
}

/* The specs no module mapped now has wait for a library loaded later when the dynamic linker's
 * rendezvous is there (a live target with one); otherwise they are the error saying so.
 * *r_brk_ret: the rendezvous' r_brk, or 0. */
static struct ai_error *resolve_all(struct ai_break_session *s, struct ai_debuginfo *di, size_t *libraries_ret,
				    uint64_t *r_brk_ret)
{
	const struct ai_break_options *o = s->o;
	*r_brk_ret = 0;
	struct ai_error *err = ai_rendezvous_find(s->target, di, &s->r_debug, r_brk_ret);
	if (err) {
		ai_error_destroy(err);
		return ai_break_resolve(di, o->specs, o->spec_count, &s->sites);
	}
	s->pending = xcalloc(o->spec_count ? o->spec_count : 1, sizeof(*s->pending));
	s->absent = xcalloc(o->spec_count ? o->spec_count : 1, sizeof(*s->absent));
	return ai_break_resolve_later(di, o->specs, o->spec_count, s->pending, s->absent, libraries_ret, &s->sites);
}

static struct ai_error *insert_all(struct ai_break_session *s, struct ai_debuginfo *di)
{
	ai_debuginfo_refresh(di); /* a borrowed capture's may predate this stop's maps */
	size_t libraries = 0;
	uint64_t r_brk = 0;
	struct ai_error *err = resolve_all(s, di, &libraries, &r_brk);
	if (!err)
		err = add_lifecycle_sites(s, false);
	if (!err)
		err = ai_break_insert_sites(s->target, di, &s->sites);
	if (err || !any_pending(s))
		return err;
	const struct ai_break_options *o = s->o;
	for (size_t i = 0; i < o->spec_count; i++)
		if (s->pending[i])
			fprintf(stderr, "async-inspect: breakpoint %zu (%s) is pending: %s, nor of the %zu librar%s with Rust debug info loaded now; it is looked for in each library the program loads from now on\n",
				i + 1, o->specs[i].text, s->absent[i]->message, libraries, libraries == 1 ? "y" : "ies");
	if ((err = walk_link_map(s, di, true)))
		return err;
	s->r_brk = r_brk;
	return ai_target_insert_breakpoint(s->target, r_brk);
}

/* A stop on r_brk: a dlopen or dlclose is under way; once the link map is consistent the new
 * libraries are searched for the pending specs. The target goes on. */
static struct ai_error *on_rendezvous(struct ai_break_session *s)
{
	struct ai_error *err = ai_target_stop(s->target);
	if (!err)
		err = walk_link_map(s, ai_capture_debuginfo(s->capture), false);
	if (!err && !any_pending(s)) {
		/* Every spec found: ld.so need not stop the program any more. */
		ai_target_remove_breakpoint(s->target, s->r_brk);
		s->r_brk = 0;
	}
	struct ai_error *resumed = ai_target_resume(s->target);
	if (err) {
		ai_error_destroy(resumed);
		return err;
	}
	return resumed;
}

/* The specs that matched nothing, in no library loaded either: one line each. */
static void say_unmatched(struct ai_break_session *s)
{
	for (size_t i = 0; s->pending && i < s->o->spec_count; i++) {
		if (!s->pending[i])
			continue;
		s->pending[i] = false;
		fprintf(stderr, "async-inspect: breakpoint %zu (%s) matched nothing: %s, nor of the %zu librar%s with Rust debug info the program loaded since\n",
			i + 1, s->o->specs[i].text, s->absent[i] ? s->absent[i]->message : "not found", s->loaded,
			s->loaded == 1 ? "y" : "ies");
	}
}

struct ai_error *ai_break_session_begin(struct ai_target *target, struct ai_capture *capture,
					const struct ai_break_options *o, struct ai_break_session **ret)
{
	struct ai_error *err = ai_target_stop(target);
	if (err)
		return err;
	struct ai_break_session *s = xcalloc(1, sizeof(*s));
	s->target = target;
	s->o = o;
	ai_async_options_default(&s->async);
	s->async.locals = o->locals;
	s->async.all_locals = o->all_locals;
	s->capture = capture;
	if (!capture) {
		s->own_capture = true;
		err = ai_capture_create(target, &s->capture);
	}
	if (!err)
		err = insert_all(s, ai_capture_debuginfo(s->capture));
	if (err) {
		/* Left stopped: a launched program is killed before it runs, an attached one
		 * detached, by the caller. */
		ai_target_remove_breakpoints(target);
		ai_break_session_end(s);
		return err;
	}
	s->active = true;
	s->warned = xcalloc(o->spec_count, sizeof(*s->warned));
	s->history = o->history ? ai_break_history_create() : NULL;
	s->start_us = ai_now_us();
	if ((err = ai_target_resume(target))) {
		ai_break_session_end(s);
		return err;
	}
	*ret = s;
	return NULL;
}

struct ai_error *ai_break_session_wait(struct ai_break_session *s, int timeout_ms, enum ai_break_event *event_ret,
				       struct ai_break_hit *hit, int *status_ret)
{
	memset(hit, 0, sizeof(*hit));
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : ai_now_us() + (uint64_t)timeout_ms * 1000u;
	for (;;) {
		if (s->exited) {
			*event_ret = AI_BREAK_EVENT_EXITED;
			return NULL;
		}
		uint64_t now = ai_now_us();
		int left_ms = deadline == UINT64_MAX ? -1 : now >= deadline ? 0 : (int)((deadline - now) / 1000u);
		enum ai_run_event event;
		int status = 0;
		struct ai_error *err = ai_target_run(s->target, left_ms, &event, &status);
		if (err)
			return err;
		if (event == AI_RUN_EXITED) {
			say_unmatched(s);
			s->exited = true;
			s->active = false;
			*status_ret = status;
			*event_ret = AI_BREAK_EVENT_EXITED;
			return NULL;
		}
		if (event == AI_RUN_TIMEOUT) {
			*event_ret = AI_BREAK_EVENT_TIMEOUT;
			return NULL;
		}
		if (event != AI_RUN_BREAKPOINT || !s->active)
			continue; /* the next run lets the thread go on */
		if (s->r_brk && s->target->hit_address == s->r_brk) {
			if ((err = on_rendezvous(s)))
				return err;
			continue;
		}
		for (size_t i = 0; i < s->sites.count; i++) {
			struct ai_break_site *site = &s->sites.items[i];
			uint64_t env = 0;
			if (ai_break_site_address(site) != s->target->hit_address)
				continue;
			bool counted = false;
			if (site->kind == AI_SITE_CALL)
				err = arm_return(s->target, &s->sites);
			else if (site->kind == AI_SITE_STATE && !ai_break_site_hit(s->target, site, &env))
				continue;
			else
				err = examine(s, site, env, &counted, hit);
			if (err)
				return err;
			if (counted) {
				*event_ret = AI_BREAK_EVENT_HIT;
				return NULL;
			}
			break;
		}
	}
}

struct ai_break_history *ai_break_session_history(struct ai_break_session *s)
{
	return s->history;
}

bool ai_break_session_active(const struct ai_break_session *s)
{
	return s->active;
}

void ai_break_session_end(struct ai_break_session *s)
{
	if (!s)
		return;
	struct ai_target *target = s->target;
	if (s->active && !s->exited && !target->exited) {
		bool was_stopped = target->is_stopped;
		struct ai_error *err = ai_target_stop(target);
		/* Every path out removes the int3s: what cannot be stopped is gone, and the
		 * detach that follows restores them with every thread stopped. */
		if (!err)
			ai_target_remove_breakpoints(target);
		ai_error_destroy(err);
		if (!err && !was_stopped)
			ai_error_destroy(ai_target_resume(target));
	}
	if (!s->exited && s->start_us)
		say_unmatched(s); /* not for a session that failed to begin */
	for (size_t i = 0; s->absent && i < s->o->spec_count; i++)
		ai_error_destroy(s->absent[i]);
	free(s->absent);
	free(s->pending);
	free(s->searched);
	free(s->warned);
	ai_break_history_destroy(s->history);
	if (s->own_capture)
		ai_capture_destroy(s->capture);
	ai_break_sites_deinit(&s->sites);
	free(s);
}
