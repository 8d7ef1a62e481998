/* Wait reasons, held locks and deadlocks (`dump`): the figures against what the fixtures set up
 * (tests/fixtures/README.md, "The deadlock and wait fixtures"), in every tokio version. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

TestSuite(wait, .init = require_fixtures, .timeout = 300);

static json_t *task_by_future(json_t *root, const char *future, size_t nth)
{
	return doc_item_by_string(json_object_get(root, "tasks"), "future", future, nth);
}

static json_t *task_by_id(json_t *root, json_int_t id)
{
	return doc_item_by_int(json_object_get(root, "tasks"), "id", id);
}

/* The held entry of task t on the lock at address (a "0x..." string), or NULL. */
static json_t *held_on(json_t *t, const char *address)
{
	return doc_item_by_string(json_object_get(t, "held"), "address", address, 0);
}

/* Every lock edge of a deadlock goes to the task whose live guard names that lock, and that
 * guard's local is the expected one for the holder. */
static void check_lock_edge(json_t *root, json_t *edge, const char *version)
{
	json_t *resource = json_object_get(edge, "resource");
	cr_expect_str_eq(doc_str(resource, "kind"), "mutex", "%s", version);
	const char *address = doc_str(resource, "address");
	json_t *holder = task_by_id(root, json_integer_value(json_object_get(edge, "to")));
	cr_assert_not_null(holder, "%s: edge to an unknown task", version);
	cr_expect_not_null(held_on(holder, address), "%s: Task %lld does not hold %s", version,
			   (long long)json_integer_value(json_object_get(edge, "to")), address);
	json_t *waiter = task_by_id(root, json_integer_value(json_object_get(edge, "from")));
	cr_assert_not_null(waiter);
	json_t *wait = json_object_get(waiter, "wait");
	cr_expect_str_eq(doc_str(wait, "address"), address, "%s: the waiter's wait names the lock", version);
	cr_expect_eq(json_integer_value(json_object_get(wait, "permits_available")), 0, "%s", version);
}

Test(wait, abba_deadlock_two_tasks_two_mutexes)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "deadlock_abba", NULL);
		json_t *root = doc_dump(&f, *v);
		fixture_kill(&f);
		json_t *deadlocks = json_object_get(root, "deadlocks");
		cr_assert_eq(json_array_size(deadlocks), 1, "%s: one deadlock", *v);
		json_t *dl = json_array_get(deadlocks, 0);
		cr_expect_eq(json_array_size(json_object_get(dl, "tasks")), 2, "%s", *v);
		json_t *a = task_by_future(root, "deadlock_abba::task_a", 0);
		json_t *b = task_by_future(root, "deadlock_abba::task_b", 0);
		cr_assert(a && b, "%s: both tasks", *v);
		json_int_t ida = json_integer_value(json_object_get(a, "id"));
		json_int_t idb = json_integer_value(json_object_get(b, "id"));
		/* task_a holds `ledger` (mutex 1), task_b holds `books` (mutex 2). */
		cr_assert_eq(json_array_size(json_object_get(a, "held")), 1, "%s", *v);
		cr_assert_eq(json_array_size(json_object_get(b, "held")), 1, "%s", *v);
		json_t *ha = json_array_get(json_object_get(a, "held"), 0);
		json_t *hb = json_array_get(json_object_get(b, "held"), 0);
		cr_expect_str_eq(doc_str(ha, "local"), "ledger", "%s", *v);
		cr_expect_str_eq(doc_str(hb, "local"), "books", "%s", *v);
		cr_expect_str_eq(doc_str(ha, "type"), "Mutex<deadlock_abba::Ledger>", "%s", *v);
		cr_expect_str_neq(doc_str(ha, "address"), doc_str(hb, "address"), "%s: two mutexes", *v);
		/* a waits for mutex 2 (held by b), b for mutex 1 (held by a). */
		cr_expect_str_eq(doc_str(json_object_get(a, "wait"), "address"), doc_str(hb, "address"), "%s", *v);
		cr_expect_str_eq(doc_str(json_object_get(b, "wait"), "address"), doc_str(ha, "address"), "%s", *v);
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(dl, "edges"), i, e) {
			json_int_t from = json_integer_value(json_object_get(e, "from"));
			json_int_t to = json_integer_value(json_object_get(e, "to"));
			cr_expect((from == ida && to == idb) || (from == idb && to == ida), "%s: edge %lld -> %lld",
				  *v, (long long)from, (long long)to);
			check_lock_edge(root, e, *v);
		}
		json_decref(root);
	}
}

Test(wait, ring3_one_cycle_of_three)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "deadlock_ring3", NULL);
		json_t *root = doc_dump(&f, *v);
		fixture_kill(&f);
		json_t *deadlocks = json_object_get(root, "deadlocks");
		cr_assert_eq(json_array_size(deadlocks), 1, "%s: one deadlock", *v);
		json_t *dl = json_array_get(deadlocks, 0);
		cr_expect_eq(json_array_size(json_object_get(dl, "tasks")), 3, "%s", *v);
		json_t *edges = json_object_get(dl, "edges");
		cr_assert_eq(json_array_size(edges), 3, "%s", *v);
		size_t i;
		json_t *e;
		json_array_foreach(edges, i, e) {
			check_lock_edge(root, e, *v);
			json_t *holder = task_by_id(root, json_integer_value(json_object_get(e, "to")));
			json_t *h = held_on(holder, doc_str(json_object_get(e, "resource"), "address"));
			cr_expect_str_eq(doc_str(h, "local"), "held", "%s", *v);
			cr_expect_str_eq(doc_str(h, "guard"), "OwnedMutexGuard<u64>", "%s", *v);
			/* A cycle: each edge starts where the previous one ended. */
			json_t *next = json_array_get(edges, (i + 1) % 3);
			cr_expect_eq(json_integer_value(json_object_get(e, "to")),
				     json_integer_value(json_object_get(next, "from")), "%s", *v);
		}
		json_decref(root);
	}
}

