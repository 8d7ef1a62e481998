/* `run` / `attach --break SPEC`: a record per hit with the task and its await chain, the program's
 * own output and exit status untouched, and no int3 left behind (a breakpoint left in the code
 * would kill the program with SIGTRAP on its next pass, so a program that runs to its normal end
 * after we detach has its original code). */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"

#define TICKER "tokio/src/bin/ticker.rs"

static void setup(void)
{
	require_fixtures();
}

TestSuite(breakpoints, .init = setup, .timeout = 180);

/* The text of record n (1-based) in out: from its "breakpoint" line to the next one. */
static char *record(const char *out, int n)
{
	const char *p = NULL, *from = out;
	for (int i = 0; i < n; i++) {
		p = strstr(from, "breakpoint ");
		while (p && p != out && p[-1] != '\n')
			p = strstr(p + 1, "breakpoint ");
		if (!p)
			return NULL;
		from = p + 1;
	}
	const char *end = strstr(p + 1, "\nbreakpoint ");
	return end ? xstrndup(p, (size_t)(end - p)) : xstrdup(p);
}

/* Two hits at the .await of a loop: task, line and the round counter 0 then 1; then the program
 * runs on to its own end (its output whole, its status 7). */
static void line_breakpoint_on(const char *crate)
{
	int line = marker_line(TICKER, "// @await: ticker-yield");
	char *spec = xasprintf("ticker.rs:%d", line);
	char *bin = fixture_path(crate, "ticker");
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "run", "--no-tui", "--break", spec, "--break-count", "2", "--", bin, "5", NULL });
	cr_expect_eq(tool_exit_code(&r), 7, "%s: the program's status is ours; stderr: %s", crate, r.err);
	cr_expect_eq(count_substr(r.out, "breakpoint 1 ("), 2, "%s: two hits: %s", crate, r.out);
	for (int i = 0; i < 5; i++) {
		char *tick = xasprintf("tick %d\n", i);
		cr_expect(strstr(r.out, tick), "%s: the program's own output goes on: no '%s' in %s", crate, tick, r.out);
		free(tick);
	}
	cr_expect(strstr(r.out, "sum 10\n"), "%s: %s", crate, r.out);
	char *where = xasprintf("ticker.rs:%d", line);
	for (int n = 1; n <= 2; n++) {
		char *rec = record(r.out, n);
		cr_assert(rec, "%s: record %d missing: %s", crate, n, r.out);
		char *round = xasprintf("i = %d,", n - 1);
		cr_expect(strstr(rec, "ticker::ticker  Suspend0"), "%s: the task's await chain: %s", crate, rec);
		cr_expect(strstr(rec, where), "%s: the await line %s: %s", crate, where, rec);
		cr_expect(strstr(rec, round), "%s: the round counter at hit %d: %s", crate, n, rec);
		cr_expect(strstr(rec, "\nTask "), "%s: the task's header: %s", crate, rec);
		free(round);
		free(rec);
	}
	free(where);
	tool_result_free(&r);
	free(bin);
	free(spec);
}

Test(breakpoints, line_hits_show_task_line_and_locals_on_every_tokio)
{
	for (const char *const *v = tokio_versions(); *v; v++)
		line_breakpoint_on(*v);
}

static const char *local_value(json_t *node, const char *name)
{
	size_t i;
	json_t *local;
	json_array_foreach(json_object_get(node, "locals"), i, local)
	{
		if (strcmp(json_string_value(json_object_get(local, "name")), name) == 0)
			return json_string_value(json_object_get(local, "value"));
	}
	return NULL;
}

