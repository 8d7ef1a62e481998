/* The launch request: the program runs in the cwd and with the environment the editor asks for,
 * and its output must not reach our stdout, which may carry the protocol: its stdout and stderr
 * are pipes that the session turns into `output` events. ai_target_launch forks with our own
 * cwd, environment and fds, so they are set around it and restored. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/util.h"
#include "dap_internal.h"

struct saved_env {
	char *name;  /* owned */
	char *value; /* owned, or NULL: was unset */
};

static void restore_env(struct saved_env *saved, size_t count)
{
	for (size_t i = count; i-- > 0;) {
		if (saved[i].value)
			setenv(saved[i].name, saved[i].value, 1);
		else
			unsetenv(saved[i].name);
		free(saved[i].name);
		free(saved[i].value);
	}
	free(saved);
}

struct ai_error *dap_launch_program(const struct dap_launch *launch, struct ai_target **target_ret,
				    int *stdout_ret, int *stderr_ret)
{
	struct ai_error *err = NULL;
	int out[2] = { -1, -1 }, errp[2] = { -1, -1 };
	int saved_fds[3] = { -1, -1, -1 }, cwd_fd = -1, null_fd = -1;
	struct saved_env *saved = NULL;
	size_t saved_count = 0;
	char *resolved = NULL;
	const char **argv = NULL;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(errp, O_CLOEXEC) < 0) {
		err = ai_error_from_errno(errno, "pipe");
		goto out;
	}
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	cwd_fd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (null_fd < 0 || cwd_fd < 0) {
		err = ai_error_from_errno(errno, "open");
		goto out;
	}
	/* A relative program path is the editor's, relative to where we run, not to its cwd. */
	if (strchr(launch->program, '/') && launch->program[0] != '/') {
		resolved = realpath(launch->program, NULL);
		if (!resolved) {
			err = ai_error_from_errno(errno, "launch: program %s", launch->program);
			goto out;
		}
	}
	size_t argc = 0;
	while (launch->args[argc])
		argc++;
	argv = xcalloc(argc + 1, sizeof(*argv));
	memcpy(argv, launch->args, argc * sizeof(*argv));
	if (resolved)
		argv[0] = resolved;
	if (launch->cwd && chdir(launch->cwd) < 0) {
		err = ai_error_from_errno(errno, "launch: cwd %s", launch->cwd);
		goto out;
	}
	if (launch->env && json_is_object(launch->env)) {
		const char *name;
		json_t *value;
		saved = xcalloc(json_object_size(launch->env) + 1, sizeof(*saved));
		json_object_foreach(launch->env, name, value) {
			if (!json_is_string(value) && !json_is_null(value)) {
				err = ai_error_create(AI_ERROR_INVALID_ARGUMENT,
						      "launch: env.%s must be a string (or null to unset it)", name);
				goto out;
			}
			const char *old = getenv(name);
			saved[saved_count].name = xstrdup(name);
			saved[saved_count].value = old ? xstrdup(old) : NULL;
			saved_count++;
			if (json_is_string(value))
				setenv(name, json_string_value(value), 1);
			else
				unsetenv(name);
		}
	}
	/* The program's fds 0, 1, 2 for the fork, ours again right after. */
	for (int fd = 0; fd < 3; fd++)
		saved_fds[fd] = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	dup2(null_fd, STDIN_FILENO);
	dup2(out[1], STDOUT_FILENO);
	dup2(errp[1], STDERR_FILENO);
	/* ai_target_launch leaves the signals `run` forwards blocked for it; nothing is forwarded
	 * here. The program inherits our mask: SIGCHLD, blocked for the session's signalfd, must not
	 * stay blocked in it. */
	sigset_t mask, chld;
	sigprocmask(SIG_BLOCK, NULL, &mask);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_UNBLOCK, &chld, NULL);
	/* Held at its exec: the editor's breakpoints go in before its first instruction, and it
	 * runs at configurationDone. */
	err = ai_target_launch_stopped((char *const *)argv, target_ret);
	sigprocmask(SIG_SETMASK, &mask, NULL);
	for (int fd = 0; fd < 3; fd++) {
		if (saved_fds[fd] >= 0) {
			dup2(saved_fds[fd], fd);
			close(saved_fds[fd]);
		}
	}
out:
	free(resolved);
	free(argv);
	if (saved)
		restore_env(saved, saved_count);
	if (cwd_fd >= 0) {
		if (fchdir(cwd_fd) < 0 && !err)
			err = ai_error_from_errno(errno, "fchdir");
		close(cwd_fd);
	}
	if (null_fd >= 0)
		close(null_fd);
	if (out[1] >= 0)
		close(out[1]);
	if (errp[1] >= 0)
		close(errp[1]);
	if (err) {
		if (out[0] >= 0)
			close(out[0]);
		if (errp[0] >= 0)
			close(errp[0]);
		return err;
	}
	*stdout_ret = out[0];
	*stderr_ret = errp[0];
	return NULL;
}
