/* Debug info in every layout toolchains produce (tests/fixtures/layouts, built by build.sh):
 * `async-inspect dump` on each must show the same tasks, with the same functions, files and lines,
 * as on the plain dev build they are made from (tokio-1.54's nested); a binary whose debug info is gone must say where it looked. */
#include <criterion/criterion.h>
#include <dlfcn.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"

static void require_layouts(void)
{
	require_fixtures();
	char *p = fixture_path("layouts/variants", "zstd");
	bool ok = access(p, X_OK) == 0;
	free(p);
	if (!ok)
		cr_skip_test("layout fixtures not built (tests/fixtures/build.sh)");
}

TestSuite(debuginfo_layouts, .init = require_layouts, .timeout = 300);

/* " [name: type = value (state), ...]" for a frame's locals; a value that holds an address (which
 * differs from one process to the next) is left out. */
static char *describe_locals(json_t *locals)
{
	char *s = xstrdup(" [");
	for (size_t i = 0; i < json_array_size(locals); i++) {
		json_t *l = json_array_get(locals, i);
		const char *name = json_string_value(json_object_get(l, "name"));
		const char *type = json_string_value(json_object_get(l, "type"));
		const char *value = json_string_value(json_object_get(l, "value"));
		const char *state = json_string_value(json_object_get(l, "state"));
		bool show = value && !strstr(value, "0x");
		char *next = xasprintf("%s%s%s: %s%s%s (%s)", s, i ? ", " : "", name ? name : "?",
				       type ? type : "?", show ? " = " : "", show ? value : "",
				       state ? state : "?");
		free(s);
		s = next;
	}
	char *next = xasprintf("%s]", s);
	free(s);
	return next;
}

static bool with_locals; /* describe_tree: also each frame's locals */

/* "function file:line > child ..." for one await tree. */
static void describe_tree(json_t *node, char **acc)
{
	const char *fn = json_string_value(json_object_get(node, "function"));
	const char *type = json_string_value(json_object_get(node, "type"));
	const char *file = json_string_value(json_object_get(node, "file"));
	json_int_t line = json_integer_value(json_object_get(node, "line"));
	/* from tests/fixtures/ on: layouts built in another checkout name its sources there */
	const char *rel = file ? strstr(file, "/tests/fixtures/") : NULL;
	if (rel)
		file = rel + 1;
	char *locals = with_locals ? describe_locals(json_object_get(node, "locals")) : xstrdup("");
	char *s = xasprintf("%s%s%s %s:%lld%s", *acc ? *acc : "", *acc ? " > " : "",
			    fn ? fn : type ? type : "?", file ? file : "-", (long long)line, locals);
	free(locals);
	free(*acc);
	*acc = s;
	json_t *children = json_object_get(node, "children");
	if (json_array_size(children) > 0)
		describe_tree(json_array_get(children, 0), acc);
}

