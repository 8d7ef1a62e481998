/* ai_fd_owners_find over a real pipe: the child that keeps only the write end is the writer a
 * reader of the pipe waits for, and no reader is found outside us. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/sockets.h"

Test(fd_owners, pipe_writer_in_another_process)
{
	int fds[2], ready[2];
	cr_assert(pipe(fds) == 0 && pipe(ready) == 0);
	struct stat st;
	cr_assert(fstat(fds[0], &st) == 0);
	pid_t child = fork();
	cr_assert(child >= 0);
	if (child == 0) {
		close(fds[0]);
		close(ready[0]);
		(void)!write(ready[1], "r", 1);
		pause();
		_exit(0);
	}
	close(fds[1]);
	close(ready[1]);
	char c;
	cr_assert(read(ready[0], &c, 1) == 1);
	struct ai_fd_owner ends[2] = {
		{ .inode = st.st_ino, .pipe = true, .want_writer = true },
		{ .inode = st.st_ino, .pipe = true, .want_writer = false },
	};
	ai_fd_owners_find(ends, 2, NULL, 0);
	cr_expect_eq(ends[0].owners, 1);
	cr_expect_eq(ends[0].pid, child);
	cr_expect_eq(ends[0].fd, fds[1]);
	cr_expect_eq(ends[1].owners, 0, "only we read it, and we are left out");
	/* An excluded process is not counted. */
	ai_fd_owners_find(ends, 1, &child, 1);
	cr_expect_eq(ends[0].owners, 0);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	close(fds[0]);
	close(ready[0]);
}
