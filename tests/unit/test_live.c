/* The live model over hand-made snapshots: tasks followed by identity, the lower bound of how long
 * an await tree has been unchanged, state transitions, and the bounded ring buffer. */
#include <criterion/criterion.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ai/live.h"
#include "ai/util.h"

#define RUNTIME 0x7000

/* A snapshot at `ms` with tokio tasks ids[i] parked at lines[i] (status idle). */
static struct ai_snapshot *make(int64_t ms, const uint64_t *ids, const int *lines, size_t n)
{
	struct ai_snapshot *s = ai_snapshot_create();
	s->captured_at_ms = ms;
	for (size_t i = 0; i < n; i++) {
		struct ai_snapshot_task *t = ai_snapshot_add_task(s);
		t->id = ids[i];
		t->has_id = true;
		t->runtime_address = RUNTIME;
		t->address = 0x1000 * (i + 1) + ms; /* addresses do not identify tokio tasks */
		t->kind = xstrdup("task");
		t->status = xstrdup("idle");
		t->tree.function = xstrdup("app::worker");
		t->tree.state = xstrdup("Suspend0");
		t->tree.file = xstrdup("/src/app.rs");
		t->tree.line = lines[i];
		struct ai_await_node *leaf = ai_await_node_add_child(&t->tree);
		leaf->type = xstrdup("tokio::time::Sleep");
		leaf->leaf = true;
	}
	return s;
}

static size_t index_of(const struct ai_live *live, uint64_t id)
{
	const struct ai_snapshot *s = ai_live_snapshot(live, 0);
	for (size_t i = 0; i < s->task_count; i++) {
		if (s->tasks[i].id == id)
			return i;
	}
	cr_assert_fail("task %llu not in the latest snapshot", (unsigned long long)id);
	return 0;
}

Test(live, unchanged_tree_duration_grows_and_resets_on_change)
{
	struct ai_live *live = ai_live_create(4);
	ai_live_add(live, make(1000, (uint64_t[]){ 1, 2 }, (int[]){ 10, 20 }, 2));
	cr_expect_eq(ai_live_unchanged_ms(live, index_of(live, 1)), 0);
	/* Reordered, task 2 moved on. */
	ai_live_add(live, make(1500, (uint64_t[]){ 2, 1 }, (int[]){ 21, 10 }, 2));
	cr_expect_eq(ai_live_unchanged_ms(live, index_of(live, 1)), 500);
	cr_expect_eq(ai_live_unchanged_ms(live, index_of(live, 2)), 0);
	cr_expect_eq(live->tasks[index_of(live, 2)].transitions, 1);
	cr_expect_eq(live->tasks[index_of(live, 1)].transitions, 0);
	ai_live_add(live, make(3800, (uint64_t[]){ 1, 2 }, (int[]){ 10, 21 }, 2));
	cr_expect_eq(ai_live_unchanged_ms(live, index_of(live, 1)), 2800);
	cr_expect_eq(ai_live_unchanged_ms(live, index_of(live, 2)), 2300);
	cr_expect_eq(live->tasks[index_of(live, 1)].samples, 3);
	cr_expect_eq(live->tasks[index_of(live, 1)].first_seen_ms, 1000);
	ai_live_destroy(live);
}

Test(live, new_and_vanished_tasks)
{
	struct ai_live *live = ai_live_create(2);
	ai_live_add(live, make(0, (uint64_t[]){ 1, 2 }, (int[]){ 10, 20 }, 2));
	ai_live_add(live, make(100, (uint64_t[]){ 3 }, (int[]){ 20 }, 1));
	cr_expect_eq(live->task_count, 1);
	cr_expect_eq(live->tasks[0].first_seen_ms, 100);
	cr_expect_eq(live->tasks[0].samples, 1);
	/* Task 1 comes back: it is new again (its history went with it). */
	ai_live_add(live, make(200, (uint64_t[]){ 3, 1 }, (int[]){ 20, 10 }, 2));
	cr_expect_eq(live->tasks[index_of(live, 1)].first_seen_ms, 200);
	cr_expect_eq(ai_live_unchanged_ms(live, index_of(live, 3)), 100);
	ai_live_destroy(live);
}

