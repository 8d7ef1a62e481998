/* `run` / `attach --step TASK`: each transition of the task's state machine (the await it left,
 * the one it reached, the locals that changed), then a detach that leaves the program to run
 * on to its own end with its own output and status; a task that is not there is an error that
 * stops nothing. The fixture is ticker: one task whose loop parks at a yield (`ticker-yield`)
 * and then a sleep (`ticker-pause`) per round, its round `i` a saved local. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"

#define TICKER "tokio/src/bin/ticker.rs"
#define CRATE "tokio-1.54"

static void setup(void)
{
	require_fixtures();
}

TestSuite(step, .init = setup, .timeout = 180);

/* The ticker task as --step takes it: its id as dump shows it, or its address for tokio
 * versions without task ids. */
static char *ticker_task_id(struct fixture *f)
{
	struct tool_result r;
	dump_fixture(f, "json", &r);
	json_error_t error;
	json_t *root = json_loads(r.out, 0, &error);
	cr_assert(root, "dump is not JSON (%s)", error.text);
	char *id = NULL;
	size_t i;
	json_t *task;
	json_array_foreach(json_object_get(root, "tasks"), i, task)
	{
		const char *future = json_string_value(json_object_get(task, "future"));
		if (!future || strcmp(future, "ticker::ticker") != 0)
			continue;
		if (json_is_integer(json_object_get(task, "id")))
			id = xasprintf("%lld", (long long)json_integer_value(json_object_get(task, "id")));
		else if (json_is_string(json_object_get(task, "address")))
			id = xstrdup(json_string_value(json_object_get(task, "address")));
	}
	cr_assert(id, "no ticker::ticker task with an id or address in the dump: %s", r.out);
	json_decref(root);
	tool_result_free(&r);
	return id;
}

/* The rest of a fixture's output, to its end. */
static char *read_rest(FILE *in)
{
	size_t size = 0, capacity = 4096;
	char *text = xmalloc(capacity);
	size_t n;
	while ((n = fread(text + size, 1, capacity - size - 1, in)) > 0) {
		size += n;
		if (capacity - size < 2)
			text = xrealloc(text, capacity *= 2);
	}
	text[size] = '\0';
	return text;
}

/* The program's own output is whole: every round's tick and the sum of rounds-1 rounds. */
static void expect_ticker_output(const char *out, int rounds)
{
	cr_expect_eq(count_substr(out, "tick "), rounds, "every tick: %s", out);
	char *sum = xasprintf("sum %d\n", rounds * (rounds - 1) / 2);
	cr_expect(strstr(out, sum), "the program's last line %s: %s", sum, out);
	free(sum);
}

/* Text record n (1-based): from its "step n:" line to the next blank line. */
static char *record(const char *out, int n)
{
	char *head = xasprintf("step %d: ", n);
	const char *p = strstr(out, head);
	while (p && p != out && p[-1] != '\n')
		p = strstr(p + 1, head);
	free(head);
	if (!p)
		return NULL;
	const char *end = strstr(p, "\n\n");
	return end ? xstrndup(p, (size_t)(end - p)) : xstrdup(p);
}

/* The line of a "left" or "reached" row of a record: its ticker.rs:N. */
static int row_line(const char *rec, const char *label)
{
	char *key = xasprintf("\n  %-8s ticker::ticker  ", label);
	const char *p = strstr(rec, key);
	free(key);
	if (!p)
		return -1;
	const char *eol = strchr(p + 1, '\n');
	const char *at = strstr(p, "ticker.rs:");
	return at && (!eol || at < eol) ? atoi(at + strlen("ticker.rs:")) : -1;
}

/* The round counter i in the task's tree under a record: "i = N,". */
static int round_of(const char *rec)
{
	const char *p = strstr(rec, "\nTask ");
	p = p ? strstr(p, " i = ") : NULL;
	return p ? atoi(p + strlen(" i = ")) : -1;
}

/* Three steps through the loop's awaits: each leaves the await the one before reached, and
 * reaches the other await; i stays from the yield to the sleep and grows by one from the sleep
 * to the next round's yield, a change the record names. */