Test(wait, join_deadlock_through_join_handle)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "deadlock_join", NULL);
		json_t *root = doc_dump(&f, *v);
		fixture_kill(&f);
		json_t *deadlocks = json_object_get(root, "deadlocks");
		cr_assert_eq(json_array_size(deadlocks), 1, "%s: one deadlock", *v);
		json_t *a = task_by_future(root, "deadlock_join::task_a", 0);
		json_t *b = task_by_future(root, "deadlock_join::task_b", 0);
		cr_assert(a && b, "%s", *v);
		json_int_t ida = json_integer_value(json_object_get(a, "id"));
		json_int_t idb = json_integer_value(json_object_get(b, "id"));
		json_t *wa = json_object_get(a, "wait");
		cr_expect_str_eq(doc_str(wa, "kind"), "join", "%s", *v);
		cr_expect_eq(json_integer_value(json_object_get(wa, "task")), idb, "%s: a joins b", *v);
		json_t *dl = json_array_get(deadlocks, 0);
		bool join_edge = false, lock_edge = false;
		size_t i;
		json_t *e;
		json_array_foreach(json_object_get(dl, "edges"), i, e) {
			json_int_t from = json_integer_value(json_object_get(e, "from"));
			json_int_t to = json_integer_value(json_object_get(e, "to"));
			const char *kind = doc_str(json_object_get(e, "resource"), "kind");
			if (strcmp(kind, "join") == 0) {
				join_edge = from == ida && to == idb;
			} else {
				lock_edge = from == idb && to == ida;
				check_lock_edge(root, e, *v);
				json_t *h = held_on(a, doc_str(json_object_get(e, "resource"), "address"));
				cr_expect_str_eq(doc_str(h, "local"), "ledger", "%s", *v);
			}
		}
		cr_expect(join_edge && lock_edge, "%s: a -join-> b -mutex-> a", *v);
		json_decref(root);
	}
}

Test(wait, no_deadlock_for_rwlock_writer)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "rwlock_writer", NULL);
		json_t *root = doc_dump(&f, *v);
		fixture_kill(&f);
		cr_expect_eq(json_array_size(json_object_get(root, "deadlocks")), 0, "%s: not a cycle", *v);
		json_decref(root);
	}
}

Test(wait, no_false_positive_on_healthy_busy)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "healthy_busy", NULL);
		for (int k = 0; k < 4; k++) {
			json_t *root = doc_dump(&f, *v);
			cr_expect_eq(json_array_size(json_object_get(root, "deadlocks")), 0,
				     "%s: dump %d reports a deadlock in a healthy program", *v, k);
			/* A mutex has at most one holder. */
			size_t i, j;
			json_t *t, *h;
			json_array_foreach(json_object_get(root, "tasks"), i, t) {
				json_array_foreach(json_object_get(t, "held"), j, h) {
					if (strcmp(doc_str(h, "kind"), "mutex") != 0)
						continue;
					size_t n = 0, i2;
					json_t *t2;
					json_array_foreach(json_object_get(root, "tasks"), i2, t2)
						n += held_on(t2, doc_str(h, "address")) != NULL;
					cr_expect_eq(n, 1, "%s: mutex %s with %zu holders", *v, doc_str(h, "address"), n);
				}
			}
			json_decref(root);
		}
		fixture_kill(&f);
	}
}

Test(wait, waits_timer_semaphore_join_figures)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		uint64_t t0 = ai_now_us();
		fixture_start(&f, *v, "waits", NULL);
		json_t *root = doc_dump(&f, *v);
		uint64_t t1 = ai_now_us();
		fixture_kill(&f);
		cr_expect_eq(json_array_size(json_object_get(root, "deadlocks")), 0, "%s", *v);

		/* sleep_until(start + 3600 s): between 3600 s - (time since before the fixture
		 * started) and 3600 s left. */
		json_t *sleep = json_object_get(task_by_future(root, "waits::timed_sleep", 0), "wait");
		cr_assert_not_null(sleep, "%s", *v);
		cr_expect_str_eq(doc_str(sleep, "kind"), "sleep", "%s", *v);
		json_int_t left = json_integer_value(json_object_get(sleep, "remaining_ms"));
		json_int_t elapsed = (json_int_t)((t1 - t0) / 1000);
		cr_expect(left <= 3600000 && left >= 3600000 - elapsed - 50, "%s: %lld ms left, %lld ms elapsed",
			  *v, (long long)left, (long long)elapsed);
		cr_expect(strstr(doc_str(sleep, "description"), "59m") != NULL, "%s: %s", *v, doc_str(sleep, "description"));

		/* sem_waiter: the semaphore sem_holder holds all 3 permits of. */
		json_t *holder = task_by_future(root, "waits::sem_holder", 0);
		json_t *sem = json_object_get(task_by_future(root, "waits::sem_waiter", 0), "wait");
		cr_assert(holder && sem, "%s", *v);
		cr_expect_str_eq(doc_str(sem, "kind"), "semaphore", "%s", *v);
		cr_expect_str_eq(doc_str(sem, "type"), "Semaphore", "%s", *v);
		cr_expect_eq(json_integer_value(json_object_get(sem, "permits_available")), 0, "%s", *v);
		cr_expect_eq(json_integer_value(json_object_get(sem, "permits_wanted")), 1, "%s", *v);
		cr_expect(json_is_true(json_object_get(sem, "queued")), "%s", *v);
		json_t *permit = held_on(holder, doc_str(sem, "address"));
		cr_expect_not_null(permit, "%s: sem_holder holds the semaphore sem_waiter waits for", *v);
		cr_expect_str_eq(doc_str(permit, "local"), "permits", "%s", *v);

		/* joiner awaits sleeper's JoinHandle. */
		json_t *sleeper = task_by_future(root, "waits::sleeper", 0);
		json_t *join = json_object_get(task_by_future(root, "waits::joiner", 0), "wait");
		cr_assert(sleeper && join, "%s", *v);
		cr_expect_str_eq(doc_str(join, "kind"), "join", "%s", *v);
		cr_expect_eq(json_integer_value(json_object_get(join, "task")),
			     json_integer_value(json_object_get(sleeper, "id")), "%s", *v);
		cr_expect_str_eq(doc_str(join, "task_status"), "idle", "%s", *v);
		cr_expect_str_eq(doc_str(join, "address"), doc_str(sleeper, "address"), "%s", *v);
		json_decref(root);
	}
}

