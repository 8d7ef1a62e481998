/* The profile model over hand-made event streams: busy and scheduled time, wakes by whom, a task
 * rescheduled onto another thread before its first thread returned, a released address reused by
 * a new task, names from the snapshots, the scheduled-time percentile, the folded output, and CPU
 * samples counted for the task a thread polls or for the thread; the profiles of two processes
 * written together, each labelled with its process in every format. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/profile.h"
#include "ai/util.h"

#define MS 1000000ull
#define T0 (1000 * MS)

static struct ai_profile *make(void)
{
	return ai_profile_create(-1, "/bin/app", "tokio", 4, T0);
}

static const struct ai_profile_task *find(const struct ai_profile *p, uint64_t address, unsigned generation)
{
	for (size_t i = 0; i < p->task_count; i++)
		if (p->tasks[i].address == address && p->tasks[i].generation == generation)
			return &p->tasks[i];
	cr_assert_fail("no task at 0x%llx generation %u", (unsigned long long)address, generation);
	return NULL;
}

Test(profile_model, busy_scheduled_and_wakes)
{
	struct ai_profile *p = make();
	/* Task A polled 3 ms on thread 1, wakes B during it; B is polled 1 ms later on thread 2.
	 * Events come in time order, as ai_uprobes_take hands them out. */
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 1 * MS, 1, 0xa0, "app::a");
	ai_profile_event(p, AI_PROFILE_WAKE, T0 + 2 * MS, 1, 0xb0, NULL);
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 3 * MS, 2, 0xb0, "app::b");
	ai_profile_event(p, AI_PROFILE_WAKE, T0 + 3 * MS + 100, 2, 0xb0, NULL); /* B wakes itself */
	ai_profile_event(p, AI_PROFILE_POLL_END, T0 + 3 * MS + 500000, 2, 0, NULL);
	ai_profile_event(p, AI_PROFILE_POLL_END, T0 + 4 * MS, 1, 0, NULL);
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 5 * MS, 2, 0xb0, NULL);
	ai_profile_event(p, AI_PROFILE_POLL_END, T0 + 5 * MS + 500000, 2, 0, NULL);
	ai_profile_finish(p, T0 + 10 * MS, NULL);

	const struct ai_profile_task *a = find(p, 0xa0, 0), *b = find(p, 0xb0, 0);
	cr_expect_eq(p->tasks, a, "the busiest task comes first");
	cr_expect_eq(a->polls, 1);
	cr_expect_eq(a->busy_ns, 3 * MS);
	cr_expect_str_eq(a->future, "app::a");
	cr_expect_eq(b->polls, 2);
	cr_expect_eq(b->busy_ns, MS);
	cr_expect_eq(b->wakes, 2);
	cr_expect_eq(b->task_wakes, 1);
	cr_expect_eq(b->self_wakes, 1);
	/* Woken at 2 ms, polled at 3 ms; woken during its poll, so from its end at 3.5 ms to 5 ms. */
	cr_expect_eq(b->scheduled_count, 2);
	cr_expect_eq(b->scheduled_ns, MS + 1500000);
	cr_expect_eq(b->scheduled_max_ns, 1500000);
	cr_expect_eq(p->polls, 3);
	cr_expect_eq(p->thread_count, 2);
	ai_profile_destroy(p);
}

Test(profile_model, rescheduled_before_its_thread_returned)
{
	struct ai_profile *p = make();
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 1 * MS, 1, 0xa0, NULL);
	/* Thread 1 queued it and was preempted; thread 2 polls it from 3 ms to 5 ms. */
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 3 * MS, 2, 0xa0, NULL);
	ai_profile_event(p, AI_PROFILE_POLL_END, T0 + 5 * MS, 2, 0, NULL);
	ai_profile_event(p, AI_PROFILE_POLL_END, T0 + 6 * MS, 1, 0, NULL);
	ai_profile_finish(p, T0 + 10 * MS, NULL);
	const struct ai_profile_task *a = find(p, 0xa0, 0);
	cr_expect_eq(a->busy_ns, 4 * MS, "busy %llu", (unsigned long long)a->busy_ns);
	cr_expect_eq(a->max_poll_ns, 2 * MS);
	cr_expect_eq(p->unmatched_ends, 0);
	ai_profile_destroy(p);
}

