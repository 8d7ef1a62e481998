/* The frontends other than dump on the runtimes that are not tokio (issue 13's "Done when"):
 * `attach` (the TUI, headless), `run --dump-after` and `dump --core` on the smol, async-std and
 * futures fixtures, asserting what a user reads there: the tasks' futures, waits and lines. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"

TestSuite(runtime_frontends, .init = require_fixtures, .timeout = 300);

static char *screen(struct fixture *f, const char *keys)
{
	char *pid = xasprintf("%d", (int)f->pid);
	setenv("AI_TUI_HEADLESS", "200x30", 1);
	setenv("AI_TUI_KEYS", keys, 1);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "attach", "--pid", pid, NULL });
	unsetenv("AI_TUI_HEADLESS");
	unsetenv("AI_TUI_KEYS");
	cr_assert_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	char *out = r.out;
	r.out = NULL;
	tool_result_free(&r);
	free(pid);
	return out;
}

/* "FILE:LINE" of a marker, as the views print it. */
static char *at_marker(const char *relpath, const char *marker)
{
	const char *file = strrchr(relpath, '/') + 1;
	return xasprintf("%s:%d", file, marker_line(relpath, marker));
}

static void expect_at(const char *text, const char *relpath, const char *marker)
{
	char *at = at_marker(relpath, marker);
	cr_expect(strstr(text, at), "%s (%s) in %s", at, marker, text);
	free(at);
}

#define SMOL "smol/src/bin/nested.rs"
#define ASYNC_STD "async-std/src/bin/nested.rs"
#define FUTURES "futures/src/bin/executors.rs"

/* The task list, a task's details (through the filter) and the wait-for graph of smol's tasks,
 * which have no id: the graph and the details name them by header address, as tasks, not as
 * block_on futures. */
Test(runtime_frontends, smol_attach)
{
	struct fixture f;
	fixture_start(&f, "smol", "nested", NULL);
	char *s = screen(&f, "");
	cr_expect(strstr(s, "nested::waiter"), "%s", s);
	cr_expect(strstr(s, "nested::holder"), "%s", s);
	cr_expect(strstr(s, "sleep, 23h59m"), "%s", s);
	cr_expect(strstr(s, "Mutex<u64> @ 0x"), "%s", s);
	expect_at(s, SMOL, "@await: leaf-timer");
	expect_at(s, SMOL, "@await: leaf-send");
	free(s);

	s = screen(&f, "/waiter\\n\\n");
	cr_expect(strstr(s, "Task details"), "%s", s);
	cr_expect(strstr(s, "task @ 0x"), "a task named by its header address: %s", s);
	cr_expect(strstr(s, "runtime async-executor"), "%s", s);
	cr_expect(strstr(s, "waiting on: Mutex<u64> @ 0x"), "%s", s);
	cr_expect(strstr(s, "nested::waiter [Suspend0] at "), "%s", s);
	expect_at(s, SMOL, "@await: leaf-mutex");
	free(s);

	s = screen(&f, "g");
	cr_expect(strstr(s, "No deadlock"), "%s", s);
	/* waiter -> holder, both tasks of the executor. */
	const char *edge = strstr(s, "holds `guard` (Mutex<u64> @ 0x");
	cr_expect(edge, "the lock edge: %s", s);
	cr_expect(!strstr(s, "block_on -"), "no task is called a block_on future: %s", s);
	cr_expect(count_substr(s, "task @ 0x") >= 2, "%s", s);
	free(s);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S', "q detached");
	fixture_kill(&f);
}

Test(runtime_frontends, async_std_attach)
{
	struct fixture f;
	fixture_start(&f, "async-std", "nested", NULL);
	char *s = screen(&f, "");
	cr_expect(strstr(s, "\"named-task\" nested::named"), "Builder::name: %s", s);
	cr_expect(strstr(s, "nested::waiter"), "%s", s);
	cr_expect(strstr(s, "sleep, 23h59m"), "%s", s);
	expect_at(s, ASYNC_STD, "@await: leaf-sleep");
	expect_at(s, ASYNC_STD, "@await: leaf-mutex");
	free(s);
	s = screen(&f, "/named\\n\\n");
	cr_expect(strstr(s, "Task details"), "%s", s);
	cr_expect(strstr(s, "\"named-task\""), "%s", s);
	cr_expect(strstr(s, "runtime async-std"), "%s", s);
	cr_expect(strstr(s, "waiting on: channel recv @ 0x"), "%s", s);
	free(s);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S', "q detached");
	fixture_kill(&f);
}

