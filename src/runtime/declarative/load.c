/* Decoder files: `--decoders FILE` and the decoder directories (include/ai/decoders.h). A file
 * whose "format" is async-inspect-runtime is read here, checked key by key before any of it is
 * kept, and registered as a runtime adapter (docs/decoders/runtime.md); any other file goes to
 * the type summaries (src/debuginfo/summaries.c), which check their own format. */
#include <dirent.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "ai/decoders.h"
#include "ai/summaries.h"
#include "ai/util.h"
#include "declarative.h"

static struct decl_runtime **loaded;
static size_t loaded_count, loaded_capacity;

static void decl_free(struct decl_runtime *d)
{
	if (!d)
		return;
	free(d->file);
	free(d->runtime);
	free(d->detect_symbol);
	free(d->detect_type);
	free(d->crate);
	free(d->tasks_static);
	free(d->tasks_thread_local);
	free(d->tasks_path);
	free(d->next);
	free(d->element);
	free(d->future);
	free(d->id);
	free(d->name);
	free(d->state);
	for (size_t i = 0; i < d->value_count; i++) {
		free(d->values[i].key);
		free(d->values[i].status);
	}
	free(d->values);
	free(d);
}

void ai_decoders_clear(void)
{
	ai_runtime_unregister_all();
	for (size_t i = 0; i < loaded_count; i++)
		decl_free(loaded[i]);
	free(loaded);
	loaded = NULL;
	loaded_count = loaded_capacity = 0;
}

static struct ai_error *bad(const char *path, const char *fmt, const char *a, const char *b)
{
	char *what = xasprintf(fmt, a ? a : "", b ? b : "");
	struct ai_error *err = ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s: %s", path, what);
	free(what);
	return err;
}

