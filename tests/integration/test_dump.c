/* `async-inspect dump`: every task and block_on future as an await tree, with the lines and values
 * a user would check against the fixture's source. */
#include <criterion/criterion.h>
#include <elf.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

TestSuite(dump, .init = require_fixtures, .timeout = 300);

static json_t *dump_json(const char *crate, const char *bin, const char *const *fixture_args,
			 struct fixture *f)
{
	fixture_start(f, crate, bin, fixture_args);
	char *pid = xasprintf("%d", (int)f->pid);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, "--format", "json", NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s %s: %s", crate, bin, r.err);
	json_error_t error;
	json_t *root = json_loads(r.out, 0, &error);
	cr_assert(root, "%s: invalid JSON: %s", crate, error.text);
	cr_expect_eq(process_settles_in(f->pid, 'S'), 'S', "%s: left running", crate);
	tool_result_free(&r);
	free(pid);
	return root;
}

static size_t count_kind(json_t *tasks, const char *kind)
{
	size_t i, n = 0;
	json_t *t;
	json_array_foreach(tasks, i, t) {
		n += strcmp(json_string_value(json_object_get(t, "kind")), kind) == 0;
	}
	return n;
}

/* The task whose root future is `function` and whose saved local `name` has `value`. */
static json_t *find_task(json_t *tasks, const char *function, const char *local, const char *value)
{
	size_t i;
	json_t *t;
	json_array_foreach(tasks, i, t) {
		json_t *tree = json_object_get(t, "tree");
		const char *fn = json_string_value(json_object_get(tree, "function"));
		if (!fn || strcmp(fn, function) != 0)
			continue;
		if (!local)
			return t;
		size_t j;
		json_t *l;
		json_array_foreach(json_object_get(tree, "locals"), j, l) {
			if (strcmp(json_string_value(json_object_get(l, "name")), local) == 0 &&
			    strcmp(json_string_value(json_object_get(l, "value")), value) == 0)
				return t;
		}
	}
	return NULL;
}

static const char *local_value(json_t *node, const char *name)
{
	size_t j;
	json_t *l;
	json_array_foreach(json_object_get(node, "locals"), j, l) {
		if (strcmp(json_string_value(json_object_get(l, "name")), name) == 0)
			return json_string_value(json_object_get(l, "value"));
	}
	return NULL;
}

static void expect_frame(json_t *node, const char *function, const char *file, const char *marker,
			 const char *version)
{
	cr_assert_not_null(node, "%s: no frame for %s", version, function);
	const char *fn = json_string_value(json_object_get(node, "function"));
	cr_expect(fn && strcmp(fn, function) == 0, "%s: frame %s, expected %s", version, fn, function);
	const char *path = json_string_value(json_object_get(node, "file"));
	cr_expect(path && strstr(path, file), "%s: %s in %s", version, function, path);
	cr_expect_eq(json_integer_value(json_object_get(node, "line")), marker_line(file, marker),
		     "%s: %s suspended at the line of '%s'", version, function, marker);
	const char *state = json_string_value(json_object_get(node, "state"));
	cr_expect(state && strncmp(state, "Suspend", 7) == 0, "%s: %s state %s", version, function, state);
}

