/* dump's text lines (src/frontend/dump_text.c) stay within 160 columns whatever the length of the
 * source path and of the locals: a path, a name or a value of any length, at any column. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ai/frontend.h"
#include "ai/util.h"

/* Columns of the widest line of text: one per UTF-8 character. */
static size_t widest_line(const char *text)
{
	size_t widest = 0, column = 0;
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		if (*p == '\n') {
			column = 0;
			continue;
		}
		if ((*p & 0xc0) != 0x80 && ++column > widest)
			widest = column;
	}
	return widest;
}

static void add_local(struct ai_await_node *node, const char *name, size_t value_length, char fill)
{
	struct ai_snapshot_local *l = ai_await_node_add_local(node);
	l->name = xstrdup(name);
	l->type = xstrdup("String");
	char *text = xcalloc(1, value_length + 1);
	memset(text, fill, value_length);
	l->value = ai_shared_strn(text, value_length); /* a local's value is shared (snapshot.h) */
	free(text);
}

/* One task whose frame is at a file of path_length bytes, with locals of value_length bytes, and a
 * child frame, so that the lines also carry the tree's bars. */
static char *dump_text(size_t path_length, size_t value_length, bool full_values)
{
	struct ai_snapshot *s = ai_snapshot_create();
	s->pid = 4242;
	s->exe = xstrdup("/bin/app");
	struct ai_snapshot_task *t = ai_snapshot_add_task(s);
	t->id = 1;
	t->has_id = true;
	t->kind = xstrdup("task");
	t->status = xstrdup("idle");
	t->runtime = xstrdup("tokio");
	t->future = xstrdup("app::holder");
	t->tree.function = xstrdup("app::holder");
	t->tree.state = xstrdup("Suspend0");
	char *path = xcalloc(1, path_length + 5);
	memset(path, 'p', path_length);
	memcpy(path, "/", 1);
	memcpy(path + path_length, ".rs", 4);
	t->tree.file = path;
	t->tree.line = 36;
	add_local(&t->tree, "cfg", value_length, 'c');
	add_local(&t->tree, "name", value_length / 2, 'n');
	add_local(&t->tree, "x", 1, '1');
	struct ai_await_node *child = ai_await_node_add_child(&t->tree);
	child->function = xstrdup("app::inner");
	child->state = xstrdup("Suspend1");
	child->file = xstrdup(path);
	child->line = 7;
	add_local(child, "buffer", value_length, 'b');
	/* a leaf whose type name and wait grow with the path */
	struct ai_await_node *leaf = ai_await_node_add_child(child);
	leaf->type = xcalloc(1, path_length + 1);
	memset(leaf->type, 't', path_length);
	leaf->leaf = true;
	leaf->wait = xcalloc(1, sizeof(*leaf->wait));
	leaf->wait->kind = xstrdup("mutex");
	leaf->wait->description = xstrdup(path);
	/* and a sentence of a wait that goes on below its line, never cut */
	struct ai_await_node *sentence = ai_await_node_add_child(child);
	sentence->type = xstrdup("tokio::net::Read");
	sentence->leaf = true;
	sentence->wait = xcalloc(1, sizeof(*sentence->wait));
	sentence->wait->kind = xstrdup("socket");
	sentence->wait->description = xstrdup("");
	for (size_t k = 0; k < path_length / 8; k++) {
		char *longer = xasprintf("%sword%zu ", sentence->wait->description, k);
		free(sentence->wait->description);
		sentence->wait->description = longer;
	}

	char *text = NULL;
	size_t size = 0;
	FILE *out = open_memstream(&text, &size);
	struct ai_text_options options = { .locals = true, .full_values = full_values };
	ai_print_dump_text(out, s, &options);
	fclose(out);
	ai_snapshot_destroy(s);
	return text;
}

Test(dump_text, every_line_fits_160_columns_at_any_path_and_value_length)
{
	for (size_t path = 1; path <= 200; path += 1)
		for (size_t value = 0; value <= 320; value += 7) {
			char *text = dump_text(path, value, false);
			size_t widest = widest_line(text);
			cr_assert_leq(widest, 160, "path %zu, value %zu: a line of %zu columns:\n%s", path, value,
				      widest, text);
			free(text);
		}
}

/* A path too long for its line loses its head: the file name and line stay. */
Test(dump_text, a_long_path_keeps_its_file_name_and_line)
{
	char *text = dump_text(200, 10, false);
	cr_expect_not_null(strstr(text, "    \xe2\x80\xa6ppp"), "%s", text);
	cr_expect_not_null(strstr(text, "ppp.rs:36\n"), "%s", text);
	free(text);
}

/* A wait too long for its line goes on below it at a word, whole. */
Test(dump_text, a_long_wait_goes_on_at_a_word)
{
	char *text = dump_text(200, 10, false);
	cr_expect_not_null(strstr(text, "word24 ]"), "%s", text);
	for (int k = 0; k < 25; k++) {
		char *word = xasprintf("word%d ", k);
		cr_expect_not_null(strstr(text, word), "%s not in\n%s", word, text);
		free(word);
	}
	free(text);
}

Test(dump_text, full_values_prints_each_value_whole)
{
	char *text = dump_text(40, 300, true);
	char want[301];
	memset(want, 'b', 300);
	want[300] = '\0';
	cr_expect_not_null(strstr(text, want), "%s", text);
	cr_expect_null(strstr(text, "\xe2\x80\xa6"), "%s", text);
	free(text);
}
