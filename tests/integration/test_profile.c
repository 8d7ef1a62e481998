/* `profile` on the real fixture `profiled` (one task that spins, one woken every millisecond, idle
 * sleepers): the spinning task leads, its polls are counted, every format parses with the fields
 * docs/json-format.md documents, and the target runs on untraced and exits normally afterwards,
 * Ctrl-C included. Skipped (with the tool's reason) where perf uprobe events are not allowed. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <regex.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"

/* The hang guards here are long: a profile ends by closing its uprobe events, and the kernel
 * unregisters them one at a time, each after an RCU grace period (46 closes took 4.9 s on an idle
 * machine, two profiles at once 10.7 s each, and over 120 s each in a CI run under load). The
 * guards only catch a tool that hangs; nothing here asserts how long a profile takes. */
#define PROFILE_GUARD_S 600

static void one_profile_test_at_a_time(void)
{
	require_fixtures();
	lock_profile_tests();
}

TestSuite(profile, .init = one_profile_test_at_a_time, .timeout = 1800);

#define REFUSED "perf events are not allowed"

/* Skips the test when the tool said perf events are not allowed here. */
static void skip_if_refused(const struct tool_result *r)
{
	if (tool_exit_code(r) == 1 && r->err && strstr(r->err, REFUSED)) {
		const char *line = strstr(r->err, REFUSED);
		cr_skip("perf uprobe events are not available here: %.*s", (int)strcspn(line, "\n"), line);
	}
}

/* `profile --pid PID --duration 1s --format FORMAT [EXTRA]` (extra: one more option, or NULL). */
static void profile_pid_with(pid_t pid, const char *format, const char *extra, const char *extra_value,
			     struct tool_result *r)
{
	char *p = xasprintf("%d", (int)pid);
	tool_run(r, PROFILE_GUARD_S, (const char *[]){ "profile", "--pid", p, "--duration", "1s", "--format", format,
						      extra, extra_value, NULL });
	free(p);
	skip_if_refused(r);
	cr_assert_eq(tool_exit_code(r), 0, "stderr: %s", r->err);
}

static void profile_pid(pid_t pid, const char *format, struct tool_result *r)
{
	profile_pid_with(pid, format, NULL, NULL, r);
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
	"max_poll_ns", "max_poll_at_ns", "long_polls", "samples",
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
					   "releases", "events_lost", "target_exited", "sample_rate_hz", "samples", "tasks",
					   "threads", "warnings" };
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
	/* It spins the whole window: at 99 Hz some of its CPU time is sampled, however loaded the
	 * machine. */
	cr_expect_eq(int_of(root, "sample_rate_hz"), 99, "%s", version);
	cr_expect_geq(int_of(first, "samples"), 1, "%s: the spinner has no CPU sample", version);
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

	/* --rate 0: no samples; each task's await chain from the snapshots, by busy time. */
	profile_pid_with(f.pid, "folded", "--rate", "0", &r);
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
	cr_expect_eq(count_substr(r.out, "<g class=\"f\""), count_substr(r.out, "</g>"));
	cr_expect_eq(count_substr(r.out, "<title>"), count_substr(r.out, "</title>"));
	cr_expect_eq(count_substr(r.out, "<text"), count_substr(r.out, "</text>"));
	cr_expect_not_null(strstr(r.out, "<title>profiled::spinner ("), "%s", r.out);
	/* Zoom and search: the frames carry their place, the script is embedded (no network). */
	cr_expect_gt(count_substr(r.out, "<g class=\"f\" data-x=\""), 0);
	cr_expect_eq(count_substr(r.out, "<script type=\"text/ecmascript\"><![CDATA["), 1);
	cr_expect_eq(count_substr(r.out, "]]></script>"), 1);
	cr_expect_not_null(strstr(r.out, "<text id=\"search\""));
	cr_expect_eq(count_substr(r.out, "http"), count_substr(r.out, "http://www.w3.org/2000/svg"),
		     "the SVG links something besides its namespace");
	tool_result_free(&r);
	expect_runs_on_then_exits(&f, "tokio-1.54");
}

/* The samples' lines of the folded output (each "task ..." or "thread ...", frames, a count), and
 * the first whose frames, after its label, begin with `prefix`, or NULL (owned). */
static char *sampled_line(const char *folded, const char *prefix)
{
	regex_t line;
	cr_assert_eq(regcomp(&line, "^(task|thread) [^;]+(;[^;]+)+ [0-9]+$", REG_EXTENDED | REG_NOSUB), 0);
	char *found = NULL;
	for (const char *s = folded, *end; *s; s = end + (*end != '\0')) {
		end = s + strcspn(s, "\n");
		char *l = xstrndup(s, (size_t)(end - s));
		cr_expect_eq(regexec(&line, l, 0, NULL, 0), 0, "not a folded line: '%s'", l);
		const char *frames = strchr(l, ';');
		if (!found && strncmp(l, "task ", 5) == 0 && frames && strncmp(frames + 1, prefix, strlen(prefix)) == 0)
			found = l;
		else
			free(l);
	}
	regfree(&line);
	return found;
}