Test(dump, nested_tasks_chains_lines_and_locals)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		json_t *root = dump_json(*v, "nested", NULL, &f);
		cr_expect_str_eq(json_string_value(json_object_get(root, "format")), "async-inspect-snapshot");
		cr_expect_eq(json_integer_value(json_object_get(root, "version")), 2);
		json_t *runtimes = json_object_get(root, "runtimes");
		json_t *tokio = json_array_get(runtimes, 0);
		cr_expect_str_eq(json_string_value(json_object_get(tokio, "name")), "tokio", "%s", *v);
		const char *version = json_string_value(json_object_get(tokio, "version"));
		cr_expect(version && strncmp(*v + strlen("tokio-"), version, strlen(*v) - strlen("tokio-")) == 0,
			  "%s: tokio version %s", *v, version);
		cr_expect_eq(json_integer_value(json_object_get(tokio, "instances")), 1, "%s", *v);
		cr_expect(json_is_true(json_object_get(tokio, "decoded")), "%s", *v);
		json_t *tasks = json_object_get(root, "tasks");
		cr_expect_eq(count_kind(tasks, "task"), 7, "%s: 7 spawned tasks", *v);
		cr_expect_eq(count_kind(tasks, "block_on"), 1, "%s: the main future", *v);

		/* Task 2: level1 -> level2 -> level3 -> level4 -> Notified, with its locals. */
		json_t *task = find_task(tasks, "nested::shapes::level1", "name", "\"task-2\"");
		cr_assert_not_null(task, "%s: level1 task with name = \"task-2\"", *v);
		cr_expect_str_eq(json_string_value(json_object_get(task, "status")), "idle");
		cr_expect_str_eq(json_string_value(json_object_get(task, "flavor")), "multi_thread");
		json_t *n1 = json_object_get(task, "tree");
		expect_frame(n1, "nested::shapes::level1", "tokio/src/shapes.rs", "@await: level1", *v);
		json_t *n2 = doc_child(n1);
		expect_frame(n2, "nested::shapes::level2", "tokio/src/shapes.rs", "@await: level2", *v);
		cr_expect_str_eq(local_value(n2, "values"), "[21, 22, 23]", "%s", *v);
		json_t *n3 = doc_child(n2);
		expect_frame(n3, "nested::shapes::level3", "tokio/src/shapes.rs", "@await: level3", *v);
		const char *account = local_value(n3, "account");
		cr_expect(account && strstr(account, "owner: \"owner-2\"") && strstr(account, "balance: -201"),
			  "%s: account = %s", *v, account);
		json_t *n4 = doc_child(n3);
		expect_frame(n4, "nested::shapes::level4", "tokio/src/shapes.rs", "@await: level4-notify", *v);
		cr_expect_str_eq(local_value(n4, "depth"), "4", "%s", *v);
		json_t *leaf = doc_child(n4);
		cr_assert_not_null(leaf, "%s: level4 awaits something", *v);
		const char *leaf_type = json_string_value(json_object_get(leaf, "type"));
		cr_expect(leaf_type && strstr(leaf_type, "Notified"), "%s: leaf %s", *v, leaf_type);

		/* The main future, driven by block_on on the main thread. */
		size_t i;
		json_t *t, *main_task = NULL;
		json_array_foreach(tasks, i, t) {
			if (strcmp(json_string_value(json_object_get(t, "kind")), "block_on") == 0)
				main_task = t;
		}
		cr_assert_not_null(main_task);
		cr_expect_eq(json_integer_value(json_object_get(main_task, "thread")), f.pid, "%s", *v);
		json_t *main_tree = json_object_get(main_task, "tree");
		cr_expect_eq(json_integer_value(json_object_get(main_tree, "line")),
			     marker_line("tokio/src/bin/nested.rs", "@await: main"), "%s: main at its .await", *v);
		json_t *join = doc_child(main_tree);
		const char *join_type = join ? json_string_value(json_object_get(join, "type")) : NULL;
		cr_expect(join_type && strstr(join_type, "JoinHandle"), "%s: main awaits %s", *v, join_type);
		json_decref(root);
		fixture_kill(&f);
	}
}

Test(dump, text_view_shows_tasks_and_summary)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "nested", NULL);
	char *pid = xasprintf("%d", (int)f.pid);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect_eq(count_substr(r.out, "\nTask ") + (strncmp(r.out, "Task ", 5) == 0), 7, "%s", r.out);
	cr_expect(strstr(r.out, "block_on  nested::main::{async_block#0}"), "%s", r.out);
	char *line = xasprintf("shapes.rs:%d", marker_line("tokio/src/shapes.rs", "@await: level4-sleep"));
	cr_expect(strstr(r.out, line), "%s in:\n%s", line, r.out);
	cr_expect(strstr(r.out, "name = \"task-1\""), "locals shown");
	cr_expect(strstr(r.out, "7 tasks (7 idle), 1 block_on future, 1 tokio runtime (tokio 1.54.1)"), "%s", r.out);
	tool_result_free(&r);

	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, "--no-locals", NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect(!strstr(r.out, "name = \"task-1\""), "--no-locals");
	tool_result_free(&r);
	free(line);
	free(pid);
	fixture_kill(&f);
}

