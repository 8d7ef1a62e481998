/* `async-inspect test` on tests/fixtures/hangtests (tokio, smol and async-std tests), and
 * `run --timeout --fail-on-hang`. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"

TestSuite(cmd_test, .init = require_fixtures, .timeout = 600);

/* The part of out from the line starting with `header` to the next "==== " line (owned), or NULL. */
static char *section(const char *from, const char *header)
{
	const char *start = strstr(from, header);
	if (!start)
		return NULL;
	const char *end = strstr(start + 1, "\n==== ");
	return end ? xstrndup(start, (size_t)(end - start)) : xstrdup(start);
}

/* A test hung in a block_on of smol or async-std: its block_on future (once) with the user's
 * await lines and a join of the task it awaits, and that task in the binary's task list, waiting
 * where the user's code waits. */
static void expect_join_hang(const char *out, const char *test, const char *file, const char *join_marker,
			     const char *recv_marker, const char *waiter_fn, const char *task_fn, const char *runtime)
{
	char *header = xasprintf("==== HUNG: %s", test);
	char *hung = section(out, header);
	cr_assert(hung, "%s in: %s", header, out);
	char *relpath = xasprintf("hangtests/tests/%s", file);
	char *join_at = xasprintf("%s:%d", file, marker_line(relpath, join_marker));
	cr_expect(strstr(hung, join_at) != NULL, "%s under %s: %s", join_at, test, hung);
	cr_expect(strstr(hung, waiter_fn) != NULL, "%s under %s: %s", waiter_fn, test, hung);
	cr_expect_eq(count_substr(hung, "\nblock_on "), 1, "one block_on future: %s", hung);

	/* The join names the task; the task list shows it, parked on the user's recv. */
	const char *join = strstr(hung, "[join Task ");
	cr_assert(join, "a join wait: %s", hung);
	size_t id_len = strcspn(join + 11, " ");
	char *task_line = xasprintf("Task %.*s  %s  idle  (%s)", (int)id_len, join + 11, task_fn, runtime);
	char *tasks = section(strstr(out, header), "==== Tasks of ");
	cr_assert(tasks, "the tasks after %s: %s", header, out);
	cr_expect(strstr(tasks, task_line) != NULL, "%s in: %s", task_line, tasks);
	char *recv_at = xasprintf("%s:%d", file, marker_line(relpath, recv_marker));
	cr_expect(strstr(tasks, recv_at) != NULL, "%s in: %s", recv_at, tasks);
	cr_expect(strstr(tasks, "channel recv @ 0x") != NULL, "%s", tasks);
	free(recv_at);
	free(tasks);
	free(task_line);
	free(join_at);
	free(relpath);
	free(hung);
	free(header);
}

