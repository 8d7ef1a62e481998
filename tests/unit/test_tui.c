/* The TUI's views over hand-made snapshots (a source of our own, no target), drawn headless: the
 * threads view names the task a thread polls, the details show the progress through the awaits,
 * the source view marks the line of a file on disk and says so when the file is not there. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ai/tui.h"
#include "ai/util.h"

static char source_path[] = "/tmp/ai-test-tui-XXXXXX.rs";
static int samples;

static void add_frame(struct ai_snapshot_task *t, const char *function, const char *file, int line,
		      const int *lines, size_t count, size_t index)
{
	t->tree.function = xstrdup(function);
	t->tree.state = xasprintf("Suspend%zu", index ? index - 1 : 0);
	t->tree.file = xstrdup(file);
	t->tree.line = line;
	t->tree.await_count = count;
	t->tree.await_index = index;
	t->tree.await_lines = xcalloc(count, sizeof(int));
	memcpy(t->tree.await_lines, lines, count * sizeof(int));
	struct ai_await_node *leaf = ai_await_node_add_child(&t->tree);
	leaf->type = xstrdup("app::Sleep");
	leaf->leaf = true;
}

static struct ai_error *sample(void *arg, struct ai_snapshot **ret)
{
	struct ai_snapshot *s = ai_snapshot_create();
	s->pid = getpid();
	s->exe = xstrdup("/bin/app");
	s->captured_at_ms = 1000000 + 500 * samples++;
	s->pause_us = 1500;
	struct ai_snapshot_thread *th = ai_snapshot_add_thread(s);
	th->tid = 4242;
	th->name = xstrdup("worker-1");
	th->state = 'R';
	struct ai_snapshot_frame *fr = ai_snapshot_thread_add_frame(th);
	fr->pc = 0x1234;
	fr->function = xstrdup("app::poll_it");
	fr->file = xstrdup("/src/app/poll.rs");
	fr->line = 99;

	struct ai_snapshot_task *t = ai_snapshot_add_task(s);
	t->id = 1;
	t->has_id = true;
	t->kind = xstrdup("task");
	t->status = xstrdup("running");
	t->thread = 4242;
	t->runtime_address = 0x7000;
	add_frame(t, "app::work", source_path, 3, (int[]){ 2, 3, 5 }, 3, 2);
	t->future = xstrdup("app::work");

	t = ai_snapshot_add_task(s);
	t->id = 2;
	t->has_id = true;
	t->kind = xstrdup("task");
	t->status = xstrdup("idle");
	t->runtime_address = 0x7000;
	add_frame(t, "app::gone", "/nonexistent/src/gone.rs", 7, (int[]){ 7 }, 1, 1);
	t->future = xstrdup("app::gone");
	t->name = xstrdup("gone-span");
	*ret = s;
	return NULL;
}

static struct ai_error *run(void *arg, int timeout_ms, bool *exited_ret)
{
	*exited_ret = false;
	return NULL;
}

static struct ai_error *set_paused(void *arg, bool paused)
{
	return NULL;
}

static void setup(void)
{
	int fd = mkstemps(source_path, 3);
	cr_assert(fd >= 0);
	static const char text[] = "async fn work() {\n    one().await;\n    two().await; // here\n    sync();\n    three().await;\n}\n";
	cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	cr_redirect_stdout();
}

static void teardown(void)
{
	unlink(source_path);
}

TestSuite(tui, .init = setup, .fini = teardown);

/* Runs the headless TUI (100x20) with `keys`; returns the screen (owned). */
static char *screen(const char *keys)
{
	samples = 0;
	struct ai_live *live = ai_live_create(4);
	struct ai_tui_source source = { .sample = sample, .run = run, .set_paused = set_paused };
	struct ai_tui_options options = { .interval_ms = 500, .headless = "100x20", .keys = keys };
	enum ai_tui_end end;
	struct ai_error *err = ai_tui_run(live, &source, &options, &end);
	cr_assert_null(err, "%s", err ? err->message : "");
	cr_expect_eq(end, AI_TUI_DETACH);
	ai_live_destroy(live);
	fflush(stdout);
	FILE *f = cr_get_redirected_stdout();
	char *text = NULL;
	size_t size = 0;
	FILE *mem = open_memstream(&text, &size);
	char buf[4096];
	size_t n;
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		fwrite(buf, 1, n, mem);
	fclose(mem);
	return text;
}

Test(tui, threads_view_names_the_task_polled)
{
	char *s = screen("T");
	cr_expect(strstr(s, "thread 4242 worker-1 [running]  polling task 1 (app::work)\n") != NULL, "%s", s);
	cr_expect(strstr(s, "  #0   0x0000000000001234 app::poll_it at /src/app/poll.rs:99\n") != NULL, "%s", s);
	free(s);
}

Test(tui, list_shows_a_task_name_before_its_future)
{
	char *s = screen("");
	cr_expect(strstr(s, "/nonexistent/src/gone.rs:7                              \"gone-span\" app:") != NULL, "%s", s);
	free(s);
}

Test(tui, details_progress_and_source)
{
	char *s = screen("\n");
	cr_expect(strstr(s, "task 1  running\n") != NULL, "%s", s);
	cr_expect(strstr(s, "progress of app::work: at await 2/3 (line 3), in source order") != NULL, "%s", s);
	cr_expect(strstr(s, "  steps completed (awaits before it): line 2\n") != NULL, "%s", s);
	cr_expect(strstr(s, "  steps not started (awaits after it): line 5\n") != NULL, "%s", s);
	cr_expect(strstr(s, "(2/3 awaits)") != NULL, "%s", s);
	cr_expect(strstr(s, "blocked for") == NULL, "a running task is not blocked: %s", s);
	free(s);
}

Test(tui, source_view_marks_the_line)
{
	char *s = screen("\n\n");
	cr_expect(strstr(s, ">    3 |     two().await; // here\n") != NULL, "%s", s);
	cr_expect(strstr(s, "     2 |     one().await;\n") != NULL, "%s", s);
	cr_expect(strstr(s, "     6 | }\n") != NULL, "%s", s);
	/* Esc: back to the details. */
	free(s);
	s = screen("\n\n\\e");
	cr_expect(strstr(s, "Task details") != NULL, "%s", s);
	free(s);
}

Test(tui, source_not_on_disk_is_said)
{
	char *s = screen("j\n\n");
	cr_expect(strstr(s, "Source: /nonexistent/src/gone.rs:7") != NULL, "%s", s);
	cr_expect(strstr(s, "cannot show the source: /nonexistent/src/gone.rs: No such file or directory\n") != NULL,
		  "%s", s);
	free(s);
}

Test(tui, enter_off_a_frame_says_why)
{
	/* Details, up to the first line (the task's head), Enter. */
	char *s = screen("\n\\<Home>\n");
	cr_expect(strstr(s, "Enter on a frame line (one with file:line) shows its source") != NULL, "%s", s);
	free(s);
}

Test(tui, output_view_without_run)
{
	char *s = screen("o");
	cr_expect(strstr(s, "Output of the program: not captured") != NULL, "%s", s);
	free(s);
}
