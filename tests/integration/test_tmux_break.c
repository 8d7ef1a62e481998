/* The TUI's breakpoint mode in a real terminal: `run` / `attach --break SPEC` drive the live view
 * inside a tmux session of their own (a private tmux server per test). At a hit the program is
 * stopped on the hit task's details, `c` goes to the next hit, `n` steps the task, `q` detaches
 * and the program runs to its own end; --break-count leaves the plain live view. Every wait polls
 * the screen up to a deadline: nothing depends on a fixed sleep. The terminal helpers are term.c's. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"
#include "term.h"

#define CRATE "tokio-1.54"
#define TICKER "tokio/src/bin/ticker.rs"

TestSuite(tmux_break, .init = require_tmux, .timeout = 180);

/* The breakpoint at ticker's loop await ("ticker.rs:N") and the header of hit `hit` there. */
static char *hit_header(const char *spec, int hit)
{
	return xasprintf("breakpoint 1 (%s) hit %d: ticker::ticker at ", spec, hit);
}

/* run --break FILE:LINE: the first hit stops on the task's details (the line, round 0), c reaches
 * the next (round 1), n steps the task (round 2), q detaches: the program then runs to its own
 * end, its output whole in the log and its exit status ours, as without us. */
Test(tmux_break, run_stops_at_hits_continues_steps_and_detaches)
{
	int line = marker_line(TICKER, "// @await: ticker-yield");
	char *spec = xasprintf("ticker.rs:%d", line);
	char *at = xasprintf("ticker.rs:%d", line);
	char *bin = fixture_path(CRATE, "ticker");
	char *log = xasprintf("/tmp/ai-test-brk-%d.log", (int)getpid());
	struct term t;
	char *cmd = xasprintf("%s run --output %s --break %s -- %s 3", getenv("AI_BINARY"), log, spec, bin);
	term_start(&t, cmd);
	free(cmd);

	char *first = hit_header(spec, 1);
	char *s = term_wait_all(&t, (const char *[]){ first, "Task details", "i: u64 = 0", "[PAUSED]", NULL });
	cr_expect(strstr(s, "ticker::ticker [Suspend0]"), "the task's await tree: %s", s);
	cr_expect(strstr(s, at), "the await's line: %s", s);
	cr_expect(strstr(s, "c continues"), "what to do next: %s", s);
	free(s);

	term_keys(&t, "c");
	char *second = hit_header(spec, 2);
	free(term_wait_all(&t, (const char *[]){ second, "i: u64 = 1", "[PAUSED]", NULL }));

	term_keys(&t, "n");
	s = term_wait_all(&t, (const char *[]){ "step: the task changed state", "i: u64 = 2", NULL });
	cr_expect(strstr(s, "changed  i = 1 -> 2"), "%s", s);
	free(s);

	term_keys(&t, "q");
	int status = term_wait_exit(&t);
	char *last = term_screen(&t);
	cr_expect_eq(status, 7, "the program's own status: %d; the screen:\n%s", status, last);
	free(last);
	char *out = ai_read_small_file(log, NULL);
	cr_assert(out, "no log %s", log);
	const char *ticks = strstr(out, "tick 0\n");
	cr_expect(ticks && strcmp(ticks, "tick 0\ntick 1\ntick 2\nsum 3\n") == 0, "its output, whole: %s", out);
	free(out);
	unlink(log);
	term_stop(&t);
	free(first);
	free(second);
	free(log);
	free(bin);
	free(at);
	free(spec);
}

/* A condition picks the hits as in the printer: the first stop is the round it names; the
 * program's end under the view is its end for run too (status 7). */
Test(tmux_break, run_condition_picks_the_hit)
{
	int line = marker_line(TICKER, "// @await: ticker-yield");
	char *spec = xasprintf("ticker.rs:%d if i == 2", line);
	char *bin = fixture_path(CRATE, "ticker");
	struct term t;
	char *cmd = xasprintf("%s run --output /dev/null --break '%s' -- %s 4", getenv("AI_BINARY"), spec, bin);
	term_start(&t, cmd);
	free(cmd);
	char *first = hit_header(spec, 1);
	free(term_wait_all(&t, (const char *[]){ first, "i: u64 = 2", NULL }));
	/* No later round matches: c runs it to its end, seen in the view; q, q (back, quit). */
	term_keys(&t, "c");
	free(term_wait_for(&t, "[EXITED]"));
	term_keys(&t, "q");
	term_keys(&t, "q");
	int status = term_wait_exit(&t);
	cr_expect_eq(status, 7, "exit status %d", status);
	term_stop(&t);
	free(first);
	free(bin);
	free(spec);
}

/* --break-count 1: after its hit the breakpoints are out, and c goes on as the plain live view
 * (the task list, samples going on, no stop); q there asks, k kills. */
