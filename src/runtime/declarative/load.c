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
	for (size_t i = 0; i < d->wait_count; i++) {
		free(d->waits[i].type);
		free(d->waits[i].path);
		free(d->waits[i].count);
		free(d->waits[i].direction);
		free(d->waits[i].function);
		free(d->waits[i].ints[0].member);
		free(d->waits[i].ints[1].member);
	}
	free(d->waits);
	for (size_t i = 0; i < d->guard_count; i++) {
		free(d->guards[i].type);
		free(d->guards[i].lock);
		free(d->guards[i].locked);
	}
	free(d->guards);
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

/* A qualified type name as DWARF spells it: no spaces at its ends, no pattern characters. */
static bool valid_type(const char *t)
{
	return t && *t && *t != ' ' && t[strlen(t) - 1] != ' ' && !strpbrk(t, "*?\n");
}

/* waits[i]: "type", "kind", and the keys of that kind (declarative.h, docs/decoders/runtime.md). */
static const struct {
	const char *name;
	enum decl_wait_kind kind;
	const char *const keys[5]; /* the member keys of that kind: the path to its object first (a sleep's
				    * deadline or duration), then the optional second path */
} wait_kinds[] = {
	{ "sleep", DECL_WAIT_SLEEP, { "deadline", "duration", NULL } },
	{ "channel_recv", DECL_WAIT_CHANNEL_RECV, { "channel", "senders", NULL } },
	{ "channel_send", DECL_WAIT_CHANNEL_SEND, { "channel", "receivers", NULL } },
	{ "mutex", DECL_WAIT_MUTEX, { "lock", "locked", NULL } },
	{ "join", DECL_WAIT_JOIN, { "task", NULL } },
	{ "io", DECL_WAIT_IO, { "fd", "direction", NULL } },
	{ "rwlock_read", DECL_WAIT_RWLOCK_READ, { "lock", "writer", "readers", NULL } },
	{ "rwlock_write", DECL_WAIT_RWLOCK_WRITE, { "lock", "writer", "readers", NULL } },
	{ "rwlock_upgradable_read", DECL_WAIT_RWLOCK_UPGRADABLE_READ, { "lock", "locked", NULL } },
	{ "rwlock_upgrade", DECL_WAIT_RWLOCK_UPGRADE, { "lock", "readers", NULL } },
	{ "semaphore", DECL_WAIT_SEMAPHORE, { "semaphore", "permits", NULL } },
};

#define WAIT_KINDS                                                                                     \
	"sleep, channel_recv, channel_send, mutex, join, io, rwlock_read, rwlock_write, "              \
	"rwlock_upgradable_read, rwlock_upgrade, semaphore"

/* An integer of a lock's state: a member path, or {"member": PATH, "mask": N, "shift": N}. */
static struct ai_error *get_int_spec(const char *file, json_t *entry, const char *where, const char *key,
				     struct decl_int *ret)
{
	ret->mask = UINT64_MAX;
	json_t *v = json_object_get(entry, key);
	if (!v || json_is_string(v))
		return get_string(file, entry, where, key, false, true, &ret->member);
	static const char *const keys[] = { "member", "mask", "shift", NULL };
	const char *unknown;
	char *name = xasprintf("%s.%s", where, key);
	struct ai_error *err = NULL;
	json_t *mask = json_object_get(v, "mask"), *shift = json_object_get(v, "shift");
	if (!json_is_object(v))
		err = bad(file, "\"%s\" must be a member path or an object (member, mask, shift)%s", name, NULL);
	else if (!known_keys(v, keys, &unknown))
		err = bad(file, "%s: unknown key \"%s\" (member, mask, shift)", name, unknown);
	else if ((mask && (!json_is_integer(mask) || json_integer_value(mask) <= 0)) ||
		 (shift && (!json_is_integer(shift) || json_integer_value(shift) < 0 || json_integer_value(shift) > 63)))
		err = bad(file, "%s: mask must be a positive integer, shift one of 0 to 63%s", name, NULL);
	else
		err = get_string(file, v, name, "member", true, true, &ret->member);
	if (!err && mask)
		ret->mask = (uint64_t)json_integer_value(mask);
	if (!err && shift)
		ret->shift = (unsigned)json_integer_value(shift);
	free(name);
	return err;
}

