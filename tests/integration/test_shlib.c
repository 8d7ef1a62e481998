/* tokio in a shared library: tests/fixtures/shlib's libai_plugin.so, loaded by C hosts without
 * tokio (DT_NEEDED and dlopen), as Python and Node extensions and plugins are. `dump` finds the
 * library's runtimes (one of them created and never entered by the host) and decodes their tasks
 * from the library's DWARF, with their awaits at lines of the library's source. */
#include <criterion/criterion.h>
#include <elf.h>
#include <unistd.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "ai/util.h"
#include "support.h"

TestSuite(shlib, .init = require_fixtures, .timeout = 300);

#define LIB_SRC "shlib/src/lib.rs"

static const char *const hosts[] = { "host_needed", "host_dlopen", NULL };

/* The task (or block_on future) whose root future is function. */
static json_t *find_root(json_t *tasks, const char *function)
{
	size_t i;
	json_t *t;
	json_array_foreach(tasks, i, t) {
		const char *fn = json_string_value(json_object_get(json_object_get(t, "tree"), "function"));
		if (fn && strcmp(fn, function) == 0)
			return t;
	}
	return NULL;
}

static void expect_root(json_t *tasks, const char *host, const char *function, const char *kind,
			const char *flavor, const char *marker)
{
	json_t *t = find_root(tasks, function);
	cr_assert_not_null(t, "%s: no %s", host, function);
	json_t *tree = json_object_get(t, "tree");
	cr_expect_str_eq(json_string_value(json_object_get(t, "kind")), kind, "%s: %s", host, function);
	cr_expect_str_eq(json_string_value(json_object_get(t, "runtime")), "tokio", "%s: %s", host, function);
	cr_expect_str_eq(json_string_value(json_object_get(t, "flavor")), flavor, "%s: %s", host, function);
	const char *file = json_string_value(json_object_get(tree, "file"));
	cr_expect(file && strstr(file, "tests/fixtures/" LIB_SRC), "%s: %s in %s", host, function, file);
	cr_expect_eq(json_integer_value(json_object_get(tree, "line")), marker_line(LIB_SRC, marker),
		     "%s: %s", host, function);
}

Test(shlib, dump_json_lists_the_librarys_runtimes_and_tasks)
{
	for (const char *const *host = hosts; *host; host++) {
		struct fixture f;
		fixture_start(&f, "shlib", *host, NULL);
		struct tool_result r;
		dump_fixture(&f, "json", &r);
		json_error_t error;
		json_t *root = json_loads(r.out, 0, &error);
		cr_assert(root, "%s: invalid JSON: %s", *host, error.text);
		json_t *runtimes = json_object_get(root, "runtimes");
		cr_assert_eq(json_array_size(runtimes), 1, "%s", *host);
		json_t *tokio = json_array_get(runtimes, 0);
		cr_expect_str_eq(json_string_value(json_object_get(tokio, "name")), "tokio", "%s", *host);
		cr_expect_str_eq(json_string_value(json_object_get(tokio, "version")), "1.54.1", "%s", *host);
		cr_expect_eq(json_integer_value(json_object_get(tokio, "instances")), 2, "%s", *host);
		cr_expect(json_is_true(json_object_get(tokio, "decoded")), "%s", *host);
		const char *module = json_string_value(json_object_get(tokio, "module"));
		cr_expect(module && strstr(module, "/libai_plugin.so"), "%s: module %s", *host, module);
		json_t *tasks = json_object_get(root, "tasks");
		/* The multi_thread runtime was created and never entered by the host: its tasks all the same. */
		expect_root(tasks, *host, "ai_plugin::plugin_alpha", "task", "multi_thread", "@await: plugin-alpha");
		expect_root(tasks, *host, "ai_plugin::plugin_beta", "task", "multi_thread", "@await: plugin-beta");
		expect_root(tasks, *host, "ai_plugin::plugin_gamma", "task", "current_thread", "@await: plugin-gamma");
		expect_root(tasks, *host, "ai_plugin::run_current::{async_block#0}", "block_on", "current_thread",
			    "@await: plugin-main");
		json_t *alpha = find_root(tasks, "ai_plugin::plugin_alpha");
		json_t *gamma = find_root(tasks, "ai_plugin::plugin_gamma");
		cr_expect_str_neq(json_string_value(json_object_get(alpha, "runtime_address")),
				  json_string_value(json_object_get(gamma, "runtime_address")),
				  "%s: each task with its runtime", *host);
		cr_expect_eq(json_array_size(json_object_get(root, "warnings")), 0, "%s: %s", *host,
			     json_dumps(json_object_get(root, "warnings"), 0));
		json_decref(root);
		tool_result_free(&r);
		fixture_kill(&f);
	}
}

