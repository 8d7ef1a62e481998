/* Runtime adapters as data (--decoders FILE of format async-inspect-runtime, docs/decoders/
 * runtime.md) on fixture plain/tinyexec, a hand-written executor no C adapter knows, with its
 * decoder file tests/fixtures/plain/decoders/tinyexec.json (and -list, -local for its other two
 * registries, a linked list and a thread-local): without it, dump shows only the
 * generic fallback; with it, every task of the static registry with its id, name, state and
 * await chain; a file that is not understood is refused with file:line:column, one that does not
 * match the binary is a warning (and the status of a runtime not decoded), and a bad file in a decoder directory is skipped.
 * The file's waits and guards name the waits of the executor's own leaf futures (tasks 30-35). */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

TestSuite(runtime_decoders, .init = require_fixtures, .timeout = 120);

#define SRC "plain/src/bin/tinyexec.rs"

static char *decoder_file(void)
{
	const char *source = getenv("AI_SOURCE");
	return xasprintf("%s/tests/fixtures/plain/decoders/tinyexec.json", source && *source ? source : ".");
}

static void write_file(const char *path, const char *text)
{
	FILE *out = fopen(path, "w");
	cr_assert(out, "%s", path);
	fputs(text, out);
	fclose(out);
}

static void dump(struct fixture *f, const char *format, const char *decoders, struct tool_result *r)
{
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f->pid);
	const char *args[] = { "dump", "--pid", pid, "--format", format, decoders ? "--decoders" : NULL, decoders, NULL };
	tool_run(r, 60, args);
	cr_assert_eq(tool_exit_code(r), 0, "%s", r->err);
	cr_expect_eq(process_settles_in(f->pid, 'S'), 'S', "the fixture was left running");
}

static bool has_warning(json_t *root, const char *text)
{
	size_t i;
	json_t *w;
	json_array_foreach(json_object_get(root, "warnings"), i, w) {
		if (strstr(json_string_value(w), text))
			return true;
	}
	return false;
}

Test(runtime_decoders, without_the_decoder_only_the_fallback)
{
	struct fixture f;
	struct tool_result r;
	fixture_start(&f, "plain", "tinyexec", NULL);
	dump(&f, "json", NULL, &r);
	json_t *root = doc_parse(r.out, "dump");
	json_t *tasks = json_object_get(root, "tasks");
	cr_expect_eq(json_array_size(tasks), 1, "only the task being polled now: %s", r.out);
	json_t *t = json_array_get(tasks, 0);
	cr_expect_str_eq(doc_str(t, "runtime"), "fallback");
	cr_expect_str_eq(doc_str(t, "future"), "tinyexec::blocker");
	cr_expect_eq(json_array_size(json_object_get(root, "runtimes")), 0, "%s", r.out);
	cr_expect(has_warning(root, "uses no async runtime that async-inspect knows"), "%s", r.out);
	json_decref(root);
	tool_result_free(&r);
	fixture_kill(&f);
}

/* worker -> stage_one -> stage_two -> the executor's Signal leaf, at their markers. */
static void expect_worker_chain(json_t *task, const char *what)
{
	json_t *worker = json_object_get(task, "tree");
	cr_expect_str_eq(doc_str(worker, "function"), "tinyexec::worker", "%s", what);
	cr_expect_eq(doc_int(worker, "line"), marker_line(SRC, "@await: tinyexec-worker"), "%s", what);
	json_t *one = doc_child(worker);
	cr_assert_not_null(one, "%s", what);
	cr_expect_str_eq(doc_str(one, "function"), "tinyexec::stage_one", "%s", what);
	cr_expect_eq(doc_int(one, "line"), marker_line(SRC, "@await: tinyexec-stage-one"), "%s", what);
	json_t *two = doc_child(one);
	cr_assert_not_null(two, "%s", what);
	cr_expect_str_eq(doc_str(two, "function"), "tinyexec::stage_two", "%s", what);
	cr_expect_eq(doc_int(two, "line"), marker_line(SRC, "@await: tinyexec-leaf"), "%s", what);
	doc_expect_leaf(doc_child(two), "tinyexec::Signal", what);
}

