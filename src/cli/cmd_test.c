/* `async-inspect test`: builds a crate's test binaries with cargo, runs each under inspection with
 * its output forwarded unchanged, and when a test runs longer than --timeout prints where it is
 * stuck (its block_on await tree, its native stack, the binary's tasks and deadlocks), kills that
 * binary and goes on with the tests that have not run yet.
 *
 * Mapping hung threads to tests: libtest runs every test on a thread named after it; the kernel
 * keeps only the first 15 bytes of a thread name (/proc/.../comm). We list the binary's tests first
 * (`--list`) and match a thread to the pending tests whose name starts with its comm. A thread's age
 * is measured from when we first saw it in /proc/PID/task (polled every 100 ms). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/capture.h"
#include "ai/cli.h"
#include "ai/frontend.h"
#include "ai/user_code.h"
#include "ai/util.h"

#define COMM_MAX 15 /* TASK_COMM_LEN - 1 */

static void print_usage(FILE *out)
{
	fprintf(out,
		"Usage: async-inspect test [OPTIONS] [-- CARGO-TEST-ARGS... [-- TEST-BINARY-ARGS...]]\n"
		"\n"
		"Build the test binaries of a crate (cargo test --no-run) in the current directory,\n"
		"run each under inspection with its output unchanged, and when a test runs longer than\n"
		"the timeout, print where it is stuck (await trees with file:line, native stack,\n"
		"tasks, deadlocks), stop that binary and go on with the tests not run yet.\n"
		"\n"
		"Options:\n"
		"      --timeout DURATION  a test that runs longer hangs (default 60s; e.g. 500ms, 5s, 2m)\n"
		"      --fail-on-hang      accepted for symmetry with `run`: a hang always fails `test`\n"
		"      --trace-out FILE    write the JSON snapshot of every hang to FILE (one per line)\n"
		"      --debug-dir DIR     also look for separate debug files in DIR (see dump --help)\n"
		"      --user-crate NAME   count crate NAME's code as the program's own (see dump --help)\n"
		"      --color WHEN        auto (default: on a terminal), always or never\n"
		"  -h, --help              show this help\n"
		"\n"
		"Exit status: 0 all tests passed, 101 some failed (none hung), 124 some test hung,\n"
		"1 error (or cargo's own status when the build failed), 2 bad command line.\n");
}

enum test_state { T_PENDING, T_PASSED, T_FAILED, T_IGNORED, T_HUNG };

struct test_case {
	char *name;
	enum test_state state;
};

/* One run of a test binary: its tests, and the output scanner's results. */
struct binary_run {
	struct test_case *tests;
	size_t test_count, test_capacity;
	pthread_mutex_t lock; /* tests[].state and the counters, shared with the reader thread */
	int passed, failed, ignored;
	int fd;               /* the read end of the binary's stdout pipe */
};

struct totals {
	int passed, failed, ignored, hung;
	bool error;
};

static struct {
	uint64_t timeout_ms;
	FILE *trace;
	bool color;
} cfg = { .timeout_ms = 60000 };

/* ---- small process helpers ---- */

/* Runs argv (in dir when not NULL) with stdout captured into *out_ret; stderr stays ours. Returns
 * the wait status, or -1 if it could not be started. */
