/* `profile` on the real fixture `profiled` (one task that spins, one woken every millisecond, idle
 * sleepers): the spinning task leads, its polls are counted, every format parses with the fields
 * docs/json-format.md documents, and the target runs on untraced and exits normally afterwards,
 * Ctrl-C included. Skipped (with the tool's reason) where perf uprobe events are not allowed. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <regex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"

TestSuite(profile, .init = require_fixtures, .timeout = 600);

#define REFUSED "perf events are not allowed"

/* Skips the test when the tool said perf events are not allowed here. */
static void skip_if_refused(const struct tool_result *r)
{
	if (tool_exit_code(r) == 1 && r->err && strstr(r->err, REFUSED)) {
		const char *line = strstr(r->err, REFUSED);
		cr_skip("perf uprobe events are not available here: %.*s", (int)strcspn(line, "\n"), line);
	}
}

static void profile_pid(pid_t pid, const char *format, struct tool_result *r)
{
	char *p = xasprintf("%d", (int)pid);
	tool_run(r, 120, (const char *[]){ "profile", "--pid", p, "--duration", "1s", "--format", format, NULL });
	free(p);
	skip_if_refused(r);
	cr_assert_eq(tool_exit_code(r), 0, "stderr: %s", r->err);
}

/* The fixture is untraced, running, and ends normally when told to. */
static void expect_runs_on_then_exits(struct fixture *f, const char *what)
{
	cr_expect_eq(tracer_pid(f->pid), 0, "%s: still traced after the profile", what);
	char state = process_state(f->pid);
	cr_expect(state == 'R' || state == 'S', "%s: state %c after the profile", what, state);
	cr_assert_eq(write(f->in_fd, "quit\n", 5), 5);
	char line[128] = "";
	cr_expect_not_null(fgets(line, sizeof(line), f->out), "%s: no line after quit", what);
	cr_expect(strncmp(line, "done ", 5) == 0, "%s: printed '%s'", what, line);
	int status = fixture_wait(f);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s: exit status 0x%x", what, status);
	fixture_kill(f);
}

static const char *const task_fields[] = {
	"id", "address", "generation", "name", "future", "location", "await_chain", "in_start_snapshot",
	"in_end_snapshot", "released", "polls", "busy_ns", "idle_ns", "scheduled_ns", "scheduled_count",
	"scheduled_mean_ns", "scheduled_p99_ns", "scheduled_max_ns", "wakes", "self_wakes", "task_wakes",
	"max_poll_ns", "max_poll_at_ns", "long_polls",
};

static const char *str_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_int_t int_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	cr_assert(json_is_integer(v), "\"%s\" is not an integer", key);
	return json_integer_value(v);
}

/* The JSON of one profile: the documented fields; spinner first with polls, the sleepers there
 * with none, the ticker woken. */
