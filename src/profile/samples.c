/* `profile`'s CPU samples as folded frames: each sample (a thread's user registers and a copy of
 * its stack, uprobes.c) unwound off-line with libunwind over that copy (ai_unwind_sample: the
 * target never stops), symbolized with our DWARF reader, then cut to what a user reads:
 *
 * - a sample of a thread polling a task: from the innermost frame of the runtime's task poll
 *   function (a probe point of kind POLL) inward. The coroutine poll bodies there
 *   (`path::{async_fn#N}`, `{async_block#N}` subprograms) are the task's await chain as it runs
 *   now, root first, each named as the await tree names it ("app::handle" for its async fn);
 *   the glue between them (the runtime's poll machinery, Pin's and combinators' polls) is left
 *   out. Then every frame inside the innermost one (what the async fn running now calls),
 *   innermost last. Without a coroutine frame (the runtime's own code inside the poll) only the
 *   runtime's frame is left; without the poll function's frame (the unwinding stopped short) the
 *   frames are kept and the task's await chain from the snapshots is put before them.
 * - a sample of a thread polling nothing: its frames, outermost first.
 *
 * Frames of a runtime's own crate (its adapter's name as its crate's path spells it: "tokio::",
 * "async_task::"; generic impls "<tokio::...>" too) are folded, a run of them into one
 * "[tokio scheduler]" frame, unless --runtime-frames, which also keeps the glue. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/profile.h"
#include "ai/runtime.h"
#include "ai/unwind.h"
#include "ai/util.h"

struct poll_function {
	struct ai_module *module;
	uint64_t die_offset; /* its subprogram DIE, or 0 */
	char *name;          /* owned, or NULL */
};

struct ai_sample_folder {
	struct ai_debuginfo *di; /* borrowed */
	pid_t pid;
	bool runtime_frames;
	struct poll_function *polls;
	size_t poll_count;
	char **crates;       /* owned: "tokio::" */
	char **labels;       /* owned: "[tokio scheduler]" */
	size_t runtime_count;
	uint64_t unwound, failed;
};

struct ai_sample_folder *ai_sample_folder_create(struct ai_debuginfo *di, pid_t pid,
						 const struct ai_probe_point *points, size_t count,
						 const char *runtimes, bool runtime_frames)
{
	struct ai_sample_folder *f = xcalloc(1, sizeof(*f));
	f->di = di;
	f->pid = pid;
	f->runtime_frames = runtime_frames;
	f->polls = xcalloc(count + 1, sizeof(*f->polls));
	for (size_t i = 0; i < count; i++) {
		if (points[i].kind != AI_PROBE_POLL)
			continue;
		struct ai_symbolization sym;
		ai_error_destroy(ai_debuginfo_symbolize(di, points[i].address, false, &sym));
		if (!sym.count)
			continue;
		const struct ai_location *l = &sym.locations[sym.count - 1]; /* the function, not inlined */
		f->polls[f->poll_count++] = (struct poll_function){
			.module = sym.module, .die_offset = l->subprogram_die_offset,
			.name = l->function ? xstrdup(l->function) : NULL,
		};
	}
	/* "tokio, async-task" */
	size_t capacity = 0, label_capacity = 0;
	for (const char *s = runtimes ? runtimes : ""; *s;) {
		s += strspn(s, ", ");
		size_t len = strcspn(s, ", ");
		if (!len)
			break;
		char *crate = xasprintf("%.*s::", (int)len, s);
		for (char *c = crate; *c; c++)
			if (*c == '-')
				*c = '_';
		AI_GROW(f->crates, capacity, f->runtime_count + 1);
		AI_GROW(f->labels, label_capacity, f->runtime_count + 1);
		f->crates[f->runtime_count] = crate;
		f->labels[f->runtime_count++] = xasprintf("[%.*s scheduler]", (int)len, s);
		s += len;
	}
	return f;
}

void ai_sample_folder_destroy(struct ai_sample_folder *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->poll_count; i++)
		free(f->polls[i].name);
	free(f->polls);
	for (size_t i = 0; i < f->runtime_count; i++) {
		free(f->crates[i]);
		free(f->labels[i]);
	}
	free(f->crates);
	free(f->labels);
	free(f);
}

