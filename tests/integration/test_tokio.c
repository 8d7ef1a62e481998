/* The tokio adapter (ai_runtimes_collect) on the tokio fixtures of every version: runtimes from the threads' CONTEXT,
 * every task of their OwnedTasks, statuses, ids and flavors; live processes and a core file. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/async.h"
#include "ai/runtime.h"
#include "../../src/runtime/tokio/tokio.h"
#include "ai/debuginfo.h"
#include "ai/snapshot.h"
#include "ai/target.h"
#include "ai/unwind.h"
#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

TestSuite(tokio, .init = require_fixtures, .timeout = 300);

struct capture {
	struct ai_target *target;
	struct ai_debuginfo *di;
	struct ai_stack *stacks;
	size_t stack_count;
	struct ai_async *as;
	struct ai_snapshot *snapshot;
	uint64_t collect_us; /* ai_runtimes_collect alone */
	uint64_t pause_us;   /* stop .. resume, live targets */
};

static void capture_collect(struct capture *c)
{
	struct ai_error *err = ai_debuginfo_create(c->target, &c->di);
	cr_assert_null(err, "%s", err ? err->message : "");
	c->stack_count = c->target->thread_count;
	c->stacks = xcalloc(c->stack_count, sizeof(*c->stacks));
	for (size_t i = 0; i < c->stack_count; i++) {
		err = ai_unwind_thread(c->di, &c->target->threads[i], &c->stacks[i]);
		cr_assert_null(err, "%s", err ? err->message : "");
	}
	err = ai_async_create(c->target, c->di, NULL, &c->as);
	cr_assert_null(err, "%s", err ? err->message : "");
	c->snapshot = ai_snapshot_create();
	uint64_t t0 = ai_now_us();
	err = ai_runtimes_collect(c->as, c->stacks, c->snapshot);
	c->collect_us = ai_now_us() - t0;
	cr_assert_null(err, "%s", err ? err->message : "");
}

/* Attaches, stops, collects, resumes (the target keeps running; destroy detaches). */
static void capture_live(struct capture *c, pid_t pid)
{
	memset(c, 0, sizeof(*c));
	struct ai_error *err = ai_target_attach(pid, &c->target);
	cr_assert_null(err, "%s", err ? err->message : "");
	err = ai_target_stop(c->target);
	cr_assert_null(err, "%s", err ? err->message : "");
	ai_memory_set_caching(c->target->memory, true);
	capture_collect(c);
	err = ai_target_resume(c->target);
	cr_assert_null(err, "%s", err ? err->message : "");
	c->pause_us = c->target->last_pause_us;
}

static void capture_release(struct capture *c)
{
	ai_snapshot_destroy(c->snapshot);
	ai_async_destroy(c->as);
	for (size_t i = 0; i < c->stack_count; i++)
		ai_stack_deinit(&c->stacks[i]);
	free(c->stacks);
	ai_debuginfo_destroy(c->di);
	ai_target_destroy(c->target);
}

/* For failure messages: every task and warning. */
static char *describe(const struct ai_snapshot *s)
{
	size_t cap = 4096, len = 0;
	char *out = xcalloc(1, cap);
	for (size_t i = 0; i < s->task_count + s->warning_count && len < 64 * 1024; i++) {
		char *line;
		if (i < s->task_count) {
			const struct ai_snapshot_task *t = &s->tasks[i];
			line = xasprintf("task %" PRIu64 " %s %s rt=%#" PRIx64 " %s thread=%d %s\n",
					 t->id, t->status, t->flavor ? t->flavor : "-",
					 t->runtime_address, t->future ? t->future : "?",
					 (int)t->thread, t->tree.error ? t->tree.error : "");
		} else {
			line = xasprintf("warning: %s\n", s->warnings[i - s->task_count]);
		}
		size_t l = strlen(line);
		if (len + l + 1 > cap)
			out = xrealloc(out, cap = 2 * (len + l + 1));
		memcpy(out + len, line, l + 1);
		len += l;
		free(line);
	}
	return out;
}