Test(profile_model, released_address_is_a_new_task)
{
	struct ai_profile *p = make();
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 1 * MS, 1, 0xa0, "app::first");
	ai_profile_event(p, AI_PROFILE_POLL_END, T0 + 2 * MS, 1, 0, NULL);
	ai_profile_event(p, AI_PROFILE_RELEASE, T0 + 3 * MS, 1, 0xa0, NULL);
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 4 * MS, 1, 0xa0, "app::second");
	ai_profile_event(p, AI_PROFILE_POLL_END, T0 + 7 * MS, 1, 0, NULL);
	ai_profile_finish(p, T0 + 10 * MS, NULL);
	cr_assert_eq(p->task_count, 2);
	const struct ai_profile_task *first = find(p, 0xa0, 0), *second = find(p, 0xa0, 1);
	cr_expect(first->released);
	cr_expect_str_eq(first->future, "app::first");
	cr_expect_eq(ai_profile_task_idle_ns(p, first), 1 * MS, "idle from its first event to its release");
	cr_expect(!second->released);
	cr_expect_str_eq(second->future, "app::second");
	cr_expect_eq(second->busy_ns, 3 * MS);
	ai_profile_destroy(p);
}

Test(profile_model, names_from_snapshots_and_folded)
{
	struct ai_snapshot *start = ai_snapshot_create();
	struct ai_snapshot_task *s = ai_snapshot_add_task(start);
	s->has_id = true;
	s->id = 7;
	s->address = 0xa0;
	s->kind = xstrdup("task");
	s->status = xstrdup("idle");
	s->future = xstrdup("app::serve");
	s->tree.function = xstrdup("app::serve");
	s->tree.file = xstrdup("/src/app.rs");
	s->tree.line = 12;
	struct ai_await_node *leaf = ai_await_node_add_child(&s->tree);
	leaf->type = xstrdup("app::Frame<[u8; 4]>");
	struct ai_snapshot_task *idle = ai_snapshot_add_task(start);
	idle->has_id = true;
	idle->id = 8;
	idle->address = 0xc0;
	idle->kind = xstrdup("task");
	idle->future = xstrdup("app::idle");

	struct ai_profile *p = make();
	ai_profile_add_start(p, start);
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 1 * MS, 1, 0xa0, "core::pin::Pin<..>");
	ai_profile_event(p, AI_PROFILE_POLL_END, T0 + 2 * MS, 1, 0, NULL);
	ai_profile_finish(p, T0 + 10 * MS, NULL);
	cr_assert_eq(p->task_count, 2);
	cr_expect(p->tasks[0].has_id && p->tasks[0].id == 7);
	cr_expect_str_eq(p->tasks[0].future, "app::serve");
	cr_expect_str_eq(p->tasks[0].location, "/src/app.rs:12");
	cr_expect_eq(ai_profile_task_idle_ns(p, &p->tasks[1]), 10 * MS, "idle the whole window");

	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	cr_assert_eq(ai_profile_write(out, &(const struct ai_profile *){ p }, 1, AI_PROFILE_FOLDED), 0);
	fclose(out);
	/* One line, the task first, ';' inside a frame turned into ','; the idle task has no weight. */
	cr_expect_str_eq(text, "task 7;app::serve;app::Frame<[u8, 4]> 1000000\n");
	free(text);
	ai_profile_destroy(p);
	ai_snapshot_destroy(start);
}