Test(wait, waits_channels_notify_interval_figures)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		uint64_t t0 = ai_now_us();
		fixture_start(&f, *v, "waits", NULL);
		json_t *root = doc_dump(&f, *v);
		uint64_t t1 = ai_now_us();
		fixture_kill(&f);

		/* interval_at(start, 3600 s), first tick taken: the next one at start + 3600 s. */
		json_t *iv = json_object_get(task_by_future(root, "waits::ticker", 0), "wait");
		cr_assert_not_null(iv, "%s", *v);
		cr_expect_str_eq(doc_str(iv, "kind"), "interval", "%s", *v);
		json_int_t left = doc_int(iv, "remaining_ms");
		json_int_t elapsed = (json_int_t)((t1 - t0) / 1000);
		cr_expect(left <= 3600000 && left >= 3600000 - elapsed - 50, "%s: %lld ms left", *v, (long long)left);
		json_t *sleep = json_object_get(task_by_future(root, "waits::timed_sleep", 0), "wait");
		cr_expect_eq(doc_int(iv, "deadline_ns"), doc_int(sleep, "deadline_ns"), "%s: both start + 3600 s", *v);

		/* oneshot: the sender lives in oneshot_keeper. */
		json_t *os = json_object_get(task_by_future(root, "waits::oneshot_recv", 0), "wait");
		cr_expect_str_eq(doc_str(os, "kind"), "oneshot", "%s", *v);
		cr_expect(json_is_true(json_object_get(os, "sender_alive")), "%s", *v);
		cr_expect_null(json_object_get(os, "warning"), "%s", *v);

		/* mpsc_self: 1 sender alive, its own `own_tx`, 0 queued, capacity 4: a warning. */
		json_t *ms = json_object_get(task_by_future(root, "waits::mpsc_self", 0), "wait");
		cr_expect_str_eq(doc_str(ms, "kind"), "mpsc_recv", "%s", *v);
		cr_expect_eq(doc_int(ms, "senders_alive"), 1, "%s", *v);
		cr_expect_eq(doc_int(ms, "senders_own"), 1, "%s", *v);
		cr_expect_eq(doc_int(ms, "messages_queued"), 0, "%s", *v);
		cr_expect_eq(doc_int(ms, "capacity"), 4, "%s", *v);
		cr_expect(strstr(doc_str(ms, "warning"), "`own_tx`") != NULL, "%s: %s", *v, doc_str(ms, "warning"));
		bool warned = false;
		size_t i;
		json_t *wn;
		json_array_foreach(json_object_get(root, "warnings"), i, wn)
			warned |= strstr(json_string_value(wn), "waits::mpsc_self") != NULL;
		cr_expect(warned, "%s: a top-level warning for mpsc_self", *v);

		/* mpsc_full: send on a full channel of capacity 2, 2 queued, receiver alive. */
		json_t *mf = json_object_get(task_by_future(root, "waits::mpsc_full", 0), "wait");
		cr_expect_str_eq(doc_str(mf, "kind"), "mpsc_send", "%s", *v);
		cr_expect_eq(doc_int(mf, "capacity"), 2, "%s", *v);
		cr_expect_eq(doc_int(mf, "messages_queued"), 2, "%s", *v);
		cr_expect_eq(doc_int(mf, "senders_alive"), 1, "%s", *v);
		cr_expect(json_is_true(json_object_get(mf, "receiver_alive")), "%s", *v);

		/* unbounded: 2 senders alive (main), 0 queued, no warning. */
		json_t *ub = json_object_get(task_by_future(root, "waits::unbounded_recv", 0), "wait");
		cr_expect_str_eq(doc_str(ub, "kind"), "mpsc_recv", "%s", *v);
		cr_expect_eq(doc_int(ub, "senders_alive"), 2, "%s", *v);
		cr_expect_eq(doc_int(ub, "senders_own"), 0, "%s", *v);
		cr_expect_eq(doc_int(ub, "messages_queued"), 0, "%s", *v);
		cr_expect_null(json_object_get(ub, "capacity"), "%s", *v);
		cr_expect_null(json_object_get(ub, "warning"), "%s", *v);
		cr_expect_str_neq(doc_str(ub, "address"), doc_str(ms, "address"), "%s", *v);

		/* Notify: the same address as the `bell` Arc<Notify> is not known here, but it is a
		 * Notify, not the main future's own `park`. */
		json_t *nt = json_object_get(task_by_future(root, "waits::notified", 0), "wait");
		cr_expect_str_eq(doc_str(nt, "kind"), "notify", "%s", *v);
		cr_expect(strncmp(doc_str(nt, "address"), "0x", 2) == 0, "%s", *v);
		json_decref(root);
	}
}