Test(live, same_id_in_another_runtime_is_another_task)
{
	struct ai_live *live = ai_live_create(2);
	ai_live_add(live, make(0, (uint64_t[]){ 1 }, (int[]){ 10 }, 1));
	struct ai_snapshot *s = make(700, (uint64_t[]){ 1 }, (int[]){ 10 }, 1);
	s->tasks[0].runtime_address = RUNTIME + 8;
	ai_live_add(live, s);
	cr_expect_eq(ai_live_unchanged_ms(live, 0), 0);
	cr_expect_eq(live->tasks[0].samples, 1);
	ai_live_destroy(live);
}

Test(live, block_on_roots_by_thread_and_future)
{
	struct ai_live *live = ai_live_create(2);
	for (int round = 0; round < 3; round++) {
		struct ai_snapshot *s = ai_snapshot_create();
		s->captured_at_ms = 1000 * round;
		for (int i = 0; i < 2; i++) {
			struct ai_snapshot_task *t = ai_snapshot_add_task(s);
			t->kind = xstrdup("block_on");
			t->thread = 100 + i;
			t->address = 0x5000; /* same future address on two threads' stacks */
			t->tree.function = xstrdup("app::main");
			t->tree.line = round == 2 && i == 1 ? 9 : 5;
			t->tree.file = xstrdup("/src/main.rs");
		}
		ai_live_add(live, s);
	}
	cr_expect_eq(live->task_count, 2);
	cr_expect_eq(ai_live_unchanged_ms(live, 0), 2000);
	cr_expect_eq(ai_live_unchanged_ms(live, 1), 0);
	cr_expect_eq(live->tasks[1].transitions, 1);
	cr_expect_str_eq(live->tasks[0].status, "block_on");
	ai_live_destroy(live);
}

Test(live, state_transitions_and_states)
{
	struct ai_live *live = ai_live_create(3);
	const char *statuses[] = { "idle", "running", "running", "idle", "completed" };
	for (int round = 0; round < 5; round++) {
		struct ai_snapshot *s = make(round * 10, (uint64_t[]){ 7 }, (int[]){ 10 }, 1);
		free(s->tasks[0].status);
		s->tasks[0].status = xstrdup(statuses[round]);
		ai_live_add(live, s);
	}
	cr_expect_eq(live->tasks[0].transitions, 3); /* idle->running, running->idle, idle->done */
	cr_expect_str_eq(live->tasks[0].status, "done");
	cr_expect_eq(ai_live_unchanged_ms(live, 0), 40); /* the tree itself never changed */
	struct ai_snapshot *s = make(0, (uint64_t[]){ 1, 2 }, (int[]){ 10, 20 }, 2);
	struct ai_wait wait = { .kind = "sleep" };
	s->tasks[0].wait = &wait;
	cr_expect_str_eq(ai_live_task_state(s, 0), "blocked");
	cr_expect_str_eq(ai_live_task_state(s, 1), "idle");
	s->deadlocks = xcalloc(1, sizeof(*s->deadlocks));
	s->deadlocks[0].tasks = xcalloc(1, sizeof(size_t));
	s->deadlocks[0].tasks[0] = 1;
	s->deadlocks[0].count = 1;
	s->deadlock_count = s->deadlock_capacity = 1;
	cr_expect_str_eq(ai_live_task_state(s, 1), "deadlocked");
	s->tasks[0].wait = NULL;
	ai_snapshot_destroy(s);
	ai_live_destroy(live);
}

Test(live, ring_buffer_keeps_the_last_n)
{
	struct ai_live *live = ai_live_create(3);
	for (int i = 0; i < 1000; i++)
		ai_live_add(live, make(i, (uint64_t[]){ 1 }, (int[]){ 10 }, 1));
	cr_expect_eq(live->ring_count, 3);
	cr_expect_eq(live->sample_count, 1000);
	cr_expect_eq(ai_live_snapshot(live, 0)->captured_at_ms, 999);
	cr_expect_eq(ai_live_snapshot(live, 2)->captured_at_ms, 997);
	cr_expect_null(ai_live_snapshot(live, 3));
	cr_expect_eq(ai_live_unchanged_ms(live, 0), 999);
	ai_live_destroy(live);
}

