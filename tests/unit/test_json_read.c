/* The JSON reader (src/frontend/json_read.c) over hand-made snapshots: everything json.c writes
 * comes back (dump -> JSON -> read -> JSON equal), unknown keys are ignored, bad documents give an
 * error naming the key, and recordings with a corrupt or cut-short line. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/frontend.h"
#include "ai/util.h"

/* A local's value is a shared string (include/ai/snapshot.h). */
static char *shared_text(const char *text)
{
	return ai_shared_strn(text, strlen(text));
}

static struct ai_wait *wait_new(const char *kind, const char *description)
{
	struct ai_wait *w = xcalloc(1, sizeof(*w));
	w->kind = xstrdup(kind);
	w->description = description ? xstrdup(description) : NULL;
	return w;
}

/* Two tasks in a mutex deadlock, a join, a sleep, channels, an rwlock, a block_on root, threads,
 * warnings: every field json.c writes. */
static struct ai_snapshot *make_snapshot(void)
{
	struct ai_snapshot *s = ai_snapshot_create();
	s->pid = 4242;
	s->exe = xstrdup("/bin/app");
	s->captured_at_ms = 1790000000123;
	s->pause_us = 2345;
	s->has_monotonic = true;
	s->monotonic_ns = 987654321000;
	ai_snapshot_add_runtime(s, "tokio", xstrdup("1.38.2"))->instances = 1;
	s->max_pause_us = 5000;
	s->tasks_sampled = 2;
	s->stop_us = 1200;
	ai_snapshot_add_warning(s, "channel @ 0x10 has no sender left");
	struct ai_snapshot_thread *th = ai_snapshot_add_thread(s);
	th->tid = 4242;
	th->name = xstrdup("app");
	th->state = 'S';
	struct ai_snapshot_frame *f = ai_snapshot_thread_add_frame(th);
	f->pc = 0x401000;
	f->function = xstrdup("std::thread::park");
	f->file = xstrdup("/rustc/std/src/thread/mod.rs");
	f->line = 1041;
	f->module = xstrdup("/bin/app");
	f = ai_snapshot_thread_add_frame(th);
	f->pc = 0x401100;
	f->inlined = true;
	th = ai_snapshot_add_thread(s);
	th->tid = 4243;
	th->state = 'R';
	th->stack_error = xstrdup("no unwind info at 0x0");