/* CPU samples (the default 99 Hz): the spinner's samples are its await chain, then the native
 * frame of the function it spins in (never inlined in the fixture), the runtime's frames left
 * out; with --runtime-frames tokio's own poll frames come before the chain. */
Test(profile, cpu_samples_under_the_await_chain)
{
	struct fixture f;
	fixture_start_with_stdin(&f, "tokio-1.54", "profiled", NULL);
	struct tool_result r;
	profile_pid(f.pid, "folded", &r);
	char *l = sampled_line(r.out, "profiled::spinner;profiled::spin");
	cr_expect_not_null(l, "no sample of the spinner in spin(): %s", r.out);
	if (l) {
		const char *chain = ";profiled::spinner;profiled::spin";
		const char *after = strstr(l, chain) + strlen(chain);
		cr_expect(*after == ';' || *after == ' ', "%s", l);
		cr_expect_null(strstr(l, "tokio::"), "a tokio frame in the spinner's stack: %s", l);
	}
	free(l);
	tool_result_free(&r);

	profile_pid_with(f.pid, "folded", "--runtime-frames", NULL, &r);
	l = sampled_line(r.out, "tokio::");
	bool spinner = false;
	for (const char *s = r.out; (s = strstr(s, ";profiled::spinner;profiled::spin")); s++) {
		const char *begin = s;
		while (begin > r.out && begin[-1] != '\n')
			begin--;
		/* its tokio frames before the chain */
		const char *tokio = strstr(begin, ";tokio::");
		spinner |= tokio && tokio < s;
	}
	cr_expect(spinner, "with --runtime-frames, no spinner sample has tokio's frames before its chain: %s", r.out);
	cr_expect_null(strstr(r.out, "[tokio scheduler]"), "%s", r.out);
	free(l);
	tool_result_free(&r);
	expect_runs_on_then_exits(&f, "tokio-1.54");
}