/* Deletes the time left on timers everywhere in a document: it changes between two dumps. */
static void drop_remaining(json_t *j)
{
	const char *key;
	json_t *value;
	size_t i;
	if (json_is_object(j)) {
		/* a timer's description says the time left too ("sleep, 23h59m59s left") */
		if (json_object_get(j, "remaining_ms"))
			json_object_del(j, "description");
		json_object_del(j, "remaining_ms");
		json_object_foreach(j, key, value)
			drop_remaining(value);
	} else if (json_is_array(j)) {
		json_array_foreach(j, i, value)
			drop_remaining(value);
	}
}

/* JSON is compact by default (one line, for programs and big dumps) and indented with --pretty;
 * both are the same document. */
static json_t *dump_json_text(pid_t pid, bool pretty, char **text_ret)
{
	char *p = xasprintf("%d", (int)pid);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", p, "--format", "json", pretty ? "--pretty" : NULL, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	json_error_t error;
	json_t *root = json_loads(r.out, 0, &error);
	cr_assert(root, "invalid JSON: %s", error.text);
	/* What differs from one snapshot to the next. */
	json_object_del(root, "captured_at");
	json_object_del(root, "pause_us");
	json_object_del(root, "monotonic_ns");
	drop_remaining(root);
	*text_ret = xstrdup(r.out);
	tool_result_free(&r);
	free(p);
	return root;
}

Test(dump, json_compact_by_default_and_pretty_on_request)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "nested", NULL);
		char *compact_text, *pretty_text;
		json_t *compact = dump_json_text(f.pid, false, &compact_text);
		json_t *pretty = dump_json_text(f.pid, true, &pretty_text);
		fixture_kill(&f);
		size_t len = strlen(compact_text);
		cr_expect(len > 2 && compact_text[len - 1] == '\n', "%s: ends with a newline", *v);
		cr_expect(strchr(compact_text, '\n') == compact_text + len - 1, "%s: compact is one line", *v);
		static const char compact_start[] = "{\"format\":\"async-inspect-snapshot\",\"version\":2,";
		static const char pretty_start[] = "{\n  \"format\": \"async-inspect-snapshot\",\n  \"version\": 2,\n";
		cr_expect(strncmp(compact_text, compact_start, strlen(compact_start)) == 0, "%s: %.60s", *v, compact_text);
		cr_expect(strncmp(pretty_text, pretty_start, strlen(pretty_start)) == 0, "%s: %.60s", *v, pretty_text);
		cr_expect(strstr(pretty_text, "\n      \"frames\": [\n        {\n          \"pc\": \"0x"),
			  "%s: nested levels indented by two spaces", *v);
		cr_expect(json_array_size(json_object_get(compact, "tasks")) > 1, "%s", *v);
		cr_expect(json_equal(compact, pretty), "%s: --pretty changes the layout only", *v);
		json_decref(compact);
		json_decref(pretty);
		free(compact_text);
		free(pretty_text);
	}
}

/* 20,000 idle tasks: every one found, none twice. */
Test(dump, twenty_thousand_tasks_exactly)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		json_t *root = dump_json(*v, "many_tasks", (const char *[]){ "20000", NULL }, &f);
		json_t *tasks = json_object_get(root, "tasks");
		cr_expect_eq(count_kind(tasks, "task"), 20000, "%s", *v);
		size_t i;
		json_t *t;
		int sleepers = 0;
		json_array_foreach(tasks, i, t) {
			const char *fn = json_string_value(json_object_get(json_object_get(t, "tree"), "function"));
			sleepers += fn && strcmp(fn, "many_tasks::idle_sleep") == 0;
		}
		cr_expect_eq(sleepers, 5000, "%s: a quarter of them sleep", *v);
		json_decref(root);
		fixture_kill(&f);
	}
}