Test(shlib, dump_text_shows_the_awaits_in_the_librarys_source)
{
	for (const char *const *host = hosts; *host; host++) {
		struct fixture f;
		fixture_start(&f, "shlib", *host, NULL);
		struct tool_result r;
		dump_fixture(&f, "text", &r);
		tool_result_unwrap(&r);
		const struct { const char *function, *marker; } awaits[] = {
			{ "ai_plugin::plugin_alpha", "@await: plugin-alpha" },
			{ "ai_plugin::plugin_beta", "@await: plugin-beta" },
			{ "ai_plugin::plugin_gamma", "@await: plugin-gamma" },
			{ "ai_plugin::run_current::{async_block#0}", "@await: plugin-main" },
		};
		for (size_t i = 0; i < AI_ARRAY_SIZE(awaits); i++) {
			char *where = xasprintf("%s  Suspend0  %s/tests/fixtures/%s:%d", awaits[i].function,
						getenv("AI_SOURCE"), LIB_SRC, marker_line(LIB_SRC, awaits[i].marker));
			cr_expect(strstr(r.out, where), "%s: no \"%s\" in:\n%s", *host, where, r.out);
			free(where);
		}
		cr_expect(strstr(r.out, "└─ tokio::time::sleep::Sleep (leaf)  [sleep, "), "%s:\n%s", *host, r.out);
		cr_expect(strstr(r.out, "3 tasks (3 idle), 1 block_on future, 2 tokio runtimes (tokio 1.54.1) "
				 "in libai_plugin.so;"), "%s:\n%s", *host, r.out);
		tool_result_free(&r);
		fixture_kill(&f);
	}
}

/* From a core file: the library's mappings come from the core's NT_FILE note. */
Test(shlib, core_file_gives_the_same_tasks)
{
	struct fixture f;
	fixture_start(&f, "shlib", "host_needed", NULL);
	struct core_file cf;
	core_dump(&cf, &f);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--core", cf.path, "--exe", f.path, "--format", "json", NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	json_t *root = json_loads(r.out, 0, NULL);
	cr_assert(root);
	json_t *tasks = json_object_get(root, "tasks");
	expect_root(tasks, "core", "ai_plugin::plugin_alpha", "task", "multi_thread", "@await: plugin-alpha");
	expect_root(tasks, "core", "ai_plugin::plugin_gamma", "task", "current_thread", "@await: plugin-gamma");
	expect_root(tasks, "core", "ai_plugin::run_current::{async_block#0}", "block_on", "current_thread",
		    "@await: plugin-main");
	json_decref(root);
	tool_result_free(&r);
	core_remove(&cf);
	fixture_kill(&f);
}

/* --- breakpoints and steps in the library: host_ticker runs ticker's loop inside it ---------- */

#define TICK_YIELD "// @await: plugin-tick-yield"
#define TICK_PAUSE "// @await: plugin-tick-pause"

static void expect_ticker_end(struct fixture *f, const char *sum)
{
	char rest[1 << 14];
	size_t n = fread(rest, 1, sizeof(rest) - 1, f->out);
	rest[n] = '\0';
	int status = fixture_wait(f);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 7, "the program ends normally (status %#x)", status);
	cr_expect(strstr(rest, sum), "its output goes on to its end (%s): %s", sum, rest);
}

/* attach: FILE:LINE of an .await in the library resolves there (its own load bias): the hits name
 * the library, show the task's chain in the library's source, and after --break-count the
 * library's code is its file's again and the program runs on to its end. */