Test(wait, rwlock_writer_waits_for_write_readers_hold_read)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "rwlock_writer", NULL);
		json_t *root = doc_dump(&f, *v);
		fixture_kill(&f);
		json_t *writer = task_by_future(root, "rwlock_writer::writer", 0);
		cr_assert_not_null(writer, "%s", *v);
		json_t *w = json_object_get(writer, "wait");
		cr_expect_str_eq(doc_str(w, "kind"), "rwlock", "%s", *v);
		cr_expect_str_eq(doc_str(w, "access"), "write", "%s", *v);
		cr_expect_str_eq(doc_str(w, "type"), "RwLock<rwlock_writer::Config>", "%s", *v);
		/* (the address is the RwLock's; rustc may put its semaphore `s` at offset 0) */
		for (size_t k = 0; k < 2; k++) {
			json_t *r = task_by_future(root, "rwlock_writer::reader", k);
			cr_assert_not_null(r, "%s: reader %zu", *v, k);
			json_t *h = held_on(r, doc_str(w, "address"));
			cr_assert_not_null(h, "%s: reader %zu holds the RwLock the writer waits for", *v, k);
			cr_expect_str_eq(doc_str(h, "kind"), "rwlock_read", "%s", *v);
			cr_expect_str_eq(doc_str(h, "local"), "cfg", "%s", *v);
			cr_expect_str_eq(doc_str(h, "type"), "RwLock<rwlock_writer::Config>", "%s", *v);
			cr_expect_str_eq(doc_str(h, "semaphore"), doc_str(w, "semaphore"), "%s", *v);
		}
		/* The lone reader's RwLock has no waiter to name it: its address and type come from
		 * DWARF (RwLock<T> of the guard's T). Same T as the writer's lock, so `s` sits at the
		 * same offset: address = semaphore - (writer's semaphore - writer's RwLock). */
		json_t *lone = task_by_future(root, "rwlock_writer::lone_reader", 0);
		cr_assert_not_null(lone, "%s", *v);
		cr_assert_eq(json_array_size(json_object_get(lone, "held")), 1, "%s", *v);
		json_t *h = json_array_get(json_object_get(lone, "held"), 0);
		cr_expect_str_eq(doc_str(h, "kind"), "rwlock_read", "%s", *v);
		cr_expect_str_eq(doc_str(h, "local"), "snap", "%s", *v);
		cr_expect_str_eq(doc_str(h, "type"), "RwLock<rwlock_writer::Config>", "%s", *v);
		unsigned long long s_off = strtoull(doc_str(w, "semaphore"), NULL, 16) - strtoull(doc_str(w, "address"), NULL, 16);
		unsigned long long lone_sem = strtoull(doc_str(h, "semaphore"), NULL, 16);
		unsigned long long lone_addr = strtoull(doc_str(h, "address"), NULL, 16);
		cr_expect_eq(lone_addr, lone_sem - s_off, "%s: RwLock @ %#llx, semaphore %#llx, s at +%llu", *v,
			     lone_addr, lone_sem, s_off);
		cr_expect_str_neq(doc_str(h, "address"), doc_str(w, "address"), "%s: a second RwLock", *v);
		cr_expect_eq(json_integer_value(json_object_get(h, "line")),
			     marker_line("tokio/src/bin/rwlock_writer.rs", "@await: rw-lone-park"), "%s", *v);

		/* The late reader is queued behind the writer (the semaphore is fair): it waits for the
		 * writer, not for the readers the writer waits for. */
		cr_expect(json_is_true(json_object_get(w, "bars_readers")), "%s: the queued writer bars readers", *v);
		json_t *late = task_by_future(root, "rwlock_writer::late_reader", 0);
		cr_assert_not_null(late, "%s", *v);
		json_t *lw = json_object_get(late, "wait");
		cr_expect_str_eq(doc_str(lw, "access"), "read", "%s", *v);
		cr_expect(json_is_true(json_object_get(lw, "queued")), "%s", *v);
		cr_expect_str_eq(doc_str(lw, "address"), doc_str(w, "address"), "%s", *v);
		char *behind = xasprintf(", behind the writer Task %lld rwlock_writer::writer",
					 (long long)json_integer_value(json_object_get(writer, "id")));
		cr_expect(strstr(doc_str(lw, "description"), behind), "%s: '%s' in %s", *v, behind,
			  doc_str(lw, "description"));
		free(behind);
		/* Their places in the semaphore's line, read from its list: the writer queued first. */
		cr_expect_eq(json_integer_value(json_object_get(w, "place_in_line")), 1, "%s", *v);
		cr_expect_eq(json_integer_value(json_object_get(lw, "place_in_line")), 2, "%s", *v);
		cr_expect(strstr(doc_str(lw, "description"), ", place 2 in line"), "%s: %s", *v, doc_str(lw, "description"));
		json_decref(root);
	}
}