Test(dump, current_thread_and_two_runtimes)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		json_t *root = dump_json(*v, "current_thread", NULL, &f);
		json_t *tasks = json_object_get(root, "tasks");
		cr_expect_eq(count_kind(tasks, "task"), 7, "%s", *v);
		json_t *task = find_task(tasks, "nested::shapes::level1", NULL, NULL);
		if (!task)
			task = find_task(tasks, "current_thread::shapes::level1", NULL, NULL);
		cr_assert_not_null(task, "%s", *v);
		cr_expect_str_eq(json_string_value(json_object_get(task, "flavor")), "current_thread", "%s", *v);
		json_decref(root);
		fixture_kill(&f);

		root = dump_json(*v, "two_runtimes", NULL, &f);
		json_t *tokio = json_array_get(json_object_get(root, "runtimes"), 0);
		cr_expect_str_eq(json_string_value(json_object_get(tokio, "name")), "tokio", "%s", *v);
		cr_expect_eq(json_integer_value(json_object_get(tokio, "instances")), 2, "%s", *v);
		tasks = json_object_get(root, "tasks");
		json_t *gamma = find_task(tasks, "two_runtimes::current_gamma", NULL, NULL);
		json_t *alpha = find_task(tasks, "two_runtimes::multi_alpha", NULL, NULL);
		cr_assert(gamma && alpha, "%s", *v);
		cr_expect_str_eq(json_string_value(json_object_get(gamma, "flavor")), "current_thread");
		cr_expect_str_eq(json_string_value(json_object_get(alpha, "flavor")), "multi_thread");
		cr_expect_str_neq(json_string_value(json_object_get(gamma, "runtime_address")),
				  json_string_value(json_object_get(alpha, "runtime_address")));
		cr_expect_eq(count_kind(tasks, "block_on"), 2, "%s: a block_on future on each runtime's thread", *v);
		json_decref(root);
		fixture_kill(&f);
	}
}

/* The same tasks from a core file as from the live process. */
Test(dump, core_file_gives_the_same_tasks)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.24", "nested", NULL);
	struct core_file cf;
	core_dump(&cf, &f);
	char *core = cf.path;
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--core", core, "--exe", f.path, "--format", "json", NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	json_t *root = json_loads(r.out, 0, NULL);
	cr_assert(root);
	json_t *tasks = json_object_get(root, "tasks");
	cr_expect_eq(count_kind(tasks, "task"), 7);
	cr_expect_eq(count_kind(tasks, "block_on"), 1);
	cr_expect_not_null(find_task(tasks, "nested::shapes::level1", "name", "\"task-3\""));
	json_decref(root);
	tool_result_free(&r);
	core_remove(&cf);
	fixture_kill(&f);
}

/* A Rust program without tokio: the threads and a warning, not an error. */
Test(dump, program_without_tokio_is_said_so)
{
	struct fixture f;
	fixture_start(&f, "plain", "many_threads", NULL);
	char *pid = xasprintf("%d", (int)f.pid);
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "dump", "--pid", pid, NULL });
	cr_expect_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect(strstr(r.out, "uses no async runtime that async-inspect knows (tokio, futures"), "%s", r.out);
	cr_expect(strstr(r.out, "0 tasks"), "%s", r.out);
	tool_result_free(&r);
	free(pid);
	fixture_kill(&f);
}

/* node.awaits: every .await of the async fn from DWARF in source order, and where it is parked.
 * task_a: lock1, the barrier on the next line, lock2 (where it is parked): 3/3. */