Test(profile_model, scheduled_percentile)
{
	struct ai_profile *p = make();
	/* 99 wakes answered after 10 us, one after 5 ms. */
	uint64_t t = T0 + MS;
	for (int i = 0; i < 100; i++) {
		uint64_t wait = i == 50 ? 5 * MS : 10000;
		ai_profile_event(p, AI_PROFILE_WAKE, t, 1, 0xa0, NULL);
		ai_profile_event(p, AI_PROFILE_POLL_BEGIN, t + wait, 1, 0xa0, NULL);
		ai_profile_event(p, AI_PROFILE_POLL_END, t + wait + 1000, 1, 0, NULL);
		t += wait + 2000;
	}
	ai_profile_finish(p, t, NULL);
	const struct ai_profile_task *a = find(p, 0xa0, 0);
	cr_expect_eq(a->scheduled_count, 100);
	uint64_t p99 = ai_profile_task_scheduled_percentile(a, 99);
	cr_expect(p99 >= 10000 && p99 <= 10000 + 10000 / 16, "p99 %llu", (unsigned long long)p99);
	cr_expect_eq(ai_profile_task_scheduled_percentile(a, 100), 5 * MS);
	cr_expect_eq(a->scheduled_max_ns, 5 * MS);
	ai_profile_destroy(p);
}

/* The poll list of the timelines: each poll with the wake that led to it, task indexes still
 * right after the tasks are sorted, and polls past the cap counted, not kept. */
Test(profile_model, poll_list_with_wakes_and_a_cap)
{
	struct ai_profile *p = make();
	p->poll_cap = 3;
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 1 * MS, 1, 0xa0, "app::a"); /* short */
	ai_profile_event(p, AI_PROFILE_WAKE, T0 + 1 * MS + 10, 1, 0xb0, NULL);
	ai_profile_event(p, AI_PROFILE_POLL_END, T0 + 1 * MS + 100, 1, 0, NULL);
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 2 * MS, 2, 0xb0, "app::b"); /* long: sorted first */
	ai_profile_event(p, AI_PROFILE_POLL_END, T0 + 4 * MS, 2, 0, NULL);
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 5 * MS, 1, 0xa0, NULL);
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 6 * MS, 2, 0xb0, NULL); /* past the cap */
	ai_profile_event(p, AI_PROFILE_POLL_END, T0 + 6 * MS + 1, 2, 0, NULL);
	ai_profile_finish(p, T0 + 6 * MS + 500000, NULL); /* a's second poll runs to the end */
	cr_assert_eq(p->poll_count, 3);
	cr_expect_eq(p->polls_dropped, 1);
	cr_expect_eq(p->tasks[0].address, 0xb0, "b, the busiest, is not sorted first");
	const struct ai_profile_poll *a1 = &p->poll_list[0], *b1 = &p->poll_list[1], *a2 = &p->poll_list[2];
	cr_expect_eq(p->tasks[a1->task].address, 0xa0);
	cr_expect_eq(p->tasks[b1->task].address, 0xb0);
	cr_expect_eq(p->tasks[a2->task].address, 0xa0);
	cr_expect_eq(a1->end_ns, T0 + 1 * MS + 100);
	cr_expect_eq(a1->wake_ns, 0, "a was never woken");
	cr_expect_eq(b1->tid, 2);
	cr_expect_eq(b1->wake_ns, T0 + 1 * MS + 10);
	cr_expect_eq(b1->wake_tid, 1);
	cr_expect_eq(a2->end_ns, T0 + 6 * MS + 500000);
	bool warned = false;
	for (size_t i = 0; i < p->warning_count; i++)
		warned |= strstr(p->warnings[i], "keeps the first 3 polls") != NULL;
	cr_expect(warned, "no warning says polls were dropped");
	ai_profile_destroy(p);
}

/* CPU samples: one taken while a thread polls a task counts for the task, one outside any poll
 * for the thread; the folded output weighs the stacks by samples, the busiest task first, then
 * the thread's stacks; a stack whose unwinding stopped short gets the task's snapshot chain. */