static void check_json(const char *text, const char *version)
{
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr);
	cr_assert_not_null(root, "%s: %s in: %s", version, jerr.text, text);
	cr_expect_str_eq(str_of(root, "format"), "async-inspect-profile", "%s", version);
	static const char *const top[] = { "version", "pid", "exe", "runtimes", "probes", "duration_ns", "polls", "wakes",
					   "releases", "events_lost", "target_exited", "tasks", "threads", "warnings" };
	for (size_t i = 0; i < AI_ARRAY_SIZE(top); i++)
		cr_expect_not_null(json_object_get(root, top[i]), "%s: no \"%s\"", version, top[i]);
	cr_expect_str_eq(str_of(root, "runtimes"), "tokio", "%s", version);
	cr_expect(json_is_false(json_object_get(root, "target_exited")), "%s", version);
	json_t *tasks = json_object_get(root, "tasks");
	cr_assert(json_is_array(tasks) && json_array_size(tasks) >= 5, "%s: tasks", version);
	for (size_t t = 0; t < json_array_size(tasks); t++)
		for (size_t i = 0; i < AI_ARRAY_SIZE(task_fields); i++)
			cr_expect_not_null(json_object_get(json_array_get(tasks, t), task_fields[i]),
					   "%s: task %zu has no \"%s\"", version, t, task_fields[i]);
	json_t *first = json_array_get(tasks, 0);
	cr_expect_str_eq(str_of(first, "future"), "profiled::spinner", "%s: the busy task is not first", version);
	cr_expect_gt(int_of(first, "polls"), 0, "%s", version);
	cr_expect_gt(int_of(first, "busy_ns"), 0, "%s", version);
	cr_expect(json_is_integer(json_object_get(first, "id")), "%s: the spinner has no task id", version);
	json_t *chain = json_object_get(first, "await_chain");
	cr_expect(json_is_array(chain) && json_array_size(chain) >= 1 &&
		  strcmp(json_string_value(json_array_get(chain, 0)), "profiled::spinner") == 0, "%s: chain", version);
	int sleepers = 0, tickers = 0;
	for (size_t t = 0; t < json_array_size(tasks); t++) {
		json_t *task = json_array_get(tasks, t);
		const char *future = str_of(task, "future");
		if (future && strcmp(future, "profiled::sleeper") == 0) {
			sleepers++;
			cr_expect_eq(int_of(task, "polls"), 0, "%s: a sleeper was polled", version);
		} else if (future && strcmp(future, "profiled::ticker") == 0) {
			tickers++;
			cr_expect_gt(int_of(task, "wakes"), 0, "%s: the ticker was never woken", version);
			cr_expect_gt(int_of(task, "polls"), 0, "%s", version);
		}
	}
	cr_expect_eq(sleepers, 3, "%s", version);
	cr_expect_eq(tickers, 1, "%s", version);
	json_t *threads = json_object_get(root, "threads");
	cr_expect(json_is_array(threads) && json_array_size(threads) >= 1, "%s: threads", version);
	json_decref(root);
}

Test(profile, json_on_every_version_then_the_target_runs_on)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start_with_stdin(&f, *v, "profiled", NULL);
		struct tool_result r;
		profile_pid(f.pid, "json", &r);
		check_json(r.out, *v);
		tool_result_free(&r);
		expect_runs_on_then_exits(&f, *v);
	}
}

Test(profile, report_folded_and_svg)
{
	struct fixture f;
	fixture_start_with_stdin(&f, "tokio-1.54", "profiled", NULL);
	struct tool_result r;
	profile_pid(f.pid, "report", &r);
	/* The table's first row is the spinner. */
	const char *header = strstr(r.out, "\nTASK ");
	cr_assert_not_null(header, "%s", r.out);
	const char *row = strchr(header + 1, '\n');
	cr_assert_not_null(row);
	char first[512];
	snprintf(first, sizeof(first), "%.*s", (int)strcspn(row + 1, "\n"), row + 1);
	cr_expect_not_null(strstr(first, "profiled::spinner"), "first row: %s", first);
	cr_expect_not_null(strstr(r.out, "\nTHREAD "), "%s", r.out);
	/* Every 50th poll of the spinner takes 20 ms. */
	cr_expect_not_null(strstr(r.out, "polls longer than 10 ms"), "%s", r.out);
	tool_result_free(&r);

	profile_pid(f.pid, "folded", &r);
	regex_t line;
	cr_assert_eq(regcomp(&line, "^task [^;]+(;[^;]+)+ [0-9]+$", REG_EXTENDED | REG_NOSUB), 0);
	int lines = 0;
	bool spinner = false;
	for (char *s = r.out, *end; *s; s = end + (*end != '\0')) {
		end = s + strcspn(s, "\n");
		char *l = xstrndup(s, (size_t)(end - s));
		cr_expect_eq(regexec(&line, l, 0, NULL, 0), 0, "not a folded line: '%s'", l);
		/* The spinner's await chain, root first, down to the yield it parks on. */
		if (strstr(l, ";profiled::spinner;tokio::task::yield_now"))
			spinner = lines == 0;
		lines++;
		free(l);
	}
	regfree(&line);
	cr_expect_gt(lines, 0);
	cr_expect(spinner, "the spinner is not the first folded line: %s", r.out);
	tool_result_free(&r);

	/* svg: one document, every element closed, the spinner's frames drawn. */
	profile_pid(f.pid, "svg", &r);
	cr_expect(strncmp(r.out, "<?xml version=\"1.0\"", strlen("<?xml version=\"1.0\"")) == 0, "%.80s", r.out);
	cr_expect_not_null(strstr(r.out, "<svg xmlns=\"http://www.w3.org/2000/svg\""));
	size_t len = strlen(r.out);
	cr_expect(len > 7 && strcmp(r.out + len - 7, "</svg>\n") == 0, "does not end with </svg>");
	cr_expect_eq(count_substr(r.out, "<g>"), count_substr(r.out, "</g>"));
	cr_expect_eq(count_substr(r.out, "<title>"), count_substr(r.out, "</title>"));
	cr_expect_eq(count_substr(r.out, "<text"), count_substr(r.out, "</text>"));
	cr_expect_not_null(strstr(r.out, "<title>profiled::spinner ("), "%s", r.out);
	tool_result_free(&r);
	expect_runs_on_then_exits(&f, "tokio-1.54");
}

