/* `async-inspect dump` on the smol `locks` fixture (tests/fixtures/smol/src/bin/locks.rs): tasks
 * parked on async-lock's Mutex (two of them in a lock-order deadlock), RwLock write behind a
 * reader, upgrade() behind a reader, upgradable_read() behind an upgradable reader, the _arc
 * forms of lock, read and write, a read behind a writer in line, and Semaphore acquire with no
 * permit left; what each waits for, who holds it (from
 * the guards in the holders' saved locals, confirmed by the lock's state, or "holder unknown")
 * and the deadlock. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

TestSuite(smol_locks, .init = require_fixtures, .timeout = 300);

#define SRC "smol/src/bin/locks.rs"

/* The one task whose root future is `function`. */
static json_t *task_of(json_t *tasks, const char *function)
{
	int n = 0;
	json_t *t = doc_find_task(tasks, function, NULL, NULL, &n);
	cr_assert_eq(n, 1, "one task %s", function);
	return t;
}

/* The address of the only guard task holds, of kind. */
static const char *held_address(json_t *task, const char *kind, const char *what)
{
	json_t *held = json_object_get(task, "held");
	cr_assert_eq(json_array_size(held), 1, "%s holds one guard", what);
	json_t *g = json_array_get(held, 0);
	cr_expect_str_eq(doc_str(g, "kind"), kind, "%s", what);
	return doc_str(g, "address");
}