	for (int k = 0; k < 2; k++) {
		struct ai_snapshot_task *t = ai_snapshot_add_task(s);
		t->id = 7 + (uint64_t)k;
		t->has_id = true;
		t->runtime = xstrdup("tokio");
		t->kind = xstrdup("task");
		t->status = xstrdup("idle");
		t->flavor = xstrdup("multi_thread");
		t->future = xstrdup("bank::transfer");
		t->address = 0x7f0000001000 + (uint64_t)k * 0x1000;
		t->runtime_address = 0x5500;
		t->read_live = k == 1;
		t->tree.function = xstrdup("bank::transfer");
		t->tree.type = xstrdup("bank::transfer::{async_fn_env#0}");
		t->tree.state = xstrdup("Suspend1");
		t->tree.file = xstrdup("/src/bank.rs");
		t->tree.line = 30 + k;
		t->tree.address = t->address + 0x80;
		if (k == 0) {
			t->name = xstrdup("transfer-span");
			t->tree.span = xstrdup("transfer-span");
		}
		struct ai_snapshot_local *l = ai_await_node_add_local(&t->tree);
		l->name = xstrdup("amount");
		l->type = xstrdup("u64");
		l->value = shared_text("100");
		l = ai_await_node_add_local(&t->tree);
		l->name = xstrdup("guard");
		l->type = xstrdup("MutexGuard<Ledger>");
		l->value = shared_text("<unreadable 0x10>");
		l = ai_await_node_add_local(&t->tree);
		l->name = xstrdup("note");
		l->type = xstrdup("String");
		l->state = k ? AI_LOCAL_MAYBE_MOVED : AI_LOCAL_MOVED;
		l = ai_await_node_add_local(&t->tree);
		l->name = xstrdup("__5");
		l->type = xstrdup("bool");
		l->value = shared_text("false");
		l->generated = true;
		struct ai_await_node *lock = ai_await_node_add_child(&t->tree);
		lock->function = xstrdup("tokio::sync::mutex::Mutex::lock<Ledger>");
		lock->state = xstrdup("Suspend0");
		lock->file = xstrdup("/cargo/tokio-1.38.2/src/sync/mutex.rs");
		lock->line = 654;
		lock->address = t->address + 0x100;
		struct ai_await_node *acq = ai_await_node_add_child(lock);
		acq->type = xstrdup("tokio::sync::batch_semaphore::Acquire");
		acq->leaf = true;
		acq->address = t->address + 0x140;
		acq->wait = wait_new("mutex", "lock Mutex<Ledger> @ 0x9000");
		acq->wait->resource_type = xstrdup("Mutex<Ledger>");
		acq->wait->address = 0x9000 + (uint64_t)k * 0x100;
		acq->wait->semaphore = 0x9008 + (uint64_t)k * 0x100;
		acq->wait->has_permits = true;
		acq->wait->permits_available = 0;
		acq->wait->permits_wanted = 1;
		acq->wait->queued = true;
		t->wait = acq->wait;
		struct ai_held *h = ai_snapshot_task_add_held(t);
		h->kind = xstrdup("mutex");
		h->guard_type = xstrdup("MutexGuard<Ledger>");
		h->local = xstrdup("guard");
		h->function = xstrdup("bank::transfer");
		h->file = xstrdup("/src/bank.rs");
		h->line = 30 + k;
		h->address = 0x9000 + (uint64_t)(1 - k) * 0x100;
		h->semaphore = 0x9008 + (uint64_t)(1 - k) * 0x100;
		h->resource_type = xstrdup("Mutex<Ledger>");
	}
	/* A join!: two branches, sleep and mpsc, with a macro suspend point and an error node. */
	struct ai_snapshot_task *t = ai_snapshot_add_task(s);
	t->id = 9;
	t->has_id = true;
	t->kind = xstrdup("task");
	t->status = xstrdup("scheduled");
	t->thread = 4243;
	t->address = 0x7f0000009000;
	t->tree.function = xstrdup("app::both");
	t->tree.state = xstrdup("Suspend0");
	t->tree.file = xstrdup("/src/both.rs");
	t->tree.line = 12;
	t->tree.macro = xstrdup("tokio::join!");
	t->tree.macro_file = xstrdup("/cargo/tokio-1.38.2/src/macros/join.rs");
	t->tree.macro_line = 150;
	struct ai_await_node *sleep = ai_await_node_add_child(&t->tree);
	sleep->type = xstrdup("tokio::time::sleep::Sleep");
	sleep->leaf = true;
	sleep->wait = wait_new("sleep", "sleep, 59m left");
	sleep->wait->has_deadline = true;
	sleep->wait->deadline_ns = 123456789012345;
	sleep->wait->has_remaining = true;
	sleep->wait->remaining_ns = -3000000; /* overdue by 3 ms */
	struct ai_await_node *rx = ai_await_node_add_child(&t->tree);
	rx->type = xstrdup("PollFn<recv>");
	rx->leaf = true;
	rx->wait = wait_new("mpsc_recv", "receive on Receiver<u32> @ 0x20");
	rx->wait->address = 0x20;
	rx->wait->has_senders = true;
	rx->wait->senders_alive = 1;
	rx->wait->senders_own = 1;
	rx->wait->has_messages = true;
	rx->wait->messages_queued = 0;
	rx->wait->has_capacity = true;
	rx->wait->capacity = 4;
	rx->wait->warning = xstrdup("its only sender is its own");
	struct ai_await_node *bad = ai_await_node_add_child(&t->tree);
	bad->address = 0x30;
	bad->error = xstrdup("cannot read memory at 0x30");
	/* A join on task 7, a oneshot, an rwlock and an mpsc send in one more task's tree. */
	t = ai_snapshot_add_task(s);
	t->id = 10;
	t->has_id = true;
	t->kind = xstrdup("task");
	t->status = xstrdup("idle");
	t->tree.type = xstrdup("JoinHandle<u64>");
	t->tree.leaf = true;
	t->tree.wait = wait_new("join", "join Task 7 (idle)");
	t->tree.wait->address = 0x7f0000001000;
	t->tree.wait->has_target_id = true;
	t->tree.wait->target_task_id = 7;
	t->tree.wait->target_status = xstrdup("idle");
	t->wait = t->tree.wait;
	struct ai_await_node *n = ai_await_node_add_child(&t->tree);
	n->wait = wait_new("oneshot", NULL);
	n->wait->has_sender_alive = true;
	n->wait->sender_alive = false;
	n = ai_await_node_add_child(&t->tree);
	n->wait = wait_new("rwlock", "write RwLock<u8>");
	n->wait->access = xstrdup("write");
	n->wait->semaphore = 0x40;
	n = ai_await_node_add_child(&t->tree);
	n->wait = wait_new("mpsc_send", "send");
	n->wait->has_receiver_alive = true;
	n->wait->receiver_alive = true;
	n->wait->has_senders = true;
	n->wait->senders_alive = 3;
	n = ai_await_node_add_child(&t->tree);
	n->wait = wait_new("join", "join an unknown task");
	/* a JoinSet's join_next: one member listed, one finished */
	n = ai_await_node_add_child(&t->tree);
	n->wait = wait_new("join_set", "join_next on JoinSet<u64> @ 0x50: 2 tasks");
	n->wait->resource_type = xstrdup("JoinSet<u64>");
	n->wait->address = 0x50;
	n->wait->has_members = true;
	n->wait->member_count = 2;
	n->wait->members = xcalloc(2, sizeof(*n->wait->members));
	n->wait->members[0] = (struct ai_wait_member){ .address = 0x7f0000009000, .has_id = true, .id = 9,
						       .status = xstrdup("scheduled") };
	n->wait->members[1] = (struct ai_wait_member){ .address = 0x7f000000a000, .notified = true };
	s->tasks[s->task_count - 2].set_address = 0x50; /* task 9 is in that set */
	s->tasks[s->task_count - 2].set_type = xstrdup("JoinSet<u64>");
	/* block_on, no id */
	t = ai_snapshot_add_task(s);
	t->kind = xstrdup("block_on");
	t->thread = 4242;
	t->future = xstrdup("app::main::{async_block#0}");
	t->address = 0x7ffc0000;
	t->tree.function = xstrdup("app::main::{async_block#0}");