Test(dump, awaits_progress_in_json)
{
	int lock1 = marker_line("tokio/src/bin/deadlock_abba.rs", "@await: abba-a-lock1");
	int lock2 = marker_line("tokio/src/bin/deadlock_abba.rs", "@await: abba-a-lock2");
	int main_at = marker_line("tokio/src/bin/deadlock_abba.rs", "@await: abba-main");
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		json_t *root = dump_json(*v, "deadlock_abba", NULL, &f);
		json_t *tasks = json_object_get(root, "tasks");
		int found = 0;
		size_t i;
		json_t *t;
		json_array_foreach(tasks, i, t) {
			json_t *tree = json_object_get(t, "tree");
			const char *fn = json_string_value(json_object_get(tree, "function"));
			json_t *awaits = json_object_get(tree, "awaits");
			if (fn && strcmp(fn, "deadlock_abba::task_a") == 0) {
				found++;
				cr_assert(json_is_object(awaits), "%s", *v);
				cr_expect_eq(json_integer_value(json_object_get(awaits, "count")), 3, "%s", *v);
				cr_expect_eq(json_integer_value(json_object_get(awaits, "current")), 3, "%s", *v);
				json_t *lines = json_object_get(awaits, "lines");
				cr_assert_eq(json_array_size(lines), 3, "%s", *v);
				cr_expect_eq(json_integer_value(json_array_get(lines, 0)), lock1, "%s", *v);
				cr_expect_eq(json_integer_value(json_array_get(lines, 1)), lock1 + 1, "%s", *v);
				cr_expect_eq(json_integer_value(json_array_get(lines, 2)), lock2, "%s", *v);
			} else if (fn && strcmp(fn, "deadlock_abba::main::{async_block#0}") == 0) {
				found++;
				cr_expect_eq(json_integer_value(json_object_get(awaits, "count")), 1, "%s", *v);
				cr_expect_eq(json_integer_value(json_object_get(awaits, "current")), 1, "%s", *v);
				cr_expect_eq(json_integer_value(json_array_get(json_object_get(awaits, "lines"), 0)),
					     main_at, "%s", *v);
			}
			/* Leaves are no coroutines: no awaits. */
			for (json_t *n = tree; n; n = doc_child(n)) {
				if (json_is_null(json_object_get(n, "function")))
					cr_expect_null(json_object_get(n, "awaits"), "%s", *v);
			}
		}
		cr_expect_eq(found, 2, "%s: task_a and main", *v);
		json_decref(root);
		fixture_kill(&f);
	}
}

/* A task parked in tokio::join! / select!: DWARF declares the suspend point in tokio's macro
 * source; the dump shows the line of the invocation, and the macro's own location as detail. */
static void expect_macro_point(json_t *tasks, const char *function, const char *marker,
			       const char *macro, const char *source, const char *version)
{
	const char *zoo = "tokio/src/bin/shapes_zoo.rs";
	int line = marker_line(zoo, marker);
	json_t *t = find_task(tasks, function, NULL, NULL);
	cr_assert_not_null(t, "%s: no task %s", version, function);
	json_t *tree = json_object_get(t, "tree");
	expect_frame(tree, function, zoo, marker, version);
	cr_expect_str_eq(json_string_value(json_object_get(tree, "macro")), macro, "%s", version);
	const char *macro_file = json_string_value(json_object_get(tree, "macro_file"));
	cr_expect(macro_file && strstr(macro_file, source), "%s: %s's source %s", version, macro,
		  macro_file);
	cr_expect_gt(json_integer_value(json_object_get(tree, "macro_line")), 0, "%s", version);
	json_t *awaits = json_object_get(tree, "awaits");
	cr_expect_eq(json_integer_value(json_object_get(awaits, "current")), 1, "%s", version);
	cr_expect_eq(json_integer_value(json_array_get(json_object_get(awaits, "lines"), 0)), line,
		     "%s: %s's await counted at its line", version, function);
}

Test(dump, macro_suspend_points_at_the_users_line)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		json_t *root = dump_json(*v, "shapes_zoo", NULL, &f);
		json_t *tasks = json_object_get(root, "tasks");
		expect_macro_point(tasks, "shapes_zoo::zoo_join", "@await: zoo-join-macro",
				   "tokio::join!", "/src/macros/join.rs", *v);
		expect_macro_point(tasks, "shapes_zoo::zoo_select", "@await: zoo-select-macro",
				   "tokio::select!", "/src/macros/select.rs", *v);
		json_decref(root);
		if (strcmp(*v, "tokio-1.54") == 0) {
			char *pid = xasprintf("%d", (int)f.pid);
			struct tool_result r;
			tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, NULL });
			cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
			char *text = xasprintf("shapes_zoo.rs:%d (in tokio::select!)",
					       marker_line("tokio/src/bin/shapes_zoo.rs",
							   "@await: zoo-select-macro"));
			cr_expect(strstr(r.out, text), "%s in:\n%s", text, r.out);
			cr_expect(!strstr(r.out, "select.rs"), "%s", r.out);
			free(text);
			tool_result_free(&r);
			free(pid);
		}
		fixture_kill(&f);
	}
}

/* The size a core's program headers say it has (the end of its furthest segment), and the end of
 * its notes, read with <elf.h> alone so that the test does not share the tool's code. */
