/* Which processes hold an fd on a socket or pipe: one walk of /proc/PID/fd for a set of inodes,
 * for the ends of connections and pipes that no inspected process holds. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/sockets.h"
#include "ai/util.h"

/* The inode of "socket:[N]" or "pipe:[N]", with *pipe_ret saying which; 0 for anything else. */
static uint64_t link_inode(const char *target, bool *pipe_ret)
{
	const char *rest;
	if (strncmp(target, "socket:[", 8) == 0) {
		rest = target + 8;
		*pipe_ret = false;
	} else if (strncmp(target, "pipe:[", 6) == 0) {
		rest = target + 6;
		*pipe_ret = true;
	} else {
		return 0;
	}
	char *end;
	unsigned long long v = strtoull(rest, &end, 10);
	return *end == ']' ? v : 0;
}

/* The access mode of pid's fd from /proc/PID/fdinfo/FD ("flags:\t0100001", octal), or -1. */
static int fd_access_mode(int pid, const char *fd)
{
	char path[320];
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%s", pid, fd);
	char *text = ai_read_small_file(path, NULL);
	if (!text)
		return -1;
	const char *flags = strstr(text, "flags:");
	int mode = flags ? (int)(strtoul(flags + 6, NULL, 8) & O_ACCMODE) : -1;
	free(text);
	return mode;
}

static bool excluded(int pid, const pid_t *exclude, size_t exclude_count)
{
	for (size_t i = 0; i < exclude_count; i++) {
		if (exclude[i] == pid)
			return true;
	}
	return false;
}

static void note_owner(struct ai_fd_owner *w, int pid, int fd)
{
	if (w->owners++ == 0 || pid < w->pid) {
		w->pid = pid;
		w->fd = fd;
		char path[64];
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		char *comm = ai_read_small_file(path, NULL);
		w->command[0] = '\0';
		if (comm) {
			comm[strcspn(comm, "\n")] = '\0';
			snprintf(w->command, sizeof(w->command), "%s", comm);
			free(comm);
		}
	}
}

void ai_fd_owners_find(struct ai_fd_owner *wanted, size_t count, const pid_t *exclude, size_t exclude_count)
{
	for (size_t i = 0; i < count; i++)
		wanted[i].owners = 0;
	if (count == 0)
		return;
	DIR *proc = opendir("/proc");
	if (!proc)
		return;
	int self = (int)getpid();
	struct dirent *de;
	while ((de = readdir(proc))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		int pid = atoi(de->d_name);
		if (pid <= 0 || pid == self || excluded(pid, exclude, exclude_count))
			continue;
		char dir_path[64];
		snprintf(dir_path, sizeof(dir_path), "/proc/%d/fd", pid);
		DIR *fds = opendir(dir_path); /* another user's: EACCES, and we say nothing of it */
		if (!fds)
			continue;
		struct dirent *fe;
		while ((fe = readdir(fds))) {
			if (!isdigit((unsigned char)fe->d_name[0]))
				continue;
			char link_path[384], target[128];
			snprintf(link_path, sizeof(link_path), "%s/%s", dir_path, fe->d_name);
			ssize_t n = readlink(link_path, target, sizeof(target) - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			bool pipe;
			uint64_t inode = link_inode(target, &pipe);
			if (!inode)
				continue;
			for (size_t i = 0; i < count; i++) {
				struct ai_fd_owner *w = &wanted[i];
				if (w->inode != inode || w->pipe != pipe)
					continue;
				if (pipe) {
					/* Both ends of a pipe name one inode: its mode tells them apart. */
					int mode = fd_access_mode(pid, fe->d_name);
					bool writes = mode == O_WRONLY || mode == O_RDWR;
					bool reads = mode == O_RDONLY || mode == O_RDWR;
					if (mode < 0 || (w->want_writer ? !writes : !reads))
						continue;
				}
				note_owner(w, pid, atoi(fe->d_name));
			}
		}
		closedir(fds);
	}
	closedir(proc);
}
