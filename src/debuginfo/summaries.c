/* Declarative type summaries: the table of --decoders files (include/ai/summaries.h), read with
 * jansson and checked entry by entry before any of a file is kept. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ai/summaries.h"
#include "ai/util.h"

#define FORMAT "async-inspect-decoders"
#define VERSION 1

static struct ai_summary *table;
static size_t table_count, table_capacity;

static void summary_deinit(struct ai_summary *s)
{
	free(s->type);
	for (size_t i = 0; i < s->path_count; i++) {
		free(s->paths[i]);
		free(s->exprs[i]);
	}
	free(s->paths);
	free(s->exprs);
	for (size_t v = 0; v < s->variant_count; v++) {
		for (size_t i = 0; i < s->variants[v].path_count; i++) {
			free(s->variants[v].paths[i]);
			free(s->variants[v].exprs[i]);
		}
		free(s->variants[v].paths);
		free(s->variants[v].exprs);
		free(s->variants[v].name);
	}
	free(s->variants);
}

void ai_summaries_clear(void)
{
	for (size_t i = 0; i < table_count; i++)
		summary_deinit(&table[i]);
	free(table);
	table = NULL;
	table_count = table_capacity = 0;
}

/* A member path: identifiers (Rust's, or rustc's `__0` of tuple fields) joined by single dots. */
static bool valid_path(const char *p)
{
	if (!*p)
		return false;
	for (const char *c = p; *c; c++) {
		bool ident = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_';
		if (!ident && !(*c == '.' && c != p && c[1] && c[1] != '.'))
			return false;
	}
	return true;
}

/* A computed member of a show list, `{"name": "permits", "value": "state >> 1"}`: its name into
 * *name_ret and its checked expression into *expr_ret (both owned), or why not. */
static struct ai_error *read_computed(const char *path, size_t index, const char *type, const char *what, size_t i,
				      json_t *item, char **name_ret, char **expr_ret)
{
	const char *name = json_string_value(json_object_get(item, "name"));
	const char *expr = json_string_value(json_object_get(item, "value"));
	if (json_object_size(item) != 2 || !name || !valid_path(name) || !expr)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s: summaries[%zu] (%s): %s[%zu] must be a member path or {\"name\": NAME, \"value\": EXPRESSION}",
				       path, index, type, what, i);
	char *why = ai_summary_expr_check(expr);
	if (why) {
		struct ai_error *err = ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s: summaries[%zu] (%s): %s[%zu] (%s): \"%s\": %s",
						       path, index, type, what, i, name, expr, why);
		free(why);
		return err;
	}
	*name_ret = xstrdup(name);
	*expr_ret = xstrdup(expr);
	return NULL;
}

/* A list of member paths and computed members into *paths_ret, *exprs_ret / *count_ret (owned;
 * exprs[i] NULL for a member path; on error, what was read is kept for the caller to free with
 * the entry). `what` names the list in messages: "show". */
static struct ai_error *read_paths(const char *path, size_t index, const char *type, const char *what, json_t *list,
				   bool may_be_empty, char ***paths_ret, char ***exprs_ret, size_t *count_ret)
{
	if (!json_is_array(list) || (!may_be_empty && json_array_size(list) == 0))
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s: summaries[%zu] (%s): \"%s\" must be a %sarray of member paths",
				       path, index, type, what, may_be_empty ? "" : "non-empty ");
	size_t n = json_array_size(list) ? json_array_size(list) : 1;
	*paths_ret = xcalloc(n, sizeof(char *));
	*exprs_ret = xcalloc(n, sizeof(char *));
	size_t i;
	json_t *value;
	json_array_foreach(list, i, value) {
		const char *member = json_string_value(value);
		if (json_is_object(value)) {
			struct ai_error *err = read_computed(path, index, type, what, i, value, &(*paths_ret)[*count_ret],
							     &(*exprs_ret)[*count_ret]);
			if (err)
				return err;
			(*count_ret)++;
			continue;
		}
		if (!member || !valid_path(member))
			return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s: summaries[%zu] (%s): %s[%zu] is not a member path (names joined by dots)",
					       path, index, type, what, i);
		(*paths_ret)[(*count_ret)++] = xstrdup(member);
	}
	return NULL;
}