static void core_layout(const char *path, unsigned long long *expected_ret, unsigned long long *notes_end_ret)
{
	FILE *f = fopen(path, "rb");
	cr_assert(f, "%s", path);
	Elf64_Ehdr eh;
	cr_assert_eq(fread(&eh, sizeof(eh), 1, f), 1);
	unsigned long long expected = eh.e_phoff + (unsigned long long)eh.e_phnum * eh.e_phentsize, notes_end = 0;
	for (int i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		cr_assert_eq(fseek(f, (long)(eh.e_phoff + (unsigned long long)i * eh.e_phentsize), SEEK_SET), 0);
		cr_assert_eq(fread(&ph, sizeof(ph), 1, f), 1);
		if (ph.p_offset + ph.p_filesz > expected)
			expected = ph.p_offset + ph.p_filesz;
		if (ph.p_type == PT_NOTE && ph.p_offset + ph.p_filesz > notes_end)
			notes_end = ph.p_offset + ph.p_filesz;
	}
	fclose(f);
	*expected_ret = expected;
	*notes_end_ret = notes_end;
}

/* gcore writes its notes last: a core cut in half has lost its threads. The error says the core
 * is truncated, with the sizes, instead of "no threads". */
Test(dump, truncated_core_without_its_notes_is_said_truncated)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.24", "nested", NULL);
	struct core_file cf;
	core_dump(&cf, &f);
	char *core = cf.path;
	unsigned long long expected, notes_end;
	core_layout(core, &expected, &notes_end);
	unsigned long long half = expected / 2;
	cr_assert_gt(notes_end, half, "gcore's notes come after the memory");
	cr_assert_eq(truncate(core, (off_t)half), 0);
	char *want = xasprintf("async-inspect: core file %s is truncated: its program headers describe %llu bytes but the file has %llu (%llu%%); ",
			       core, expected, half, half * 100 / expected);
	const char *commands[] = { "dump", "threads" };
	for (size_t i = 0; i < 2; i++) {
		struct tool_result r;
		tool_run(&r, 120, (const char *[]){ commands[i], "--core", core, "--exe", f.path, NULL });
		cr_expect_eq(tool_exit_code(&r), 1, "%s: %s", commands[i], r.err);
		cr_expect(strncmp(r.err, want, strlen(want)) == 0, "%s: %s\nwanted: %s", commands[i], r.err, want);
		cr_expect(strstr(r.err, "its notes (threads, registers, mapped files) are past the end, so there is no thread to show\n"),
			  "%s: %s", commands[i], r.err);
		cr_expect(!strstr(r.err, "has no threads"), "%s", r.err);
		cr_expect_str_empty(r.out);
		tool_result_free(&r);
	}
	/* Cut inside its own program headers: nothing at all can be read. */
	cr_assert_eq(truncate(core, 1000), 0);
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "dump", "--core", core, "--exe", f.path, NULL });
	cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
	cr_expect(strstr(r.err, "is truncated: it has 1000 bytes, too few for its own program headers"), "%s", r.err);
	tool_result_free(&r);
	core_remove(&cf);
	free(want);
	fixture_kill(&f);
}

/* The kernel writes a core's notes first: cut in half, it keeps the threads and part of the memory.
 * The dump says it is truncated, and shows what it can still read: every thread, and the tasks
 * whose memory survived. The core comes from the kernel (SIGABRT, core size limit lifted), so the
 * test needs core_pattern to be a plain file name. */
