/* A breakpoint's step-over with several signals pending for the stepped thread: each one is
 * delivered once the thread runs again, none lost (the single-step stops at every one of them
 * before it steps). Drives src/process directly on the C fixture `signals`. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/target.h"
#include "ai/util.h"
#include "support.h"

static void setup(void)
{
	require_fixtures();
}

TestSuite(step_over_signals, .init = setup, .timeout = 60);

Test(step_over_signals, every_signal_pending_at_a_step_over_is_delivered)
{
	struct fixture f;
	fixture_start_with_stdin(&f, "c", "signals", (const char *[]){ NULL });
	char line[128];
	cr_assert(fgets(line, sizeof(line), f.out), "the fixture's tick line");
	unsigned long long tick = 0;
	cr_assert_eq(sscanf(line, "tick %llx", &tick), 1, "%s", line);

	struct ai_target *t;
	struct ai_error *err = ai_target_attach(f.pid, &t);
	cr_assert_null(err, "%s", err ? err->message : "");
	cr_assert_null(ai_target_stop(t));
	err = ai_target_insert_breakpoint(t, tick);
	cr_assert_null(err, "%s", err ? err->message : "");
	cr_assert_null(ai_target_resume(t));
	cr_assert_eq(write(f.in_fd, "go\n", 3), 3);

	enum ai_run_event event;
	int status = 0;
	cr_assert_null(ai_target_run(t, 30000, &event, &status));
	cr_assert_eq(event, AI_RUN_BREAKPOINT, "the breakpoint at tick() is hit");
	cr_assert_eq(t->hit_address, tick);
	/* Two signals pending for the thread on the breakpoint: the step-over meets both. */
	syscall(SYS_tgkill, (int)t->pid, (int)t->hit_tid, SIGUSR1);
	syscall(SYS_tgkill, (int)t->pid, (int)t->hit_tid, SIGUSR2);
	cr_assert_null(ai_target_run(t, 30000, &event, &status));
	cr_expect_eq(event, AI_RUN_EXITED, "the program runs to its end");
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x", status);
	ai_target_destroy(t);

	cr_assert(fgets(line, sizeof(line), f.out), "the fixture's counts");
	cr_expect_str_eq(line, "usr1 1 usr2 1\n", "each signal delivered once");
	fixture_kill(&f);
}