static int run_capture(char *const argv[], const char *dir, char **out_ret)
{
	int fds[2];
	*out_ret = NULL;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		if (dir && chdir(dir) < 0)
			_exit(127);
		execvp(argv[0], argv);
		fprintf(stderr, "async-inspect: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	size_t len = 0, cap = 4096;
	char *buf = xmalloc(cap);
	for (;;) {
		if (len + 1 >= cap)
			buf = xrealloc(buf, cap *= 2);
		ssize_t n = read(fds[0], buf + len, cap - len - 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	close(fds[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR) {
			status = -1;
			break;
		}
	}
	*out_ret = buf;
	return status;
}

/* ---- the output scanner ---- */

static void note_result_line(struct binary_run *run, const char *line)
{
	if (strncmp(line, "test ", 5) != 0 || strncmp(line, "test result:", 12) == 0)
		return;
	const char *sep = strstr(line + 5, " ... ");
	if (!sep)
		return;
	const char *result = sep + 5;
	size_t name_len = (size_t)(sep - (line + 5));
	enum test_state state;
	if (strncmp(result, "ok", 2) == 0)
		state = T_PASSED;
	else if (strncmp(result, "FAILED", 6) == 0)
		state = T_FAILED;
	else if (strncmp(result, "ignored", 7) == 0)
		state = T_IGNORED;
	else
		return;
	pthread_mutex_lock(&run->lock);
	for (size_t i = 0; i < run->test_count; i++) {
		struct test_case *t = &run->tests[i];
		if (t->state == T_PENDING && strlen(t->name) == name_len && memcmp(t->name, line + 5, name_len) == 0) {
			t->state = state;
			break;
		}
	}
	run->passed += state == T_PASSED;
	run->failed += state == T_FAILED;
	run->ignored += state == T_IGNORED;
	pthread_mutex_unlock(&run->lock);
}

/* Copies the binary's stdout to ours unchanged, and notes every `test NAME ... RESULT` line. */
static void *reader_main(void *arg)
{
	struct binary_run *run = arg;
	char buf[8192];
	char *line = NULL;
	size_t line_len = 0, line_cap = 0;
	for (;;) {
		ssize_t n = read(run->fd, buf, sizeof(buf));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		flockfile(stdout);
		fwrite_unlocked(buf, 1, (size_t)n, stdout);
		fflush_unlocked(stdout);
		funlockfile(stdout);
		for (ssize_t i = 0; i < n; i++) {
			if (buf[i] == '\n') {
				AI_GROW(line, line_cap, line_len + 1);
				line[line_len] = '\0';
				note_result_line(run, line);
				line_len = 0;
				continue;
			}
			AI_GROW(line, line_cap, line_len + 2);
			line[line_len++] = buf[i];
		}
	}
	free(line);
	return NULL;
}

/* ---- hung threads ---- */

struct seen_thread {
	pid_t tid;
	uint64_t first_seen_us;
	char comm[32];
	bool present;
};

struct thread_table {
	struct seen_thread *items;
	size_t count, capacity;
};

static void refresh_threads(struct thread_table *table, pid_t pid, uint64_t now)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *dir = opendir(path);
	if (!dir)
		return;
	for (size_t i = 0; i < table->count; i++)
		table->items[i].present = false;
	struct dirent *de;
	while ((de = readdir(dir))) {
		pid_t tid = (pid_t)atoi(de->d_name);
		if (tid <= 0)
			continue;
		struct seen_thread *t = NULL;
		for (size_t i = 0; i < table->count; i++) {
			if (table->items[i].tid == tid)
				t = &table->items[i];
		}
		if (!t) {
			AI_GROW(table->items, table->capacity, table->count + 1);
			t = &table->items[table->count++];
			*t = (struct seen_thread){ .tid = tid, .first_seen_us = now };
		}
		t->present = true;
		/* The name may change after the thread starts (libtest names it at spawn, but read it
		 * every time: it is cheap). */
		char comm_path[96];
		snprintf(comm_path, sizeof(comm_path), "/proc/%d/task/%d/comm", (int)pid, (int)tid);
		char *comm = ai_read_small_file(comm_path, NULL);
		if (comm) {
			comm[strcspn(comm, "\n")] = '\0';
			snprintf(t->comm, sizeof(t->comm), "%s", comm);
			free(comm);
		}
	}
	closedir(dir);
	size_t kept = 0;
	for (size_t i = 0; i < table->count; i++) {
		if (table->items[i].present)
			table->items[kept++] = table->items[i];
	}
	table->count = kept;
}

/* Whether a thread named comm may run the test `name` (comm is the name cut to 15 bytes). */
static bool comm_matches(const char *comm, const char *name)
{
	size_t c = strlen(comm), n = strlen(name);
	if (c == 0 || strncmp(comm, name, c) != 0)
		return false;
	return c == n || (n > COMM_MAX && c >= COMM_MAX - 3); /* cut at a character boundary */
}

struct hang {
	pid_t tid;
	size_t test;     /* index into run->tests */
	uint64_t age_us;
	char *also;      /* other pending tests the truncated name could be, or NULL */
};

/* The threads older than the timeout that run a pending test, each assigned one test. */
static size_t find_hangs(struct binary_run *run, struct thread_table *table, uint64_t now, struct hang **ret)
{
	struct hang *hangs = NULL;
	size_t count = 0, cap = 0;
	pthread_mutex_lock(&run->lock);
	for (size_t i = 0; i < table->count; i++) {
		struct seen_thread *t = &table->items[i];
		if (now - t->first_seen_us < cfg.timeout_ms * 1000)
			continue;
		ssize_t chosen = -1;
		char *also = NULL;
		for (size_t k = 0; k < run->test_count; k++) {
			struct test_case *tc = &run->tests[k];
			if (tc->state != T_PENDING || !comm_matches(t->comm, tc->name))
				continue;
			bool taken = false;
			for (size_t h = 0; h < count; h++)
				taken |= hangs[h].test == k;
			if (taken)
				continue;
			if (chosen < 0) {
				chosen = (ssize_t)k;
			} else {
				char *more = xasprintf("%s%s%s", also ? also : "", also ? ", " : "", tc->name);
				free(also);
				also = more;
			}
		}
		if (chosen < 0)
			continue;
		AI_GROW(hangs, cap, count + 1);
		hangs[count++] = (struct hang){ t->tid, (size_t)chosen, now - t->first_seen_us, also };
	}
	pthread_mutex_unlock(&run->lock);
	*ret = hangs;
	return count;
}

/* Prints `view`: a shallow copy of s with only the tasks for which keep[i] holds, and the
 * deadlocks among them. Frees only what it allocated. */
static void print_tasks_subset(const struct ai_snapshot *s, const bool *keep, bool warnings,
			       const struct ai_text_options *text)
{
	struct ai_snapshot view = *s;
	size_t *map = xcalloc(s->task_count + 1, sizeof(*map));
	view.tasks = xcalloc(s->task_count + 1, sizeof(*view.tasks));
	view.task_count = 0;
	for (size_t i = 0; i < s->task_count; i++) {
		map[i] = SIZE_MAX;
		if (keep[i]) {
			map[i] = view.task_count;
			view.tasks[view.task_count++] = s->tasks[i];
		}
	}
	view.deadlocks = xcalloc(s->deadlock_count + 1, sizeof(*view.deadlocks));
	view.deadlock_count = 0;
	for (size_t i = 0; i < s->deadlock_count; i++) {
		const struct ai_deadlock *d = &s->deadlocks[i];
		bool all = true;
		for (size_t k = 0; k < d->count; k++)
			all &= map[d->tasks[k]] != SIZE_MAX;
		if (!all)
			continue;
		struct ai_deadlock *nd = &view.deadlocks[view.deadlock_count++];
		nd->count = d->count;
		nd->tasks = xcalloc(d->count, sizeof(*nd->tasks));
		nd->edges = xcalloc(d->count, sizeof(*nd->edges));
		for (size_t k = 0; k < d->count; k++) {
			nd->tasks[k] = map[d->tasks[k]];
			nd->edges[k] = d->edges[k];
			nd->edges[k].from = map[d->edges[k].from];
			nd->edges[k].to = map[d->edges[k].to];
		}
	}
	if (!warnings)
		view.warning_count = 0;
	ai_print_dump_text(stdout, &view, text);
	for (size_t i = 0; i < view.deadlock_count; i++) {
		free(view.deadlocks[i].tasks);
		free(view.deadlocks[i].edges);
	}
	free(view.deadlocks);
	free(view.tasks);
	free(map);
}

static void format_duration(char *buf, size_t size, uint64_t us)
{
	snprintf(buf, size, "%.1fs", (double)us / 1e6);
}

/* Dumps the binary, and prints for each hang its test's name, await tree and native stack, then
 * the binary's spawned tasks and deadlocks. */
static void report_hangs(struct ai_target *target, struct binary_run *run, struct hang *hangs, size_t count)
{
	struct ai_capture *capture;
	struct ai_snapshot *snapshot = NULL;
	struct ai_error *err = ai_capture_create(target, &capture);
	if (!err) {
		err = ai_capture_dump(capture, AI_CAPTURE_RESUME, NULL, &snapshot);
		ai_capture_destroy(capture);
	}
	struct ai_text_options text = { .color = cfg.color, .locals = true };
	char timeout[32];
	format_duration(timeout, sizeof(timeout), cfg.timeout_ms * 1000);
	flockfile(stdout);
	for (size_t h = 0; h < count; h++) {
		const char *name = run->tests[hangs[h].test].name;
		char age[32];
		format_duration(age, sizeof(age), hangs[h].age_us);
		printf("\n%s==== HUNG: %s%s (running for %s, timeout %s; thread %d)\n", text.color ? "\033[1;31m" : "",
		       name, text.color ? "\033[0m" : "", age, timeout, (int)hangs[h].tid);
		if (hangs[h].also)
			printf("(the kernel keeps 15 bytes of a thread name: this may also be %s)\n", hangs[h].also);
		if (!snapshot)
			continue;
		bool *keep = xcalloc(snapshot->task_count + 1, sizeof(*keep));
		size_t on_thread = 0;
		for (size_t i = 0; i < snapshot->task_count; i++) {
			const struct ai_snapshot_task *t = &snapshot->tasks[i];
			keep[i] = strcmp(t->kind, "block_on") == 0 && t->thread == hangs[h].tid;
			on_thread += keep[i];
		}
		if (on_thread) {
			printf("\nIts future (block_on on the test's thread):\n\n");
			print_tasks_subset(snapshot, keep, false, &text);
		}
		free(keep);
		for (size_t i = 0; i < snapshot->thread_count; i++) {
			if (snapshot->threads[i].tid != hangs[h].tid)
				continue;
			struct ai_snapshot view = *snapshot;
			view.threads = &snapshot->threads[i];
			view.thread_count = 1;
			printf("\nIts thread's native stack:\n\n");
			ai_print_threads_text(stdout, &view, &text);
		}
	}
	if (snapshot) {
		bool *keep = xcalloc(snapshot->task_count + 1, sizeof(*keep));
		for (size_t i = 0; i < snapshot->task_count; i++)
			keep[i] = strcmp(snapshot->tasks[i].kind, "block_on") != 0;
		printf("\n==== Tasks of %s:\n\n", snapshot->exe ? snapshot->exe : "the test binary");
		print_tasks_subset(snapshot, keep, true, &text);
		free(keep);
		putchar('\n');
	} else {
		fflush(stdout);
		fputs("async-inspect: cannot dump the test binary: ", stderr);
		ai_error_print(err, stderr);
		ai_error_destroy(err);
	}
	fflush(stdout);
	funlockfile(stdout);
	if (snapshot && cfg.trace) {
		json_t *doc = ai_dump_json(snapshot);
		json_t *names = json_array();
		for (size_t h = 0; h < count; h++)
			json_array_append_new(names, json_string(run->tests[hangs[h].test].name));
		json_object_set_new(doc, "hung_tests", names);
		json_dumpf(doc, cfg.trace, JSON_COMPACT | JSON_PRESERVE_ORDER);
		fputc('\n', cfg.trace);
		fflush(cfg.trace);
		json_decref(doc);
	}
	ai_snapshot_destroy(snapshot);
}

/* ---- running one binary ---- */

/* The names of the binary's tests (`BIN --list` with the user's test arguments). */
static bool list_tests(const char *exe, const char *dir, char **test_args, int test_argc, struct binary_run *run)
{
	char **argv = xcalloc((size_t)test_argc + 3, sizeof(*argv));
	argv[0] = (char *)exe;
	int n = 1;
	for (int i = 0; i < test_argc; i++)
		argv[n++] = test_args[i];
	argv[n++] = "--list";
	char *out;
	int status = run_capture(argv, dir, &out);
	free(argv);
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		free(out);
		return false;
	}
	for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
		char *suffix = strstr(line, ": test");
		if (!suffix || strcmp(suffix, ": test") != 0)
			continue;
		AI_GROW(run->tests, run->test_capacity, run->test_count + 1);
		run->tests[run->test_count++] = (struct test_case){ xstrndup(line, (size_t)(suffix - line)), T_PENDING };
	}
	free(out);
	return true;
}