Test(runtime_decoders, every_task_with_its_id_name_state_and_chain)
{
	struct fixture f;
	struct tool_result r;
	fixture_start(&f, "plain", "tinyexec", NULL);
	char *file = decoder_file();
	dump(&f, "json", file, &r);
	json_t *root = doc_parse(r.out, "dump");
	json_t *runtimes = json_object_get(root, "runtimes");
	cr_assert_eq(json_array_size(runtimes), 1, "%s", r.out);
	cr_expect_str_eq(doc_str(json_array_get(runtimes, 0), "name"), "tinyexec");
	cr_expect(json_is_true(json_object_get(json_array_get(runtimes, 0), "decoded")), "%s", r.out);
	json_t *tasks = json_object_get(root, "tasks");
	cr_expect_eq(json_array_size(tasks), 11, "the eleven tasks, and no fallback: %s", r.out);
	static const struct {
		int id;
		const char *name, *status, *future;
	} want[] = {
		{ 1, "alpha", "idle", "tinyexec::worker" },
		{ 2, "beta", "idle", "tinyexec::worker" },
		{ 3, "gamma", "completed", "tinyexec::quick" },
		{ 4, "blocker", "running", "tinyexec::blocker" },
		{ 5, "delta", "scheduled", "tinyexec::worker" },
	};
	for (size_t i = 0; i < AI_ARRAY_SIZE(want); i++) {
		json_t *t = doc_item_by_int(tasks, "id", want[i].id);
		cr_assert_not_null(t, "no task %d: %s", want[i].id, r.out);
		cr_expect_str_eq(doc_str(t, "runtime"), "tinyexec");
		cr_expect_str_eq(doc_str(t, "kind"), "task");
		cr_expect_str_eq(doc_str(t, "name"), want[i].name);
		cr_expect_str_eq(doc_str(t, "status"), want[i].status, "task %d", want[i].id);
		cr_expect_str_eq(doc_str(t, "future"), want[i].future, "task %d", want[i].id);
	}
	expect_worker_chain(doc_item_by_int(tasks, "id", 1), "alpha");
	expect_worker_chain(doc_item_by_int(tasks, "id", 2), "beta");
	cr_expect_str_eq(doc_str(json_object_get(doc_item_by_int(tasks, "id", 3), "tree"), "state"), "Returned");
	cr_expect_str_eq(doc_str(json_object_get(doc_item_by_int(tasks, "id", 5), "tree"), "state"), "Unresumed");
	json_decref(root);
	tool_result_free(&r);
	dump(&f, "text", file, &r);
	cr_expect(strstr(r.out, "Task 1 \"alpha\"  tinyexec::worker  idle  (tinyexec)"), "%s", r.out);
	cr_expect(strstr(r.out, "Task 4 \"blocker\"  tinyexec::blocker  running  (tinyexec)"), "%s", r.out);
	cr_expect(strstr(r.out, "11 tasks (8 idle, 1 scheduled, 1 running, 1 completed)"), "%s", r.out);
	cr_expect(!strstr(r.out, "fallback"), "%s", r.out);
	tool_result_free(&r);
	free(file);
	fixture_kill(&f);
}

/* attach's view (headless) lists the decoder's tasks as any runtime's: no frontend knows them. */
Test(runtime_decoders, attach_lists_the_tasks)
{
	struct fixture f;
	struct tool_result r;
	fixture_start(&f, "plain", "tinyexec", NULL);
	char *file = decoder_file();
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	setenv("AI_TUI_HEADLESS", "200x30", 1);
	setenv("AI_TUI_KEYS", "", 1);
	tool_run(&r, 120, (const char *[]){ "attach", "--pid", pid, "--decoders", file, NULL });
	unsetenv("AI_TUI_HEADLESS");
	unsetenv("AI_TUI_KEYS");
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	char *worker = xasprintf("tinyexec.rs:%d", marker_line(SRC, "@await: tinyexec-leaf")); /* innermost */
	cr_expect(strstr(r.out, worker), "%s", r.out);
	cr_expect(strstr(r.out, "\"blocker\" tinyexec::blocker"), "%s", r.out);
	cr_expect(strstr(r.out, "tasks 11: 1 running 1 scheduled 6 blocked 2 deadlocked 1 done"), "%s", r.out);
	cr_expect(strstr(r.out, "join Task 1 (idle)"), "the decoder's waits: %s", r.out);
	cr_expect(strstr(r.out, "tinyexec::quick"), "%s", r.out);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S', "the fixture was left running");
	free(worker);
	tool_result_free(&r);
	free(file);
	fixture_kill(&f);
}

