/* `run` / `attach --step TASK`: stop the program each time that task's state machine changes
 * state, print the transition, and after --step-count of them let it go.
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
 * returned or panicked, or that is gone from the snapshot, has completed: the last transition. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/async.h"
#include "ai/breakpoint.h"
#include "ai/capture.h"
#include "ai/debuginfo.h"
#include "ai/frontend.h"
#include "ai/json_writer.h"
#include "ai/types.h"
#include "ai/util.h"

/* How often a launched program is sampled until the task appears. */
#define WAIT_POLL_MS 20
#define MAX_DEPTH 256

struct ai_error *ai_step_parse_task(const char *text, struct ai_step_task *ret)
{
	char *end;
	errno = 0;
	bool hex = strncmp(text, "0x", 2) == 0 || strncmp(text, "0X", 2) == 0;
	uint64_t value = strtoull(text, &end, hex ? 16 : 10);
	if (!*text || *end || errno || text[0] == '-')
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

static const struct ai_snapshot_task *find_task(const struct ai_snapshot *s, const struct ai_step_task *want)
{
	for (size_t i = 0; i < s->task_count; i++)
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

/* The innermost coroutine of the program's own code on the main chain (first children): where
 * the task stands for its user; the innermost coroutine when none is the program's. */
static const struct ai_await_node *state_node(const struct ai_snapshot_task *t)
{
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

/* The watch: the root coroutine's discriminant, its low byte when it is not naturally aligned
 * (a store of any width writes that byte). */
static struct ai_error *watch_root(struct ai_target *target, struct ai_types *types, const struct ai_snapshot_task *t,
				   const char *task_text, uint64_t *root_ret)
{
	const struct ai_await_node *root = root_coroutine(t);
	if (!root)
		return ai_error_create(AI_ERROR_UNSUPPORTED,
				       "--step %s: the task's future %s holds no coroutine (async fn or block) whose state can be watched",
				       task_text, t->future ? t->future : "?");
	const struct ai_type *type, *discr_type;
	struct ai_error *err = ai_types_get(types, root->type_die, &type);
	if (!err && (!ai_type_is_coroutine(type) || !type->has_discr))
		err = ai_error_create(AI_ERROR_DWARF, "the DWARF type of %s is not a coroutine with a state", root->function);
	if (!err)
		err = ai_type_member_underlying(type, &type->discr, &discr_type);
	if (err)
		return ai_error_wrap(err, "--step %s: cannot find the state of %s", task_text, root->function);
	uint64_t address = root->address + type->discr.offset;
	uint8_t size = (uint8_t)discr_type->size;
	if ((size != 1 && size != 2 && size != 4 && size != 8) || address % size)
		size = 1;
	*root_ret = root->address;
	return ai_target_set_watchpoints(target, &address, &size, 1);
}

/* --- printing ------------------------------------------------------------------------------ */

static void print_place_text(const char *label, const struct ai_await_node *n)
{
	if (!n) {
		printf("  %-8s (no coroutine)\n", label);
		return;
	}
	printf("  %-8s %s  %s", label, n->function, n->state ? n->state : "?");
	if (n->file)
		printf("  %s:%d", ai_short_path(n->file), n->line);
	else if (n->state && strcmp(n->state, "Unresumed") == 0)
		printf("  (not polled yet)");
	putchar('\n');
}

static void write_place_json(struct ai_json_writer *w, const char *key, const struct ai_await_node *n)
{
	ai_json_key(w, key);
	if (!n) {
		ai_json_null(w);
		return;
	}
	ai_json_begin_object(w);
	ai_json_field_string(w, "function", n->function);
	ai_json_field_string(w, "state", n->state);
	ai_json_field_string(w, "file", n->file);
	ai_json_field_int(w, "line", n->line);
	ai_json_end_object(w);
}

static const struct ai_snapshot_local *find_local(const struct ai_await_node *n, const char *name)
{
	for (size_t i = 0; name && i < n->local_count; i++)
		if (str_eq(n->locals[i].name, name))
			return &n->locals[i];
	return NULL;
}

/* Calls fn for each local that differs between the chains, frame by frame while both chains
 * hold the same coroutines (a frame entered or left has no before or after to compare). */
typedef void change_fn(const struct ai_await_node *frame, const char *name, const char *before, const char *after,
		       void *arg);
static void for_each_change(const struct ai_snapshot_task *a, const struct ai_snapshot_task *b, change_fn *fn, void *arg)
{
	const struct ai_await_node *x = &a->tree, *y = &b->tree;
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

static void print_change_text(const struct ai_await_node *frame, const char *name, const char *before, const char *after,
			      void *arg)
{
	(void)arg;
	printf("  changed  %s = %s -> %s  (%s)\n", name, before ? before : "(none)", after ? after : "(gone)", frame->function);
}

static void write_change_json(const struct ai_await_node *frame, const char *name, const char *before, const char *after,
			      void *arg)
{
	struct ai_json_writer *w = arg;
	ai_json_begin_object(w);
	ai_json_field_string(w, "function", frame->function);
	ai_json_field_string(w, "name", name);
	ai_json_field_string(w, "before", before);
	ai_json_field_string(w, "after", after);
	ai_json_end_object(w);
}

static const char *thread_name(const struct ai_snapshot *s, pid_t tid)
{
	for (size_t i = 0; s && i < s->thread_count; i++)
		if (s->threads[i].tid == tid && s->threads[i].name)
			return s->threads[i].name;
	return "";
}

/* One transition: before (the task as last shown) to after (NULL: gone, i.e. completed). */
static void print_step(const struct ai_step_options *o, uint64_t n, const struct ai_snapshot_task *before,
		       const struct ai_snapshot *snapshot, const struct ai_snapshot_task *after, bool completed, pid_t tid)
{
	const struct ai_await_node *left = state_node(before), *reached = after ? state_node(after) : NULL;
	if (o->json) {
		struct ai_json_writer w;
		ai_json_writer_init(&w, stdout, false);
		ai_json_begin_object(&w);
		ai_json_field_string(&w, "format", "async-inspect-step");
		ai_json_field_int(&w, "version", 1);
		ai_json_field_uint(&w, "step", n);
		if (before->has_id)
			ai_json_field_uint(&w, "task_id", before->id);
		ai_json_field_hex(&w, "task_address", before->address);
		ai_json_field_bool(&w, "completed", completed);
		if (tid)
			ai_json_field_int(&w, "thread", tid);
		write_place_json(&w, "left", left);
		write_place_json(&w, "reached", reached);
		ai_json_key(&w, "changed");
		ai_json_begin_array(&w);
		if (after)
			for_each_change(before, after, write_change_json, &w);
		ai_json_end_array(&w);
		ai_json_key(&w, "task");
		if (after)
			ai_write_task_json(&w, after);
		else
			ai_json_null(&w);
		ai_json_end_object(&w);
		ai_json_writer_finish(&w);
		putchar('\n');
	} else {
		printf("step %llu: task ", (unsigned long long)n);
		if (before->has_id)
			printf("%llu", (unsigned long long)before->id);
		else
			printf("0x%llx", (unsigned long long)before->address);
		printf(" %s%s", before->future ? before->future : "?", completed ? " completed" : "");
		if (tid)
			printf(", thread %d \"%s\"", (int)tid, thread_name(snapshot, tid));
		putchar('\n');
		print_place_text("left", left);
		if (after && !(completed && !reached))
			print_place_text("reached", reached);
		else
			printf("  %-8s (the task is gone)\n", "reached");
		if (after) {
			for_each_change(before, after, print_change_text, NULL);
			struct ai_text_options text = { .color = o->color, .locals = o->locals };
			ai_print_task_text(stdout, snapshot, after, &text);
		}
		putchar('\n');
	}
	fflush(stdout);
}

/* --- the loop ------------------------------------------------------------------------------ */

static struct ai_error *dump(struct ai_capture *capture, const struct ai_step_options *o, struct ai_snapshot **ret)
{
	struct ai_async_options async;
	ai_async_options_default(&async);
	async.locals = o->locals;
	async.all_locals = o->all_locals;
	return ai_capture_dump(capture, AI_CAPTURE_KEEP_STOPPED, &async, ret);
}

/* The ids of the snapshot's tasks, for an error that says which there are. */
static char *task_list(const struct ai_snapshot *s)
{
	char *text = NULL;
	size_t size = 0, n = 0;
	FILE *out = open_memstream(&text, &size);
	if (!out)
		return xstrdup("?");
	for (size_t i = 0; s && i < s->task_count; i++) {
		const struct ai_snapshot_task *t = &s->tasks[i];
		if (n == 20) {
			fputs(", ...", out);
			break;
		}
		if (t->has_id)
			fprintf(out, "%s%llu", n ? ", " : "", (unsigned long long)t->id);
		else
			fprintf(out, "%s0x%llx", n ? ", " : "", (unsigned long long)t->address);
		n++;
	}
	if (!n)
		fputs("none", out);
	fclose(out);
	return text;
}

/* The snapshot in which the task is found (target left stopped), or the error saying why not:
 * attached, it must be there now; launched, it is waited for until the program ends. */
static struct ai_error *find_first(struct ai_target *target, struct ai_capture *capture, const struct ai_step_options *o,
				   struct ai_break_result *result, struct ai_snapshot **ret)
{
	char *last_error = NULL;
	struct ai_snapshot *seen = NULL; /* the last snapshot taken, for the error */
	for (;;) {
		struct ai_snapshot *s = NULL;
		struct ai_error *err = dump(capture, o, &s);
		if (!err && find_task(s, &o->task)) {
			ai_snapshot_destroy(seen);
			free(last_error);
			*ret = s;
			return NULL;
		}
		if (err && !o->wait) {
			free(last_error);
			ai_snapshot_destroy(seen);
			return err;
		}
		if (err) {
			free(last_error);
			last_error = xstrdup(err->message);
			ai_error_destroy(err);
		} else {
			ai_snapshot_destroy(seen);
			seen = s;
		}
		if (!o->wait)
			break;
		enum ai_run_event event;
		int status = 0;
		if (!(err = ai_target_run(target, WAIT_POLL_MS, &event, &status)) && event == AI_RUN_EXITED) {
			result->exited = true;
			result->status = status;
			break;
		}
		if (err) {
			free(last_error);
			ai_snapshot_destroy(seen);
			return err;
		}
	}
	char *tasks = task_list(seen);
	struct ai_error *err = ai_error_create(AI_ERROR_NOT_FOUND, "--step %s: %s in process %d%s (its tasks %s: %s)%s%s",
					       o->task_text, o->task.by_address ? "no task at that address" : "no task with that id",
					       (int)target->pid, result->exited ? ", which ran to its end without it" : "",
					       result->exited ? "last seen" : "now", tasks,
					       last_error ? "; the last snapshot failed: " : "", last_error ? last_error : "");
	free(tasks);
	free(last_error);
	ai_snapshot_destroy(seen);
	return err;
}

static struct ai_error *step_loop(struct ai_target *target, struct ai_capture *capture, struct ai_types *types,
				  const struct ai_step_options *o, struct ai_break_result *result)
{
	struct ai_snapshot *shown = NULL;
	struct ai_error *err = find_first(target, capture, o, result, &shown);
	if (err)
		return err;
	uint64_t root = 0;
	const struct ai_snapshot_task *before = find_task(shown, &o->task);
	if ((err = watch_root(target, types, before, o->task_text, &root))) {
		ai_snapshot_destroy(shown);
		return err;
	}
	while (result->hits < o->count) {
		enum ai_run_event event;
		int status;
		if ((err = ai_target_run(target, -1, &event, &status)))
			break;
		if (event == AI_RUN_EXITED) {
			result->exited = true;
			result->status = status;
			fprintf(stderr, "async-inspect: --step %s: the program ended after %llu of %llu steps\n", o->task_text,
				(unsigned long long)result->hits, (unsigned long long)o->count);
			break;
		}
		if (event != AI_RUN_WATCHPOINT)
			continue;
		pid_t tid = target->watch_tid;
		if (target->watch_errno) {
			err = ai_error_from_errno(target->watch_errno,
						  "cannot set the hardware watchpoint in new thread %d of process %d",
						  (int)target->watch_errno_tid, (int)target->pid);
			break;
		}
		struct ai_snapshot *s;
		if ((err = dump(capture, o, &s)))
			break;
		const struct ai_snapshot_task *after = find_task(s, &o->task);
		const struct ai_await_node *after_root = after ? root_coroutine(after) : NULL;
		bool completed = has_completed(after, after_root);
		if (!completed && after_root && after_root->address != root) {
			ai_snapshot_destroy(s);
			err = ai_error_create(AI_ERROR_OTHER, "--step %s: the task's state machine moved from 0x%llx to 0x%llx",
					      o->task_text, (unsigned long long)root, (unsigned long long)after_root->address);
			break;
		}
		if (!completed && same_chain(before, after)) {
			ai_snapshot_destroy(s); /* polled, and parked where it was: no transition */
			if ((err = ai_target_resume(target)))
				break;
			continue;
		}
		result->hits++;
		print_step(o, result->hits, before, s, after, completed, tid);
		ai_snapshot_destroy(shown);
		shown = s;
		before = after;
		if (completed) {
			if (result->hits < o->count)
				fprintf(stderr, "async-inspect: --step %s: the task completed after %llu of %llu steps\n",
					o->task_text, (unsigned long long)result->hits, (unsigned long long)o->count);
			break;
		}
		if ((err = ai_target_resume(target)))
			break;
	}
	ai_snapshot_destroy(shown);
	return err;
}

struct ai_error *ai_step_run(struct ai_target *target, const struct ai_step_options *o, struct ai_break_result *result)
{
	memset(result, 0, sizeof(*result));
	struct ai_error *err = ai_target_stop(target);
	if (err)
		return err;
	struct ai_debuginfo *di = NULL;
	struct ai_capture *capture = NULL;
	struct ai_types *types = NULL;
	err = ai_debuginfo_create(target, &di);
	if (!err)
		err = ai_debuginfo_check_rust(di);
	if (!err)
		err = ai_capture_create(target, &capture);
	if (!err) {
		struct ai_dwarf *dw = ai_debuginfo_main_dwarf(di);
		if (!dw)
			err = ai_error_create(AI_ERROR_DWARF, "cannot read the DWARF of %s", target->exe_path);
		else
			types = ai_types_create(dw);
	}
	if (!err)
		err = step_loop(target, capture, types, o, result);
	/* Every path out, errors included, clears the watchpoint and detaches: the program runs on
	 * to its own end. */
	if (!result->exited)
		ai_target_detach(target);
	ai_types_destroy(types);
	ai_capture_destroy(capture);
	ai_debuginfo_destroy(di);
	return err;
}