static struct ai_error *read_wait(const char *file, size_t index, json_t *entry, struct decl_wait *wt)
{
	char where[32];
	snprintf(where, sizeof(where), "waits[%zu]", index);
	wt->index = index;
	if (!json_is_object(entry))
		return bad(file, "%s must be an object (type, kind, and the kind's members)%s", where, NULL);
	struct ai_error *err;
	char *kind = NULL;
	if ((err = get_string(file, entry, where, "type", false, false, &wt->type)) ||
	    (err = get_string(file, entry, where, "function", false, false, &wt->function)) ||
	    (err = get_string(file, entry, where, "kind", true, false, &kind)))
		return err;
	if (!wt->type == !wt->function) {
		free(kind);
		return bad(file, "%s: give one of \"type\" (the leaf future's) and \"function\" (the async fn "
			   "it is awaited in)%s", where, NULL);
	}
	size_t k = 0;
	while (k < AI_ARRAY_SIZE(wait_kinds) && strcmp(kind, wait_kinds[k].name) != 0)
		k++;
	free(kind);
	if (wt->type ? !valid_type(wt->type) : !valid_type(wt->function)) {
		char *what = xasprintf("%s.%s", where, wt->type ? "type" : "function");
		err = bad(file, "%s \"%s\" is not a qualified name", what, wt->type ? wt->type : wt->function);
		free(what);
		return err;
	}
	if (k == AI_ARRAY_SIZE(wait_kinds))
		return bad(file, "%s.kind is not understood (" WAIT_KINDS ")%s", where, NULL);
	wt->kind = wait_kinds[k].kind;
	const char *key;
	json_t *value;
	json_object_foreach(entry, key, value) {
		bool known = strcmp(key, "type") == 0 || strcmp(key, "function") == 0 || strcmp(key, "kind") == 0;
		for (const char *const *m = wait_kinds[k].keys; *m && !known; m++)
			known = strcmp(*m, key) == 0;
		if (!known) {
			char *list = xstrdup("type or function, kind");
			for (const char *const *m = wait_kinds[k].keys; *m; m++) {
				char *old = list;
				list = xasprintf("%s, %s", old, *m);
				free(old);
			}
			char *what = xasprintf("%s: unknown key \"%s\" for its kind (%s)", where, key, list);
			err = bad(file, "%s%s", what, NULL);
			free(what);
			free(list);
			return err;
		}
	}
	/* The member that leads to the wait's object; a sleep names one of deadline and duration. */
	const char *first = wait_kinds[k].keys[0], *second = wait_kinds[k].keys[1];
	bool either = wt->kind == DECL_WAIT_SLEEP;
	if (either && json_object_get(entry, first) && json_object_get(entry, second))
		return bad(file, "%s: give one of \"deadline\" and \"duration\"%s", where, NULL);
	wt->key = either && json_object_get(entry, second) ? second : first;
	bool optional = wt->kind == DECL_WAIT_IO; /* (no fd: std's OwnedFd is searched for) */
	if ((err = get_string(file, entry, where, wt->key, !optional, true, &wt->path)))
		return err;
	if ((wt->kind == DECL_WAIT_CHANNEL_RECV || wt->kind == DECL_WAIT_CHANNEL_SEND || wt->kind == DECL_WAIT_MUTEX) &&
	    (err = get_string(file, entry, where, second, false, true, &wt->count)))
		return err;
	if (ai_decl_wait_is_lock(wt->kind) && wt->kind != DECL_WAIT_MUTEX) {
		for (size_t i = 0; i < 2 && wait_kinds[k].keys[i + 1]; i++)
			if ((err = get_int_spec(file, entry, where, wait_kinds[k].keys[i + 1], &wt->ints[i])))
				return err;
	}
	if (wt->kind == DECL_WAIT_IO) {
		if ((err = get_string(file, entry, where, "direction", false, false, &wt->direction)))
			return err;
		if (wt->direction && strcmp(wt->direction, "read") != 0 && strcmp(wt->direction, "write") != 0 &&
		    strcmp(wt->direction, "read_write") != 0)
			return bad(file, "%s.direction \"%s\" is not understood (read, write, read_write)", where,
				   wt->direction);
	}
	return NULL;
}

static struct ai_error *read_guard(const char *file, size_t index, json_t *entry, struct decl_guard *g)
{
	static const char *const keys[] = { "type", "kind", "lock", "locked", NULL };
	static const char *const kinds[] = { "mutex", "rwlock_read", "rwlock_write", "rwlock_upgradable", "semaphore", NULL };
	char where[32];
	snprintf(where, sizeof(where), "guards[%zu]", index);
	g->index = index;
	const char *unknown;
	if (!json_is_object(entry))
		return bad(file, "%s must be an object (type, kind, lock, locked)%s", where, NULL);
	if (!known_keys(entry, keys, &unknown))
		return bad(file, "%s: unknown key \"%s\" (type, kind, lock, locked)", where, unknown);
	struct ai_error *err;
	char *kind = NULL;
	if ((err = get_string(file, entry, where, "kind", false, false, &kind)))
		return err;
	g->kind = kinds[0];
	for (const char *const *k = kinds; kind && *k; k++)
		if (strcmp(*k, kind) == 0)
			g->kind = *k;
	bool unknown_kind = kind && strcmp(g->kind, kind) != 0;
	free(kind);
	if (unknown_kind)
		return bad(file, "%s.kind is not understood (mutex, rwlock_read, rwlock_write, rwlock_upgradable, semaphore)%s",
			   where, NULL);
	if ((err = get_string(file, entry, where, "type", true, false, &g->type)) ||
	    (err = get_string(file, entry, where, "lock", true, true, &g->lock)) ||
	    (err = get_string(file, entry, where, "locked", false, true, &g->locked)))
		return err;
	if (!valid_type(g->type))
		return bad(file, "%s.type \"%s\" is not a qualified type name", where, g->type);
	return NULL;
}