/* A reader queued before a writer on the "queue" RwLock: it waits for the lock's holder, in
 * place 1, and the writer queued after it does not bar it; the writer is in place 2. */
Test(wait, rwlock_reader_first_in_line_is_not_behind_the_writer)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "rwlock_writer", NULL);
		json_t *root = doc_dump(&f, *v);
		fixture_kill(&f);
		json_t *holder = task_by_future(root, "rwlock_writer::holder", 0);
		json_t *first = task_by_future(root, "rwlock_writer::first_in_line", 0);
		json_t *second = task_by_future(root, "rwlock_writer::second_in_line", 0);
		cr_assert(holder && first && second, "%s: the three tasks of the queue lock", *v);
		json_t *fw = json_object_get(first, "wait"), *sw = json_object_get(second, "wait");
		cr_assert_not_null(held_on(holder, doc_str(fw, "address")), "%s: the holder holds the lock the reader waits for", *v);
		cr_expect_str_eq(doc_str(held_on(holder, doc_str(fw, "address")), "kind"), "rwlock_write", "%s", *v);
		cr_expect_str_eq(doc_str(fw, "access"), "read", "%s", *v);
		cr_expect(json_is_true(json_object_get(fw, "queued")), "%s", *v);
		cr_expect_eq(json_integer_value(json_object_get(fw, "place_in_line")), 1, "%s", *v);
		cr_expect(!strstr(doc_str(fw, "description"), "behind the writer"), "%s: %s", *v, doc_str(fw, "description"));
		cr_expect(strstr(doc_str(fw, "description"), ", place 1 in line"), "%s: %s", *v, doc_str(fw, "description"));
		cr_expect_str_eq(doc_str(sw, "address"), doc_str(fw, "address"), "%s: one lock", *v);
		cr_expect_str_eq(doc_str(sw, "access"), "write", "%s", *v);
		cr_expect_eq(json_integer_value(json_object_get(sw, "place_in_line")), 2, "%s", *v);
		cr_expect(json_is_true(json_object_get(sw, "bars_readers")), "%s", *v);
		json_decref(root);
	}
}

Test(wait, graph_dot_on_abba)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "deadlock_abba", NULL);
		json_t *root = doc_dump(&f, *v);
		char *pid = xasprintf("%d", (int)f.pid);
		struct tool_result r;
		tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, "--graph", "dot", NULL });
		fixture_kill(&f);
		cr_assert_eq(tool_exit_code(&r), 0, "%s: %s", *v, r.err);
		const char *dot = r.out;
		cr_expect(strncmp(dot, "digraph wait_for {", 18) == 0, "%s", *v);
		json_t *a = task_by_future(root, "deadlock_abba::task_a", 0);
		json_t *b = task_by_future(root, "deadlock_abba::task_b", 0);
		cr_assert(a && b, "%s", *v);
		char *la = xasprintf("Task %lld deadlock_abba::task_a", (long long)json_integer_value(json_object_get(a, "id")));
		char *lb = xasprintf("Task %lld deadlock_abba::task_b", (long long)json_integer_value(json_object_get(b, "id")));
		const char *addr1 = doc_str(json_array_get(json_object_get(a, "held"), 0), "address");
		const char *addr2 = doc_str(json_array_get(json_object_get(b, "held"), 0), "address");
		char *l1 = xasprintf("Mutex<deadlock_abba::Ledger> @ %s", addr1);
		char *l2 = xasprintf("Mutex<deadlock_abba::Ledger> @ %s", addr2);
		char *ta = dot_node(dot, la), *tb = dot_node(dot, lb), *m1 = dot_node(dot, l1), *m2 = dot_node(dot, l2);
		cr_assert(ta && tb && m1 && m2, "%s: nodes for both tasks and both mutexes:\n%s", *v, dot);
		/* a waits for mutex 2 held by b; b waits for mutex 1 held by a: all red. */
		const char *edges[4][3] = { { ta, m2, "waits for" }, { m2, tb, "held by" },
					    { tb, m1, "waits for" }, { m1, ta, "held by" } };
		for (size_t k = 0; k < 4; k++) {
			const char *e = dot_edge(dot, edges[k][0], edges[k][1], edges[k][2]);
			cr_expect_not_null(e, "%s: edge %s -> %s %s:\n%s", *v, edges[k][0], edges[k][1], edges[k][2], dot);
			if (e) {
				size_t len = strcspn(e, "\n");
				cr_expect(memmem(e, len, "color=red", 9) != NULL, "%s: deadlock edge in red", *v);
			}
		}
		/* The main future awaits task_a: a join edge, not red. */
		char *tm = dot_node(dot, "block_on deadlock_abba::main");
		cr_assert_not_null(tm, "%s", *v);
		const char *j = dot_edge(dot, tm, ta, "awaits join");
		cr_expect_not_null(j, "%s", *v);
		if (j)
			cr_expect(memmem(j, strcspn(j, "\n"), "red", 3) == NULL, "%s", *v);
		free(ta), free(tb), free(m1), free(m2), free(tm), free(la), free(lb), free(l1), free(l2);
		tool_result_free(&r);
		free(pid);
		json_decref(root);
	}
}

