/* A decoder file of waits and guards only (docs/decoders/runtime.md, "Waits and guards"), for a
 * lock crate whatever runs its tasks: tests/fixtures/smol/decoders/async-rwlock.json on the smol
 * fixture `oldlocks` (async-rwlock 1.3's RwLock and async-semaphore 1.2's Semaphore, whose lock
 * functions are async fns parked on an event-listener 2 EventListener no built-in adapter reads).
 * Without the file those leaves are unknown; with it, an RwLock write wait behind a reader, a
 * read wait behind that writer and a semaphore acquire with no permit left, each naming what it
 * waits behind, with the guards as held, in the text and the JSON. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

TestSuite(lock_decoders, .init = require_fixtures, .timeout = 120);

#define SRC "smol/src/bin/oldlocks.rs"

static char *run_dump(struct fixture *f, const char *format, bool decoders)
{
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)f->pid);
	const char *source = getenv("AI_SOURCE");
	char *file = xasprintf("%s/tests/fixtures/smol/decoders/async-rwlock.json", source && *source ? source : ".");
	const char *args[] = { "dump", "--pid", pid, "--format", format, decoders ? "--decoders" : NULL, file, NULL };
	struct tool_result r;
	tool_run(&r, 60, args);
	cr_assert_eq(tool_exit_code(&r), 0, "%s", r.err);
	cr_expect_eq(process_settles_in(f->pid, 'S'), 'S', "the fixture was left running");
	char *out = r.out;
	r.out = NULL;
	tool_result_free(&r);
	free(file);
	return out;
}

/* The wait of the one task whose root future is function. */
static json_t *wait_of(json_t *tasks, const char *function)
{
	int n = 0;
	json_t *t = doc_find_task(tasks, function, NULL, NULL, &n);
	cr_assert_eq(n, 1, "one task %s", function);
	return json_object_get(t, "wait");
}

static const char *held_address(json_t *tasks, const char *function, const char *kind, const char *local)
{
	int n = 0;
	json_t *held = json_array_get(json_object_get(doc_find_task(tasks, function, NULL, NULL, &n), "held"), 0);
	cr_assert_not_null(held, "%s holds nothing", function);
	cr_expect_str_eq(doc_str(held, "kind"), kind, "%s", function);
	cr_expect_str_eq(doc_str(held, "local"), local, "%s", function);
	return doc_str(held, "address");
}

Test(lock_decoders, without_the_file_the_event_listeners_are_unknown)
{
	struct fixture f;
	fixture_start(&f, "smol", "oldlocks", NULL);
	char *text = run_dump(&f, "text", false);
	cr_expect(strstr(text, "event_listener::EventListener (leaf)  [unknown (event_listener::EventListener)]"), "%s",
		  text);
	cr_expect(!strstr(text, "write-lock"), "%s", text);
	free(text);
	fixture_kill(&f);
}