Test(profile_model, samples_by_task_then_thread)
{
	struct ai_snapshot *start = ai_snapshot_create();
	struct ai_snapshot_task *s = ai_snapshot_add_task(start);
	s->has_id = true;
	s->id = 7;
	s->address = 0xa0;
	s->kind = xstrdup("task");
	s->future = xstrdup("app::serve");
	s->tree.function = xstrdup("app::serve");

	struct ai_profile *p = make();
	p->sample_rate = 99;
	ai_profile_add_start(p, start);
	ai_profile_sample(p, T0 - 1, 1, xstrdup("before;the window"), false); /* dropped */
	cr_expect(!ai_profile_polling(p, 1));
	ai_profile_sample(p, T0 + MS / 2, 1, xstrdup("main;[tokio scheduler];epoll_wait"), false);
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 1 * MS, 1, 0xa0, NULL);
	cr_expect(ai_profile_polling(p, 1));
	cr_expect(!ai_profile_polling(p, 2));
	for (int i = 0; i < 3; i++)
		ai_profile_sample(p, T0 + 2 * MS + (uint64_t)i, 1, xstrdup("app::serve;app::parse;memchr"), false);
	ai_profile_sample(p, T0 + 3 * MS, 1, xstrdup("app::serve;app::parse"), false);
	ai_profile_sample(p, T0 + 3 * MS + 1, 1, xstrdup("memchr"), true);
	ai_profile_event(p, AI_PROFILE_POLL_END, T0 + 4 * MS, 1, 0, NULL);
	cr_expect(!ai_profile_polling(p, 1));
	ai_profile_sample(p, T0 + 5 * MS, 1, xstrdup("main;[tokio scheduler];epoll_wait"), false);
	ai_profile_finish(p, T0 + 10 * MS, NULL);
	cr_expect_eq(p->samples, 7);
	cr_expect_eq(p->tasks[0].samples, 5);
	cr_expect_eq(p->threads[0].samples, 2);

	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	cr_assert_eq(ai_profile_write(out, &(const struct ai_profile *){ p }, 1, AI_PROFILE_FOLDED), 0);
	fclose(out);
	cr_expect_not_null(strstr(text, "task 7;app::serve;app::parse;memchr 3\ntask 7;app::serve;app::parse 1\n"
				   "task 7;app::serve;memchr 1\n"), "%s", text);
	cr_expect_not_null(strstr(text, "\nthread 1;main;[tokio scheduler];epoll_wait 2\n"), "%s", text);
	free(text);

	/* The SVG weighs the same stacks. */
	out = open_memstream(&text, &len);
	cr_assert_eq(ai_profile_write(out, &(const struct ai_profile *){ p }, 1, AI_PROFILE_SVG), 0);
	fclose(out);
	cr_expect_not_null(strstr(text, "<title>app::parse (4 samples, "), "%s", text);
	free(text);
	ai_profile_destroy(p);
	ai_snapshot_destroy(start);
}

/* Without sampling (--rate 0) the flame formats keep the busy-time weighting. */
Test(profile_model, no_sampling_weighs_busy_time)
{
	struct ai_profile *p = make();
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 1 * MS, 1, 0xa0, "app::a");
	ai_profile_event(p, AI_PROFILE_POLL_END, T0 + 3 * MS, 1, 0, NULL);
	ai_profile_finish(p, T0 + 10 * MS, NULL);
	struct ai_flame_stack *stacks;
	size_t count = ai_profile_flame_stacks(p, &stacks);
	cr_assert_eq(count, 1);
	cr_expect_eq(stacks[0].weight, 2 * MS);
	cr_assert_eq(stacks[0].count, 2);
	cr_expect_str_eq(stacks[0].frames[1], "app::a");
	ai_profile_flame_stacks_free(stacks, count);
	ai_profile_destroy(p);
}

/* The live view's model (live_profile.c): busy time counts a poll still running up to now;
 * forgetting the released tasks keeps the others' measures and their index look-up, and a poll
 * of a forgotten task that is still open ends without touching the others. */