static int compare_strings(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every task and block_on root of a dump, as sorted lines "kind: tree". */
static char *describe_dump(const char *json, const char *what)
{
	json_error_t error;
	json_t *root = json_loads(json, 0, &error);
	cr_assert(root, "%s: invalid JSON: %s", what, error.text);
	json_t *tasks = json_object_get(root, "tasks");
	size_t n = json_array_size(tasks);
	cr_assert_gt(n, 0, "%s: no tasks", what);
	char **lines = xcalloc(n, sizeof(*lines));
	for (size_t i = 0; i < n; i++) {
		json_t *t = json_array_get(tasks, i);
		char *tree = NULL;
		describe_tree(json_object_get(t, "tree"), &tree);
		lines[i] = xasprintf("%s: %s", json_string_value(json_object_get(t, "kind")), tree);
		free(tree);
	}
	qsort(lines, n, sizeof(*lines), compare_strings);
	char *all = xstrdup("");
	for (size_t i = 0; i < n; i++) {
		char *s = xasprintf("%s%s\n", all, lines[i]);
		free(all);
		free(lines[i]);
		all = s;
	}
	free(lines);
	json_decref(root);
	return all;
}

/* Runs the layout's program, dumps it as JSON with extra options, returns the tool's result. */
static void dump_layout(const char *layout, const char *const *extra, struct tool_result *r)
{
	struct fixture f;
	fixture_start(&f, "layouts/variants", layout, NULL);
	char *pid = xasprintf("%d", (int)f.pid);
	const char *args[16] = { "dump", "--pid", pid, "--format", "json" };
	size_t n = 5;
	for (size_t i = 0; extra && extra[i] && n < AI_ARRAY_SIZE(args) - 1; i++)
		args[n++] = extra[i];
	args[n] = NULL;
	tool_run(r, 120, args);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S', "%s: left running", layout);
	fixture_kill(&f);
	free(pid);
}

static char *reference(void)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "nested", NULL);
	char *pid = xasprintf("%d", (int)f.pid);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, "--format", "json", NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "plain build: %s", r.err);
	char *d = describe_dump(r.out, "plain build");
	tool_result_free(&r);
	fixture_kill(&f);
	free(pid);
	return d;
}

static char *variants_path(const char *rel)
{
	return fixture_path("layouts/variants", rel);
}

static void expect_same_tasks(const char *layout, const char *const *extra)
{
	char *want = reference();
	if (with_locals) {
		/* values of the fixture's own locals are there too */
		cr_assert(strstr(want, "account: Account = Account { id: 1, owner: \"owner-1\""),
			  "reference dump lacks level3's account:\n%s", want);
	}
	/* the fixture's own lines are there, so the comparison means something */
	char *line = xasprintf("shapes.rs:%d", marker_line("tokio/src/shapes.rs", "@await: level4-mutex"));
	cr_assert(strstr(want, line), "reference dump lacks %s:\n%s", line, want);
	struct tool_result r;
	dump_layout(layout, extra, &r);
	cr_assert_eq(tool_exit_code(&r), 0, "%s: exit %d: %s", layout, tool_exit_code(&r), r.err);
	char *got = describe_dump(r.out, layout);
	cr_expect_str_eq(got, want, "%s: tasks differ from the plain build", layout);
	free(got);
	tool_result_free(&r);
	free(line);
	free(want);
}

Test(debuginfo_layouts, zstd_compressed_sections)
{
	expect_same_tasks("zstd", NULL);
}

Test(debuginfo_layouts, zlib_compressed_sections)
{
	expect_same_tasks("zlib", NULL);
}

Test(debuginfo_layouts, zlib_gnu_zdebug_sections)
{
	expect_same_tasks("zlib-gnu", NULL);
}

Test(debuginfo_layouts, gnu_debuglink_next_to_the_binary)
{
	expect_same_tasks("debuglink", NULL);
}

Test(debuginfo_layouts, gnu_debuglink_in_a_debug_dir)
{
	char *dir = variants_path("linkdir");
	expect_same_tasks("elsewhere", (const char *[]){ "--debug-dir", dir, NULL });
	free(dir);
}

Test(debuginfo_layouts, build_id_under_a_debug_dir)
{
	/* A first --debug-dir without the file: the search goes on to the next one. */
	char *dir = variants_path("buildid");
	char *other = variants_path("linkdir");
	expect_same_tasks("stripped",
			  (const char *[]){ "--debug-dir", other, "--debug-dir", dir, NULL });
	free(other);
	free(dir);
}