	/* The deadlock: 7 waits for 8's guard and 8 for 7's. */
	s->deadlocks = xcalloc(1, sizeof(*s->deadlocks));
	s->deadlock_count = s->deadlock_capacity = 1;
	struct ai_deadlock *d = &s->deadlocks[0];
	d->count = 2;
	d->tasks = xcalloc(2, sizeof(*d->tasks));
	d->edges = xcalloc(2, sizeof(*d->edges));
	for (size_t k = 0; k < 2; k++) {
		d->tasks[k] = k;
		d->edges[k] = (struct ai_deadlock_edge){ .from = k, .to = 1 - k, .wait = s->tasks[k].wait,
							 .held = &s->tasks[1 - k].held[0] };
	}
	return s;
}

static char *dump(const struct ai_snapshot *s)
{
	json_t *j = ai_dump_json(s);
	char *text = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	return text;
}

static struct ai_error *read_text(const char *text, struct ai_snapshot **ret)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	cr_assert_not_null(j, "%s", jerr.text);
	struct ai_error *err = ai_snapshot_from_json(j, ret);
	json_decref(j);
	return err;
}

Test(json_read, round_trip_of_every_field)
{
	struct ai_snapshot *s = make_snapshot();
	char *first = dump(s);
	struct ai_snapshot *back;
	struct ai_error *err = read_text(first, &back);
	cr_assert_null(err, "%s", err ? err->message : "");
	char *second = dump(back);
	cr_expect_str_eq(second, first);
	/* What the views use beyond the JSON: borrowed pointers resolved to the read tree and guards. */
	cr_expect_eq(back->task_count, 5);
	cr_expect_eq(back->tasks[0].wait, back->tasks[0].tree.children[0].children[0].wait);
	cr_expect_eq(back->tasks[3].wait, back->tasks[3].tree.wait);
	cr_expect_null(back->tasks[2].wait);
	cr_expect_eq(back->deadlock_count, 1);
	cr_expect_eq(back->deadlocks[0].edges[0].held, &back->tasks[1].held[0]);
	cr_expect_eq(back->deadlocks[0].edges[1].to, 0);
	cr_expect_eq(back->threads[0].state, 'S');
	cr_expect_eq(back->tasks[2].tree.children[0].wait->remaining_ns, -3000000);
	cr_expect(back->tasks[1].read_live);
	cr_expect(!back->tasks[0].read_live);
	cr_expect_eq(back->max_pause_us, 5000);
	cr_expect(back->has_monotonic && back->monotonic_ns == 987654321000, "the timers' clock is kept");
	cr_expect_eq(back->tasks_sampled, 2);
	cr_expect_eq(back->stop_us, 1200);
	cr_expect_eq(back->tasks[2].set_address, 0x50);
	cr_expect_str_eq(back->tasks[2].set_type, "JoinSet<u64>");
	cr_expect(strstr(first, "\"members\":[{\"id\":9,"), "%s", first);
	free(first);
	free(second);
	ai_snapshot_destroy(back);
	ai_snapshot_destroy(s);
}

