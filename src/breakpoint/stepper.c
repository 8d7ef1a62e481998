/* Stepping a task, for `--step` (step.c) and the TUI's `n` key: run the program until the task's
 * state machine changes state, and say how.
 *
 * The watch is a hardware watchpoint (ai_target_set_watchpoints) on the discriminant of the
 * task's outermost coroutine: its address is the await tree's root coroutine node plus the
 * discriminant's offset in that coroutine's DWARF type. A coroutine stores its discriminant at
 * every suspension (the `.await` it parks at, even the one it parked at before) and when it
 * returns, and it is the outermost one: its store comes after every inner coroutine has stored
 * its own, so at the trap the whole await chain stands where this poll leaves it. Each trap
 * re-decodes the task (all-stop) and compares its main await chain (function, state, line and
 * locals of each coroutine) with the last one shown: a difference is a transition; none (a poll
 * that parked where it was, with nothing changed) is not. A task whose root coroutine has
 * returned or panicked, or that is gone from the snapshot, has completed: the last transition.
 *
 * Without the debug registers (ptrace cannot write them, as in some virtual machines, or
 * AI_STEP_NO_WATCHPOINTS is set, which pretends they are all taken, for tests) the watch falls
 * back to int3s after every store of that coroutine's discriminant in its poll function
 * (ai_break_resolve_state_stores, in the module the dumps decode: a runtime in a library steps
 * there); a hit counts only when the store's base register holds the watched coroutine, and
 * every path out removes the int3s this stepper inserted (not a break session's at the same
 * address). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/breakpoint.h"
#include "ai/capture.h"
#include "ai/debuginfo.h"
#include "ai/snapshot.h"
#include "ai/types.h"
#include "ai/util.h"

#define MAX_DEPTH 256
/* Set (to anything): stepping pretends the debug registers are all in use and uses breakpoints. */
#define NO_WATCHPOINTS_ENV "AI_STEP_NO_WATCHPOINTS"

struct ai_stepper {
	struct ai_target *target;     /* borrowed */
	struct ai_capture *capture;   /* borrowed */
	struct ai_async_options async;
	struct ai_step_task task;
	struct ai_snapshot *shown;    /* owned: the task as last shown (the "before" of the next step) */
	struct ai_snapshot *previous; /* owned: the "before" of the transition last returned */
	uint64_t root;                /* the watched coroutine */
	bool done;                    /* completed: the watch is off */
	bool by_breakpoints;          /* the fallback: int3s after the stores of root's state */
	struct ai_break_sites sites;  /* those stores */
	bool *ours;                   /* per site: its int3 was inserted by this stepper */
	char *why;                    /* owned: why the watchpoint could not be used, or NULL */
};

struct ai_error *ai_step_parse_task(const char *text, struct ai_step_task *ret)
{
	char *end;
	errno = 0;
	bool hex = strncmp(text, "0x", 2) == 0 || strncmp(text, "0X", 2) == 0;
	uint64_t value = strtoull(text, &end, hex ? 16 : 10);
	if (!*text || *end || errno || text[0] == '-' || (hex && !text[2]))
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				       "--step %s: expected a task id (as dump shows it) or a task's address (0x...)", text);
	*ret = (struct ai_step_task){ .by_address = hex, .value = value };
	return NULL;
}

static bool is_task(const struct ai_step_task *want, const struct ai_snapshot_task *t)
{
	if (want->by_address)
		return t->address == want->value;
	return t->has_id && t->id == want->value && t->kind && strcmp(t->kind, "task") == 0;
}

const struct ai_snapshot_task *ai_step_find_task(const struct ai_snapshot *s, const struct ai_step_task *want)
{
	for (size_t i = 0; s && i < s->task_count; i++)
		if (is_task(want, &s->tasks[i]))
			return &s->tasks[i];
	return NULL;
}

/* The outermost coroutine of the task: its root, or the first below a root that is not one
 * (a wrapper future). */
static const struct ai_await_node *root_coroutine(const struct ai_snapshot_task *t)
{
	const struct ai_await_node *node = &t->tree;
	for (int depth = 0; depth < MAX_DEPTH; depth++) {
		if (node->function && node->state && node->address && node->type_die)
			return node;
		if (!node->child_count)
			return NULL;
		node = &node->children[0];
	}
	return NULL;
}