Test(debuginfo_layouts, removed_debug_info_says_where_it_looked)
{
	struct tool_result r;
	dump_layout("stripped", NULL, &r);
	cr_expect_eq(tool_exit_code(&r), 1, "exit %d", tool_exit_code(&r));
	cr_expect_str_empty(r.out);
	cr_expect(strstr(r.err, "stripped has no debug info"), "%s", r.err);
	cr_expect(strstr(r.err, "searched /usr/lib/debug/.build-id/"), "%s", r.err);
	cr_expect(strstr(r.err, "--debug-dir DIR"), "%s", r.err);
	cr_expect(strstr(r.err, "DEBUGINFOD_URLS"), "%s", r.err);
	cr_expect_eq(count_substr(r.err, "\n"), 1, "one line: %s", r.err);
	tool_result_free(&r);

	/* A debug dir that lacks it is named in the search. */
	char *dir = variants_path("linkdir");
	dump_layout("stripped", (const char *[]){ "--debug-dir", dir, NULL }, &r);
	cr_expect_eq(tool_exit_code(&r), 1);
	char *want = xasprintf("%s/.build-id/", dir);
	cr_expect(strstr(r.err, want), "%s", r.err);
	free(want);
	free(dir);
	tool_result_free(&r);
}

Test(debuginfo_layouts, debuglink_to_a_missing_file_names_it)
{
	/* The debug file of `elsewhere` is only in linkdir/: without --debug-dir it is not found. */
	struct tool_result r;
	dump_layout("elsewhere", NULL, &r);
	cr_expect_eq(tool_exit_code(&r), 1);
	cr_expect(strstr(r.err, "debuglink elsewhere.debug"), "%s", r.err);
	char *next = variants_path("elsewhere.debug");
	cr_expect(strstr(r.err, next), "%s", r.err);
	free(next);
	tool_result_free(&r);
}

Test(debuginfo_layouts, bad_debug_dir_is_refused)
{
	struct tool_result r;
	tool_run(&r, 30, (const char *[]){ "dump", "--pid", "1", "--debug-dir", "/nonexistent/dir",
					   NULL });
	cr_expect_eq(tool_exit_code(&r), 1);
	cr_expect(strstr(r.err, "--debug-dir /nonexistent/dir: No such file or directory"), "%s",
		  r.err);
	tool_result_free(&r);
}

/* The block_on root of a release dump: 1 when parked at main's await, 0 when flagged as maybe a
 * stale copy (the honest answer when the stack holds several copies), and never a stale state shown
 * as the truth. */
static int release_root_found(const char *out)
{
	json_error_t error;
	json_t *root = json_loads(out, 0, &error);
	cr_assert(root, "invalid JSON: %s", error.text);
	size_t i, roots = 0;
	int found = 0;
	json_t *t;
	json_array_foreach(json_object_get(root, "tasks"), i, t) {
		if (strcmp(json_string_value(json_object_get(t, "kind")), "block_on") != 0)
			continue;
		roots++;
		json_t *tree = json_object_get(t, "tree");
		const char *state = json_string_value(json_object_get(tree, "state"));
		const char *err = json_string_value(json_object_get(tree, "error"));
		if (err) {
			cr_expect(strstr(err, "maybe a stale copy"), "block_on root: %s", err);
			continue;
		}
		cr_expect(state && strncmp(state, "Suspend", 7) == 0, "block_on root in state %s", state ? state : "?");
		cr_expect_eq(json_integer_value(json_object_get(tree, "line")),
			     marker_line("tokio/src/bin/nested.rs", "@await: main"));
		found = 1;
	}
	cr_expect_eq(roots, 1, "one block_on root");
	json_decref(root);
	return found;
}

/* An optimised build with `debug = true`: the same tasks at the same lines, and the block_on root
 * parked at its await (the future block_on polls has no DWARF location where it parks; the frame
 * variables name only the stale copy moved into it, in state Unresumed, and the polled copy is
 * searched for in block_on's frames). In some processes (about one in five) those frames also hold
 * other copies that decode as suspended, and the tool cannot tell which one is polled: then it
 * must say so. The layout of the stack differs from one launch to the next, not from one dump of a
 * process to the next, so the test launches the program again until the root is found. */
