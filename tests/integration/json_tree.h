/* Reading dump's JSON in the end-to-end tests (json_tree.c). */
#ifndef AI_TESTS_JSON_TREE_H
#define AI_TESTS_JSON_TREE_H

#include <jansson.h>

/* The string at key, or "" when it is absent or not a string. */
const char *doc_str(json_t *node, const char *key);
/* `dump --pid` of a running fixture as JSON, asserted to succeed (`what` names it in messages). */
struct fixture;
json_t *doc_dump(struct fixture *f, const char *what);
/* The integer at key, asserted to be there. */
json_int_t doc_int(json_t *node, const char *key);
/* The document parsed from text, asserted to be JSON (`what` names it in the message). */
json_t *doc_parse(const char *text, const char *what);
/* The nth item (from 0) of array whose string at key is value, or NULL. */
json_t *doc_item_by_string(json_t *array, const char *key, const char *value, size_t nth);
/* The first item of array whose integer at key is value, or NULL. */
json_t *doc_item_by_int(json_t *array, const char *key, json_int_t value);
/* A node's first child, or NULL. */
json_t *doc_child(json_t *node);
/* The value of the saved local `name` of a node, or NULL. */
const char *doc_local_value(json_t *node, const char *name);
/* The tasks whose root future is `function` (and, when local is set, whose root's saved local
 * `local` has `value`): how many, and the last. */
json_t *doc_find_task(json_t *tasks, const char *function, const char *local, const char *value,
		      int *count);
/* The first node of the tree (depth first) whose function is `function`. */
json_t *doc_find_node(json_t *node, const char *function, int depth);

/* The task's wait, asserted to be of `kind` (`what` names the task in messages). */
json_t *doc_expect_wait(json_t *task, const char *kind, const char *what);
/* Asserts that node is a leaf whose type starts with `type`. */
void doc_expect_leaf(json_t *node, const char *type, const char *what);

#endif
