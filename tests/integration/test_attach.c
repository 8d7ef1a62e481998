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

static char *screen_sized(struct fixture *f, const char *size, const char *keys)
{
	char *pid = xasprintf("%d", (int)f->pid);
	setenv("AI_TUI_HEADLESS", size, 1);
	setenv("AI_TUI_KEYS", keys, 1);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "attach", "--pid", pid, NULL });
	unsetenv("AI_TUI_HEADLESS");
	unsetenv("AI_TUI_KEYS");
	cr_assert_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	int rows = atoi(strchr(size, 'x') + 1);
	cr_expect_eq(count_substr(r.out, "\n"), rows, "a %d-line screen: %s", rows, r.out);
	char *out = r.out;
	r.out = NULL;
	tool_result_free(&r);
	free(pid);
	return out;
}

static char *screen(struct fixture *f, const char *keys)
{
	return screen_sized(f, "160x30", keys);
}

/* Line y (0-based) of a screen, without its newline (a static buffer). */
static const char *row(const char *s, int y)
{
	static char line[1024];
	for (; y > 0 && s; y--) {
		s = strchr(s, '\n');
		s = s ? s + 1 : NULL;
	}
	if (!s)
		return "";
	size_t n = strcspn(s, "\n");
	n = n < sizeof(line) - 1 ? n : sizeof(line) - 1;
	memcpy(line, s, n);
	line[n] = '\0';
	return line;
}

/* The ID column of the task list row whose FUTURE column is `future`. */
static char *task_id(const char *s, const char *future)
{
	for (int y = 3; *row(s, y); y++) {
		const char *line = row(s, y);
		size_t n = strlen(line), m = strlen(future);
		if (n > m && strcmp(line + n - m, future) == 0 && line[n - m - 1] == ' ')
			return xstrndup(line, strcspn(line, " "));
	}
	cr_assert_fail("no task %s in %s", future, s);
	return NULL;
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
	cr_expect(strstr(s, "  t                timeline: ") != NULL, "%s", s);
	cr_expect(strstr(s, "  g                wait-for graph: ") != NULL, "%s", s);
	cr_expect(strstr(s, "  T                threads: ") != NULL, "%s", s);
	cr_expect(strstr(s, "  /                filter: ") != NULL, "%s", s);
	cr_expect(strstr(s, "  s                sort by ") != NULL, "%s", s);
	cr_expect(strstr(s, "  o                output of the program") != NULL, "%s", s);
	cr_expect(strstr(s, "quit (attach: detach") != NULL, "%s", s);
	free(s);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	fixture_kill(&f);
}

