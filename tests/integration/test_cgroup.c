/* --cgroup PATH: every process of a cgroup and of the cgroups below it. The test makes a cgroup of
 * its own under the cgroup v2 mount when this machine lets it (root, a writable hierarchy), and
 * skips, saying why, when it does not. */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"

/* The cgroup v2 mount point, or false. */
static bool cgroup2_mount(char *buf, size_t size)
{
	FILE *f = fopen("/proc/self/mountinfo", "r");
	if (!f)
		return false;
	char line[4096];
	bool found = false;
	while (!found && fgets(line, sizeof(line), f)) {
		char *sep = strstr(line, " - ");
		char mountpoint[PATH_MAX];
		if (sep && strncmp(sep + 3, "cgroup2 ", 8) == 0 &&
		    sscanf(line, "%*s %*s %*s %*s %4095s", mountpoint) == 1 && strlen(mountpoint) < size) {
			strcpy(buf, mountpoint);
			found = true;
		}
	}
	fclose(f);
	return found;
}

static bool move_to(const char *dir, pid_t pid)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	FILE *f = fopen(path, "w");
	if (!f)
		return false;
	bool ok = fprintf(f, "%d\n", (int)pid) > 0;
	return fclose(f) == 0 && ok;
}

Test(cgroup, every_process_of_a_cgroup_and_below)
{
	require_fixtures();
	char mount[PATH_MAX / 2], top[PATH_MAX / 2 + 64], sub[PATH_MAX], name[64];
	if (!cgroup2_mount(mount, sizeof(mount)))
		cr_skip_test("no cgroup v2 hierarchy is mounted here");
	snprintf(name, sizeof(name), "ai-test-%d", (int)getpid());
	snprintf(top, sizeof(top), "%s/%s", mount, name);
	snprintf(sub, sizeof(sub), "%s/inner", top);
	if (mkdir(top, 0755) != 0)
		cr_skip_test("cannot make a cgroup under %s: %s", mount, strerror(errno));
	cr_assert(mkdir(sub, 0755) == 0, "mkdir %s: %s", sub, strerror(errno));

	struct fixture a, b;
	fixture_start(&a, "tokio-1.54", "nested", NULL);
	fixture_start(&b, "tokio-1.54", "nested", NULL);
	bool moved = move_to(top, a.pid) && move_to(sub, b.pid);
	struct tool_result r = { 0 };
	if (moved) {
		/* As a directory, then relative to the mount, as a unit would be named. */
		const char *args[] = { "dump", "--cgroup", top, "--format", "json", NULL };
		tool_run(&r, 60, args);
	}
	pid_t pid_a = a.pid, pid_b = b.pid;
	fixture_kill(&a);
	fixture_kill(&b);
	if (!moved) {
		rmdir(sub);
		rmdir(top);
		cr_skip_test("cannot move a process into %s (cgroup.procs not writable here)", top);
	}
	cr_expect_eq(tool_exit_code(&r), 0, "%s", r.err);
	char want[32];
	snprintf(want, sizeof(want), "\"pid\":%d,", (int)pid_a);
	cr_expect(strstr(r.out, want), "the cgroup's own process %d is missing: %s", (int)pid_a, r.out);
	snprintf(want, sizeof(want), "\"pid\":%d,", (int)pid_b);
	cr_expect(strstr(r.out, want), "the process %d of the cgroup below is missing: %s", (int)pid_b, r.out);
	tool_result_free(&r);

	/* Both have exited: an empty cgroup is an error naming it; PATH relative to the mount. */
	const char *empty_args[] = { "dump", "--cgroup", name, NULL };
	tool_run(&r, 30, empty_args);
	cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
	char msg[128];
	snprintf(msg, sizeof(msg), "--cgroup %s: no process in it", name);
	cr_expect(strstr(r.err, msg), "%s", r.err);
	tool_result_free(&r);
	cr_expect(rmdir(sub) == 0, "rmdir %s: %s", sub, strerror(errno));
	cr_expect(rmdir(top) == 0, "rmdir %s: %s", top, strerror(errno));
}

Test(cgroup, not_a_cgroup)
{
	struct tool_result r = { 0 };
	const char *args[] = { "dump", "--cgroup", "/tmp", NULL };
	tool_run(&r, 30, args);
	cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
	cr_expect(strstr(r.err, "--cgroup /tmp: /tmp is not a cgroup (it has no readable cgroup.procs)"), "%s", r.err);
	tool_result_free(&r);
	const char *none_args[] = { "dump", "--cgroup", "no-such.slice/none.service", NULL };
	tool_run(&r, 30, none_args);
	cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
	cr_expect(strstr(r.err, "--cgroup no-such.slice/none.service: no such"), "%s", r.err);
	tool_result_free(&r);
}
