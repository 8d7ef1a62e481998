#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return v && *v ? v : fallback;
}

char *fixture_path(const char *crate, const char *bin)
{
	const char *root = env_or("AI_FIXTURES", "build/fixtures");
	if (strcmp(crate, "c") == 0)
		return xasprintf("%s/c/%s", root, bin);
	return xasprintf("%s/%s/debug/%s", root, crate, bin);
}

void require_fixtures(void)
{
	char *p = fixture_path("c", "hello");
	bool ok = access(p, X_OK) == 0;
	free(p);
	if (!ok)
		cr_skip_test("fixtures not built (run make fixtures, set AI_FIXTURES)");
}

static void spawn(struct fixture *f, const char *crate, const char *bin, const char *const *args, bool with_stdin)
{
	memset(f, 0, sizeof(*f));
	f->in_fd = -1;
	f->path = fixture_path(crate, bin);
	cr_assert(access(f->path, X_OK) == 0, "fixture %s missing", f->path);
	int out[2], in[2] = { -1, -1 };
	cr_assert(pipe(out) == 0);
	if (with_stdin)
		cr_assert(pipe(in) == 0);
	pid_t parent = getpid();
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		dup2(out[1], STDOUT_FILENO);
		close(out[0]);
		close(out[1]);
		if (with_stdin) {
			dup2(in[0], STDIN_FILENO);
			close(in[0]);
			close(in[1]);
		}
		const char *argv[32] = { f->path };
		for (int i = 0; args && args[i] && i < 30; i++)
			argv[i + 1] = args[i];
		execv(f->path, (char *const *)argv);
		_exit(127);
	}
	close(out[1]);
	if (with_stdin) {
		close(in[0]);
		f->in_fd = in[1];
	}
	f->pid = pid;
	f->out = fdopen(out[0], "r");
}

void fixture_spawn(struct fixture *f, const char *crate, const char *bin, const char *const *args)
{
	spawn(f, crate, bin, args, false);
}

void fixture_expect_ready(struct fixture *f)
{
	char line[256];
	cr_assert(fgets(line, sizeof(line), f->out), "fixture %s printed nothing", f->path);
	int ready_pid = 0;
	cr_assert(sscanf(line, "ready %d", &ready_pid) == 1, "fixture %s printed '%s', not ready", f->path, line);
	cr_assert_eq(ready_pid, f->pid);
}

void fixture_start(struct fixture *f, const char *crate, const char *bin, const char *const *args)
{
	spawn(f, crate, bin, args, false);
	fixture_expect_ready(f);
}

void fixture_start_with_stdin(struct fixture *f, const char *crate, const char *bin, const char *const *args)
{
	spawn(f, crate, bin, args, true);
	fixture_expect_ready(f);
}

void fixture_kill(struct fixture *f)
{
	if (f->pid > 0) {
		kill(f->pid, SIGKILL);
		waitpid(f->pid, NULL, 0);
		f->pid = 0;
	}
	if (f->out)
		fclose(f->out);
	if (f->in_fd >= 0)
		close(f->in_fd);
	f->out = NULL;
	f->in_fd = -1;
	free(f->path);
	f->path = NULL;
}

int fixture_wait(struct fixture *f)
{
	int status = -1;
	waitpid(f->pid, &status, 0);
	f->pid = 0;
	return status;
}

char process_state(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	char *stat = ai_read_small_file(path, NULL);
	if (!stat)
		return '?';
	char *paren = strrchr(stat, ')');
	char state = paren && paren[1] && paren[2] ? paren[2] : '?';
	free(stat);
	return state;
}

char process_settles_in(pid_t pid, char want)
{
	char state = process_state(pid);
	for (int i = 0; i < 500 && state != want; i++) {
		usleep(10000);
		state = process_state(pid);
	}
	return state;
}

static char *slurp_fd(int fd)
{
	size_t cap = 4096, len = 0;
	char *buf = xmalloc(cap);
	for (;;) {
		if (len + 1 >= cap)
			buf = xrealloc(buf, cap *= 2);
		ssize_t n = read(fd, buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return buf;
}

static const char *tool_binary(void)
{
	return env_or("AI_BINARY", "build/async-inspect");
}

static void exec_tool(const char *const *args)
{
	const char *argv[64] = { tool_binary() };
	for (int i = 0; args[i] && i < 62; i++)
		argv[i + 1] = args[i];
	execv(argv[0], (char *const *)argv);
	_exit(127);
}

/* Waits for pid at most timeout_s seconds, then kills it. */
static int wait_bounded(pid_t pid, int timeout_s)
{
	int status = 0;
	struct timespec tick = { 0, 2 * 1000 * 1000 };
	for (long waited_us = 0;; waited_us += 2000) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			return status;
		if (waited_us > timeout_s * 1000000L) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			cr_log_error("async-inspect timed out after %d s", timeout_s);
			return status;
		}
		nanosleep(&tick, NULL);
	}
}

