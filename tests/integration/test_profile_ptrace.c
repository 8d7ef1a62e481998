/* `profile` by ptrace sampling (--sampler ptrace, and the fallback where perf events are not
 * allowed) on the fixture `profiled` (one task that spins in `spin`, a ticker, idle sleepers):
 * the folded stacks put `spin` under the spinner's root future, the report and the JSON estimate
 * busy time from the samples and show what ptrace cannot measure as unknown ("-", null, never
 * 0), and the program runs on untraced afterwards. No perf events: no lock_profile_tests(). */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"

#define GUARD_S 300

TestSuite(profile_ptrace, .init = require_fixtures, .timeout = 900);

/* `profile --sampler ptrace --pid PID --duration 1s --format FORMAT`, which must succeed. */
static void profile_ptrace(pid_t pid, const char *format, struct tool_result *r)
{
	char *p = xasprintf("%d", (int)pid);
	tool_run(r, GUARD_S, (const char *[]){ "profile", "--sampler", "ptrace", "--pid", p, "--duration", "1s",
					      "--format", format, NULL });
	free(p);
	cr_assert_eq(tool_exit_code(r), 0, "stderr: %s", r->err);
	cr_expect(strstr(r->err, "ptrace sampling at ") != NULL, "stderr: %s", r->err);
}

/* The fixture is untraced, running, and ends normally when told to. */
static void expect_runs_on_then_exits(struct fixture *f)
{
	cr_expect_eq(tracer_pid(f->pid), 0, "still traced after the profile");
	char state = process_state(f->pid);
	cr_expect(state == 'R' || state == 'S', "state %c after the profile", state);
	cr_assert_eq(write(f->in_fd, "quit\n", 5), 5);
	char line[128] = "";
	cr_expect_not_null(fgets(line, sizeof(line), f->out), "no line after quit");
	cr_expect(strncmp(line, "done ", 5) == 0, "printed '%s'", line);
	int status = fixture_wait(f);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
	fixture_kill(f);
}

/* folded: the spinner's samples are its label, its root future, then `spin`, the fixture's own
 * function it runs in (the spinner is busy all the time: a 1 s profile at 19 Hz finds it). */
Test(profile_ptrace, folded_puts_the_busy_fn_under_its_root_future)
{
	struct fixture f;
	fixture_start_with_stdin(&f, "tokio-1.54", "profiled", NULL);
	struct tool_result r;
	profile_ptrace(f.pid, "folded", &r);
	bool found = false;
	for (char *line = r.out; line && *line && !found;) {
		char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		char *text = xstrndup(line, n);
		found = strncmp(text, "task ", 5) == 0 && strstr(text, ";profiled::spinner;profiled::spin;") != NULL;
		free(text);
		line = end ? end + 1 : NULL;
	}
	cr_expect(found, "no stack of the spinner's root future then spin: %s", r.out);
	tool_result_free(&r);
	expect_runs_on_then_exits(&f);
}

/* report: busy estimated from the samples, "-" for what ptrace cannot measure, the pause. */
Test(profile_ptrace, report_estimates_busy_and_leaves_polls_unknown)
{
	struct fixture f;
	fixture_start_with_stdin(&f, "tokio-1.54", "profiled", NULL);
	struct tool_result r;
	profile_ptrace(f.pid, "report", &r);
	cr_expect(strstr(r.out, "ptrace sampling: ") && strstr(r.out, "busy estimated from "), "%s", r.out);
	cr_expect(strstr(r.out, "paused it for ") && strstr(r.out, " mean, ") && strstr(r.out, " max"),
		  "the pause per sample: %s", r.out);
	cr_expect(strstr(r.out, ", - polls, busy ") && strstr(r.out, " estimated from ") && strstr(r.out, ", - wakes"),
		  "the total line: %s", r.out);
	/* The first task row is the spinner's: polls "-", a busy share, then "-" for idle... */
	const char *header = strstr(r.out, "\nTASK ");
	cr_assert_not_null(header, "%s", r.out);
	const char *row = strchr(header + 1, '\n');
	cr_assert_not_null(row);
	char *first = xstrndup(row + 1, strcspn(row + 1, "\n"));
	cr_expect(strstr(first, "profiled::spinner") != NULL, "the busy task is not first: %s", r.out);
	char id[32], polls[32], busy[32], share[32], idle[32];
	cr_assert_eq(sscanf(first, "%31s %31s %31s %31s %31s", id, polls, busy, share, idle), 5, "%s", first);
	cr_expect_str_eq(polls, "-", "polls: %s", first);
	cr_expect_str_eq(idle, "-", "idle: %s", first);
	cr_expect(strcmp(busy, "0ns") != 0 && strcmp(share, "0.0%") != 0, "no busy time: %s", first);
	free(first);
	tool_result_free(&r);
	expect_runs_on_then_exits(&f);
}

