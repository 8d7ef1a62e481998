/* The wait-for graph and its cycles (src/analysis/deadlock.c) over hand-made snapshots: long
 * chains on a small stack, futurelock self-edges, channel edges and their all-Senders rule,
 * RwLock waits by access and readers behind writers in line, joins of tasks without ids. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <string.h>

#include "ai/analysis.h"
#include "ai/util.h"

/* Tasks at header 0x10000 + 0x100 * i, idle, ids 1000 + i. */
static uint64_t header(size_t i)
{
	return 0x10000 + 0x100 * (uint64_t)i;
}

static struct ai_snapshot_task *add_task(struct ai_snapshot *s, const char *status)
{
	size_t i = s->task_count;
	struct ai_snapshot_task *t = ai_snapshot_add_task(s);
	t->id = 1000 + i;
	t->has_id = true;
	t->kind = xstrdup("task");
	t->status = xstrdup(status);
	t->runtime = xstrdup("tokio");
	t->future = xasprintf("app::worker%zu", i);
	t->address = header(i);
	return t;
}

/* The task's leaf wait (owned by its tree, borrowed by task->wait). */
static struct ai_wait *set_wait(struct ai_snapshot_task *t, const char *kind)
{
	t->tree.leaf = true;
	t->tree.wait = xcalloc(1, sizeof(*t->tree.wait));
	t->tree.wait->kind = xstrdup(kind);
	t->wait = t->tree.wait;
	return t->tree.wait;
}

static void join(struct ai_snapshot_task *t, size_t target)
{
	struct ai_wait *w = set_wait(t, "join");
	w->has_target_id = true;
	w->target_task_id = 1000 + target;
	w->address = header(target);
}

/* n tasks, each awaiting the JoinHandle of the next; the last one awaits the first if closed. */
static struct ai_snapshot *chain(size_t n, bool closed)
{
	struct ai_snapshot *s = ai_snapshot_create();
	s->tasks = xcalloc(n, sizeof(*s->tasks)); /* (one allocation, not n reallocations) */
	s->task_capacity = n;
	for (size_t i = 0; i < n; i++)
		add_task(s, "idle");
	for (size_t i = 0; i + 1 < n; i++)
		join(&s->tasks[i], i + 1);
	if (closed)
		join(&s->tasks[n - 1], 0);
	return s;
}

static void *analyse(void *arg)
{
	ai_analysis_deadlocks(arg);
	return NULL;
}

/* Runs the analysis on a thread with a 256 KiB stack: a search that recursed once per task would
 * overflow it on 100,000 tasks. */
static void analyse_on_small_stack(struct ai_snapshot *s)
{
	pthread_attr_t attr;
	pthread_t thread;
	cr_assert_eq(pthread_attr_init(&attr), 0);
	cr_assert_eq(pthread_attr_setstacksize(&attr, 256 * 1024), 0);
	cr_assert_eq(pthread_create(&thread, &attr, analyse, s), 0);
	cr_assert_eq(pthread_join(thread, NULL), 0);
	pthread_attr_destroy(&attr);
}

#define CHAIN 100000

Test(deadlock, chain_of_100000_tasks_closed_into_one_cycle)
{
	struct ai_snapshot *s = chain(CHAIN, true);
	uint64_t t0 = ai_now_us();
	analyse_on_small_stack(s);
	uint64_t us = ai_now_us() - t0;
	cr_assert_eq(s->deadlock_count, 1);
	const struct ai_deadlock *d = &s->deadlocks[0];
	cr_assert_eq(d->count, CHAIN);
	cr_expect(!d->futurelock);
	for (size_t k = 0; k < CHAIN; k++) {
		if (d->edges[k].from != d->tasks[k] || d->edges[k].to != d->tasks[(k + 1) % CHAIN] ||
		    d->edges[k].to != (d->edges[k].from + 1) % CHAIN || d->edges[k].held || d->edges[k].unpolled)
			cr_assert_fail("edge %zu: %zu -> %zu", k, d->edges[k].from, d->edges[k].to);
	}
	/* Every task's JoinHandle chain leads back to it: one warning each, naming the length. */
	cr_expect_eq(s->warning_count, CHAIN);
	cr_expect_str_eq(s->warnings[0], "Task 1000 app::worker0 awaits a JoinHandle chain of 100000 tasks that leads "
					 "back to itself");
	cr_log_info("%llu us for 100,000 tasks", (unsigned long long)us); /* not asserted: a shared machine's clock */
	ai_snapshot_destroy(s);
}