Test(lock_decoders, rwlock_read_write_and_semaphore_waits_name_their_holders)
{
	struct fixture f;
	fixture_start(&f, "smol", "oldlocks", NULL);
	char *json = run_dump(&f, "json", true);
	char *text = run_dump(&f, "text", true);
	fixture_kill(&f);

	json_t *root = doc_parse(json, "dump");
	json_t *tasks = json_object_get(root, "tasks");
	const char *lock = held_address(tasks, "oldlocks::reader", "rwlock_read", "shared");
	const char *sem = held_address(tasks, "oldlocks::holder", "semaphore", "permit");

	json_t *write = wait_of(tasks, "oldlocks::writer");
	cr_expect_str_eq(doc_str(write, "kind"), "rwlock");
	cr_expect_str_eq(doc_str(write, "access"), "write");
	cr_expect_str_eq(doc_str(write, "type"), "RwLock<u64>");
	cr_expect_str_eq(doc_str(write, "address"), lock, "the reader's RwLock");
	cr_expect(json_is_true(json_object_get(write, "bars_readers")), "its writer bit keeps readers out: %s", json);
	cr_expect(strstr(doc_str(write, "description"), "write-lock RwLock<u64> @ 0x") &&
		  strstr(doc_str(write, "description"), ", 1 reader holds it, held by Task 0x") &&
		  strstr(doc_str(write, "description"), " oldlocks::reader"), "%s", doc_str(write, "description"));

	json_t *read = wait_of(tasks, "oldlocks::late");
	cr_expect_str_eq(doc_str(read, "access"), "read");
	cr_expect_str_eq(doc_str(read, "address"), lock);
	cr_expect(strstr(doc_str(read, "description"), "read-lock RwLock<u64> @ 0x") &&
		  strstr(doc_str(read, "description"), ", a writer holds it or waits for it, behind the writer Task 0x") &&
		  strstr(doc_str(read, "description"), " oldlocks::writer"), "%s", doc_str(read, "description"));

	json_t *acquire = wait_of(tasks, "oldlocks::acquirer");
	cr_expect_str_eq(doc_str(acquire, "kind"), "semaphore");
	cr_expect_str_eq(doc_str(acquire, "type"), "Semaphore");
	cr_expect_str_eq(doc_str(acquire, "address"), sem, "the holder's Semaphore");
	cr_expect_eq(doc_int(acquire, "permits_available"), 0);
	cr_expect(strstr(doc_str(acquire, "description"), "acquire Semaphore @ 0x") &&
		  strstr(doc_str(acquire, "description"), ", 0 permits left, held by Task 0x") &&
		  strstr(doc_str(acquire, "description"), " oldlocks::holder"), "%s", doc_str(acquire, "description"));
	cr_expect_eq(json_array_size(json_object_get(root, "warnings")), 0, "%s", json);
	cr_expect_eq(json_array_size(json_object_get(root, "deadlocks")), 0, "%s", json);

	/* the text: each wait at its leaf, the guards as held */
	cr_expect(strstr(text, "event_listener::EventListener (leaf)  [write-lock RwLock<u64> @ 0x"), "%s", text);
	cr_expect(strstr(text, "[acquire Semaphore @ 0x"), "%s", text);
	cr_expect(strstr(text, "holds RwLock<u64> @ 0x") && strstr(text, "(guard `shared: RwLockReadGuard<u64>` in oldlocks::reader)"),
		  "%s", text);
	cr_expect(strstr(text, "holds Semaphore @ 0x") && strstr(text, "(guard `permit: SemaphoreGuard` in oldlocks::holder)"),
		  "%s", text);
	/* the waiters' lines are the fixture's markers */
	char *writer_line = xasprintf("oldlocks.rs:%d", marker_line(SRC, "@await: old-writer"));
	cr_expect(strstr(text, writer_line), "%s", text);
	free(writer_line);
	json_decref(root);
	free(json);
	free(text);
}

/* async-rwlock's upgradable reads from the file: an upgradable_read() waits for the writer mutex
 * the upgradable reader holds, an upgrade for the reader left (and keeps new readers out). */
Test(lock_decoders, upgradable_read_and_upgrade_waits_name_their_holders)
{
	struct fixture f;
	fixture_start(&f, "smol", "oldlocks", NULL);
	char *json = run_dump(&f, "json", true);
	char *text = run_dump(&f, "text", true);
	fixture_kill(&f);

	json_t *root = doc_parse(json, "dump");
	json_t *tasks = json_object_get(root, "tasks");
	const char *up = held_address(tasks, "oldlocks::up_holder", "rwlock_upgradable", "reserved");
	const char *upg = held_address(tasks, "oldlocks::stayer", "rwlock_read", "shared");

	json_t *wait = wait_of(tasks, "oldlocks::up_waiter");
	cr_expect_str_eq(doc_str(wait, "kind"), "rwlock");
	cr_expect_str_eq(doc_str(wait, "access"), "upgradable_read");
	cr_expect_str_eq(doc_str(wait, "address"), up, "the upgradable reader's RwLock");
	cr_expect(json_is_true(json_object_get(wait, "queued")), "%s", json);
	cr_expect(strstr(doc_str(wait, "description"), "upgradable-read-lock RwLock<u64> @ 0x") &&
		  strstr(doc_str(wait, "description"), ", a writer or an upgradable reader holds it, held by Task 0x") &&
		  strstr(doc_str(wait, "description"), " oldlocks::up_holder"), "%s", doc_str(wait, "description"));

	json_t *upgrade = wait_of(tasks, "oldlocks::upgrader");
	cr_expect_str_eq(doc_str(upgrade, "access"), "upgrade");
	cr_expect_str_eq(doc_str(upgrade, "address"), upg, "the stayer's RwLock");
	cr_expect(json_is_true(json_object_get(upgrade, "bars_readers")), "an upgrade has set the writer bit: %s", json);
	cr_expect(strstr(doc_str(upgrade, "description"), "upgrade RwLock<u64> @ 0x") &&
		  strstr(doc_str(upgrade, "description"), ", 1 other reader holds it, held by Task 0x") &&
		  strstr(doc_str(upgrade, "description"), " oldlocks::stayer"), "%s", doc_str(upgrade, "description"));
	cr_expect(!strstr(doc_str(upgrade, "description"), "this task itself"), "its own write guard is not a holder");
	cr_expect_eq(json_array_size(json_object_get(root, "warnings")), 0, "%s", json);
	cr_expect_eq(json_array_size(json_object_get(root, "deadlocks")), 0, "%s", json);

	cr_expect(strstr(text, "(guard `reserved: RwLockUpgradableReadGuard<u64>` in oldlocks::up_holder)"), "%s", text);
	char *line = xasprintf("oldlocks.rs:%d", marker_line(SRC, "@await: old-upgrade"));
	cr_expect(strstr(text, line), "%s", text);
	free(line);
	json_decref(root);
	free(json);
	free(text);
}

