/* The target layer against real processes: attach/detach leaves the program as it was, signals
 * are never lost, and a target that dies under us is an error, not a hang. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/target.h"
#include "ai/util.h"
#include "support.h"

TestSuite(target, .init = require_fixtures, .timeout = 300);

/* The "done <N> <checksum>" line of a busy run, read to the end. */
static char *read_done_line(FILE *out)
{
	char line[256];
	while (fgets(line, sizeof(line), out)) {
		if (strncmp(line, "done ", 5) == 0)
			return xstrdup(line);
	}
	return xstrdup("(no done line)");
}

/* 200 attach / stop / read / detach cycles while the program works; it must then finish its work
 * with the same checksum as without us, and exit 0. */
Test(target, attach_detach_soak)
{
	const char *messages = "3000000";
	struct fixture clean;
	fixture_start(&clean, "tokio-1.54", "busy", (const char *[]){ messages, NULL });
	char *expected = read_done_line(clean.out);
	cr_assert_eq(fixture_wait(&clean), 0);
	fixture_kill(&clean);

	struct fixture f;
	fixture_start(&f, "tokio-1.54", "busy", (const char *[]){ messages, NULL });
	int cycles = 0;
	for (; cycles < 200; cycles++) {
		struct ai_target *t;
		struct ai_error *err = ai_target_attach(f.pid, &t);
		cr_assert_null(err, "cycle %d: %s", cycles, err ? err->message : "");
		err = ai_target_stop(t);
		cr_assert_null(err, "cycle %d: %s", cycles, err ? err->message : "");
		cr_assert_geq(t->thread_count, 3, "main and two workers at least");
		for (size_t i = 0; i < t->thread_count; i++)
			cr_assert(t->threads[i].regs_valid);
		uint64_t word;
		err = ai_memory_read_u64(t->memory, t->threads[0].regs.rsp, &word);
		cr_assert_null(err, "stack readable");
		ai_target_destroy(t);
	}
	char *got = read_done_line(f.out);
	int status = fixture_wait(&f);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "busy exited with status %d", status);
	cr_expect_str_eq(got, expected, "same work done after %d cycles", cycles);
	free(got);
	free(expected);
	fixture_kill(&f);
}

/* A signal sent while the program is stopped is handed to it at detach, not lost. */
Test(target, signal_while_stopped_is_delivered_at_detach)
{
	struct fixture f;
	fixture_start(&f, "plain", "exit_with", (const char *[]){ "wait-signal", NULL });
	struct ai_target *t;
	cr_assert_null(ai_target_attach(f.pid, &t));
	cr_assert_null(ai_target_stop(t));
	kill(f.pid, SIGUSR1);
	usleep(20000);
	ai_target_destroy(t);
	int status = fixture_wait(&f);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 42, "status %d", status);
	fixture_kill(&f);
}

/* The same across a resume: stop, signal, resume, stop again, detach. */
Test(target, signal_while_stopped_is_delivered_at_resume)
{
	struct fixture f;
	fixture_start(&f, "plain", "exit_with", (const char *[]){ "wait-signal", NULL });
	struct ai_target *t;
	cr_assert_null(ai_target_attach(f.pid, &t));
	cr_assert_null(ai_target_stop(t));
	kill(f.pid, SIGUSR1);
	usleep(20000);
	cr_assert_null(ai_target_resume(t));
	enum ai_run_event event;
	int run_status = 0;
	cr_assert_null(ai_target_run(t, 10000, &event, &run_status));
	/* We are its parent as well as its tracer here, so the run loop reaped it. */
	cr_expect_eq(event, AI_RUN_EXITED);
	cr_expect(WIFEXITED(run_status) && WEXITSTATUS(run_status) == 42, "status %d", run_status);
	ai_target_destroy(t);
	f.pid = 0;
	fixture_kill(&f);
}

/* A target killed while we are attached: stopping it is a clear error, detaching does not hang. */
Test(target, target_exiting_under_us_is_an_error)
{
	struct fixture f;
	fixture_start(&f, "plain", "many_threads", NULL);
	struct ai_target *t;
	cr_assert_null(ai_target_attach(f.pid, &t));
	kill(f.pid, SIGKILL);
	struct ai_error *err = ai_target_stop(t);
	cr_assert_not_null(err);
	cr_expect_eq(err->code, AI_ERROR_TARGET_EXITED, "%s", err->message);
	ai_error_destroy(err);
	ai_target_destroy(t);
	fixture_kill(&f);
}

/* Stopping reports every thread with registers; memory reads of unmapped addresses are faults. */
Test(target, stop_reads_threads_registers_and_memory)
{
	struct fixture f;
	fixture_start(&f, "plain", "many_threads", NULL);
	struct ai_target *t;
	cr_assert_null(ai_target_attach(f.pid, &t));
	cr_assert_null(ai_target_stop(t));
	cr_expect_eq(t->thread_count, 18);
	int workers = 0;
	for (size_t i = 0; i < t->thread_count; i++) {
		cr_expect(t->threads[i].regs_valid);
		/* Read before the stop: never our own tracing stop. (Not always 'S': the fixture's ready
		 * gate may still be on its way to parking.) */
		cr_expect(t->threads[i].state != 't' && t->threads[i].state != 'T' && t->threads[i].state != '?',
			  "state before the stop, not '%c'", t->threads[i].state);
		if (strncmp(t->threads[i].name, "worker-", 7) == 0)
			workers++;
	}
	cr_expect_eq(workers, 16);
	unsigned char buf[64];
	struct ai_error *err = ai_memory_read(t->memory, buf, 8, sizeof(buf));
	cr_assert_not_null(err);
	cr_expect_eq(err->code, AI_ERROR_FAULT);
	cr_expect_eq(err->address, 8);
	ai_error_destroy(err);
	/* A read that runs off the end of a mapping faults at the first bad address. */
	const struct ai_mapping *last = NULL;
	for (size_t i = 0; i + 1 < t->maps.count; i++) {
		if (t->maps.items[i].perms[0] == 'r' && t->maps.items[i + 1].start > t->maps.items[i].end) {
			last = &t->maps.items[i];
			break;
		}
	}
	cr_assert_not_null(last);
	unsigned char big[8192];
	err = ai_memory_read(t->memory, big, last->end - 4096, sizeof(big));
	cr_assert_not_null(err);
	cr_expect_eq(err->address, last->end, "fault at 0x%llx, mapping ends at 0x%llx",
		     (unsigned long long)err->address, (unsigned long long)last->end);
	ai_error_destroy(err);
	ai_target_destroy(t);
	cr_expect_eq(process_state(f.pid), 'S');
	fixture_kill(&f);
}
