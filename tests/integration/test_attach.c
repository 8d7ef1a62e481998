/* `async-inspect attach`: the TUI in headless mode (fixed-size virtual screen, scripted keys, the
 * final screen as text) and the --no-tui dump loop, against the live `nested` fixture. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"

TestSuite(attach, .init = require_fixtures, .timeout = 300);

#define CRATE "tokio-1.38"

static char *screen(struct fixture *f, const char *keys)
{
	char *pid = xasprintf("%d", (int)f->pid);
	setenv("AI_TUI_HEADLESS", "160x30", 1);
	setenv("AI_TUI_KEYS", keys, 1);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "attach", "--pid", pid, NULL });
	unsetenv("AI_TUI_HEADLESS");
	unsetenv("AI_TUI_KEYS");
	cr_assert_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	cr_expect_eq(count_substr(r.out, "\n"), 30, "a 30-line screen: %s", r.out);
	char *out = r.out;
	r.out = NULL;
	tool_result_free(&r);
	free(pid);
	return out;
}

Test(attach, headless_task_list)
{
	struct fixture f;
	fixture_start(&f, CRATE, "nested", NULL);
	char *s = screen(&f, "");
	cr_expect(strstr(s, "async-inspect  pid ") != NULL, "%s", s);
	/* main keeps `keep`, the only oneshot Sender of the task it joins (level1 id 0): a channel
	 * deadlock of 2, block_on included. */
	cr_expect(strstr(s, "tasks 8: 6 blocked 2 deadlocked") != NULL, "%s", s);
	cr_expect(strstr(s, "ID      STATE        FOR>=  AWAITING AT") != NULL, "%s", s);
	char *sleep_at = xasprintf("shapes.rs:%d", marker_line("tokio/src/shapes.rs", "@await: level4-sleep"));
	cr_expect(strstr(s, sleep_at) != NULL, "%s in %s", sleep_at, s);
	cr_expect(strstr(s, "sleep, 23h59m") != NULL, "%s", s);
	cr_expect(strstr(s, "nested::shapes::level1") != NULL, "%s", s);
	/* The block_on row: id "t<pid>" (the ID column is padded), state deadlocked. */
	char *main_row = xasprintf("\nt%d ", (int)f.pid);
	const char *row = strstr(s, main_row);
	cr_expect(row && memmem(row, strcspn(row + 1, "\n") + 1, " deadlocked ", 12) != NULL, "%s in %s", main_row + 1, s);
	free(main_row);
	free(sleep_at);
	free(s);
	/* q detached: the fixture runs on untraced. */
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	fixture_kill(&f);
}

Test(attach, headless_details_and_help)
{
	struct fixture f;
	fixture_start(&f, CRATE, "nested", NULL);
	/* Second task (ids are in spawn order), its details after a refresh. */
	char *s = screen(&f, "jr\\n");
	cr_expect(strstr(s, "Task details") != NULL, "%s", s);
	cr_expect(strstr(s, "(a lower bound: sampled every 500ms)") != NULL, "%s", s);
	cr_expect(strstr(s, "in 2 samples") != NULL, "%s", s);
	cr_expect(strstr(s, "waiting on: sleep, 23h59m") != NULL, "%s", s);
	char *level1 = xasprintf("nested::shapes::level1 [Suspend0] at ");
	cr_expect(strstr(s, level1) != NULL, "%s", s);
	char *at = xasprintf("shapes.rs:%d", marker_line("tokio/src/shapes.rs", "@await: level1"));
	cr_expect(strstr(s, at) != NULL, "%s in %s", at, s);
	cr_expect(strstr(s, "name: String = \"task-") != NULL, "%s", s);
	free(level1);
	free(at);
	free(s);
	s = screen(&f, "?");
	cr_expect(strstr(s, "take a snapshot now") != NULL, "%s", s);
	cr_expect(strstr(s, "quit (attach: detach") != NULL, "%s", s);
	free(s);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	fixture_kill(&f);
}

static int tracer_pid(pid_t pid)
{
	char *path = xasprintf("/proc/%d/status", (int)pid);
	char *text = ai_read_small_file(path, NULL);
	free(path);
	const char *t = text ? strstr(text, "TracerPid:") : NULL;
	int tracer = t ? atoi(t + 10) : -1;
	free(text);
	return tracer;
}

Test(attach, no_tui_prints_a_dump_every_interval_until_sigint)
{
	struct fixture f;
	fixture_start(&f, CRATE, "nested", NULL);
	char *pid = xasprintf("%d", (int)f.pid);
	struct tool_process p;
	tool_spawn(&p, (const char *[]){ "attach", "--pid", pid, "--interval", "200ms", "--no-tui", NULL });
	/* Read as it prints (a pipe left unread would fill up and block it). */
	char line[4096];
	int headers = 0;
	while (headers < 3 && fgets(line, sizeof(line), p.out))
		headers += strncmp(line, "==== snapshot ", 14) == 0;
	cr_expect_eq(headers, 3);
	kill(p.pid, SIGINT);
	struct tool_result r;
	tool_finish(&p, 60, &r);
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	cr_expect_eq(tracer_pid(f.pid), 0);
	tool_result_free(&r);
	free(pid);
	fixture_kill(&f);
}

Test(attach, usage_errors)
{
	struct tool_result r;
	tool_run(&r, 30, (const char *[]){ "attach", NULL });
	cr_expect_eq(tool_exit_code(&r), 2);
	cr_expect(strstr(r.err, "no process") != NULL, "%s", r.err);
	tool_result_free(&r);
	tool_run(&r, 30, (const char *[]){ "attach", "--pid", "1", "--interval", "1ms", NULL });
	cr_expect_eq(tool_exit_code(&r), 2);
	tool_result_free(&r);
}

Test(attach, headless_details_of_a_futurelock)
{
	struct fixture f;
	fixture_start(&f, CRATE, "futurelock", NULL);
	/* The second task is the victim: deadlocked on its own unpolled `fut`. */
	char *s = screen(&f, "j\\n");
	cr_expect(strstr(s, "tasks 5: 3 blocked 1 deadlocked 1 block_on") != NULL, "%s", s);
	cr_expect(strstr(s, "task 4  deadlocked") != NULL, "%s", s);
	cr_expect(strstr(s, "keeps unpolled: fut (lock::{async_fn_env#0}<u32>) granted Mutex<u32> @ 0x") != NULL, "%s", s);
	free(s);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	fixture_kill(&f);
}