/* Sort (s), filter (/ then Esc), Home, End, PgDn, PgUp and the progress through the awaits. */
Test(attach, sort_filter_and_moves)
{
	struct fixture f;
	fixture_start(&f, CRATE, "waits", NULL);
	/* By id (spawn order), the block_on future last. */
	char *s = screen(&f, "");
	cr_expect(strstr(row(s, 1), "[tasks]  sort: id  filter: (none)") != NULL, "%s", s);
	static const char *const by_id[] = { "timed_sleep", "ticker", "sem_holder", "sem_waiter",
		"oneshot_keeper", "oneshot_recv", "mpsc_self", "mpsc_full", "unbounded_recv", "broadcast_recv",
		"watch_changed", "notified", "sleeper", "joiner", "tcp_server", "tcp_reader", "pipe_reader",
		"tcp_connecting", "udp_recv", "unix_reader", "main::{async_block#0}" };
	long previous = -1;
	for (size_t i = 0; i < 21; i++) {
		char *future = xasprintf(" waits::%s\n", by_id[i]);
		const char *at = strstr(s, future);
		cr_expect(at && at - s > previous, "%s after the previous in %s", future, s);
		previous = at ? at - s : previous;
		free(future);
	}
	char *first = task_id(s, "waits::timed_sleep"), *last_task = task_id(s, "waits::tcp_reader");
	cr_expect_eq(strtoul(last_task, NULL, 10) - strtoul(first, NULL, 10), 15, "ids %s..%s", first, last_task);
	cr_expect(strncmp(row(s, 23), "t", 1) == 0, "the block_on future last: %s", row(s, 23));
	free(s);

	/* s four times: id -> state -> blocked-for -> await point -> future; by name then. */
	s = screen(&f, "ssss");
	cr_expect(strstr(row(s, 1), "sort: future") != NULL, "%s", s);
	static const char *const by_name[] = { "broadcast_recv", "joiner", "main::{async_block#0}", "mpsc_full",
		"mpsc_self", "notified", "oneshot_keeper", "oneshot_recv", "pipe_reader", "sem_holder", "sem_waiter",
		"sleeper", "tcp_connecting", "tcp_reader", "tcp_server", "ticker", "timed_sleep", "udp_recv",
		"unbounded_recv", "unix_reader", "watch_changed" };
	for (size_t i = 0; i < 21; i++) {
		char *future = xasprintf(" waits::%s", by_name[i]);
		const char *line = row(s, 3 + (int)i);
		cr_expect(strlen(line) > strlen(future) && strcmp(line + strlen(line) - strlen(future), future) == 0,
			  "row %zu: %s, got %s", i, future, line);
		free(future);
	}
	free(s);

	/* A filter on the function name: the two oneshot tasks; End then Enter: the second. */
	s = screen(&f, "/oneshot\n\\<End>\n");
	cr_expect(strstr(row(s, 1), "filter: oneshot (2 of 21 shown)") != NULL, "%s", s);
	cr_expect(strstr(s, "waits::oneshot_recv [Suspend0] at ") != NULL, "%s", s);
	free(s);
	s = screen(&f, "/oneshot\n");
	cr_expect(strstr(row(s, 3), " waits::oneshot_keeper") != NULL, "%s", s);
	cr_expect(strstr(row(s, 4), " waits::oneshot_recv") != NULL, "%s", s);
	cr_expect_str_empty(row(s, 5), "%s", s);
	free(s);
	/* On the wait: "join" is only in the joiner's wait. Esc clears the filter. */
	s = screen(&f, "/JOIN\n");
	cr_expect(strstr(row(s, 1), "filter: JOIN (1 of 21 shown)") != NULL, "%s", s);
	cr_expect(strstr(row(s, 3), " waits::joiner") != NULL, "%s", s);
	free(s);
	s = screen(&f, "/oneshot\n\\<Esc>");
	cr_expect(strstr(row(s, 1), "filter: (none)") != NULL, "%s", s);
	cr_expect(strstr(row(s, 23), "waits::main::{async_block#0}") != NULL, "%s", s);
	free(s);

	/* A 10-row screen shows 6 tasks: PgDn goes 6 down, PgUp back up. */
	s = screen_sized(&f, "160x10", "\\<PgDn>\n");
	cr_expect(strstr(s, "waits::mpsc_self [Suspend0] at ") != NULL, "%s", s);
	free(s);
	s = screen_sized(&f, "160x10", "\\<PgDn>\\<PgUp>\n");
	cr_expect(strstr(s, "waits::timed_sleep [Suspend0] at ") != NULL, "%s", s);
	free(s);

	/* ticker: iv.tick() twice, parked in the second: 2/2, the first done two lines above. */
	int interval = marker_line("tokio/src/bin/waits.rs", "@await: waits-interval");
	s = screen(&f, "\\<End>\\<Home>j\n");
	char *progress = xasprintf("progress of waits::ticker: at await 2/2 (line %d), in source order: loops "
				   "and branches make it approximate", interval);
	char *done = xasprintf("  steps completed (awaits before it): line %d", interval - 2);
	char *frame = xasprintf("tests/fixtures/tokio/src/bin/waits.rs:%d  (2/2 awaits)", interval);
	cr_expect(strstr(s, progress) != NULL, "%s in %s", progress, s);
	cr_expect(strstr(s, done) != NULL, "%s in %s", done, s);
	cr_expect(strstr(s, "  steps not started (awaits after it): none") != NULL, "%s", s);
	cr_expect(strstr(s, frame) != NULL, "%s in %s", frame, s);
	cr_expect(strstr(s, "waits::ticker [Suspend1] at ") != NULL, "%s", s);
	cr_expect(strstr(s, "blocked for at least ") != NULL, "%s", s);
	free(progress);
	free(done);
	free(frame);
	free(s);
	free(first);
	free(last_task);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	fixture_kill(&f);
}

/* The deadlock fixture: graph (g) with the cycle and Enter to a task, details with the progress
 * of the async fn, Enter on its frame: the source; timeline (t) over three samples; threads (T). */