/* --rate takes samples per second, 0 (none) to 10000: anything else is a usage error. */
Test(profile, rate_is_checked)
{
	static const char *const bad[] = { "x", "-5", "20000", "99hz" };
	for (size_t i = 0; i < AI_ARRAY_SIZE(bad); i++) {
		struct tool_result r;
		tool_run(&r, 30, (const char *[]){ "profile", "--rate", bad[i], "--pid", "1", NULL });
		cr_expect_eq(tool_exit_code(&r), 2, "--rate %s: %s", bad[i], r.err);
		cr_expect_not_null(strstr(r.err, "invalid --rate"), "--rate %s: %s", bad[i], r.err);
		tool_result_free(&r);
	}
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
	tool_finish(&tool, PROFILE_GUARD_S, &r);
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
 * stdin is ours: closed once the profile has begun, so that it then ends. */
Test(profile, launched_program)
{
	char *path = fixture_path("tokio-1.54", "profiled");
	char *out = xasprintf("/tmp/ai-profile-%d.json", (int)getpid());
	struct tool_process tool;
	tool_spawn_piped(&tool, (const char *[]){ "profile", "--format", "json", "--output", out, "--", path, NULL });
	bool started = false;
	for (int i = 0; i < 6000 && !started; i++) {
		char buf[4096] = "";
		ssize_t n = pread(tool.err_fd, buf, sizeof(buf) - 1, 0);
		started = n > 0 && strstr(buf, "profiling process");
		if (n > 0 && (strstr(buf, REFUSED) || strstr(buf, "error")))
			break;
		if (!started)
			usleep(10000);
	}
	close(tool.in_fd); /* the program's stdin: EOF, and it ends */
	tool.in_fd = -1;
	struct tool_result r;
	tool_finish(&tool, PROFILE_GUARD_S, &r);
	skip_if_refused(&r);
	cr_assert(started, "the profile never began: %s", r.err);
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

static json_t *load_json(const char *text, const char *what)
{
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr);
	cr_assert_not_null(root, "%s: %s in: %.300s", what, jerr.text, text);
	return root;
}

/* speedscope: the schema's top level; the sampled profile's samples and weights pair up, the
 * spinner's chain first; each thread's evented profile opens and closes frames in order (a close
 * matches the innermost open frame, times never go back), and a worker's has the spinner. */
static void check_speedscope(const char *text)
{
	json_t *root = load_json(text, "speedscope");
	cr_expect_str_eq(str_of(root, "$schema"), "https://www.speedscope.app/file-format-schema.json");
	json_t *frames = json_object_get(json_object_get(root, "shared"), "frames");
	cr_assert(json_is_array(frames) && json_array_size(frames) > 0, "no shared.frames");
	size_t frame_count = json_array_size(frames), spinner = SIZE_MAX;
	for (size_t i = 0; i < frame_count; i++) {
		const char *name = str_of(json_array_get(frames, i), "name");
		cr_assert_not_null(name, "frame %zu has no name", i);
		if (strcmp(name, "profiled::spinner") == 0)
			spinner = i;
	}
	cr_assert_neq(spinner, SIZE_MAX, "no frame is the spinner");
	json_t *profiles = json_object_get(root, "profiles");
	cr_assert(json_is_array(profiles) && json_array_size(profiles) >= 2, "profiles");
	json_t *sampled = json_array_get(profiles, 0);
	cr_expect_str_eq(str_of(sampled, "type"), "sampled");
	cr_expect_str_eq(str_of(sampled, "unit"), "none", "CPU samples are counted, not timed");
	json_t *samples = json_object_get(sampled, "samples"), *weights = json_object_get(sampled, "weights");
	cr_assert(json_is_array(samples) && json_is_array(weights) && json_array_size(samples) > 0);
	cr_expect_eq(json_array_size(samples), json_array_size(weights));
	json_t *first = json_array_get(samples, 0);
	cr_expect(json_array_size(first) >= 2 && (size_t)json_integer_value(json_array_get(first, 1)) == spinner,
		  "the busiest sample is not the spinner's chain");
	bool spinner_polled = false;
	for (size_t p = 1; p < json_array_size(profiles); p++) {
		json_t *prof = json_array_get(profiles, p);
		cr_expect_str_eq(str_of(prof, "type"), "evented");
		json_int_t end = int_of(prof, "endValue"), last = int_of(prof, "startValue");
		json_t *events = json_object_get(prof, "events");
		cr_assert(json_is_array(events));
		size_t stack[64], depth = 0;
		for (size_t e = 0; e < json_array_size(events); e++) {
			json_t *ev = json_array_get(events, e);
			const char *type = str_of(ev, "type");
			json_int_t at = int_of(ev, "at"), frame = int_of(ev, "frame");
			cr_assert(frame >= 0 && (size_t)frame < frame_count);
			cr_assert(at >= last && at <= end, "profile %zu event %zu at %lld: out of order", p, e, (long long)at);
			last = at;
			if (strcmp(type, "O") == 0) {
				cr_assert_lt(depth, AI_ARRAY_SIZE(stack));
				stack[depth++] = (size_t)frame;
				spinner_polled |= (size_t)frame == spinner;
			} else {
				cr_assert_str_eq(type, "C");
				cr_assert(depth && stack[depth - 1] == (size_t)frame, "profile %zu event %zu closes "
					  "frame %lld, not the innermost open one", p, e, (long long)frame);
				depth--;
			}
		}
		cr_expect_eq(depth, 0, "profile %zu leaves frames open", p);
	}
	cr_expect(spinner_polled, "no thread's time line has the spinner's polls");
	json_decref(root);
}

/* perfetto: Chrome trace JSON; each poll a complete event with the documented args; the spinner's
 * polls on a named worker thread's track (not the main thread: the fixture's runtime is
 * multi-threaded); the ticker's wakes end in flows at the begin of one of its polls. */
static void check_perfetto(const char *text, pid_t pid)
{
	json_t *root = load_json(text, "perfetto");
	json_t *events = json_object_get(root, "traceEvents");
	cr_assert(json_is_array(events) && json_array_size(events) > 0, "no traceEvents");
	json_t *other = json_object_get(root, "otherData");
	cr_expect(json_is_integer(json_object_get(other, "polls_dropped")), "no otherData.polls_dropped");
	json_int_t named[64];
	size_t named_count = 0, spinner_polls = 0, flows_ended = 0, poll_count = 0;
	json_int_t *starts = xcalloc(json_array_size(events), sizeof(*starts));
	size_t start_count = 0;
	for (size_t i = 0; i < json_array_size(events); i++) {
		json_t *ev = json_array_get(events, i);
		const char *ph = str_of(ev, "ph");
		cr_assert_not_null(ph, "event %zu has no ph", i);
		cr_expect_eq(int_of(ev, "pid"), pid);
		json_int_t tid = int_of(ev, "tid");
		if (strcmp(ph, "M") == 0) {
			if (strcmp(str_of(ev, "name"), "thread_name") == 0 && named_count < AI_ARRAY_SIZE(named))
				named[named_count++] = tid;
			continue;
		}
		cr_assert(json_is_number(json_object_get(ev, "ts")), "event %zu has no ts", i);
		if (strcmp(ph, "X") == 0) {
			poll_count++;
			cr_expect(json_is_number(json_object_get(ev, "dur")));
			cr_expect_str_eq(str_of(ev, "cat"), "poll");
			json_t *args = json_object_get(ev, "args");
			cr_assert(json_is_object(args));
			cr_expect_not_null(json_object_get(args, "task_id"));
			cr_expect_not_null(json_object_get(args, "name"));
			const char *future = str_of(args, "future");
			bool on_named = false;
			for (size_t n = 0; n < named_count; n++)
				on_named |= named[n] == tid;
			cr_expect(on_named, "a poll on thread %lld, which has no thread_name", (long long)tid);
			if (future && strcmp(future, "profiled::spinner") == 0) {
				spinner_polls++;
				cr_expect_neq(tid, pid, "the spinner was polled on the main thread");
				cr_expect(json_is_integer(json_object_get(args, "task_id")));
			}
		} else if (strcmp(ph, "s") == 0) {
			starts[start_count++] = int_of(ev, "id");
		} else if (strcmp(ph, "f") == 0) {
			json_int_t id = int_of(ev, "id");
			bool started = false;
			for (size_t s = 0; s < start_count; s++)
				started |= starts[s] == id;
			cr_expect(started, "flow %lld ends before it starts", (long long)id);
			cr_expect_str_eq(str_of(ev, "bp"), "e");
			/* It binds to the poll just before it, on the same thread and time. */
			json_t *poll = json_array_get(events, i - 1);
			cr_expect(i > 0 && strcmp(str_of(poll, "ph"), "X") == 0 && int_of(poll, "tid") == tid &&
				  json_number_value(json_object_get(poll, "ts")) == json_number_value(json_object_get(ev, "ts")),
				  "flow %lld does not end at a poll's begin", (long long)id);
			flows_ended++;
		}
	}
	cr_expect_gt(poll_count, 0);
	cr_expect_gt(spinner_polls, 0, "the spinner's polls are not on any track");
	cr_expect_gt(flows_ended, 0, "no wake led to a poll (the ticker is woken every millisecond)");
	free(starts);
	json_decref(root);
}

Test(profile, speedscope_and_perfetto)
{
	struct fixture f;
	fixture_start_with_stdin(&f, "tokio-1.54", "profiled", NULL);
	struct tool_result r;
	profile_pid(f.pid, "speedscope", &r);
	check_speedscope(r.out);
	tool_result_free(&r);
	profile_pid(f.pid, "perfetto", &r);
	check_perfetto(r.out, f.pid);
	tool_result_free(&r);
	expect_runs_on_then_exits(&f, "tokio-1.54");
}

/* async-task (smol's global executor): RawTask::run, wake, wake_by_ref and destroy are probed.
 * The spinner leads with polls on a worker; the ticker, woken every millisecond, is polled; the
 * sleepers are not; and a wake through `wake`, which calls `wake_by_ref` first, counts once: a
 * self-waking task is woken no more than polled (plus the wake in progress at the end). */
Test(profile, smol_tasks_through_async_task)
{
	struct fixture f;
	fixture_start_with_stdin(&f, "smol", "profiled", NULL);
	struct tool_result r;
	profile_pid(f.pid, "json", &r);
	json_t *root = load_json(r.out, "smol");
	cr_expect_str_eq(str_of(root, "runtimes"), "async-task");
	json_t *tasks = json_object_get(root, "tasks");
	cr_assert(json_is_array(tasks) && json_array_size(tasks) >= 5, "tasks: %s", r.out);
	json_t *first = json_array_get(tasks, 0);
	cr_expect_str_eq(str_of(first, "future"), "profiled::spinner", "the busy task is not first: %s", r.out);
	cr_expect_gt(int_of(first, "polls"), 0);
	cr_expect_leq(int_of(first, "wakes"), int_of(first, "polls") + 1, "a wake was counted twice");
	cr_expect_geq(int_of(first, "self_wakes") + 1, int_of(first, "wakes"), "the spinner wakes itself");
	int sleepers = 0, tickers = 0;
	for (size_t t = 0; t < json_array_size(tasks); t++) {
		json_t *task = json_array_get(tasks, t);
		const char *future = str_of(task, "future");
		if (future && strcmp(future, "profiled::sleeper") == 0) {
			sleepers++;
			cr_expect_eq(int_of(task, "polls"), 0, "a sleeper was polled");
		} else if (future && strcmp(future, "profiled::ticker") == 0) {
			tickers++;
			cr_expect_gt(int_of(task, "wakes"), 0, "the ticker was never woken");
			cr_expect_gt(int_of(task, "polls"), 0);
		}
	}
	cr_expect_eq(sleepers, 3);
	cr_expect_eq(tickers, 1);
	json_decref(root);
	tool_result_free(&r);
	expect_runs_on_then_exits(&f, "smol");
}

/* The whitespace-separated field n (0-based) of the screen row whose future is `future`, or
 * NULL: the row is "ID STATE FOR>= POLLS/S BUSY% SCHED AT WAIT... FUTURE". */
static char *row_field(const char *screen, const char *future, int n, char *buf, size_t size)
{
	for (const char *line = screen; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		size_t len = strcspn(line, "\n"), m = strlen(future);
		if (len < m || strncmp(line + len - m, future, m) != 0)
			continue;
		const char *p = line;
		for (int i = 0; i <= n; i++) {
			while (*p == ' ')
				p++;
			size_t w = strcspn(p, " \n");
			if (i == n) {
				snprintf(buf, size, "%.*s", (int)w, p);
				return buf;
			}
			p += w;
		}
	}
	return NULL;
}

/* The row (from 3: the first task) that the first task of the list is on. */
static const char *first_task_row(const char *screen)
{
	const char *line = screen;
	for (int y = 0; y < 3 && line; y++)
		line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL;
	return line ? line : "";
}

/* attach --profile: the task list's polls/s, busy and scheduled-time columns, measured by the
 * probes while the view runs; s sorts by busy; the target runs on untraced afterwards. */
static void check_live_columns(const char *crate)
{
	struct fixture f;
	fixture_start_with_stdin(&f, crate, "profiled", NULL);
	char *pid = xasprintf("%d", (int)f.pid);
	/* two intervals measured, then the sort key five times: id -> ... -> busy */
	setenv("AI_TUI_HEADLESS", "200x20", 1);
	setenv("AI_TUI_KEYS", "\\<Tick>\\<Tick>sssss", 1);
	struct tool_result r;
	tool_run(&r, PROFILE_GUARD_S, (const char *[]){ "attach", "--pid", pid, "--profile", "--interval", "1s", NULL });
	unsetenv("AI_TUI_HEADLESS");
	unsetenv("AI_TUI_KEYS");
	cr_assert_eq(tool_exit_code(&r), 0, "%s: %s", crate, r.err);
	if (strstr(r.out, "no profile columns: ") && strstr(r.out, REFUSED))
		cr_skip("perf uprobe events are not available here: %s", strstr(r.out, "no profile columns: "));
	cr_expect(strstr(r.out, "POLLS/S  BUSY%   SCHED") != NULL, "%s: no profile columns in %s", crate, r.out);
	cr_expect(strstr(r.out, "sort: busy") != NULL, "%s: %s", crate, r.out);
	char polls[32], busy[32];
	cr_assert_not_null(row_field(r.out, "profiled::spinner", 4, busy, sizeof(busy)), "%s: %s", crate, r.out);
	cr_expect_gt(strtod(busy, NULL), 0.0, "%s: the spinner is never busy: %s", crate, r.out);
	const char *first = first_task_row(r.out);
	char *row = xstrndup(first, strcspn(first, "\n"));
	const char *spinner = strstr(row, "profiled::spinner");
	cr_expect(spinner && spinner[strlen("profiled::spinner")] == '\0', "%s: the busiest task is not first: %s",
		  crate, r.out);
	free(row);
	cr_assert_not_null(row_field(r.out, "profiled::ticker", 3, polls, sizeof(polls)), "%s: %s", crate, r.out);
	cr_expect_gt(strtod(polls, NULL), 0.0, "%s: the ticker is never polled: %s", crate, r.out);
	cr_assert_not_null(row_field(r.out, "profiled::sleeper", 3, polls, sizeof(polls)), "%s: %s", crate, r.out);
	cr_expect_str_eq(polls, "0", "%s: a sleeper was polled: %s", crate, r.out);
	tool_result_free(&r);
	free(pid);
	expect_runs_on_then_exits(&f, crate);
}

Test(profile, live_view_columns_tokio)
{
	check_live_columns("tokio-1.54");
}

Test(profile, live_view_columns_smol)
{
	check_live_columns("smol");
}

Test(profile, live_view_columns_need_the_view)
{
	struct fixture f;
	fixture_start_with_stdin(&f, "tokio-1.54", "profiled", NULL);
	char *pid = xasprintf("%d", (int)f.pid);
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "attach", "--pid", pid, "--profile", "--no-tui", NULL });
	cr_expect_eq(tool_exit_code(&r), 2, "%s", r.err);
	cr_expect(strstr(r.err, "--profile adds columns to the interactive view") != NULL, "%s", r.err);
	tool_result_free(&r);
	tool_run(&r, 60, (const char *[]){ "run", "--profile", "--no-tui", "--", "true", NULL });
	cr_expect_eq(tool_exit_code(&r), 2, "%s", r.err);
	cr_expect(strstr(r.err, "--profile adds columns to the interactive view") != NULL, "%s", r.err);
	tool_result_free(&r);
	free(pid);
	expect_runs_on_then_exits(&f, "tokio-1.54");
}

