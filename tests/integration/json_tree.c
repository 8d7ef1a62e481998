/* Reading dump's JSON in the end-to-end tests: keys, await-tree children, saved locals, tasks. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "ai/util.h"
#include "json_tree.h"
#include "support.h"

const char *doc_str(json_t *node, const char *key)
{
	const char *v = json_string_value(json_object_get(node, key));
	return v ? v : "";
}

json_t *doc_dump(struct fixture *f, const char *what)
{
	char *pid = xasprintf("%d", (int)f->pid);
	struct tool_result r;
	tool_run(&r, 120, (const char *[]){ "dump", "--pid", pid, "--format", "json", NULL });
	cr_assert_eq(tool_exit_code(&r), 0, "%s: %s", what, r.err);
	json_t *root = doc_parse(r.out, what);
	tool_result_free(&r);
	free(pid);
	return root;
}

json_int_t doc_int(json_t *node, const char *key)
{
	json_t *v = json_object_get(node, key);
	cr_assert(json_is_integer(v), "no integer %s", key);
	return json_integer_value(v);
}

json_t *doc_parse(const char *text, const char *what)
{
	json_error_t error;
	json_t *root = json_loads(text, 0, &error);
	cr_assert(root, "%s: invalid JSON: %s", what, error.text);
	return root;
}

json_t *doc_item_by_string(json_t *array, const char *key, const char *value, size_t nth)
{
	size_t i;
	json_t *item;
	json_array_foreach(array, i, item) {
		const char *v = json_string_value(json_object_get(item, key));
		if (v && strcmp(v, value) == 0 && nth-- == 0)
			return item;
	}
	return NULL;
}

json_t *doc_item_by_int(json_t *array, const char *key, json_int_t value)
{
	size_t i;
	json_t *item;
	json_array_foreach(array, i, item) {
		if (json_integer_value(json_object_get(item, key)) == value)
			return item;
	}
	return NULL;
}

json_t *doc_child(json_t *node)
{
	json_t *children = json_object_get(node, "children");
	return json_array_size(children) ? json_array_get(children, 0) : NULL;
}

const char *doc_local_value(json_t *node, const char *name)
{
	size_t j;
	json_t *l;
	json_array_foreach(json_object_get(node, "locals"), j, l) {
		if (strcmp(doc_str(l, "name"), name) == 0)
			return doc_str(l, "value");
	}
	return NULL;
}

/* The tasks whose root future is `function` (and, when local is set, whose root's saved local
 * `local` has `value`): how many, and the last. */
json_t *doc_find_task(json_t *tasks, const char *function, const char *local, const char *value,
		      int *count)
{
	size_t i;
	json_t *t, *found = NULL;
	*count = 0;
	json_array_foreach(tasks, i, t) {
		json_t *tree = json_object_get(t, "tree");
		if (strcmp(doc_str(t, "kind"), "task") != 0 || strcmp(doc_str(tree, "function"), function) != 0)
			continue;
		const char *v = local ? doc_local_value(tree, local) : NULL;
		if (local && (!v || strcmp(v, value) != 0))
			continue;
		found = t;
		(*count)++;
	}
	return found;
}

/* The first node of the tree (depth first) whose function is `function`. */
json_t *doc_find_node(json_t *node, const char *function, int depth)
{
	if (!node || depth > 64)
		return NULL;
	if (strcmp(doc_str(node, "function"), function) == 0)
		return node;
	size_t i;
	json_t *c;
	json_array_foreach(json_object_get(node, "children"), i, c) {
		json_t *hit = doc_find_node(c, function, depth + 1);
		if (hit)
			return hit;
	}
	return NULL;
}

/* The task's wait: of `kind`, and for channels and locks the address of what it waits on. */
json_t *doc_expect_wait(json_t *task, const char *kind, const char *what)
{
	json_t *wait = json_object_get(task, "wait");
	cr_assert_not_null(wait, "%s: no wait", what);
	cr_expect_str_eq(doc_str(wait, "kind"), kind, "%s: %s", what, doc_str(wait, "description"));
	return wait;
}

/* The leaf a chain ends in: a leaf of the given type. */
void doc_expect_leaf(json_t *node, const char *type, const char *what)
{
	cr_assert_not_null(node, "%s: no leaf", what);
	cr_expect(json_is_true(json_object_get(node, "leaf")), "%s: %s is no leaf", what, doc_str(node, "type"));
	cr_expect(strncmp(doc_str(node, "type"), type, strlen(type)) == 0, "%s: leaf %s, expected %s", what,
		  doc_str(node, "type"), type);
}
