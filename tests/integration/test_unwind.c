/* Unwinding real threads through the debuginfo layer: a child of this test (C), and the Rust
 * fixtures when they are built. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/debuginfo.h"
#include "ai/memory.h"
#include "ai/target.h"
#include "ai/unwind.h"
#include "ai/util.h"
#include "support.h"

/* ---- a child of ours, blocked two calls deep ---- */

__attribute__((noinline, used)) void ai_test_child_level2(int fd);
__attribute__((noinline, used)) void ai_test_child_level2(int fd)
{
	char c = 'r';
	if (write(fd, &c, 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

__attribute__((noinline, used)) void ai_test_child_level1(int fd);
__attribute__((noinline, used)) void ai_test_child_level1(int fd)
{
	ai_test_child_level2(fd);
	__asm__ volatile("" ::: "memory"); /* no tail call */
}

static pid_t start_child(void)
{
	int fds[2];
	cr_assert(pipe(fds) == 0);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		close(fds[0]);
		ai_test_child_level1(fds[1]);
		_exit(0);
	}
	close(fds[1]);
	char c;
	cr_assert(read(fds[0], &c, 1) == 1);
	close(fds[0]);
	usleep(20000); /* let it reach pause() */
	return pid;
}

static void stop_child(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static const struct ai_frame *find_frame(const struct ai_stack *s, const char *function, size_t from)
{
	for (size_t i = from; i < s->count; i++) {
		if (s->frames[i].location.function && strcmp(s->frames[i].location.function, function) == 0)
			return &s->frames[i];
	}
	return NULL;
}

static const struct ai_frame *find_frame_prefix(const struct ai_stack *s, const char *prefix)
{
	for (size_t i = 0; i < s->count; i++) {
		const char *f = s->frames[i].location.function;
		if (f && strncmp(f, prefix, strlen(prefix)) == 0)
			return &s->frames[i];
	}
	return NULL;
}

static char *describe(const struct ai_stack *s)
{
	size_t cap = 4096, len = 0;
	char *out = xmalloc(cap);
	out[0] = '\0';
	for (size_t i = 0; i < s->count; i++) {
		const struct ai_frame *f = &s->frames[i];
		char *line = xasprintf("#%zu %#lx sp %#lx cfa %#lx %s%s %s:%u\n", f->physical_index,
				       (unsigned long)f->pc, (unsigned long)f->sp, (unsigned long)f->cfa,
				       f->inlined ? "[inl] " : "",
				       f->location.function ? f->location.function : "??",
				       f->location.file ? f->location.file : "?", f->location.line);
		size_t l = strlen(line);
		if (len + l + 1 > cap) {
			cap = 2 * (len + l + 1);
			out = xrealloc(out, cap);
		}
		memcpy(out + len, line, l + 1);
		len += l;
		free(line);
	}
	if (s->stop_reason) {
		char *tail = xasprintf("%s(stopped: %s)\n", out, s->stop_reason);
		free(out);
		out = tail;
	}
	return out;
}

Test(unwind, child_blocked_in_libc, .timeout = 60)
{
	pid_t pid = start_child();
	struct ai_target *target;
	struct ai_error *err = ai_target_attach(pid, &target);
	cr_assert_null(err, "%s", err ? err->message : "");
	cr_assert_null(ai_target_stop(target));
	ai_memory_set_caching(target->memory, true);
	struct ai_debuginfo *di;
	err = ai_debuginfo_create(target, &di);
	cr_assert_null(err, "%s", err ? err->message : "");
	cr_expect(!ai_debuginfo_is_rust(di));
	err = ai_debuginfo_check_rust(di);
	cr_assert_not_null(err);
	cr_expect_eq(err->code, AI_ERROR_UNSUPPORTED);
	cr_expect(strstr(err->message, "is not a Rust program") != NULL);
	ai_error_destroy(err);

	cr_assert_eq(target->thread_count, 1);
	struct ai_stack stack;
	cr_assert_null(ai_unwind_thread(di, &target->threads[0], &stack));
	char *text = describe(&stack);
	/* innermost: libc's pause (named from its symbols, or DWARF if libc6-dbg is installed) */
	cr_assert_gt(stack.count, 3, "%s", text);
	cr_assert_not_null(stack.frames[0].module, "%s", text);
	cr_expect(strstr(stack.frames[0].module->path, "libc") != NULL, "%s", text);
	cr_expect_eq(stack.frames[0].regs_valid & (1u << AI_REG_RAX), 1u << AI_REG_RAX);
	cr_expect(!stack.frames[0].is_return_address);
	const struct ai_frame *l2 = find_frame(&stack, "ai_test_child_level2", 0);
	cr_assert_not_null(l2, "%s", text);
	const struct ai_frame *l1 = find_frame(&stack, "ai_test_child_level1", (size_t)(l2 - stack.frames));
	cr_assert_not_null(l1, "%s", text);
	cr_expect(l1->physical_index == l2->physical_index + 1, "%s", text);
	cr_expect(l1->is_return_address);
	cr_expect(strstr(l2->location.file, "tests/integration/test_unwind.c") != NULL, "%s", text);
	cr_expect(l1->module && l1->module->is_main);
	cr_expect_neq(l2->location.subprogram_die_offset, 0);
	/* callee-saved registers and the CFA are known in caller frames; the stack grows down */
	cr_expect(l1->regs_valid & (1u << AI_REG_RBX));
	cr_expect(l1->regs_valid & (1u << AI_REG_RSP));
	cr_expect(!(l1->regs_valid & (1u << AI_REG_RAX)), "caller-saved: unknown");
	cr_expect_gt(l1->cfa, l2->cfa);
	cr_expect_eq(l1->sp, l2->cfa, "a caller's sp is its callee's CFA");
	for (size_t i = 1; i < stack.count; i++)
		cr_expect_geq(stack.frames[i].sp, stack.frames[i - 1].sp, "%s", text);
	cr_expect(find_frame(&stack, "_start", 0) != NULL, "%s", text);
	cr_expect_null(stack.stop_reason, "%s", text);

	/* symbolize one pc directly */
	struct ai_symbolization sym;
	cr_assert_null(ai_debuginfo_symbolize(di, l2->pc, true, &sym));
	cr_expect_eq(sym.module, l2->module);
	cr_assert_geq(sym.count, 1);
	cr_expect_str_eq(sym.locations[sym.count - 1].function, "ai_test_child_level2");
	cr_assert_null(ai_debuginfo_symbolize(di, 0x10, false, &sym));
	cr_expect_null(sym.module);
	cr_expect_eq(sym.count, 0);

	free(text);
	ai_stack_deinit(&stack);
	ai_debuginfo_destroy(di);
	ai_target_destroy(target);
	stop_child(pid);
}

Test(unwind, thread_without_registers_is_an_error, .timeout = 60)
{
	pid_t pid = start_child();
	struct ai_target *target;
	cr_assert_null(ai_target_attach(pid, &target));
	struct ai_debuginfo *di;
	cr_assert_null(ai_debuginfo_create(target, &di));
	struct ai_thread thread = { .tid = pid, .regs_valid = false };
	struct ai_stack stack;
	struct ai_error *err = ai_unwind_thread(di, &thread, &stack);
	cr_assert_not_null(err);
	cr_expect_eq(err->code, AI_ERROR_INVALID_ARGUMENT);
	ai_error_destroy(err);
	/* garbage registers: a short stack with a reason, never a crash or a hang */
	memset(&thread.regs, 0, sizeof(thread.regs));
	thread.regs.rip = 0x1234;
	thread.regs.rsp = 0x10;
	thread.regs_valid = true;
	cr_assert_null(ai_unwind_thread(di, &thread, &stack));
	cr_expect_leq(stack.physical_count, 2);
	cr_expect_null(stack.frames[0].module);
	ai_stack_deinit(&stack);
	ai_debuginfo_destroy(di);
	ai_target_destroy(target);
	stop_child(pid);
}

/* ---- Rust fixtures ---- */

struct captured {
	struct ai_target *target;
	struct ai_debuginfo *di;
	struct ai_stack *stacks;
};

static void capture(pid_t pid, struct captured *c)
{
	struct ai_error *err = ai_target_attach(pid, &c->target);
	cr_assert_null(err, "%s", err ? err->message : "");
	cr_assert_null(ai_target_stop(c->target));
	ai_memory_set_caching(c->target->memory, true);
	err = ai_debuginfo_create(c->target, &c->di);
	cr_assert_null(err, "%s", err ? err->message : "");
	cr_expect(ai_debuginfo_is_rust(c->di));
	c->stacks = xcalloc(c->target->thread_count, sizeof(*c->stacks));
	for (size_t i = 0; i < c->target->thread_count; i++) {
		err = ai_unwind_thread(c->di, &c->target->threads[i], &c->stacks[i]);
		cr_assert_null(err, "%s", err ? err->message : "");
	}
	cr_assert_null(ai_target_resume(c->target));
}

static void release(struct captured *c)
{
	for (size_t i = 0; i < c->target->thread_count; i++)
		ai_stack_deinit(&c->stacks[i]);
	free(c->stacks);
	ai_debuginfo_destroy(c->di);
	ai_target_destroy(c->target);
}

Test(unwind_rust, many_threads_frames_and_lines, .timeout = 120)
{
	require_fixtures();
	struct fixture f;
	fixture_start(&f, "plain", "many_threads", NULL);
	struct captured c;
	capture(f.pid, &c);
	static const char *kinds[] = { "park", "condvar", "sleep", "recv" };
	int workers = 0;
	for (size_t t = 0; t < c.target->thread_count; t++) {
		const char *name = c.target->threads[t].name;
		const struct ai_stack *s = &c.stacks[t];
		char *text = describe(s);
		cr_expect_null(s->stop_reason, "thread %s: %s", name, text);
		int i;
		if (sscanf(name, "worker-%d", &i) == 1) {
			workers++;
			char fn[64];
			snprintf(fn, sizeof(fn), "many_threads::w%02d::inner", i);
			const struct ai_frame *inner = find_frame(s, fn, 0);
			cr_expect_not_null(inner, "%s: no %s in\n%s", name, fn, text);
			snprintf(fn, sizeof(fn), "many_threads::w%02d::middle", i);
			const struct ai_frame *middle = inner ? find_frame(s, fn, (size_t)(inner - s->frames)) : NULL;
			cr_expect_not_null(middle, "%s: no %s in\n%s", name, fn, text);
			snprintf(fn, sizeof(fn), "many_threads::w%02d::outer", i);
			cr_expect(middle && find_frame(s, fn, (size_t)(middle - s->frames)), "%s\n%s", fn, text);
			snprintf(fn, sizeof(fn), "many_threads::block_%s", kinds[i % 4]);
			const struct ai_frame *block = find_frame(s, fn, 0);
			cr_expect_not_null(block, "%s: no %s in\n%s", name, fn, text);
			char marker[32];
			snprintf(marker, sizeof(marker), "@block: %s", kinds[i % 4]);
			if (block) {
				cr_expect_eq((int)block->location.line,
					     marker_line("plain/src/bin/many_threads.rs", marker), "%s: %s",
					     name, text);
				cr_expect(strstr(block->location.file, "many_threads.rs") != NULL);
			}
		}
		free(text);
	}
	cr_expect_eq(workers, 16);
	release(&c);
	fixture_kill(&f);
}

Test(unwind_rust, tokio_nested_block_on_and_workers, .timeout = 120)
{
	require_fixtures();
	struct fixture f;
	fixture_start(&f, "tokio-1.24", "nested", NULL);
	struct captured c;
	capture(f.pid, &c);
	bool main_seen = false, worker_seen = false;
	for (size_t t = 0; t < c.target->thread_count; t++) {
		const struct ai_stack *s = &c.stacks[t];
		char *text = describe(s);
		cr_expect_null(s->stop_reason, "%s", text);
		if (c.target->threads[t].tid == f.pid) {
			main_seen = true;
			const struct ai_frame *b = find_frame_prefix(
				s, "tokio::runtime::park::CachedParkThread::block_on<nested::main::");
			cr_expect_not_null(b, "%s", text);
			cr_expect(find_frame(s, "nested::main", 0) != NULL, "%s", text);
			/* the frame keeps what locals need: its subprogram DIE and registers */
			if (b) {
				cr_expect_neq(b->location.subprogram_die_offset, 0);
				cr_expect(b->regs_valid & (1u << AI_REG_RSP));
				cr_expect_neq(b->cfa, 0);
			}
		}
		if (find_frame(s, "tokio::runtime::scheduler::multi_thread::worker::run", 0))
			worker_seen = true;
		free(text);
	}
	cr_expect(main_seen);
	cr_expect(worker_seen);
	release(&c);
	fixture_kill(&f);
}

Test(unwind_rust, nodebug_executable_is_refused, .timeout = 60)
{
	require_fixtures();
	struct fixture f;
	fixture_start(&f, "nodebug", "nodebug", NULL);
	struct ai_target *target;
	cr_assert_null(ai_target_attach(f.pid, &target));
	struct ai_debuginfo *di;
	struct ai_error *err = ai_debuginfo_create(target, &di);
	cr_assert_not_null(err);
	cr_expect_eq(err->code, AI_ERROR_NO_DEBUGINFO);
	cr_expect(strstr(err->message, "nodebug has no debug info (") != NULL, "%s", err->message);
	cr_expect(strstr(err->message, "build it with `debug = true`") != NULL, "%s", err->message);
	ai_error_destroy(err);
	ai_target_destroy(target);
	fixture_kill(&f);
}