Test(deadlock, chain_of_100000_tasks_open_has_no_cycle)
{
	struct ai_snapshot *s = chain(CHAIN, false);
	analyse_on_small_stack(s);
	cr_expect_eq(s->deadlock_count, 0);
	cr_expect_eq(s->warning_count, 0);
	ai_snapshot_destroy(s);
}

Test(deadlock, cycle_through_a_running_task_is_not_a_deadlock)
{
	struct ai_snapshot *s = chain(3, true);
	free(s->tasks[1].status);
	s->tasks[1].status = xstrdup("running");
	ai_analysis_deadlocks(s);
	cr_expect_eq(s->deadlock_count, 0);
	ai_snapshot_destroy(s);
}

#define SEM 0x5000

static struct ai_wait *lock_wait(struct ai_snapshot_task *t)
{
	struct ai_wait *w = set_wait(t, "mutex");
	w->resource_type = xstrdup("Mutex<u32>");
	w->address = SEM - 0x10;
	w->semaphore = SEM;
	w->has_permits = true;
	w->permits_available = 0;
	w->permits_wanted = 1;
	w->queued = true;
	return w;
}

static struct ai_unpolled *granted(struct ai_snapshot_task *t, const char *local)
{
	struct ai_unpolled *u = ai_snapshot_task_add_unpolled(t);
	u->local = xstrdup(local);
	u->future_type = xstrdup("lock::{async_fn_env#0}<u32>");
	u->function = xstrdup(t->future);
	u->file = xstrdup("/src/app.rs");
	u->line = 42;
	u->kind = xstrdup("mutex");
	u->resource_type = xstrdup("Mutex<u32>");
	u->address = SEM - 0x10;
	u->semaphore = SEM;
	u->granted = true;
	return u;
}

Test(deadlock, futurelock_is_a_cycle_of_one)
{
	struct ai_snapshot *s = ai_snapshot_create();
	struct ai_snapshot_task *t = add_task(s, "idle");
	lock_wait(t);
	const struct ai_unpolled *u = granted(t, "fut");
	ai_analysis_deadlocks(s);
	cr_assert_eq(s->deadlock_count, 1);
	cr_expect(s->deadlocks[0].futurelock);
	cr_assert_eq(s->deadlocks[0].count, 1);
	cr_expect_eq(s->deadlocks[0].edges[0].from, 0);
	cr_expect_eq(s->deadlocks[0].edges[0].to, 0);
	cr_expect_eq(s->deadlocks[0].edges[0].unpolled, u);
	cr_assert_eq(s->warning_count, 1);
	cr_expect_str_eq(s->warnings[0], "futurelock: Task 1000 app::worker0 waits for Mutex<u32> @ 0x4ff0, which no "
					 "guard holds: it was granted to the future `fut` (lock::{async_fn_env#0}<u32>) "
					 "that the task itself keeps in app::worker0 at app.rs:42 but no longer polls");
	ai_snapshot_destroy(s);
}

Test(deadlock, a_future_granted_in_a_woken_task_is_no_futurelock)
{
	/* The owner is scheduled: it will poll its future (a grant in flight). */
	struct ai_snapshot *s = ai_snapshot_create();
	struct ai_snapshot_task *a = add_task(s, "idle"), *b = add_task(s, "scheduled");
	lock_wait(a);
	granted(b, "fut");
	ai_analysis_deadlocks(s);
	cr_expect_eq(s->deadlock_count, 0);
	cr_expect_eq(s->warning_count, 0);
	ai_snapshot_destroy(s);
}