static json_t *field(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	cr_assert_not_null(v, "no \"%s\"", key);
	return v;
}

/* json: sampler "ptrace", polls/wakes/scheduled/idle null (never 0), busy and samples numbers,
 * the pause per sample. */
Test(profile_ptrace, json_says_unknown_with_null)
{
	struct fixture f;
	fixture_start_with_stdin(&f, "tokio-1.54", "profiled", NULL);
	struct tool_result r;
	profile_ptrace(f.pid, "json", &r);
	json_error_t jerr;
	json_t *root = json_loads(r.out, 0, &jerr);
	cr_assert_not_null(root, "%s in: %s", jerr.text, r.out);
	cr_expect_str_eq(json_string_value(field(root, "sampler")), "ptrace");
	static const char *const unknown[] = { "polls", "wakes", "releases" };
	for (size_t i = 0; i < AI_ARRAY_SIZE(unknown); i++)
		cr_expect(json_is_null(field(root, unknown[i])), "\"%s\" is not null", unknown[i]);
	cr_expect(json_is_integer(field(root, "busy_estimated_from_samples")));
	cr_expect_gt(json_integer_value(field(root, "ptrace_stops")), 0);
	cr_expect(json_is_integer(field(root, "pause_mean_ns")) && json_is_integer(field(root, "pause_max_ns")));
	json_t *tasks = field(root, "tasks");
	cr_assert(json_is_array(tasks) && json_array_size(tasks) >= 5, "tasks: %s", r.out);
	json_t *first = json_array_get(tasks, 0);
	cr_expect_str_eq(json_string_value(field(first, "future")), "profiled::spinner");
	cr_expect_gt(json_integer_value(field(first, "busy_ns")), 0);
	cr_expect_gt(json_integer_value(field(first, "samples")), 0);
	static const char *const task_unknown[] = { "polls", "idle_ns", "scheduled_ns", "scheduled_mean_ns",
						    "scheduled_p99_ns", "wakes", "max_poll_ns", "long_polls" };
	for (size_t t = 0; t < json_array_size(tasks); t++)
		for (size_t i = 0; i < AI_ARRAY_SIZE(task_unknown); i++)
			cr_expect(json_is_null(field(json_array_get(tasks, t), task_unknown[i])),
				  "task %zu: \"%s\" is not null", t, task_unknown[i]);
	json_decref(root);
	tool_result_free(&r);
	expect_runs_on_then_exits(&f);
}