Test(json_read, unknown_keys_are_ignored)
{
	struct ai_snapshot *s = make_snapshot();
	json_t *j = ai_dump_json(s);
	char *expected = dump(s);
	/* Fields a newer writer adds: on the root, a task, nodes, waits (the leaf's and the task's copy
	 * alike, or only one of them), guards. */
	json_object_set_new(j, "io_waits", json_array());
	json_t *task = json_array_get(json_object_get(j, "tasks"), 0);
	json_t *tree = json_object_get(task, "tree");
	json_t *leaf = json_array_get(json_object_get(json_array_get(json_object_get(tree, "children"), 0), "children"), 0);
	json_object_set_new(task, "cpu_ns", json_integer(5));
	json_object_set_new(tree, "progress", json_pack("{s:i, s:i}", "index", 1, "of", 2));
	json_object_set_new(json_object_get(leaf, "wait"), "since_ms", json_integer(9));
	json_object_set_new(json_object_get(task, "wait"), "since_ms", json_integer(9));
	json_object_set_new(json_object_get(task, "wait"), "only_here", json_true());
	json_object_set_new(json_array_get(json_object_get(task, "held"), 0), "held_for_ms", json_integer(3));
	struct ai_snapshot *back;
	struct ai_error *err = ai_snapshot_from_json(j, &back);
	cr_assert_null(err, "%s", err ? err->message : "");
	char *again = dump(back);
	cr_expect_str_eq(again, expected);
	free(again);
	free(expected);
	ai_snapshot_destroy(back);
	json_decref(j);
	ai_snapshot_destroy(s);
}

/* Reads the document with `edit` applied to the snapshot's JSON; returns the error message. */
static char *error_after(void (*edit)(json_t *root))
{
	struct ai_snapshot *s = make_snapshot();
	json_t *j = ai_dump_json(s);
	ai_snapshot_destroy(s);
	edit(j);
	struct ai_snapshot *back = NULL;
	struct ai_error *err = ai_snapshot_from_json(j, &back);
	json_decref(j);
	cr_assert_not_null(err, "the reader accepted a bad document");
	cr_expect_null(back);
	char *message = xstrdup(err->message);
	ai_error_destroy(err);
	return message;
}

static json_t *task_of(json_t *root, size_t i)
{
	return json_array_get(json_object_get(root, "tasks"), i);
}

static void line_as_string(json_t *root)
{
	json_object_set_new(json_object_get(task_of(root, 0), "tree"), "line", json_string("30"));
}
static void bad_address(json_t *root)
{
	json_t *child = json_array_get(json_object_get(json_object_get(task_of(root, 2), "tree"), "children"), 1);
	json_object_set_new(child, "address", json_string("0xzz"));
}
static void tasks_not_array(json_t *root)
{
	json_object_set_new(root, "tasks", json_integer(3));
}
static void wait_without_kind(json_t *root)
{
	json_t *child = json_array_get(json_object_get(json_object_get(task_of(root, 2), "tree"), "children"), 0);
	json_object_del(json_object_get(child, "wait"), "kind");
}
static void dangling_deadlock_task(json_t *root)
{
	json_t *edge = json_array_get(json_object_get(json_array_get(json_object_get(root, "deadlocks"), 0), "edges"), 1);
	json_object_set_new(edge, "to", json_integer(99));
}
static void task_wait_not_in_tree(json_t *root)
{
	json_object_set_new(json_object_get(task_of(root, 0), "wait"), "description", json_string("elsewhere"));
}
static void other_format(json_t *root)
{
	json_object_set_new(root, "format", json_string("async-inspect-threads"));
}
static void newer_version(json_t *root)
{
	json_object_set_new(root, "version", json_integer(3));
}
static void negative_pause(json_t *root)
{
	json_object_set_new(root, "pause_us", json_integer(-1));
}