/* Without the right to perf events (here: as user nobody, where uprobe events need CAP_PERFMON
 * whatever perf_event_paranoid says) and perf asked for (--sampler perf; by default it falls back
 * to ptrace sampling: test_profile_ptrace.c), one line says so and how to fix it, exit 1. Needs
 * root (to become nobody) and setpriv(1); skipped otherwise. */
Test(profile, refused_perf_events_say_how_to_fix)
{
	if (geteuid() != 0 || system("setpriv --version >/dev/null 2>&1") != 0)
		cr_skip("needs root and setpriv to run the tool as another user");
	char *fixture = fixture_path("tokio-1.54", "profiled");
	const char *binary = getenv("AI_BINARY") ? getenv("AI_BINARY") : "build/async-inspect";
	char *command = xasprintf("setpriv --reuid=nobody --regid=nogroup --clear-groups %s profile --sampler perf --duration 1s "
				  "-- %s </dev/null 2>&1; echo \"exit=$?\"", binary, fixture);
	FILE *p = popen(command, "r");
	cr_assert_not_null(p);
	char *text = NULL;
	size_t size = 0;
	FILE *mem = open_memstream(&text, &size);
	char buf[4096];
	size_t got;
	while ((got = fread(buf, 1, sizeof(buf), p)) > 0)
		fwrite(buf, 1, got, mem);
	pclose(p);
	fclose(mem);
	cr_expect(strstr(text, "exit=1\n") != NULL, "%s", text);
	cr_expect(strstr(text, "async-inspect: " REFUSED ": ") != NULL, "%s", text);
	cr_expect(strstr(text, "CAP_PERFMON") && strstr(text, "perf_event_paranoid"), "the fix: %s", text);
	cr_expect_eq(count_substr(text, "\n"), 2, "one line, then the exit status: %s", text);
	free(text);
	free(command);
	free(fixture);
}