Test(breakpoints, json_is_one_line_per_hit)
{
	int line = marker_line(TICKER, "// @await: ticker-yield");
	char *spec = xasprintf("ticker.rs:%d", line);
	char *bin = fixture_path("tokio-1.54", "ticker");
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "run", "--break", spec, "--break-count", "2", "--format", "json", "--", bin, "3", NULL });
	cr_expect_eq(tool_exit_code(&r), 7, "stderr: %s", r.err);
	int hits = 0;
	for (char *save = NULL, *l = strtok_r(r.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (l[0] != '{')
			continue; /* the program's own lines */
		json_error_t error;
		json_t *hit = json_loads(l, 0, &error);
		cr_assert(hit, "not JSON (%s): %s", error.text, l);
		hits++;
		cr_expect_str_eq(json_string_value(json_object_get(hit, "format")), "async-inspect-breakpoint-hit");
		cr_expect_eq(json_integer_value(json_object_get(hit, "hit")), hits);
		cr_expect_eq(json_integer_value(json_object_get(hit, "line")), line);
		json_t *task = json_object_get(hit, "task");
		cr_assert(json_is_object(task), "the task: %s", l);
		cr_expect(json_is_integer(json_object_get(task, "id")), "a task id: %s", l);
		cr_expect_str_eq(json_string_value(json_object_get(task, "future")), "ticker::ticker");
		json_t *tree = json_object_get(task, "tree");
		cr_expect_str_eq(json_string_value(json_object_get(tree, "state")), "Suspend0");
		cr_expect_eq(json_integer_value(json_object_get(tree, "line")), line);
		char *round = xasprintf("%d", hits - 1);
		const char *i = local_value(tree, "i");
		cr_expect(i && strcmp(i, round) == 0, "i = %s at hit %d: %s", i ? i : "(none)", hits, l);
		free(round);
		json_decref(hit);
	}
	cr_expect_eq(hits, 2, "stdout: %s", r.out);
	tool_result_free(&r);
	free(bin);
	free(spec);
}

/* FILE:LINE@resume: the polls that resume the task from that await, with the round it is in. */
Test(breakpoints, resume_from_an_await)
{
	int line = marker_line(TICKER, "// @await: ticker-yield");
	char *spec = xasprintf("ticker.rs:%d@resume", line);
	char *bin = fixture_path("tokio-1.54", "ticker");
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "run", "--break", spec, "--break-count", "2", "--", bin, "4", NULL });
	cr_expect_eq(tool_exit_code(&r), 7, "stderr: %s", r.err);
	cr_expect_eq(count_substr(r.out, "breakpoint 1 ("), 2, "%s", r.out);
	char *first = record(r.out, 1), *second = record(r.out, 2);
	cr_assert(first && second, "%s", r.out);
	cr_expect(strstr(first, "ticker::ticker  Suspend0") && strstr(first, "i = 0,"), "%s", first);
	cr_expect(strstr(second, "i = 1,"), "%s", second);
	/* The program goes on after each: round 0 ends (tick 0) before the second resume. */
	const char *tick0 = strstr(r.out, "tick 0\n");
	cr_expect(tick0 && tick0 > strstr(r.out, "hit 1:") && tick0 < strstr(r.out, "hit 2:"), "%s", r.out);
	free(first);
	free(second);
	tool_result_free(&r);
	free(bin);
	free(spec);
}

Test(breakpoints, async_fn_first_poll)
{
	char *bin = fixture_path("tokio-1.54", "ticker");
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "run", "--no-tui", "--break", "ticker::ticker", "--", bin, "4", NULL });
	cr_expect_eq(tool_exit_code(&r), 7, "stderr: %s", r.err);
	/* Polled five times (four yields), started once. */
	cr_expect_eq(count_substr(r.out, "breakpoint 1 ("), 1, "one first poll: %s", r.out);
	cr_expect(strstr(r.out, "ticker::ticker  Unresumed"), "%s", r.out);
	cr_expect(strstr(r.out, "count = 4"), "its argument: %s", r.out);
	cr_expect(strstr(r.out, "sum 6\n"), "%s", r.out);
	tool_result_free(&r);
	free(bin);
}

Test(breakpoints, line_without_await_names_the_await_lines)
{
	int bad = marker_line(TICKER, "// @line: ticker-no-await");
	int yield = marker_line(TICKER, "// @await: ticker-yield");
	int pause = marker_line(TICKER, "// @await: ticker-pause");
	char *spec = xasprintf("ticker.rs:%d", bad);
	char *bin = fixture_path("tokio-1.54", "ticker");
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "run", "--break", spec, "--", bin, "3", NULL });
	cr_expect_eq(tool_exit_code(&r), 2, "stderr: %s", r.err);
	char *lines = xasprintf("the awaits of ticker::ticker are at lines %d and %d", yield, pause);
	cr_expect(strstr(r.err, lines), "'%s' in: %s", lines, r.err);
	cr_expect(strstr(r.err, "has no .await"), "%s", r.err);
	cr_expect(!strstr(r.out, "tick"), "the program never ran: %s", r.out);
	tool_result_free(&r);

	tool_run(&r, 60, (const char *[]){ "run", "--break", "mod.rs:10", "--", bin, "3", NULL });
	cr_expect_eq(tool_exit_code(&r), 2, "stderr: %s", r.err);
	cr_expect(strstr(r.err, "give a longer path"), "several files match: %s", r.err);
	tool_result_free(&r);

	/* In no module loaded now: pending for a library the program may load; none has it. */
	tool_run(&r, 60, (const char *[]){ "run", "--break", "ticker::no_such_fn", "--", bin, "3", NULL });
	cr_expect_eq(tool_exit_code(&r), 7, "the program runs to its end; stderr: %s", r.err);
	cr_expect(strstr(r.err, "breakpoint 1 (ticker::no_such_fn) is pending: --break ticker::no_such_fn: no async fn ticker::no_such_fn"),
		  "%s", r.err);
	cr_expect_eq(count_substr(r.err, "breakpoint 1 (ticker::no_such_fn) matched nothing: "), 1, "%s", r.err);
	tool_result_free(&r);
	free(lines);
	free(bin);
	free(spec);
}

