/* `async-inspect threads`: every thread's native stack from a live process or a core file, and the
 * process left exactly as it was. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"

TestSuite(threads, .init = require_fixtures, .timeout = 120);

static char *pid_arg(pid_t pid)
{
	return xasprintf("%d", (int)pid);
}

/* The block of text output for the thread named `name` (up to the next blank line). */
static char *thread_block(const char *out, const char *name)
{
	char *header = xasprintf("\"%s\"", name);
	const char *start = strstr(out, header);
	free(header);
	if (!start)
		return xstrdup("");
	const char *end = strstr(start, "\n\n");
	return xstrndup(start, end ? (size_t)(end - start) : strlen(start));
}

Test(threads, every_named_thread_with_rust_frames_and_lines)
{
	struct fixture f;
	fixture_start(&f, "plain", "many_threads", NULL);
	char *pid = pid_arg(f.pid);
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "threads", "--pid", pid, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	/* 16 workers, the main thread and the ready gate. */
	cr_expect_eq(count_substr(r.out, "Thread "), 18, "%s", r.out);
	static const char *kinds[] = { "park", "condvar", "sleep", "recv" };
	for (int i = 0; i < 16; i++) {
		char name[32], frame[64], loc[64];
		snprintf(name, sizeof(name), "worker-%d", i);
		char *block = thread_block(r.out, name);
		snprintf(frame, sizeof(frame), "many_threads::w%02d::middle", i);
		cr_expect(strstr(block, frame), "thread %s has frame %s:\n%s", name, frame, block);
		char *marker = xasprintf("@block: %s", kinds[i % 4]);
		snprintf(loc, sizeof(loc), "many_threads.rs:%d\n", marker_line("plain/src/bin/many_threads.rs", marker));
		cr_expect(strstr(block, loc), "thread %s is at %s:\n%s", name, loc, block);
		free(marker);
		free(block);
	}
	char *main_block = thread_block(r.out, "many_threads");
	char loc[64];
	snprintf(loc, sizeof(loc), "many_threads.rs:%d\n", marker_line("plain/src/bin/many_threads.rs", "@block: main-join"));
	cr_expect(strstr(main_block, "many_threads::main"), "%s", main_block);
	cr_expect(strstr(main_block, loc), "main thread at %s: %s", loc, main_block);
	free(main_block);
	cr_expect(strstr(r.out, "18 threads, process"), "summary: %s", r.out);
	/* Detached and running as before: sleeping, not stopped, not traced. */
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	cr_expect_eq(tracer_pid(f.pid), 0);
	tool_result_free(&r);
	free(pid);
	fixture_kill(&f);
}

Test(threads, json_has_the_same_threads)
{
	struct fixture f;
	fixture_start(&f, "plain", "many_threads", NULL);
	char *pid = pid_arg(f.pid);
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "threads", "--pid", pid, "--format", "json", NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	json_error_t error;
	json_t *root = json_loads(r.out, 0, &error);
	cr_assert(root, "invalid JSON: %s", error.text);
	cr_expect_str_eq(json_string_value(json_object_get(root, "format")), "async-inspect-threads");
	cr_expect_eq(json_integer_value(json_object_get(root, "pid")), f.pid);
	json_t *threads = json_object_get(root, "threads");
	cr_assert_eq(json_array_size(threads), 18);
	int workers = 0;
	size_t i;
	json_t *t;
	json_array_foreach(threads, i, t) {
		const char *name = json_string_value(json_object_get(t, "name"));
		if (name && strncmp(name, "worker-", 7) == 0) {
			workers++;
			json_t *frames = json_object_get(t, "frames");
			cr_expect_gt(json_array_size(frames), 3);
			bool found = false;
			size_t j;
			json_t *fr;
			json_array_foreach(frames, j, fr) {
				const char *fn = json_string_value(json_object_get(fr, "function"));
				const char *file = json_string_value(json_object_get(fr, "file"));
				if (fn && strstr(fn, "::inner") && file && strstr(file, "many_threads.rs") &&
				    json_integer_value(json_object_get(fr, "line")) > 0)
					found = true;
			}
			cr_expect(found, "worker %s has its inner frame with file and line", name);
		}
	}
	cr_expect_eq(workers, 16);
	cr_expect_geq(json_integer_value(json_object_get(root, "pause_us")), 1);
	json_decref(root);
	tool_result_free(&r);
	free(pid);
	fixture_kill(&f);
}

/* Each tokio version: block_on of the main future, and the worker threads in the runtime. */
Test(threads, tokio_programs_across_versions)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "nested", NULL);
		char *pid = pid_arg(f.pid);
		struct tool_result r;
		tool_run(&r, 60, (const char *[]){ "threads", "--pid", pid, NULL });
		cr_expect_eq(tool_exit_code(&r), 0, "%s: %s", *v, r.err);
		cr_expect(strstr(r.out, "block_on<nested::main::{async_block_env#0}>"),
			  "%s: block_on frame with its future type:\n%s", *v, r.out);
		cr_expect(strstr(r.out, "\"tokio-runtime-w") || strstr(r.out, "\"tokio-rt-worker"), "%s: worker threads named", *v);
		cr_expect(strstr(r.out, "tokio::runtime::"), "%s", *v);
		cr_expect(strstr(r.out, "nested.rs:"), "%s: main's frame has its source line", *v);
		cr_expect_eq(process_settles_in(f.pid, 'S'), 'S', "%s: left running", *v);
		tool_result_free(&r);
		free(pid);
		fixture_kill(&f);
	}
}