Test(profile_model, live_busy_until_and_forget_released)
{
	struct ai_profile *p = make();
	p->no_histograms = true;
	ai_profile_event(p, AI_PROFILE_WAKE, T0 + 1 * MS, 1, 0xa0, NULL);
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 2 * MS, 1, 0xa0, "app::a");
	ai_profile_event(p, AI_PROFILE_POLL_END, T0 + 3 * MS, 1, 0, NULL);
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 4 * MS, 2, 0xb0, "app::b");
	ai_profile_event(p, AI_PROFILE_RELEASE, T0 + 5 * MS, 2, 0xb0, NULL); /* freed in its last poll */
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 6 * MS, 1, 0xa0, NULL);
	size_t a = ai_profile_task_index(p, 0xa0);
	cr_assert_neq(a, SIZE_MAX);
	cr_expect_eq(ai_profile_task_busy_until(p, a, T0 + 8 * MS), 3 * MS, "1 ms done, 2 ms running");
	cr_expect_eq(p->tasks[a].scheduled_ns, 1 * MS);
	cr_expect_null(p->tasks[a].scheduled_hist, "no histogram when asked for none");
	cr_expect_eq(p->task_count, 2);
	ai_profile_forget_released(p);
	cr_expect_eq(p->task_count, 1);
	cr_expect_eq(ai_profile_task_index(p, 0xb0), SIZE_MAX);
	a = ai_profile_task_index(p, 0xa0);
	cr_assert_eq(a, 0);
	cr_expect_eq(p->tasks[a].polls, 2);
	cr_expect_eq(ai_profile_task_busy_until(p, a, T0 + 8 * MS), 3 * MS);
	/* B's open poll ends: nothing is counted for anyone; A's poll ends and counts. */
	ai_profile_event(p, AI_PROFILE_POLL_END, T0 + 9 * MS, 2, 0, NULL);
	ai_profile_event(p, AI_PROFILE_POLL_END, T0 + 10 * MS, 1, 0, NULL);
	cr_expect_eq(p->tasks[a].busy_ns, 5 * MS);
	/* A new task at B's address is measured from its first event. */
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 11 * MS, 2, 0xb0, "app::c");
	size_t c = ai_profile_task_index(p, 0xb0);
	cr_assert_neq(c, SIZE_MAX);
	cr_expect_eq(p->tasks[c].polls, 1);
	ai_profile_destroy(p);
}

/* Above pid_max's limit (2^22): no /proc entry, so the command is the executable's base name. */
#define PID_A 4194305
#define PID_B 4194306

static char *write_all(const struct ai_profile *const *profiles, size_t count, enum ai_profile_format format)
{
	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	cr_assert_eq(ai_profile_write(out, profiles, count, format), 0);
	fclose(out);
	return text;
}

