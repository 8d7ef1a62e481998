/* `async-inspect dap` as an editor sees it: tests/integration/dap_client.py speaks the protocol
 * over pipes, checks every message against the DAP schema's required fields and the expectations
 * given here (thread names, the await lines of the stacks from the fixture's markers, locals and
 * their parts), and prints what it saw. Skipped without python3. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ai/util.h"
#include "support.h"

static void require_python(void)
{
	require_fixtures();
	if (system("python3 -c 'import json, select, subprocess' >/dev/null 2>&1") != 0)
		cr_skip_test("python3 is not available");
}

TestSuite(dap, .init = require_python, .timeout = 300);

static const char *env_or(const char *name, const char *fallback)
{
	const char *v = getenv(name);
	return v && *v ? v : fallback;
}

/* The newest tokio of the matrix: the adapter is a frontend, the decoders' matrix is tested by
 * dump's tests. */
static const char *newest_tokio(void)
{
	const char *const *v = tokio_versions(), *last = NULL;
	for (; *v; v++)
		last = *v;
	cr_assert(last, "no tokio fixture crate");
	return last;
}

static char *slurp(int fd)
{
	lseek(fd, 0, SEEK_SET);
	size_t len = 0, cap = 4096;
	char *buf = xmalloc(cap);
	ssize_t n;
	while ((n = read(fd, buf + len, cap - len - 1)) > 0) {
		len += (size_t)n;
		if (cap - len < 2)
			buf = xrealloc(buf, cap *= 2);
	}
	buf[len] = '\0';
	return buf;
}

/* Runs dap_client.py ADAPTER args... (NULL-terminated), at most 240 s. */
static void run_client(struct tool_result *r, const char *const *args)
{
	char out_name[] = "/tmp/ai-dap-out-XXXXXX", err_name[] = "/tmp/ai-dap-err-XXXXXX";
	int out_fd = mkstemp(out_name), err_fd = mkstemp(err_name);
	cr_assert(out_fd >= 0 && err_fd >= 0);
	unlink(out_name);
	unlink(err_name);
	char *script = xasprintf("%s/tests/integration/dap_client.py", env_or("AI_SOURCE", "."));
	const char *argv[64] = { "python3", script, env_or("AI_BINARY", "build/async-inspect") };
	size_t n = 3;
	for (size_t i = 0; args[i] && n < 63; i++)
		argv[n++] = args[i];
	pid_t parent = getpid();
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		dup2(out_fd, STDOUT_FILENO);
		dup2(err_fd, STDERR_FILENO);
		dup2(open("/dev/null", O_RDONLY), STDIN_FILENO);
		execvp("python3", (char *const *)argv);
		_exit(127);
	}
	int status = 0;
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	for (int waited = 0; waitpid(pid, &status, WNOHANG) != pid; waited++) {
		if (waited > 24000) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			cr_log_error("dap_client.py timed out");
			break;
		}
		nanosleep(&tick, NULL);
	}
	r->status = status;
	r->out = slurp(out_fd);
	r->err = slurp(err_fd);
	close(out_fd);
	close(err_fd);
	free(script);
}

/* "FILE:LINE" of a marker of tests/fixtures/<dir>/<file>. */
static char *where(const char *dir, const char *file, const char *marker)
{
	char *rel = xasprintf("%s/%s", dir, file), *m = xasprintf("@await: %s", marker);
	int line = marker_line(rel, m);
	cr_assert_gt(line, 0, "marker %s not in %s", marker, rel);
	char *w = xasprintf("%s:%d", file, line);
	free(rel);
	free(m);
	return w;
}

/* initialize -> attach -> configurationDone -> stopped (entry) -> threads -> every stack ->
 * scopes and variables of the frames asked for -> continue -> pause -> disconnect: the tasks are
 * threads by name, their stacks stand at the markers' lines, locals expand into their fields,
 * and the fixture runs on, detached. */