void tool_run_input(struct tool_result *r, int timeout_s, const char *input, const char *const *args)
{
	/* Temporary files, not pipes: no risk of a full pipe blocking the tool. */
	char out_name[] = "/tmp/ai-test-out-XXXXXX", err_name[] = "/tmp/ai-test-err-XXXXXX";
	char in_name[] = "/tmp/ai-test-in-XXXXXX";
	int out_fd = mkstemp(out_name), err_fd = mkstemp(err_name), in_fd = mkstemp(in_name);
	cr_assert(out_fd >= 0 && err_fd >= 0 && in_fd >= 0);
	unlink(out_name);
	unlink(err_name);
	unlink(in_name);
	if (input) {
		cr_assert(write(in_fd, input, strlen(input)) == (ssize_t)strlen(input));
		lseek(in_fd, 0, SEEK_SET);
	}
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		dup2(out_fd, STDOUT_FILENO);
		dup2(err_fd, STDERR_FILENO);
		dup2(input ? in_fd : open("/dev/null", O_RDONLY), STDIN_FILENO);
		exec_tool(args);
	}
	r->status = wait_bounded(pid, timeout_s);
	lseek(out_fd, 0, SEEK_SET);
	lseek(err_fd, 0, SEEK_SET);
	r->out = slurp_fd(out_fd);
	r->err = slurp_fd(err_fd);
	close(out_fd);
	close(err_fd);
	close(in_fd);
}

void tool_run(struct tool_result *r, int timeout_s, const char *const *args)
{
	tool_run_input(r, timeout_s, NULL, args);
}

static void spawn_tool(struct tool_process *p, const char *const *args, bool piped)
{
	char err_name[] = "/tmp/ai-test-err-XXXXXX";
	p->err_fd = mkstemp(err_name);
	cr_assert(p->err_fd >= 0);
	unlink(err_name);
	int out[2], in[2] = { -1, -1 };
	cr_assert(pipe(out) == 0);
	cr_assert(!piped || pipe(in) == 0);
	pid_t parent = getpid();
	p->pid = fork();
	cr_assert(p->pid >= 0);
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		dup2(out[1], STDOUT_FILENO);
		dup2(p->err_fd, STDERR_FILENO);
		close(out[0]);
		close(out[1]);
		if (piped) {
			dup2(in[0], STDIN_FILENO);
			close(in[0]);
			close(in[1]);
		}
		exec_tool(args);
	}
	close(out[1]);
	if (piped)
		close(in[0]);
	p->in_fd = in[1];
	p->out = fdopen(out[0], "r");
}

void tool_spawn(struct tool_process *p, const char *const *args)
{
	spawn_tool(p, args, false);
}

void tool_spawn_piped(struct tool_process *p, const char *const *args)
{
	spawn_tool(p, args, true);
}

void tool_finish(struct tool_process *p, int timeout_s, struct tool_result *r)
{
	if (p->in_fd >= 0)
		close(p->in_fd);
	r->status = wait_bounded(p->pid, timeout_s);
	r->out = slurp_fd(fileno(p->out));
	fclose(p->out);
	lseek(p->err_fd, 0, SEEK_SET);
	r->err = slurp_fd(p->err_fd);
	close(p->err_fd);
}

void tool_result_free(struct tool_result *r)
{
	free(r->out);
	free(r->err);
}

int tool_exit_code(const struct tool_result *r)
{
	if (WIFEXITED(r->status))
		return WEXITSTATUS(r->status);
	if (WIFSIGNALED(r->status))
		return 128 + WTERMSIG(r->status);
	return -1;
}

int marker_line(const char *relpath, const char *marker)
{
	char *path = xasprintf("%s/tests/fixtures/%s", env_or("AI_SOURCE", "."), relpath);
	FILE *f = fopen(path, "r");
	cr_assert(f, "cannot open %s", path);
	char line[1024];
	int n = 0, found = 0;
	while (fgets(line, sizeof(line), f)) {
		n++;
		/* A marker ends a line of code; comment-only lines (docs that mention it) do not count. */
		const char *text = line + strspn(line, " \t");
		const char *at = strstr(text, marker);
		if (at && strncmp(text, "//", 2) != 0 && strncmp(text, "/*", 2) != 0 && strncmp(text, "*", 1) != 0 &&
		    strspn(at + strlen(marker), " \t\r\n*/") == strlen(at + strlen(marker))) {
			found = n;
			break;
		}
	}
	fclose(f);
	cr_assert(found, "marker '%s' not found in %s", marker, path);
	free(path);
	return found;
}