static void expect_three_steps(const char *out, const char *id)
{
	int yield = marker_line(TICKER, "// @await: ticker-yield");
	int pause = marker_line(TICKER, "// @await: ticker-pause");
	int last_reached = -1, last_round = -1;
	for (int n = 1; n <= 3; n++) {
		char *rec = record(out, n);
		cr_assert(rec, "step %d missing: %s", n, out);
		char *head = xasprintf("step %d: task %s ticker::ticker, thread ", n, id);
		cr_expect(strncmp(rec, head, strlen(head)) == 0, "the record's task: %s", rec);
		free(head);
		int left = row_line(rec, "left"), reached = row_line(rec, "reached"), round = round_of(rec);
		cr_expect((left == yield && reached == pause) || (left == pause && reached == yield),
			  "step %d goes from one await of the loop to the other (%d, %d): %s", n, yield, pause, rec);
		if (last_reached >= 0)
			cr_expect_eq(left, last_reached, "step %d leaves where step %d arrived: %s", n, n - 1, rec);
		cr_expect_geq(round, 0, "the round counter in the task's tree: %s", rec);
		if (reached == yield) {
			char *change = xasprintf("  changed  i = %d -> %d  (ticker::ticker)", round - 1, round);
			cr_expect(strstr(rec, change), "step %d names the new round (%s): %s", n, change, rec);
			free(change);
			if (last_round >= 0)
				cr_expect_eq(round, last_round + 1, "a new round: %s", rec);
		} else {
			cr_expect(!strstr(rec, "  changed  i = "), "i is the same from the yield to the sleep: %s", rec);
			if (last_round >= 0)
				cr_expect_eq(round, last_round, "the same round: %s", rec);
		}
		last_reached = reached;
		last_round = round;
		free(rec);
	}
	cr_expect(!record(out, 4), "three steps only: %s", out);
}

static void attach_three_steps_on(const char *crate)
{
	struct fixture f;
	fixture_start(&f, crate, "ticker", (const char *[]){ "100", "20", NULL });
	char *id = ticker_task_id(&f);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "attach", "--pid", pid, "--step", id, "--step-count", "3", NULL });
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	expect_three_steps(r.out, id);
	cr_expect_eq(tracer_pid(f.pid), 0, "detached");
	char *rest = read_rest(f.out);
	int status = fixture_wait(&f);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 7, "the program ends normally (status %#x)", status);
	cr_expect(strstr(rest, "sum 4950\n"), "its output goes on to its end: %s", rest);
	free(rest);
	fixture_kill(&f);
	tool_result_free(&r);
	free(id);
}

Test(step, attach_three_steps_then_the_program_runs_on)
{
	attach_three_steps_on(CRATE);
}

/* The same on every tokio fixture: the state comes from each build's DWARF (1.8 has no task ids:
 * the task is its address). */
Test(step, three_steps_on_every_tokio)
{
	for (const char *const *v = tokio_versions(); *v; v++)
		attach_three_steps_on(*v);
}

