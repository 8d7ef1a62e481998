/* Recording and replay (--record, `replay`) and --max-pause, on the real fixtures: JSON read back
 * equals the JSON written on every tokio version, a recording made while attached replays with the
 * same tasks, bad recordings fail clearly, and on 100,000 tasks a capped copy is cut at its cap (a
 * pause past it is said so) while successive samples still cover every task. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ai/frontend.h"
#include "ai/util.h"
#include "support.h"

TestSuite(record, .init = require_fixtures, .timeout = 600);

/* dump --format json of a running fixture, parsed. */
static json_t *dump_json(pid_t pid)
{
	char *p = xasprintf("%d", (int)pid);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", p, "--format", "json", NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	json_error_t jerr;
	json_t *j = json_loads(r.out, 0, &jerr);
	cr_assert_not_null(j, "%s", jerr.text);
	tool_result_free(&r);
	free(p);
	return j;
}

/* Every fixture shape that exercises a part of the format: await trees with locals and waits of
 * every kind (waits, nested), held guards and deadlock cycles (deadlock_abba, deadlock_join),
 * futurelocks with their unpolled futures (futurelock) and channel cycles through held Senders
 * (deadlock_channel). */
Test(record, json_read_back_equals_json_written_on_every_version)
{
	static const char *const bins[] = { "nested", "waits", "deadlock_abba", "deadlock_join", "futurelock",
					    "deadlock_channel" };
	for (const char *const *v = tokio_versions(); *v; v++) {
		for (size_t b = 0; b < AI_ARRAY_SIZE(bins); b++) {
			struct fixture f;
			fixture_start(&f, *v, bins[b], NULL);
			json_t *written = dump_json(f.pid);
			fixture_kill(&f);
			struct ai_snapshot *s;
			struct ai_error *err = ai_snapshot_from_json(written, &s);
			cr_assert_null(err, "%s %s: %s", *v, bins[b], err ? err->message : "");
			cr_expect_gt(s->task_count, 1, "%s %s", *v, bins[b]);
			/* deadlock_channel has two cycles: an mpsc pair and a oneshot pair. */
			if (strncmp(bins[b], "deadlock", 8) == 0)
				cr_expect_eq(s->deadlock_count, strcmp(bins[b], "deadlock_channel") == 0 ? 2 : 1,
					     "%s %s", *v, bins[b]);
			json_t *again = ai_dump_json(s);
			if (!json_equal(written, again)) {
				char *a = json_dumps(written, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
				char *c = json_dumps(again, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
				cr_expect_str_eq(c, a, "%s %s: read back differs", *v, bins[b]);
				free(a);
				free(c);
			}
			json_decref(again);
			json_decref(written);
			ai_snapshot_destroy(s);
		}
	}
}

static char *temp_path(const char *name)
{
	return xasprintf("/tmp/ai-record-%d-%s", (int)getpid(), name);
}

/* A `dump --format json --pretty` file (one indented document, not JSON lines) replays as a
 * recording of one snapshot. */
Test(record, replay_of_a_json_dump_file)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "deadlock_abba", NULL);
	char *pid = xasprintf("%d", (int)f.pid);
	char *path = temp_path("dump.json");
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, "--format", "json", "--pretty", NULL });
	fixture_kill(&f);
	cr_assert_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	cr_assert(count_substr(r.out, "\n") > 10, "pretty-printed: %s", r.out);
	FILE *out = fopen(path, "w");
	cr_assert_not_null(out);
	fputs(r.out, out);
	fclose(out);
	tool_result_free(&r);
	tool_run(&r, 60, (const char *[]){ "replay", "--no-tui", "--no-wait", path, NULL });
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	cr_expect_eq(count_substr(r.out, "==== snapshot "), 1, "%s", r.out);
	cr_expect(strstr(r.out, "DEADLOCK: 2 tasks wait on each other") != NULL, "%s", r.out);
	tool_result_free(&r);
	unlink(path);
	free(path);
	free(pid);
}

static int count_lines(const char *path)
{
	size_t len;
	char *text = ai_read_small_file(path, &len);
	int n = text ? count_substr(text, "\n") : -1;
	free(text);
	return n;
}

/* attach --no-tui --record on nested: n snapshots, then Ctrl-C. */
static void record_nested(const char *crate, const char *path, int n, struct fixture *f)
{
	fixture_start(f, crate, "nested", NULL);
	char *pid = xasprintf("%d", (int)f->pid);
	struct tool_process p;
	tool_spawn(&p, (const char *[]){ "attach", "--pid", pid, "--interval", "100ms", "--no-tui", "--record", path,
					  NULL });
	char line[4096];
	int headers = 0;
	while (headers < n && fgets(line, sizeof(line), p.out))
		headers += strncmp(line, "==== snapshot ", 14) == 0;
	cr_assert_eq(headers, n);
	kill(p.pid, SIGINT);
	struct tool_result r;
	tool_finish(&p, 60, &r);
	cr_assert_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	tool_result_free(&r);
	free(pid);
}