Test(deadlock, a_live_guard_wins_over_a_granted_future)
{
	/* A guard found for the lock: the waiter waits for its holder, not a futurelock. */
	struct ai_snapshot *s = ai_snapshot_create();
	struct ai_snapshot_task *a = add_task(s, "idle"), *b = add_task(s, "idle");
	lock_wait(a);
	granted(a, "fut");
	struct ai_held *h = ai_snapshot_task_add_held(b);
	h->kind = xstrdup("mutex");
	h->local = xstrdup("guard");
	h->address = SEM - 0x10;
	h->semaphore = SEM;
	join(b, 0);
	ai_analysis_deadlocks(s);
	cr_assert_eq(s->deadlock_count, 1);
	cr_expect(!s->deadlocks[0].futurelock);
	cr_expect_eq(s->deadlocks[0].count, 2);
	cr_expect_eq(s->warning_count, 0);
	ai_snapshot_destroy(s);
}

/* An RwLock wait of `access` by a, a guard of `kind` on that lock in b, and b joining a: a
 * cycle only when the guard keeps a waiting. */
static size_t rwlock_cycle(const char *access, const char *kind)
{
	struct ai_snapshot *s = ai_snapshot_create();
	struct ai_snapshot_task *a = add_task(s, "idle"), *b = add_task(s, "idle");
	struct ai_wait *w = set_wait(a, "rwlock");
	w->access = xstrdup(access);
	w->address = SEM - 0x10;
	w->semaphore = SEM;
	w->permits_wanted = 1;
	w->queued = true;
	struct ai_held *h = ai_snapshot_task_add_held(b);
	h->kind = xstrdup(kind);
	h->local = xstrdup("guard");
	h->address = SEM - 0x10;
	h->semaphore = SEM;
	join(b, 0);
	ai_analysis_deadlocks(s);
	size_t n = s->deadlock_count;
	ai_snapshot_destroy(s);
	return n;
}

Test(deadlock, rwlock_waits_count_only_the_guards_that_keep_them)
{
	/* upgradable_read waits for the writer or the upgradable reader, not for plain readers. */
	cr_expect_eq(rwlock_cycle("upgradable_read", "rwlock_upgradable"), 1);
	cr_expect_eq(rwlock_cycle("upgradable_read", "rwlock_write"), 1);
	cr_expect_eq(rwlock_cycle("upgradable_read", "rwlock_read"), 0);
	/* upgrade waits for the plain readers to leave. */
	cr_expect_eq(rwlock_cycle("upgrade", "rwlock_read"), 1);
	cr_expect_eq(rwlock_cycle("upgrade", "rwlock_upgradable"), 0);
	/* A reader waits for the writer, not for the other readers. */
	cr_expect_eq(rwlock_cycle("read", "rwlock_write"), 1);
	cr_expect_eq(rwlock_cycle("read", "rwlock_read"), 0);
	/* A writer waits for every guard. */
	cr_expect_eq(rwlock_cycle("write", "rwlock_read"), 1);
	cr_expect_eq(rwlock_cycle("write", "rwlock_upgradable"), 1);
}

static struct ai_wait *rwlock_wait(struct ai_snapshot_task *t, const char *access)
{
	struct ai_wait *w = set_wait(t, "rwlock");
	w->access = xstrdup(access);
	w->address = SEM - 0x10;
	w->semaphore = SEM;
	w->permits_wanted = 1;
	w->queued = true;
	return w;
}

static void read_guard(struct ai_snapshot_task *t)
{
	struct ai_held *h = ai_snapshot_task_add_held(t);
	h->kind = xstrdup("rwlock_read");
	h->local = xstrdup("shared");
	h->address = SEM - 0x10;
	h->semaphore = SEM;
}

Test(deadlock, reader_queued_behind_a_writer_in_line_waits_for_the_writer)
{
	/* a holds a read guard and awaits r; w waits in line for a to leave; r reads behind w. */
	struct ai_snapshot *s = ai_snapshot_create();
	struct ai_snapshot_task *a = add_task(s, "idle"), *w = add_task(s, "idle"), *r = add_task(s, "idle");
	read_guard(a);
	join(a, 2);
	rwlock_wait(w, "write")->bars_readers = true;
	rwlock_wait(r, "read");
	ai_analysis_deadlocks(s);
	cr_assert_eq(s->deadlock_count, 1);
	cr_expect_eq(s->deadlocks[0].count, 3, "r -> w -> a -> r, not r -> a");
	ai_snapshot_destroy(s);

	/* The same without the writer in line (it still acquires the writer mutex): a reader waits
	 * for no reader. */
	s = ai_snapshot_create();
	a = add_task(s, "idle");
	w = add_task(s, "idle");
	r = add_task(s, "idle");
	read_guard(a);
	join(a, 2);
	rwlock_wait(w, "write");
	rwlock_wait(r, "read");
	ai_analysis_deadlocks(s);
	cr_expect_eq(s->deadlock_count, 0);
	ai_snapshot_destroy(s);
}