/* ---- Several processes at once: two copies of the fixture, over one window ---- */

/* `profile --pid A --pid B --duration 1s --format FORMAT [EXTRA VALUE]`, which must succeed. */
static void profile_two(const struct fixture f[2], const char *format, const char *extra, const char *extra_value,
			struct tool_result *r)
{
	char *a = xasprintf("%d", (int)f[0].pid), *b = xasprintf("%d", (int)f[1].pid);
	tool_run(r, PROFILE_GUARD_S, (const char *[]){ "profile", "--pid", a, "--pid", b, "--duration", "1s",
						      "--format", format, extra, extra_value, NULL });
	free(a);
	free(b);
	skip_if_refused(r);
	cr_assert_eq(tool_exit_code(r), 0, "stderr: %s", r->err);
}

static void start_two(struct fixture f[2], const char *crate)
{
	fixture_start_with_stdin(&f[0], crate, "profiled", NULL);
	fixture_start_with_stdin(&f[1], crate, "profiled", NULL);
}

/* The report's section of pid: from its "Profile of process PID " to the next section (owned). */
static char *report_section(const char *report, pid_t pid)
{
	char *head = xasprintf("Profile of process %d ", (int)pid);
	const char *from = strstr(report, head);
	free(head);
	cr_assert_not_null(from, "no section of pid %d: %s", (int)pid, report);
	const char *to = strstr(from + 1, "\nProfile of process ");
	return xstrndup(from, to ? (size_t)(to - from) : strlen(from));
}