Test(debuginfo_layouts, release_build_with_debug_info)
{
	char *want = reference();
	int found = 0;
	for (int launch = 0; launch < 10 && !found; launch++) {
		struct tool_result r;
		dump_layout("release", NULL, &r);
		cr_assert_eq(tool_exit_code(&r), 0, "release: %s", r.err);
		found = release_root_found(r.out);
		if (found) {
			char *got = describe_dump(r.out, "release");
			cr_expect_str_eq(got, want, "release: tasks differ from the plain build");
			free(got);
		}
		tool_result_free(&r);
	}
	cr_expect(found, "the polled block_on future was found in none of 10 launches");
	free(want);
}

/* Split DWARF: the same tasks, await lines and local values as the plain build. */
static void expect_split_dwarf(const char *layout, const char *const *extra)
{
	with_locals = true;
	expect_same_tasks(layout, extra);
	with_locals = false;
}

Test(debuginfo_layouts, split_debuginfo_unpacked)
{
	expect_split_dwarf("unpacked", NULL);
}

Test(debuginfo_layouts, split_debuginfo_packed)
{
	expect_split_dwarf("packed", NULL);
}

/* The same in DWARF 5 (`-C dwarf-version=5`): skeleton and split_compile units, strx/addrx forms,
 * .debug_loclists.dwo / .debug_rnglists.dwo, a version 5 .debug_cu_index. */
Test(debuginfo_layouts, split_debuginfo_unpacked_dwarf5)
{
	expect_split_dwarf("unpacked-dwarf5", NULL);
}

Test(debuginfo_layouts, split_debuginfo_packed_dwarf5)
{
	expect_split_dwarf("packed-dwarf5", NULL);
}

/* The unpacked build's executable moved away from the directory its skeletons name: its .dwo
 * files are found next to it, or in a --debug-dir. */
Test(debuginfo_layouts, split_dwo_next_to_the_executable)
{
	expect_split_dwarf("dwo-beside/nested", NULL);
}

Test(debuginfo_layouts, split_dwo_in_debug_dir)
{
	char *dir = variants_path("../../unpacked/deps");
	expect_split_dwarf("dwo-moved/nested", (const char *[]){ "--debug-dir", dir, NULL });
	free(dir);
}

/* ...and when they are nowhere: one line naming the .dwo looked for, where, and the fixes; never
 * "0 tasks". */
Test(debuginfo_layouts, split_dwo_missing_is_a_clear_error)
{
	struct tool_result r;
	dump_layout("dwo-moved/nested", NULL, &r);
	cr_expect_eq(tool_exit_code(&r), 1, "exit %d: %s", tool_exit_code(&r), r.err);
	cr_expect(strstr(r.err, "uses split DWARF"), "%s", r.err);
	cr_expect(strstr(r.err, "cgu.0.rcgu.dwo is missing"), "%s", r.err);
	cr_expect(strstr(r.err, "looked for /"), "%s", r.err);
	cr_expect(strstr(r.err, "/layouts/unpacked/gone/"), "%s", r.err);
	cr_expect(strstr(r.err, "variants/debug/dwo-moved/nested-"), "%s", r.err);
	cr_expect(strstr(r.err, "--debug-dir DIR"), "%s", r.err);
	cr_expect(strstr(r.err, "split-debuginfo = \"off\""), "%s", r.err);
	const char *nl = strchr(r.err, '\n');
	cr_expect(!nl || !nl[1], "more than one line: %s", r.err);
	cr_expect(!strstr(r.out, "0 tasks"), "%s", r.out);
	tool_result_free(&r);
}

/* ---- debuginfod ---- */

struct http_server {
	pid_t pid;
	int port;
	char *log; /* its request log (stderr) */
};