Test(threads, errors_are_one_clear_line)
{
	struct {
		const char *args[8];
		const char *message;
		int code;
	} cases[] = {
		{ { "threads", "--pid", "12abc", NULL }, "invalid PID '12abc'", 1 },
		{ { "threads", "--pid", "4000000", NULL }, "no process with PID 4000000", 1 },
		{ { "threads", NULL }, "no target", 1 },
		{ { "threads", "--core", "/nonexistent/core", "--exe", "/bin/true", NULL },
		  "cannot open /nonexistent/core: No such file or directory", 1 },
		{ { "threads", "--core", "/etc/passwd", "--exe", "/bin/true", NULL }, "/etc/passwd is not an ELF file", 1 },
		{ { "threads", "--core", "/bin/true", "--exe", "/bin/true", NULL }, "/bin/true is not a core file", 1 },
		{ { "threads", "--core", "x", NULL }, "--core needs --exe", 1 },
		{ { "threads", "--format", "xml", NULL }, "invalid format 'xml'", 1 },
		{ { "threads", "--bogus", NULL }, "unknown or incomplete option '--bogus'", 2 },
		{ { "frobnicate", NULL }, "unknown command 'frobnicate'", 2 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tool_result r;
		tool_run(&r, 30, cases[i].args);
		cr_expect_eq(tool_exit_code(&r), cases[i].code, "%s: exit %d, stderr %s", cases[i].message,
			     tool_exit_code(&r), r.err);
		cr_expect(strstr(r.err, cases[i].message), "expected '%s' in: %s", cases[i].message, r.err);
		cr_expect_eq(count_substr(r.err, "\n"), 1, "one line: %s", r.err);
		cr_expect_str_empty(r.out);
		tool_result_free(&r);
	}
}

static void expect_refused(const char *crate, const char *bin, const char *message)
{
	struct fixture f;
	fixture_start(&f, crate, bin, NULL);
	char *pid = pid_arg(f.pid);
	struct tool_result r;
	tool_run(&r, 30, (const char *[]){ "threads", "--pid", pid, NULL });
	cr_expect_eq(tool_exit_code(&r), 1, "stderr: %s", r.err);
	cr_expect(strstr(r.err, message), "expected '%s' in: %s", message, r.err);
	cr_expect_eq(count_substr(r.err, "\n"), 1, "one line: %s", r.err);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S', "left running");
	cr_expect_eq(tracer_pid(f.pid), 0, "detached");
	tool_result_free(&r);
	free(pid);
	fixture_kill(&f);
}

Test(threads, binary_without_debuginfo_says_how_to_fix)
{
	expect_refused("nodebug", "nodebug", "build it with `debug = true`");
}

Test(threads, c_program_is_not_rust)
{
	expect_refused("c", "hello", "is not a Rust program");
}

Test(threads, already_traced_process_names_the_tracer)
{
	struct fixture f;
	fixture_start(&f, "plain", "many_threads", NULL);
	cr_assert(ptrace(PTRACE_SEIZE, f.pid, 0, 0) == 0);
	char *pid = pid_arg(f.pid);
	struct tool_result r;
	tool_run(&r, 30, (const char *[]){ "threads", "--pid", pid, NULL });
	cr_expect_eq(tool_exit_code(&r), 1);
	char *expected = xasprintf("already traced by process %d", (int)getpid());
	cr_expect(strstr(r.err, expected), "expected '%s' in: %s", expected, r.err);
	free(expected);
	ptrace(PTRACE_DETACH, f.pid, 0, 0);
	tool_result_free(&r);
	free(pid);
	fixture_kill(&f);
}

/* gcore a fixture, then read the same threads and frames from the core. */
Test(threads, core_file_gives_the_same_stacks)
{
	struct fixture f;
	fixture_start(&f, "plain", "many_threads", NULL);
	char *pid = pid_arg(f.pid);
	char dir[] = "/tmp/ai-core-XXXXXX";
	cr_assert(mkdtemp(dir));
	char *prefix = xasprintf("%s/core", dir), *core = xasprintf("%s/core.%d", dir, (int)f.pid);
	char *cmd = xasprintf("gcore -o %s %d >/dev/null 2>&1", prefix, (int)f.pid);
	cr_assert_eq(system(cmd), 0, "gcore failed");
	struct tool_result live, dead;
	tool_run(&live, 60, (const char *[]){ "threads", "--pid", pid, NULL });
	tool_run(&dead, 60, (const char *[]){ "threads", "--core", core, "--exe", f.path, NULL });
	cr_assert_eq(tool_exit_code(&dead), 0, "stderr: %s", dead.err);
	cr_expect_eq(count_substr(dead.out, "Thread "), 18, "%s", dead.out);
	for (int i = 0; i < 16; i++) {
		char frame[64];
		snprintf(frame, sizeof(frame), "many_threads::w%02d::outer", i);
		cr_expect(strstr(dead.out, frame), "core has %s:\n%s", frame, dead.out);
	}
	cr_expect(strstr(dead.out, "from core file"), "%s", dead.out);

	/* The wrong executable is refused. */
	char *other = fixture_path("plain", "exit_with");
	struct tool_result wrong;
	tool_run(&wrong, 60, (const char *[]){ "threads", "--core", core, "--exe", other, NULL });
	cr_expect_eq(tool_exit_code(&wrong), 1);
	cr_expect(strstr(wrong.err, "does not match executable"), "stderr: %s", wrong.err);
	tool_result_free(&wrong);
	free(other);

	tool_result_free(&live);
	tool_result_free(&dead);
	char *rm = xasprintf("rm -rf %s", dir);
	cr_expect_eq(system(rm), 0);
	free(rm);
	free(cmd);
	free(core);
	free(prefix);
	free(pid);
	fixture_kill(&f);
}
