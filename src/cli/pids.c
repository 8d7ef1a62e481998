/* Several processes on the command line: --pid N (repeatable), --pids A,B,C, --pgrep NAME,
 * --cgroup PATH. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* The cgroup v2 hierarchy's mount point (from /proc/self/mountinfo), in buf; false when none. */
static bool cgroup2_mount(char *buf, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	if (!f)
		return false;
	char *line = NULL;
	size_t cap = 0;
	bool found = false;
	while (!found && getline(&line, &cap, f) > 0) {
		/* "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER" */
		char *sep = strstr(line, " - ");
		if (!sep || strncmp(sep + 3, "cgroup2 ", 8) != 0)
			continue;
		char mountpoint[PATH_MAX];
		if (sscanf(line, "%*s %*s %*s %*s %4095s", mountpoint) == 1 && strlen(mountpoint) < size) {
			strcpy(buf, mountpoint);
			found = true;
		}
	}
	free(line);
	fclose(f);
	return found;
}

struct pid_list {
	int *pids;
	size_t count, capacity;
};

/* The pids of dir/cgroup.procs, then of every cgroup below dir; depth bounds a loop of bind
 * mounts, which a cgroup tree never has. */
static struct ai_error *walk_cgroup(const char *dir, int depth, struct pid_list *list)
{
	char path[PATH_MAX];
	if ((size_t)snprintf(path, sizeof(path), "%s/cgroup.procs", dir) >= sizeof(path))
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--cgroup: path too long under %s", dir);
	FILE *f = fopen(path, "re");
	if (!f)
		return ai_error_from_errno(errno, "--cgroup: cannot read %s", path);
	int pid;
	while (fscanf(f, "%d", &pid) == 1) {
		AI_GROW(list->pids, list->capacity, list->count + 1);
		list->pids[list->count++] = pid;
	}
	fclose(f);
	if (depth >= 64)
		return NULL;
	DIR *d = opendir(dir);
	if (!d)
		return ai_error_from_errno(errno, "--cgroup: cannot list %s", dir);
	struct ai_error *err = NULL;
	struct dirent *de;
	while (!err && (de = readdir(d))) {
		if (de->d_type != DT_DIR || strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		char sub[PATH_MAX];
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, de->d_name) >= sizeof(sub))
			continue;
		err = walk_cgroup(sub, depth + 1, list);
	}
	closedir(d);
	return err;
}

/* --cgroup PATH: the absolute path of a directory (a v1 or v2 cgroup: /sys/fs/cgroup/system.slice/x.service),
 * else PATH under the v2 mount (system.slice/x.service, or /system.slice/x.service as
 * /proc/PID/cgroup writes it). Every process of it and of its sub-cgroups, in pid order. */
static struct ai_error *add_cgroup(struct ai_target_options *options, const char *arg)
{
	if (!*arg)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--cgroup: give a cgroup directory");
	char dir[PATH_MAX], mount[PATH_MAX];
	struct stat st;
	if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode) && arg[0] == '/') {
		snprintf(dir, sizeof(dir), "%s", arg);
	} else if (cgroup2_mount(mount, sizeof(mount))) {
		if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", mount, arg + (arg[0] == '/')) >= sizeof(dir))
			return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--cgroup %s: path too long", arg);
		if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
			return ai_error_create(AI_ERROR_NOT_FOUND, "--cgroup %s: no such cgroup (not a directory, "
					       "nor %s under the cgroup v2 mount)", arg, dir);
	} else {
		return ai_error_create(AI_ERROR_NOT_FOUND, "--cgroup %s: no such directory, and no cgroup v2 "
				       "hierarchy is mounted to look it up in", arg);
	}
	char procs[PATH_MAX + 16];
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	if (access(procs, R_OK) != 0)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--cgroup %s: %s is not a cgroup (it has no "
				       "readable cgroup.procs)", arg, dir);
	struct pid_list list = { 0 };
	struct ai_error *err = walk_cgroup(dir, 0, &list);
	if (!err) {
		if (list.count > 1)
			qsort(list.pids, list.count, sizeof(*list.pids), cmp_int);
		int self = (int)getpid();
		size_t added = 0;
		for (size_t i = 0; i < list.count && !err; i++) {
			if (list.pids[i] == self || (i > 0 && list.pids[i] == list.pids[i - 1]))
				continue;
			err = add_pid(options, list.pids[i]);
			added++;
		}
		if (!err && added == 0)
			err = ai_error_create(AI_ERROR_NOT_FOUND, "--cgroup %s: no process in it (nor in the cgroups "
					      "below it)", arg);
	}
	free(list.pids);
	return err;
}

struct ai_error *ai_target_add_pids(struct ai_target_options *options, int opt, const char *arg)
{
	if (opt == AI_OPT_PGREP)
		return add_pgrep(options, arg);
	if (opt == AI_OPT_CGROUP)
		return add_cgroup(options, arg);
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