/* Two processes over one window: a section, a total, a root frame, a document, a track each. */
Test(profile_model, two_processes_in_every_format)
{
	struct ai_profile *a = ai_profile_create(PID_A, "/bin/app", "tokio", 4, T0);
	struct ai_profile *b = ai_profile_create(PID_B, "/usr/bin/db", "tokio", 4, T0);
	/* The same task address in both: each process's own task. */
	ai_profile_event(a, AI_PROFILE_POLL_BEGIN, T0 + 1 * MS, 1, 0xa0, "app::serve");
	ai_profile_event(a, AI_PROFILE_POLL_END, T0 + 3 * MS, 1, 0, NULL);
	ai_profile_event(b, AI_PROFILE_POLL_BEGIN, T0 + 2 * MS, 7, 0xa0, "db::query");
	ai_profile_event(b, AI_PROFILE_POLL_END, T0 + 6 * MS, 7, 0, NULL);
	ai_profile_finish(a, T0 + 10 * MS, NULL);
	ai_profile_finish(b, T0 + 10 * MS, NULL);
	a->poll_cap = b->poll_cap = 0;
	cr_expect_str_eq(a->command, "app");
	cr_expect_str_eq(b->command, "db");
	const struct ai_profile *both[] = { a, b };

	char *text = write_all(both, 2, AI_PROFILE_FOLDED);
	cr_expect_str_eq(text, "pid 4194305 app;task @0xa0;app::serve 2000000\npid 4194306 db;task @0xa0;db::query 4000000\n");
	free(text);

	text = write_all(both, 2, AI_PROFILE_REPORT);
	const char *first = strstr(text, "Profile of process 4194305 "), *second = strstr(text, "Profile of process 4194306 ");
	cr_assert(first && second && first < second, "%s", text);
	cr_expect_not_null(strstr(text, "Total of pid 4194305 app: 1 task, 1 polls"), "%s", text);
	cr_expect_not_null(strstr(second, "Total of pid 4194306 db: 1 task, 1 polls"), "%s", text);
	cr_expect_not_null(strstr(second, "db::query"), "%s", text);
	free(text);

	text = write_all(both, 2, AI_PROFILE_JSON);
	json_error_t jerr;
	json_t *root = json_loads(text, 0, &jerr);
	cr_assert_not_null(root, "%s: %s", jerr.text, text);
	cr_expect_str_eq(json_string_value(json_object_get(root, "format")), "async-inspect-profile");
	json_t *processes = json_object_get(root, "processes");
	cr_assert_eq(json_array_size(processes), 2, "%s", text);
	for (size_t i = 0; i < 2; i++) {
		json_t *doc = json_array_get(processes, i);
		cr_expect_eq(json_integer_value(json_object_get(doc, "pid")), i ? PID_B : PID_A);
		json_t *task = json_array_get(json_object_get(doc, "tasks"), 0);
		cr_expect_str_eq(json_string_value(json_object_get(task, "future")), i ? "db::query" : "app::serve");
	}
	json_decref(root);
	free(text);
	/* One process: today's document, no array. */
	text = write_all(both, 1, AI_PROFILE_JSON);
	root = json_loads(text, 0, &jerr);
	cr_assert_not_null(root);
	cr_expect_null(json_object_get(root, "processes"));
	cr_expect_eq(json_integer_value(json_object_get(root, "pid")), PID_A);
	json_decref(root);
	free(text);

	text = write_all(both, 2, AI_PROFILE_SVG);
	cr_expect_not_null(strstr(text, "processes pid 4194305 app, pid 4194306 db"), "%s", text);
	cr_expect_not_null(strstr(text, "<title>pid 4194306 db ("), "%s", text);
	free(text);

	text = write_all(both, 2, AI_PROFILE_SPEEDSCOPE);
	root = json_loads(text, 0, &jerr);
	cr_assert_not_null(root, "%s: %s", jerr.text, text);
	cr_expect_not_null(strstr(text, "\"pid 4194305 app: thread 1\""), "%s", text);
	cr_expect_not_null(strstr(text, "\"pid 4194306 db: thread 7\""), "%s", text);
	json_decref(root);
	free(text);

	text = write_all(both, 2, AI_PROFILE_PERFETTO);
	root = json_loads(text, 0, &jerr);
	cr_assert_not_null(root, "%s: %s", jerr.text, text);
	bool named[2] = { false, false };
	json_t *events = json_object_get(root, "traceEvents"), *e;
	size_t i;
	json_array_foreach(events, i, e) {
		const char *name = json_string_value(json_object_get(e, "name"));
		json_int_t pid = json_integer_value(json_object_get(e, "pid"));
		if (name && strcmp(name, "process_name") == 0)
			named[pid == PID_B] = true;
	}
	cr_expect(named[0] && named[1], "%s", text);
	json_decref(root);
	free(text);
	ai_profile_destroy(a);
	ai_profile_destroy(b);
}

/* serve's flamegraph window: each take moves the model's stacks out (labelled from the snapshot),
 * the tree merges them under "all" and each task's frame with its address, and what is older than
 * the window goes. */
