/* Hardware watchpoints of src/process on the C fixture `watched`: a write by the main thread and
 * one by a thread created after the watchpoint was set are both reported (new threads get the
 * debug registers too), and a detach takes them out of every thread (one left would trap in the
 * untraced program, which SIGTRAP kills). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/target.h"
#include "ai/util.h"
#include "support.h"

static void setup(void)
{
	require_fixtures();
}

TestSuite(watchpoints, .init = setup, .timeout = 60);

/* Lets the fixture do its next write and runs the target until the watchpoint reports it. */
static pid_t next_write(struct ai_target *t, struct fixture *f)
{
	cr_assert_eq(write(f->in_fd, "go\n", 3), 3);
	enum ai_run_event event;
	int status;
	struct ai_error *err = ai_target_run(t, 30000, &event, &status);
	cr_assert_null(err, "%s", err ? err->message : "");
	cr_assert_eq(event, AI_RUN_WATCHPOINT, "the write is reported (event %d)", (int)event);
	return t->watch_tid;
}

Test(watchpoints, writes_of_every_thread_then_a_clean_detach)
{
	struct fixture f;
	fixture_start_with_stdin(&f, "c", "watched", (const char *[]){ NULL });
	char line[128];
	cr_assert(fgets(line, sizeof(line), f.out), "the fixture's counter line");
	unsigned long long counter = 0;
	cr_assert_eq(sscanf(line, "counter %llx", &counter), 1, "%s", line);

	struct ai_target *t;
	struct ai_error *err = ai_target_attach(f.pid, &t);
	cr_assert_null(err, "%s", err ? err->message : "");
	cr_assert_null(ai_target_stop(t));
	uint64_t address = counter + 1; /* not aligned for 8 bytes */
	uint8_t size = 8;
	err = ai_target_set_watchpoints(t, &address, &size, 1);
	cr_expect(err && strstr(err->message, "1, 2, 4 or 8 aligned bytes"), "a misaligned watch is refused");
	ai_error_destroy(err);
	address = counter;
	err = ai_target_set_watchpoints(t, &address, &size, 1);
	cr_assert_null(err, "%s", err ? err->message : "");

	cr_expect_eq(next_write(t, &f), f.pid, "the main thread's write");
	long value = 0;
	cr_assert_null(ai_memory_read(t->memory, &value, counter, sizeof(value)));
	cr_expect_eq(value, 1);
	pid_t writer = next_write(t, &f);
	cr_expect(writer != 0 && writer != f.pid, "the write of a thread made after the watchpoint (tid %d)", (int)writer);
	cr_assert_null(ai_memory_read(t->memory, &value, counter, sizeof(value)));
	cr_expect_eq(value, 2);

	ai_target_destroy(t); /* detaches, the watchpoint out of every thread */
	cr_assert_eq(write(f.in_fd, "go\n", 3), 3);
	cr_assert(fgets(line, sizeof(line), f.out), "the fixture's last line");
	cr_expect_str_eq(line, "counter 3\n");
	int status = fixture_wait(&f);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "it ends normally after the detach (status %#x)", status);
	fixture_kill(&f);
}
