/* Value summaries as `dump` shows them on the `values` fixture, for every tokio version: Arc's
 * strong and weak counts, a cut string's length, std's Mutex / RwLock lock and poison state,
 * RefCell's borrow, and tokio's own Mutex, Semaphore, mpsc and oneshot (through the adapter's
 * value_summary op), in the text dump and in JSON. */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ai/frontend.h"
#include "ai/snapshot.h"
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

/* ---- The structured form (docs/json-format.md, "Structured values") ---- */

/* The saved local `name` of the first node (depth first) of tree whose function is `function`. */
static json_t *local_of(json_t *tree, const char *function, const char *name)
{
	json_t *node = doc_find_node(tree, function, 0);
	json_t *locals = node ? json_object_get(node, "locals") : NULL;
	return locals ? doc_item_by_string(locals, "name", name, 0) : NULL;
}

/* The structured value of the local `name` of the only task whose root is `function`. */
static json_t *structured_of(json_t *root, const char *function, const char *name)
{
	int count = 0;
	json_t *task = doc_find_task(json_object_get(root, "tasks"), function, NULL, NULL, &count);
	cr_assert_eq(count, 1, "one %s task", function);
	json_t *local = local_of(json_object_get(task, "tree"), function, name);
	cr_assert_not_null(local, "%s has a local %s", function, name);
	json_t *structured = json_object_get(local, "structured");
	cr_assert(json_is_object(structured), "%s: %s has a structured value", function, name);
	return structured;
}

/* The value of field `name` of a struct's or an enum's structured form. */
static json_t *field_of(json_t *value, const char *name)
{
	json_t *field = doc_item_by_string(json_object_get(value, "fields"), "name", name, 0);
	cr_assert_not_null(field, "a field %s in %s", name, doc_str(value, "type"));
	return json_object_get(field, "value");
}

static void expect_int(json_t *value, json_int_t want, const char *what)
{
	cr_expect_str_eq(doc_str(value, "kind"), "int", "%s", what);
	json_t *v = json_object_get(value, "value");
	cr_expect(json_is_integer(v) && json_integer_value(v) == want, "%s = %lld", what, (long long)want);
}

/* Every local of a tree without its structured value: a document from before the key. */
static void strip_structured(json_t *node)
{
	size_t i;
	json_t *v;
	json_array_foreach(json_object_get(node, "locals"), i, v)
		json_object_del(v, "structured");
	json_array_foreach(json_object_get(node, "children"), i, v)
		strip_structured(v);
}

Test(values, structured_values_beside_the_summary)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "values", NULL);
	char *json = dump(f.pid, "json");
	char *pretty = dump_with(f.pid, "json", "--pretty");
	char *full = dump_with(f.pid, "json", "--full-values");
	fixture_kill(&f);
	json_t *root = doc_parse(json, "dump --format json");

	/* The summary string is unchanged beside it. */
	const char *cfg_text = doc_local_value(
		json_object_get(doc_find_task(json_object_get(root, "tasks"), "values::holder", NULL, NULL,
					      &(int){ 0 }), "tree"), "cfg");
	cr_expect_str_eq(cfg_text ? cfg_text : "", expected[0].value);

	/* Arc<Config>: its address and counts, then the struct it points to. */
	json_t *cfg = structured_of(root, "values::holder", "cfg");
	cr_expect_str_eq(doc_str(cfg, "kind"), "rc");
	cr_expect_str_eq(doc_str(cfg, "type"), "Arc<Config>");
	cr_expect(strncmp(doc_str(cfg, "address"), "0x", 2) == 0, "address %s", doc_str(cfg, "address"));
	cr_expect_eq(doc_int(cfg, "strong"), 2);
	cr_expect_eq(doc_int(cfg, "weak"), 1);
	json_t *config = json_object_get(cfg, "target");
	cr_expect_str_eq(doc_str(config, "kind"), "struct");
	cr_expect_str_eq(doc_str(config, "type"), "Config");
	cr_expect_eq(json_array_size(json_object_get(config, "fields")), 2);
	json_t *name = field_of(config, "name");
	cr_expect_str_eq(doc_str(name, "kind"), "str");
	cr_expect_str_eq(doc_str(name, "value"), "values-config");
	cr_expect_eq(doc_int(name, "len"), 13);
	cr_expect_null(json_object_get(name, "truncated"));
	expect_int(field_of(config, "retries"), 3, "retries");

	/* Vec<u32> of 1000: its length, the first 10 items, cut. */
	json_t *many = structured_of(root, "values::holder", "many");
	cr_expect_str_eq(doc_str(many, "kind"), "seq");
	cr_expect_str_eq(doc_str(many, "type"), "Vec<u32>");
	cr_expect_eq(doc_int(many, "len"), 1000);
	cr_expect_eq(json_array_size(json_object_get(many, "items")), 10);
	expect_int(json_array_get(json_object_get(many, "items"), 9), 9, "many[9]");
	cr_expect(json_is_true(json_object_get(many, "truncated")));

	/* String of 300 bytes: its length, cut at the summary's 64. */
	json_t *big = structured_of(root, "values::holder", "big");
	cr_expect_str_eq(doc_str(big, "kind"), "str");
	cr_expect_eq(doc_int(big, "len"), 300);
	cr_expect_eq(strlen(doc_str(big, "value")), 64);
	cr_expect(json_is_true(json_object_get(big, "truncated")));

	/* A lock inside an Arc: its state as the summary says it, then its value. */
	json_t *held = json_object_get(structured_of(root, "values::locks", "held"), "target");
	cr_expect_str_eq(doc_str(held, "kind"), "wrapper");
	cr_expect_str_eq(doc_str(held, "state"), "Mutex(locked)");
	expect_int(json_object_get(held, "value"), 8, "held");

	/* --pretty lays out the same values. */
	json_t *indented = doc_parse(pretty, "dump --format json --pretty");
	cr_expect(json_equal(structured_of(indented, "values::holder", "cfg"), cfg));
	cr_expect(json_equal(structured_of(indented, "values::holder", "many"), many));

	/* --full-values widens it as it widens the summary. */
	json_t *whole = doc_parse(full, "dump --format json --full-values");
	json_t *all = structured_of(whole, "values::holder", "many");
	cr_expect_eq(json_array_size(json_object_get(all, "items")), 1000);
	cr_expect_null(json_object_get(all, "truncated"));
	json_t *all_big = structured_of(whole, "values::holder", "big");
	cr_expect_eq(strlen(doc_str(all_big, "value")), 300);
	cr_expect_null(json_object_get(all_big, "truncated"));

	/* The reader takes documents with the key (and writes it back the same) and without it. */
	struct ai_snapshot *s;
	struct ai_error *err = ai_snapshot_from_json(root, &s);
	cr_assert_null(err, "%s", err ? err->message : "");
	json_t *again = ai_dump_json(s);
	cr_expect(json_equal(structured_of(again, "values::holder", "cfg"), cfg));
	cr_expect(json_equal(structured_of(again, "values::holder", "many"), many));
	json_decref(again);
	ai_snapshot_destroy(s);
	size_t i;
	json_t *task;
	json_array_foreach(json_object_get(root, "tasks"), i, task)
		strip_structured(json_object_get(task, "tree"));
	err = ai_snapshot_from_json(root, &s);
	cr_assert_null(err, "without the key: %s", err ? err->message : "");
	cr_expect_gt(s->task_count, 3);
	ai_snapshot_destroy(s);

	json_decref(whole);
	json_decref(indented);
	json_decref(root);
	free(full);
	free(pretty);
	free(json);
}

