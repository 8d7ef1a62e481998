/* `async-inspect run`: the program keeps its stdio, signals and exit status. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"

static char *exit_with;

static void setup(void)
{
	require_fixtures();
	exit_with = fixture_path("plain", "exit_with");
}

static void teardown(void)
{
	free(exit_with);
}

TestSuite(run, .init = setup, .fini = teardown, .timeout = 60);

Test(run, exit_status_becomes_ours)
{
	struct tool_result r;
	tool_run(&r, 30, (const char *[]){ "run", "--", exit_with, "7", NULL });
	cr_expect_eq(tool_exit_code(&r), 7, "stderr: %s", r.err);
	cr_expect(strncmp(r.out, "ready ", 6) == 0, "the program's stdout is ours: '%s'", r.out);
	tool_result_free(&r);

	tool_run(&r, 30, (const char *[]){ "run", exit_with, "0", NULL });
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	tool_result_free(&r);
}

Test(run, death_by_signal_becomes_ours)
{
	struct tool_result r;
	tool_run(&r, 30, (const char *[]){ "run", "--", exit_with, "15", "signal", NULL });
	cr_assert(WIFSIGNALED(r.status), "status %d, stderr: %s", r.status, r.err);
	cr_expect_eq(WTERMSIG(r.status), SIGTERM);
	tool_result_free(&r);
}

Test(run, stdin_and_stdout_stay_the_programs)
{
	struct tool_result r;
	tool_run_input(&r, 30, "one\ntwo words\nthree\n", (const char *[]){ "run", "--", exit_with, "echo", NULL });
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	cr_expect(strstr(r.out, "one\ntwo words\nthree\n") != NULL, "stdout: '%s'", r.out);
	cr_expect_str_empty(r.err, "nothing of ours on stderr: '%s'", r.err);
	tool_result_free(&r);
}

/* A signal sent to the program reaches it through the signal-delivery-stop, and one sent to us is
 * forwarded to it. */
static void signal_reaches_program(bool send_to_tool)
{
	struct tool_process p;
	tool_spawn(&p, (const char *[]){ "run", "--", exit_with, "wait-signal", NULL });
	char line[128];
	cr_assert(fgets(line, sizeof(line), p.out), "no ready line");
	int pid;
	cr_assert(sscanf(line, "ready %d", &pid) == 1, "got '%s'", line);
	kill(send_to_tool ? p.pid : pid, SIGUSR1);
	struct tool_result r;
	tool_finish(&p, 30, &r);
	cr_expect_eq(tool_exit_code(&r), 42, "stderr: %s", r.err);
	cr_expect(strstr(r.out, "got SIGUSR1") != NULL, "stdout: '%s'", r.out);
	tool_result_free(&r);
}

Test(run, signal_to_program_is_delivered)
{
	signal_reaches_program(false);
}

Test(run, signal_to_us_is_forwarded)
{
	signal_reaches_program(true);
}

Test(run, missing_program_is_a_clear_error)
{
	struct tool_result r;
	tool_run(&r, 30, (const char *[]){ "run", "--", "/nonexistent/program", NULL });
	cr_expect_eq(tool_exit_code(&r), 1);
	cr_expect(strstr(r.err, "cannot run /nonexistent/program: No such file or directory") != NULL,
		  "stderr: %s", r.err);
	cr_expect_eq(count_substr(r.err, "\n"), 1, "one line: %s", r.err);
	tool_result_free(&r);
}

Test(run, usage_errors)
{
	struct tool_result r;
	tool_run(&r, 30, (const char *[]){ "run", NULL });
	cr_expect_eq(tool_exit_code(&r), 2);
	cr_expect(strstr(r.err, "no program to run") != NULL, "stderr: %s", r.err);
	tool_result_free(&r);

	tool_run(&r, 30, (const char *[]){ "run", "--dump-after", "soon", "--", exit_with, "0", NULL });
	cr_expect_eq(tool_exit_code(&r), 1);
	cr_expect(strstr(r.err, "invalid duration 'soon'") != NULL, "stderr: %s", r.err);
	tool_result_free(&r);
}

/* --dump-after prints the dump and threads views to stderr, then lets the program go on. */
Test(run, dump_after_prints_threads_and_program_goes_on)
{
	char *nested = fixture_path("tokio-1.24", "nested");
	struct tool_process p;
	tool_spawn(&p, (const char *[]){ "run", "--dump-after", "1500ms", "--", nested, NULL });
	char line[128];
	cr_assert(fgets(line, sizeof(line), p.out), "no ready line");
	int pid;
	cr_assert(sscanf(line, "ready %d", &pid) == 1, "got '%s'", line);
	/* The dump comes after 1.5 s; wait for the summary line on stderr, then end the program. */
	char err[65536];
	ssize_t n = 0;
	for (int i = 0; i < 3000 && !strstr(err, "paused for"); i++) {
		n = pread(p.err_fd, err, sizeof(err) - 1, 0);
		err[n > 0 ? n : 0] = '\0';
		usleep(10000);
	}
	cr_assert(strstr(err, "paused for"), "no dump on stderr: %s", err);
	cr_expect(process_settles_in(pid, 'S') == 'S', "the program runs on after the dump");
	kill(pid, SIGTERM);
	struct tool_result r;
	tool_finish(&p, 30, &r);
	cr_expect(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGTERM, "status %d", r.status);
	cr_expect(strstr(r.err, "Thread ") != NULL);
	cr_expect(strstr(r.err, "tokio::runtime::") != NULL, "Rust frames named: %s", r.err);
	cr_expect(strstr(r.err, "nested::main") != NULL, "the main future's frame: %s", r.err);
	tool_result_free(&r);
	free(nested);
}

/* --output is for the interactive view: without it the program's output passes through untouched
 * (and no file is made); we say so on stderr. */
Test(run, output_option_without_the_view_leaves_output_alone)
{
	char dir[] = "/tmp/ai-test-run-XXXXXX";
	cr_assert(mkdtemp(dir));
	char *file = xasprintf("%s/out.log", dir);
	struct tool_result r;
	tool_run_input(&r, 30, "one\n", (const char *[]){ "run", "--output", file, "--", exit_with, "echo", NULL });
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	int pid;
	char echoed[16] = "";
	cr_expect(sscanf(r.out, "ready %d\n%15s", &pid, echoed) == 2 && strcmp(echoed, "one") == 0 &&
		  count_substr(r.out, "\n") == 2, "its own ready line and the echo: '%s'", r.out);
	char *note = xasprintf("async-inspect: --output is for the interactive view; %s's output is left alone\n",
			       exit_with);
	cr_expect_str_eq(r.err, note);
	cr_expect_neq(access(file, F_OK), 0, "no %s", file);
	rmdir(dir);
	free(note);
	free(file);
	tool_result_free(&r);
}