Test(json_read, bad_documents_name_the_key)
{
	static const struct {
		void (*edit)(json_t *);
		const char *message;
	} cases[] = {
		{ line_as_string, "tasks[0].tree.line: expected an integer" },
		{ bad_address, "tasks[2].tree.children[1].address: expected an address \"0x...\", not \"0xzz\"" },
		{ tasks_not_array, "tasks: expected an array" },
		{ wait_without_kind, "tasks[2].tree.children[0].wait.kind: missing" },
		{ dangling_deadlock_task, "deadlocks[0].edges[1].to: names no task of this snapshot" },
		{ task_wait_not_in_tree, "tasks[0].wait: no node of the await tree has this wait" },
		{ other_format, "not an async-inspect snapshot (\"format\": \"async-inspect-threads\")" },
		{ newer_version, "snapshot format version other than 1 or 2: versions 1 and 2 are understood" },
		{ negative_pause, "pause_us: negative" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *message = error_after(cases[i].edit);
		cr_expect_str_eq(message, cases[i].message, "case %zu", i);
		free(message);
	}
}

/* A recording file with the given content; returns its path (a temporary file). */
static char *recording(const char *content)
{
	char *path = xstrdup("/tmp/ai-test-recording-XXXXXX");
	int fd = mkstemp(path);
	cr_assert(fd >= 0);
	size_t len = strlen(content);
	cr_assert_eq(write(fd, content, len), (ssize_t)len);
	close(fd);
	return path;
}

static char *line_of(const struct ai_snapshot *s, int64_t captured_at)
{
	struct ai_snapshot *copy;
	char *text = dump(s);
	cr_assert_null(read_text(text, &copy));
	free(text);
	copy->captured_at_ms = captured_at;
	text = dump(copy);
	ai_snapshot_destroy(copy);
	char *line = xasprintf("%s\n", text);
	free(text);
	return line;
}

Test(json_read, recording_with_a_cut_last_line)
{
	struct ai_snapshot *s = make_snapshot();
	char *a = line_of(s, 1000), *b = line_of(s, 1500), *c = line_of(s, 2000);
	c[strlen(c) / 2] = '\0'; /* the recorder died in the middle of its third line */
	char *content = xasprintf("%s\n%s%s", a, b, c);
	char *path = recording(content);
	struct ai_recording_reader *rec;
	cr_assert_null(ai_recording_open(path, &rec));
	struct ai_snapshot *got;
	char *warning;
	int64_t times[2];
	for (int i = 0; i < 2; i++) {
		cr_assert_null(ai_recording_next(rec, &got, &warning));
		cr_assert_not_null(got);
		cr_expect_null(warning);
		times[i] = got->captured_at_ms;
		ai_snapshot_destroy(got);
	}
	cr_expect_eq(times[0], 1000);
	cr_expect_eq(times[1], 1500);
	cr_assert_null(ai_recording_next(rec, &got, &warning));
	cr_expect_null(got);
	cr_assert_not_null(warning);
	char *expected = xasprintf("%s:4: the last line is cut short", path); /* line 2 is blank */
	cr_expect(strncmp(warning, expected, strlen(expected)) == 0, "%s", warning);
	cr_expect_eq(ai_recording_line(rec), 4);
	free(expected);
	free(warning);
	ai_recording_close(rec);
	unlink(path);
	free(path);
	free(content);
	free(a);
	free(b);
	free(c);
	ai_snapshot_destroy(s);
}

Test(json_read, recording_with_a_corrupt_line)
{
	struct ai_snapshot *s = make_snapshot();
	char *a = line_of(s, 1000), *c = line_of(s, 2000);
	char *content = xasprintf("%s{\"format\": \"async-inspect-snapshot\", \"version\": 1, \"tasks\": 5}\n%snot json\n%s", a, c, a);
	char *path = recording(content);
	struct ai_recording_reader *rec;
	cr_assert_null(ai_recording_open(path, &rec));
	struct ai_snapshot *got;
	char *warning;
	cr_assert_null(ai_recording_next(rec, &got, &warning));
	ai_snapshot_destroy(got);
	struct ai_error *err = ai_recording_next(rec, &got, &warning);
	cr_assert_not_null(err);
	char *expected = xasprintf("%s:2: tasks: expected an array", path);
	cr_expect_str_eq(err->message, expected);
	free(expected);
	ai_error_destroy(err);
	cr_assert_null(ai_recording_next(rec, &got, &warning));
	cr_expect_eq(got->captured_at_ms, 2000);
	ai_snapshot_destroy(got);
	err = ai_recording_next(rec, &got, &warning);
	cr_assert_not_null(err);
	expected = xasprintf("%s:4: not JSON: ", path);
	cr_expect(strncmp(err->message, expected, strlen(expected)) == 0, "%s", err->message);
	free(expected);
	ai_error_destroy(err);
	ai_recording_close(rec);
	unlink(path);
	free(path);
	free(content);
	free(a);
	free(c);
	ai_snapshot_destroy(s);
}

Test(json_read, missing_recording)
{
	struct ai_recording_reader *rec;
	struct ai_error *err = ai_recording_open("/nonexistent/rec.jsonl", &rec);
	cr_assert_not_null(err);
	cr_expect(strstr(err->message, "/nonexistent/rec.jsonl") != NULL, "%s", err->message);
	ai_error_destroy(err);
}