Test(shlib, breakpoint_in_the_library_names_it)
{
	int line = marker_line(LIB_SRC, TICK_YIELD);
	char *spec = xasprintf("shlib/src/lib.rs:%d", line);
	struct fixture f;
	fixture_start(&f, "shlib", "host_ticker", (const char *[]){ "200", "20", NULL });
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "attach", "--pid", pid, "--break", spec, "--break-count", "2", NULL });
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	cr_expect_eq(count_substr(r.out, "breakpoint 1 ("), 2, "%s", r.out);
	char *head = xasprintf("ai_plugin::plugin_ticker at %s/tests/fixtures/%s:%d in libai_plugin.so, thread ",
			       getenv("AI_SOURCE"), LIB_SRC, line);
	cr_expect_eq(count_substr(r.out, head), 2, "each hit names the library: %s", r.out);
	char *where = xasprintf("ai_plugin::plugin_ticker  Suspend0  %s/tests/fixtures/%s:%d", getenv("AI_SOURCE"),
				LIB_SRC, line);
	cr_expect(strstr(r.out, where), "the task's chain: %s", r.out);
	char *lib = fixture_path("shlib", "libai_plugin.so");
	cr_expect_eq(code_bytes_changed(f.pid, lib), 0, "an int3 was left in the library's code");
	expect_ticker_end(&f, "sum 19900\n");
	fixture_kill(&f);
	tool_result_free(&r);
	free(lib);
	free(where);
	free(head);
	free(spec);
}

/* run: the program is let go to its entry point first, where its DT_NEEDED library is mapped, so
 * a spec in the library resolves before the library's code runs; the JSON record names the
 * library. A spec found nowhere is pending for the libraries loaded later, and said to have
 * matched nothing when the program ends; a C host (no Rust of its own) that dlopen()s its Rust
 * library later is told at its start that it is not searched. */
Test(shlib, run_resolves_in_a_needed_library_and_says_what_is_not_loaded)
{
	int line = marker_line(LIB_SRC, TICK_YIELD);
	char *spec = xasprintf("shlib/src/lib.rs:%d", line);
	char *bin = fixture_path("shlib", "host_ticker");
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "run", "--break", spec, "--break-count", "1", "--format", "json", "--", bin, "3", "1", NULL });
	cr_expect_eq(tool_exit_code(&r), 7, "the program's status; stderr: %s", r.err);
	cr_expect(strstr(r.out, "sum 3\n"), "%s", r.out);
	json_t *hit = NULL;
	for (char *save = NULL, *l = strtok_r(r.out, "\n", &save); l && !hit; l = strtok_r(NULL, "\n", &save))
		if (l[0] == '{')
			hit = json_loads(l, 0, NULL);
	cr_assert(hit, "a JSON record: %s", r.err);
	const char *module = json_string_value(json_object_get(hit, "module"));
	cr_expect(module && strstr(module, "/libai_plugin.so"), "the record names the library: %s", module);
	cr_expect_eq(json_integer_value(json_object_get(hit, "line")), line);
	cr_expect_str_eq(json_string_value(json_object_get(hit, "function")), "ai_plugin::plugin_ticker");
	json_decref(hit);
	tool_result_free(&r);

	/* Pending for the libraries the program may load, then said to have matched nothing. */
	tool_run(&r, 60, (const char *[]){ "run", "--break", "nowhere/none.rs:3", "--", bin, "3", "1", NULL });
	cr_expect_eq(tool_exit_code(&r), 7, "the program runs to its end: %s", r.err);
	cr_expect(strstr(r.err, "breakpoint 1 (nowhere/none.rs:3) is pending: --break nowhere/none.rs:3: no source file nowhere/none.rs in the debug info of "),
		  "%s", r.err);
	cr_expect(strstr(r.err, "nor of the 1 library with Rust debug info loaded now; it is looked for in each library the program loads"),
		  "%s", r.err);
	cr_expect_eq(count_substr(r.err, "breakpoint 1 (nowhere/none.rs:3) matched nothing: "), 1, "%s", r.err);
	tool_result_free(&r);

	char *dlopen_host = fixture_path("shlib", "host_dlopen");
	tool_run(&r, 60, (const char *[]){ "run", "--break", spec, "--", dlopen_host, NULL });
	cr_expect_neq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect(strstr(r.err, "one it loads later with dlopen is not searched: attach once it is loaded"), "%s", r.err);
	tool_result_free(&r);
	free(dlopen_host);
	free(bin);
	free(spec);
}

/* The id of host_ticker's task, as dump shows it. */
static char *plugin_ticker_id(struct fixture *f)
{
	struct tool_result r;
	dump_fixture(f, "json", &r);
	json_t *root = json_loads(r.out, 0, NULL);
	cr_assert(root, "dump is not JSON: %s", r.out);
	json_t *t = find_root(json_object_get(root, "tasks"), "ai_plugin::plugin_ticker");
	cr_assert(t && json_is_integer(json_object_get(t, "id")), "no plugin_ticker task with an id: %s", r.out);
	char *id = xasprintf("%lld", (long long)json_integer_value(json_object_get(t, "id")));
	json_decref(root);
	tool_result_free(&r);
	return id;
}