Test(runtime_frontends, futures_attach)
{
	struct fixture f;
	fixture_start(&f, "futures", "executors", NULL);
	char *s = screen(&f, "");
	cr_expect(strstr(s, "executors::local_level1"), "LocalPool: %s", s);
	cr_expect(strstr(s, "executors::pool_recv"), "ThreadPool: %s", s);
	cr_expect(strstr(s, "executors::main_future"), "block_on: %s", s);
	cr_expect(strstr(s, "oneshot recv @ 0x"), "%s", s);
	cr_expect(strstr(s, "mpsc recv @ 0x"), "%s", s);
	free(s);
	s = screen(&f, "/pool_recv\\n\\n");
	cr_expect(strstr(s, "Task details"), "%s", s);
	cr_expect(strstr(s, "runtime futures") || strstr(s, "runtime thread_pool"), "%s", s);
	cr_expect(strstr(s, "executors::pool_recv [Suspend0] at "), "%s", s);
	free(s);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S', "q detached");
	fixture_kill(&f);
}

/* `run --dump-after`: the dump on stderr names the runtime's tasks, then the program runs on. */
static void run_dump_after(const char *crate, const char *bin, const char *const *expect)
{
	char *exe = fixture_path(crate, bin);
	struct tool_process p;
	tool_spawn(&p, (const char *[]){ "run", "--dump-after", "1500ms", "--", exe, NULL });
	char line[128];
	cr_assert(fgets(line, sizeof(line), p.out), "no ready line");
	int pid;
	cr_assert(sscanf(line, "ready %d", &pid) == 1, "got '%s'", line);
	char err[262144];
	ssize_t n = 0;
	err[0] = '\0';
	/* The summary line ends the dump. */
	for (int i = 0; i < 3000 && !strstr(err, "paused for"); i++) {
		n = pread(p.err_fd, err, sizeof(err) - 1, 0);
		err[n > 0 ? n : 0] = '\0';
		usleep(10000);
	}
	cr_assert(strstr(err, "paused for"), "no dump on stderr: %s", err);
	cr_expect(process_settles_in(pid, 'S') == 'S', "the program runs on after the dump");
	kill(pid, SIGTERM);
	struct tool_result r;
	tool_finish(&p, 30, &r);
	cr_expect(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGTERM, "status %d", r.status);
	for (const char *const *e = expect; *e; e++)
		cr_expect(strstr(r.err, *e), "'%s' in %s", *e, r.err);
	tool_result_free(&r);
	free(exe);
}

Test(runtime_frontends, run_dump_after)
{
	run_dump_after("smol", "nested",
		       (const char *[]){ "async-task 4.7.1", "nested::waiter", "(async-executor", "async_io::Timer", NULL });
	run_dump_after("async-std", "nested", (const char *[]){ "(async-std", "named-task", "nested::waiter", NULL });
	run_dump_after("futures", "executors",
		       (const char *[]){ "futures 0.3.31", "executors::pool_recv", "executors::local_level1", NULL });
}

/* gcore of each fixture: the same tasks, waits and lines from the core file as from the process. */
static void dump_from_core(const char *crate, const char *bin, const char *src, const char *const *expect,
			   const char *const *markers)
{
	struct fixture f;
	fixture_start(&f, crate, bin, NULL);
	struct core_file core;
	core_dump(&core, &f);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--core", core.path, "--exe", f.path, NULL });
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	cr_expect(strstr(r.out, "from core file "), "%s", r.out);
	for (const char *const *e = expect; *e; e++)
		cr_expect(strstr(r.out, *e), "'%s' in %s", *e, r.out);
	for (const char *const *m = markers; *m; m++)
		expect_at(r.out, src, *m);
	tool_result_free(&r);
	fixture_kill(&f);
	core_remove(&core);
}

Test(runtime_frontends, core_files)
{
	dump_from_core("smol", "nested", SMOL,
		  (const char *[]){ "async-task 4.7.1", "(async-executor", "holds Mutex<u64> @ ", "nested::waiter", NULL },
		  (const char *[]){ "@await: leaf-timer", "@await: leaf-recv", "@await: leaf-mutex", "@await: main", NULL });
	dump_from_core("async-std", "nested", ASYNC_STD,
		  (const char *[]){ "(async-std", "named-task", "nested::waiter", NULL },
		  (const char *[]){ "@await: leaf-sleep", "@await: leaf-mutex", "@await: named", NULL });
	dump_from_core("futures", "executors", FUTURES,
		  (const char *[]){ "futures 0.3.31", "executors::pool_recv", "executors::local_level1", "executors::main_future", NULL },
		  (const char *[]){ "@await: pool-recv", "@await: local-recv", "@await: join", NULL });
}