const struct ai_await_node *ai_step_state_node(const struct ai_snapshot_task *t)
{
	if (!t)
		return NULL;
	const struct ai_await_node *node = &t->tree, *own = NULL, *any = NULL;
	for (int depth = 0; depth < MAX_DEPTH; depth++) {
		if (node->function && node->state) {
			any = node;
			if (!node->dependency)
				own = node;
		}
		if (!node->child_count)
			break;
		node = &node->children[0];
	}
	return own ? own : any;
}

static bool str_eq(const char *a, const char *b)
{
	return a == b || (a && b && strcmp(a, b) == 0);
}

static bool same_node(const struct ai_await_node *a, const struct ai_await_node *b)
{
	if (!str_eq(a->function, b->function) || !str_eq(a->state, b->state) || !str_eq(a->file, b->file) ||
	    a->line != b->line || a->local_count != b->local_count)
		return false;
	for (size_t i = 0; i < a->local_count; i++)
		if (!str_eq(a->locals[i].name, b->locals[i].name) ||
		    !str_eq(ai_local_text(&a->locals[i]), ai_local_text(&b->locals[i])))
			return false;
	return true;
}

/* Whether the main await chains of a and b are the same: a poll that changed nothing. */
static bool same_chain(const struct ai_snapshot_task *a, const struct ai_snapshot_task *b)
{
	const struct ai_await_node *x = &a->tree, *y = &b->tree;
	for (int depth = 0; depth < MAX_DEPTH; depth++) {
		if (!same_node(x, y) || (x->child_count == 0) != (y->child_count == 0))
			return false;
		if (!x->child_count)
			return true;
		x = &x->children[0];
		y = &y->children[0];
	}
	return true;
}

static bool has_completed(const struct ai_snapshot_task *t, const struct ai_await_node *root)
{
	if (!t)
		return true;
	if (t->status && (strcmp(t->status, "completed") == 0 || strcmp(t->status, "cancelled") == 0))
		return true;
	return root && root->state && (strcmp(root->state, "Returned") == 0 || strcmp(root->state, "Panicked") == 0);
}

static void unwatch(struct ai_stepper *s);

/* The fallback watch: an int3 after each store of root's state in its poll function. */
static struct ai_error *watch_by_breakpoints(struct ai_stepper *s, const struct ai_await_node *root)
{
	struct ai_module *module = ai_capture_module(s->capture);
	struct ai_error *err = ai_break_resolve_state_stores(ai_capture_debuginfo(s->capture), module, root->type_die,
							     &s->sites);
	if (err)
		return err;
	s->ours = xcalloc(s->sites.count ? s->sites.count : 1, sizeof(*s->ours));
	s->by_breakpoints = true;
	for (size_t i = 0; i < s->sites.count && !err; i++) {
		uint64_t address = ai_break_site_address(&s->sites.items[i]);
		if (ai_target_has_breakpoint(s->target, address))
			continue; /* a break session's: it stays when we go */
		err = ai_target_insert_breakpoint(s->target, address);
		s->ours[i] = !err;
	}
	if (err) {
		unwatch(s);
		s->by_breakpoints = false;
	}
	return err;
}

/* The watch: the root coroutine's discriminant, its low byte when it is not naturally aligned
 * (a store of any width writes that byte). */