/* python3 -m http.server over dir on a free port of 127.0.0.1; skips the test without python3. */
static void http_server_start(struct http_server *s, const char *dir)
{
	if (system("python3 -c 'import http.server' >/dev/null 2>&1") != 0)
		cr_skip_test("python3 is not available");
	s->log = xasprintf("%s/server.log", dir);
	int fds[2];
	cr_assert_eq(pipe(fds), 0);
	s->pid = fork();
	cr_assert_geq(s->pid, 0);
	if (s->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], 1);
		FILE *log = fopen(s->log, "w");
		if (log)
			dup2(fileno(log), 2);
		close(fds[0]);
		execlp("python3", "python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
		       "--directory", dir, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	FILE *out = fdopen(fds[0], "r");
	char line[256];
	s->port = 0;
	/* "Serving HTTP on 127.0.0.1 port 40001 (http://127.0.0.1:40001/) ..." */
	if (fgets(line, sizeof(line), out)) {
		const char *p = strstr(line, " port ");
		if (p)
			s->port = atoi(p + 6);
	}
	fclose(out);
	cr_assert_gt(s->port, 0, "http.server did not start: %s", line);
}

static void http_server_stop(struct http_server *s)
{
	kill(s->pid, SIGKILL);
	waitpid(s->pid, NULL, 0);
	free(s->log);
}

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return xstrdup("");
	char *buf = xcalloc(1, 1 << 16);
	size_t n = fread(buf, 1, (1 << 16) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The build-id of the layouts' program, from the file name build.sh gave its debug file. */
static char *build_id(void)
{
	char *exe = fixture_path("tokio-1.54", "nested");
	char *cmd = xasprintf("readelf -n '%s' | sed -n 's/^ *Build ID: *//p'", exe);
	free(exe);
	FILE *p = popen(cmd, "r");
	char id[129] = "";
	cr_assert(p && fgets(id, sizeof(id), p));
	pclose(p);
	free(cmd);
	id[strcspn(id, "\n")] = '\0';
	cr_assert_gt(strlen(id), 8);
	return xstrdup(id);
}

Test(debuginfo_layouts, debuginfod_only_when_debuginfod_urls_is_set)
{
	void *lib = dlopen("libdebuginfod.so.1", RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		cr_skip_test("libdebuginfod.so.1 is not installed (tests/install-deps.sh)");
	dlclose(lib);
	char root[] = "/tmp/ai-debuginfod-XXXXXX";
	cr_assert_not_null(mkdtemp(root));
	char *id = build_id();
	char *dir = xasprintf("%s/buildid/%s", root, id);
	char *ids = variants_path("buildid");
	char *cmd = xasprintf("mkdir -p '%s' && cp '%s/.build-id/%.2s/%s.debug' '%s/debuginfo'", dir,
			      ids, id, id + 2, dir);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
	free(cmd);
	free(ids);
	struct http_server server;
	http_server_start(&server, root);
	char *cache = xasprintf("%s/cache", root);
	setenv("DEBUGINFOD_CACHE_PATH", cache, 1);

	/* Unset: nothing is contacted, and the error says so. */
	unsetenv("DEBUGINFOD_URLS");
	struct tool_result r;
	dump_layout("stripped", NULL, &r);
	cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
	cr_expect(!strstr(r.err, "debuginfod ("), "%s", r.err);
	char *log = read_file(server.log);
	cr_expect(!strstr(log, "GET"), "contacted without DEBUGINFOD_URLS: %s", log);
	free(log);
	tool_result_free(&r);

	/* Set: the server gives the debug file, and the dump is the plain build's. */
	char *url = xasprintf("http://127.0.0.1:%d", server.port);
	setenv("DEBUGINFOD_URLS", url, 1);
	expect_same_tasks("stripped", NULL);
	log = read_file(server.log);
	char *get = xasprintf("GET /buildid/%s/debuginfo", id);
	cr_expect(strstr(log, get), "no request for the debug file: %s", log);
	free(get);
	free(log);

	http_server_stop(&server);
	cmd = xasprintf("rm -rf '%s'", root);
	cr_expect_eq(system(cmd), 0);
	free(cmd);
	free(url);
	free(cache);
	free(dir);
	free(id);
}
