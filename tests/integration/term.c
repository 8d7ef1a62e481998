/* A real terminal for the tests that drive the TUI (test_tmux.c, test_tmux_break.c): a detached
 * tmux session on a private tmux server per test, keys sent with send-keys, the screen read back
 * with capture-pane. Every wait polls the screen up to a deadline: nothing depends on a fixed
 * sleep. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"
#include "term.h"

void require_tmux(void)
{
	require_fixtures();
	if (system("tmux -V >/dev/null 2>&1") != 0)
		cr_skip_test("tmux is not installed (make deps installs it)");
}


/* Runs `tmux -L socket ARGS` and returns what it printed (NULL-terminated argument list). */
char *tmux(const struct term *t, const char *const *args)
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
void term_start(struct term *t, const char *command)
{
	snprintf(t->socket, sizeof(t->socket), "ai-test-%d", (int)getpid());
	snprintf(t->status, sizeof(t->status), "/tmp/%s.status", t->socket);
	unlink(t->status);
	char *line = xasprintf("TERM=xterm-256color %s; echo $? > %s.tmp && mv %s.tmp %s; sleep 60", command,
			       t->status, t->status, t->status);
	free(tmux(t, (const char *[]){ "new-session", "-d", "-x", "150", "-y", "40", "-s", "t", line, NULL }));
	free(line);
}

void term_stop(struct term *t)
{
	unlink(t->status);
	char *cmd = xasprintf("tmux -L %s kill-server >/dev/null 2>&1", t->socket);
	if (system(cmd) != 0) {
		/* already gone */
	}
	free(cmd);
}

char *term_screen(const struct term *t)
{
	return tmux(t, (const char *[]){ "capture-pane", "-p", "-t", "t", NULL });
}

void term_keys(const struct term *t, const char *keys)
{
	free(tmux(t, (const char *[]){ "send-keys", "-t", "t", keys, NULL }));
}

double term_now_s(void)
{
	return (double)ai_now_us() / 1e6;
}

void pause_briefly(void)
{
	nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
}

/* The screen once it contains every one of `needles` (NULL-terminated; polled). */
char *term_wait_all(const struct term *t, const char *const *needles)
{
	double deadline = term_now_s() + SCREEN_DEADLINE_S;
	for (;;) {
		char *s = term_screen(t);
		bool all = true;
		for (size_t i = 0; needles[i] && all; i++)
			all = strstr(s, needles[i]) != NULL;
		if (all)
			return s;
		if (term_now_s() > deadline)
			cr_assert_fail("\"%s\"... did not all appear within %d s; the screen:\n%s", needles[0],
				       SCREEN_DEADLINE_S, s);
		free(s);
		pause_briefly();
	}
}

char *term_wait_for(const struct term *t, const char *needle)
{
	return term_wait_all(t, (const char *[]){ needle, NULL });
}

/* Waits for the pane's command to end: its exit status, or 128 + the signal that killed it. */
int term_wait_exit(const struct term *t)
{
	double deadline = term_now_s() + SCREEN_DEADLINE_S;
	for (;;) {
		char *text = ai_read_small_file(t->status, NULL);
		if (text) {
			int status = atoi(text);
			free(text);
			return status;
		}
		if (term_now_s() > deadline) {
			char *screen = term_screen(t);
			cr_assert_fail("async-inspect did not exit within %d s; the screen:\n%s",
				       SCREEN_DEADLINE_S, screen);
		}
		pause_briefly();
	}
}
