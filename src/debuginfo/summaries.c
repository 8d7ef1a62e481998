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
	for (size_t i = 0; i < s->path_count; i++)
		free(s->paths[i]);
	free(s->paths);
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

static struct ai_error *read_entry(const char *path, size_t index, json_t *entry, struct ai_summary *ret)
{
	const char *type = json_string_value(json_object_get(entry, "type"));
	json_t *show = json_object_get(entry, "show");
	if (!json_is_object(entry) || !type || !*type)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s: summaries[%zu]: expected an object with a \"type\" string",
				       path, index);
	if (!json_is_array(show) || json_array_size(show) == 0)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s: summaries[%zu] (%s): \"show\" must be a non-empty array of member paths",
				       path, index, type);
	const char *key;
	json_t *value;
	json_object_foreach(entry, key, value) {
		if (strcmp(key, "type") != 0 && strcmp(key, "show") != 0)
			return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s: summaries[%zu] (%s): unknown key \"%s\" (type, show)",
					       path, index, type, key);
	}
	struct ai_summary s = { .type = xstrdup(type), .paths = xcalloc(json_array_size(show), sizeof(char *)) };
	size_t i;
	json_array_foreach(show, i, value) {
		const char *member = json_string_value(value);
		if (!member || !valid_path(member)) {
			summary_deinit(&s);
			return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s: summaries[%zu] (%s): show[%zu] is not a member path (names joined by dots)",
					       path, index, type, i);
		}
		s.paths[s.path_count++] = xstrdup(member);
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