Test(wait, futurelock_lock_granted_to_an_unpolled_future)
{
	int wait_line = marker_line("tokio/src/bin/futurelock.rs", "@await: flock-wait");
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "futurelock", NULL);
		json_t *root = doc_dump(&f, *v);
		char *pid = xasprintf("%d", (int)f.pid);
		struct tool_result text, dot;
		tool_run(&text, 120, (const char *[]){ "dump", "--pid", pid, NULL });
		tool_run(&dot, 120, (const char *[]){ "dump", "--pid", pid, "--graph", "dot", NULL });
		fixture_kill(&f);
		json_t *victim = task_by_future(root, "futurelock::victim", 0);
		json_t *holder = task_by_future(root, "futurelock::holder", 0);
		cr_assert(victim && holder, "%s", *v);
		json_int_t vid = json_integer_value(json_object_get(victim, "id"));
		/* victim waits for the Mutex<u32>, with no permit left and no guard anywhere: the
		 * holder's guard went out of scope before it parked. */
		json_t *w = json_object_get(victim, "wait");
		cr_expect_str_eq(doc_str(w, "kind"), "mutex", "%s", *v);
		cr_expect_str_eq(doc_str(w, "type"), "Mutex<u32>", "%s", *v);
		cr_expect_eq(json_integer_value(json_object_get(w, "permits_available")), 0, "%s", *v);
		cr_expect_eq(json_integer_value(json_object_get(w, "permits_wanted")), 1, "%s", *v);
		size_t i;
		cr_expect_eq(json_array_size(json_object_get(holder, "held")), 0, "%s: the holder's guard is gone", *v);
		/* The holder parks on std::future::pending(). */
		cr_expect_str_eq(doc_str(json_object_get(holder, "wait"), "kind"), "pending", "%s", *v);
		cr_expect_str_eq(doc_str(json_object_get(holder, "wait"), "description"),
				 "pending forever (std::future::pending never completes)", "%s", *v);
		cr_expect_null(held_on(victim, doc_str(w, "address")), "%s", *v);
		/* The granted future: victim's own `fut`, saved at the flock-wait suspend point. */
		cr_assert_eq(json_array_size(json_object_get(victim, "unpolled")), 1, "%s", *v);
		cr_expect_eq(json_array_size(json_object_get(holder, "unpolled")), 0, "%s", *v);
		json_t *u = json_array_get(json_object_get(victim, "unpolled"), 0);
		cr_expect_str_eq(doc_str(u, "local"), "fut", "%s", *v);
		cr_expect_str_eq(doc_str(u, "function"), "futurelock::victim", "%s", *v);
		cr_expect_eq(json_integer_value(json_object_get(u, "line")), wait_line, "%s", *v);
		cr_expect(strncmp(doc_str(u, "future"), "lock::{async_fn_env#0}<u32>", 27) == 0, "%s: %s", *v, doc_str(u, "future"));
		cr_expect_str_eq(doc_str(u, "address"), doc_str(w, "address"), "%s: the lock victim waits for", *v);
		cr_expect_str_eq(doc_str(u, "semaphore"), doc_str(w, "semaphore"), "%s", *v);
		cr_expect(json_is_true(json_object_get(u, "granted")), "%s", *v);
		cr_expect_eq(json_integer_value(json_object_get(u, "permits_wanted")), 0, "%s", *v);
		/* One futurelock: a cycle of one task, the self-edge through `fut`. */
		json_t *deadlocks = json_object_get(root, "deadlocks");
		cr_assert_eq(json_array_size(deadlocks), 1, "%s", *v);
		json_t *dl = json_array_get(deadlocks, 0);
		cr_expect_str_eq(doc_str(dl, "kind"), "futurelock", "%s", *v);
		cr_assert_eq(json_array_size(json_object_get(dl, "tasks")), 1, "%s", *v);
		cr_expect_eq(json_integer_value(json_array_get(json_object_get(dl, "tasks"), 0)), vid, "%s", *v);
		json_t *e = json_array_get(json_object_get(dl, "edges"), 0);
		cr_expect_eq(json_integer_value(json_object_get(e, "from")), vid, "%s", *v);
		cr_expect_eq(json_integer_value(json_object_get(e, "to")), vid, "%s", *v);
		cr_expect_str_eq(doc_str(json_object_get(e, "resource"), "address"), doc_str(w, "address"), "%s", *v);
		cr_expect_str_eq(doc_str(json_object_get(e, "granted_to"), "local"), "fut", "%s", *v);
		cr_expect_null(json_object_get(e, "held_by"), "%s", *v);
		/* The warning and the text view name the task, the lock and the local. */
		char *warning = xasprintf("futurelock: Task %lld futurelock::victim waits for Mutex<u32> @ %s, which no "
					  "guard holds: it was granted to the future `fut`", (long long)vid, doc_str(w, "address"));
		bool warned = false;
		json_t *wn;
		json_array_foreach(json_object_get(root, "warnings"), i, wn)
			warned |= strstr(json_string_value(wn), warning) != NULL;
		cr_expect(warned, "%s: no warning \"%s\"", *v, warning);
		cr_expect_eq(tool_exit_code(&text), 0, "%s", *v);
		cr_expect(strstr(text.out, "FUTURELOCK: a task waits for a lock granted to a future it no longer polls") != NULL,
			  "%s:\n%s", *v, text.out);
		cr_expect(strstr(text.out, "2 tasks wait on each other") == NULL, "%s", *v);
		char *keeps = xasprintf("  keeps unpolled `fut: lock::{async_fn_env#0}<u32>`, granted Mutex<u32> @ %s (in "
					"futurelock::victim)\n", doc_str(w, "address"));
		cr_expect(strstr(text.out, keeps) != NULL, "%s: no \"%s\"", *v, keeps);
		free(keeps);
		cr_expect(strstr(text.out, "1 tasks wait on each other") == NULL, "%s", *v);
		/* (the fixture's path is printed whole: cut it before the file name) */
		char *line = xasprintf("futurelock.rs:%d waits for Mutex<u32> @ %s\n     which no guard holds: it was "
				       "granted to the future `fut`", wait_line, doc_str(w, "address"));
		char *who = xasprintf("  Task %lld futurelock::victim at /", (long long)vid);
		cr_expect(strstr(text.out, who) != NULL, "%s: no \"%s\" in\n%s", *v, who, text.out);
		free(who);
		cr_expect(strstr(text.out, line) != NULL, "%s: no \"%s\" in\n%s", *v, line, text.out);
		free(line);
		/* DOT: victim -> the lock -> victim again, through `fut`, both red. */
		char *label = xasprintf("Task %lld futurelock::victim", (long long)vid);
		char *lock = xasprintf("Mutex<u32> @ %s", doc_str(w, "address"));
		char *tv = dot_node(dot.out, label), *rl = dot_node(dot.out, lock);
		cr_assert(tv && rl, "%s: nodes in\n%s", *v, dot.out);
		const char *e1 = dot_edge(dot.out, tv, rl, "waits for"), *e2 = dot_edge(dot.out, rl, tv, "granted to unpolled `fut`");
		cr_expect(e1 && e2, "%s:\n%s", *v, dot.out);
		if (e1 && e2)
			cr_expect(memmem(e2, strcspn(e2, "\n"), "color=red", 9) && memmem(e1, strcspn(e1, "\n"), "color=red", 9),
				  "%s", *v);
		free(label), free(lock), free(tv), free(rl);
		tool_result_free(&dot);
		free(warning);
		free(pid);
		tool_result_free(&text);
		json_decref(root);
	}
}