Test(dap, attach_shows_tasks_stacks_and_locals)
{
	struct fixture f;
	fixture_start(&f, newest_tokio(), "nested", NULL);
	char *pid = xasprintf("%d", (int)f.pid);
	char *os_thread = xasprintf("thread %d nested [", (int)f.pid);
	char *l4 = where("tokio/src", "shapes.rs", "level4-notify"), *l3 = where("tokio/src", "shapes.rs", "level3");
	char *l1 = where("tokio/src", "shapes.rs", "level1"), *holder = where("tokio/src", "shapes.rs", "holder");
	char *main_line = where("tokio/src/bin", "nested.rs", "main");
	char *account = xasprintf("%s:account.owner=\"owner-", l3);
	char *l2 = where("tokio/src", "shapes.rs", "level2");
	char *values = xasprintf("%s:values.[0]=1", l2);
	struct tool_result r;
	run_client(&r, (const char *[]){ "attach", "--pid", pid,
					 "--expect-thread", "level1 [idle]", "--expect-thread", "holder [idle]",
					 "--expect-thread", "block_on main::{async_block#0}", "--expect-thread", os_thread,
					 "--expect-frame", l4, "--expect-frame", l3, "--expect-frame", l1,
					 "--expect-frame", holder, "--expect-frame", main_line,
					 "--expect-local", account, "--expect-local", values, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "dap_client: %s\n%s", r.err, r.out);
	cr_expect(strstr(r.out, "stopped: entry all=True"), "%s", r.out);
	cr_expect(strstr(r.out, "part: account.owner = \"owner-"), "%s", r.out);
	cr_expect(strstr(r.out, "ids stable"), "%s", r.out);
	cr_expect(strstr(r.out, "adapter exited 0"), "%s", r.out);
	/* Detached and running on: sleeping in its own wait, not stopped, not traced. */
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	cr_expect(tracer_pid(f.pid) <= 0, "the fixture is still traced after disconnect");
	tool_result_free(&r);
	free(pid);
	free(os_thread);
	free(l4);
	free(l3);
	free(l1);
	free(l2);
	free(holder);
	free(main_line);
	free(account);
	free(values);
	fixture_kill(&f);
}

/* "FILE:LINE:PATH=TEXT" of an --expect-tree at a marker. */
static char *tree_at(const char *dir, const char *file, const char *marker, const char *path)
{
	char *w = where(dir, file, marker), *spec = xasprintf("%s:%s", w, path);
	free(w);
	return spec;
}

static void attach_expecting_trees(const char *bin, const char *const *trees, const char *const *lines)
{
	struct fixture f;
	fixture_start(&f, newest_tokio(), bin, NULL);
	char *pid = xasprintf("%d", (int)f.pid);
	const char *args[64] = { "attach", "--pid", pid };
	size_t n = 3;
	for (size_t i = 0; trees[i] && n < 62; i++) {
		args[n++] = "--expect-tree";
		args[n++] = trees[i];
	}
	args[n] = NULL;
	struct tool_result r;
	run_client(&r, args);
	cr_assert_eq(tool_exit_code(&r), 0, "dap_client: %s\n%s", r.err, r.out);
	for (size_t i = 0; lines[i]; i++)
		cr_expect(strstr(r.out, lines[i]), "no line %s in:\n%s", lines[i], r.out);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	cr_expect(tracer_pid(f.pid) <= 0, "the fixture is still traced after disconnect");
	tool_result_free(&r);
	free(pid);
	fixture_kill(&f);
}

/* The variables tree is the locals' structured values: values expand lazily into an Arc's counts
 * and target, a struct's fields, a Vec's len and items (indexed: the editor pages to the last of
 * its 1000), a wrapper's state and value, an enum's fields; each text as dump prints it. */
Test(dap, variables_expand_structs_vecs_arcs_and_enums)
{
	char *trees[] = {
		tree_at("tokio/src", "bin/values.rs", "values-holder", "cfg=Arc(strong 2"),
		tree_at("tokio/src", "bin/values.rs", "values-holder", "cfg>*>name=values-config"),
		tree_at("tokio/src", "bin/values.rs", "values-holder", "cfg>strong=2"),
		tree_at("tokio/src", "bin/values.rs", "values-holder", "many=[0"),
		tree_at("tokio/src", "bin/values.rs", "values-holder", "many>len=1000"),
		tree_at("tokio/src", "bin/values.rs", "values-holder", "many>[1]=1"),
		tree_at("tokio/src", "bin/values.rs", "values-holder", "many>[999]=999"),
		tree_at("tokio/src", "bin/values.rs", "values-holder", "rep>tx>inner>flavor=List("),
		tree_at("tokio/src", "bin/values.rs", "values-locks", "shared>*>state=RwLock"),
		tree_at("tokio/src", "bin/values.rs", "values-locks", "shared>*>value=10"),
		NULL,
	};
	const char *lines[] = {
		"tree: cfg = Arc(strong 2, weak 1) Config { name: \"values-config\", retries: 3 } (namedVariables 3)\n",
		"tree: cfg>*>name = \"values-config\"\n",
		"tree: many = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, \xe2\x80\xa6 (1000 items)] (namedVariables 1) (indexedVariables 1000)\n",
		"tree: many>len = 1000\n",
		"tree: many>[999] = 999\n",
		"tree: shared>*>state = RwLock(read-locked by 1)\n",
		"tree: shared>*>value = 10\n",
		NULL,
	};
	attach_expecting_trees("values", (const char *const *)trees, lines);
	for (size_t i = 0; trees[i]; i++)
		free(trees[i]);
}

/* An enum's variant expands into its fields (a Vec in Poly, whose items are enums again); a
 * moved local says <moved> and does not expand. */
Test(dap, variables_show_enums_and_moved_locals)
{
	char *trees[] = {
		tree_at("tokio/src", "bin/locals.rs", "locals-enum", "shape=Poly([Dot, Line(3)])"),
		tree_at("tokio/src", "bin/locals.rs", "locals-enum", "shape>0>[1]=Line(3)"),
		tree_at("tokio/src", "bin/locals.rs", "locals-enum", "shape>0>[1]>0=3"),
		tree_at("tokio/src", "bin/locals.rs", "locals-enum", "maybe>0=locals-maybe"),
		tree_at("tokio/src", "bin/locals.rs", "locals-handoff", "parcel=<moved>"),
		NULL,
	};
	const char *lines[] = {
		"tree: shape = Poly([Dot, Line(3)]) (namedVariables 1)\n",
		"tree: shape>0>[1] = Line(3) (namedVariables 1)\n",
		"tree: shape>0>[1]>0 = 3\n",
		"tree: maybe>0 = \"locals-maybe\"\n",
		"tree: parcel = <moved>\n",
		NULL,
	};
	attach_expecting_trees("locals", (const char *const *)trees, lines);
	for (size_t i = 0; trees[i]; i++)
		free(trees[i]);
}

/* The wait-for graph's cycle as the custom event asyncInspect/deadlock, naming the threads. */
Test(dap, deadlock_event_names_the_cycle)
{
	struct fixture f;
	fixture_start(&f, newest_tokio(), "deadlock_abba", NULL);
	char *pid = xasprintf("%d", (int)f.pid);
	struct tool_result r;
	run_client(&r, (const char *[]){ "deadlock", "--pid", pid, "--expect-cycle", "task_a,task_b", NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "dap_client: %s\n%s", r.err, r.out);
	cr_expect(strstr(r.out, "cycle: task "), "%s", r.out);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	tool_result_free(&r);
	free(pid);
	fixture_kill(&f);
}

/* launch: the program's output comes as output events; disconnect with terminateDebuggee kills
 * it. */
Test(dap, launch_then_terminate)
{
	char *program = fixture_path(newest_tokio(), "nested");
	struct tool_result r;
	run_client(&r, (const char *[]){ "launch", "--program", program, "--wait-output", "ready ",
					 "--expect-thread", "level1 [idle]", NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "dap_client: %s\n%s", r.err, r.out);
	cr_expect(strstr(r.out, "program killed"), "%s", r.out);
	tool_result_free(&r);
	free(program);
}

/* A core file: the same tasks, stopped for good; continue is refused. */
Test(dap, core_file)
{
	if (system("command -v gcore >/dev/null 2>&1") != 0)
		cr_skip_test("gcore is not available");
	struct fixture f;
	fixture_start(&f, newest_tokio(), "nested", NULL);
	struct core_file cf;
	core_dump(&cf, &f);
	char *core = cf.path;
	char *l4 = where("tokio/src", "shapes.rs", "level4-sleep");
	struct tool_result r;
	run_client(&r, (const char *[]){ "core", "--core", core, "--program", f.path,
					 "--expect-thread", "level1 [idle]", "--expect-frame", l4, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "dap_client: %s\n%s", r.err, r.out);
	cr_expect(strstr(r.out, "continue refused"), "%s", r.out);
	tool_result_free(&r);
	core_remove(&cf);
	free(l4);
	fixture_kill(&f);
}

/* --port: the same protocol on one TCP connection to 127.0.0.1. */
Test(dap, tcp_port_on_loopback)
{
	struct fixture f;
	fixture_start(&f, newest_tokio(), "deadlock_abba", NULL);
	char *pid = xasprintf("%d", (int)f.pid);
	struct tool_result r;
	run_client(&r, (const char *[]){ "deadlock", "--tcp", "--pid", pid, "--expect-cycle", "task_a,task_b", NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "dap_client: %s\n%s", r.err, r.out);
	cr_expect(strstr(r.out, "connected to 127.0.0.1:"), "%s", r.out);
	cr_expect(strstr(r.out, "cycle: task "), "%s", r.out);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	tool_result_free(&r);
	free(pid);
	fixture_kill(&f);
}

/* The VS Code extension of docs/editors/vscode declares an executable adapter that exists and
 * runs `async-inspect dap`. */
Test(dap, vscode_extension_declares_the_adapter)
{
	char *path = xasprintf("%s/docs/editors/vscode/package.json", env_or("AI_SOURCE", "."));
	char *text = ai_read_small_file(path, NULL);
	cr_assert(text, "%s", path);
	cr_assert(strstr(text, "\"type\": \"async-inspect\""));
	const char *program = strstr(text, "\"program\": \"./");
	cr_assert(program, "no relative adapter program in %s", path);
	program += strlen("\"program\": \"./");
	char *name = xstrndup(program, strcspn(program, "\""));
	char *script = xasprintf("%s/docs/editors/vscode/%s", env_or("AI_SOURCE", "."), name);
	cr_expect_eq(access(script, X_OK), 0, "%s is not executable", script);
	char *body = ai_read_small_file(script, NULL);
	cr_expect(body && strstr(body, " dap "), "%s does not run async-inspect dap", script);
	free(body);
	free(script);
	free(name);
	free(text);
	free(path);
}

/* terminate: the launched program gets SIGTERM; exited (128 + 15) and terminated follow. */
Test(dap, terminate_ends_a_launched_program)
{
	char *program = fixture_path(newest_tokio(), "nested");
	struct tool_result r;
	run_client(&r, (const char *[]){ "launch", "--program", program, "--wait-output", "ready ",
					 "--expect-thread", "level1 [idle]", "--terminate", NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "dap_client: %s\n%s", r.err, r.out);
	cr_expect(strstr(r.out, "exited: 143"), "%s", r.out);
	cr_expect(strstr(r.out, "adapter exited 0"), "%s", r.out);
	tool_result_free(&r);
	free(program);
}

/* A process SIGKILLed while the editor holds it stopped: exited and terminated still come. */
Test(dap, killed_while_paused_is_reported)
{
	struct fixture f;
	fixture_start(&f, newest_tokio(), "nested", NULL);
	char *pid = xasprintf("%d", (int)f.pid);
	struct tool_result r;
	run_client(&r, (const char *[]){ "killed", "--pid", pid, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "dap_client: %s\n%s", r.err, r.out);
	cr_expect(strstr(r.out, "exited: "), "%s", r.out);
	tool_result_free(&r);
	free(pid);
	fixture_kill(&f);
}

/* setBreakpoints on the ticker's looping .await: unverified before attach, then a breakpoint
 * event verifies it at its line (and the line without .await names the await lines); a hit is a
 * stopped event naming the task, whose stack stands at the line with the round `i`; evaluate
 * reads `i`, a comparison, and says unknown for a local that is not there; continue hits the next
 * round; a condition picks its round; next stops the same task at its next .await (the sleep),
 * then the next round's yield. After disconnect the program runs to its own end: no int3 left. */
Test(dap, breakpoints_evaluate_and_next)
{
	struct fixture f;
	fixture_start(&f, newest_tokio(), "ticker", (const char *[]){ "100", "20", NULL });
	char *pid = xasprintf("%d", (int)f.pid);
	const char *rel = "tokio/src/bin/ticker.rs";
	char *source = xasprintf("%s/tests/fixtures/%s", env_or("AI_SOURCE", "."), rel);
	char *line = xasprintf("%d", marker_line(rel, "@await: ticker-yield"));
	char *bad = xasprintf("%d", marker_line(rel, "@line: ticker-no-await"));
	char *next = xasprintf("%d", marker_line(rel, "@await: ticker-pause"));
	struct tool_result r;
	run_client(&r, (const char *[]){ "breakpoint", "--pid", pid, "--source", source, "--line", line,
					 "--bad-line", bad, "--next-line", next, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "dap_client: %s\n%s", r.err, r.out);
	char *awaits = xasprintf("the awaits of ticker::ticker are at lines %s and %s", line, next);
	cr_expect(strstr(r.out, awaits), "%s", r.out);
	cr_expect(strstr(r.out, "evaluate: no_such_local = unknown: no local no_such_local"), "%s", r.out);
	cr_expect(strstr(r.out, "adapter exited 0"), "%s", r.out);
	int status = fixture_wait(&f);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 7, "the program ends normally (status %#x)", status);
	char rest[8192];
	size_t n = fread(rest, 1, sizeof(rest) - 1, f.out);
	rest[n] = '\0';
	cr_expect(strstr(rest, "sum 4950\n"), "its output: %s", rest);
	tool_result_free(&r);
	free(awaits);
	free(pid);
	free(source);
	free(line);
	free(bad);
	free(next);
	fixture_kill(&f);
}

/* launch holds the program at its exec until configurationDone, so its breakpoints are in
 * before it runs: the hit is the first round's; with them cleared it runs to its own end (7). */
Test(dap, launch_holds_the_program_until_its_breakpoints_are_in)
{
	char *program = fixture_path(newest_tokio(), "ticker");
	const char *rel = "tokio/src/bin/ticker.rs";
	char *source = xasprintf("%s/tests/fixtures/%s", env_or("AI_SOURCE", "."), rel);
	char *line = xasprintf("%d", marker_line(rel, "@await: ticker-yield"));
	struct tool_result r;
	run_client(&r, (const char *[]){ "launch-breakpoint", "--program", program, "--source", source, "--line", line, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "dap_client: %s\n%s", r.err, r.out);
	cr_expect(strstr(r.out, "first hit: i = 0"), "%s", r.out);
	cr_expect(strstr(r.out, "exited: 7"), "%s", r.out);
	tool_result_free(&r);
	free(program);
	free(source);
	free(line);
}

/* launch with stopOnEntry: stopped (reason entry) at the program's entry point, where only its
 * main thread exists and its first frame is the entry symbol; a breakpoint set there is verified
 * and hit in the first round once it goes on; with it cleared the program runs to its end (7). */
Test(dap, launch_stop_on_entry_stops_at_the_entry_point)
{
	char *program = fixture_path(newest_tokio(), "ticker");
	const char *rel = "tokio/src/bin/ticker.rs";
	char *source = xasprintf("%s/tests/fixtures/%s", env_or("AI_SOURCE", "."), rel);
	char *line = xasprintf("%d", marker_line(rel, "@await: ticker-yield"));
	struct tool_result r;
	run_client(&r, (const char *[]){ "launch-entry", "--program", program, "--source", source, "--line", line, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "dap_client: %s\n%s", r.err, r.out);
	cr_expect(strstr(r.out, "entry: 1 thread(s), top frame _start\n"), "%s", r.out);
	cr_expect(strstr(r.out, "first hit: i = 0"), "%s", r.out);
	cr_expect(strstr(r.out, "exited: 7"), "%s", r.out);
	tool_result_free(&r);
	free(program);
	free(source);
	free(line);
}