/* --step on a task of the library's runtime, with the hardware watchpoint and with the fallback
 * breakpoints (in the library's code): three steps, each from one await of the loop to the other. */
Test(shlib, step_a_task_of_the_library)
{
	int yield = marker_line(LIB_SRC, TICK_YIELD), pause = marker_line(LIB_SRC, TICK_PAUSE);
	for (int fallback = 0; fallback < 2; fallback++) {
		struct fixture f;
		fixture_start(&f, "shlib", "host_ticker", (const char *[]){ "200", "20", NULL });
		char *id = plugin_ticker_id(&f);
		char pid[16];
		snprintf(pid, sizeof(pid), "%d", (int)f.pid);
		if (fallback)
			setenv("AI_STEP_NO_WATCHPOINTS", "1", 1);
		struct tool_result r;
		tool_run(&r, 120, (const char *[]){ "attach", "--pid", pid, "--step", id, "--step-count", "3", "--format", "json", NULL });
		unsetenv("AI_STEP_NO_WATCHPOINTS");
		cr_expect_eq(tool_exit_code(&r), 0, "fallback %d: stderr: %s", fallback, r.err);
		cr_expect_eq(strstr(r.err, "stepping with breakpoints") != NULL, fallback, "fallback %d: %s", fallback, r.err);
		int steps = 0;
		long last = -1;
		for (char *save = NULL, *l = strtok_r(r.out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
			json_t *step = json_loads(l, 0, NULL);
			cr_assert(step, "not JSON: %s", l);
			steps++;
			long from = (long)json_integer_value(json_object_get(json_object_get(step, "left"), "line"));
			long to = (long)json_integer_value(json_object_get(json_object_get(step, "reached"), "line"));
			cr_expect((from == yield && to == pause) || (from == pause && to == yield),
				  "fallback %d: one await to the other (%d, %d): %s", fallback, yield, pause, l);
			if (last >= 0)
				cr_expect_eq(from, last, "fallback %d: it leaves where it arrived: %s", fallback, l);
			last = to;
			json_decref(step);
		}
		cr_expect_eq(steps, 3, "fallback %d: %s", fallback, r.out);
		char *lib = fixture_path("shlib", "libai_plugin.so");
		cr_expect_eq(code_bytes_changed(f.pid, lib), 0, "fallback %d: an int3 was left in the library", fallback);
		expect_ticker_end(&f, "sum 19900\n");
		fixture_kill(&f);
		tool_result_free(&r);
		free(lib);
		free(id);
	}
}

/* The interpreter (PT_INTERP) of executable path: ld.so, whose code holds r_brk. */
static char *interpreter_of(const char *path)
{
	FILE *f = fopen(path, "rb");
	cr_assert(f, "cannot open %s", path);
	Elf64_Ehdr eh;
	cr_assert(fread(&eh, sizeof(eh), 1, f) == 1);
	char *interp = NULL;
	for (int i = 0; i < eh.e_phnum && !interp; i++) {
		Elf64_Phdr ph;
		cr_assert(fseek(f, (long)(eh.e_phoff + (uint64_t)i * eh.e_phentsize), SEEK_SET) == 0 &&
			  fread(&ph, sizeof(ph), 1, f) == 1);
		if (ph.p_type != PT_INTERP)
			continue;
		interp = xcalloc(1, ph.p_filesz + 1);
		cr_assert(fseek(f, (long)ph.p_offset, SEEK_SET) == 0 && fread(interp, 1, ph.p_filesz, f) == ph.p_filesz);
	}
	fclose(f);
	cr_assert(interp, "%s has no PT_INTERP", path);
	return interp;
}

/* run: host_late dlopen()s the library only after `ready` and a line on stdin, long after the
 * breakpoints were resolved at its entry. The spec in the library's source is pending, resolved
 * when ld.so's rendezvous says the library is loaded, and hit there; the record names the
 * library. After the hit (--break-count 1) neither the library's code nor ld.so's (r_brk, still
 * in for the spec that matches nothing) keeps an int3, and that spec is said once at the end. */
Test(shlib, run_breaks_in_a_library_dlopened_later)
{
	int line = marker_line(LIB_SRC, TICK_YIELD);
	char *spec = xasprintf("shlib/src/lib.rs:%d", line);
	char *bin = fixture_path("shlib", "host_late");
	struct tool_process p;
	tool_spawn_piped(&p, (const char *[]){ "run", "--break", spec, "--break", "nowhere/none.rs:3", "--break-count", "1",
					       "--format", "json", "--", bin, "3", "1", NULL });
	char buf[1 << 16];
	cr_assert(fgets(buf, sizeof(buf), p.out), "no ready line");
	int pid = 0;
	cr_assert(sscanf(buf, "ready %d", &pid) == 1, "%s", buf);
	cr_assert(write(p.in_fd, "go\n", 3) == 3);
	json_t *hit = NULL;
	bool sum = false;
	while (!sum && fgets(buf, sizeof(buf), p.out)) {
		if (buf[0] == '{' && !hit)
			hit = json_loads(buf, 0, NULL);
		sum = strcmp(buf, "sum 3\n") == 0;
	}
	cr_expect(sum, "the program's output goes on to its sum");
	/* It now waits for another line: the code it runs is its files' again. */
	char *lib = fixture_path("shlib", "libai_plugin.so");
	char *ld_so = interpreter_of(bin);
	cr_expect_eq(code_bytes_changed(pid, lib), 0, "an int3 was left in the library's code");
	cr_expect_eq(code_bytes_changed(pid, ld_so), 0, "an int3 was left in %s (r_brk)", ld_so);
	cr_assert(write(p.in_fd, "\n", 1) == 1);
	close(p.in_fd);
	p.in_fd = -1;
	struct tool_result r;
	tool_finish(&p, 60, &r);
	cr_expect_eq(tool_exit_code(&r), 7, "the program's status; stderr: %s", r.err);
	cr_assert(hit, "a JSON record; stderr: %s", r.err);
	const char *module = json_string_value(json_object_get(hit, "module"));
	cr_expect(module && strstr(module, "/libai_plugin.so"), "the record names the library: %s", module);
	cr_expect_eq(json_integer_value(json_object_get(hit, "line")), line);
	cr_expect_str_eq(json_string_value(json_object_get(hit, "function")), "ai_plugin::plugin_ticker");
	cr_expect(strstr(r.err, "breakpoint 1 (" ) && strstr(r.err, "is pending"), "%s", r.err);
	cr_expect_eq(count_substr(r.err, "breakpoint 2 (nowhere/none.rs:3) matched nothing: "), 1, "%s", r.err);
	cr_expect(strstr(r.err, "nor of the 1 library with Rust debug info the program loaded since"), "%s", r.err);
	json_decref(hit);
	tool_result_free(&r);
	free(ld_so);
	free(lib);
	free(bin);
	free(spec);
}

/* run: `spawn` with no runtime in the program at its entry is pending too; the runtime in the
 * library host_late dlopen()s later serves it: the ticker task's spawn, where the library spawns it. */
Test(shlib, spawn_waits_for_the_runtime_of_a_library_dlopened_later)
{
	char *bin = fixture_path("shlib", "host_late");
	struct tool_result r;
	tool_run_input(&r, 120, "go\n", (const char *[]){ "run", "--break", "spawn", "--break-count", "1", "--", bin, "3", "1", NULL });
	cr_expect_eq(tool_exit_code(&r), 7, "the program's status; stderr: %s", r.err);
	cr_expect(strstr(r.err, "breakpoint 1 (spawn) is pending: --break spawn: no runtime in "), "%s", r.err);
	cr_expect_eq(count_substr(r.out, "breakpoint 1 (spawn) hit 1: task "), 1, "%s", r.out);
	char *at = xasprintf("  spawned at %s/tests/fixtures/%s:", getenv("AI_SOURCE"), LIB_SRC);
	cr_expect(strstr(r.out, at), "'%s' in: %s", at, r.out);
	cr_expect(strstr(r.out, "ai_plugin::plugin_ticker  Unresumed"), "%s", r.out);
	cr_expect(strstr(r.out, "sum 3\n"), "%s", r.out);
	cr_expect(!strstr(r.err, "matched nothing"), "%s", r.err);
	tool_result_free(&r);
	free(at);
	free(bin);
}