/* The new keys are checked as every key is: an entry with both type and function, a lock state
 * that is neither a member path nor {member, mask, shift}, a guard kind not understood, and a
 * file with neither tasks nor waits are refused, naming the file and the entry, before attaching. */
Test(lock_decoders, malformed_lock_entries_are_refused_with_where)
{
	static const struct {
		const char *body, *error;
	} cases[] = {
		{ "\"waits\": [ { \"type\": \"a::B\", \"function\": \"a::f\", \"kind\": \"semaphore\", \"semaphore\": \"self\" } ]",
		  "waits[0]: give one of \"type\" (the leaf future's) and \"function\" (the async fn it is awaited in)" },
		{ "\"waits\": [ { \"function\": \"a::f\", \"kind\": \"rwlock_read\", \"lock\": \"self\", \"writer\": { \"mask\": 1 } } ]",
		  "\"waits[0].writer.member\" is missing" },
		{ "\"waits\": [ { \"function\": \"a::f\", \"kind\": \"rwlock_write\", \"lock\": \"self\", \"readers\": 3 } ]",
		  "\"waits[0].readers\" must be a member path or an object (member, mask, shift)" },
		{ "\"guards\": [ { \"type\": \"a::G\", \"kind\": \"rwlock\", \"lock\": \"__0\" } ]",
		  "guards[0].kind is not understood (mutex, rwlock_read, rwlock_write, rwlock_upgradable, semaphore)" },
		{ "\"waits\": [ { \"function\": \"a::f\", \"kind\": \"rwlock_upgrade\", \"lock\": \"self\", \"writer\": \"state\" } ]",
		  "waits[0]: unknown key \"writer\" for its kind (type or function, kind, lock, readers)" },
		{ "\"waits\": []", "\"detect\" is missing (a file without detect, tasks and task describes only waits and guards, and has none)" },
	};
	char path[] = "/tmp/ai-lock-decoder-XXXXXX.json";
	int fd = mkstemps(path, 5);
	cr_assert(fd >= 0);
	close(fd);
	char pid[16];
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	for (size_t i = 0; i < AI_ARRAY_SIZE(cases); i++) {
		FILE *out = fopen(path, "w");
		cr_assert(out);
		fprintf(out, "{ \"format\": \"async-inspect-runtime\", \"version\": 1, \"runtime\": \"locks\", %s }\n",
			cases[i].body);
		fclose(out);
		struct tool_result r;
		tool_run(&r, 60, (const char *[]){ "dump", "--pid", pid, "--decoders", path, NULL });
		cr_expect_eq(tool_exit_code(&r), 1, "%s", r.err);
		char *want = xasprintf("async-inspect: --decoders %s: %s\n", path, cases[i].error);
		cr_expect_str_eq(r.err, want);
		free(want);
		tool_result_free(&r);
	}
	unlink(path);
}