/* A member path: identifiers (Rust's, or rustc's `__0`) joined by single dots. */
static bool valid_path(const char *p)
{
	if (!p || !*p)
		return false;
	for (const char *c = p; *c; c++) {
		bool ident = (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_';
		if (!ident && !(*c == '.' && c != p && c[1] && c[1] != '.'))
			return false;
	}
	return true;
}

/* Whether every key of object is one of the NULL-terminated `keys`; else *unknown_ret. */
static bool known_keys(json_t *object, const char *const *keys, const char **unknown_ret)
{
	const char *key;
	json_t *value;
	json_object_foreach(object, key, value) {
		bool found = false;
		for (const char *const *k = keys; *k && !found; k++)
			found = strcmp(*k, key) == 0;
		if (!found) {
			*unknown_ret = key;
			return false;
		}
	}
	return true;
}

/* object.key as an owned string into *ret: absent is fine unless required; a string that is not
 * a member path (when `path`) is refused. */
static struct ai_error *get_string(const char *file, json_t *object, const char *where, const char *key,
				   bool required, bool path, char **ret)
{
	json_t *v = json_object_get(object, key);
	char *name = xasprintf("%s.%s", where, key);
	struct ai_error *err = NULL;
	if (!v) {
		if (required)
			err = bad(file, "\"%s\" is missing%s", name, NULL);
	} else if (!json_is_string(v) || !*json_string_value(v)) {
		err = bad(file, "\"%s\" must be a non-empty string%s", name, NULL);
	} else if (path && !valid_path(json_string_value(v))) {
		err = bad(file, "\"%s\" is not a member path (names joined by dots)%s", name, NULL);
	} else {
		*ret = xstrdup(json_string_value(v));
	}
	free(name);
	return err;
}

static struct ai_error *read_detect(const char *file, json_t *detect, struct decl_runtime *d)
{
	static const char *const keys[] = { "symbol", "type", "crate", NULL };
	const char *unknown;
	struct ai_error *err;
	if (!json_is_object(detect))
		return bad(file, "\"detect\" must be an object (symbol or type, and crate)%s%s", NULL, NULL);
	if (!known_keys(detect, keys, &unknown))
		return bad(file, "detect: unknown key \"%s\" (symbol, type, crate)%s", unknown, NULL);
	if ((err = get_string(file, detect, "detect", "symbol", false, false, &d->detect_symbol)) ||
	    (err = get_string(file, detect, "detect", "type", false, false, &d->detect_type)) ||
	    (err = get_string(file, detect, "detect", "crate", false, false, &d->crate)))
		return err;
	if (!d->detect_symbol == !d->detect_type)
		return bad(file, "detect: give one of \"symbol\" and \"type\"%s%s", NULL, NULL);
	return NULL;
}

static struct ai_error *read_tasks(const char *file, json_t *tasks, struct decl_runtime *d)
{
	static const char *const keys[] = { "static", "thread_local", "path", "container", "next", "element", NULL };
	const char *unknown;
	struct ai_error *err;
	if (!json_is_object(tasks))
		return bad(file, "\"tasks\" must be an object (static, path, container...)%s%s", NULL, NULL);
	if (!known_keys(tasks, keys, &unknown))
		return bad(file, "tasks: unknown key \"%s\" (static, thread_local, path, container, next, element)%s",
			   unknown, NULL);
	char *container = NULL;
	if ((err = get_string(file, tasks, "tasks", "static", false, false, &d->tasks_static)) ||
	    (err = get_string(file, tasks, "tasks", "thread_local", false, false, &d->tasks_thread_local)) ||
	    (err = get_string(file, tasks, "tasks", "path", false, true, &d->tasks_path)) ||
	    (err = get_string(file, tasks, "tasks", "container", true, false, &container)) ||
	    (err = get_string(file, tasks, "tasks", "next", false, true, &d->next)) ||
	    (err = get_string(file, tasks, "tasks", "element", false, true, &d->element)) ||
	    (!d->tasks_static == !d->tasks_thread_local &&
	     (err = bad(file, "tasks: give one of \"static\" and \"thread_local\"%s%s", NULL, NULL)))) {
		free(container);
		return err;
	}
	static const char *const names[] = { "vec", "slice", "array", "list" };
	size_t k = 0;
	while (k < AI_ARRAY_SIZE(names) && strcmp(container, names[k]) != 0)
		k++;
	if (k == AI_ARRAY_SIZE(names))
		err = bad(file, "tasks.container \"%s\" is not understood (vec, slice, array, list)%s", container, NULL);
	else if ((k == DECL_LIST) != (d->next != NULL))
		err = bad(file, "tasks.next is %s%s", k == DECL_LIST ? "required by a list" : "only for a list", NULL);
	d->container = (enum decl_container)k;
	free(container);
	return err;
}

static const char *status_of(const char *value)
{
	static const char *const statuses[][2] = {
		{ "scheduled", "scheduled" }, { "running", "running" }, { "idle", "idle" }, { "done", "completed" },
	};
	for (size_t i = 0; value && i < AI_ARRAY_SIZE(statuses); i++)
		if (strcmp(value, statuses[i][0]) == 0)
			return statuses[i][1];
	return NULL;
}

static struct ai_error *read_state(const char *file, json_t *state, struct decl_runtime *d)
{
	static const char *const keys[] = { "member", "values", NULL };
	const char *unknown;
	struct ai_error *err;
	if (!json_is_object(state))
		return bad(file, "task.state must be an object (member, values)%s%s", NULL, NULL);
	if (!known_keys(state, keys, &unknown))
		return bad(file, "task.state: unknown key \"%s\" (member, values)%s", unknown, NULL);
	if ((err = get_string(file, state, "task.state", "member", true, true, &d->state)))
		return err;
	json_t *values = json_object_get(state, "values");
	if (!json_is_object(values) || json_object_size(values) == 0)
		return bad(file, "task.state.values must be a non-empty object (a value -> scheduled, running, "
			   "idle or done)%s%s", NULL, NULL);
	d->values = xcalloc(json_object_size(values), sizeof(*d->values));
	const char *key;
	json_t *value;
	json_object_foreach(values, key, value) {
		const char *status = status_of(json_string_value(value));
		if (!status)
			return bad(file, "task.state.values.%s must be one of \"scheduled\", \"running\", \"idle\", "
				   "\"done\"%s", key, NULL);
		d->values[d->value_count].key = xstrdup(key);
		d->values[d->value_count++].status = xstrdup(status);
	}
	return NULL;
}

static struct ai_error *read_task(const char *file, json_t *task, struct decl_runtime *d)
{
	static const char *const keys[] = { "future", "id", "name", "state", NULL };
	const char *unknown;
	struct ai_error *err;
	if (!json_is_object(task))
		return bad(file, "\"task\" must be an object (future, id, name, state)%s%s", NULL, NULL);
	if (!known_keys(task, keys, &unknown))
		return bad(file, "task: unknown key \"%s\" (future, id, name, state)%s", unknown, NULL);
	if ((err = get_string(file, task, "task", "future", true, true, &d->future)) ||
	    (err = get_string(file, task, "task", "id", false, true, &d->id)) ||
	    (err = get_string(file, task, "task", "name", false, true, &d->name)))
		return err;
	json_t *state = json_object_get(task, "state");
	return state ? read_state(file, state, d) : NULL;
}

/* The runtime's name: what users see in dumps, so plain (letters, digits, - and _). */
static bool valid_name(const char *name)
{
	if (!name || !*name || strlen(name) > 64)
		return false;
	for (const char *c = name; *c; c++)
		if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
		      *c == '-' || *c == '_'))
			return false;
	return true;
}