Test(dump, truncated_core_with_its_notes_shows_what_survives)
{
	char *pattern = ai_read_small_file("/proc/sys/kernel/core_pattern", NULL);
	bool plain = pattern && pattern[0] != '|' && pattern[0] != '/' && !strchr(pattern, '%');
	char name[64] = "";
	if (plain)
		snprintf(name, sizeof(name), "%.*s", (int)strcspn(pattern, "\n"), pattern);
	free(pattern);
	if (!plain)
		cr_skip_test("core_pattern is not a plain file name: the kernel's cores go elsewhere");
	char dir[] = "/tmp/ai-kcore-XXXXXX";
	cr_assert(mkdtemp(dir));
	char *exe = fixture_path("tokio-1.24", "nested");
	char *absolute = realpath(exe, NULL);
	cr_assert(absolute, "%s", exe);
	char *cmd = xasprintf("cd %s && ulimit -c unlimited && exec %s", dir, absolute);
	FILE *p = popen(cmd, "r");
	cr_assert(p);
	int pid = 0;
	cr_assert_eq(fscanf(p, "ready %d", &pid), 1, "nested did not get ready");
	cr_assert_eq(kill(pid, SIGABRT), 0);
	int status = pclose(p);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %d", status);
	if (!WCOREDUMP(status))
		cr_skip_test("the kernel wrote no core (a core size limit above ours?)");
	char *core = xasprintf("%s/%s", dir, name);
	struct stat st;
	if (stat(core, &st) != 0) {
		free(core);
		core = xasprintf("%s/%s.%d", dir, name, pid); /* core_uses_pid */
	}
	cr_assert_eq(stat(core, &st), 0, "the kernel says it dumped a core, not at %s", core);
	unsigned long long expected, notes_end;
	core_layout(core, &expected, &notes_end);
	unsigned long long half = expected / 2;
	cr_assert_lt(notes_end, half, "the kernel's notes come first");
	cr_assert_eq(truncate(core, (off_t)half), 0);
	char *want = xasprintf("warning: core file %s is truncated: its program headers describe %llu bytes but the file has %llu (%llu%%); ",
			       core, expected, half, half * 100 / expected);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "threads", "--core", core, "--exe", absolute, NULL });
	cr_expect_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect(strncmp(r.out, want, strlen(want)) == 0, "%s\nwanted: %s", r.out, want);
	cr_expect(strstr(r.out, "memory past the end reads as unreadable, what follows is what could still be read"), "%s", r.out);
	char *main_thread = xasprintf("Thread %d ", pid);
	cr_expect(strstr(r.out, main_thread), "the threads are all there: %s", r.out);
	cr_expect_gt(count_substr(r.out, "\nThread "), 3, "main, two workers, the ready gate: %s", r.out);
	tool_result_free(&r);
	tool_run(&r, 120, (const char *[]){ "dump", "--core", core, "--exe", absolute, "--format", "json", NULL });
	cr_expect_eq(tool_exit_code(&r), 0, "%s", r.err);
	json_t *root = json_loads(r.out, 0, NULL);
	cr_assert(root, "%s", r.out);
	json_t *warnings = json_object_get(root, "warnings");
	cr_assert_gt(json_array_size(warnings), 0);
	cr_expect(strncmp(json_string_value(json_array_get(warnings, 0)), want + strlen("warning: "),
			  strlen(want) - strlen("warning: ")) == 0, "%s", json_string_value(json_array_get(warnings, 0)));
	json_decref(root);
	tool_result_free(&r);
	char *rm = xasprintf("rm -rf %s", dir);
	cr_expect_eq(system(rm), 0);
	free(rm);
	free(main_thread);
	free(want);
	free(core);
	free(cmd);
	free(absolute);
	free(exe);
}

/* ballast 600: 600 MiB of heap with every page written, more than the 512 MiB dump copies to let
 * a process run while it decodes. The warning comes on stderr before the long pause, the snapshot
 * says how long the process stayed stopped, and the process is left running. */
Test(dump, large_process_is_warned_of_and_left_running)
{
	struct fixture f;
	fixture_start(&f, "plain", "ballast", (const char *[]){ "600", NULL });
	char *pid = xasprintf("%d", (int)f.pid);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, NULL });
	cr_expect_eq(tool_exit_code(&r), 0, "%s", r.err);
	char *before = xasprintf("async-inspect: warning: process %d has 600 MiB of writable memory in use, more than the 512 MiB we copy to let it run: it stays stopped while it is decoded, which can take seconds (--max-pause caps the pause)\n",
				 (int)f.pid);
	cr_expect_str_eq(r.err, before, "the one line on stderr, and no progress line off a terminal");
	char *after = xasprintf("warning: process %d has 600 MiB of writable memory in use, more than the 512 MiB copied to let it run while decoding: it stayed stopped for ",
				(int)f.pid);
	cr_expect(strstr(r.out, after), "%s", r.out);
	cr_expect(strstr(r.out, "MiB read); --max-pause caps the pause\n"), "%s", r.out);
	tool_result_free(&r);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S', "left running");

	/* On a terminal (script(1) gives it one), a progress line, wiped when the process runs again. */
	if (system("script --version >/dev/null 2>&1") == 0) {
		const char *bin = getenv("AI_BINARY");
		char *cmd = xasprintf("script -qec '%s dump --pid %d --color never' /dev/null", bin && *bin ? bin : "build/async-inspect",
				      (int)f.pid);
		FILE *p = popen(cmd, "r");
		cr_assert(p);
		char buf[1 << 16];
		size_t n = fread(buf, 1, sizeof(buf) - 1, p);
		buf[n] = '\0';
		cr_expect_eq(pclose(p), 0, "%s", buf);
		char *progress = xasprintf("\r\033[Kprocess %d stopped for ", (int)f.pid);
		char *at = strstr(buf, progress);
		cr_expect(at, "a progress line: %s", buf);
		cr_expect(at && strstr(at, " MiB read\r\033[K"), "wiped once the process runs: %s", buf);
		free(progress);
		free(cmd);
	}
	free(after);
	free(before);
	free(pid);
	fixture_kill(&f);
}