/* report: a section per process, its first row the spinner, its total line naming it; json: a
 * `processes` array with each one's document, the spinner first in each; folded (--rate 0):
 * every stack under its process's frame, each process's first the spinner's chain. */
Test(profile, two_processes_report_json_folded)
{
	struct fixture f[2];
	start_two(f, "tokio-1.54");
	struct tool_result r;
	profile_two(f, "report", NULL, NULL, &r);
	for (int i = 0; i < 2; i++) {
		char *section = report_section(r.out, f[i].pid);
		const char *header = strstr(section, "\nTASK ");
		cr_assert_not_null(header, "%s", section);
		const char *row = strchr(header + 1, '\n');
		cr_assert_not_null(row);
		char first[512];
		snprintf(first, sizeof(first), "%.*s", (int)strcspn(row + 1, "\n"), row + 1);
		cr_expect_not_null(strstr(first, "profiled::spinner"), "pid %d's first row: %s", (int)f[i].pid, first);
		char *total = xasprintf("\nTotal of pid %d profiled: ", (int)f[i].pid);
		cr_expect_not_null(strstr(section, total), "no total line for pid %d: %s", (int)f[i].pid, section);
		free(total);
		free(section);
	}
	cr_expect_eq(count_substr(r.out, "\nBUSY: "), 1, "the legend once: %s", r.out);
	tool_result_free(&r);

	profile_two(f, "json", NULL, NULL, &r);
	json_t *root = load_json(r.out, "two processes");
	cr_expect_str_eq(str_of(root, "format"), "async-inspect-profile");
	json_t *processes = json_object_get(root, "processes");
	cr_assert(json_is_array(processes) && json_array_size(processes) == 2, "processes: %s", r.out);
	for (size_t i = 0; i < 2; i++) {
		json_t *doc = json_array_get(processes, i);
		cr_expect_eq(int_of(doc, "pid"), f[i].pid, "the processes in the order given");
		cr_expect_str_eq(str_of(doc, "runtimes"), "tokio");
		cr_expect(json_is_false(json_object_get(doc, "target_exited")));
		json_t *tasks = json_object_get(doc, "tasks");
		cr_assert(json_is_array(tasks) && json_array_size(tasks) >= 5, "pid %d's tasks", (int)f[i].pid);
		json_t *first = json_array_get(tasks, 0);
		cr_expect_str_eq(str_of(first, "future"), "profiled::spinner", "pid %d: the busy task is not first",
				 (int)f[i].pid);
		cr_expect_gt(int_of(first, "polls"), 0);
		/* One task can be busy no more than its whole window (no poll left open by a lost exit). */
		cr_expect_leq(int_of(first, "busy_ns"), int_of(doc, "duration_ns"), "pid %d: busy beyond the window",
			      (int)f[i].pid);
	}
	json_decref(root);
	tool_result_free(&r);

	profile_two(f, "folded", "--rate", "0", &r);
	regex_t line;
	cr_assert_eq(regcomp(&line, "^pid [0-9]+ [^;]+;task [^;]+(;[^;]+)+ [0-9]+$", REG_EXTENDED | REG_NOSUB), 0);
	bool seen[2] = { false, false }, spinner_first[2] = { false, false };
	for (char *s = r.out, *end; *s; s = end + (*end != '\0')) {
		end = s + strcspn(s, "\n");
		char *l = xstrndup(s, (size_t)(end - s));
		cr_expect_eq(regexec(&line, l, 0, NULL, 0), 0, "not a folded line: '%s'", l);
		for (int i = 0; i < 2; i++) {
			char *root_frame = xasprintf("pid %d profiled;", (int)f[i].pid);
			if (strncmp(l, root_frame, strlen(root_frame)) == 0 && !seen[i]) {
				seen[i] = true;
				spinner_first[i] = strstr(l, ";profiled::spinner;tokio::task::yield_now") != NULL;
			}
			free(root_frame);
		}
		free(l);
	}
	regfree(&line);
	for (int i = 0; i < 2; i++)
		cr_expect(seen[i] && spinner_first[i], "pid %d: its first stack is not the spinner's: %s", (int)f[i].pid,
			  r.out);
	tool_result_free(&r);
	expect_runs_on_then_exits(&f[0], "the first of two");
	expect_runs_on_then_exits(&f[1], "the second of two");
}

