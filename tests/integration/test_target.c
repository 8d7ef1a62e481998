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

/* Attaching while threads appear: a thread created just after its parent was seized is ours
 * already (PTRACE_O_TRACECLONE), and seizing it again must not fail as "already traced by
 * async-inspect". 200 attach / stop / detach rounds, as the ptrace sampler does, on a program
 * whose four threads each create a thread in a loop. */
Test(target, attach_while_threads_appear)
{
	struct fixture f;
	fixture_start(&f, "c", "churn", NULL);
	struct ai_target *t;
	struct ai_error *err = ai_target_attach(f.pid, &t);
	cr_assert_null(err, "%s", err ? err->message : "");
	for (int round = 0; round < 200; round++) {
		err = ai_target_reattach(t);
		cr_assert_null(err, "round %d: %s", round, err ? err->message : "");
		err = ai_target_stop(t);
		cr_assert_null(err, "round %d: %s", round, err ? err->message : "");
		cr_assert_geq(t->thread_count, 5, "main and four spinners at least");
		ai_target_detach(t);
	}
	ai_target_destroy(t);
	cr_expect_eq(kill(f.pid, 0), 0, "the program runs on");
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
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	fixture_kill(&f);
}

/* A zombie (exited, not reaped by its parent) is said to be one, not a permission problem. */
Test(target, zombie_pid_is_said_to_be_a_zombie)
{
	struct fixture f;
	fixture_start(&f, "c", "zombie", NULL);
	long zombie = 0;
	cr_assert(fscanf(f.out, " zombie %ld", &zombie) == 1, "the fixture names its child");
	cr_assert_eq(process_state((pid_t)zombie), 'Z');
	char *pid = xasprintf("%ld", zombie);
	char *expected = xasprintf("process %ld is a zombie: it has exited and its parent (process %d, zombie) has not reaped it; there is nothing left to inspect",
				   zombie, (int)f.pid);
	const char *commands[] = { "dump", "threads" };
	for (size_t i = 0; i < 2; i++) {
		struct tool_result r;
		tool_run(&r, 60, (const char *[]){ commands[i], "--pid", pid, NULL });
		cr_expect_eq(tool_exit_code(&r), 1, "%s: %s", commands[i], r.err);
		cr_expect(strstr(r.err, expected), "%s: %s", commands[i], r.err);
		cr_expect(!strstr(r.err, "CAP_SYS_PTRACE") && !strstr(r.err, "permi"), "%s: %s", commands[i], r.err);
		cr_expect_str_empty(r.out, "%s", commands[i]);
		tool_result_free(&r);
	}
	free(expected);
	free(pid);
	fixture_kill(&f);
}

/* Runs $AI_BINARY with args as user and group 65534 (setpriv drops root's capabilities with
 * it); returns its exit code and its stderr and stdout together in *output_ret. */
static int run_as_nobody(const char *args, char **output_ret)
{
	const char *bin = getenv("AI_BINARY");
	char *cmd = xasprintf("setpriv --reuid=65534 --regid=65534 --clear-groups %s %s 2>&1 </dev/null",
			      bin && *bin ? bin : "build/async-inspect", args);
	FILE *p = popen(cmd, "r");
	cr_assert(p, "popen");
	size_t len = 0, cap = 4096;
	char *out = xmalloc(cap);
	size_t n;
	while ((n = fread(out + len, 1, cap - len - 1, p)) > 0) {
		len += n;
		if (cap - len < 2)
			out = xrealloc(out, cap *= 2);
	}
	out[len] = '\0';
	int status = pclose(p);
	free(cmd);
	*output_ret = out;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Another user's process: the message names both users, not a missing capability. */
Test(target, process_of_another_user_is_said_so)
{
	if (geteuid() != 0 || system("setpriv --version >/dev/null 2>&1") != 0)
		cr_skip_test("needs root and setpriv, to run as another user");
	struct fixture f;
	fixture_start(&f, "c", "hello", NULL);
	char *args = xasprintf("threads --pid %d", (int)f.pid);
	char *out;
	int code = run_as_nobody(args, &out);
	/* Without Yama (or at scope 0 or 1) the owner is the reason; at 2 or 3 Yama is named first. */
	char *yama = ai_read_small_file("/proc/sys/kernel/yama/ptrace_scope", NULL);
	int scope = yama ? atoi(yama) : 0;
	free(yama);
	cr_expect_eq(code, 1, "%s", out);
	if (scope >= 2)
		cr_expect(strstr(out, "Yama ptrace_scope is"), "%s", out);
	else
		cr_expect(strstr(out, "it belongs to user 0 and you are user 65534; run as that user or as root"), "%s", out);
	cr_expect_eq(count_substr(out, "\n"), 1, "one line: %s", out);
	free(out);
	free(args);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S', "left as it was");
	fixture_kill(&f);
}

/* A kernel thread has no memory of its own to inspect (PID 2 is kthreadd when the PID namespace
 * is the host's). */
Test(target, kernel_thread_is_said_so)
{
	char *comm = ai_read_small_file("/proc/2/comm", NULL);
	bool kthreadd = comm && strcmp(comm, "kthreadd\n") == 0;
	free(comm);
	if (!kthreadd)
		cr_skip_test("PID 2 is not kthreadd here (a PID namespace)");
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "threads", "--pid", "2", NULL });
	cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
	cr_expect(strstr(r.err, "cannot attach to process 2: it is a kernel thread, with no user-space memory to inspect"),
		  "%s", r.err);
	tool_result_free(&r);
}