static int count_future(const struct ai_snapshot *s, const char *part)
{
	int n = 0;
	for (size_t i = 0; i < s->task_count; i++)
		if (s->tasks[i].future && strstr(s->tasks[i].future, part))
			n++;
	return n;
}

static int compare_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Every task: a tokio task with an id (all distinct), the status and flavor given. */
static void expect_tasks(const struct ai_snapshot *s, const char *status, const char *flavor,
			 const char *text)
{
	uint64_t *ids = xcalloc(s->task_count + 1, sizeof(*ids));
	for (size_t i = 0; i < s->task_count; i++) {
		const struct ai_snapshot_task *t = &s->tasks[i];
		cr_expect_str_eq(t->runtime, "tokio");
		cr_expect_str_eq(t->kind, "task");
		cr_expect(t->has_id && t->id != 0, "task %zu has an id\n%s", i, text);
		cr_expect_str_eq(t->status, status, "task %" PRIu64 "\n%s", t->id, text);
		if (flavor)
			cr_expect(t->flavor && strcmp(t->flavor, flavor) == 0, "task %" PRIu64 " is %s\n%s",
				  t->id, flavor, text);
		cr_expect_neq(t->address, 0);
		cr_expect_neq(t->runtime_address, 0);
		cr_expect_null(t->tree.error, "task %" PRIu64 ": %s", t->id, t->tree.error);
		ids[i] = t->id;
	}
	qsort(ids, s->task_count, sizeof(*ids), compare_u64);
	for (size_t i = 1; i < s->task_count; i++)
		cr_expect_neq(ids[i], ids[i - 1], "task id %" PRIu64 " twice\n%s", ids[i], text);
	free(ids);
}

static void expect_version(const struct ai_snapshot *s, const char *crate)
{
	/* crate "tokio-1.24" -> "1.24.<patch>" */
	const struct ai_snapshot_runtime *rt = ai_snapshot_runtime(s, "tokio");
	cr_assert(rt && rt->version, "%s: no tokio version", crate);
	const char *want = crate + strlen("tokio-");
	cr_expect(strncmp(rt->version, want, strlen(want)) == 0 && rt->version[strlen(want)] == '.',
		  "version %s of %s", rt->version, crate);
}

/* The tasks of tests/fixtures/tokio/src/shapes.rs: level1 x5, holder, and spawn_all's block. */
static void expect_shapes(const struct ai_snapshot *s, const char *flavor, const char *crate)
{
	char *text = describe(s);
	cr_expect_eq(s->task_count, 7, "%s: %zu tasks\n%s", crate, s->task_count, text);
	cr_expect_eq(ai_snapshot_runtime_instances(s), 1, "%s\n%s", crate, text);
	cr_expect_eq(s->warning_count, 0, "%s\n%s", crate, text);
	expect_tasks(s, "idle", flavor, text);
	cr_expect_eq(count_future(s, "level1"), 5, "%s\n%s", crate, text);
	cr_expect_eq(count_future(s, "holder"), 1, "%s\n%s", crate, text);
	cr_expect_eq(count_future(s, "spawn_all"), 1, "%s\n%s", crate, text);
	expect_version(s, crate);
	free(text);
}

Test(tokio, nested_multi_thread_every_version)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "nested", NULL);
		struct capture c;
		capture_live(&c, f.pid);
		expect_shapes(c.snapshot, "multi_thread", *v);
		capture_release(&c);
		fixture_kill(&f);
	}
}

Test(tokio, current_thread_every_version)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "current_thread", NULL);
		struct capture c;
		capture_live(&c, f.pid);
		expect_shapes(c.snapshot, "current_thread", *v);
		capture_release(&c);
		fixture_kill(&f);
	}
}

/* Collecting after the target runs again (as a capture does that decodes a frozen copy of the
 * memory): the threads' fs_base from the stop the stacks were unwound at. The fixture is idle, so
 * its memory is the same. */