/* svg, speedscope and perfetto name both: the SVG's title and root frames, speedscope's thread
 * time lines ("pid N profiled: thread T"), a perfetto process track per pid with its threads and
 * the spinner's polls under it. */
Test(profile, two_processes_svg_speedscope_perfetto)
{
	struct fixture f[2];
	start_two(f, "tokio-1.54");
	struct tool_result r;
	profile_two(f, "svg", "--rate", "0", &r);
	char *title = xasprintf("processes pid %d profiled, pid %d profiled", (int)f[0].pid, (int)f[1].pid);
	cr_expect_not_null(strstr(r.out, title), "%s", r.out);
	free(title);
	for (int i = 0; i < 2; i++) {
		char *frame = xasprintf("<title>pid %d profiled (", (int)f[i].pid);
		cr_expect_not_null(strstr(r.out, frame), "no frame of pid %d", (int)f[i].pid);
		free(frame);
	}
	cr_expect_eq(count_substr(r.out, "<g class=\"f\""), count_substr(r.out, "</g>"));
	tool_result_free(&r);

	profile_two(f, "speedscope", "--rate", "0", &r);
	json_t *root = load_json(r.out, "speedscope of two");
	json_t *profiles = json_object_get(root, "profiles");
	cr_assert(json_is_array(profiles));
	for (int i = 0; i < 2; i++) {
		char *prefix = xasprintf("pid %d profiled: thread ", (int)f[i].pid);
		bool found = false;
		for (size_t p = 0; p < json_array_size(profiles); p++) {
			const char *name = str_of(json_array_get(profiles, p), "name");
			found |= name && strncmp(name, prefix, strlen(prefix)) == 0;
		}
		cr_expect(found, "no time line of pid %d: %s", (int)f[i].pid, r.out);
		free(prefix);
	}
	json_decref(root);
	tool_result_free(&r);

	profile_two(f, "perfetto", "--rate", "0", &r);
	root = load_json(r.out, "perfetto of two");
	json_t *events = json_object_get(root, "traceEvents");
	cr_assert(json_is_array(events));
	for (int i = 0; i < 2; i++) {
		size_t process_names = 0, thread_names = 0, spinner_polls = 0;
		for (size_t e = 0; e < json_array_size(events); e++) {
			json_t *ev = json_array_get(events, e);
			if (int_of(ev, "pid") != f[i].pid)
				continue;
			const char *ph = str_of(ev, "ph"), *name = str_of(ev, "name");
			if (strcmp(ph, "M") == 0) {
				process_names += strcmp(name, "process_name") == 0;
				thread_names += strcmp(name, "thread_name") == 0;
			} else if (strcmp(ph, "X") == 0) {
				const char *future = str_of(json_object_get(ev, "args"), "future");
				spinner_polls += future && strcmp(future, "profiled::spinner") == 0;
			}
		}
		cr_expect_eq(process_names, 1, "pid %d: not one process track", (int)f[i].pid);
		cr_expect_gt(thread_names, 0, "pid %d: no thread under its track", (int)f[i].pid);
		cr_expect_gt(spinner_polls, 0, "pid %d: the spinner's polls are not on its tracks", (int)f[i].pid);
	}
	json_decref(root);
	tool_result_free(&r);
	expect_runs_on_then_exits(&f[0], "the first of two");
	expect_runs_on_then_exits(&f[1], "the second of two");
}

/* A pid that does not exist among several: one line names it, the others are profiled, exit 1;
 * when none can be profiled, exit 1 and no profile. */