Test(tmux_break, break_count_leaves_a_plain_live_view)
{
	int line = marker_line(TICKER, "// @await: ticker-yield");
	char *spec = xasprintf("ticker.rs:%d", line);
	char *bin = fixture_path(CRATE, "ticker");
	struct term t;
	char *cmd = xasprintf("%s run --output /dev/null --interval 100ms --break %s --break-count 1 -- %s 100000 50",
			      getenv("AI_BINARY"), spec, bin);
	term_start(&t, cmd);
	free(cmd);
	char *first = hit_header(spec, 1);
	free(term_wait_all(&t, (const char *[]){ first, "the breakpoints are removed", "i: u64 = 0", NULL }));
	term_keys(&t, "c");
	term_keys(&t, "Escape");
	char *s = term_wait_for(&t, "FOR>=");
	cr_expect(strstr(s, "ticker::ticker"), "the task list: %s", s);
	free(s);
	/* It runs: no stop at the line's later passes, the view samples on. */
	term_keys(&t, "Enter");
	free(term_wait_all(&t, (const char *[]){ "Task details", "i: u64 = 3", NULL }));
	s = term_screen(&t);
	cr_expect(!strstr(s, "[PAUSED]") && !strstr(s, "hit 2"), "%s", s);
	free(s);
	term_keys(&t, "q");
	term_keys(&t, "q");
	free(term_wait_for(&t, "Quit: k kill the program"));
	term_keys(&t, "k");
	int status = term_wait_exit(&t);
	cr_expect_eq(status, 128 + SIGKILL, "exit status %d", status);
	term_stop(&t);
	free(first);
	free(bin);
	free(spec);
}

/* attach --break: the hit in the view, then q detaches: no tracer left, the program runs on. */
Test(tmux_break, attach_stops_at_a_hit_and_q_detaches)
{
	int line = marker_line(TICKER, "// @await: ticker-yield");
	char *spec = xasprintf("ticker.rs:%d", line);
	struct fixture f;
	fixture_start(&f, CRATE, "ticker", (const char *[]){ "100000", "20", NULL });
	struct term t;
	char *cmd = xasprintf("%s attach --pid %d --break %s", getenv("AI_BINARY"), (int)f.pid, spec);
	term_start(&t, cmd);
	free(cmd);
	char *first = hit_header(spec, 1);
	char *s = term_wait_all(&t, (const char *[]){ first, "Task details", "[PAUSED]", NULL });
	cr_expect(strstr(s, "i: u64 = "), "%s", s);
	free(s);
	cr_expect_eq(process_settles_in(f.pid, 't'), 't', "stopped at the hit");
	term_keys(&t, "q");
	int status = term_wait_exit(&t);
	cr_expect_eq(status, 0, "exit status %d", status);
	cr_expect_eq(tracer_pid(f.pid), 0);
	/* It goes on ticking, its code whole (an int3 left would kill it with SIGTRAP). */
	char buf[128];
	for (int i = 0; i < 5; i++)
		cr_assert(fgets(buf, sizeof(buf), f.out), "the program stopped printing");
	cr_expect_eq(kill(f.pid, 0), 0, "the program is alive");
	term_stop(&t);
	fixture_kill(&f);
	free(first);
	free(spec);
}

/* run --break spawn: the spawned task's details, where the program's code spawned it. */
Test(tmux_break, run_spawn_shows_the_new_task)
{
	int join = marker_line(TICKER, "// @await: ticker-join");
	char *bin = fixture_path(CRATE, "ticker");
	struct term t;
	char *cmd = xasprintf("%s run --output /dev/null --break spawn -- %s 3", getenv("AI_BINARY"), bin);
	term_start(&t, cmd);
	free(cmd);
	char *where = xasprintf("ticker.rs:%d in ticker::main", join);
	char *s = term_wait_all(&t, (const char *[]){ "breakpoint 1 (spawn) hit 1: task ", " spawned, thread ", NULL });
	cr_expect(strstr(s, where), "%s in\n%s", where, s);
	cr_expect(strstr(s, "ticker::ticker [Unresumed]"), "the task, not yet polled: %s", s);
	free(s);
	term_keys(&t, "q");
	int status = term_wait_exit(&t);
	cr_expect_eq(status, 7, "exit status %d", status);
	term_stop(&t);
	free(where);
	free(bin);
}

/* The pid of async-inspect in the pane (the pane's shell's child). */
static pid_t tool_pid(const struct term *t)
{
	char *pane = tmux(t, (const char *[]){ "display-message", "-p", "-t", "t", "#{pane_pid}", NULL });
	char *path = xasprintf("/proc/%d/task/%d/children", atoi(pane), atoi(pane));
	char *children = ai_read_small_file(path, NULL);
	pid_t pid = children ? atoi(children) : 0;
	free(children);
	free(path);
	free(pane);
	return pid;
}

/* SIGTERM to attach while the program is stopped at a hit: the int3s go, it is detached and
 * runs on (an int3 left would kill it with SIGTRAP at its next round). */
Test(tmux_break, sigterm_at_a_hit_detaches_and_restores_the_code)
{
	int line = marker_line(TICKER, "// @await: ticker-yield");
	char *spec = xasprintf("ticker.rs:%d", line);
	struct fixture f;
	fixture_start(&f, CRATE, "ticker", (const char *[]){ "100000", "20", NULL });
	struct term t;
	char *cmd = xasprintf("%s attach --pid %d --break %s", getenv("AI_BINARY"), (int)f.pid, spec);
	term_start(&t, cmd);
	free(cmd);
	char *first = hit_header(spec, 1);
	free(term_wait_all(&t, (const char *[]){ first, "[PAUSED]", NULL }));
	pid_t tool = tool_pid(&t);
	cr_assert_gt(tool, 0);
	cr_assert_eq(kill(tool, SIGTERM), 0);
	term_wait_exit(&t);
	cr_expect_eq(tracer_pid(f.pid), 0);
	char buf[128];
	for (int i = 0; i < 5; i++)
		cr_assert(fgets(buf, sizeof(buf), f.out), "the program stopped printing");
	cr_expect_eq(kill(f.pid, 0), 0, "the program is alive");
	term_stop(&t);
	fixture_kill(&f);
	free(first);
	free(spec);
}