static struct ai_error *read_entry(const char *path, size_t index, json_t *entry, struct ai_summary *ret)
{
	const char *type = json_string_value(json_object_get(entry, "type"));
	json_t *show = json_object_get(entry, "show"), *variants = json_object_get(entry, "variants");
	if (!json_is_object(entry) || !type || !*type)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s: summaries[%zu]: expected an object with a \"type\" string",
				       path, index);
	if (!show == !variants)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s: summaries[%zu] (%s): give one of \"show\" (member paths) and \"variants\" (an enum's)",
				       path, index, type);
	if (variants && (!json_is_object(variants) || json_object_size(variants) == 0))
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s: summaries[%zu] (%s): \"variants\" must be a non-empty object (a variant's name -> member paths)",
				       path, index, type);
	const char *key;
	json_t *value;
	json_object_foreach(entry, key, value) {
		if (strcmp(key, "type") != 0 && strcmp(key, "show") != 0 && strcmp(key, "variants") != 0)
			return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s: summaries[%zu] (%s): unknown key \"%s\" (type, show, variants)",
					       path, index, type, key);
	}
	struct ai_summary s = { .type = xstrdup(type) };
	struct ai_error *err = show ? read_paths(path, index, type, "show", show, false, &s.paths, &s.exprs, &s.path_count) : NULL;
	if (!err && variants) {
		s.variants = xcalloc(json_object_size(variants), sizeof(*s.variants));
		json_object_foreach(variants, key, value) {
			struct ai_summary_variant *v = &s.variants[s.variant_count++];
			v->name = xstrdup(key);
			char *what = xasprintf("variants.%s", key);
			err = read_paths(path, index, type, what, value, true, &v->paths, &v->exprs, &v->path_count);
			free(what);
			if (err)
				break;
		}
	}
	if (err) {
		summary_deinit(&s);
		return err;
	}
	*ret = s;
	return NULL;
}

struct ai_error *ai_summaries_load(const char *path)
{
	json_error_t error;
	json_t *root = json_load_file(path, 0, &error);
	if (!root)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s:%d:%d: %s", path, error.line, error.column, error.text);
	struct ai_error *err = NULL;
	const char *format = json_string_value(json_object_get(root, "format"));
	json_t *version = json_object_get(root, "version");
	json_t *list = json_object_get(root, "summaries");
	if (!format || strcmp(format, FORMAT) != 0)
		err = ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s: not a decoder file (\"format\" must be \"%s\")", path, FORMAT);
	else if (!json_is_integer(version) || json_integer_value(version) != VERSION)
		err = ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s: version %s is not understood (this async-inspect reads version %d)",
				      path, json_is_integer(version) ? "other than 1" : "missing", VERSION);
	else if (!json_is_array(list))
		err = ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s: \"summaries\" must be an array", path);
	size_t n = err ? 0 : json_array_size(list);
	struct ai_summary *read = xcalloc(n ? n : 1, sizeof(*read));
	size_t count = 0;
	for (size_t i = 0; i < n && !err; i++) {
		err = read_entry(path, i, json_array_get(list, i), &read[count]);
		if (!err)
			count++;
	}
	json_decref(root);
	if (err) {
		for (size_t i = 0; i < count; i++)
			summary_deinit(&read[i]);
		free(read);
		return err;
	}
	AI_GROW(table, table_capacity, table_count + count);
	memcpy(table + table_count, read, count * sizeof(*read));
	table_count += count;
	free(read);
	return NULL;
}

const struct ai_summary *ai_summary_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < table_count; i++) {
		size_t n = strlen(table[i].type);
		if (strncmp(name, table[i].type, n) == 0 && (name[n] == '\0' || name[n] == '<'))
			return &table[i];
	}
	return NULL;
}
