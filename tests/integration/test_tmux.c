/* The real binary in a real terminal: `attach` and `run` drive the TUI inside a tmux session of
 * their own (a private tmux server per test), keys sent with send-keys, the screen read back with
 * capture-pane. Every wait polls the screen up to a deadline: nothing depends on a fixed sleep. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"

#define CRATE "tokio-1.38"
/* How long a screen may take to show what a test waits for (a loaded CI machine included). */
#define SCREEN_DEADLINE_S 30

static void require_tmux(void)
{
	require_fixtures();
	if (system("tmux -V >/dev/null 2>&1") != 0)
		cr_skip_test("tmux is not installed (make deps installs it)");
}

TestSuite(tmux, .init = require_tmux, .timeout = 180);

struct term {
	char socket[64];  /* the private tmux server's socket name (tmux -L) */
	char status[128]; /* where the shell in the pane writes the command's exit status */
};

/* Runs `tmux -L socket ARGS` and returns what it printed (NULL-terminated argument list). */
static char *tmux(const struct term *t, const char *const *args)
{
	int pipefd[2];
	cr_assert_eq(pipe(pipefd), 0);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		dup2(pipefd[1], 1);
		close(pipefd[0]);
		close(pipefd[1]);
		size_t n = 0;
		while (args[n])
			n++;
		const char **argv = xmalloc((n + 6) * sizeof(*argv)); /* tmux -L S -f F, args, NULL */
		argv[0] = "tmux";
		argv[1] = "-L";
		argv[2] = t->socket;
		argv[3] = "-f";
		argv[4] = "/dev/null";
		for (size_t i = 0; i < n; i++)
			argv[5 + i] = args[i];
		argv[5 + n] = NULL;
		execvp("tmux", (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	FILE *in = fdopen(pipefd[0], "r");
	char *text = NULL;
	size_t size = 0;
	FILE *mem = open_memstream(&text, &size);
	char buf[4096];
	size_t got;
	while ((got = fread(buf, 1, sizeof(buf), in)) > 0)
		fwrite(buf, 1, got, mem);
	fclose(in);
	fclose(mem);
	int status;
	waitpid(pid, &status, 0);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "tmux %s failed: %s", args[0], text);
	return text;
}

/* Starts `command` (a shell command line) in a detached 150x40 session. The pane's shell writes
 * the command's exit status (128 + signal when killed) to a file when it ends: tmux's own
 * pane_dead_status is not always filled in. */
static void term_start(struct term *t, const char *command)
{
	snprintf(t->socket, sizeof(t->socket), "ai-test-%d", (int)getpid());
	snprintf(t->status, sizeof(t->status), "/tmp/%s.status", t->socket);
	unlink(t->status);
	char *line = xasprintf("TERM=xterm-256color %s; echo $? > %s.tmp && mv %s.tmp %s; sleep 60", command,
			       t->status, t->status, t->status);
	free(tmux(t, (const char *[]){ "new-session", "-d", "-x", "150", "-y", "40", "-s", "t", line, NULL }));
	free(line);
}

static void term_stop(struct term *t)
{
	unlink(t->status);
	char *cmd = xasprintf("tmux -L %s kill-server >/dev/null 2>&1", t->socket);
	if (system(cmd) != 0) {
		/* already gone */
	}
	free(cmd);
}

static char *term_screen(const struct term *t)
{
	return tmux(t, (const char *[]){ "capture-pane", "-p", "-t", "t", NULL });
}

static void term_keys(const struct term *t, const char *keys)
{
	free(tmux(t, (const char *[]){ "send-keys", "-t", "t", keys, NULL }));
}

static double now_s(void)
{
	return (double)ai_now_us() / 1e6;
}

static void pause_briefly(void)
{
	nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
}

/* The screen once it contains `needle` (polled); fails the test with the last screen otherwise. */
static char *term_wait_for(const struct term *t, const char *needle)
{
	double deadline = now_s() + SCREEN_DEADLINE_S;
	for (;;) {
		char *s = term_screen(t);
		if (strstr(s, needle))
			return s;
		if (now_s() > deadline)
			cr_assert_fail("\"%s\" did not appear within %d s; the screen:\n%s", needle,
				       SCREEN_DEADLINE_S, s);
		free(s);
		pause_briefly();
	}
}

/* Waits for the pane's command to end: its exit status, or 128 + the signal that killed it. */
static int term_wait_exit(const struct term *t)
{
	double deadline = now_s() + SCREEN_DEADLINE_S;
	for (;;) {
		char *text = ai_read_small_file(t->status, NULL);
		if (text) {
			int status = atoi(text);
			free(text);
			return status;
		}
		if (now_s() > deadline) {
			char *screen = term_screen(t);
			cr_assert_fail("async-inspect did not exit within %d s; the screen:\n%s",
				       SCREEN_DEADLINE_S, screen);
		}
		pause_briefly();
	}
}

/* The FOR>= figure in seconds of the task-list row that starts with `id`, or -1. */
static double blocked_for(const char *screen, const char *id)
{
	char *prefix = xasprintf("\n%s ", id);
	const char *row = strstr(screen, prefix);
	free(prefix);
	if (!row)
		return -1;
	char state[32];
	double seconds;
	char unit[8];
	if (sscanf(row + 1, "%*s %31s %lf%7s", state, &seconds, unit) != 3)
		return -1;
	if (strcmp(unit, "m") == 0)
		seconds *= 60;
	else if (strcmp(unit, "ms") == 0)
		seconds /= 1000;
	return seconds;
}

Test(tmux, attach_shows_tasks_details_growing_durations_and_detaches)
{
	struct fixture f;
	fixture_start(&f, CRATE, "nested", NULL);
	struct term t;
	char *cmd = xasprintf("%s attach --pid %d --interval 200ms", getenv("AI_BINARY"), (int)f.pid);
	term_start(&t, cmd);
	free(cmd);

	/* The task list: every task of the fixture, with its await line (main and task 3 wait on each
	 * other: main keeps the Sender of the oneshot task 3 receives on, and joins it). */
	char *s = term_wait_for(&t, "tasks 8: 6 blocked 2 deadlocked");
	char *sleep_at = xasprintf("shapes.rs:%d", marker_line("tokio/src/shapes.rs", "@await: level4-sleep"));
	cr_expect(strstr(s, sleep_at) != NULL, "%s in\n%s", sleep_at, s);
	cr_expect(strstr(s, "sleep, 23h59m") != NULL, "%s", s);
	cr_expect(strstr(s, "nested::shapes::holder") != NULL, "%s", s);

	/* The duration grows between two captures (task 4 sleeps for a day). */
	double first = blocked_for(s, "4");
	cr_assert_geq(first, 0, "no FOR>= figure for task 4 in\n%s", s);
	free(s);
	double deadline = now_s() + SCREEN_DEADLINE_S;
	double later = first;
	while (later < first + 1.0 && now_s() < deadline) {
		pause_briefly();
		s = term_screen(&t);
		later = blocked_for(s, "4");
		free(s);
	}
	cr_expect_geq(later, first + 1.0, "blocked-for went from %.1fs to %.1fs", first, later);

	/* Details of the first task (3, the oneshot receiver): its await chain with lines. */
	term_keys(&t, "Enter");
	s = term_wait_for(&t, "Task details");
	char *level1 = xasprintf("shapes.rs:%d", marker_line("tokio/src/shapes.rs", "@await: level1"));
	char *oneshot = xasprintf("shapes.rs:%d", marker_line("tokio/src/shapes.rs", "@await: level4-oneshot"));
	free(s);
	s = term_wait_for(&t, oneshot);
	cr_expect(strstr(s, "task 3") != NULL, "%s", s);
	cr_expect(strstr(s, level1) != NULL, "%s in\n%s", level1, s);
	cr_expect(strstr(s, "waiting on: oneshot receive") != NULL, "%s", s);
	free(s);

	/* Esc back to the list, q detaches: the fixture runs on, untraced. */
	term_keys(&t, "Escape");
	free(term_wait_for(&t, "FOR>="));
	term_keys(&t, "q");
	int status = term_wait_exit(&t);
	char *last = term_screen(&t);
	cr_expect_eq(status, 0, "exit status %d, the screen:\n%s", status, last);
	free(last);
	cr_expect_eq(tracer_pid(f.pid), 0);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	term_stop(&t);
	fixture_kill(&f);
	free(sleep_at);
	free(level1);
	free(oneshot);
}

Test(tmux, run_quit_asks_and_kill_ends_the_program)
{
	struct term t;
	char *fixture = fixture_path(CRATE, "nested");
	char *cmd = xasprintf("%s run -- %s", getenv("AI_BINARY"), fixture);
	term_start(&t, cmd);
	free(cmd);
	free(fixture);
	free(term_wait_for(&t, "6 blocked 2 deadlocked"));
	term_keys(&t, "q");
	char *s = term_wait_for(&t, "Quit: k kill the program");
	free(s);
	term_keys(&t, "k");
	/* The program was killed by SIGKILL, and `run` ends as it did. */
	int status = term_wait_exit(&t);
	cr_expect_eq(status, 128 + SIGKILL, "run ended with %d", status);
	term_stop(&t);
}

/* attach --pid C --pid S of peer_client and peer_server: both processes' tasks labelled in a real
 * terminal, P shows one, p stops both (traced) until p again (untraced), q leaves both running. */
Test(tmux, attach_two_processes_filter_pause_and_detach)
{
	require_fixtures();
	struct fixture server, client;
	fixture_spawn(&server, "tokio-1.54", "peer_server", (const char *[]){ "mutex", NULL });
	char line[128], port[64];
	cr_assert(fgets(line, sizeof(line), server.out), "peer_server printed nothing");
	cr_assert(sscanf(line, "listening %63s", port) == 1, "peer_server printed '%s'", line);
	fixture_start(&client, "tokio-1.54", "peer_client", (const char *[]){ port, NULL });
	fixture_expect_ready(&server);
	struct term t;
	char *cmd = xasprintf("%s attach --pid %d --pid %d --interval 200ms", getenv("AI_BINARY"), (int)client.pid,
			      (int)server.pid);
	term_start(&t, cmd);
	free(cmd);

	char *s = term_wait_for(&t, "async-inspect  2 processes  tasks 5:");
	char *client_label = xasprintf("%d peer_client", (int)client.pid);
	char *server_label = xasprintf("%d peer_server", (int)server.pid);
	cr_expect(strstr(s, client_label) && strstr(s, server_label), "%s", s);
	cr_expect(strstr(s, "peer_client::request") && strstr(s, "peer_server::handle_conn"), "%s", s);
	free(s);

	/* P: the client only; twice more: all again. */
	term_keys(&t, "P");
	char *only = xasprintf("process: pid %d (peer_client)", (int)client.pid);
	s = term_wait_for(&t, only);
	cr_expect(strstr(s, "peer_client::request") && !strstr(s, "peer_server::handle_conn"), "%s", s);
	free(s);
	term_keys(&t, "P");
	term_keys(&t, "P");
	free(term_wait_for(&t, "process: all"));

	/* p stops both, p again lets both go, untraced between samples. */
	term_keys(&t, "p");
	free(term_wait_for(&t, "[PAUSED]"));
	cr_expect_eq(process_settles_in(client.pid, 't'), 't');
	cr_expect_eq(process_settles_in(server.pid, 't'), 't');
	term_keys(&t, "p");
	free(term_wait_for(&t, "target resumed"));
	cr_expect_eq(process_settles_in(client.pid, 'S'), 'S');
	cr_expect_eq(process_settles_in(server.pid, 'S'), 'S');

	term_keys(&t, "q");
	int status = term_wait_exit(&t);
	char *last = term_screen(&t);
	cr_expect_eq(status, 0, "exit status %d, the screen:\n%s", status, last);
	free(last);
	cr_expect_eq(tracer_pid(client.pid), 0);
	cr_expect_eq(tracer_pid(server.pid), 0);
	term_stop(&t);
	fixture_kill(&client);
	fixture_kill(&server);
	free(client_label);
	free(server_label);
	free(only);
}