/* One run of the whole fixture crate, shared by the assertions below. */
Test(cmd_test, reports_hangs_failures_and_passes)
{
	const char *fixtures = getenv("AI_FIXTURES"), *source = getenv("AI_SOURCE");
	cr_assert(fixtures && source, "AI_FIXTURES and AI_SOURCE must be set");
	char *target_dir = xasprintf("%s/hangtests", fixtures);
	char *manifest = xasprintf("%s/tests/fixtures/hangtests/Cargo.toml", source);
	char trace[] = "/tmp/ai-test-trace-XXXXXX";
	int fd = mkstemp(trace);
	cr_assert(fd >= 0);
	close(fd);
	setenv("CARGO_TARGET_DIR", target_dir, 1);
	struct tool_result r;
	tool_run(&r, 500, (const char *[]){ "test", "--timeout", "3s", "--trace-out", trace, "--", "--manifest-path",
					    manifest, "--locked", "--offline", NULL });
	cr_expect_eq(tool_exit_code(&r), 124, "a hang gives 124; stderr: %s", r.err);

	/* The tests' own lines, forwarded unchanged. */
	cr_expect(strstr(r.out, "test passing_one ... ok\n") != NULL, "stdout: %s", r.out);
	cr_expect(strstr(r.out, "test passing_two ... ok\n") != NULL);
	cr_expect(strstr(r.out, "test failing_assert ... FAILED\n") != NULL);

	/* The nested await line, under its test. */
	const char *nested = strstr(r.out, "==== HUNG: hang_nested_await");
	cr_assert(nested, "stdout: %s", r.out);
	char *where = xasprintf("hangtests/tests/hangs.rs:%d", marker_line("hangtests/tests/hangs.rs", "@await: hang-nested"));
	const char *at = strstr(nested, where);
	const char *next = strstr(nested + 1, "==== ");
	cr_expect(at && (!next || at < next), "%s under hang_nested_await: %s", where, nested);
	cr_expect(strstr(nested, "hangs::wait_forever") != NULL);
	cr_expect(strstr(nested, "hangs::nested_outer") != NULL);

	/* The deadlock. */
	const char *dl = strstr(r.out, "==== HUNG: deadlock_two_tasks");
	cr_assert(dl, "stdout: %s", r.out);
	cr_expect(strstr(dl, "DEADLOCK: 2 tasks wait on each other") != NULL, "stdout: %s", dl);
	char *a2 = xasprintf("hangs.rs:%d", marker_line("hangtests/tests/hangs.rs", "@await: hang-abba-a2"));
	cr_expect(strstr(dl, a2) != NULL, "%s in: %s", a2, dl);

	/* The sync test: its native stack. */
	const char *sleep = strstr(r.out, "==== HUNG: sync_sleep_forever");
	cr_assert(sleep, "stdout: %s", r.out);
	char *sl = xasprintf("hangs.rs:%d", marker_line("hangtests/tests/hangs.rs", "@block: hang-sleep"));
	cr_expect(strstr(sleep, "std::thread") != NULL && strstr(sleep, sl) != NULL, "%s in: %s", sl, sleep);

	/* A test in smol::block_on, and an #[async_std::test]: each in a test binary of its own. */
	expect_join_hang(r.out, "smol_block_on_hang", "smol_hang.rs", "@await: hang-smol-join", "@await: hang-smol-recv",
			 "smol_hang::smol_wait_for", "smol_hang::smol_receive", "async-executor");
	expect_join_hang(r.out, "async_std_test_hang", "async_std_hang.rs", "@await: hang-astd-join",
			 "@await: hang-astd-recv", "async_std_hang::astd_wait_for", "async_std_hang::astd_receive",
			 "async-std");

	cr_expect(strstr(r.out, "async-inspect test: 2 passed, 1 failed, 5 hung") != NULL, "stdout: %s", r.out);

	/* --trace-out: one JSON snapshot per hang report, one per line (hangs.rs: 2, smol_hang.rs and
	 * async_std_hang.rs: 1 each). */
	char *json = ai_read_small_file(trace, NULL);
	cr_assert(json);
	cr_expect_eq(count_substr(json, "\n"), 4, "%s", json);
	cr_expect_eq(count_substr(json, "\"format\":\"async-inspect-snapshot\""), 4);
	cr_expect(strstr(json, "\"hung_tests\":[\"smol_block_on_hang\"]") != NULL);
	cr_expect(strstr(json, "\"hung_tests\":[\"async_std_test_hang\"]") != NULL);
	cr_expect(strstr(json, "\"hung_tests\":[\"hang_nested_await\"") || strstr(json, "\"sync_sleep_forever\""));
	free(json);
	unlink(trace);
	free(sl);
	free(a2);
	free(where);
	tool_result_free(&r);
	free(manifest);
	free(target_dir);
}

Test(cmd_test, run_timeout_fail_on_hang)
{
	char *exit_with = fixture_path("plain", "exit_with");
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "run", "--timeout", "1s", "--fail-on-hang", "--", exit_with, "wait-signal", NULL });
	cr_expect_eq(tool_exit_code(&r), 124, "stderr: %s", r.err);
	cr_expect(strstr(r.err, "has not finished after 1s") != NULL, "stderr: %s", r.err);
	cr_expect(strstr(r.err, "Thread ") != NULL, "a dump on stderr: %s", r.err);
	tool_result_free(&r);

	tool_run(&r, 60, (const char *[]){ "run", "--fail-on-hang", "--", exit_with, "0", NULL });
	cr_expect_eq(tool_exit_code(&r), 2, "--fail-on-hang needs --timeout");
	tool_result_free(&r);
	free(exit_with);
}