/* Bad uses say so: --rate 0 (nothing to sample), --max-pause with perf, an unknown sampler. */
Test(profile_ptrace, usage_errors)
{
	static const char *const rate0[] = { "profile", "--sampler", "ptrace", "--rate", "0", "--pid", "1", NULL };
	static const char *const perf_pause[] = { "profile", "--sampler", "perf", "--max-pause", "5ms", "--pid", "1",
						  NULL };
	static const char *const gdb[] = { "profile", "--sampler", "gdb", "--pid", "1", NULL };
	const char *const *const cases[] = { rate0, perf_pause, gdb };
	static const char *const says[] = { "--rate 0", "--max-pause", "invalid --sampler" };
	for (size_t i = 0; i < AI_ARRAY_SIZE(cases); i++) {
		struct tool_result r;
		tool_run(&r, 30, cases[i]);
		cr_expect_eq(tool_exit_code(&r), 2, "case %zu: %s", i, r.err);
		cr_expect(strstr(r.err, says[i]) != NULL, "case %zu: %s", i, r.err);
		tool_result_free(&r);
	}
}

/* As user nobody, perf events are refused (uprobe events need CAP_PERFMON), while the program it
 * launches (as nobody too) may be traced: one line says why perf was refused, how to fix it, and
 * that it falls back to ptrace sampling; the profile is written, exit 0 (the program's status).
 * The program's stdin is ours: closed once the profile has begun, so that it ends. Needs root
 * (to become nobody) and setpriv(1); skipped otherwise. */
Test(profile_ptrace, refused_perf_events_fall_back_to_ptrace)
{
	if (geteuid() != 0 || system("setpriv --version >/dev/null 2>&1") != 0)
		cr_skip("needs root and setpriv to run the tool as another user");
	char *fixture = fixture_path("tokio-1.54", "profiled");
	const char *binary = getenv("AI_BINARY") ? getenv("AI_BINARY") : "build/async-inspect";
	char out_path[] = "/tmp/ai-ptrace-out-XXXXXX", err_path[] = "/tmp/ai-ptrace-err-XXXXXX";
	int out_fd = mkstemp(out_path), err_fd = mkstemp(err_path);
	cr_assert(out_fd >= 0 && err_fd >= 0);
	int in[2];
	cr_assert_eq(pipe(in), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(in[0], 0);
		dup2(out_fd, 1);
		dup2(err_fd, 2);
		close(in[1]);
		execlp("setpriv", "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", binary, "profile",
		       "--duration", "1s", "--", fixture, (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	bool started = false;
	for (int i = 0; i < 6000 && !started; i++) {
		char buf[8192] = "";
		ssize_t n = pread(err_fd, buf, sizeof(buf) - 1, 0);
		started = n > 0 && strstr(buf, "profiling process");
		if (n > 0 && strstr(buf, "error"))
			break;
		if (!started)
			usleep(10000); /* (polling for the line, not timing anything) */
	}
	close(in[1]); /* the program's stdin: EOF, and it ends */
	int status = 0;
	for (int i = 0; i < GUARD_S * 100 && waitpid(pid, &status, WNOHANG) == 0; i++)
		usleep(10000);
	if (waitpid(pid, &status, WNOHANG) == 0) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
	}
	lseek(out_fd, 0, SEEK_SET);
	lseek(err_fd, 0, SEEK_SET);
	char *out = ai_read_small_file(out_path, NULL), *err = ai_read_small_file(err_path, NULL);
	cr_assert(out && err);
	cr_expect(started, "the profile never began: %s", err);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status 0x%x: %s", status, err);
	const char *line = strstr(err, "async-inspect: perf events are not allowed: ");
	cr_assert_not_null(line, "%s", err);
	char *first = xstrndup(line, strcspn(line, "\n"));
	cr_expect(strstr(first, "CAP_PERFMON") && strstr(first, "perf_event_paranoid"), "the fix: %s", first);
	cr_expect(strstr(first, "; falling back to ptrace sampling at 19 Hz (each sample stops the program for a "
			 "moment)") != NULL, "one line: %s", first);
	cr_expect(strstr(out, "ptrace sampling: ") != NULL, "the report: %s", out);
	cr_expect(strstr(out, "done ") != NULL, "the program's own output: %s", out);
	free(first);
	free(out);
	free(err);
	close(out_fd);
	close(err_fd);
	unlink(out_path);
	unlink(err_path);
	free(fixture);
}