Test(profile_model, live_flame_window)
{
	struct ai_snapshot *snap = ai_snapshot_create();
	struct ai_snapshot_task *s = ai_snapshot_add_task(snap);
	s->has_id = true;
	s->id = 7;
	s->address = 0xa0;
	s->kind = xstrdup("task");
	s->future = xstrdup("app::serve");
	s->tree.function = xstrdup("app::serve");

	struct ai_profile *p = make();
	p->sample_rate = 99;
	ai_profile_add_start(p, snap);
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 1 * MS, 1, 0xa0, NULL);
	for (int i = 0; i < 3; i++)
		ai_profile_sample(p, T0 + 2 * MS + (uint64_t)i, 1, xstrdup("app::serve;app::parse;memchr"), false);
	ai_profile_sample(p, T0 + 3 * MS, 1, xstrdup("memchr"), true); /* cut short: the root future first */
	ai_profile_event(p, AI_PROFILE_POLL_END, T0 + 4 * MS, 1, 0, NULL);
	ai_profile_sample(p, T0 + 5 * MS, 1, xstrdup("main;epoll_wait"), false);

	struct ai_live_flame *f = ai_live_flame_create();
	ai_live_flame_take(f, p, snap, T0 + 6 * MS);
	cr_expect_eq(p->tasks[0].stack_count, 0, "taken out of the model");
	cr_expect_eq(p->threads[0].stack_count, 0);
	ai_profile_event(p, AI_PROFILE_POLL_BEGIN, T0 + 7 * MS, 1, 0xa0, NULL);
	ai_profile_sample(p, T0 + 8 * MS, 1, xstrdup("app::serve;app::parse;memchr"), false);
	ai_live_flame_take(f, p, snap, T0 + 9 * MS);

	char *text = NULL;
	size_t len = 0;
	FILE *out = open_memstream(&text, &len);
	ai_live_flame_write(out, f, 99);
	fclose(out);
	json_error_t error;
	json_t *doc = json_loads(text, 0, &error);
	cr_assert(doc, "%s: %s", error.text, text);
	json_t *root = json_object_get(doc, "root");
	cr_expect_eq(json_integer_value(json_object_get(doc, "samples")), 6);
	cr_expect_eq(json_integer_value(json_object_get(root, "value")), 6);
	json_t *task = json_array_get(json_object_get(root, "children"), 0);
	cr_expect_str_eq(json_string_value(json_object_get(task, "name")), "task 7");
	cr_expect_str_eq(json_string_value(json_object_get(task, "address")), "0xa0");
	cr_expect_eq(json_integer_value(json_object_get(task, "value")), 5);
	json_t *serve = json_array_get(json_object_get(task, "children"), 0);
	cr_expect_str_eq(json_string_value(json_object_get(serve, "name")), "app::serve");
	cr_expect_eq(json_integer_value(json_object_get(serve, "value")), 5, "both takes and the cut stack, merged");
	json_t *thread = json_array_get(json_object_get(root, "children"), 1);
	cr_expect_str_eq(json_string_value(json_object_get(thread, "name")), "thread 1");
	json_decref(doc);
	free(text);

	/* Past the window only the newest take stays. */
	ai_live_flame_take(f, p, snap, T0 + 6 * MS + AI_LIVE_FLAME_WINDOW_NS + 1);
	out = open_memstream(&text, &len);
	ai_live_flame_write(out, f, 99);
	fclose(out);
	doc = json_loads(text, 0, &error);
	cr_assert(doc);
	cr_expect_eq(json_integer_value(json_object_get(doc, "samples")), 1, "%s", text);
	json_decref(doc);
	free(text);

	out = open_memstream(&text, &len);
	ai_live_flame_write_unavailable(out, "no profile: why");
	fclose(out);
	cr_expect_not_null(strstr(text, "\"available\":false,\"reason\":\"no profile: why\",\"root\":null"), "%s", text);
	free(text);
	ai_live_flame_destroy(f);
	ai_profile_destroy(p);
	ai_snapshot_destroy(snap);
}