void ai_sample_folder_stats(const struct ai_sample_folder *f, uint64_t *unwound_ret, uint64_t *failed_ret)
{
	*unwound_ret = f->unwound;
	*failed_ret = f->failed;
}

static const char *function_of(const struct ai_frame *frame)
{
	return frame->location.function ? frame->location.function : frame->symbol;
}

/* The runtime whose crate the frame's function is of, or SIZE_MAX. */
static size_t runtime_of(const struct ai_sample_folder *f, const struct ai_frame *frame)
{
	const char *fn = function_of(frame);
	if (!fn)
		return SIZE_MAX;
	if (*fn == '<')
		fn++;
	for (size_t r = 0; r < f->runtime_count; r++)
		if (strncmp(fn, f->crates[r], strlen(f->crates[r])) == 0)
			return r;
	return SIZE_MAX;
}

static bool is_poll_function(const struct ai_sample_folder *f, const struct ai_frame *frame)
{
	if (frame->inlined)
		return false; /* the poll function is probed: a machine frame of its own */
	for (size_t i = 0; i < f->poll_count; i++) {
		const struct poll_function *p = &f->polls[i];
		if (p->die_offset && frame->module == p->module &&
		    frame->location.subprogram_die_offset == p->die_offset)
			return true;
		/* (by name without its DIE, or for a frame of a snapshot's stack, which has no module) */
		if ((!p->die_offset || !frame->module) && p->name && function_of(frame) &&
		    strcmp(function_of(frame), p->name) == 0)
			return true;
	}
	return false;
}

/* "a::b::{async_fn#0}" (maybe followed by generic arguments) -> "a::b" and those arguments;
 * an async block keeps its whole path. NULL: not a coroutine's poll body. */
static char *coroutine_name(const char *function)
{
	if (!function)
		return NULL;
	const char *hit = NULL;
	for (const char *s = function; (s = strstr(s, "::{async_fn#")); s++)
		hit = s;
	if (hit) {
		const char *close = strchr(hit, '}');
		if (close && (close[1] == '\0' || close[1] == '<'))
			return xasprintf("%.*s%s", (int)(hit - function), function, close + 1);
	}
	const char *block = strstr(function, "::{async_block#");
	if (block) {
		const char *close = strchr(block, '}');
		if (close && (close[1] == '\0' || close[1] == '<'))
			return xstrdup(function);
	}
	return NULL;
}

struct out {
	char *text;
	size_t len, capacity;
	size_t last_runtime; /* of the frame just written, if it was folded; else SIZE_MAX */
};

/* Appends a frame: ';' separates frames and a newline ends a folded line, so neither may be in
 * one ("[u8; 4]" becomes "[u8, 4]"). */
static void put(struct out *o, const char *name)
{
	size_t n = strlen(name);
	AI_GROW(o->text, o->capacity, o->len + n + 2);
	if (o->len)
		o->text[o->len++] = ';';
	for (size_t i = 0; i < n; i++)
		o->text[o->len++] = name[i] == ';' ? ',' : name[i] == '\n' ? ' ' : name[i];
	o->text[o->len] = '\0';
	o->last_runtime = SIZE_MAX;
}

static void put_frame(const struct ai_sample_folder *f, struct out *o, const struct ai_frame *frame)
{
	size_t r = f->runtime_frames ? SIZE_MAX : runtime_of(f, frame);
	if (r != SIZE_MAX) {
		if (o->last_runtime != r)
			put(o, f->labels[r]);
		o->last_runtime = r;
		return;
	}
	const char *fn = function_of(frame);
	if (fn) {
		put(o, fn);
		return;
	}
	char name[96];
	if (frame->module) {
		const char *base = strrchr(frame->module->path, '/');
		snprintf(name, sizeof(name), "%s+0x%" PRIx64, base ? base + 1 : frame->module->path,
			 frame->pc - frame->module->bias);
	} else {
		snprintf(name, sizeof(name), "[unknown]");
	}
	put(o, name);
}

/* The standard library's own code (its crates core, std and alloc, and its __rust_ helpers),
 * which a runtime's frames call through (catch_unwind, LocalKey::with). */