/* Enums (a fixture's own and Option) by variant and fields, and a moved local with no value. */
Test(values, structured_enums_and_moved_locals)
{
	struct fixture f;
	fixture_start(&f, "tokio-1.54", "locals", NULL);
	char *json = dump(f.pid, "json");
	fixture_kill(&f);
	json_t *root = doc_parse(json, "dump --format json");
	json_t *tasks = json_object_get(root, "tasks");

	int count = 0;
	json_t *pick = doc_find_task(tasks, "locals::choose", "pick", "true", &count);
	cr_assert_eq(count, 1, "one choose(true) task");
	json_t *tree = json_object_get(pick, "tree");
	json_t *shape = json_object_get(local_of(tree, "locals::choose", "shape"), "structured");
	cr_expect_str_eq(doc_str(shape, "kind"), "enum");
	cr_expect_str_eq(doc_str(shape, "type"), "Shape");
	cr_expect_str_eq(doc_str(shape, "variant"), "Poly");
	json_t *polys = field_of(shape, "0");
	cr_expect_str_eq(doc_str(polys, "kind"), "seq");
	cr_expect_eq(doc_int(polys, "len"), 2);
	json_t *dot = json_array_get(json_object_get(polys, "items"), 0);
	json_t *line = json_array_get(json_object_get(polys, "items"), 1);
	cr_expect_str_eq(doc_str(dot, "variant"), "Dot");
	cr_expect_eq(json_array_size(json_object_get(dot, "fields")), 0);
	cr_expect_str_eq(doc_str(line, "variant"), "Line");
	expect_int(field_of(line, "0"), 3, "Line(3)");
	json_t *maybe = json_object_get(local_of(tree, "locals::choose", "maybe"), "structured");
	cr_expect_str_eq(doc_str(maybe, "kind"), "enum");
	cr_expect_str_eq(doc_str(maybe, "type"), "Option<String>");
	cr_expect_str_eq(doc_str(maybe, "variant"), "Some");
	cr_expect_str_eq(doc_str(field_of(maybe, "0"), "value"), "locals-maybe");

	/* branchy(drop_note: true): `note` was dropped before the await. */
	json_t *dropped = doc_find_task(tasks, "locals::branchy", "drop_note", "true", &count);
	cr_assert_eq(count, 1, "one branchy(true, ..) task");
	json_t *note = local_of(json_object_get(dropped, "tree"), "locals::branchy", "note");
	cr_assert_not_null(note);
	cr_expect_str_eq(doc_str(note, "state"), "moved");
	cr_expect(json_is_null(json_object_get(note, "value")));
	json_t *moved = json_object_get(note, "structured");
	cr_expect_str_eq(doc_str(moved, "kind"), "moved");
	cr_expect_eq(json_object_size(moved), 1, "a moved local has no value");

	json_decref(root);
	free(json);
}