Test(tokio, collect_after_resume)
{
	const char *const *v = tokio_versions();
	struct fixture f;
	fixture_start(&f, v[0], "nested", NULL);
	struct capture c;
	memset(&c, 0, sizeof(c));
	struct ai_error *err = ai_target_attach(f.pid, &c.target);
	cr_assert_null(err, "%s", err ? err->message : "");
	cr_assert_null(ai_target_stop(c.target));
	cr_assert_null(ai_debuginfo_create(c.target, &c.di));
	c.stack_count = c.target->thread_count;
	c.stacks = xcalloc(c.stack_count, sizeof(*c.stacks));
	for (size_t i = 0; i < c.stack_count; i++)
		cr_assert_null(ai_unwind_thread(c.di, &c.target->threads[i], &c.stacks[i]));
	cr_assert_null(ai_target_resume(c.target));
	cr_assert_null(ai_async_create(c.target, c.di, NULL, &c.as));
	c.snapshot = ai_snapshot_create();
	cr_assert_null(ai_runtimes_collect(c.as, c.stacks, c.snapshot));
	expect_shapes(c.snapshot, "multi_thread", v[0]);
	capture_release(&c);
	fixture_kill(&f);
}

/* Every shape of future as a task (boxed dyn futures, closures, generics, combinators). The
 * finished task is not in the runtime's list any more (tokio removes it when it completes). */
Test(tokio, shapes_zoo_every_version)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "shapes_zoo", NULL);
		struct capture c;
		capture_live(&c, f.pid);
		const struct ai_snapshot *s = c.snapshot;
		char *text = describe(s);
		cr_expect_eq(s->task_count, 17, "%s: %zu tasks\n%s", *v, s->task_count, text);
		cr_expect_eq(ai_snapshot_runtime_instances(s), 1, "%s\n%s", *v, text);
		cr_expect_eq(s->warning_count, 0, "%s\n%s", *v, text);
		expect_tasks(s, "idle", "multi_thread", text);
		cr_expect_eq(count_future(s, "generic_wait"), 2, "%s\n%s", *v, text);
		cr_expect_eq(count_future(s, "hold_finished"), 1, "%s\n%s", *v, text);
		cr_expect_eq(count_future(s, "finishes_at_once"), 0, "%s\n%s", *v, text);
		free(text);
		capture_release(&c);
		fixture_kill(&f);
	}
}

Test(tokio, hundred_every_version)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "hundred", NULL);
		struct capture c;
		capture_live(&c, f.pid);
		const struct ai_snapshot *s = c.snapshot;
		char *text = describe(s);
		cr_expect_eq(s->task_count, 100, "%s: %zu tasks\n%s", *v, s->task_count, text);
		cr_expect_eq(s->warning_count, 0, "%s\n%s", *v, text);
		expect_tasks(s, "idle", "multi_thread", text);
		cr_expect_eq(count_future(s, "level1"), 100, "%s\n%s", *v, text);
		free(text);
		capture_release(&c);
		fixture_kill(&f);
	}
}

/* A tokio program with a futures::executor::block_on on a thread of its own: both runtimes are
 * listed, and each task and block_on future is labelled with its own, with its wait and line. */
Test(tokio, tokio_and_a_futures_block_on_in_one_process)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "mixed_runtimes", NULL);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, "--format", "json", NULL });
	fixture_kill(&f);
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	json_t *root = doc_parse(r.out, "dump");
	size_t i;
	json_t *item;
	bool tokio = false, futures = false;
	json_array_foreach(json_object_get(root, "runtimes"), i, item) {
		bool decoded = json_is_true(json_object_get(item, "decoded"));
		tokio |= strcmp(doc_str(item, "name"), "tokio") == 0 && decoded;
		futures |= strcmp(doc_str(item, "name"), "futures") == 0 && decoded;
	}
	cr_expect(tokio && futures, "both runtimes listed and decoded: %s", r.out);
	static const struct {
		const char *future, *kind, *runtime, *wait, *marker;
	} want[] = {
		{ "mixed_runtimes::tokio_waiter", "task", "tokio", "oneshot", "@await: mixed-tokio" },
		{ "mixed_runtimes::futures_side", "block_on", "futures", "channel_recv", "@await: mixed-futures" },
	};
	for (size_t k = 0; k < AI_ARRAY_SIZE(want); k++) {
		json_t *t = doc_item_by_string(json_object_get(root, "tasks"), "future", want[k].future, 0);
		cr_assert_not_null(t, "%s: %s", want[k].future, r.out);
		cr_expect_str_eq(doc_str(t, "kind"), want[k].kind, "%s", want[k].future);
		cr_expect_str_eq(doc_str(t, "runtime"), want[k].runtime, "%s", want[k].future);
		cr_expect_str_eq(doc_str(json_object_get(t, "wait"), "kind"), want[k].wait, "%s", want[k].future);
		cr_expect_eq(json_integer_value(json_object_get(json_object_get(t, "tree"), "line")),
			     marker_line("tokio/src/bin/mixed_runtimes.rs", want[k].marker), "%s", want[k].future);
	}
	json_decref(root);
	tool_result_free(&r);
}