static struct ai_error *watch_root(struct ai_stepper *s, const struct ai_snapshot_task *t)
{
	const struct ai_await_node *root = root_coroutine(t);
	if (!root)
		return ai_error_create(AI_ERROR_UNSUPPORTED,
				       "the task's future %s holds no coroutine (async fn or block) whose state can be watched",
				       t->future ? t->future : "?");
	struct ai_types *types = ai_capture_types(s->capture);
	const struct ai_type *type, *discr_type;
	struct ai_error *err = types ? ai_types_get(types, root->type_die, &type)
				     : ai_error_create(AI_ERROR_OTHER, "no dump has read the program's types yet");
	if (!err && (!ai_type_is_coroutine(type) || !type->has_discr))
		err = ai_error_create(AI_ERROR_DWARF, "its DWARF type is not a coroutine with a state");
	if (!err)
		err = ai_type_member_underlying(type, &type->discr, &discr_type);
	if (err)
		return ai_error_wrap(err, "cannot find the state of %s", root->function);
	uint64_t address = root->address + type->discr.offset;
	uint8_t size = (uint8_t)discr_type->size;
	if ((size != 1 && size != 2 && size != 4 && size != 8) || address % size)
		size = 1;
	s->root = root->address;
	struct ai_error *werr = getenv(NO_WATCHPOINTS_ENV)
					? ai_error_create(AI_ERROR_UNSUPPORTED, "%s is set: the debug registers count as in use",
							  NO_WATCHPOINTS_ENV)
					: ai_target_set_watchpoints(s->target, &address, &size, 1);
	if (!werr)
		return NULL;
	if ((err = watch_by_breakpoints(s, root))) {
		struct ai_error *both = ai_error_create(err->code, "%s; nor can breakpoints stand in for it: %s",
							werr->message, err->message);
		ai_error_destroy(err);
		ai_error_destroy(werr);
		return both;
	}
	s->why = xstrdup(werr->message);
	ai_error_destroy(werr);
	return NULL;
}

/* A stop on an int3 of ours whose store was of the watched coroutine's state. */
static bool own_hit(const struct ai_stepper *s)
{
	for (size_t i = 0; i < s->sites.count; i++) {
		uint64_t env;
		if (ai_break_site_address(&s->sites.items[i]) == s->target->hit_address &&
		    ai_break_reg_value(&s->target->hit_regs, s->sites.items[i].env_reg, &env))
			return env == s->root;
	}
	return false;
}

/* Takes the watch out of the stopped target. */
static void unwatch(struct ai_stepper *s)
{
	if (!s->by_breakpoints) {
		ai_target_clear_watchpoints(s->target);
		return;
	}
	for (size_t i = 0; i < s->sites.count; i++)
		if (s->ours[i])
			ai_target_remove_breakpoint(s->target, ai_break_site_address(&s->sites.items[i]));
	memset(s->ours, 0, s->sites.count * sizeof(*s->ours));
}

struct ai_error *ai_stepper_create(struct ai_target *target, struct ai_capture *capture,
				   const struct ai_async_options *async, const struct ai_step_task *task,
				   struct ai_snapshot *snapshot, struct ai_stepper **ret)
{
	const struct ai_snapshot_task *t = ai_step_find_task(snapshot, task);
	if (!t) {
		ai_snapshot_destroy(snapshot);
		return ai_error_create(AI_ERROR_NOT_FOUND, "no such task in the snapshot");
	}
	struct ai_stepper *s = xcalloc(1, sizeof(*s));
	*s = (struct ai_stepper){ .target = target, .capture = capture, .async = *async, .task = *task, .shown = snapshot };
	struct ai_error *err = watch_root(s, t);
	if (err) {
		ai_snapshot_destroy(snapshot);
		ai_break_sites_deinit(&s->sites);
		free(s->ours);
		free(s);
		return err;
	}
	*ret = s;
	return NULL;
}

const char *ai_stepper_fallback(const struct ai_stepper *s)
{
	return s->by_breakpoints ? s->why : NULL;
}

const struct ai_snapshot *ai_stepper_snapshot(const struct ai_stepper *s)
{
	return s->shown;
}