static bool is_std(const struct ai_frame *frame)
{
	const char *fn = function_of(frame);
	if (!fn)
		return false;
	if (*fn == '<')
		fn++;
	return strncmp(fn, "core::", 6) == 0 || strncmp(fn, "std::", 5) == 0 || strncmp(fn, "alloc::", 7) == 0 ||
	       strncmp(fn, "__rust_", 7) == 0;
}

/* The frames stack[outer] to stack[inner_end] (innermost first: outer >= inner_end), written
 * outermost first. Standard library frames between two frames of one runtime join its run. */
static void put_range(const struct ai_sample_folder *f, struct out *o, const struct ai_stack *stack,
		      size_t outer, size_t inner_end)
{
	for (size_t i = outer + 1; i-- > inner_end;) {
		const struct ai_frame *frame = &stack->frames[i];
		if (o->last_runtime != SIZE_MAX && is_std(frame)) {
			size_t next = i;
			while (next-- > inner_end && is_std(&stack->frames[next]))
				;
			if (next != SIZE_MAX && next >= inner_end && runtime_of(f, &stack->frames[next]) == o->last_runtime)
				continue; /* inside the run */
		}
		put_frame(f, o, frame);
	}
}

static void thread_regs(const struct ai_cpu_sample *s, struct ai_thread *t)
{
	struct user_regs_struct *r = &t->regs;
	const uint64_t *g = s->regs;
	r->rax = g[0];
	r->rbx = g[1];
	r->rcx = g[2];
	r->rdx = g[3];
	r->rsi = g[4];
	r->rdi = g[5];
	r->rbp = g[AI_CPU_SAMPLE_BP];
	r->rsp = g[AI_CPU_SAMPLE_SP];
	r->rip = g[AI_CPU_SAMPLE_IP];
	r->r8 = g[16];
	r->r9 = g[17];
	r->r10 = g[18];
	r->r11 = g[19];
	r->r12 = g[20];
	r->r13 = g[21];
	r->r14 = g[22];
	r->r15 = g[23];
	t->regs_valid = true;
}

char *ai_sample_folder_fold(struct ai_sample_folder *f, const struct ai_cpu_sample *s, uint32_t tid,
			    bool polling, bool *chain_ret)
{
	*chain_ret = false;
	struct ai_thread thread = { .tid = (pid_t)tid };
	thread_regs(s, &thread);
	struct ai_stack stack = { 0 };
	struct ai_error *err = ai_unwind_sample(f->di, &thread, f->pid, s->stack, s->stack_address,
					       s->stack_size, &stack);
	if (err) {
		ai_error_destroy(err);
		f->failed++;
		return xstrdup("[unknown]");
	}
	char *text = ai_sample_folder_fold_stack(f, &stack, polling, chain_ret);
	ai_stack_deinit(&stack);
	return text;
}

char *ai_sample_folder_fold_stack(struct ai_sample_folder *f, const struct ai_stack *stack, bool polling,
				  bool *chain_ret)
{
	*chain_ret = false;
	f->unwound++;
	if (stack->stop_reason)
		f->failed++;
	struct out o = { .last_runtime = SIZE_MAX };
	if (!stack->count) {
		put(&o, "[unknown]");
	} else if (!polling) {
		put_range(f, &o, stack, stack->count - 1, 0);
	} else {
		/* The region of the task's poll: the innermost poll function's frame inward. */
		size_t region = stack->count - 1;
		bool found = false;
		for (size_t i = 0; i < stack->count && !found; i++)
			if ((found = is_poll_function(f, &stack->frames[i])))
				region = i;
		size_t innermost = SIZE_MAX; /* the innermost coroutine frame */
		for (size_t i = 0; i <= region && innermost == SIZE_MAX; i++) {
			char *name = coroutine_name(function_of(&stack->frames[i]));
			if (name)
				innermost = i;
			free(name);
		}
		if (innermost != SIZE_MAX) {
			for (size_t i = region + 1; i-- > innermost;) {
				char *name = coroutine_name(function_of(&stack->frames[i]));
				if (name)
					put(&o, name);
				else if (f->runtime_frames)
					put_frame(f, &o, &stack->frames[i]);
				free(name);
			}
			if (innermost > 0)
				put_range(f, &o, stack, innermost - 1, 0);
		} else {
			*chain_ret = !found;
			put_range(f, &o, stack, region, 0);
		}
	}
	return o.text;
}