/* attach: after --break-count hits the breakpoints go and we detach; the program (100 rounds of
 * 20 ms, far longer than attaching takes) ends on its own with its own status and output. */
Test(breakpoints, attach_then_detach_leaves_original_code)
{
	int line = marker_line(TICKER, "// @await: ticker-yield");
	char *spec = xasprintf("ticker.rs:%d", line);
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "ticker", (const char *[]){ "100", "20", NULL });
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "attach", "--pid", pid, "--break", spec, "--break-count", "2", NULL });
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	cr_expect_eq(count_substr(r.out, "breakpoint 1 ("), 2, "%s", r.out);
	int status = fixture_wait(&f);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 7, "the program ends normally (status %#x)", status);
	char rest[4096];
	size_t n = fread(rest, 1, sizeof(rest) - 1, f.out);
	rest[n] = '\0';
	cr_expect(strstr(rest, "sum 4950\n"), "its output: %s", rest);
	fixture_kill(&f);
	tool_result_free(&r);
	free(spec);
}

/* SIGTERM to the tool while breakpoints are in a busy multi-thread program: the signal handler
 * removes them before detaching. The program's code is then byte for byte its file's, it is no
 * longer traced, and it goes on working. */
Test(breakpoints, sigterm_to_the_tool_removes_breakpoints)
{
	int line = marker_line("tokio/src/bin/healthy_busy.rs", "// @await: healthy-yield");
	char *spec = xasprintf("healthy_busy.rs:%d", line);
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "healthy_busy", NULL);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	struct tool_process p;
	tool_spawn(&p, (const char *[]){ "attach", "--pid", pid, "--break", spec, NULL });
	char buf[512];
	bool hit = false;
	while (!hit && fgets(buf, sizeof(buf), p.out))
		hit = strncmp(buf, "breakpoint 1 (", 14) == 0;
	cr_expect(hit, "a hit before the signal");
	/* The check sees them while they are in (not while a hit is being stepped over: the byte is
	 * then the program's own for one instruction, so look again). */
	size_t in = 0;
	for (int i = 0; i < 500 && !in; i++) {
		in = code_bytes_changed(f.pid, f.path);
		if (!in)
			usleep(10000);
	}
	cr_expect_gt(in, 0, "the breakpoints are in the code");
	kill(p.pid, SIGTERM);
	struct tool_result r;
	tool_finish(&p, 30, &r);
	cr_expect(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGTERM, "status %#x, stderr: %s", r.status, r.err);
	cr_expect_eq(code_bytes_changed(f.pid, f.path), 0, "an int3 was left in the code");
	char *status_path = xasprintf("/proc/%d/status", (int)f.pid);
	char *status = ai_read_small_file(status_path, NULL);
	cr_assert(status);
	cr_expect(strstr(status, "TracerPid:\t0\n"), "not traced any more: %s", status);
	free(status);
	free(status_path);
	char state = process_settles_in(f.pid, 'S');
	cr_expect(state == 'S' || state == 'R', "running on (state %c)", state);
	fixture_kill(&f);
	tool_result_free(&r);
	free(spec);
}