/* Libtest options that take their value as the next argument. */
static bool takes_value(const char *arg)
{
	static const char *const with_value[] = { "--test-threads", "--skip", "--format", "--color", "--logfile",
						  "-Z", "--shuffle-seed", "--report-time" };
	for (size_t i = 0; i < AI_ARRAY_SIZE(with_value); i++) {
		if (strcmp(arg, with_value[i]) == 0)
			return strcmp(arg, "--report-time") != 0;
	}
	return false;
}

/* Runs the binary once: with the user's arguments the first time, then (after a hang) with the
 * user's options, --exact and the names of the tests not run yet. Returns false when it must not
 * be run again (no hang, or an error). */
static bool run_once(const char *exe, const char *dir, char **test_args, int test_argc, struct binary_run *run,
		     bool first, struct totals *totals)
{
	size_t argc = 0;
	char **argv = xcalloc((size_t)test_argc + run->test_count + 3, sizeof(*argv));
	argv[argc++] = (char *)exe;
	for (int i = 0; i < test_argc; i++) {
		if (first || test_args[i][0] == '-') {
			argv[argc++] = test_args[i];
			if (!first && takes_value(test_args[i]) && i + 1 < test_argc)
				argv[argc++] = test_args[++i];
		}
	}
	if (!first) {
		argv[argc++] = "--exact";
		for (size_t i = 0; i < run->test_count; i++) {
			if (run->tests[i].state == T_PENDING)
				argv[argc++] = run->tests[i].name;
		}
	}

	int fds[2];
	if (pipe2(fds, O_CLOEXEC) < 0) {
		free(argv);
		totals->error = true;
		return false;
	}
	/* The binary's stdout is our pipe; we restore ours at once (the reader does not run yet). */
	fflush(stdout);
	int saved = dup(STDOUT_FILENO);
	int cwd = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	dup2(fds[1], STDOUT_FILENO);
	if (dir && chdir(dir) < 0) { /* cargo runs tests in the package's directory */
	}
	struct ai_target *target;
	struct ai_error *err = ai_target_launch(argv, &target);
	if (cwd >= 0) {
		if (fchdir(cwd) < 0) {
		}
		close(cwd);
	}
	dup2(saved, STDOUT_FILENO);
	close(saved);
	close(fds[1]);
	free(argv);
	if (err) {
		close(fds[0]);
		totals->error = true;
		ai_fail(err);
		return false;
	}
	ai_target_forward_signals(target->pid);

	run->fd = fds[0];
	run->passed = run->failed = run->ignored = 0;
	pthread_t reader;
	pthread_create(&reader, NULL, reader_main, run);

	struct thread_table table = { 0 };
	struct hang *hangs = NULL;
	size_t hang_count = 0;
	enum ai_run_event event;
	int status = 0;
	for (;;) {
		err = ai_target_run(target, 100, &event, &status);
		if (err || event == AI_RUN_EXITED)
			break;
		uint64_t now = ai_now_us();
		refresh_threads(&table, target->pid, now);
		hang_count = find_hangs(run, &table, now, &hangs);
		if (hang_count) {
			report_hangs(target, run, hangs, hang_count);
			kill(target->pid, SIGKILL);
			while (!(err = ai_target_run(target, -1, &event, &status)) && event != AI_RUN_EXITED)
				;
			break;
		}
		free(hangs);
		hangs = NULL;
	}
	if (err) {
		totals->error = true;
		ai_fail(err);
		kill(target->pid, SIGKILL);
	}
	ai_target_destroy(target);
	pthread_join(reader, NULL);
	close(fds[0]);

	pthread_mutex_lock(&run->lock);
	for (size_t h = 0; h < hang_count; h++)
		run->tests[hangs[h].test].state = T_HUNG;
	totals->passed += run->passed;
	totals->failed += run->failed;
	totals->ignored += run->ignored;
	totals->hung += (int)hang_count;
	pthread_mutex_unlock(&run->lock);
	if (!err && !hang_count && !(WIFEXITED(status) && (WEXITSTATUS(status) == 0 || WEXITSTATUS(status) == 101))) {
		fprintf(stderr, "async-inspect: %s ended with status %d\n", exe,
			WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
		totals->error = true;
	}
	bool again = false;
	for (size_t i = 0; i < run->test_count; i++)
		again |= run->tests[i].state == T_PENDING;
	for (size_t h = 0; h < hang_count; h++)
		free(hangs[h].also);
	free(hangs);
	free(table.items);
	return !err && hang_count && again;
}

static void run_binary(const char *exe, const char *dir, char **test_args, int test_argc, struct totals *totals)
{
	struct binary_run run = { 0 };
	pthread_mutex_init(&run.lock, NULL);
	if (!list_tests(exe, dir, test_args, test_argc, &run)) {
		fprintf(stderr, "async-inspect: cannot list the tests of %s\n", exe);
		totals->error = true;
	} else {
		fflush(stdout);
		fprintf(stderr, "     Running %s (under async-inspect)\n", exe);
		bool first = true;
		while (run_once(exe, dir, test_args, test_argc, &run, first, totals)) {
			first = false;
			fflush(stdout);
			fprintf(stderr, "     Running %s again for the tests not run yet\n", exe);
		}
	}
	for (size_t i = 0; i < run.test_count; i++)
		free(run.tests[i].name);
	free(run.tests);
	pthread_mutex_destroy(&run.lock);
}

/* ---- cargo ---- */

struct artifact {
	char *exe;
	char *dir;
};

/* Builds the tests; returns cargo's wait status and the test executables. */
static int build_tests(char **cargo_args, int cargo_argc, struct artifact **ret, size_t *count_ret)
{
	char **argv = xcalloc((size_t)cargo_argc + 5, sizeof(*argv));
	int n = 0;
	argv[n++] = "cargo";
	argv[n++] = "test";
	argv[n++] = "--no-run";
	argv[n++] = "--message-format=json-render-diagnostics";
	for (int i = 0; i < cargo_argc; i++)
		argv[n++] = cargo_args[i];
	char *out;
	int status = run_capture(argv, NULL, &out);
	free(argv);
	struct artifact *items = NULL;
	size_t count = 0, cap = 0;
	for (char *line = out ? strtok(out, "\n") : NULL; line; line = strtok(NULL, "\n")) {
		json_t *msg = json_loads(line, 0, NULL);
		if (!msg)
			continue;
		const char *reason = json_string_value(json_object_get(msg, "reason"));
		const char *exe = json_string_value(json_object_get(msg, "executable"));
		json_t *profile = json_object_get(msg, "profile");
		const char *manifest = json_string_value(json_object_get(msg, "manifest_path"));
		if (reason && strcmp(reason, "compiler-artifact") == 0 && exe &&
		    json_is_true(json_object_get(profile, "test"))) {
			AI_GROW(items, cap, count + 1);
			char *dir = NULL;
			if (manifest && strrchr(manifest, '/'))
				dir = xstrndup(manifest, (size_t)(strrchr(manifest, '/') - manifest));
			items[count++] = (struct artifact){ xstrdup(exe), dir };
		}
		json_decref(msg);
	}
	free(out);
	*ret = items;
	*count_ret = count;
	return status;
}

int ai_cmd_test(int argc, char **argv)
{
	static const struct option long_options[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "fail-on-hang", no_argument, NULL, 'F' },
		{ "trace-out", required_argument, NULL, 'o' },
		{ "color", required_argument, NULL, 'C' },
		{ "debug-dir", required_argument, NULL, 'D' },
		{ "user-crate", required_argument, NULL, 'U' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *trace_path = NULL;
	struct ai_error *err;
	int opt;
	optind = 1;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "+h", long_options, NULL)) != -1) {
		switch (opt) {
		case 't':
			if ((err = ai_parse_duration(optarg, &cfg.timeout_ms)))
				return ai_fail(err);
			if (cfg.timeout_ms == 0)
				return ai_usage_error("test", "the timeout must be more than 0");
			break;
		case 'F':
			break;
		case 'o':
			trace_path = optarg;
			break;
		case 'C':
			ai_color_option = optarg;
			break;
		case 'D':
			if ((err = ai_parse_debug_dir(optarg)))
				return ai_fail(err);
			break;
		case 'U':
			ai_user_code_add_crate(optarg);
			break;
		case 'h':
			print_usage(stdout);
			return AI_EXIT_OK;
		default:
			return ai_usage_error("test", "unknown or incomplete option '%s'", argv[optind - 1]);
		}
	}
	/* getopt stops after "--"; what follows is cargo's, up to a second "--" (the test binaries'). */
	char **cargo_args = argv + optind;
	int cargo_argc = argc - optind;
	char **test_args = NULL;
	int test_argc = 0;
	for (int i = 0; i < cargo_argc; i++) {
		if (strcmp(cargo_args[i], "--") == 0) {
			test_args = cargo_args + i + 1;
			test_argc = cargo_argc - i - 1;
			cargo_argc = i;
			break;
		}
	}
	if (cargo_argc > 0 && optind > 0 && strcmp(argv[optind - 1], "--") != 0)
		return ai_usage_error("test", "unexpected argument '%s' (cargo's arguments go after --)", cargo_args[0]);
	cfg.color = ai_use_color(stdout);
	if (trace_path && !(cfg.trace = fopen(trace_path, "w"))) {
		fprintf(stderr, "async-inspect: cannot write %s: %s\n", trace_path, strerror(errno));
		return AI_EXIT_FAILURE;
	}

	struct artifact *artifacts;
	size_t artifact_count;
	int status = build_tests(cargo_args, cargo_argc, &artifacts, &artifact_count);
	int code = AI_EXIT_OK;
	if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "async-inspect: cargo test --no-run failed\n");
		code = status != -1 && WIFEXITED(status) && WEXITSTATUS(status) != 0 ? WEXITSTATUS(status)
										       : AI_EXIT_FAILURE;
	} else {
		ai_target_install_signal_handlers();
		struct totals totals = { 0 };
		for (size_t i = 0; i < artifact_count; i++)
			run_binary(artifacts[i].exe, artifacts[i].dir, test_args, test_argc, &totals);
		fflush(stdout);
		printf("\nasync-inspect test: %d passed, %d failed, %d hung", totals.passed, totals.failed, totals.hung);
		if (totals.ignored)
			printf(", %d ignored", totals.ignored);
		printf(" (%zu test binar%s)\n", artifact_count, artifact_count == 1 ? "y" : "ies");
		fflush(stdout);
		if (totals.hung)
			code = AI_EXIT_HANG;
		else if (totals.failed)
			code = AI_EXIT_TESTS_FAILED;
		else if (totals.error)
			code = AI_EXIT_FAILURE;
	}
	for (size_t i = 0; i < artifact_count; i++) {
		free(artifacts[i].exe);
		free(artifacts[i].dir);
	}
	free(artifacts);
	if (cfg.trace)
		fclose(cfg.trace);
	return code;
}