Test(record, attach_record_then_replay_headless_and_as_text)
{
	char *path = temp_path("nested.jsonl");
	struct fixture f;
	record_nested("tokio-1.38", path, 3, &f);
	/* What attach printed, line for line, is in the file (a snapshot may have been taken after
	 * the third header, before the Ctrl-C). */
	int lines = count_lines(path);
	cr_expect(lines >= 3 && lines <= 4, "%d lines", lines);
	/* Each line is a dump document: a local's value in its structured form too. */
	char *text = ai_read_small_file(path, NULL);
	cr_assert_not_null(text);
	cr_expect(count_substr(text, "\"structured\":{\"kind\":\"str\",\"len\":6,\"value\":\"task-1\"}") >= lines, "%.2000s", text);
	free(text);
	/* The TUI on the recording, without the program: the first snapshot's tasks. */
	setenv("AI_TUI_HEADLESS", "160x30", 1);
	setenv("AI_TUI_KEYS", "", 1);
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "replay", path, NULL });
	unsetenv("AI_TUI_HEADLESS");
	unsetenv("AI_TUI_KEYS");
	cr_assert_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	char *header = xasprintf("async-inspect  REPLAY 20");
	cr_expect(strstr(r.out, header) != NULL, "%s", r.out);
	char *pid_nested = xasprintf(" pid %d nested  tasks 8: 6 blocked 2 deadlocked", (int)f.pid);
	cr_expect(strstr(r.out, pid_nested) != NULL, "%s", r.out);
	char *sleep_at = xasprintf("shapes.rs:%d", marker_line("tokio/src/shapes.rs", "@await: level4-sleep"));
	cr_expect(strstr(r.out, sleep_at) != NULL, "%s in %s", sleep_at, r.out);
	cr_expect(strstr(r.out, "sleep, 23h59m") != NULL, "%s", r.out);
	tool_result_free(&r);
	/* r steps through the recording; past its end the header says so. */
	setenv("AI_TUI_HEADLESS", "160x30", 1);
	setenv("AI_TUI_KEYS", "rrrrr", 1);
	tool_run(&r, 60, (const char *[]){ "replay", path, NULL });
	unsetenv("AI_TUI_HEADLESS");
	unsetenv("AI_TUI_KEYS");
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	cr_expect(strstr(r.out, "[END]") != NULL, "%s", r.out);
	cr_expect(strstr(r.out, "\nend of the recording\n") != NULL, "%s", r.out);
	tool_result_free(&r);
	/* As text: every snapshot, each with the same 7 tasks and the block_on future. */
	tool_run(&r, 60, (const char *[]){ "replay", "--no-tui", path, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	cr_expect_eq(count_substr(r.out, "==== snapshot "), lines);
	cr_expect_eq(count_substr(r.out, "7 tasks (7 idle), 1 block_on future, 1 tokio runtime (tokio 1.38.2)"), lines,
		     "%s", r.out);
	cr_expect_eq(count_substr(r.out, sleep_at), lines, "%s", r.out);
	cr_expect_eq(count_substr(r.out, "name = \"task-1\""), lines, "%s", r.out);
	tool_result_free(&r);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	fixture_kill(&f);
	unlink(path);
	free(sleep_at);
	free(pid_nested);
	free(header);
	free(path);
}

/* Writes the lines of `src` to `dst`, with line `index` (1-based) replaced by `replacement`, or
 * cut in half when replacement is NULL (no newline after it, and nothing after). */
static void rewrite(const char *src, const char *dst, int index, const char *replacement)
{
	char *text = ai_read_small_file(src, NULL);
	cr_assert_not_null(text);
	FILE *out = fopen(dst, "w");
	cr_assert_not_null(out);
	int n = 1;
	for (char *line = text, *nl; *line; line = nl + 1, n++) {
		nl = strchr(line, '\n');
		cr_assert_not_null(nl);
		*nl = '\0';
		if (n != index) {
			fprintf(out, "%s\n", line);
		} else if (replacement) {
			fprintf(out, "%s\n", replacement);
		} else {
			fwrite(line, 1, strlen(line) / 2, out);
			break;
		}
	}
	fclose(out);
	free(text);
}

Test(record, replay_of_bad_recordings)
{
	char *path = temp_path("good.jsonl"), *bad = temp_path("bad.jsonl");
	struct fixture f;
	record_nested("tokio-1.24", path, 3, &f);
	fixture_kill(&f);
	/* The recorder died while writing line 3: two snapshots, a warning, success. */
	rewrite(path, bad, 3, NULL);
	struct tool_result r;
	tool_run(&r, 60, (const char *[]){ "replay", "--no-tui", bad, NULL });
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	cr_expect_eq(count_substr(r.out, "==== snapshot "), 2);
	char *expected = xasprintf("async-inspect: warning: %s:3: the last line is cut short", bad);
	cr_expect(strncmp(r.err, expected, strlen(expected)) == 0, "%s", r.err);
	free(expected);
	tool_result_free(&r);
	/* A corrupt line in the middle: what came before, then one clear line and status 1. */
	rewrite(path, bad, 2, "{\"format\": \"async-inspect-snapshot\", \"version\": 1, \"tasks\": [{\"id\": \"x\"}]}");
	tool_run(&r, 60, (const char *[]){ "replay", "--no-tui", bad, NULL });
	cr_expect_eq(tool_exit_code(&r), 1);
	cr_expect_eq(count_substr(r.out, "==== snapshot "), 1);
	expected = xasprintf("async-inspect: %s:2: tasks[0].id: expected an integer\n", bad);
	cr_expect_str_eq(r.err, expected);
	free(expected);
	tool_result_free(&r);
	rewrite(path, bad, 1, "garbage");
	tool_run(&r, 60, (const char *[]){ "replay", "--no-tui", bad, NULL });
	cr_expect_eq(tool_exit_code(&r), 1);
	cr_expect_str_eq(r.out, "");
	expected = xasprintf("async-inspect: %s:1: not JSON: ", bad);
	cr_expect(strncmp(r.err, expected, strlen(expected)) == 0, "%s", r.err);
	cr_expect_eq(count_substr(r.err, "\n"), 1, "%s", r.err);
	free(expected);
	tool_result_free(&r);
	/* Not a recording at all, a missing file, no file. */
	tool_run(&r, 60, (const char *[]){ "replay", "--no-tui", "/etc/hostname", NULL });
	cr_expect_eq(tool_exit_code(&r), 1);
	cr_expect(strstr(r.err, "/etc/hostname:1: ") != NULL, "%s", r.err);
	tool_result_free(&r);
	tool_run(&r, 60, (const char *[]){ "replay", "/nonexistent.jsonl", NULL });
	cr_expect_eq(tool_exit_code(&r), 1);
	cr_expect(strstr(r.err, "/nonexistent.jsonl") != NULL, "%s", r.err);
	tool_result_free(&r);
	tool_run(&r, 60, (const char *[]){ "replay", NULL });
	cr_expect_eq(tool_exit_code(&r), 2);
	tool_result_free(&r);
	unlink(path);
	unlink(bad);
	free(path);
	free(bad);
}

/* run --record without a terminal: snapshots recorded silently until the program ends. */
Test(record, run_record_until_the_program_ends)
{
	char *path = temp_path("run.jsonl");
	char *nested = fixture_path("tokio-1.47", "nested");
	struct tool_process p;
	tool_spawn(&p, (const char *[]){ "run", "--record", path, "--", nested, NULL });
	char line[128];
	cr_assert(fgets(line, sizeof(line), p.out), "no ready line");
	int pid;
	cr_assert(sscanf(line, "ready %d", &pid) == 1, "got '%s'", line);
	/* Two snapshots taken after the ready line (the first one, at the launch, sees fewer tasks). */
	int at_ready = count_lines(path) + 1;
	for (int i = 0; i < 3000 && count_lines(path) < at_ready + 2; i++)
		usleep(10000);
	cr_assert_geq(count_lines(path), at_ready + 2);
	kill(pid, SIGTERM);
	struct tool_result r;
	tool_finish(&p, 60, &r);
	cr_expect(WIFSIGNALED(r.status) && WTERMSIG(r.status) == SIGTERM, "status %d, stderr %s", r.status, r.err);
	cr_expect_str_eq(r.out, "", "nothing printed but the program's own output");
	tool_result_free(&r);
	tool_run(&r, 60, (const char *[]){ "replay", "--no-tui", "--no-wait", path, NULL });
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	cr_expect_geq(count_substr(r.out, "7 tasks (7 idle), 1 block_on future, 1 tokio runtime (tokio 1.47.5)"), 2,
		      "%s", r.out);
	tool_result_free(&r);
	unlink(path);
	free(path);
	free(nested);
}

#define MANY 100000
/* The cap, far below the ~90 ms a full copy of this fixture's memory takes. The test asserts what
 * the tool does and says, never the clock: the machine is shared (two cores, the sanitizer build
 * in parallel), so how long a pause lasts is not the tool's to promise. What is: every snapshot
 * reports the cap, the copy is cut short (some snapshot takes only part of the tasks from its
 * copy), a snapshot whose reported pause passed the cap says so in a warning that names the time
 * stopping and unwinding took (and none that stayed within it does), and the copy goes on where
 * the last one stopped. How far the copies get depends on the machine's speed and load (with a
 * dozen samples every task here, far fewer under ASan on a loaded machine), so the test asserts
 * what the tool reports, and the coverage is only logged. */
#define CAP_MS 15
#define MAX_SAMPLES 8

Test(record, max_pause_caps_the_pause_and_samples_every_task_over_time)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "many_tasks", (const char *[]){ "100000", NULL });
	char *pid = xasprintf("%d", (int)f.pid);
	char *cap = xasprintf("%dms", CAP_MS);
	struct tool_process p;
	tool_spawn(&p, (const char *[]){ "attach", "--pid", pid, "--interval", "10ms", "--no-tui", "--max-pause", cap,
					  NULL });
	bool *seen = xcalloc(MANY + 16, sizeof(*seen));
	size_t union_count = 0, samples = 0, tasks_in_sample = 0, sampled_in_sample = 0;
	unsigned long long pauses[MAX_SAMPLES] = { 0 }, stops[MAX_SAMPLES] = { 0 };
	size_t reported[MAX_SAMPLES] = { 0 };
	char *line = NULL;
	size_t cap_len = 0;
	bool partial = false;
	while (getline(&line, &cap_len, p.out) > 0) {
		unsigned long long pause, cap_us, stop;
		size_t a, b;
		unsigned long long id;
		if (sscanf(line, "==== snapshot %*u (pause %lluus, cap %lluus, sampled %zu of %zu tasks, stop %lluus)",
			   &pause, &cap_us, &a, &b, &stop) == 5) {
			if (samples) {
				cr_expect_eq(sampled_in_sample, reported[samples - 1], "sample %zu", samples);
				cr_expect_eq(tasks_in_sample, MANY + 1, "sample %zu", samples);
			}
			if (union_count == MANY || samples == MAX_SAMPLES)
				break;
			cr_expect_eq(cap_us, CAP_MS * 1000);
			cr_expect_eq(b, MANY + 1, "the tasks and the block_on future");
			pauses[samples] = pause;
			stops[samples] = stop;
			reported[samples] = a;
			partial |= a < b;
			samples++;
			tasks_in_sample = sampled_in_sample = 0;
		} else if (strncmp(line, "warning: the pause (", 20) == 0) {
			cr_expect_gt(pauses[samples - 1], CAP_MS * 1000ULL, "a warning only when the cap was passed: %s", line);
			cr_expect(strstr(line, "stopping and unwinding the threads took") != NULL, "%s", line);
			stops[samples - 1] |= 1ULL << 63; /* explained */
		} else if (strncmp(line, "block_on ", 9) == 0) {
			tasks_in_sample++;
			sampled_in_sample += strstr(line, "read live: not in the capped copy") == NULL;
		} else if (sscanf(line, "Task %llu ", &id) == 1) {
			tasks_in_sample++;
			if (strstr(line, "read live: not in the capped copy"))
				continue;
			sampled_in_sample++;
			cr_assert(id >= 1 && id < MANY + 16, "task id %llu", id);
			if (!seen[id]) {
				seen[id] = true;
				union_count++;
			}
		}
	}
	/* Ctrl-C ends the watch after the snapshot being printed: read it to the end. */
	kill(p.pid, SIGINT);
	while (getline(&line, &cap_len, p.out) > 0)
		;
	free(line);
	struct tool_result r;
	tool_finish(&p, 120, &r);
	cr_expect_eq(tool_exit_code(&r), 0, "stderr: %s", r.err);
	tool_result_free(&r);
	cr_expect(partial, "some sample copied only part of the memory: the cap was binding");
	for (size_t i = 0; i < samples; i++)
		cr_log_info("--max-pause %dms on %d tasks: sample %zu paused %llu us (stop %llu us), %zu tasks from the copy",
			    CAP_MS, MANY, i + 1, pauses[i], stops[i] & ~(1ULL << 63), reported[i]);
	for (size_t i = 0; i < samples; i++) {
		if (pauses[i] > CAP_MS * 1000ULL)
			cr_expect(stops[i] >> 63, "sample %zu passed the cap without a warning", i + 1);
	}
	/* How many tasks the capped copies reach over the samples depends on the machine's speed and
	 * load (a capped copy that stopping the threads used up copies nothing): a figure for
	 * tests/bench/max_pause.sh, not an assertion. */
	cr_log_info("tasks sampled from the copy over %zu samples: %zu of %d", samples, union_count, MANY);
	cr_expect_eq(process_settles_in(f.pid, 'S'), 'S');
	fixture_kill(&f);
	free(seen);
	free(cap);
	free(pid);
}