/* The second registry of the fixture: a linked list (container "list", a String name, a bool
 * state, the future in an Option), loaded beside the first as a runtime of its own. */
Test(runtime_decoders, a_linked_list_beside_a_vec)
{
	struct fixture f;
	struct tool_result r;
	fixture_start(&f, "plain", "tinyexec", NULL);
	const char *source = getenv("AI_SOURCE");
	char *list = xasprintf("%s/tests/fixtures/plain/decoders/tinyexec-list.json", source && *source ? source : ".");
	char *vec = decoder_file();
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	tool_run(&r, 60, (const char *[]){ "dump", "--pid", pid, "--format", "json", "--decoders", list,
					   "--decoders", vec, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	json_t *root = doc_parse(r.out, "dump");
	json_t *tasks = json_object_get(root, "tasks");
	cr_expect_eq(json_array_size(tasks), 13, "%s", r.out);
	cr_expect_eq(json_array_size(json_object_get(root, "runtimes")), 2, "%s", r.out);
	static const struct {
		int id;
		const char *name;
	} want[] = { { 10, "list-a" }, { 11, "list-b" } };
	for (size_t i = 0; i < AI_ARRAY_SIZE(want); i++) {
		json_t *t = doc_item_by_int(tasks, "id", want[i].id);
		cr_assert_not_null(t, "no task %d: %s", want[i].id, r.out);
		cr_expect_str_eq(doc_str(t, "runtime"), "tinylist");
		cr_expect_str_eq(doc_str(t, "name"), want[i].name);
		cr_expect_str_eq(doc_str(t, "status"), "idle");
		expect_worker_chain(t, want[i].name);
	}
	cr_expect_str_eq(doc_str(doc_item_by_int(tasks, "id", 1), "runtime"), "tinyexec");
	json_decref(root);
	tool_result_free(&r);
	free(list);
	free(vec);
	fixture_kill(&f);
}

/* The third: tasks in a thread-local of thread local-exec (tasks.thread_local, a RefCell<Vec>). */
Test(runtime_decoders, tasks_in_a_thread_local)
{
	struct fixture f;
	struct tool_result r;
	fixture_start(&f, "plain", "tinyexec", NULL);
	const char *source = getenv("AI_SOURCE");
	char *local = xasprintf("%s/tests/fixtures/plain/decoders/tinyexec-local.json", source && *source ? source : ".");
	dump(&f, "json", local, &r);
	json_t *root = doc_parse(r.out, "dump");
	json_t *runtimes = json_object_get(root, "runtimes");
	cr_assert_eq(json_array_size(runtimes), 1, "%s", r.out);
	cr_expect_str_eq(doc_str(json_array_get(runtimes, 0), "name"), "tinylocal");
	cr_expect_eq(doc_int(json_array_get(runtimes, 0), "instances"), 1, "one thread runs tasks: %s", r.out);
	json_t *tasks = json_object_get(root, "tasks");
	static const struct {
		int id;
		const char *name;
	} want[] = { { 20, "local-a" }, { 21, "local-b" } };
	for (size_t i = 0; i < AI_ARRAY_SIZE(want); i++) {
		json_t *t = doc_item_by_int(tasks, "id", want[i].id);
		cr_assert_not_null(t, "no task %d: %s", want[i].id, r.out);
		cr_expect_str_eq(doc_str(t, "runtime"), "tinylocal");
		cr_expect_str_eq(doc_str(t, "name"), want[i].name);
		cr_expect_str_eq(doc_str(t, "status"), "idle");
		expect_worker_chain(t, want[i].name);
	}
	json_decref(root);
	tool_result_free(&r);
	free(local);
	fixture_kill(&f);
}

Test(runtime_decoders, a_file_not_understood_is_refused_with_where)
{
	char dir[] = "/tmp/ai-rtdecoders-XXXXXX";
	cr_assert(mkdtemp(dir));
	char *broken = xasprintf("%s/broken.json", dir), *key = xasprintf("%s/key.json", dir);
	write_file(broken, "{ \"format\": \"async-inspect-runtime\", \"version\": 1,\n"
			   "  \"runtime\": \"x\",,\n}\n");
	write_file(key, "{ \"format\": \"async-inspect-runtime\", \"version\": 1, \"runtime\": \"x\",\n"
			"  \"detect\": { \"symbol\": \"x::REG\" },\n"
			"  \"tasks\": { \"static\": \"x::REG\", \"container\": \"tree\" },\n"
			"  \"task\": { \"future\": \"fut\" } }\n");
	struct tool_result r;
	tool_run(&r, 30, (const char *[]){ "dump", "--pid", "1", "--decoders", broken, NULL });
	cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
	char *where = xasprintf("async-inspect: --decoders %s:2:18: ", broken);
	cr_expect(strstr(r.err, where), "%s", r.err);
	cr_expect_eq(count_substr(r.err, "\n"), 1, "one line: %s", r.err);
	cr_expect_str_eq(r.out, "");
	tool_result_free(&r);
	tool_run(&r, 30, (const char *[]){ "dump", "--pid", "1", "--decoders", key, NULL });
	cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
	char *what = xasprintf("--decoders %s: tasks.container \"tree\" is not understood (vec, slice, array, list)", key);
	cr_expect(strstr(r.err, what), "%s", r.err);
	tool_result_free(&r);
	unlink(broken);
	unlink(key);
	rmdir(dir);
	free(what);
	free(where);
	free(broken);
	free(key);
}

Test(runtime_decoders, a_file_that_does_not_match_the_binary_is_a_warning)
{
	struct fixture f;
	struct tool_result r;
	fixture_start(&f, "plain", "tinyexec", NULL);
	char dir[] = "/tmp/ai-rtdecoders-XXXXXX";
	cr_assert(mkdtemp(dir));
	char *wrong = xasprintf("%s/wrong.json", dir), *absent = xasprintf("%s/absent.json", dir);
	write_file(wrong, "{ \"format\": \"async-inspect-runtime\", \"version\": 1, \"runtime\": \"tinyexec\",\n"
			  "  \"detect\": { \"symbol\": \"tinyexec::REGISTRY\" },\n"
			  "  \"tasks\": { \"static\": \"tinyexec::REGISTRY\", \"path\": \"data.items\", \"container\": \"vec\" },\n"
			  "  \"task\": { \"future\": \"future\" } }\n");
	write_file(absent, "{ \"format\": \"async-inspect-runtime\", \"version\": 1, \"runtime\": \"other\",\n"
			   "  \"detect\": { \"type\": \"other_exec::Registry\" },\n"
			   "  \"tasks\": { \"static\": \"other_exec::TASKS\", \"container\": \"array\" },\n"
			   "  \"task\": { \"future\": \"future\" } }\n");
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	tool_run(&r, 60, (const char *[]){ "dump", "--pid", pid, "--format", "json", "--decoders", wrong,
					   "--decoders", absent, NULL });
	/* the dump goes on; then, as for any runtime found but not decoded, status 1 and one line */
	cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
	cr_expect(strstr(r.err, "async-inspect: error: tinyexec is used by process "), "%s", r.err);
	json_t *root = doc_parse(r.out, "dump");
	char *warning = xasprintf("tinyexec (decoder %s): the task list (tasks.path) could not be read: "
				  "core::cell::UnsafeCell<alloc::vec::Vec<tinyexec::Task, alloc::alloc::Global>> has no member items",
				  wrong);
	cr_expect(has_warning(root, warning), "%s", r.out);
	json_t *runtimes = json_object_get(root, "runtimes");
	cr_expect_eq(json_array_size(runtimes), 1, "the other runtime is not detected: %s", r.out);
	cr_expect(json_is_false(json_object_get(json_array_get(runtimes, 0), "decoded")), "%s", r.out);
	json_decref(root);
	tool_result_free(&r);
	unlink(wrong);
	unlink(absent);
	rmdir(dir);
	free(warning);
	free(wrong);
	free(absent);
	fixture_kill(&f);
}

Test(runtime_decoders, the_config_directory_is_read_and_a_bad_file_there_skipped)
{
	struct fixture f;
	struct tool_result r;
	fixture_start(&f, "plain", "tinyexec", NULL);
	char home[] = "/tmp/ai-rtdecoders-XXXXXX";
	cr_assert(mkdtemp(home));
	char *sub = xasprintf("%s/async-inspect", home), *dir = xasprintf("%s/async-inspect/decoders", home);
	cr_assert_eq(mkdir(sub, 0700), 0);
	cr_assert_eq(mkdir(dir, 0700), 0);
	char *good = xasprintf("%s/tinyexec.json", dir), *bad = xasprintf("%s/0-broken.json", dir);
	char *file = decoder_file();
	char *text = ai_read_small_file(file, NULL);
	cr_assert_not_null(text, "%s", file);
	write_file(good, text);
	write_file(bad, "{ \"format\": \"async-inspect-runtime\"\n");
	setenv("XDG_CONFIG_HOME", home, 1);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	tool_run(&r, 60, (const char *[]){ "dump", "--pid", pid, NULL });
	unsetenv("XDG_CONFIG_HOME");
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	char *skipped = xasprintf("async-inspect: warning: --decoders %s:2:0: ", bad);
	cr_expect(strstr(r.err, skipped), "%s", r.err);
	cr_expect(strstr(r.err, "; skipped\n"), "%s", r.err);
	cr_expect(strstr(r.out, "Task 2 \"beta\"  tinyexec::worker  idle  (tinyexec)"), "%s", r.out);
	tool_result_free(&r);
	unlink(good);
	unlink(bad);
	rmdir(dir);
	rmdir(sub);
	rmdir(home);
	free(skipped);
	free(text);
	free(file);
	free(good);
	free(bad);
	free(sub);
	free(dir);
	fixture_kill(&f);
}

/* The file's `waits` and `guards`: each task of 30-35 parks on one of the executor's own leaf
 * futures, and dump names its wait as it names a C adapter's, in the text and the JSON: a sleep
 * with its deadline, a channel with its senders, a lock with its holder (and the lock-order
 * deadlock of 32 and 33), a join on task 1, a read on a unix socket. */
Test(runtime_decoders, the_waits_of_the_runtime_s_own_leaf_futures)
{
	struct fixture f;
	struct tool_result r;
	fixture_start(&f, "plain", "tinyexec", NULL);
	char *file = decoder_file();
	dump(&f, "json", file, &r);
	json_t *root = doc_parse(r.out, "dump");
	json_t *tasks = json_object_get(root, "tasks");
	static const struct {
		int id;
		const char *kind, *marker, *leaf;
	} want[] = {
		{ 30, "sleep", "@await: tinyexec-sleep", "tinyexec::Sleep" },
		{ 31, "channel_recv", "@await: tinyexec-recv-chan", "tinyexec::Recv" },
		{ 32, "mutex", "@await: tinyexec-lock", "tinyexec::Lock" },
		{ 33, "mutex", "@await: tinyexec-lock", "tinyexec::Lock" },
		{ 34, "join", "@await: tinyexec-join", "tinyexec::JoinHandle" },
		{ 35, "io", "@await: tinyexec-read", "tinyexec::Readable" },
	};
	for (size_t i = 0; i < AI_ARRAY_SIZE(want); i++) {
		json_t *t = doc_item_by_int(tasks, "id", want[i].id);
		cr_assert_not_null(t, "no task %d: %s", want[i].id, r.out);
		cr_expect_str_eq(doc_str(t, "status"), "idle", "task %d", want[i].id);
		json_t *tree = json_object_get(t, "tree");
		cr_expect_eq(doc_int(tree, "line"), marker_line(SRC, want[i].marker), "task %d", want[i].id);
		doc_expect_leaf(doc_child(tree), want[i].leaf, want[i].leaf);
		doc_expect_wait(t, want[i].kind, want[i].leaf);
	}
	json_t *sleep = json_object_get(doc_item_by_int(tasks, "id", 30), "wait");
	cr_expect(json_is_integer(json_object_get(sleep, "deadline_ns")), "%s", r.out);
	cr_expect(strncmp(doc_str(sleep, "description"), "sleep, ", 7) == 0 &&
		  strstr(doc_str(sleep, "description"), " left"), "%s", doc_str(sleep, "description"));
	json_t *recv = json_object_get(doc_item_by_int(tasks, "id", 31), "wait");
	cr_expect_eq(doc_int(recv, "senders_alive"), 1);
	cr_expect(strstr(doc_str(recv, "description"), ", 1 sender alive"), "%s", doc_str(recv, "description"));
	/* each lock task holds the lock the other waits for, through its Guard `_first` */
	json_t *left = doc_item_by_int(tasks, "id", 32), *right = doc_item_by_int(tasks, "id", 33);
	json_t *held = json_array_get(json_object_get(left, "held"), 0);
	cr_assert_not_null(held, "%s", r.out);
	cr_expect_str_eq(doc_str(held, "local"), "_first");
	cr_expect_str_eq(doc_str(held, "guard"), "Guard");
	cr_expect_str_eq(doc_str(held, "type"), "TinyLock");
	cr_expect_str_eq(doc_str(held, "address"), doc_str(json_object_get(right, "wait"), "address"));
	cr_expect(strstr(doc_str(json_object_get(left, "wait"), "description"), ", held by Task 33 tinyexec::lock_pair"),
		  "%s", r.out);
	json_t *deadlock = json_array_get(json_object_get(root, "deadlocks"), 0);
	cr_assert_not_null(deadlock, "the lock-order deadlock: %s", r.out);
	cr_expect_eq(json_array_size(json_object_get(deadlock, "tasks")), 2);
	json_t *join = json_object_get(doc_item_by_int(tasks, "id", 34), "wait");
	cr_expect_eq(doc_int(join, "task"), 1);
	cr_expect_str_eq(doc_str(join, "task_status"), "idle");
	json_t *io = json_object_get(doc_item_by_int(tasks, "id", 35), "wait");
	cr_expect(json_is_integer(json_object_get(io, "fd")), "%s", r.out);
	cr_expect_str_eq(doc_str(io, "direction"), "read");
	cr_expect_str_eq(doc_str(json_object_get(io, "socket"), "kind"), "unix");
	/* the Signal leaf no entry names stays unknown, with its type */
	cr_expect_str_eq(doc_str(json_object_get(doc_item_by_int(tasks, "id", 1), "wait"), "description"),
			 "unknown (tinyexec::Signal)");
	cr_expect_eq(json_array_size(json_object_get(root, "warnings")), 0, "%s", r.out);
	json_decref(root);
	tool_result_free(&r);
	dump(&f, "text", file, &r);
	cr_expect(strstr(r.out, "DEADLOCK: 2 tasks wait on each other"), "%s", r.out);
	cr_expect(strstr(r.out, "└─ tinyexec::Sleep (leaf)  [sleep, "), "%s", r.out);
	cr_expect(strstr(r.out, " left]\n"), "%s", r.out);
	cr_expect(strstr(r.out, "└─ tinyexec::Recv (leaf)  [channel recv @ 0x"), "%s", r.out);
	cr_expect(strstr(r.out, "[TinyLock @ 0x"), "%s", r.out);
	cr_expect(strstr(r.out, ", held by Task 32 tinyexec::lock_pair]"), "%s", r.out);
	cr_expect(strstr(r.out, "holds TinyLock @ 0x"), "%s", r.out);
	cr_expect(strstr(r.out, "(guard `_first: Guard` in tinyexec::lock_pair)"), "%s", r.out);
	cr_expect(strstr(r.out, "└─ tinyexec::JoinHandle (leaf)  [join Task 1 (idle)]"), "%s", r.out);
	cr_expect(strstr(r.out, "└─ tinyexec::Readable (leaf)  [unix (unnamed) CONNECTED, waiting for read (fd "),
		  "%s", r.out);
	tool_result_free(&r);
	free(file);
	fixture_kill(&f);
}

/* A wait entry naming a member its type does not have: the wait says it is not understood, one
 * warning names the file, the entry and the member, and everything else is shown. A kind not
 * understood is refused when the file is read. */
Test(runtime_decoders, a_wait_member_the_type_does_not_have)
{
	struct fixture f;
	struct tool_result r;
	fixture_start(&f, "plain", "tinyexec", NULL);
	char dir[] = "/tmp/ai-rtdecoders-XXXXXX";
	cr_assert(mkdtemp(dir));
	char *wrong = xasprintf("%s/wrong.json", dir), *kind = xasprintf("%s/kind.json", dir);
	static const char head[] = "{ \"format\": \"async-inspect-runtime\", \"version\": 1, \"runtime\": \"tinyexec\",\n"
				   "  \"detect\": { \"symbol\": \"tinyexec::REGISTRY\" },\n"
				   "  \"tasks\": { \"static\": \"tinyexec::REGISTRY\", \"path\": \"data.value\", \"container\": \"vec\" },\n"
				   "  \"task\": { \"future\": \"future\", \"id\": \"id\" },\n";
	char *text = xasprintf("%s  \"waits\": [ { \"type\": \"tinyexec::Sleep\", \"kind\": \"sleep\", \"deadline\": \"when\" },\n"
			       "             { \"type\": \"tinyexec::JoinHandle\", \"kind\": \"join\", \"task\": \"task\" },\n"
			       "             { \"type\": \"tinyexec::Lock\", \"kind\": \"mutex\", \"lock\": \"lock\", \"locked\": \"held\" } ] }\n",
			       head);
	write_file(wrong, text);
	free(text);
	text = xasprintf("%s  \"waits\": [ { \"type\": \"tinyexec::Sleep\", \"kind\": \"timer\", \"deadline\": \"deadline\" } ] }\n",
			 head);
	write_file(kind, text);
	free(text);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f.pid);
	tool_run(&r, 60, (const char *[]){ "dump", "--pid", pid, "--format", "json", "--decoders", wrong, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	json_t *root = doc_parse(r.out, "dump");
	char *warning = xasprintf("tinyexec (decoder %s): waits[0].deadline: tinyexec::Sleep has no member when", wrong);
	cr_expect(has_warning(root, warning), "%s", r.out);
	char *locked = xasprintf("tinyexec (decoder %s): waits[2].locked: tinyexec::TinyLock has no member held", wrong);
	cr_expect(has_warning(root, locked), "%s", r.out);
	free(locked);
	cr_expect_eq(json_array_size(json_object_get(root, "warnings")), 2, "one warning each: %s", r.out);
	json_t *tasks = json_object_get(root, "tasks");
	json_t *sleep = json_object_get(doc_item_by_int(tasks, "id", 30), "wait");
	cr_expect_str_eq(doc_str(sleep, "kind"), "sleep");
	cr_expect_str_eq(doc_str(sleep, "description"),
			 "sleep, not understood (tinyexec::Sleep: tinyexec::Sleep has no member when)");
	cr_expect_str_eq(doc_str(json_object_get(doc_item_by_int(tasks, "id", 34), "wait"), "description"),
			 "join Task 1 (?)");
	cr_expect_str_eq(doc_str(json_object_get(doc_item_by_int(tasks, "id", 32), "wait"), "kind"), "mutex");
	json_decref(root);
	tool_result_free(&r);
	tool_run(&r, 60, (const char *[]){ "dump", "--pid", pid, "--decoders", kind, NULL });
	cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
	char *refused = xasprintf("async-inspect: --decoders %s: waits[0].kind is not understood (sleep, channel_recv, "
				  "channel_send, mutex, join, io, rwlock_read, rwlock_write, rwlock_upgradable_read, rwlock_upgrade, semaphore)\n", kind);
	cr_expect_str_eq(r.err, refused);
	tool_result_free(&r);
	/* a key of another kind */
	text = xasprintf("%s  \"waits\": [ { \"type\": \"tinyexec::JoinHandle\", \"kind\": \"join\", \"lock\": \"task\" } ] }\n",
			 head);
	write_file(kind, text);
	free(text);
	tool_run(&r, 60, (const char *[]){ "dump", "--pid", pid, "--decoders", kind, NULL });
	cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
	char *other = xasprintf("async-inspect: --decoders %s: waits[0]: unknown key \"lock\" for its kind (type or function, kind, task)\n",
				kind);
	cr_expect_str_eq(r.err, other);
	free(other);
	tool_result_free(&r);
	unlink(wrong);
	unlink(kind);
	rmdir(dir);
	free(refused);
	free(warning);
	free(wrong);
	free(kind);
	fixture_kill(&f);
}