/* `SPEC if EXPR`: only the rounds the condition picks are hits, and they count. */
Test(breakpoints, condition_picks_the_hits)
{
	int line = marker_line(TICKER, "// @await: ticker-yield");
	char *spec = xasprintf("ticker.rs:%d if i == 2 || (i > 3 && task.id > 0)", line);
	char *bin = fixture_path("tokio-1.54", "ticker");
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "run", "--break", spec, "--break-count", "2", "--", bin, "6", NULL });
	cr_expect_eq(tool_exit_code(&r), 7, "stderr: %s", r.err);
	cr_expect_eq(count_substr(r.out, "breakpoint 1 ("), 2, "%s", r.out);
	char *first = record(r.out, 1), *second = record(r.out, 2);
	cr_assert(first && second, "%s", r.out);
	cr_expect(strstr(first, "i = 2,"), "%s", first);
	cr_expect(strstr(second, "i = 4,"), "%s", second);
	cr_expect(strstr(r.out, "sum 15\n"), "%s", r.out);
	free(first);
	free(second);
	tool_result_free(&r);

	/* A local the frame does not have: unknown, said once, never a hit. */
	free(spec);
	spec = xasprintf("ticker.rs:%d if no_such_local == 1", line);
	tool_run(&r, 60, (const char *[]){ "run", "--break", spec, "--", bin, "3", NULL });
	cr_expect_eq(tool_exit_code(&r), 7, "stderr: %s", r.err);
	cr_expect_eq(count_substr(r.out, "breakpoint 1 ("), 0, "%s", r.out);
	cr_expect_eq(count_substr(r.err, "the condition is unknown here (no local no_such_local"), 1, "%s", r.err);
	tool_result_free(&r);
	free(bin);
	free(spec);
}

/* `spawn` and `complete`: the one task ticker spawns, once when it is spawned (where, with its
 * arguments, not yet polled) and once when it ends, the same id; then the program's own end. */
static void spawn_complete_on(const char *crate)
{
	int join = marker_line(TICKER, "// @await: ticker-join");
	char *bin = fixture_path(crate, "ticker");
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "run", "--no-tui", "--break", "spawn", "--break", "complete", "--", bin, "2", NULL });
	if (strcmp(crate, "tokio-1.8") == 0) {
		/* Before OwnedTasks (1.9) a task is bound to its scheduler on its first poll: no spawn
		 * function is known, and the error says so before the program runs. */
		cr_expect_eq(tool_exit_code(&r), 2, "%s: stderr: %s", crate, r.err);
		cr_expect(strstr(r.err, "names a function its tasks are spawned through"), "%s: %s", crate, r.err);
		cr_expect(!strstr(r.out, "tick"), "%s: the program never ran: %s", crate, r.out);
		tool_result_free(&r);
		free(bin);
		return;
	}
	cr_expect_eq(tool_exit_code(&r), 7, "%s: the program's status is ours; stderr: %s", crate, r.err);
	cr_expect_eq(count_substr(r.out, "breakpoint 1 (spawn) hit"), 1, "%s: one spawn: %s", crate, r.out);
	cr_expect_eq(count_substr(r.out, "breakpoint 2 (complete) hit"), 1, "%s: one end: %s", crate, r.out);
	char *spawn = record(r.out, 1), *end = record(r.out, 2);
	cr_assert(spawn && end, "%s: %s", crate, r.out);
	unsigned long long id = 0, end_id = 1;
	const char *p = strstr(spawn, ": task ");
	cr_assert(p && sscanf(p, ": task %llu spawned", &id) == 1, "%s: %s", crate, spawn);
	p = strstr(end, ": task ");
	cr_assert(p && sscanf(p, ": task %llu completed", &end_id) == 1, "%s: %s", crate, end);
	cr_expect_eq(id, end_id, "%s: the same task: %s / %s", crate, spawn, end);
	char *at = xasprintf("ticker.rs:%d in ticker::main", join);
	cr_expect(strstr(spawn, "  spawned at ") && strstr(spawn, at), "%s: where main spawned it (%s): %s", crate, at,
		  spawn);
	free(at);
	cr_expect(strstr(spawn, "ticker::ticker  Unresumed") && strstr(spawn, "count = 2"),
		  "%s: not polled yet, with its arguments: %s", crate, spawn);
	/* It completes after its last round, before main prints the sum. */
	const char *tick1 = strstr(r.out, "tick 1\n"), *hit2 = strstr(r.out, "hit 2:"), *sum = strstr(r.out, "sum 1\n");
	cr_expect(tick1 && hit2 && sum && tick1 < hit2 && hit2 < sum, "%s: %s", crate, r.out);
	free(spawn);
	free(end);
	tool_result_free(&r);
	free(bin);
}

Test(breakpoints, spawn_and_complete_on_every_tokio)
{
	for (const char *const *v = tokio_versions(); *v; v++)
		spawn_complete_on(*v);
}