/* Two runtimes in one process: each task in the right one. */
Test(tokio, two_runtimes_every_version)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "two_runtimes", NULL);
		struct capture c;
		capture_live(&c, f.pid);
		const struct ai_snapshot *s = c.snapshot;
		char *text = describe(s);
		cr_expect_eq(ai_snapshot_runtime_instances(s), 2, "%s\n%s", *v, text);
		cr_expect_eq(s->task_count, 6, "%s\n%s", *v, text);
		cr_expect_eq(s->warning_count, 0, "%s\n%s", *v, text);
		expect_tasks(s, "idle", NULL, text);
		uint64_t multi = 0, current = 0;
		int in_multi = 0, in_current = 0;
		for (size_t i = 0; i < s->task_count; i++) {
			const struct ai_snapshot_task *t = &s->tasks[i];
			bool is_multi = strstr(t->future, "multi_") != NULL;
			cr_expect(is_multi || strstr(t->future, "current_"), "%s", t->future);
			uint64_t *rt = is_multi ? &multi : &current;
			if (!*rt)
				*rt = t->runtime_address;
			cr_expect_eq(t->runtime_address, *rt, "%s: %s in one runtime\n%s", *v,
				     t->future, text);
			cr_expect_str_eq(t->flavor, is_multi ? "multi_thread" : "current_thread");
			*(is_multi ? &in_multi : &in_current) += 1;
		}
		cr_expect_neq(multi, current, "%s\n%s", *v, text);
		cr_expect_eq(in_multi, 3, "%s\n%s", *v, text);
		cr_expect_eq(in_current, 3, "%s\n%s", *v, text);
		cr_expect_eq(count_future(s, "multi_alpha"), 2);
		cr_expect_eq(count_future(s, "multi_beta"), 1);
		cr_expect_eq(count_future(s, "current_gamma"), 2);
		cr_expect_eq(count_future(s, "current_delta"), 1);
		free(text);
		capture_release(&c);
		fixture_kill(&f);
	}
}

static void many_tasks(const char *crate, const char *n_arg, size_t n, const char *flavor)
{
	struct fixture f;
	const char *args[] = { n_arg, flavor && strcmp(flavor, "current_thread") == 0 ? "current" : NULL,
			       NULL };
	fixture_start(&f, crate, "many_tasks", args);
	struct capture c;
	capture_live(&c, f.pid);
	const struct ai_snapshot *s = c.snapshot;
	char *text = s->task_count == n && s->warning_count == 0 ? xstrdup("") : describe(s);
	cr_expect_eq(s->task_count, n, "%s: %zu tasks\n%s", crate, s->task_count, text);
	cr_expect_eq(ai_snapshot_runtime_instances(s), 1, "%s", crate);
	cr_expect_eq(s->warning_count, 0, "%s\n%s", crate, text);
	expect_tasks(s, "idle", flavor, text);
	for (const char *kind = "idle_sleep"; kind; kind = NULL)
		cr_expect_eq(count_future(s, kind), (int)(n / 4), "%s", crate);
	cr_expect_eq(count_future(s, "idle_notify"), (int)(n / 4), "%s", crate);
	cr_expect_eq(count_future(s, "idle_oneshot"), (int)(n / 4), "%s", crate);
	cr_expect_eq(count_future(s, "idle_mpsc"), (int)(n / 4), "%s", crate);
	cr_log_info("%s many_tasks %zu %s: collect %.1f ms, pause %.1f ms", crate, n,
		    flavor ? flavor : "multi_thread", c.collect_us / 1000.0, c.pause_us / 1000.0);
	free(text);
	capture_release(&c);
	fixture_kill(&f);
}