static struct ai_error *read_runtime(const char *file, json_t *root, struct decl_runtime **ret)
{
	static const char *const keys[] = { "format", "version", "runtime", "detect", "tasks", "task", NULL };
	const char *unknown;
	json_t *version = json_object_get(root, "version");
	if (!json_is_integer(version) || json_integer_value(version) != DECL_VERSION)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				       "--decoders %s: version %s is not understood (this async-inspect reads "
				       "version %d of " DECL_FORMAT ")", file,
				       json_is_integer(version) ? "other than 1" : "missing", DECL_VERSION);
	if (!known_keys(root, keys, &unknown))
		return bad(file, "unknown key \"%s\" (format, version, runtime, detect, tasks, task)%s", unknown, NULL);
	const char *name = json_string_value(json_object_get(root, "runtime"));
	if (!valid_name(name))
		return bad(file, "\"runtime\" must be the runtime's name (letters, digits, - and _)%s%s", NULL, NULL);
	struct decl_runtime *d = xcalloc(1, sizeof(*d));
	d->file = xstrdup(file);
	d->runtime = xstrdup(name);
	struct ai_error *err = read_detect(file, json_object_get(root, "detect"), d);
	if (!err)
		err = read_tasks(file, json_object_get(root, "tasks"), d);
	if (!err)
		err = read_task(file, json_object_get(root, "task"), d);
	if (err) {
		decl_free(d);
		return err;
	}
	d->ops.name = d->runtime;
	d->ops.data = d;
	d->ops.detect = ai_decl_detect;
	d->ops.collect = ai_decl_collect;
	*ret = d;
	return NULL;
}

struct ai_error *ai_decoders_load(const char *path)
{
	json_error_t error;
	json_t *root = json_load_file(path, 0, &error);
	if (!root)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s:%d:%d: %s", path, error.line,
				       error.column, error.text);
	const char *format = json_string_value(json_object_get(root, "format"));
	if (!format || strcmp(format, DECL_FORMAT) != 0) {
		json_decref(root);
		return ai_summaries_load(path); /* (which checks its own format) */
	}
	struct decl_runtime *d = NULL;
	struct ai_error *err = read_runtime(path, root, &d);
	json_decref(root);
	if (err)
		return err;
	if (!ai_runtime_register(&d->ops)) {
		err = ai_error_create(AI_ERROR_INVALID_ARGUMENT, "--decoders %s: runtime \"%s\" is already known "
				      "(an adapter or another decoder file of that name)", path, d->runtime);
		decl_free(d);
		return err;
	}
	AI_GROW(loaded, loaded_capacity, loaded_count + 1);
	loaded[loaded_count++] = d;
	return NULL;
}

static int name_order(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_dir(const char *dir, FILE *warnings)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	char **names = NULL;
	size_t count = 0, capacity = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n > 5 && e->d_name[0] != '.' && strcmp(e->d_name + n - 5, ".json") == 0) {
			AI_GROW(names, capacity, count + 1);
			names[count++] = xstrdup(e->d_name);
		}
	}
	closedir(d);
	if (count)
		qsort(names, count, sizeof(*names), name_order);
	for (size_t i = 0; i < count; i++) {
		char *path = xasprintf("%s/%s", dir, names[i]);
		struct ai_error *err = ai_decoders_load(path);
		if (err && warnings)
			fprintf(warnings, "async-inspect: warning: %s; skipped\n", err->message);
		ai_error_destroy(err);
		free(path);
		free(names[i]);
	}
	free(names);
}

void ai_decoders_load_dirs(FILE *warnings)
{
	static bool done;
	if (done)
		return;
	done = true;
	const char *config = getenv("XDG_CONFIG_HOME");
	const char *home = getenv("HOME");
	char *user = NULL;
	if (config && *config == '/')
		user = xasprintf("%s/async-inspect/decoders", config);
	else if (home && *home)
		user = xasprintf("%s/.config/async-inspect/decoders", home);
	if (user)
		load_dir(user, warnings);
	free(user);
	load_dir("/usr/share/async-inspect/decoders", warnings);
}