Test(attach, graph_timeline_source_threads)
{
	struct fixture f;
	fixture_start(&f, CRATE, "deadlock_abba", NULL);
	char *s = screen(&f, "");
	char *a = task_id(s, "deadlock_abba::task_a"), *b = task_id(s, "deadlock_abba::task_b");
	cr_expect(strstr(s, "tasks 3: 2 deadlocked 1 block_on") != NULL, "%s", s);
	free(s);
	int lock1 = marker_line("tokio/src/bin/deadlock_abba.rs", "@await: abba-a-lock1");
	int lock2 = marker_line("tokio/src/bin/deadlock_abba.rs", "@await: abba-a-lock2");

	s = screen(&f, "g");
	cr_expect(strstr(row(s, 1), "[graph]") != NULL, "%s", s);
	cr_expect_str_eq(row(s, 3), "DEADLOCK: 1 wait-for cycle");
	char *cycle = xasprintf("cycle 1: task %s -> task %s -> task %s", a, b, a);
	cr_expect_str_eq(row(s, 4), cycle);
	char *edge_a = xasprintf("  task %-11s deadlock_abba::task_a  waits for `books` held by task %s: lock "
				 "Mutex<deadlock_abba::Ledger> @ 0x", a, b);
	char *edge_b = xasprintf("  task %-11s deadlock_abba::task_b  waits for `ledger` held by task %s: lock "
				 "Mutex<deadlock_abba::Ledger> @ 0x", b, a);
	cr_expect(strncmp(row(s, 5), edge_a, strlen(edge_a)) == 0, "%s in %s", edge_a, s);
	cr_expect(strncmp(row(s, 6), edge_b, strlen(edge_b)) == 0, "%s in %s", edge_b, s);
	char *wf_a = xasprintf("  task %-11s -> task %-11s holds `books`", a, b);
	char *wf_b = xasprintf("  task %-11s -> task %-11s holds `ledger`", b, a);
	cr_expect(strstr(s, wf_a) != NULL, "%s in %s", wf_a, s);
	cr_expect(strstr(s, wf_b) != NULL, "%s in %s", wf_b, s);
	free(s);

	/* The cursor starts on the first task of the cycle; Enter on the next, task b's edge: its
	 * details, and Esc back to the graph. */
	s = screen(&f, "gj\n");
	char *head_b = xasprintf("task %s  deadlocked  runtime multi_thread", b);
	cr_expect_str_eq(row(s, 3), head_b);
	cr_expect(strstr(s, "holds: MutexGuard<Ledger> (books) in deadlock_abba::task_b") != NULL, "%s", s);
	free(s);
	s = screen(&f, "gj\n\\<Esc>");
	cr_expect(strstr(row(s, 1), "[graph]") != NULL, "%s", s);
	free(s);
	s = screen(&f, "g\n");
	char *head_a = xasprintf("task %s  deadlocked  runtime multi_thread", a);
	cr_expect_str_eq(row(s, 3), head_a);
	cr_expect(strstr(s, "holds: MutexGuard<Ledger> (ledger) in deadlock_abba::task_a") != NULL, "%s", s);
	free(head_a);
	free(s);

	/* task_a: lock1, the barrier on the next line, lock2 where it is parked. */
	s = screen(&f, "\n");
	char *progress = xasprintf("progress of deadlock_abba::task_a: at await 3/3 (line %d)", lock2);
	char *done = xasprintf("  steps completed (awaits before it): lines %d, %d", lock1, lock1 + 1);
	cr_expect(strstr(s, progress) != NULL, "%s in %s", progress, s);
	cr_expect(strstr(s, done) != NULL, "%s in %s", done, s);
	cr_expect(strstr(s, "blocked for at least ") != NULL, "%s", s);
	free(s);

	/* Enter on the first frame (task_a's own): the source, its line marked. */
	s = screen(&f, "\n\n");
	char *title = xasprintf("tests/fixtures/tokio/src/bin/deadlock_abba.rs:%d   (Esc: back)", lock2);
	char *marked = xasprintf(">%5d |     let books = m2.lock().await; // @await: abba-a-lock2", lock2);
	char *before = xasprintf(" %5d |     let ledger = m1.lock().await; // @await: abba-a-lock1", lock1);
	cr_expect(strstr(row(s, 2), title) != NULL, "%s in %s", title, s);
	cr_expect(strstr(s, marked) != NULL, "%s in %s", marked, s);
	cr_expect(strstr(s, before) != NULL, "%s in %s", before, s);
	free(s);

	/* Three samples: three D columns, right-aligned in the 64 kept. */
	s = screen(&f, "rrt");
	char *timeline = xasprintf("%-7s %-10s %61s%s", a, "deadlocked", "", "DDD");
	cr_expect(strstr(s, timeline) != NULL, "'%s' in %s", timeline, s);
	char *main_row = xasprintf("t%-6d %-10s %61s%s", (int)f.pid, "block_on", "", "OOO");
	cr_expect(strstr(s, main_row) != NULL, "'%s' in %s", main_row, s);
	free(s);

	/* Threads: the main thread drives main's block_on future; both workers are listed. */
	s = screen_sized(&f, "200x300", "T");
	char *main_thread = xasprintf("thread %d deadlock_abba [", (int)f.pid);
	char *driving = xasprintf("]  driving block_on t%d (deadlock_abba::main::{async_block#0})", (int)f.pid);
	cr_expect(strstr(s, main_thread) != NULL, "%s in %s", main_thread, s);
	cr_expect(strstr(s, driving) != NULL, "%s in %s", driving, s);
	cr_expect_eq(count_substr(s, " tokio-runtime-w ["), 2, "%s", s);
	cr_expect(strstr(s, "tokio::runtime::scheduler::multi_thread::worker") != NULL, "%s", s);
	free(main_thread);
	free(driving);
	free(s);

	free(cycle);
	free(edge_a);
	free(edge_b);
	free(wf_a);
	free(wf_b);
	free(head_b);
	free(progress);
	free(done);
	free(title);
	free(marked);
	free(before);
	free(timeline);
	free(main_row);
	free(a);
	free(b);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	fixture_kill(&f);
}