Test(tokio, many_tasks_20000_every_version)
{
	for (const char *const *v = tokio_versions(); *v; v++)
		many_tasks(*v, "20000", 20000, "multi_thread");
}

Test(tokio, many_tasks_100000_current_thread)
{
	const char *const *v = tokio_versions();
	many_tasks(v[0], "100000", 100000, "current_thread");
	while (v[1])
		v++;
	many_tasks(*v, "100000", 100000, "current_thread");
}

/* gcore of nested: the same tasks post-mortem. */
Test(tokio, core_file_every_version)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "nested", NULL);
		char dir[] = "/tmp/ai-tokio-core-XXXXXX";
		cr_assert(mkdtemp(dir));
		char *cmd = xasprintf("gcore -o %s/core %d >/dev/null 2>&1", dir, (int)f.pid);
		cr_assert_eq(system(cmd), 0, "gcore failed");
		char *core = xasprintf("%s/core.%d", dir, (int)f.pid);
		struct capture c;
		memset(&c, 0, sizeof(c));
		struct ai_error *err = ai_target_open_core(core, f.path, &c.target);
		cr_assert_null(err, "%s", err ? err->message : "");
		capture_collect(&c);
		expect_shapes(c.snapshot, "multi_thread", *v);
		capture_release(&c);
		char *rm = xasprintf("rm -rf %s", dir);
		cr_expect_eq(system(rm), 0);
		free(rm);
		free(core);
		free(cmd);
		fixture_kill(&f);
	}
}

/* A Rust program without any runtime: nothing added, no version, one warning saying so. */
Test(tokio, no_tokio_adds_nothing)
{
	struct fixture f;
	fixture_start(&f, "plain", "many_threads", NULL);
	struct capture c;
	capture_live(&c, f.pid);
	cr_expect_eq(c.snapshot->task_count, 0);
	cr_expect_eq(c.snapshot->runtime_count, 0);
	cr_expect_null(ai_snapshot_runtime(c.snapshot, "tokio"));
	cr_expect_eq(c.snapshot->warning_count, 1);
	cr_expect(strstr(c.snapshot->warnings[0], "uses no async runtime that async-inspect knows"), "%s",
		  c.snapshot->warnings[0]);
	capture_release(&c);
	fixture_kill(&f);
}

/* busy: tasks polled right now. CONTEXT.current_task_id names the task a thread polls, so a task
 * with a thread is running (or completing) on one of the target's threads. The workers poll
 * almost all the time, so some of 30 captures find a running task. */
Test(tokio, running_tasks_name_their_thread)
{
	const char *const *v = tokio_versions();
	while (v[1])
		v++;
	struct fixture f;
	fixture_start(&f, *v, "busy", (const char *[]){ "4000000000", NULL });
	int with_thread = 0;
	for (int round = 0; round < 30; round++) {
		struct capture c;
		capture_live(&c, f.pid);
		const struct ai_snapshot *s = c.snapshot;
		char *text = describe(s);
		cr_expect_eq(s->task_count, 16, "%s", text);
		cr_expect_eq(s->warning_count, 0, "%s", text);
		for (size_t i = 0; i < s->task_count; i++) {
			const struct ai_snapshot_task *t = &s->tasks[i];
			if (!t->thread)
				continue;
			with_thread++;
			cr_expect(strcmp(t->status, "running") == 0 || strcmp(t->status, "completed") == 0,
				  "task %" PRIu64 " on thread %d is %s", t->id, (int)t->thread, t->status);
			bool known = false;
			for (size_t k = 0; k < c.target->thread_count; k++)
				known |= c.target->threads[k].tid == t->thread;
			cr_expect(known, "thread %d of task %" PRIu64, (int)t->thread, t->id);
		}
		free(text);
		capture_release(&c);
	}
	cr_expect_gt(with_thread, 0);
	cr_log_info("busy: %d running tasks with their thread in 30 captures", with_thread);
	fixture_kill(&f);
}