/* run: the task is waited for; the program's output and status are a plain run's. */
Test(step, run_steps_in_json_and_the_output_is_untouched)
{
	struct fixture f;
	fixture_start(&f, CRATE, "ticker", (const char *[]){ "100", "20", NULL });
	char *id = ticker_task_id(&f); /* the same binary spawns it with the same id every run */
	fixture_kill(&f);
	char *bin = fixture_path(CRATE, "ticker");
	struct tool_result plain, r;
	tool_run(&plain, 120, (const char *[]){ "run", "--", bin, "100", "20", NULL });
	tool_run(&r, 120, (const char *[]){ "run", "--step", id, "--step-count", "3", "--format", "json", "--", bin, "100", "20", NULL });
	cr_expect_eq(tool_exit_code(&r), tool_exit_code(&plain), "the program's status (%d); stderr: %s", tool_exit_code(&plain), r.err);
	cr_expect_eq(tool_exit_code(&r), 7);
	expect_ticker_output(r.out, 100);
	int yield = marker_line(TICKER, "// @await: ticker-yield");
	int pause = marker_line(TICKER, "// @await: ticker-pause");
	int steps = 0;
	long last_reached = -1;
	for (char *save = NULL, *l = strtok_r(r.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		if (l[0] != '{')
			continue; /* the program's own lines */
		json_error_t error;
		json_t *step = json_loads(l, 0, &error);
		cr_assert(step, "not JSON (%s): %s", error.text, l);
		steps++;
		cr_expect_str_eq(json_string_value(json_object_get(step, "format")), "async-inspect-step");
		cr_expect_eq(json_integer_value(json_object_get(step, "step")), steps);
		cr_expect_eq(json_integer_value(json_object_get(step, "task_id")), atoll(id));
		cr_expect(json_is_false(json_object_get(step, "completed")), "%s", l);
		json_t *left = json_object_get(step, "left"), *reached = json_object_get(step, "reached");
		long from = (long)json_integer_value(json_object_get(left, "line"));
		long to = (long)json_integer_value(json_object_get(reached, "line"));
		cr_expect_str_eq(json_string_value(json_object_get(reached, "function")), "ticker::ticker");
		cr_expect((from == yield && to == pause) || (from == pause && to == yield), "one await to the other: %s", l);
		if (last_reached >= 0)
			cr_expect_eq(from, last_reached, "it leaves where the step before arrived: %s", l);
		last_reached = to;
		/* From the sleep to the next yield, i grows: "changed" says from what to what. */
		json_t *changed = json_object_get(step, "changed");
		bool i_changed = false;
		size_t k;
		json_t *c;
		json_array_foreach(changed, k, c)
		{
			if (strcmp(json_string_value(json_object_get(c, "name")), "i") == 0) {
				i_changed = true;
				long before = atol(json_string_value(json_object_get(c, "before")));
				long after = atol(json_string_value(json_object_get(c, "after")));
				cr_expect_eq(after, before + 1, "%s", l);
			}
		}
		cr_expect_eq(i_changed, to == yield, "i changes exactly on the way to a new round's yield: %s", l);
		cr_expect(json_is_object(json_object_get(step, "task")), "the task as dump shows it: %s", l);
		json_decref(step);
	}
	cr_expect_eq(steps, 3, "three steps, one JSON line each");
	tool_result_free(&r);
	tool_result_free(&plain);
	free(bin);
	free(id);
}

/* The last step of a task is its completion; fewer steps than asked are said on stderr. */
Test(step, completion_is_the_last_step)
{
	struct fixture f;
	fixture_start(&f, CRATE, "ticker", (const char *[]){ "100", "20", NULL });
	char *id = ticker_task_id(&f);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	struct tool_result r;
	tool_run(&r, 150, (const char *[]){ "attach", "--pid", pid, "--step", id, "--step-count", "100000", NULL });
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	char *done = xasprintf(": task %s ticker::ticker completed, thread ", id);
	cr_expect(strstr(r.out, done), "the completion: %s", r.out);
	cr_expect(strstr(r.out, "  reached  ticker::ticker  Returned"), "%s", r.out);
	cr_expect(strstr(r.err, "the task completed after "), "%s", r.err);
	char *rest = read_rest(f.out);
	int status = fixture_wait(&f);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 7, "status %#x", status);
	cr_expect(strstr(rest, "sum 4950\n"), "%s", rest);
	free(rest);
	free(done);
	fixture_kill(&f);
	tool_result_free(&r);
	free(id);
}

/* A task that is not there: an error listing the tasks there are, a failure status, and the
 * program runs on (attached) or to its end (launched) all the same. */