Test(live, await_point_is_the_deepest_frame_with_a_line)
{
	struct ai_snapshot *s = make(0, (uint64_t[]){ 1 }, (int[]){ 10 }, 1);
	struct ai_await_node *inner = &s->tasks[0].tree.children[0];
	free(inner->type);
	inner->type = NULL;
	inner->leaf = false;
	inner->function = xstrdup("app::inner");
	inner->file = xstrdup("/src/inner.rs");
	inner->line = 42;
	ai_await_node_add_child(inner)->type = xstrdup("Sleep");
	const struct ai_await_node *at = ai_live_await_point(&s->tasks[0]);
	cr_assert_not_null(at);
	cr_expect_eq(at->line, 42);
	cr_expect_neq(ai_live_tree_hash(&s->tasks[0].tree), 0);
	ai_snapshot_destroy(s);
}

/* A deeper frame in a dependency's source (the decoder marks it from the DWARF) gives way to the
 * program's own, whatever the paths look like. */
Test(live, await_point_skips_frames_of_dependencies)
{
	struct ai_snapshot *s = make(0, (uint64_t[]){ 1 }, (int[]){ 10 }, 1);
	struct ai_await_node *inner = &s->tasks[0].tree.children[0];
	free(inner->type);
	inner->type = NULL;
	inner->leaf = false;
	inner->function = xstrdup("helper::wait_here");
	inner->file = xstrdup("/src/vendor/helper/src/lib.rs");
	inner->line = 42;
	inner->dependency = true;
	ai_await_node_add_child(inner)->type = xstrdup("Sleep");
	const struct ai_await_node *at = ai_live_await_point(&s->tasks[0]);
	cr_assert_not_null(at);
	cr_expect_eq(at->line, 10);
	cr_expect_str_eq(at->file, "/src/app.rs");
	ai_snapshot_destroy(s);
}

/* The timeline's state letters: one per sample, the latest last, shifted as samples come; a task
 * first seen later has blanks before; the memory per task is fixed. */
Test(live, state_history_per_sample)
{
	struct ai_live *live = ai_live_create(2);
	const char *statuses[] = { "idle", "running", "scheduled", "idle" };
	for (int round = 0; round < 4; round++) {
		struct ai_snapshot *s = make(round * 10, (uint64_t[]){ 7, 8 }, (int[]){ 10, 20 }, round < 2 ? 1 : 2);
		free(s->tasks[0].status);
		s->tasks[0].status = xstrdup(statuses[round]);
		ai_live_add(live, s);
	}
	const char *h7 = live->tasks[index_of(live, 7)].history;
	const char *h8 = live->tasks[index_of(live, 8)].history;
	cr_expect_eq(memcmp(h7 + AI_LIVE_STATE_HISTORY - 5, " IRSI", 5), 0, "'%.*s'", AI_LIVE_STATE_HISTORY, h7);
	cr_expect_eq(memcmp(h8 + AI_LIVE_STATE_HISTORY - 3, " II", 3), 0, "'%.*s'", AI_LIVE_STATE_HISTORY, h8);
	for (int i = 0; i < AI_LIVE_STATE_HISTORY - 4; i++)
		cr_expect_eq(h7[i], ' ');
	/* Past the history's size the oldest go: still 64 letters, the last 64 samples. */
	for (int round = 4; round < 200; round++)
		ai_live_add(live, make(round * 10, (uint64_t[]){ 7 }, (int[]){ 10 }, 1));
	h7 = live->tasks[0].history;
	for (int i = 0; i < AI_LIVE_STATE_HISTORY; i++)
		cr_expect_eq(h7[i], 'I', "letter %d of '%.*s'", i, AI_LIVE_STATE_HISTORY, h7);
	cr_expect_eq(sizeof(live->tasks[0].history), AI_LIVE_STATE_HISTORY);
	cr_expect_eq(ai_live_state_letter("deadlocked"), 'D');
	cr_expect_eq(ai_live_state_letter("blocked"), 'B');
	cr_expect_eq(ai_live_state_letter("block_on"), 'O');
	cr_expect_eq(ai_live_state_letter("done"), 'X');
	cr_expect_eq(ai_live_state_letter("what"), '?');
	ai_live_destroy(live);
}