/* Writes n bytes at target address `address` into a core file (through its PT_LOAD headers). */
static void core_patch(const char *core, uint64_t address, const void *bytes, size_t n)
{
	cr_assert_neq(elf_version(EV_CURRENT), EV_NONE);
	int fd = open(core, O_RDWR);
	cr_assert_geq(fd, 0);
	Elf *elf = elf_begin(fd, ELF_C_READ, NULL);
	cr_assert_not_null(elf);
	size_t phnum = 0;
	cr_assert_eq(elf_getphdrnum(elf, &phnum), 0);
	bool done = false;
	for (size_t i = 0; i < phnum && !done; i++) {
		GElf_Phdr ph;
		cr_assert_not_null(gelf_getphdr(elf, (int)i, &ph));
		if (ph.p_type == PT_LOAD && address >= ph.p_vaddr && address + n <= ph.p_vaddr + ph.p_filesz) {
			off_t off = (off_t)(ph.p_offset + (address - ph.p_vaddr));
			cr_assert_eq(pwrite(fd, bytes, n, off), (ssize_t)n);
			done = true;
		}
	}
	elf_end(elf);
	close(fd);
	cr_assert(done, "address %#" PRIx64 " is in the core", address);
}

static bool has_warning(const struct ai_snapshot *s, const char *part)
{
	for (size_t i = 0; i < s->warning_count; i++)
		if (strstr(s->warnings[i], part))
			return true;
	return false;
}

static void collect_core(struct capture *c, const char *core, const char *exe)
{
	memset(c, 0, sizeof(*c));
	struct ai_error *err = ai_target_open_core(core, exe, &c->target);
	cr_assert_null(err, "%s", err ? err->message : "");
	capture_collect(c);
}

/* A task whose header was overwritten (a torn or corrupt list) is never read as a task: its list
 * is left there with a warning naming it, the other lists are still walked, nothing crashes.
 * (Header.vtable at +16 and owner_id at +24 from 1.24 on, +32 and +40 in 1.19, whose Header
 * also holds the list links: docs/tokio-layouts.md 1.2.) */
Test(tokio, corrupt_task_is_skipped_with_a_warning)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		uint64_t vtable_at = strcmp(*v, "tokio-1.19") == 0 ? 32 : 16, owner_at = vtable_at + 8;
		struct fixture f;
		fixture_start(&f, *v, "nested", NULL);
		char dir[] = "/tmp/ai-tokio-core-XXXXXX";
		cr_assert(mkdtemp(dir));
		char *cmd = xasprintf("gcore -o %s/core %d >/dev/null 2>&1", dir, (int)f.pid);
		cr_assert_eq(system(cmd), 0, "gcore failed");
		char *core = xasprintf("%s/core.%d", dir, (int)f.pid);
		struct capture c;
		collect_core(&c, core, f.path);
		cr_assert_eq(c.snapshot->task_count, 7);
		uint64_t victim = c.snapshot->tasks[3].address;
		capture_release(&c);
		char *what = xasprintf("the task at %#" PRIx64 " ", victim);

		uint64_t saved[2], junk = 0x4141414141414140ULL;
		/* A vtable that is no tokio vtable. */
		struct capture base;
		collect_core(&base, core, f.path); /* (reads the original words back through the core) */
		cr_assert_null(ai_memory_read(base.target->memory, saved, victim + vtable_at, sizeof(saved)));
		capture_release(&base);
		core_patch(core, victim + vtable_at, &junk, 8);
		collect_core(&c, core, f.path);
		char *text = describe(c.snapshot);
		cr_expect(has_warning(c.snapshot, what) && has_warning(c.snapshot, "has vtable"),
			  "%s: %s\n%s", *v, what, text);
		cr_expect_lt(c.snapshot->task_count, 7, "%s\n%s", *v, text);
		for (size_t i = 0; i < c.snapshot->task_count; i++)
			cr_expect_neq(c.snapshot->tasks[i].address, victim);
		free(text);
		capture_release(&c);
		/* The right vtable, another runtime's owner id. */
		core_patch(core, victim + vtable_at, &saved[0], 8);
		uint64_t owner = saved[1] + 1000;
		core_patch(core, victim + owner_at, &owner, 8);
		collect_core(&c, core, f.path);
		text = describe(c.snapshot);
		cr_expect(has_warning(c.snapshot, what) && has_warning(c.snapshot, "owner id"),
			  "%s: %s\n%s", *v, what, text);
		cr_expect_lt(c.snapshot->task_count, 7, "%s\n%s", *v, text);
		free(text);
		capture_release(&c);

		char *rm = xasprintf("rm -rf %s", dir);
		cr_expect_eq(system(rm), 0);
		free(rm);
		free(what);
		free(core);
		free(cmd);
		fixture_kill(&f);
	}
}