struct ai_error *ai_stepper_run(struct ai_stepper *s, int timeout_ms, enum ai_step_event *event_ret,
				struct ai_step_transition *ret, int *status_ret)
{
	memset(ret, 0, sizeof(*ret));
	if (s->done)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "the task has completed: there is no next step");
	uint64_t deadline = timeout_ms < 0 ? UINT64_MAX : ai_now_us() + (uint64_t)timeout_ms * 1000u;
	for (;;) {
		uint64_t now = ai_now_us();
		int left_ms = deadline == UINT64_MAX ? -1 : now >= deadline ? 0 : (int)((deadline - now) / 1000u);
		enum ai_run_event event;
		int status = 0;
		struct ai_error *err = ai_target_run(s->target, left_ms, &event, &status);
		if (err)
			return err;
		if (event == AI_RUN_EXITED) {
			*status_ret = status;
			*event_ret = AI_STEP_EXITED;
			return NULL;
		}
		if (event == AI_RUN_TIMEOUT) {
			*event_ret = AI_STEP_TIMEOUT;
			return NULL;
		}
		if (s->by_breakpoints ? event != AI_RUN_BREAKPOINT || !own_hit(s) : event != AI_RUN_WATCHPOINT)
			continue; /* (another coroutine's store, or a break session's int3: the next run steps over it) */
		pid_t tid = s->by_breakpoints ? s->target->hit_tid : s->target->watch_tid;
		if (!s->by_breakpoints && s->target->watch_errno)
			return ai_error_from_errno(s->target->watch_errno,
						   "cannot set the hardware watchpoint in new thread %d of process %d",
						   (int)s->target->watch_errno_tid, (int)s->target->pid);
		struct ai_snapshot *snapshot;
		if ((err = ai_capture_dump(s->capture, AI_CAPTURE_KEEP_STOPPED, &s->async, &snapshot)))
			return err;
		const struct ai_snapshot_task *before = ai_step_find_task(s->shown, &s->task);
		const struct ai_snapshot_task *after = ai_step_find_task(snapshot, &s->task);
		const struct ai_await_node *after_root = after ? root_coroutine(after) : NULL;
		bool completed = has_completed(after, after_root);
		if (!completed && after_root && after_root->address != s->root) {
			ai_snapshot_destroy(snapshot);
			return ai_error_create(AI_ERROR_OTHER, "the task's state machine moved from 0x%llx to 0x%llx",
					       (unsigned long long)s->root, (unsigned long long)after_root->address);
		}
		if (!completed && same_chain(before, after)) {
			ai_snapshot_destroy(snapshot); /* polled, and parked where it was: no transition */
			if ((err = ai_target_resume(s->target)))
				return err;
			continue;
		}
		if (completed) {
			unwatch(s);
			s->done = true;
		}
		ai_snapshot_destroy(s->previous);
		s->previous = s->shown;
		s->shown = snapshot;
		*ret = (struct ai_step_transition){
			.snapshot = snapshot,
			.before = before,
			.after = after,
			.left = ai_step_state_node(before),
			.reached = ai_step_state_node(after),
			.completed = completed,
			.thread = tid,
		};
		*event_ret = AI_STEP_TRANSITION;
		return NULL; /* the target stays stopped: the caller shows the step, then resumes */
	}
}

static const struct ai_snapshot_local *find_local(const struct ai_await_node *n, const char *name)
{
	for (size_t i = 0; name && i < n->local_count; i++)
		if (str_eq(n->locals[i].name, name))
			return &n->locals[i];
	return NULL;
}

void ai_step_for_each_change(const struct ai_step_transition *tr, ai_step_change_fn *fn, void *arg)
{
	if (!tr->before || !tr->after)
		return;
	const struct ai_await_node *x = &tr->before->tree, *y = &tr->after->tree;
	for (int depth = 0; depth < MAX_DEPTH && str_eq(x->function, y->function); depth++) {
		for (size_t i = 0; y->function && i < y->local_count; i++) {
			const struct ai_snapshot_local *after = &y->locals[i], *before = find_local(x, after->name);
			const char *now = ai_local_text(after), *was = before ? ai_local_text(before) : NULL;
			if (!str_eq(now, was))
				fn(y, after->name ? after->name : "?", was, now, arg);
		}
		for (size_t i = 0; x->function && i < x->local_count; i++)
			if (!find_local(y, x->locals[i].name))
				fn(y, x->locals[i].name ? x->locals[i].name : "?", ai_local_text(&x->locals[i]), NULL, arg);
		if (!x->child_count || !y->child_count)
			break;
		x = &x->children[0];
		y = &y->children[0];
	}
}

void ai_stepper_destroy(struct ai_stepper *s)
{
	if (!s)
		return;
	if (!s->done && !s->target->exited) {
		/* The debug registers are written with the threads stopped. */
		bool was_stopped = s->target->is_stopped;
		struct ai_error *err = was_stopped ? NULL : ai_target_stop(s->target);
		if (!err)
			unwatch(s);
		ai_error_destroy(err);
		if (!was_stopped && !err)
			ai_error_destroy(ai_target_resume(s->target));
	}
	ai_snapshot_destroy(s->shown);
	ai_snapshot_destroy(s->previous);
	ai_break_sites_deinit(&s->sites);
	free(s->ours);
	free(s->why);
	free(s);
}