Test(step, a_task_that_does_not_exist_is_an_error)
{
	struct fixture f;
	fixture_start(&f, CRATE, "ticker", (const char *[]){ "100", "20", NULL });
	char *id = ticker_task_id(&f);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "attach", "--pid", pid, "--step", "987654", NULL });
	cr_expect_eq(tool_exit_code(&r), 1, "stderr: %s", r.err);
	cr_expect(strstr(r.err, "--step 987654: no task with that id in process "), "%s", r.err);
	char *listed = xasprintf("its tasks now: %s", id);
	cr_expect(strstr(r.err, listed), "the tasks there are: %s", r.err);
	cr_expect_eq(tracer_pid(f.pid), 0, "detached");
	char *rest = read_rest(f.out);
	int status = fixture_wait(&f);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 7, "status %#x", status);
	cr_expect(strstr(rest, "sum 4950\n"), "%s", rest);
	free(rest);
	fixture_kill(&f);
	tool_result_free(&r);

	char *bin = fixture_path(CRATE, "ticker");
	tool_run(&r, 120, (const char *[]){ "run", "--step", "987654", "--", bin, "20", "5", NULL });
	cr_expect_eq(tool_exit_code(&r), 1, "stderr: %s", r.err);
	cr_expect(strstr(r.err, "which ran to its end without it"), "%s", r.err);
	expect_ticker_output(r.out, 20);
	tool_result_free(&r);

	tool_run(&r, 30, (const char *[]){ "run", "--step", "nine", "--", bin, "1", NULL });
	cr_expect_eq(tool_exit_code(&r), 2, "a usage error: %s", r.err);
	cr_expect(strstr(r.err, "expected a task id"), "%s", r.err);
	tool_result_free(&r);
	tool_run(&r, 30, (const char *[]){ "run", "--step", "1", "--break", "ticker.rs:16", "--", bin, "1", NULL });
	cr_expect_eq(tool_exit_code(&r), 2, "a usage error: %s", r.err);
	cr_expect(strstr(r.err, "--step and --break do not combine"), "%s", r.err);
	tool_result_free(&r);
	free(bin);
	free(listed);
	free(id);
}

/* SIGINT to the tool while it steps: the signal handler takes the watchpoint out of every thread
 * before it detaches. One left behind would trap in the untraced program, which SIGTRAP kills: it
 * ends instead with its own status and output. */
Test(step, sigint_to_the_tool_clears_the_watchpoint)
{
	struct fixture f;
	fixture_start(&f, CRATE, "ticker", (const char *[]){ "100", "20", NULL });
	char *id = ticker_task_id(&f);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	struct tool_process p;
	tool_spawn(&p, (const char *[]){ "attach", "--pid", pid, "--step", id, "--step-count", "100000", NULL });
	char buf[512];
	bool stepped = false;
	while (!stepped && fgets(buf, sizeof(buf), p.out))
		stepped = strncmp(buf, "step 2: ", 8) == 0;
	cr_expect(stepped, "steps before the signal");
	kill(p.pid, SIGINT);
	struct tool_result r;
	tool_finish(&p, 30, &r);
	cr_expect(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGINT, "status %#x, stderr: %s", r.status, r.err);
	char *rest = read_rest(f.out);
	int status = fixture_wait(&f);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 7, "the program ends normally (status %#x)", status);
	cr_expect(strstr(rest, "sum 4950\n"), "%s", rest);
	free(rest);
	fixture_kill(&f);
	tool_result_free(&r);
	free(id);
}

/* The TUI's n (headless: a virtual screen, scripted keys): the ticker task's details open with
 * the step at their top, the program paused; n again is the next step. After the detach the
 * program ends as it would have. */
Test(step, tui_n_steps_the_task_in_its_details)
{
	struct fixture f;
	fixture_start(&f, CRATE, "ticker", (const char *[]){ "100", "20", NULL });
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	setenv("AI_TUI_HEADLESS", "150x40", 1);
	setenv("AI_TUI_KEYS", "/ticker::ticker\\n\\nnn", 1);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "attach", "--pid", pid, NULL });
	unsetenv("AI_TUI_HEADLESS");
	unsetenv("AI_TUI_KEYS");
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	cr_expect(strstr(r.out, "[details]"), "the task's details: %s", r.out);
	cr_expect(strstr(r.out, "step: the task changed state on thread "), "the step: %s", r.out);
	cr_expect(strstr(r.out, "stepped: program paused (n steps again, p resumes)"), "%s", r.out);
	cr_expect(strstr(r.out, "[PAUSED]"), "the program stays paused: %s", r.out);
	int yield = marker_line(TICKER, "// @await: ticker-yield");
	int pause = marker_line(TICKER, "// @await: ticker-pause");
	int left = row_line(r.out, "left"), reached = row_line(r.out, "reached");
	cr_expect((left == yield && reached == pause) || (left == pause && reached == yield),
		  "from one await of the loop to the other (%d, %d): %s", yield, pause, r.out);
	if (reached == yield)
		cr_expect(strstr(r.out, "\n  changed  i = "), "a new round names its counter: %s", r.out);
	char *rest = read_rest(f.out);
	int status = fixture_wait(&f);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 7, "status %#x", status);
	cr_expect(strstr(rest, "sum 4950\n"), "%s", rest);
	free(rest);
	fixture_kill(&f);
	tool_result_free(&r);
}

