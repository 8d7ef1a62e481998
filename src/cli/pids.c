/* Several processes on the command line: --pid N (repeatable), --pids A,B,C, --pgrep NAME. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/cli.h"
#include "ai/util.h"

static struct ai_error *add_pid(struct ai_target_options *options, int pid)
{
	for (size_t i = 0; i < options->pid_count; i++) {
		if (options->pids[i] == pid)
			return NULL; /* each process is inspected once */
	}
	if (options->pid_count == AI_MAX_PIDS)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "more than %d processes given", AI_MAX_PIDS);
	options->pids[options->pid_count++] = pid;
	if (!options->pid)
		options->pid = pid;
	return NULL;
}

/* /proc/PID/comm without its newline, or the base name of /proc/PID/exe: does either say name? */
static bool process_named(int pid, const char *name)
{
	char path[64], buf[PATH_MAX];
	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	char *comm = ai_read_small_file(path, NULL);
	bool match = false;
	if (comm) {
		comm[strcspn(comm, "\n")] = '\0';
		match = strcmp(comm, name) == 0;
		free(comm);
	}
	if (match)
		return true;
	snprintf(path, sizeof(path), "/proc/%d/exe", pid);
	ssize_t n = readlink(path, buf, sizeof(buf) - 1);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	/* A deleted executable reads "/path/bin (deleted)". */
	char *deleted = strstr(buf, " (deleted)");
	if (deleted && deleted[strlen(" (deleted)")] == '\0')
		*deleted = '\0';
	const char *base = strrchr(buf, '/');
	return strcmp(base ? base + 1 : buf, name) == 0;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static struct ai_error *add_pgrep(struct ai_target_options *options, const char *name)
{
	if (!*name || strchr(name, '/'))
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--pgrep '%s': give a command name, not a path", name);
	DIR *dir = opendir("/proc");
	if (!dir)
		return ai_error_from_errno(errno, "cannot list /proc");
	int *found = NULL;
	size_t count = 0, capacity = 0;
	int self = (int)getpid();
	struct dirent *de;
	while ((de = readdir(dir))) {
		if (!isdigit((unsigned char)de->d_name[0]))
			continue;
		int pid = atoi(de->d_name);
		if (pid <= 0 || pid == self || !process_named(pid, name))
			continue;
		AI_GROW(found, capacity, count + 1);
		found[count++] = pid;
	}
	closedir(dir);
	if (count == 0) {
		free(found);
		return ai_error_create(AI_ERROR_NOT_FOUND, "--pgrep %s: no process has that name", name);
	}
	qsort(found, count, sizeof(*found), cmp_int);
	struct ai_error *err = NULL;
	for (size_t i = 0; i < count && !err; i++)
		err = add_pid(options, found[i]);
	free(found);
	return err;
}

struct ai_error *ai_target_add_pids(struct ai_target_options *options, int opt, const char *arg)
{
	if (opt == AI_OPT_PGREP)
		return add_pgrep(options, arg);
	if (opt != AI_OPT_PIDS) {
		int pid;
		struct ai_error *err = ai_parse_pid(arg, &pid);
		return err ? err : add_pid(options, pid);
	}
	char *list = xstrdup(arg), *save = NULL;
	struct ai_error *err = NULL;
	size_t added = 0;
	for (char *item = strtok_r(list, ",", &save); item && !err; item = strtok_r(NULL, ",", &save)) {
		int pid;
		err = ai_parse_pid(item, &pid);
		if (!err)
			err = add_pid(options, pid);
		added++;
	}
	if (!err && added == 0)
		err = ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--pids '%s': no process id in it", arg);
	free(list);
	return err;
}