/* A tokio fixture crate is in the full matrix unless its Cargo.toml says
 * `matrix = false` under [package.metadata.async-inspect] (a version only partly supported, with
 * tests of its own). */
static bool in_matrix(const char *fixtures, const char *name)
{
	char *path = xasprintf("%s/%s/Cargo.toml", fixtures, name);
	FILE *f = fopen(path, "r");
	free(path);
	if (!f)
		return false;
	char line[256];
	bool yes = true;
	while (fgets(line, sizeof(line), f))
		if (strncmp(line, "matrix = false", strlen("matrix = false")) == 0)
			yes = false;
	fclose(f);
	return yes;
}

const char *const *tokio_versions(void)
{
	static const char *versions[16];
	static bool done;
	if (done)
		return versions;
	char *dir = xasprintf("%s/tests/fixtures", env_or("AI_SOURCE", "."));
	DIR *d = opendir(dir);
	size_t n = 0;
	struct dirent *e;
	while (d && (e = readdir(d)) && n < 15) {
		if (strncmp(e->d_name, "tokio-", 6) == 0 && in_matrix(dir, e->d_name))
			versions[n++] = xstrdup(e->d_name);
	}
	if (d)
		closedir(d);
	free(dir);
	/* Sorted, so that failures read in version order. */
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && strcmp(versions[j - 1], versions[j]) > 0; j--) {
			const char *tmp = versions[j];
			versions[j] = versions[j - 1];
			versions[j - 1] = tmp;
		}
	versions[n] = NULL;
	done = true;
	return versions;
}

int count_substr(const char *haystack, const char *needle)
{
	int n = 0;
	for (const char *p = haystack; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* The length of the tree's bars and spaces at the start of line, if the line continues a frame's
 * line; else 0. */
static size_t continuation_indent(const char *line)
{
	size_t i = 0, columns = 0;
	for (;;) {
		if (line[i] == ' ')
			i++;
		else if (strncmp(line + i, "│", strlen("│")) == 0)
			i += strlen("│");
		else
			break;
		columns++;
	}
	if (columns < 6 || line[i] == '\n' || line[i] == '\0' || strncmp(line + i, "├", strlen("├")) == 0 ||
	    strncmp(line + i, "└", strlen("└")) == 0)
		return 0;
	return i;
}

char *text_unwrapped(const char *text)
{
	size_t len = strlen(text);
	char *out = xmalloc(len + 1), *o = out;
	for (const char *line = text; *line;) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line);
		size_t skip = o > out && o[-1] == '\n' ? continuation_indent(line) : 0;
		if (skip) {
			o--; /* the newline before it */
			/* a list's comma, a sentence's space (a wait goes on at a word), else two */
			const char *join = o > out && o[-1] == ',' ? " " : o > out && o[-1] == ' ' ? "" : "  ";
			memcpy(o, join, strlen(join)); /* never longer than the indent it replaces */
			o += strlen(join);
		}
		memcpy(o, line + skip, n - skip);
		o += n - skip;
		if (end)
			*o++ = '\n';
		line = end ? end + 1 : line + n;
	}
	*o = '\0';
	return out;
}

void tool_result_unwrap(struct tool_result *r)
{
	char *joined = text_unwrapped(r->out);
	free(r->out);
	r->out = joined;
}

size_t widest_line(const char *text, char **line_ret)
{
	size_t widest = 0;
	const char *at = text;
	size_t at_len = 0;
	for (const char *line = text; *line;) {
		const char *end = strchr(line, '\n');
		size_t n = end ? (size_t)(end - line) : strlen(line), columns = 0;
		for (size_t i = 0; i < n; i++)
			columns += ((unsigned char)line[i] & 0xc0) != 0x80;
		if (columns > widest) {
			widest = columns;
			at = line;
			at_len = n;
		}
		line = end ? end + 1 : line + n;
	}
	if (line_ret)
		*line_ret = xstrndup(at, at_len);
	return widest;
}

void dump_fixture(struct fixture *f, const char *format, struct tool_result *r)
{
	char *pid = xasprintf("%d", (int)f->pid);
	tool_run(r, 120, (const char *[]){ "dump", "--pid", pid, "--format", format, NULL });
	free(pid);
	cr_assert_eq(tool_exit_code(r), 0, "dump --format %s: %s", format, r->err);
	cr_expect_eq(process_settles_in(f->pid, 'S'), 'S', "the fixture was left running");
}