/* dump --max-pause on the same: it copies what fits in the cap, lets the process run, and says how
 * much was not copied; no long pause, so no warning of one. */
Test(dump, max_pause_resumes_and_says_what_was_not_copied)
{
	struct fixture f;
	fixture_start(&f, "plain", "ballast", (const char *[]){ "600", NULL });
	char *pid = xasprintf("%d", (int)f.pid);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, "--max-pause", "5ms", NULL });
	cr_expect_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect_str_empty(r.err);
	cr_expect(!strstr(r.out, "stayed stopped"), "%s", r.out);
	const char *w = strstr(r.out, "warning: --max-pause 5.0 ms: the process resumed after ");
	cr_assert(w, "%s", r.out);
	double copied = 0, total = 0;
	cr_assert_eq(sscanf(w, "warning: --max-pause 5.0 ms: the process resumed after %lf of its %lf MiB", &copied, &total), 2, "%s", w);
	cr_expect_lt(copied, total, "%s", w);
	cr_expect_geq(total, 600.0, "%s", w);
	cr_expect(strstr(r.out, "sampled 0 of 0 tasks within the 5.0 ms pause cap"), "%s", r.out);
	tool_result_free(&r);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S', "left running");

	tool_run(&r, 60, (const char *[]){ "dump", "--core", "x", "--exe", "y", "--max-pause", "5ms", NULL });
	cr_expect_eq(tool_exit_code(&r), 2);
	cr_expect(strstr(r.err, "--max-pause is for a live process (--pid), not a core file"), "%s", r.err);
	tool_result_free(&r);
	free(pid);
	fixture_kill(&f);
}

/* Address space reserved but never touched is not memory in use: glibc's heap padded by 700 MiB
 * (MALLOC_TOP_PAD_) is mapped writable, but its untouched pages hold zeros and are not copied
 * (pagemap says so). The dump copies the rest as usual: no long pause, every task. */
Test(dump, untouched_reservation_is_not_copied)
{
	setenv("MALLOC_TOP_PAD_", "734003200", 1); /* inherited by the fixture only: tests run apart */
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "nested", NULL);
	unsetenv("MALLOC_TOP_PAD_");
	char *maps_path = xasprintf("/proc/%d/maps", (int)f.pid);
	FILE *maps = fopen(maps_path, "r");
	cr_assert(maps);
	unsigned long long writable = 0, lo, hi;
	char perms[8], line[512];
	while (fgets(line, sizeof(line), maps))
		if (sscanf(line, "%llx-%llx %7s", &lo, &hi, perms) == 3 && perms[0] == 'r' && perms[1] == 'w')
			writable += hi - lo;
	fclose(maps);
	cr_assert_gt(writable, 700ULL << 20, "the padding is mapped writable: %llu bytes", writable);
	char *pid = xasprintf("%d", (int)f.pid);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, NULL });
	cr_expect_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect_str_empty(r.err);
	cr_expect(!strstr(r.out, "stayed stopped"), "%s", r.out);
	cr_expect(strstr(r.out, "7 tasks (7 idle), 1 block_on future, 1 tokio runtime (tokio 1.54.1); process "), "%s", r.out);
	tool_result_free(&r);
	free(pid);
	free(maps_path);
	fixture_kill(&f);
}