/* DESIGN.md 5.5: the task headers found by scanning memory for known vtables are exactly the ones
 * the list walk finds (no task completed in these fixtures); and 20000 tasks for the newest. */
static void expect_scan_equals_walk(const char *crate, const char *shape, const char *const *args)
{
	struct fixture f;
	fixture_start(&f, crate, shape, args);
	struct capture c;
	memset(&c, 0, sizeof(c));
	struct ai_error *err = ai_target_attach(f.pid, &c.target);
	cr_assert_null(err, "%s", err ? err->message : "");
	err = ai_target_stop(c.target);
	cr_assert_null(err, "%s", err ? err->message : "");
	ai_memory_set_caching(c.target->memory, true);
	capture_collect(&c);
	uint64_t *scanned = NULL;
	size_t scanned_count = 0;
	uint64_t t0 = ai_now_us();
	err = ai_tokio_scan_headers(c.as, &scanned, &scanned_count);
	uint64_t scan_us = ai_now_us() - t0;
	cr_assert_null(err, "%s", err ? err->message : "");
	const struct ai_snapshot *s = c.snapshot;
	cr_expect_gt(s->task_count, 0, "%s %s", crate, shape);
	uint64_t *walked = xcalloc(s->task_count + 1, sizeof(*walked));
	for (size_t i = 0; i < s->task_count; i++)
		walked[i] = s->tasks[i].address;
	qsort(walked, s->task_count, sizeof(*walked), compare_u64);
	cr_expect_eq(scanned_count, s->task_count, "%s %s: the scan finds %zu tasks, the walk %zu",
		     crate, shape, scanned_count, s->task_count);
	for (size_t i = 0; i < AI_MIN(scanned_count, s->task_count); i++)
		if (scanned[i] != walked[i]) {
			cr_expect_eq(scanned[i], walked[i], "%s %s: task %zu at 0x%" PRIx64 " (scan) "
				     "vs 0x%" PRIx64 " (walk)", crate, shape, i, scanned[i], walked[i]);
			break;
		}
	cr_log_info("%s %s: scan %.1f ms for %zu tasks (collect %.1f ms)", crate, shape,
		    scan_us / 1000.0, scanned_count, c.collect_us / 1000.0);
	free(walked);
	free(scanned);
	err = ai_target_resume(c.target);
	cr_assert_null(err, "%s", err ? err->message : "");
	capture_release(&c);
	fixture_kill(&f);
}

Test(tokio, scan_equals_walk_every_version)
{
	const char *const args[] = { "1000", NULL };
	for (const char *const *v = tokio_versions(); *v; v++) {
		expect_scan_equals_walk(*v, "nested", NULL);
		expect_scan_equals_walk(*v, "many_tasks", args);
		if (!v[1]) {
			const char *const big[] = { "20000", NULL };
			expect_scan_equals_walk(*v, "many_tasks", big);
		}
	}
}