Test(smol_locks, waits_holders_and_deadlock)
{
	struct fixture f;
	fixture_start(&f, "smol", "locks", NULL);
	struct tool_result r;
	dump_fixture(&f, "json", &r);
	json_error_t error;
	json_t *root = json_loads(r.out, 0, &error);
	cr_assert(root, "invalid JSON: %s", error.text);
	json_t *tasks = json_object_get(root, "tasks");

	/* ab and ba each hold one Mutex and wait for the other's. */
	json_t *ab = task_of(tasks, "locks::ab"), *ba = task_of(tasks, "locks::ba");
	json_t *ab_wait = doc_expect_wait(ab, "mutex", "ab"), *ba_wait = doc_expect_wait(ba, "mutex", "ba");
	cr_expect_str_eq(doc_str(ab_wait, "type"), "Mutex<u64>");
	cr_expect(json_is_true(json_object_get(ab_wait, "queued")), "the Mutex is locked: ab is blocked");
	cr_expect_str_eq(doc_str(ab_wait, "address"), held_address(ba, "mutex", "ba"), "ab waits for ba's Mutex");
	cr_expect_str_eq(doc_str(ba_wait, "address"), held_address(ab, "mutex", "ab"), "ba waits for ab's Mutex");
	cr_expect(strstr(doc_str(ab_wait, "description"), ", locked, held by Task 0x") &&
		  strstr(doc_str(ab_wait, "description"), " locks::ba"), "%s", doc_str(ab_wait, "description"));

	json_t *deadlocks = json_object_get(root, "deadlocks");
	cr_assert_eq(json_array_size(deadlocks), 1, "one deadlock: %s", r.out);
	json_t *d = json_array_get(deadlocks, 0);
	cr_expect_str_eq(doc_str(d, "kind"), "deadlock");
	json_t *edges = json_object_get(d, "edges"), *e;
	cr_assert_eq(json_array_size(edges), 2, "ab -> ba -> ab");
	bool by_ab = false, by_ba = false;
	size_t i;
	json_array_foreach(edges, i, e) {
		json_t *res = json_object_get(e, "resource"), *by = json_object_get(e, "held_by");
		cr_expect_str_eq(doc_str(res, "kind"), "mutex");
		cr_expect_str_eq(doc_str(res, "type"), "Mutex<u64>");
		cr_assert_not_null(by, "each edge names the guard that holds the lock");
		by_ab |= strcmp(doc_str(by, "function"), "locks::ab") == 0;
		by_ba |= strcmp(doc_str(by, "function"), "locks::ba") == 0;
		cr_expect_str_eq(doc_str(by, "local"), "held");
	}
	cr_expect(by_ab && by_ba, "the guards of both tasks are on the cycle");

	/* writer waits to write-lock the RwLock that reader holds a read guard of. */
	json_t *reader = task_of(tasks, "locks::reader"), *writer = task_of(tasks, "locks::writer");
	json_t *rw = doc_expect_wait(writer, "rwlock", "writer");
	cr_expect_str_eq(doc_str(rw, "access"), "write");
	cr_expect_str_eq(doc_str(rw, "type"), "RwLock<u64>");
	cr_expect(json_is_true(json_object_get(rw, "queued")));
	cr_expect_str_eq(doc_str(rw, "address"), held_address(reader, "rwlock_read", "reader"), "the reader's RwLock");
	cr_expect(strstr(doc_str(rw, "description"), "write-lock RwLock<u64> @ 0x") &&
		  strstr(doc_str(rw, "description"), ", 1 reader holds it, held by Task 0x") &&
		  strstr(doc_str(rw, "description"), " locks::reader"), "%s", doc_str(rw, "description"));
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(writer, "tree"), "line")),
		     marker_line(SRC, "@await: writer"));

	/* acquirer waits on the Semaphore(2) whose permits the two permit tasks hold. */
	json_t *sem = doc_expect_wait(task_of(tasks, "locks::acquirer"), "semaphore", "acquirer");
	cr_expect_str_eq(doc_str(sem, "type"), "Semaphore");
	cr_expect_eq(json_integer_value(json_object_get(sem, "permits_available")), 0);
	cr_expect(json_is_true(json_object_get(sem, "queued")));
	cr_expect(strstr(doc_str(sem, "description"), "acquire Semaphore @ 0x") &&
		  strstr(doc_str(sem, "description"), ", 0 permits left, held by Task 0x"), "%s",
		  doc_str(sem, "description"));
	int n = 0;
	json_t *t;
	json_array_foreach(tasks, i, t) {
		if (strcmp(doc_str(t, "future"), "locks::permit") != 0)
			continue;
		n++;
		cr_expect_str_eq(held_address(t, "semaphore", "permit"), doc_str(sem, "address"));
	}
	cr_expect_eq(n, 2, "two permit holders");

	/* orphan waits on a Mutex locked by a guard no task keeps (main forgot it): locked, and no
	 * holder is made up. */
	json_t *lost = doc_expect_wait(task_of(tasks, "locks::orphan"), "mutex", "orphan");
	cr_expect(json_is_true(json_object_get(lost, "queued")));
	cr_expect(strstr(doc_str(lost, "description"), ", locked, holder unknown"), "%s", doc_str(lost, "description"));
	cr_expect_eq(count_substr(doc_str(sem, "description"), " locks::permit"), 2, "%s", doc_str(sem, "description"));
	/* upgrader holds an upgradable read of `up` and waits in upgrade() for up_reader to leave. */
	json_t *up_reader = task_of(tasks, "locks::up_reader");
	json_t *up = doc_expect_wait(task_of(tasks, "locks::upgrader"), "rwlock", "upgrader");
	cr_expect_str_eq(doc_str(up, "access"), "upgrade");
	cr_expect_str_eq(doc_str(up, "type"), "RwLock<u64>");
	cr_expect(json_is_true(json_object_get(up, "queued")));
	cr_expect_str_eq(doc_str(up, "address"), held_address(up_reader, "rwlock_read", "up_reader"));
	cr_expect(strstr(doc_str(up, "description"), "upgrade RwLock<u64> @ 0x") &&
		  strstr(doc_str(up, "description"), ", 1 reader holds it, held by Task 0x") &&
		  strstr(doc_str(up, "description"), " locks::up_reader"), "%s", doc_str(up, "description"));

	/* up_waiter waits in upgradable_read() behind up_holder's upgradable_read_arc guard. */
	json_t *up_holder = task_of(tasks, "locks::up_holder");
	json_t *upr = doc_expect_wait(task_of(tasks, "locks::up_waiter"), "rwlock", "up_waiter");
	cr_expect_str_eq(doc_str(upr, "access"), "upgradable_read");
	cr_expect(json_is_true(json_object_get(upr, "queued")));
	cr_expect_str_eq(doc_str(upr, "address"), held_address(up_holder, "rwlock_upgradable", "up_holder"));
	cr_expect(strstr(doc_str(upr, "description"), "upgradable-read-lock RwLock<u64> @ 0x") &&
		  strstr(doc_str(upr, "description"), ", a writer or an upgradable reader holds it, held by Task 0x") &&
		  strstr(doc_str(upr, "description"), " locks::up_holder"), "%s", doc_str(upr, "description"));

	/* The _arc forms: write_arc behind a read_arc guard, lock_arc behind a lock_arc guard. */
	json_t *aw = doc_expect_wait(task_of(tasks, "locks::arc_writer"), "rwlock", "arc_writer");
	cr_expect_str_eq(doc_str(aw, "access"), "write");
	cr_expect_str_eq(doc_str(aw, "address"),
			 held_address(task_of(tasks, "locks::arc_reader"), "rwlock_read", "arc_reader"));
	cr_expect(strstr(doc_str(aw, "description"), ", 1 reader holds it, held by Task 0x") &&
		  strstr(doc_str(aw, "description"), " locks::arc_reader"), "%s", doc_str(aw, "description"));
	json_t *am = doc_expect_wait(task_of(tasks, "locks::arc_waiter"), "mutex", "arc_waiter");
	cr_expect_str_eq(doc_str(am, "type"), "Mutex<u64>");
	cr_expect_str_eq(doc_str(am, "address"), held_address(task_of(tasks, "locks::arc_holder"), "mutex", "arc_holder"));
	cr_expect(strstr(doc_str(am, "description"), ", locked, held by Task 0x") &&
		  strstr(doc_str(am, "description"), " locks::arc_holder"), "%s", doc_str(am, "description"));
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(task_of(tasks, "locks::up_waiter"), "tree"), "line")),
		     marker_line(SRC, "@await: upgradable-wait"));
	/* rq_late reads behind rq_writer, which waits in line (writer bit set) for rq_reader: the
	 * reader waits for the writer, not for the reader the writer waits for. */
	json_t *rqw = doc_expect_wait(task_of(tasks, "locks::rq_writer"), "rwlock", "rq_writer");
	cr_expect(json_is_true(json_object_get(rqw, "bars_readers")), "rq_writer keeps new readers out");
	cr_expect(strstr(doc_str(rqw, "description"), " locks::rq_reader"), "%s", doc_str(rqw, "description"));
	json_t *late = doc_expect_wait(task_of(tasks, "locks::rq_late"), "rwlock", "rq_late");
	cr_expect_str_eq(doc_str(late, "access"), "read");
	cr_expect(json_is_true(json_object_get(late, "queued")));
	cr_expect_str_eq(doc_str(late, "address"), doc_str(rqw, "address"));
	cr_expect(strstr(doc_str(late, "description"), "read-lock RwLock<u64> @ 0x") &&
		  strstr(doc_str(late, "description"), ", behind the writer Task 0x") &&
		  strstr(doc_str(late, "description"), " locks::rq_writer") &&
		  !strstr(doc_str(late, "description"), "held by"), "%s", doc_str(late, "description"));
	cr_expect_eq(json_integer_value(json_object_get(json_object_get(task_of(tasks, "locks::rq_late"), "tree"), "line")),
		     marker_line(SRC, "@await: late-reader"));
	/* locks::writer, alone in line, bars readers too; no reader is behind it. */
	cr_expect(json_is_true(json_object_get(rw, "bars_readers")));
	json_decref(root);
	tool_result_free(&r);

	/* The text dump: the deadlock section and each wait as users read it. */
	dump_fixture(&f, "text", &r);
	cr_expect(strstr(r.out, "DEADLOCK: 2 tasks wait on each other"), "%s", r.out);
	char *line = xasprintf("locks.rs:%d waits for Mutex<u64> @ 0x", marker_line(SRC, "@await: deadlock-ab"));
	cr_expect(strstr(r.out, line), "%s in %s", line, r.out);
	free(line);
	cr_expect(strstr(r.out, "(guard `held` held across "), "%s", r.out);
	line = xasprintf("locks.rs:%d)\n", marker_line(SRC, "@await: deadlock-ba"));
	cr_expect(strstr(r.out, line), "%s in %s", line, r.out);
	free(line);
	cr_expect(strstr(r.out, "Suggestion: take these locks in one global order"), "%s", r.out);
	cr_expect(strstr(r.out, "[write-lock RwLock<u64> @ 0x"), "%s", r.out);
	cr_expect(strstr(r.out, "holds RwLock<u64> @ 0x"), "%s", r.out);
	cr_expect(strstr(r.out, "[acquire Semaphore @ 0x"), "%s", r.out);
	cr_expect(strstr(r.out, "Mutex<u32> @ 0x") && strstr(r.out, ", locked, holder unknown]"), "%s", r.out);
	cr_expect_eq(count_substr(r.out, "holds Semaphore @ 0x"), 2, "%s", r.out);
	cr_expect(strstr(r.out, "[upgrade RwLock<u64> @ 0x"), "%s", r.out);
	cr_expect(strstr(r.out, "(guard `upgradable: RwLockUpgradableReadGuardArc<u64>` in locks::up_holder)"), "%s",
		  r.out);
	cr_expect(strstr(r.out, "(guard `shared: RwLockReadGuardArc<u64>` in locks::arc_reader)"), "%s", r.out);
	tool_result_free(&r);
	fixture_kill(&f);
}