/* spawn:FN keeps the tasks whose root future is FN; the JSON record says the event and where. */
Test(breakpoints, spawn_of_one_async_fn_in_json)
{
	int join = marker_line(TICKER, "// @await: ticker-join");
	char *bin = fixture_path("tokio-1.54", "ticker");
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "run", "--break", "spawn:ticker::no_such_fn", "--", bin, "1", NULL });
	cr_expect_eq(tool_exit_code(&r), 7, "stderr: %s", r.err);
	cr_expect_eq(count_substr(r.out, "breakpoint 1 ("), 0, "no task of that fn: %s", r.out);
	tool_result_free(&r);

	tool_run(&r, 60, (const char *[]){ "run", "--break", "spawn:ticker::ticker", "--format", "json", "--", bin, "1", NULL });
	cr_expect_eq(tool_exit_code(&r), 7, "stderr: %s", r.err);
	int hits = 0;
	for (char *save = NULL, *l = strtok_r(r.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (l[0] != '{')
			continue;
		json_error_t error;
		json_t *hit = json_loads(l, 0, &error);
		cr_assert(hit, "not JSON (%s): %s", error.text, l);
		hits++;
		cr_expect_str_eq(json_string_value(json_object_get(hit, "event")), "spawn");
		json_t *at = json_object_get(hit, "spawned_at");
		cr_expect_eq(json_integer_value(json_object_get(at, "line")), join, "%s", l);
		json_t *task = json_object_get(hit, "task");
		cr_expect_str_eq(json_string_value(json_object_get(task, "future")), "ticker::ticker");
		cr_expect_str_eq(json_string_value(json_object_get(json_object_get(task, "tree"), "state")), "Unresumed");
		json_decref(hit);
	}
	cr_expect_eq(hits, 1, "%s", r.out);
	tool_result_free(&r);
	free(bin);
}

/* --history: the task's transitions seen at the hits, oldest first: its spawn (not yet polled),
 * then each pass at the loop's await, every one a "hit"; in JSON, task.history's transitions. */
Test(breakpoints, history_lists_the_transitions_seen)
{
	int line = marker_line(TICKER, "// @await: ticker-yield");
	char *spec = xasprintf("ticker.rs:%d", line);
	char *bin = fixture_path("tokio-1.54", "ticker");
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "run", "--no-tui", "--history", "--break", "spawn", "--break", spec,
					   "--break-count", "3", "--", bin, "4", NULL });
	cr_expect_eq(tool_exit_code(&r), 7, "stderr: %s", r.err);
	char *third = record(r.out, 3);
	cr_assert(third, "%s", r.out);
	cr_expect(strstr(third, "  history (3 transitions seen;"), "%s", third);
	const char *listed = strstr(third, "  history ("), *spawned = strstr(third, "ticker::ticker  Unresumed");
	char *where = xasprintf("ticker.rs:%d  (hit)", line);
	cr_expect(listed && spawned > listed && strstr(spawned, where), "spawn first, then the await: %s", third);
	cr_expect_eq(count_substr(third, where), 2, "two passes at the await: %s", third);
	free(where);
	free(third);
	tool_result_free(&r);

	tool_run(&r, 60, (const char *[]){ "run", "--history", "--break", spec, "--break-count", "2", "--format", "json",
					   "--", bin, "3", NULL });
	cr_expect_eq(tool_exit_code(&r), 7, "stderr: %s", r.err);
	int hits = 0;
	for (char *save = NULL, *l = strtok_r(r.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (l[0] != '{')
			continue;
		json_error_t error;
		json_t *hit = json_loads(l, 0, &error);
		cr_assert(hit, "not JSON (%s): %s", error.text, l);
		hits++;
		json_t *history = json_object_get(hit, "history");
		cr_expect_eq(json_integer_value(json_object_get(history, "total")), hits, "%s", l);
		json_t *last = json_array_get(json_object_get(history, "transitions"), (size_t)hits - 1);
		cr_expect_str_eq(json_string_value(json_object_get(last, "state")), "Suspend0");
		cr_expect_eq(json_integer_value(json_object_get(last, "line")), line);
		cr_expect_str_eq(json_string_value(json_object_get(last, "seen")), "hit");
		json_decref(hit);
	}
	cr_expect_eq(hits, 2, "%s", r.out);
	tool_result_free(&r);
	free(bin);
	free(spec);
}
