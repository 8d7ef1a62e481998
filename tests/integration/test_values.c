/* Value summaries as `dump` shows them on the `values` fixture, for every tokio version: Arc's
 * strong and weak counts, a cut string's length, std's Mutex / RwLock lock and poison state,
 * RefCell's borrow, and tokio's own Mutex, Semaphore, mpsc and oneshot (through the adapter's
 * value_summary op), in the text dump and in JSON. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

TestSuite(values, .init = require_fixtures, .timeout = 300);

static char *dump_with(pid_t pid, const char *format, const char *option)
{
	char *p = xasprintf("%d", (int)pid);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", p, "--format", format, option, NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "dump: %s", r.err);
	char *out = r.out;
	r.out = NULL;
	tool_result_free(&r);
	free(p);
	return out;
}

static char *dump(pid_t pid, const char *format)
{
	return dump_with(pid, format, "--locals");
}

/* The text line of the frame of `function` (a line that starts with two spaces, its name and two
 * spaces; the task's header line names it too). */
static char *frame_line(const char *text, const char *function)
{
	char *needle = xasprintf("\n  %s  ", function);
	const char *at = strstr(text, needle);
	free(needle);
	if (!at)
		return xstrdup("");
	at++;
	const char *end = strchr(at, '\n');
	return xstrndup(at, end ? (size_t)(end - at) : strlen(at));
}

static const struct {
	const char *function, *local, *value;
} expected[] = {
	{ "values::holder", "cfg", "Arc(strong 2, weak 1) Config { name: \"values-config\", retries: 3 }" },
	{ "values::holder", "weak", "Weak(strong 2, weak 1)" },
	{ "values::holder", "many", "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, \xe2\x80\xa6 (1000 items)]" },
	{ "values::locks", "free", "Arc(strong 1, weak 0) Mutex(unlocked) 7" },
	{ "values::locks", "held", "Arc(strong 2, weak 0) Mutex(locked) 8" },
	{ "values::locks", "broken", "Arc(strong 1, weak 0) Mutex(unlocked, poisoned) 9" },
	{ "values::locks", "shared", "Arc(strong 2, weak 0) RwLock(read-locked by 1) 10" },
	{ "values::locks", "cell", "RefCell(not borrowed) 11" },
	{ "values::tokio_sync", "tlock", "Arc(strong 1, weak 0) Mutex(locked) 12" },
	{ "values::tokio_sync", "tguard", "MutexGuard<u32> { lock: Mutex(locked) 12 }" },
	{ "values::tokio_sync", "sem", "Arc(strong 1, weak 0) Semaphore(3 permits)" },
	{ "values::tokio_sync", "tx", "mpsc::Sender(2 queued, capacity 4, 1 sender)" },
	{ "values::tokio_sync", "rx", "mpsc::Receiver(2 queued, capacity 4, 1 sender)" },
	{ "values::tokio_sync", "once_tx", "oneshot::Sender(empty)" },
	{ "values::tokio_sync", "once", "oneshot::Receiver(empty)" },
};

Test(values, summaries_of_std_and_tokio_types)
{
	for (const char *const *v = tokio_versions(); *v; v++) {
		struct fixture f;
		fixture_start(&f, *v, "values", NULL);
		char *wrapped = dump(f.pid, "text");
		char *text = text_unwrapped(wrapped);
		free(wrapped);
		char *json = dump(f.pid, "json");
		fixture_kill(&f);

		json_error_t error;
		json_t *root = json_loads(json, 0, &error);
		cr_assert_not_null(root, "%s: %s", *v, error.text);
		json_t *tasks = json_object_get(root, "tasks");
		for (size_t i = 0; i < AI_ARRAY_SIZE(expected); i++) {
			char *line = frame_line(text, expected[i].function);
			char *want = xasprintf("%s = %s", expected[i].local, expected[i].value);
			cr_expect_not_null(strstr(line, want), "%s: %s in the text:\n%s", *v, want, line);
			int count = 0;
			json_t *task = doc_find_task(tasks, expected[i].function, NULL, NULL, &count);
			cr_expect_eq(count, 1, "%s: one %s task", *v, expected[i].function);
			const char *got = task ? doc_local_value(json_object_get(task, "tree"), expected[i].local) : NULL;
			cr_expect(got && strcmp(got, expected[i].value) == 0, "%s: JSON %s = %s, not %s", *v,
				  expected[i].local, got ? got : "(none)", expected[i].value);
			free(want);
			free(line);
		}
		/* A cut string says how long it is. */
		char *holder = frame_line(text, "values::holder");
		cr_expect_not_null(strstr(holder, "\xe2\x80\xa6\" (300 bytes)"), "%s: %s", *v, holder);
		free(holder);
		json_decref(root);
		free(text);
		free(json);
	}
}

/* Text lines stay within 160 columns: locals that do not fit go on lines of their own under the
 * frame, a value too long for a line is cut with "…"; --full-values prints every value whole. */
Test(values, lines_fit_160_columns_and_full_values_prints_them_whole)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "values", NULL);
	char *text = dump(f.pid, "text");
	char *full = dump_with(f.pid, "text", "--full-values");
	fixture_kill(&f);

	char *line = NULL;
	size_t widest = widest_line(text, &line);
	cr_expect_leq(widest, 160, "a line of %zu columns: %s", widest, line);
	free(line);
	/* the holder frame goes on below its first line, each local once, with the tree's bar */
	/* (which locals share a line depends on the path's length: only that they go on below) */
	cr_expect_eq(count_substr(text, "weak = Weak(strong 2, weak 1),"), 1, "%s", text);
	const char *weak = strstr(text, "weak = Weak(strong 2, weak 1),");
	const char *line_start = weak;
	while (line_start > text && line_start[-1] != '\n')
		line_start--;
	cr_expect(weak && strncmp(line_start, "  \xe2\x94\x82    ", strlen("  \xe2\x94\x82    ")) == 0,
		  "weak on a continuation line under the tree's bar:\n%s", text);
	cr_expect_eq(count_substr(text, "(300 bytes)"), 1, "%s", text);
	cr_expect_eq(count_substr(text, "(1000 items)]"), 1, "%s", text);

	/* whole: the 300 bytes of `big`, the last of the 1000 items of `many` */
	char vs[301];
	memset(vs, 'v', 300);
	vs[300] = '\0';
	char *big = xasprintf("big = \"%s\",", vs);
	cr_expect_eq(count_substr(full, big), 1, "%s", full);
	cr_expect_eq(count_substr(full, ", 998, 999]"), 1, "%s", full);
	cr_expect_null(strstr(full, "(300 bytes)"), "%s", full);
	cr_expect_gt(widest_line(full, NULL), 1000);
	free(big);
	free(text);
	free(full);
}