/* The deadlock whose tasks are exactly {a, b}, or NULL. */
static json_t *deadlock_of(json_t *root, json_int_t a, json_int_t b)
{
	size_t i;
	json_t *dl;
	json_array_foreach(json_object_get(root, "deadlocks"), i, dl) {
		json_t *tasks = json_object_get(dl, "tasks");
		if (json_array_size(tasks) != 2)
			continue;
		json_int_t x = json_integer_value(json_array_get(tasks, 0)), y = json_integer_value(json_array_get(tasks, 1));
		if ((x == a && y == b) || (x == b && y == a))
			return dl;
	}
	return NULL;
}

/* The edge of dl that starts at task from. */
static json_t *edge_from(json_t *dl, json_int_t from)
{
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(dl, "edges"), i, e) {
		if (json_integer_value(json_object_get(e, "from")) == from)
			return e;
	}
	return NULL;
}

/* waiter waits for a message on its channel; its only Sender is `local` of holder, saved at the
 * holder's own suspend point (marker). */
static void check_channel_edge(json_t *root, json_t *dl, const char *waiter_fn, const char *holder_fn,
			       const char *kind, const char *sender_kind, const char *local, const char *marker,
			       const char *version)
{
	json_t *waiter = task_by_future(root, waiter_fn, 0), *holder = task_by_future(root, holder_fn, 0);
	cr_assert(waiter && holder, "%s", version);
	json_int_t wid = json_integer_value(json_object_get(waiter, "id"));
	json_int_t hid = json_integer_value(json_object_get(holder, "id"));
	json_t *w = json_object_get(waiter, "wait");
	cr_expect_str_eq(doc_str(w, "kind"), kind, "%s: %s", version, waiter_fn);
	json_t *e = edge_from(dl, wid);
	cr_assert_not_null(e, "%s: no edge from %s", version, waiter_fn);
	cr_expect_eq(json_integer_value(json_object_get(e, "to")), hid, "%s: %s -> %s", version, waiter_fn, holder_fn);
	json_t *res = json_object_get(e, "resource");
	cr_expect_str_eq(doc_str(res, "kind"), kind, "%s", version);
	cr_expect_str_eq(doc_str(res, "address"), doc_str(w, "address"), "%s: the channel %s receives on", version, waiter_fn);
	json_t *h = json_object_get(e, "held_by");
	cr_expect_str_eq(doc_str(h, "kind"), sender_kind, "%s", version);
	cr_expect_str_eq(doc_str(h, "local"), local, "%s", version);
	cr_expect_str_eq(doc_str(h, "address"), doc_str(w, "address"), "%s", version);
	cr_expect_str_eq(doc_str(h, "function"), holder_fn, "%s", version);
	cr_expect_eq(json_integer_value(json_object_get(h, "line")),
		     marker_line("tokio/src/bin/deadlock_channel.rs", marker), "%s: %s", version, local);
	/* The holder lists that Sender among what it holds. */
	cr_expect_not_null(held_on(holder, doc_str(w, "address")), "%s", version);
}