static uint64_t cpu_time_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/* CPU% and RSS from /proc, on ourselves: 300ms of spinning between two reads is near 100% of a
 * core (the kernel counts in ticks of 10ms, and the machine is shared: within a wide band). */
Test(live, process_cpu_and_rss)
{
	struct ai_live *live = ai_live_create(1);
	ai_live_read_process(live, getpid());
	cr_expect(!live->process.has_cpu, "no CPU% from one read");
	cr_assert(live->process.has_rss);
	cr_expect_gt(live->process.rss_bytes, 1024 * 1024);
	cr_expect_lt(live->process.rss_bytes, 4ULL << 30);
	uint64_t start_cpu = cpu_time_us(), start = ai_now_us();
	volatile uint64_t x = 0;
	while (ai_now_us() - start < 300000)
		x++;
	double expected = (double)(cpu_time_us() - start_cpu) * 100.0 / (double)(ai_now_us() - start);
	ai_live_read_process(live, getpid());
	cr_assert(live->process.has_cpu);
	cr_expect(live->process.cpu_percent > expected - 15 && live->process.cpu_percent < expected + 15,
		  "cpu %.1f%%, measured by the clock %.1f%%", live->process.cpu_percent, expected);
	ai_live_read_process(live, 999999999); /* gone: unknown, never a guess */
	cr_expect(!live->process.has_cpu && !live->process.has_rss);
	ai_live_destroy(live);
}

/* Several processes: one model per process, each fed its own snapshots; a process that gives none
 * keeps its last one; an ended one says why and no longer counts as running. */
Test(live, set_keeps_one_model_per_process)
{
	pid_t pids[] = { 4242, 4343 };
	struct ai_live_set *set = ai_live_set_create(pids, 2, 4);
	cr_assert_eq(set->count, 2);
	cr_expect_eq(set->members[1].pid, 4343);
	struct ai_snapshot *first[] = { make(1000, (uint64_t[]){ 1, 2 }, (int[]){ 10, 20 }, 2),
					make(1000, (uint64_t[]){ 1 }, (int[]){ 30 }, 1) };
	ai_live_set_add(set, first);
	cr_expect(first[0] == NULL && first[1] == NULL, "the snapshots went to the models");
	cr_expect_eq(set->members[0].live->task_count, 2);
	cr_expect_eq(set->members[1].live->task_count, 1);
	/* Task 1 of each process is its own task: the second's line stays its own. */
	cr_expect_eq(ai_live_snapshot(set->members[1].live, 0)->tasks[0].tree.line, 30);

	ai_live_set_end(set, 1, "exited");
	cr_expect(set->members[1].ended);
	cr_expect_str_eq(set->members[1].end_reason, "exited");
	cr_expect_eq(ai_live_set_running(set), 1);
	struct ai_snapshot *second[] = { make(1500, (uint64_t[]){ 1, 2 }, (int[]){ 10, 21 }, 2), NULL };
	ai_live_set_add(set, second);
	cr_expect_eq(set->sample_count, 2);
	cr_expect_eq(set->members[0].live->sample_count, 2);
	cr_expect_eq(ai_live_unchanged_ms(set->members[0].live, index_of(set->members[0].live, 1)), 500);
	cr_expect_eq(set->members[1].live->sample_count, 1, "the ended one keeps its last snapshot");
	cr_expect_eq(set->members[1].live->task_count, 1);
	ai_live_set_destroy(set);
}