int tracer_pid(pid_t pid)
{
	char *path = xasprintf("/proc/%d/status", (int)pid);
	char *text = ai_read_small_file(path, NULL);
	free(path);
	const char *t = text ? strstr(text, "TracerPid:") : NULL;
	int tracer = t ? atoi(t + strlen("TracerPid:")) : -1;
	free(text);
	return tracer;
}

void core_dump(struct core_file *c, const struct fixture *f)
{
	snprintf(c->dir, sizeof(c->dir), "/tmp/ai-core-XXXXXX");
	cr_assert(mkdtemp(c->dir));
	char *cmd = xasprintf("gcore -o %s/core %d >/dev/null 2>&1", c->dir, (int)f->pid);
	cr_assert_eq(system(cmd), 0, "gcore failed");
	free(cmd);
	c->path = xasprintf("%s/core.%d", c->dir, (int)f->pid);
}

void core_remove(struct core_file *c)
{
	char *rm = xasprintf("rm -rf %s", c->dir);
	cr_expect_eq(system(rm), 0);
	free(rm);
	free(c->path);
	c->path = NULL;
}

const char *dot_edge(const char *dot, const char *a, const char *b, const char *label)
{
	char *needle = xasprintf("  %s -> %s [label=\"%s\"", a, b, label);
	const char *p = strstr(dot, needle);
	free(needle);
	return p;
}

char *dot_node(const char *dot, const char *label)
{
	char *needle = xasprintf("label=\"%s", label);
	const char *p = strstr(dot, needle);
	free(needle);
	if (!p)
		return NULL;
	const char *line = p;
	while (line > dot && line[-1] != '\n')
		line--;
	while (*line == ' ')
		line++;
	size_t n = strcspn(line, " ");
	return strndup(line, n);
}

/* The kernel serializes uprobe registration and removal (one mutex for all trace events), so
 * profiles side by side only wait on each other, and ones of the same fixture binary see each
 * other's system-wide probes: one test with probes at a time, across the test processes of every
 * suite run on this machine. The lock goes with the test's process. */
void lock_profile_tests(void)
{
	const char *dir = getenv("TMPDIR");
	char *path = xasprintf("%s/async-inspect-profile-tests.lock", dir && *dir ? dir : "/tmp");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	cr_assert(fd >= 0, "open %s: %s", path, strerror(errno));
	while (flock(fd, LOCK_EX) < 0)
		cr_assert_eq(errno, EINTR, "flock %s: %s", path, strerror(errno));
	free(path);
}

/* The bytes of the code mappings of file exe (an executable or a library) in process pid that
 * differ from the file's: an int3 left behind shows here. */
size_t code_bytes_changed(pid_t pid, const char *exe)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	FILE *maps = fopen(path, "r");
	cr_assert(maps, "cannot read %s", path);
	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	FILE *mem = NULL;
	/* Opening it can fail for a moment while the tool holds the process (seen under load): retry. */
	for (int i = 0; i < 100 && !(mem = fopen(path, "r")); i++)
		usleep(10000);
	FILE *file = fopen(exe, "r");
	cr_assert(mem && file, "cannot open %s (%s) or %s", path, strerror(errno), exe);
	char line[1024], exe_real[1024], real[1024];
	cr_assert(realpath(exe, exe_real));
	size_t changed = 0, compared = 0;
	while (fgets(line, sizeof(line), maps)) {
		unsigned long lo, hi, offset;
		char perms[8], name[512] = "";
		if (sscanf(line, "%lx-%lx %7s %lx %*s %*s %511s", &lo, &hi, perms, &offset, name) < 4 || perms[2] != 'x')
			continue;
		if (!realpath(name, real) || strcmp(real, exe_real) != 0)
			continue;
		size_t size = hi - lo;
		unsigned char *a = xmalloc(size), *b = xcalloc(1, size);
		cr_assert(fseek(mem, (long)lo, SEEK_SET) == 0 && fread(a, 1, size, mem) == size, "cannot read the code at %#lx", lo);
		cr_assert(fseek(file, (long)offset, SEEK_SET) == 0);
		size_t n = fread(b, 1, size, file); /* the mapping's last page may pass the file's end */
		for (size_t i = 0; i < n; i++)
			changed += a[i] != b[i];
		compared += n;
		free(a);
		free(b);
	}
	fclose(maps);
	fclose(mem);
	fclose(file);
	cr_assert(compared > 0, "no code mapping of %s found in process %d", exe, (int)pid);
	return changed;
}