Test(wait, channel_deadlocks_through_the_only_senders)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "deadlock_channel", NULL);
		json_t *root = doc_dump(&f, *v);
		char *pid = xasprintf("%d", (int)f.pid);
		struct tool_result text;
		tool_run(&text, 120, (const char *[]){ "dump", "--pid", pid, NULL });
		fixture_kill(&f);
		json_t *deadlocks = json_object_get(root, "deadlocks");
		cr_assert_eq(json_array_size(deadlocks), 2, "%s: two deadlocks", *v);
		json_int_t ids[4];
		static const char *const fns[4] = { "deadlock_channel::ping", "deadlock_channel::pong",
						    "deadlock_channel::ask", "deadlock_channel::answer" };
		for (size_t k = 0; k < 4; k++) {
			json_t *t = task_by_future(root, fns[k], 0);
			cr_assert_not_null(t, "%s: %s", *v, fns[k]);
			ids[k] = json_integer_value(json_object_get(t, "id"));
		}
		json_t *mpsc = deadlock_of(root, ids[0], ids[1]), *oneshot = deadlock_of(root, ids[2], ids[3]);
		cr_assert(mpsc && oneshot, "%s: a deadlock of ping and pong, one of ask and answer", *v);
		cr_expect_str_eq(doc_str(mpsc, "kind"), "deadlock", "%s", *v);
		check_channel_edge(root, mpsc, fns[0], fns[1], "mpsc_recv", "mpsc_sender", "to_ping", "@await: chan-pong-recv", *v);
		check_channel_edge(root, mpsc, fns[1], fns[0], "mpsc_recv", "mpsc_sender", "to_pong", "@await: chan-ping-recv", *v);
		check_channel_edge(root, oneshot, fns[2], fns[3], "oneshot", "oneshot_sender", "reply_tx", "@await: chan-answer-recv", *v);
		check_channel_edge(root, oneshot, fns[3], fns[2], "oneshot", "oneshot_sender", "answer_tx", "@await: chan-ask-recv", *v);
		/* Text: the channel as the resource, the Sender's holder and local. */
		json_t *ping_wait = json_object_get(task_by_future(root, fns[0], 0), "wait");
		char *line = xasprintf("deadlock_channel.rs:%d waits for a message on "
				       "Receiver<u32> @ %s,\n     whose only Sender is held by Task %lld (local `to_ping` at /",
				       marker_line("tokio/src/bin/deadlock_channel.rs", "@await: chan-ping-recv"),
				       doc_str(ping_wait, "address"), (long long)ids[1]);
		cr_expect(strstr(text.out, line) != NULL, "%s: no \"%s\" in\n%s", *v, line, text.out);
		char *at = xasprintf("deadlock_channel.rs:%d)\n", marker_line("tokio/src/bin/deadlock_channel.rs",
									   "@await: chan-pong-recv"));
		cr_expect(strstr(text.out, at) != NULL, "%s: no \"%s\"", *v, at);
		free(at);
		free(line);
		free(pid);
		tool_result_free(&text);
		json_decref(root);
	}
}

Test(wait, futurelock_ahead_future_queued_before_the_waiter)
{
	int wait_line = marker_line("tokio/src/bin/futurelock.rs", "@await: flock-queue-wait");
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "futurelock", NULL);
		json_t *root = doc_dump(&f, *v);
		fixture_kill(&f);
		json_t *queuer = task_by_future(root, "futurelock::queuer", 0);
		json_t *keeper = task_by_future(root, "futurelock::keeper", 0);
		cr_assert(queuer && keeper, "%s", *v);
		json_int_t qid = json_integer_value(json_object_get(queuer, "id"));
		json_t *w = json_object_get(queuer, "wait");
		cr_expect_str_eq(doc_str(w, "kind"), "mutex", "%s", *v);
		/* The keeper holds the second lock for real: queuer waits for it, no cycle. */
		json_t *kept = held_on(keeper, doc_str(w, "address"));
		cr_assert_not_null(kept, "%s", *v);
		cr_expect_str_eq(doc_str(kept, "local"), "kept", "%s", *v);
		cr_expect_eq(json_array_size(json_object_get(root, "deadlocks")), 1, "%s: only victim's futurelock", *v);
		/* `early` is queued ahead of queuer's own wait, not granted yet. */
		cr_assert_eq(json_array_size(json_object_get(queuer, "unpolled")), 1, "%s", *v);
		json_t *u = json_array_get(json_object_get(queuer, "unpolled"), 0);
		cr_expect_str_eq(doc_str(u, "local"), "early", "%s", *v);
		/* (found through the trait object's vtable) */
		cr_expect(strstr(doc_str(u, "future"), "Pin<Box<(dyn Future<Output=MutexGuard<u32>>") != NULL, "%s: %s", *v,
			  doc_str(u, "future"));
		cr_expect(json_is_false(json_object_get(u, "granted")), "%s", *v);
		cr_expect_eq(json_integer_value(json_object_get(u, "permits_wanted")), 1, "%s", *v);
		cr_expect_str_eq(doc_str(u, "address"), doc_str(w, "address"), "%s", *v);
		cr_expect_eq(json_integer_value(json_object_get(u, "line")), wait_line, "%s", *v);
		char *warning = xasprintf("futurelock ahead: Task %lld futurelock::queuer waits for Mutex<u32> @ %s behind "
					  "the future `early`", (long long)qid, doc_str(w, "address"));
		bool warned = false;
		size_t i;
		json_t *wn;
		json_array_foreach(json_object_get(root, "warnings"), i, wn)
			warned |= strstr(json_string_value(wn), warning) != NULL;
		cr_expect(warned, "%s: no warning \"%s\"", *v, warning);
		free(warning);
		json_decref(root);
	}
}