Test(deadlock, join_of_a_task_without_id_is_an_edge)
{
	/* async-task's tasks have no id: the join names the task by its header only. */
	struct ai_snapshot *s = chain(2, true);
	for (size_t i = 0; i < 2; i++) {
		s->tasks[i].has_id = false;
		s->tasks[i].tree.wait->has_target_id = false;
	}
	ai_analysis_deadlocks(s);
	cr_assert_eq(s->deadlock_count, 1);
	cr_expect_eq(s->deadlocks[0].count, 2);
	ai_snapshot_destroy(s);
}

#define CHAN_A 0x9000
#define CHAN_B 0x9800

static void recv_wait(struct ai_snapshot_task *t, uint64_t chan, uint64_t senders)
{
	struct ai_wait *w = set_wait(t, "mpsc_recv");
	w->resource_type = xstrdup("Receiver<u32>");
	w->address = chan;
	w->has_senders = true;
	w->senders_alive = senders;
	w->has_messages = true;
	w->messages_queued = 0;
}

static void sender(struct ai_snapshot_task *t, uint64_t chan, const char *local)
{
	struct ai_held *h = ai_snapshot_task_add_held(t);
	h->kind = xstrdup("mpsc_sender");
	h->local = xstrdup(local);
	h->address = chan;
}

Test(deadlock, channel_pair_each_holding_the_others_only_sender)
{
	struct ai_snapshot *s = ai_snapshot_create();
	struct ai_snapshot_task *a = add_task(s, "idle"), *b = add_task(s, "idle");
	recv_wait(a, CHAN_A, 1);
	recv_wait(b, CHAN_B, 1);
	sender(a, CHAN_B, "to_b");
	sender(b, CHAN_A, "to_a");
	ai_analysis_deadlocks(s);
	cr_assert_eq(s->deadlock_count, 1);
	const struct ai_deadlock *d = &s->deadlocks[0];
	cr_assert_eq(d->count, 2);
	for (size_t k = 0; k < 2; k++) {
		const struct ai_deadlock_edge *e = &d->edges[k];
		cr_expect_str_eq(e->held->local, e->from == 0 ? "to_a" : "to_b");
		cr_expect_eq(e->held->address, e->wait->address);
	}
	ai_snapshot_destroy(s);
}

Test(deadlock, channel_with_a_sender_off_the_cycle_is_not_a_deadlock)
{
	/* CHAN_A has 2 Senders: b's, and c's; c is running, so a can still get a message. */
	struct ai_snapshot *s = ai_snapshot_create();
	struct ai_snapshot_task *a = add_task(s, "idle"), *b = add_task(s, "idle"), *c = add_task(s, "running");
	recv_wait(a, CHAN_A, 2);
	recv_wait(b, CHAN_B, 1);
	sender(a, CHAN_B, "to_b");
	sender(b, CHAN_A, "to_a");
	sender(c, CHAN_A, "also_to_a");
	ai_analysis_deadlocks(s);
	cr_expect_eq(s->deadlock_count, 0);
	ai_snapshot_destroy(s);
}

Test(deadlock, channel_with_a_sender_not_found_is_not_claimed)
{
	/* 2 Senders alive, 1 found (the other out of reach, e.g. in a thread): no claim. */
	struct ai_snapshot *s = ai_snapshot_create();
	struct ai_snapshot_task *a = add_task(s, "idle"), *b = add_task(s, "idle");
	recv_wait(a, CHAN_A, 2);
	recv_wait(b, CHAN_B, 1);
	sender(a, CHAN_B, "to_b");
	sender(b, CHAN_A, "to_a");
	ai_analysis_deadlocks(s);
	cr_expect_eq(s->deadlock_count, 0);
	ai_snapshot_destroy(s);
}