/* Without the debug registers (AI_STEP_NO_WATCHPOINTS pretends they are all taken) the steps come
 * from int3s after the stores of the task's state: the same three transitions as with the
 * watchpoint, the fallback said on stderr, and once we are gone the program's code is its file's
 * again and it runs on to its own end. */
Test(step, fallback_breakpoints_give_the_same_steps)
{
	struct fixture f;
	fixture_start(&f, CRATE, "ticker", (const char *[]){ "100", "20", NULL });
	char *id = ticker_task_id(&f);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	setenv("AI_STEP_NO_WATCHPOINTS", "1", 1);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "attach", "--pid", pid, "--step", id, "--step-count", "3", NULL });
	unsetenv("AI_STEP_NO_WATCHPOINTS");
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	cr_expect(strstr(r.err, "stepping with breakpoints at the stores of the task's state"), "%s", r.err);
	expect_three_steps(r.out, id);
	cr_expect_eq(tracer_pid(f.pid), 0, "detached");
	cr_expect_eq(code_bytes_changed(f.pid, f.path), 0, "an int3 was left in the code");
	char *rest = read_rest(f.out);
	int status = fixture_wait(&f);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 7, "the program ends normally (status %#x)", status);
	cr_expect(strstr(rest, "sum 4950\n"), "its output goes on to its end: %s", rest);
	free(rest);
	fixture_kill(&f);
	tool_result_free(&r);
	free(id);
}

/* SIGINT to the tool while the fallback's int3s are in: the signal handler takes them out before
 * it detaches; the code is then its file's, byte for byte, and the program ends as it would have
 * (an int3 left would trap in the untraced program, which SIGTRAP kills). */
Test(step, sigint_with_fallback_breakpoints_leaves_the_original_code)
{
	struct fixture f;
	fixture_start(&f, CRATE, "ticker", (const char *[]){ "100", "20", NULL });
	char *id = ticker_task_id(&f);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	setenv("AI_STEP_NO_WATCHPOINTS", "1", 1);
	struct tool_process p;
	tool_spawn(&p, (const char *[]){ "attach", "--pid", pid, "--step", id, "--step-count", "100000", NULL });
	unsetenv("AI_STEP_NO_WATCHPOINTS");
	char buf[512];
	bool stepped = false;
	while (!stepped && fgets(buf, sizeof(buf), p.out))
		stepped = strncmp(buf, "step 2: ", 8) == 0;
	cr_expect(stepped, "steps before the signal");
	/* Seen while they are in (not while a hit is stepped over: look again). */
	size_t in = 0;
	for (int i = 0; i < 500 && !in; i++) {
		in = code_bytes_changed(f.pid, f.path);
		if (!in)
			usleep(10000);
	}
	cr_expect_gt(in, 0, "the int3s are in the code while it steps");
	kill(p.pid, SIGINT);
	struct tool_result r;
	tool_finish(&p, 30, &r);
	cr_expect(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGINT, "status %#x, stderr: %s", r.status, r.err);
	cr_expect_eq(code_bytes_changed(f.pid, f.path), 0, "an int3 was left in the code");
	char *rest = read_rest(f.out);
	int status = fixture_wait(&f);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 7, "the program ends normally (status %#x)", status);
	cr_expect(strstr(rest, "sum 4950\n"), "%s", rest);
	free(rest);
	fixture_kill(&f);
	tool_result_free(&r);
	free(id);
}