/* `run` under the TUI: the program's stdout and stderr go to a file (its tail in the o view),
 * never to our screen; q then d detaches and it keeps running (and writing there). */
Test(attach, run_output_goes_to_a_file)
{
	char dir[] = "/tmp/ai-test-output-XXXXXX";
	cr_assert(mkdtemp(dir));
	char *file = xasprintf("%s/out.log", dir);
	char *nested = fixture_path(CRATE, "nested");
	setenv("AI_TUI_HEADLESS", "160x30", 1);
	setenv("AI_TUI_KEYS", "\\<Ready>o", 1);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "run", "--output", file, "--", nested, NULL });
	unsetenv("AI_TUI_HEADLESS");
	unsetenv("AI_TUI_KEYS");
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	char *text = ai_read_small_file(file, NULL);
	cr_assert(text, "%s", file);
	int pid = 0;
	cr_assert_eq(sscanf(text, "ready %d", &pid), 1, "%s", text);
	char *title = xasprintf("Output of the program: %s   (the tail; Esc: back)", file);
	cr_expect_str_eq(row(r.out, 2), title);
	char *ready = xasprintf("ready %d", pid);
	cr_expect_str_eq(row(r.out, 3), ready);
	cr_expect_eq(count_substr(r.out, "\n"), 30, "nothing but the screen on stdout: %s", r.out);
	cr_expect(strstr(r.out, "tasks 8: 6 blocked 2 deadlocked") != NULL, "%s", r.out);
	char *where = xasprintf("async-inspect: the output of %s is in %s\n", nested, file);
	cr_expect_str_eq(r.err, where);
	cr_expect_eq(process_settles_in(pid, 'S'), 'S', "detached, it runs on");
	cr_expect_eq(tracer_pid(pid), 0);
	kill(pid, SIGKILL);
	tool_result_free(&r);

	/* The default file: $TMPDIR/async-inspect-PROGRAM-PID.log; q then k kills the program. */
	const char *saved = getenv("TMPDIR");
	char *saved_tmpdir = saved ? xstrdup(saved) : NULL;
	setenv("TMPDIR", dir, 1);
	setenv("AI_TUI_HEADLESS", "160x30", 1);
	setenv("AI_TUI_KEYS", "\\<Ready>qk", 1);
	tool_run(&r, 120, (const char *[]){ "run", nested, NULL });
	unsetenv("AI_TUI_HEADLESS");
	unsetenv("AI_TUI_KEYS");
	if (saved_tmpdir)
		setenv("TMPDIR", saved_tmpdir, 1);
	else
		unsetenv("TMPDIR");
	cr_expect_eq(tool_exit_code(&r), 128 + SIGKILL, "killed, its status is ours: %s", r.err);
	int killed = 0;
	const char *in = strstr(r.err, " is in ");
	cr_assert(in, "%s", r.err);
	char *expected = xasprintf("%s/async-inspect-nested-", dir);
	cr_expect(strncmp(in + 7, expected, strlen(expected)) == 0, "%s", r.err);
	cr_expect_eq(sscanf(in + 7 + strlen(expected), "%d.log\n", &killed), 1, "%s", r.err);
	char *log = xasprintf("%s%d.log", expected, killed);
	char *logged = ai_read_small_file(log, NULL);
	char *line = xasprintf("ready %d\n", killed);
	cr_expect(logged && strcmp(logged, line) == 0, "%s: %s", log, logged ? logged : "missing");
	cr_expect_eq(process_state(killed), '?', "killed");
	unlink(log);
	unlink(file);
	rmdir(dir);
	free(saved_tmpdir);
	free(expected);
	free(log);
	free(logged);
	free(line);
	free(where);
	free(ready);
	free(title);
	free(text);
	free(nested);
	free(file);
	tool_result_free(&r);
}