/* The optional arrays `waits` and `guards`. */
static struct ai_error *read_waits(const char *file, json_t *root, struct decl_runtime *d)
{
	json_t *waits = json_object_get(root, "waits"), *guards = json_object_get(root, "guards");
	if (waits && !json_is_array(waits))
		return bad(file, "\"waits\" must be an array of objects (type, kind...)%s%s", NULL, NULL);
	if (guards && !json_is_array(guards))
		return bad(file, "\"guards\" must be an array of objects (type, lock...)%s%s", NULL, NULL);
	size_t i;
	json_t *entry;
	struct ai_error *err;
	if (waits && json_array_size(waits))
		d->waits = xcalloc(json_array_size(waits), sizeof(*d->waits));
	json_array_foreach(waits, i, entry) {
		d->wait_count = i + 1;
		if ((err = read_wait(file, i, entry, &d->waits[i])))
			return err;
	}
	if (guards && json_array_size(guards))
		d->guards = xcalloc(json_array_size(guards), sizeof(*d->guards));
	json_array_foreach(guards, i, entry) {
		d->guard_count = i + 1;
		if ((err = read_guard(file, i, entry, &d->guards[i])))
			return err;
	}
	return NULL;
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
	static const char *const keys[] = { "format", "version", "runtime", "detect", "tasks", "task", "waits",
					    "guards", NULL };
	const char *unknown;
	json_t *version = json_object_get(root, "version");
	if (!json_is_integer(version) || json_integer_value(version) != DECL_VERSION)
		return ai_error_create(AI_ERROR_INVALID_ARGUMENT,
				       "--decoders %s: version %s is not understood (this async-inspect reads "
				       "version %d of " DECL_FORMAT ")", file,
				       json_is_integer(version) ? "other than 1" : "missing", DECL_VERSION);
	if (!known_keys(root, keys, &unknown))
		return bad(file, "unknown key \"%s\" (format, version, runtime, detect, tasks, task, waits, guards)%s",
			   unknown, NULL);
	const char *name = json_string_value(json_object_get(root, "runtime"));
	if (!valid_name(name))
		return bad(file, "\"runtime\" must be the runtime's name (letters, digits, - and _)%s%s", NULL, NULL);
	struct decl_runtime *d = xcalloc(1, sizeof(*d));
	d->file = xstrdup(file);
	d->runtime = xstrdup(name);
	/* A file of waits and guards only (a lock crate's, whatever runs its tasks): no detect,
	 * tasks nor task; its waits and guards apply to every runtime's tasks. */
	bool waits_only = !json_object_get(root, "tasks") && !json_object_get(root, "task") &&
			  !json_object_get(root, "detect");
	struct ai_error *err = NULL;
	if (waits_only && !json_array_size(json_object_get(root, "waits")) &&
	    !json_array_size(json_object_get(root, "guards")))
		err = bad(file, "\"detect\" is missing (a file without detect, tasks and task describes only "
			  "waits and guards, and has none)%s%s", NULL, NULL);
	if (!err && !waits_only)
		err = read_detect(file, json_object_get(root, "detect"), d);
	if (!err && !waits_only)
		err = read_tasks(file, json_object_get(root, "tasks"), d);
	if (!err && !waits_only)
		err = read_task(file, json_object_get(root, "task"), d);
	if (!err)
		err = read_waits(file, root, d);
	if (err) {
		decl_free(d);
		return err;
	}
	d->ops.name = d->runtime;
	d->ops.data = d;
	if (!waits_only) {
		d->ops.detect = ai_decl_detect;
		d->ops.collect = ai_decl_collect;
	}
	if (d->wait_count || d->guard_count) {
		d->ops.leaf_wait = ai_decl_leaf_wait;
		d->ops.held = ai_decl_held;
		d->ops.finish = ai_decl_finish;
	}
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
