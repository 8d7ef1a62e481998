/* `async-inspect test` on tests/fixtures/hangtests, and `run --timeout --fail-on-hang`. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"

TestSuite(cmd_test, .init = require_fixtures, .timeout = 600);

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

	cr_expect(strstr(r.out, "async-inspect test: 2 passed, 1 failed, 3 hung") != NULL, "stdout: %s", r.out);

	/* --trace-out: one JSON snapshot per hang, one per line. */
	char *json = ai_read_small_file(trace, NULL);
	cr_assert(json);
	cr_expect_eq(count_substr(json, "\n"), 2, "%s", json);
	cr_expect_eq(count_substr(json, "\"format\":\"async-inspect-snapshot\""), 2);
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