/* --no-locals: the dumps printed every interval leave the saved locals out (with them, the
 * fixture's `name: String` locals show). */
static char *two_no_tui_dumps(pid_t pid, bool no_locals)
{
	char *p = xasprintf("%d", (int)pid);
	struct tool_process tp;
	tool_spawn(&tp, no_locals ? (const char *[]){ "attach", "--pid", p, "--interval", "100ms", "--no-tui",
						      "--no-locals", NULL }
				  : (const char *[]){ "attach", "--pid", p, "--interval", "100ms", "--no-tui", NULL });
	char line[8192];
	int headers = 0;
	char *text = NULL;
	size_t size = 0;
	FILE *mem = open_memstream(&text, &size);
	while (headers < 3 && fgets(line, sizeof(line), tp.out)) {
		headers += strncmp(line, "==== snapshot ", 14) == 0;
		if (headers < 3)
			fputs(line, mem);
	}
	fclose(mem);
	kill(tp.pid, SIGINT);
	struct tool_result r;
	tool_finish(&tp, 60, &r);
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	tool_result_free(&r);
	free(p);
	return text;
}

Test(attach, no_locals_leaves_the_locals_out)
{
	struct fixture f;
	fixture_start(&f, CRATE, "nested", NULL);
	char *with = two_no_tui_dumps(f.pid, false);
	char *without = two_no_tui_dumps(f.pid, true);
	cr_expect_eq(count_substr(with, "==== snapshot "), 2, "%s", with);
	cr_expect_eq(count_substr(without, "==== snapshot "), 2, "%s", without);
	cr_expect(strstr(with, "name = \"task-0\"") != NULL, "%s", with);
	cr_expect(strstr(without, "name = \"task-") == NULL, "%s", without);
	char *level1 = xasprintf("shapes.rs:%d", marker_line("tokio/src/shapes.rs", "@await: level1"));
	cr_expect(strstr(without, level1) != NULL, "%s in %s", level1, without);
	free(level1);
	free(with);
	free(without);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	fixture_kill(&f);
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

/* A task parked in select! or timeout has no one wait: the WAIT column joins its branches'; its
 * AWAITING AT is the select!'s line in the program, its details keep tokio's source as detail. */
Test(attach, wait_column_joins_the_branches_of_select_and_timeout)
{
	struct fixture f;
	fixture_start(&f, CRATE, "shapes_zoo", NULL);
	char *s = screen_sized(&f, "240x40", "");
	const char *select_row = NULL, *timeout_row = NULL;
	for (int y = 3; *row(s, y); y++) {
		const char *line = row(s, y);
		if (strstr(line, "shapes_zoo::zoo_select"))
			select_row = strstr(s, line);
		else if (strstr(line, "shapes_zoo::zoo_timeout"))
			timeout_row = strstr(s, line);
	}
	cr_assert(select_row && timeout_row, "%s", s);
	size_t n = strcspn(select_row, "\n");
	/* select_left: an mpsc recv; select_right: a Notify. */
	cr_expect(memmem(select_row, n, " | ", 3) != NULL, "%.*s", (int)n, select_row);
	/* AWAITING AT: the line of the select! in the program, not tokio's macro source. */
	char *at = xasprintf("shapes_zoo.rs:%d ", marker_line("tokio/src/bin/shapes_zoo.rs",
							     "@await: zoo-select-macro"));
	cr_expect(memmem(select_row, n, at, strlen(at)) != NULL, "%s in %.*s", at, (int)n, select_row);
	free(at);
	n = strcspn(timeout_row, "\n");
	cr_expect(memmem(timeout_row, n, " | timeout in ", 14) != NULL, "%.*s", (int)n, timeout_row);
	free(s);
	/* Its details keep the macro's own source as detail. */
	s = screen_sized(&f, "240x40", "/zoo_select\\n\\n");
	cr_expect(strstr(s, " in tokio::select!") != NULL, "%s", s);
	cr_expect(strstr(s, "tokio::select!'s own source: ") != NULL && strstr(s, "/src/macros/select.rs:"),
		  "%s", s);
	free(s);
	fixture_kill(&f);
}