Test(profile, two_processes_one_missing)
{
	struct fixture f;
	fixture_start_with_stdin(&f, "tokio-1.54", "profiled", NULL);
	char *p = xasprintf("%d", (int)f.pid);
	struct tool_result r;
	tool_run(&r, PROFILE_GUARD_S, (const char *[]){ "profile", "--pid", "4000000", "--pid", p, "--duration", "1s",
						       "--format", "json", "--rate", "0", NULL });
	skip_if_refused(&r);
	cr_expect_eq(tool_exit_code(&r), 1, "stderr: %s", r.err);
	cr_expect_not_null(strstr(r.err, "process 4000000: no process with PID 4000000\n"), "%s", r.err);
	cr_expect_eq(count_substr(r.err, "4000000"), 2, "one line names it: %s", r.err);
	/* Still the document of several processes, with the one left. */
	json_t *root = load_json(r.out, "the one left");
	json_t *processes = json_object_get(root, "processes");
	cr_assert(json_is_array(processes) && json_array_size(processes) == 1, "%s", r.out);
	json_t *doc = json_array_get(processes, 0);
	cr_expect_eq(int_of(doc, "pid"), f.pid);
	json_t *first = json_array_get(json_object_get(doc, "tasks"), 0);
	cr_expect_str_eq(str_of(first, "future"), "profiled::spinner");
	json_decref(root);
	tool_result_free(&r);

	tool_run(&r, PROFILE_GUARD_S, (const char *[]){ "profile", "--pids", "4000000,4000001", "--duration", "1s",
						       NULL });
	cr_expect_eq(tool_exit_code(&r), 1, "stderr: %s", r.err);
	cr_expect_str_eq(r.out, "", "a profile of nothing");
	cr_expect_not_null(strstr(r.err, "process 4000000: no process with PID 4000000"), "%s", r.err);
	cr_expect_not_null(strstr(r.err, "process 4000001: no process with PID 4000001"), "%s", r.err);
	tool_result_free(&r);
	free(p);
	expect_runs_on_then_exits(&f, "the one that exists");
}

/* Whether the tool's stderr says `text` `count` times, within about a minute (a profile begins
 * after its snapshots and probes; an exit is seen within a read of the rings). */
static bool stderr_says(const struct tool_process *tool, const char *text, int count)
{
	for (int i = 0; i < 6000; i++) {
		char buf[8192] = "";
		ssize_t n = pread(tool->err_fd, buf, sizeof(buf) - 1, 0);
		if (n > 0 && count_substr(buf, text) >= count)
			return true;
		if (n > 0 && (strstr(buf, REFUSED) || strstr(buf, "error")))
			return false;
		usleep(10000);
	}
	return false;
}

/* One of two exits during the window: its part ends there (stderr says so, target_exited), the
 * other is measured on until Ctrl-C, and the exit status is 0. */
Test(profile, two_processes_one_exits_during_the_window)
{
	struct fixture f[2];
	start_two(f, "tokio-1.54");
	pid_t first = f[0].pid; /* (fixture_wait forgets it) */
	char *a = xasprintf("%d", (int)f[0].pid), *b = xasprintf("%d", (int)f[1].pid);
	struct tool_process tool;
	tool_spawn(&tool, (const char *[]){ "profile", "--pid", a, "--pid", b, "--duration", "10m", "--format", "json",
					   "--rate", "0", NULL });
	bool started = stderr_says(&tool, "profiling process", 2);
	bool ended = false;
	if (started) {
		cr_assert_eq(write(f[0].in_fd, "quit\n", 5), 5);
		char line[128] = "";
		cr_expect_not_null(fgets(line, sizeof(line), f[0].out));
		fixture_wait(&f[0]); /* (reaped: a zombie would still be there to kill(pid, 0)) */
		char *said = xasprintf("process %d exited during the profile", (int)first);
		ended = stderr_says(&tool, said, 1);
		free(said);
		kill(tool.pid, SIGINT);
	}
	struct tool_result r;
	tool_finish(&tool, PROFILE_GUARD_S, &r);
	skip_if_refused(&r);
	cr_assert(started, "the profile never began: %s", r.err);
	cr_expect(ended, "its exit was not said: %s", r.err);
	cr_assert_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	json_t *root = load_json(r.out, "one exited");
	json_t *processes = json_object_get(root, "processes");
	cr_assert(json_is_array(processes) && json_array_size(processes) == 2, "%s", r.out);
	json_t *gone = json_array_get(processes, 0), *left = json_array_get(processes, 1);
	cr_expect_eq(int_of(gone, "pid"), first);
	cr_expect(json_is_true(json_object_get(gone, "target_exited")), "%s", r.out);
	cr_expect_eq(int_of(left, "pid"), f[1].pid);
	cr_expect(json_is_false(json_object_get(left, "target_exited")), "%s", r.out);
	cr_expect_str_eq(str_of(json_array_get(json_object_get(left, "tasks"), 0), "future"), "profiled::spinner");
	json_decref(root);
	tool_result_free(&r);
	free(a);
	free(b);
	fixture_kill(&f[0]);
	expect_runs_on_then_exits(&f[1], "the one left");
}