/* Ctrl-C ends the measure: the probes are closed, what was measured is printed, and the target
 * runs on. The tool says on stderr when it has begun. */
Test(profile, ctrl_c_prints_what_was_measured)
{
	struct fixture f;
	fixture_start_with_stdin(&f, "tokio-1.24", "profiled", NULL);
	char *p = xasprintf("%d", (int)f.pid);
	struct tool_process tool;
	tool_spawn(&tool, (const char *[]){ "profile", "--pid", p, "--duration", "10m", "--format", "json", NULL });
	free(p);
	bool started = false;
	for (int i = 0; i < 6000 && !started; i++) {
		char buf[4096] = "";
		ssize_t n = pread(tool.err_fd, buf, sizeof(buf) - 1, 0);
		started = n > 0 && strstr(buf, "profiling process");
		if (n > 0 && strstr(buf, REFUSED))
			break;
		if (!started)
			usleep(10000);
	}
	if (started)
		kill(tool.pid, SIGINT);
	struct tool_result r;
	tool_finish(&tool, 120, &r);
	skip_if_refused(&r);
	cr_assert(started, "the profile never began: %s", r.err);
	cr_assert_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	json_error_t jerr;
	json_t *root = json_loads(r.out, 0, &jerr);
	cr_assert_not_null(root, "%s in: %s", jerr.text, r.out);
	cr_expect(json_is_array(json_object_get(root, "tasks")));
	json_decref(root);
	tool_result_free(&r);
	expect_runs_on_then_exits(&f, "after Ctrl-C");
}

/* `profile -- PROGRAM`: the program's exit status becomes ours, and the profile is written. Its
 * stdin is ours (empty), so it ends at once. */
Test(profile, launched_program)
{
	char *path = fixture_path("tokio-1.54", "profiled");
	char *out = xasprintf("/tmp/ai-profile-%d.json", (int)getpid());
	struct tool_result r;
	tool_run_input(&r, 120, "", (const char *[]){ "profile", "--format", "json", "--output", out, "--", path, NULL });
	skip_if_refused(&r);
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	cr_expect_not_null(strstr(r.out, "done "), "the program's own output: %s", r.out);
	json_error_t jerr;
	json_t *root = json_load_file(out, 0, &jerr);
	cr_assert_not_null(root, "%s", jerr.text);
	cr_expect(json_is_true(json_object_get(root, "target_exited")));
	json_decref(root);
	unlink(out);
	free(out);
	free(path);
	tool_result_free(&r);
}
